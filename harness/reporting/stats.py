"""How sure a table may be: intervals over seeds, tests between cells, ranks, optimizer profiles.

Pure numpy and pandas on plain numbers, so reports and comparisons stay
torch-free; scipy is imported only where a test needs Student's t tail
(Welch's). Callers (:mod:`harness.reporting.cells`, :mod:`harness.reporting.compare`)
turn records into what these functions take: one list of values per cell,
and the key of the workload each cell competes in. Tables of many cells
take them all at once (:mod:`harness.reporting.samples`): the same numbers,
without a Python loop per cell.

The choices, stated once so every table reads the same:

- Spread is the sample standard deviation (ddof=1). The 95% confidence
  interval of a mean is ``mean ± t(0.975, n-1)·s/√n``; with one value there is
  no interval (NaN, never zero: one seed says nothing about noise).
- Two samples differ when a two-sided test gives ``p < ALPHA``: Welch's
  t-test (no equal-variance assumption) whenever both sides have two or more
  values, no test below that. Every result names the test it used. A
  percentile bootstrap (seeded, fixed resamples) is available on request, but
  not for the few seeds benchmarks have: it resamples only the values seen,
  so it underestimates the spread. Measured on normal data with no real
  difference, it called 31% of pairs significant at 2 seeds a side, 21% at 3,
  15% at 4 and 8.5% at 5, where Welch stayed at or under the nominal 5%
  (tests/reporting/test_stats.py keeps that check). Few seeds cost power, never honesty.
- A rank orders cells of one workload by mean test metric, best first, as
  the metric's mode says (``max``: higher is better, ``min``: lower).
- Time to target per cell is the median over its runs, a run that never got
  there (failed, diverged, too slow) counting as infinite: a cell reaches the
  target only if most of its runs do. Performance profiles follow AlgoPerf
  (Dahl et al., 2023): the fraction of workloads on which an optimizer is
  within a factor tau of the fastest optimizer there.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from harness.reporting.samples import estimates, rank_order
from harness.reporting.student_t import t_quantiles

#: Significance level for every "significantly better/worse" in the harness.
ALPHA = 0.05
#: Coverage of the confidence intervals shown next to means.
CONFIDENCE = 0.95
#: Values a side below which no test is run: one value says nothing about noise.
MIN_TEST_N = 2
#: Resamples of the bootstrap test, and the seed of its generator (fixed: the same data give the same p).
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
#: Factors of the best time at which performance profiles are read.
PROFILE_TAUS = (1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0)

WELCH = "welch"
BOOTSTRAP = "bootstrap"
UNTESTED = "none"


def finite(values: Iterable) -> np.ndarray:
    """The finite numbers among ``values`` as a float array (gaps, NaN and infinities dropped)."""
    array = np.asarray([v for v in values if v is not None], dtype=float)
    return array[np.isfinite(array)]


#: Fewer values than this numpy sums one after another, so plain Python arithmetic gives its very bits.
_SEQUENTIAL_SUM_BELOW = 8


def _few_finite(values) -> list[float] | None:
    """The finite values of a short list of plain numbers as floats, or None: then numpy computes.

    A comparison of 100,000 runs estimates 60,000 samples of a few seeds each;
    numpy's per-call cost is most of it, and below :data:`_SEQUENTIAL_SUM_BELOW`
    values this gives the same bits (tests/reporting/test_stats.py checks it).
    """
    if not isinstance(values, (list, tuple)) or len(values) >= _SEQUENTIAL_SUM_BELOW:
        return None
    kept = []
    for value in values:
        kind = type(value)
        if kind is float:
            if value - value == 0:  # finite
                kept.append(value)
        elif kind is int:
            kept.append(float(value))
        elif value is not None:
            return None
    return kept


def _mean_and_var(x: list[float]) -> tuple[float, float]:
    """Mean and sample variance (ddof=1) as numpy computes them for fewer than 8 values."""
    total = 0.0
    for value in x:
        total += value
    mean = total / len(x)
    squares = 0.0
    for value in x:
        squares += (value - mean) * (value - mean)
    return mean, squares / (len(x) - 1) if len(x) > 1 else math.nan


# ---------------------------------------------------------------------------
# One sample: mean, spread, interval
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A sample's mean, sample std, size and the half-width of its confidence interval (NaN when n < 2)."""

    mean: float
    std: float
    n: int
    ci: float


