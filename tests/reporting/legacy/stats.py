"""How sure a table may be: intervals over seeds, tests between cells, ranks, optimizer profiles.

Pure numpy, pandas and scipy on plain numbers, so reports and comparisons stay
torch-free. Callers (:mod:`tests.reporting.legacy.cells`, :mod:`harness.reporting.compare`) turn
records into what these functions take: one list of values per cell, and the
key of the workload each cell competes in.

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

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

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


def t_quantile(probability: float, df: float) -> float:
    """The ``probability`` quantile of Student's t distribution with ``df`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(probability, df))


def ci_half_width(std: float, n: int, confidence: float = CONFIDENCE) -> float:
    """``t(1-(1-confidence)/2, n-1)·std/√n``; NaN for fewer than two values or an unknown std."""
    if n < 2 or std is None or not math.isfinite(std):
        return math.nan
    return t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)


def estimate(values: Iterable, confidence: float = CONFIDENCE) -> Estimate:
    """Mean, sample std (ddof=1), n and CI half-width of the finite ``values``."""
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
    from scipy.stats import t

    a, b = finite(a), finite(b)
    if min(len(a), len(b)) < 2:
        raise ValueError("Welch's t-test needs at least two values on each side")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:  # no spread at all: any difference is certain, none is none
        return 1.0 if a.mean() == b.mean() else 0.0
    statistic = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return float(min(1.0, 2 * t.sf(abs(statistic), df)))


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
    a, b = finite(a), finite(b)
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

    rows = []
    for _, group in cells.groupby("workload", sort=False):
        estimates = [estimate(v) for v in group["values"]]
        modes = {m for m in group["mode"] if m in ("max", "min")}
        if len(modes) != 1:
            continue  # no mode, or a workload mixing directions: nothing can be ranked honestly
        (mode,) = modes
        means = [e.mean for e in estimates]
        order = better_first(means, mode)
        if not order:
            continue
        best = order[0]
        best_values = group["values"].iloc[best]
        for position in order:
            first_equal = next(i for i in order if math.isclose(means[i], means[position], rel_tol=1e-12))
            rank = order.index(first_equal) + 1
            if position == best:
                test = Significance(UNTESTED, math.nan, "best")
            else:
                test = difference_test(best_values, group["values"].iloc[position], method)
            rows.append(
                {
                    "cell": group["cell"].iloc[position],
                    "rank": rank,
                    "best": position == best,
                    "mean": means[position],
                    "n": estimates[position].n,
                    "p_value": test.p_value,
                    "test": test.method,
                    "note": test.note,
                    "worse": test.significant(alpha),
                }
            )
    columns = ["cell", "rank", "best", "mean", "n", "p_value", "test", "note", "worse"]
    return pd.DataFrame(rows, columns=columns)


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

    times = {}
    for row in cells.itertuples(index=False):
        times[(row.workload, row.contestant)] = time_to_target(row.times)
    workloads = list(dict.fromkeys(cells["workload"]))
    contestants = list(dict.fromkeys(cells["contestant"]))
    ratios = {c: [] for c in contestants}
    for workload in workloads:
        own = {c: times.get((workload, c), math.inf) for c in contestants}
        fastest = min(own.values())
        for contestant, seconds in own.items():
            if math.isinf(fastest) or math.isinf(seconds):
                ratios[contestant].append(math.inf)
            else:
                ratios[contestant].append(seconds / fastest if fastest > 0 else (1.0 if seconds == 0 else math.inf))
    profile = {
        c: [sum(r <= tau for r in ratios[c]) / len(workloads) if workloads else math.nan for tau in taus]
        for c in contestants
    }
    return pd.DataFrame.from_dict(profile, orient="index", columns=list(taus))


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

    rows = []
    for workload, group in cells.groupby("workload", sort=False):
        modes = {m for m in group["mode"] if m in ("max", "min")}
        means = [estimate(v).mean for v in group["values"]]
        order = better_first(means, next(iter(modes)) if len(modes) == 1 else None)
        if not order:
            continue
        names = list(group["contestant"])
        best = order[0]
        row = {"workload": workload, "best": names[best], "best_mean": means[best], "contestants": len(order)}
        if len(order) == 1:
            rows.append({**row, "outcome": ALONE, "winner": names[best], "tied": [names[best]]})
            continue
        tests = {i: difference_test(group["values"].iloc[best], group["values"].iloc[i], method) for i in order[1:]}
        tied = [names[i] for i in order[1:] if tests[i].tested and not tests[i].significant(alpha)]
        untested = [names[i] for i in order[1:] if not tests[i].tested]
        outcome = TIE if tied else UNDECIDED if untested else WIN
        runner = tests[order[1]]
        rows.append(
            {
                **row,
                "outcome": outcome,
                "winner": names[best] if outcome == WIN else None,
                "tied": [names[best], *tied] if outcome == TIE else [],
                "runner_up": names[order[1]],
                "runner_up_mean": means[order[1]],
                "p_value": runner.p_value,
                "test": runner.method,
            }
        )
    columns = ["workload", "outcome", "winner", "tied", "best", "best_mean", "runner_up", "runner_up_mean"]
    return pd.DataFrame(rows, columns=[*columns, "p_value", "test", "contestants"])