@functools.lru_cache(maxsize=4096)
def t_quantile(probability: float, df: float) -> float:
    """The ``probability`` quantile of Student's t distribution with ``df`` degrees of freedom (no scipy needed).

    Remembered: a comparison asks for the same few (0.975, n-1) pairs over and over, 170,000 times at 100,000 runs.
    """
    return float(t_quantiles(probability, df))


def ci_half_width(std: float, n: int, confidence: float = CONFIDENCE) -> float:
    """``t(1-(1-confidence)/2, n-1)·std/√n``; NaN for fewer than two values or an unknown std."""
    if n < 2 or std is None or not math.isfinite(std):
        return math.nan
    return t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)


def estimate(values: Iterable, confidence: float = CONFIDENCE) -> Estimate:
    """Mean, sample std (ddof=1), n and CI half-width of the finite ``values``."""
    few = _few_finite(values)
    if few is not None and len(few) >= 2:
        mean, var = _mean_and_var(few)
        std = math.sqrt(var)
        return Estimate(mean, std, len(few), ci_half_width(std, len(few), confidence))
    x = finite(values)
    if len(x) == 0:
        return Estimate(math.nan, math.nan, 0, math.nan)
    if len(x) == 1:
        return Estimate(float(x[0]), math.nan, 1, math.nan)
    std = float(x.std(ddof=1))
    return Estimate(float(x.mean()), std, len(x), ci_half_width(std, len(x), confidence))


# ---------------------------------------------------------------------------
# Two samples: is the difference real?
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Significance:
    """A two-sided test of two samples: which test (``welch``, ``bootstrap``, ``none``), its p-value, and why."""

    method: str
    p_value: float
    note: str = ""

    @property
    def tested(self) -> bool:
        return self.method != UNTESTED

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.tested and self.p_value < alpha

    def describe(self) -> str:
        """'p=0.003 (welch)', or the reason there was no test."""
        return f"p={self.p_value:.3g} ({self.method})" if self.tested else self.note


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances, Welch-Satterthwaite degrees of freedom)."""
    from scipy.special import stdtr  # Student's t CDF: scipy.stats.t.sf(x, df) is stdtr(df, -x)

    few_a, few_b = _few_finite(a), _few_finite(b)
    if few_a is not None and few_b is not None and min(len(few_a), len(few_b)) >= 2:
        (mean_a, var_a), (mean_b, var_b) = _mean_and_var(few_a), _mean_and_var(few_b)
        n_a, n_b = len(few_a), len(few_b)
    else:
        a, b = finite(a), finite(b)
        if min(len(a), len(b)) < 2:
            raise ValueError("Welch's t-test needs at least two values on each side")
        mean_a, var_a, mean_b, var_b, n_a, n_b = a.mean(), a.var(ddof=1), b.mean(), b.var(ddof=1), len(a), len(b)
    # numpy scalars from here on, whichever way the moments came: the arithmetic rounds as it always did
    va, vb = np.float64(var_a) / n_a, np.float64(var_b) / n_b
    if va + vb == 0:  # no spread at all: any difference is certain, none is none
        return 1.0 if mean_a == mean_b else 0.0
    statistic = (np.float64(mean_a) - np.float64(mean_b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    return float(min(1.0, 2 * stdtr(df, -abs(statistic))))


def bootstrap_p(
    a: Sequence[float], b: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> float:
    """Two-sided p-value of a percentile bootstrap test of ``mean(b) - mean(a)``.

    Each side is resampled with replacement on its own; p is twice the smaller
    share of resampled differences on either side of zero (with the usual +1 so
    it is never exactly 0), i.e. the largest alpha whose percentile interval
    still contains zero. Values are sorted first, so record order cannot change p.
    """
    a, b = np.sort(finite(a)), np.sort(finite(b))
    if min(len(a), len(b)) < 1:
        raise ValueError("the bootstrap test needs values on both sides")
    rng = np.random.default_rng(seed)
    means_a = a[rng.integers(0, len(a), size=(resamples, len(a)))].mean(axis=1)
    means_b = b[rng.integers(0, len(b), size=(resamples, len(b)))].mean(axis=1)
    difference = means_b - means_a
    tail = min(int((difference <= 0).sum()), int((difference >= 0).sum()))
    return float(min(1.0, 2 * (tail + 1) / (resamples + 1)))


def difference_test(a: Iterable, b: Iterable, method: str = WELCH) -> Significance:
    """Test two samples the harness's way: ``welch`` (default) or ``bootstrap``; none below MIN_TEST_N values a side."""
    few_a, few_b = _few_finite(a), _few_finite(b)
    a, b = (few_a, few_b) if few_a is not None and few_b is not None else (finite(a), finite(b))
    if min(len(a), len(b)) < MIN_TEST_N:
        return Significance(UNTESTED, math.nan, f"untested (n={len(a)} vs {len(b)}; needs {MIN_TEST_N} a side)")
    if method == WELCH:
        return Significance(WELCH, welch_p(a, b))
    if method == BOOTSTRAP:
        return Significance(BOOTSTRAP, bootstrap_p(a, b))
    raise ValueError(f"unknown test {method!r}; use {WELCH!r} or {BOOTSTRAP!r}")


def better_first(means: Sequence[float], mode: str | None) -> list[int]:
    """Positions of the finite ``means``, best first (``max``: highest, ``min``: lowest); ties keep their order."""
    if mode not in ("max", "min"):
        return []
    known = [i for i, m in enumerate(means) if m is not None and math.isfinite(m)]
    return sorted(known, key=lambda i: -means[i] if mode == "max" else means[i])


# ---------------------------------------------------------------------------
# Cells of a workload: rank, and is the best really better?
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tests:
    """Many :class:`Significance` at once: each pair's test (``welch``, ``bootstrap``, ``none``), p-value and note."""

    method: list[str]
    p_value: np.ndarray
    note: list[str]

    def tested(self) -> np.ndarray:
        return np.array([method != UNTESTED for method in self.method], dtype=bool)

    def significant(self, alpha: float = ALPHA) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return self.tested() & (self.p_value < alpha)


def tests_against(values: Sequence, scores, firsts: np.ndarray, seconds: np.ndarray, method: str = WELCH) -> Tests:
    """:func:`difference_test` of ``values[firsts[i]]`` against ``values[seconds[i]]`` for every pair at once.

    ``scores`` are the samples' :func:`harness.reporting.samples.estimates`; Welch's p-values take one
    vectorised t tail, and are the numbers :func:`welch_p` gives pair by pair.
    """
    n_a, n_b = scores.n[firsts], scores.n[seconds]
    few = np.minimum(n_a, n_b) < MIN_TEST_N
    methods = np.where(few, UNTESTED, method).tolist()
    notes = [""] * len(methods)
    for i in np.flatnonzero(few).tolist():
        notes[i] = f"untested (n={n_a[i]} vs {n_b[i]}; needs {MIN_TEST_N} a side)"
    p_values = np.full(len(methods), math.nan)
    tested = np.flatnonzero(~few)
    if len(tested) and method not in (WELCH, BOOTSTRAP):
        raise ValueError(f"unknown test {method!r}; use {WELCH!r} or {BOOTSTRAP!r}")
    if method == WELCH:
        p_values[tested] = _welch_ps(scores, firsts[tested], seconds[tested])
    else:
        p_values[tested] = [bootstrap_p(values[firsts[i]], values[seconds[i]]) for i in tested.tolist()]
    return Tests(methods, p_values, notes)


def _welch_ps(scores, firsts: np.ndarray, seconds: np.ndarray) -> list[float]:
    """:func:`welch_p` of pairs of samples with two or more values a side, from their estimates."""
    if not len(firsts):
        return []
    from scipy.special import stdtr

    pairs = zip(
        *(array[side].tolist() for array in (scores.mean, scores.var, scores.n) for side in (firsts, seconds)),
        strict=True,
    )
    statistics, dfs, settled = [], [], []
    for mean_a, mean_b, var_a, var_b, n_a, n_b in pairs:  # Python floats, as welch_p's arithmetic (x**2 is pow)
        va, vb = var_a / n_a, var_b / n_b
        if va + vb == 0:  # no spread at all: any difference is certain, none is none
            settled.append(1.0 if mean_a == mean_b else 0.0)
            statistics.append(0.0)
            dfs.append(1.0)
            continue
        settled.append(None)
        statistics.append((mean_a - mean_b) / math.sqrt(va + vb))
        dfs.append((va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1)))
    tails = (2 * stdtr(np.array(dfs), -np.abs(np.array(statistics)))).tolist()
    return [float(min(1.0, tail)) if fixed is None else fixed for fixed, tail in zip(settled, tails, strict=True)]


def rank_cells(cells, alpha: float = ALPHA, method: str = WELCH):
    """Rank the cells of each workload and test the best against every other.

    ``cells`` has one row per cell with columns ``cell``, ``workload``, ``mode``
    (``max``/``min``) and ``values`` (that cell's test metrics over seeds).
    Returns one row per ranked cell: ``cell``, ``rank`` (1 is best; means equal
    to 12 digits share a rank), ``best``, ``mean``, ``n``, ``p_value``, ``test``, ``note``
    and ``worse`` (True when the best is significantly better than this cell).
    Cells without values or without a known mode get no rank. ``method`` is
    the test of :func:`difference_test`.
    """
    import pandas as pd

    columns = ["cell", "rank", "best", "mean", "n", "p_value", "test", "note", "worse"]
    values = cells["values"].tolist()
    scores = estimates(values)
    positions, ranks, best = rank_order(cells["workload"], cells["mode"], scores.mean)
    if not len(positions):
        return pd.DataFrame([], columns=columns)
    is_best = positions == best
    others = np.flatnonzero(~is_best)
    against = tests_against(values, scores, best[others], positions[others], method)
    methods, notes, p_values = [UNTESTED] * len(positions), ["best"] * len(positions), np.full(len(positions), np.nan)
    for i, method_, note in zip(others.tolist(), against.method, against.note, strict=True):
        methods[i], notes[i] = method_, note
    p_values[others] = against.p_value
    worse = np.zeros(len(positions), dtype=bool)
    worse[others] = against.significant(alpha)
    table = {
        "cell": cells["cell"].iloc[positions].tolist(),
        "rank": ranks.tolist(),
        "best": is_best.tolist(),
        "mean": scores.mean[positions].tolist(),
        "n": scores.n[positions].tolist(),
        "p_value": p_values.tolist(),
        "test": methods,
        "note": notes,
        "worse": worse.tolist(),
    }
    return pd.DataFrame(table, columns=columns)


# ---------------------------------------------------------------------------
# Optimizers across workloads
# ---------------------------------------------------------------------------


def time_to_target(times: Iterable) -> float:
    """A cell's time to target: the median over its runs, a run that never reached it counting as infinite."""
    values = [math.inf if t is None or (isinstance(t, float) and math.isnan(t)) else float(t) for t in times]
    if not values:
        return math.inf
    values.sort()
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    low, high = values[middle - 1], values[middle]
    return math.inf if math.isinf(high) else (low + high) / 2


def performance_profile(cells, taus: Sequence[float] = PROFILE_TAUS):
    """For each optimizer, the fraction of workloads where its time to target is within ``tau`` × the best's.

    ``cells`` has one row per (workload, optimizer) with columns ``workload``,
    ``contestant`` (the optimizer) and ``times`` (per-run seconds to target;
    None or NaN for a run that never reached it). A cell's time is
    :func:`time_to_target`; an optimizer with no cell on a workload counts as
    infinite there, and a workload no optimizer solved counts against all of
    them. Returns a frame indexed by contestant with one column per tau.
    """
    import pandas as pd

    workloads, workload_names = pd.factorize(cells["workload"], use_na_sentinel=False)
    contestants, contestant_names = pd.factorize(cells["contestant"], use_na_sentinel=False)
    times = np.full((len(workload_names), len(contestant_names)), math.inf)
    pairs = workloads * len(contestant_names) + contestants
    last = len(pairs) - 1 - np.unique(pairs[::-1], return_index=True)[1]  # a pair given twice: the later row counts
    times[workloads[last], contestants[last]] = times_to_target(cells["times"].tolist())[last]
    fastest = times.min(axis=1, initial=math.inf)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(fastest > 0, times / fastest, np.where(times == 0, 1.0, math.inf))
    ratios = np.where(np.isinf(fastest) | np.isinf(times), math.inf, ratios)
    shares = [
        [(ratios[:, c] <= tau).sum() / len(workload_names) if len(workload_names) else math.nan for tau in taus]
        for c in range(len(contestant_names))
    ]
    profile = dict(zip(contestant_names.tolist(), shares, strict=True))
    return pd.DataFrame.from_dict(profile, orient="index", columns=list(taus))


def times_to_target(samples) -> np.ndarray:
    """:func:`time_to_target` of each list of per-run times, at once."""
    import itertools

    from harness.reporting.grouped import offsets

    samples = [list(times) for times in samples]
    sizes = np.fromiter(map(len, samples), dtype=np.int64, count=len(samples))
    flat = np.array(list(itertools.chain.from_iterable(samples)), dtype=float)
    flat[np.isnan(flat)] = math.inf  # None and NaN: never reached
    owner = np.repeat(np.arange(len(samples)), sizes)
    ordered = flat[np.lexsort((flat, owner))]
    middle, last = offsets(sizes) + sizes // 2, max(len(ordered) - 1, 0)
    upper = ordered[np.minimum(middle, last)] if len(ordered) else np.zeros(len(samples))
    lower = ordered[np.clip(middle - 1, 0, last)] if len(ordered) else np.zeros(len(samples))
    with np.errstate(invalid="ignore"):
        even = np.where(np.isinf(upper), math.inf, (lower + upper) / 2)
    return np.where(sizes == 0, math.inf, np.where(sizes % 2 == 1, upper, even))


#: Outcomes of :func:`win_table`.
WIN, TIE, UNDECIDED, ALONE = "win", "tie", "untested", "alone"


def win_table(cells, alpha: float = ALPHA, method: str = WELCH):
    """Which contestant won each workload, by mean test metric, and whether the win is significant.

    ``cells`` has one row per (workload, contestant) with columns ``workload``,
    ``contestant``, ``mode`` and ``values``. Per workload: ``outcome`` is
    ``win`` when the best is significantly better than every other contestant,
    ``tie`` when some contestant is not (``tied`` lists them with the best),
    ``untested`` when the only doubt is a side with fewer than two values, and
    ``alone`` when just one contestant has results. ``runner_up``, ``p_value``
    and ``test`` compare the best with the second best (``method`` as in
    :func:`difference_test`).
    """
    import pandas as pd

    values = cells["values"].tolist()
    scores = estimates(values)
    positions, _, best = rank_order(cells["workload"], cells["mode"], scores.mean)
    others = np.flatnonzero(positions != best)
    against = tests_against(values, scores, best[others], positions[others], method)
    tested, significant = against.tested().tolist(), against.significant(alpha).tolist()
    tests = {
        position: (tested[i], significant[i], against.p_value[i], against.method[i])
        for i, position in enumerate(positions[others].tolist())
    }
    names, workloads, means = cells["contestant"].tolist(), cells["workload"].tolist(), scores.mean.tolist()
    starts = np.flatnonzero(np.r_[True, best[1:] != best[:-1]]).tolist() if len(best) else []
    rows = []
    for begin, end in zip(starts, [*starts[1:], len(positions)][: len(starts)], strict=True):
        order = positions[begin:end].tolist()
        rows.append(_win_row(workloads[order[0]], order, names, means, tests))
    columns = ["workload", "outcome", "winner", "tied", "best", "best_mean", "runner_up", "runner_up_mean"]
    return pd.DataFrame(rows, columns=[*columns, "p_value", "test", "contestants"])


def _win_row(workload, order: list[int], names: list, means: list, tests: dict) -> dict:
    """One workload's row of :func:`win_table`: ``order`` its contestants best first, ``tests`` theirs against it
    (position -> tested, significant, p-value, test)."""
    best = order[0]
    row = {"workload": workload, "best": names[best], "best_mean": means[best], "contestants": len(order)}
    if len(order) == 1:
        return {**row, "outcome": ALONE, "winner": names[best], "tied": [names[best]]}
    tied = [names[i] for i in order[1:] if tests[i][0] and not tests[i][1]]
    untested = [names[i] for i in order[1:] if not tests[i][0]]
    outcome = TIE if tied else UNDECIDED if untested else WIN
    runner = tests[order[1]]
    return {
        **row,
        "outcome": outcome,
        "winner": names[best] if outcome == WIN else None,
        "tied": [names[best], *tied] if outcome == TIE else [],
        "runner_up": names[order[1]],
        "runner_up_mean": means[order[1]],
        "p_value": runner[2],
        "test": runner[3],
    }
