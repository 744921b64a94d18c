"""Entries compared over many workloads, after rliable (Agarwal et al., 2021): normalised scores, the
interquartile mean, the optimality gap and the probability of improvement, each with a bootstrap interval.

Why these numbers: a mean over workloads lets one odd workload decide, a median throws most runs away; the
interquartile mean (IQM: the mean of the middle half of all an entry's runs, every workload's pooled) is
robust and still uses half of them. The optimality gap, the mean of ``max(0, 1 - score)``, is how far short
of 1 an entry falls, never crediting it for overshooting. The probability of improvement ``P(X > Y)`` is,
averaged over the workloads both entries ran, the chance that a run of X beats a run of Y there (ties count
half: the Mann-Whitney U over ``n·m``); it only reads the order of runs within each workload, so the
normalisation cannot change it.

**Normalisation**, per workload, so that 1 is good and higher is better whatever the metric's mode: by a
reference (a number, or a :class:`WorkloadReference` that also names its source) or else the runs' target ``r``
when there is one, ``1 + (x - r)/|r|`` for a metric to maximise and
``1 - (x - r)/|r|`` for one to minimise (accuracy 0.9 against 0.95 scores 0.947; an RMSE of twice the
reference scores 0); else min-max over the compared entries' means, the worst entry's mean 0 and the best's 1.
The scale is fixed from the data once, not re-fitted in each resample.

**The bootstrap** is stratified as rliable's: each resample draws every (workload, entry) cell's runs again,
with replacement, from that cell's own runs only, independently per workload and entry; intervals are the
percentiles of the resampled statistic. It is written here on numpy with a seeded generator, not with
``scipy.stats.bootstrap``: scipy stratifies only if every cell is passed as a sample of its own, then refuses
a cell of one run, calls the statistic with one array per cell (100 workloads x 45 pairs could not be one
array operation), and always redraws ``n`` of ``n``, which the calibration below rules out. Resamples are
drawn as counts (how often each run is drawn), so IQM, optimality gap and ``P(X > Y)`` of a whole chunk of
resamples are a few array operations; chunks bound the memory.

**Calibration.** Redrawing ``n`` of a cell's ``n`` runs shrinks the spread by ``(n-1)/n``: on null data (every
entry alike) the plain percentile interval of ``P(X > Y)`` excluded 0.5 in 5-11% of cases (2 to 10 seeds on 2 to
20 workloads) where 5% was due.
So each cell draws ``n - 1`` of its ``n`` runs, the with-replacement bootstrap for stratified samples of
McCarthy and Snowden (1985), whose variance of a stratified mean is unbiased. Two rules remain where the
resampled values are too few to have a tail: a pair is called only when it shares :data:`MIN_CALL_WORKLOADS`
workloads and every one of them has :data:`MIN_CALL_RUNS` runs a side. (One workload of 3 runs a side called
11% of null pairs: even the exact Mann-Whitney test cannot reach p < 0.1 there; with 2 runs a side, one draw
per cell, the rate was erratic.) Measured rates are in the README; :mod:`harness.reporting.calibration`
measures them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from harness.reporting.stats import finite
from harness.reporting.values import missing

#: Bootstrap resamples, and the seed of their generator: the same runs give the same intervals.
RESAMPLES = 2000
SEED = 0
#: Coverage of the intervals; a pair is called when its interval excludes 0.5.
CONFIDENCE = 0.95
#: Share cut from each end for the interquartile mean (scipy.stats.trim_mean's rounding: int(0.25·n) values).
TRIM = 0.25
#: Runs each entry needs on every workload of a pair, and workloads the pair needs in common, before that pair's
#: probability of improvement is called (see the calibration above).
MIN_CALL_RUNS = 3
MIN_CALL_WORKLOADS = 2
#: Counts held at once (entries x workloads x resamples x runs): resamples are drawn in chunks this size.
CHUNK = 1 << 21

#: How a workload was normalised (:attr:`AcrossWorkloads.normalisation`'s ``method``).
REFERENCE, TARGET, MIN_MAX, LEFT_OUT = "reference", "target", "min-max", "left out"


def interquartile_mean(scores) -> float:
    """The mean of the middle half of the finite ``scores`` (``int(0.25·n)`` cut from each end); NaN if none."""
    x = np.sort(finite(scores))
    cut = int(TRIM * len(x))
    return float(x[cut : len(x) - cut].mean()) if len(x) else math.nan


def optimality_gap(scores, gamma: float = 1.0) -> float:
    """The mean of ``max(0, gamma - score)`` over the finite ``scores``: the shortfall, never the overshoot."""
    x = finite(scores)
    return float(np.maximum(0.0, gamma - x).mean()) if len(x) else math.nan


def improvement_probability(x, y) -> float:
    """``P(X > Y) + P(X = Y)/2`` for a run of each, on one workload: Mann-Whitney U over ``n·m``."""
    x, y = finite(x), finite(y)
    if not len(x) or not len(y):
        return math.nan
    return float(((x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])).mean())


def probability_of_improvement(xs, ys) -> float:
    """:func:`improvement_probability` averaged over the workloads (pairs of ``xs[i]``, ``ys[i]``) both ran."""
    each = [improvement_probability(x, y) for x, y in zip(xs, ys, strict=True)]
    each = [p for p in each if not math.isnan(p)]
    return float(np.mean(each)) if each else math.nan


# ---------------------------------------------------------------------------
# Counts: a resample as how often each run is drawn
# ---------------------------------------------------------------------------


def resample_sizes(runs) -> np.ndarray:
    """Runs each cell draws per resample: ``n - 1`` of its ``n`` (one of one; none of none)."""
    runs = np.asarray(runs, dtype=np.int64)
    return np.where(runs > 0, np.maximum(runs - 1, 1), 0)


def stratified_counts(rng, runs, resamples: int, width: int, draws=None) -> np.ndarray:
    """How often each run is drawn: ``(*runs.shape, resamples, width)`` integers.

    ``runs`` holds each cell's number of runs (cells are workloads, or workloads of each entry);
    a cell draws ``draws`` (default :func:`resample_sizes`) of its own runs, uniformly with
    replacement, so a resample never moves a run between cells. Positions past a cell's runs stay 0.
    """
    runs = np.asarray(runs, dtype=np.int64)
    draws = resample_sizes(runs) if draws is None else np.broadcast_to(np.asarray(draws, dtype=np.int64), runs.shape)
    most = int(draws.max(initial=0))
    shape = (*runs.shape, resamples, most)
    # uniform on 0..n-1: float32 draws are exact to 2**24 runs, and twice as fast as rng.integers with many highs
    highs = np.maximum(runs, 1)[..., None, None]
    picks = np.minimum((rng.random(shape, dtype=np.float32) * highs.astype(np.float32)).astype(np.int64), highs - 1)
    slots = np.arange(runs.size * resamples, dtype=np.int64).reshape(*runs.shape, resamples, 1) * width
    drawn = slots + picks
    if (draws != most).any():
        drawn = drawn[np.broadcast_to(np.arange(most) < draws[..., None, None], shape)]
    counts = np.bincount(drawn.ravel(), minlength=runs.size * resamples * width)
    return counts.reshape(*runs.shape, resamples, width)


def present_counts(scores: np.ndarray) -> np.ndarray:
    """The data itself as counts: every run drawn once, ``(..., 1, width)`` for ``scores`` ``(..., width)``."""
    return (~np.isnan(scores)).astype(float)[..., None, :]


def weighted_gaps(scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Optimality gap of each entry in each resample: ``scores`` ``(E, W, S)`` and ``counts``
    ``(E, W, B, S)`` -> ``(E, B)``."""
    shortfall = np.where(np.isnan(scores), 0.0, np.maximum(0.0, 1.0 - np.nan_to_num(scores)))
    totals = np.einsum("ewbs,ews->eb", counts, shortfall)
    return totals / counts.sum(axis=(1, 3))


def weighted_iqms(scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Interquartile mean of each entry in each resample, from counts (shapes as :func:`weighted_gaps`).

    Each entry's scores are sorted once; a resample's middle half is where its running count of drawn
    runs lies between ``int(0.25·total)`` and ``total`` minus that.
    """
    entries, workloads, resamples, width = counts.shape
    out = np.empty((entries, resamples))
    for entry in range(entries):
        values = scores[entry].ravel()
        order = np.argsort(values, kind="stable")  # NaN (no run) last
        ordered = np.nan_to_num(values[order])
        drawn = counts[entry].transpose(1, 0, 2).reshape(resamples, workloads * width)[:, order]
        total = int(drawn[0].sum())
        low = int(TRIM * total)
        high = total - low
        upto = np.cumsum(drawn, axis=1)
        weight = np.clip(np.minimum(upto, high) - np.maximum(upto - drawn, low), 0, None)
        out[entry] = weight @ ordered / (high - low) if total else math.nan
    return out


def comparisons(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[x_i > y_j] + [x_i = y_j]/2`` for every pair of runs of each workload: ``(..., W, S)`` -> ``(..., W, S, S)``
    (pads are NaN, so they compare as neither)."""
    left, right = x[..., :, None], y[..., None, :]
    return (left > right) + 0.5 * (left == right)


def mean_improvement(x, y, counts_x, counts_y) -> np.ndarray:
    """``P(X > Y)`` averaged over the workloads both ran, in each resample: ``(..., B)``.

    ``x``, ``y`` are ``(..., W, S)`` scores (NaN past a workload's runs), ``counts_*`` ``(..., W, B, S)``.
    Each workload's probability is ``cx·K·cy / (Σcx·Σcy)``, one small matrix product per workload.
    """
    drawn_x, drawn_y = counts_x[..., :1, :].sum(axis=-1), counts_y[..., :1, :].sum(axis=-1)  # (..., W, 1)
    weighted = np.matmul(counts_x, comparisons(x, y).astype(counts_x.dtype))  # (..., W, B, S)
    per = np.einsum("...s,...s->...", weighted, counts_y).astype(float)
    shared = (drawn_x > 0) & (drawn_y > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(shared, per / (drawn_x * drawn_y), 0.0)
        return per.sum(axis=-2) / shared.sum(axis=-2)


def percentile_interval(samples: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval of resampled statistics along the last axis."""
    tail = (1 - confidence) / 2
    low, high = np.quantile(samples, [tail, 1 - tail], axis=-1)
    return low, high


# ---------------------------------------------------------------------------
# Normalising each workload
# ---------------------------------------------------------------------------


class WorkloadReference(NamedTuple):
    """A workload's reference with where it comes from, so the normalisation table can name it.

    ``value`` None means references applied but none could be chosen (several values, say); the workload
    then falls back to its target or min-max, and ``note`` says why.
    """

    value: float | None
    source: str = ""
    note: str = ""


def _given(reference) -> tuple[object, str, str]:
    """``(value, source, note)`` of a workload's entry in ``references``: a bare number or a WorkloadReference."""
    if isinstance(reference, WorkloadReference):
        return reference.value, reference.source, reference.note
    return reference, "", ""


def _notes(*notes: str) -> str:
    return "; ".join(note for note in notes if note)


def _normaliser(mode, means: np.ndarray, reference, target) -> tuple[str, float, float, str]:
    """``(method, reference or worst mean, |reference| or range of means, why left out)`` of one workload."""
    for method, value in ((REFERENCE, reference), (TARGET, target)):
        if not missing(value) and math.isfinite(float(value)) and float(value) != 0:
            return method, float(value), abs(float(value)), ""
    worst, best = (means.min(), means.max()) if mode == "max" else (means.max(), means.min())
    if best == worst:
        return LEFT_OUT, math.nan, math.nan, "every entry's mean is the same: nothing to scale by"
    return MIN_MAX, float(worst), float(abs(best - worst)), ""


def normalise(cells, references: Mapping | None = None):
    """Each entry's runs on each workload as normalised scores, and how each workload was normalised.

    ``cells`` has one row per (workload, entry) with ``workload``, ``contestant``, ``mode`` and ``values``
    (``target`` optional); ``references`` maps a workload to its reference value or :class:`WorkloadReference`.
    A workload counts when its entries agree on a mode (``max`` or ``min``) and two or more of them have a
    finite value. Returns ``(scores, normalisation)``: ``scores`` the rows that count with ``scores`` (one
    list each); ``normalisation`` one row per workload: ``workload``, ``entries``, ``runs``, ``method``,
    ``low``, ``scale`` (score = ``(x - low)/scale`` or ``(low - x)/scale`` as the mode says, plus 1 with a
    reference), ``source`` (the reference's, when it was used) and ``note`` (why it was left out, or why a
    reference it was given was not used).
    """
    import pandas as pd

    references = references or {}
    values = [finite(v) for v in cells["values"].tolist()]
    workloads, names, modes = (cells[c].tolist() for c in ("workload", "contestant", "mode"))
    targets = cells["target"].tolist() if "target" in cells else [None] * len(cells)
    groups: dict = {}
    for position, sample in enumerate(values):
        if len(sample):
            groups.setdefault(workloads[position], []).append(position)
    scored, rows = [], []
    for workload, positions in groups.items():
        row = {"workload": workload, "entries": len(positions), "runs": sum(len(values[p]) for p in positions)}
        row |= {"method": LEFT_OUT, "low": math.nan, "scale": math.nan, "source": "", "note": ""}
        mode = modes[positions[0]] if len({modes[p] for p in positions}) == 1 else None
        if mode not in ("max", "min"):
            rows.append({**row, "note": "its entries name no single direction (max or min)"})
            continue
        if len(positions) < 2:
            rows.append({**row, "note": "only one entry has results"})
            continue
        means = np.array([values[p].mean() for p in positions])
        target = next((targets[p] for p in positions if not missing(targets[p])), None)
        value, source, why = _given(references.get(workload))
        method, low, scale, note = _normaliser(mode, means, value, target)
        if method != REFERENCE:
            unusable = (
                "" if missing(value) else f"its reference {float(value):g} cannot scale scores (zero or not finite)"
            )
            source, note = "", _notes(note, why, unusable)
        rows.append({**row, "method": method, "low": low, "scale": scale, "source": source, "note": note})
        if method == LEFT_OUT:
            continue
        sign = 1.0 if mode == "max" else -1.0
        offset = 1.0 if method in (REFERENCE, TARGET) else 0.0
        scored.extend((workload, names[p], (offset + sign * (values[p] - low) / scale).tolist()) for p in positions)
    return (
        pd.DataFrame(scored, columns=["workload", "contestant", "scores"]),
        pd.DataFrame(rows, columns=["workload", "entries", "runs", "method", "low", "scale", "source", "note"]),
    )


# ---------------------------------------------------------------------------
# Every entry over every workload
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AcrossWorkloads:
    """What :func:`across_workloads` found, as frames.

    ``scores``: one row per entry, best IQM first: ``contestant``, ``workloads``, ``runs``, ``iqm``,
    ``iqm_low``, ``iqm_high``, ``gap``, ``gap_low``, ``gap_high``. ``improvement``: one row per pair of
    entries sharing a workload, oriented so that ``probability`` (of X beating Y) is at least 0.5:
    ``x``, ``y``, ``probability``, ``low``, ``high``, ``workloads``, ``fewest_runs`` (runs of the thinner
    side on its thinnest workload), ``called`` and ``better`` (the entry a call favours).
    ``normalisation``: :func:`normalise`'s. ``workloads`` is how many workloads count (2 or more for any
    score); the bootstrap's ``resamples``, ``seed`` and ``confidence`` are stated for the tables' titles,
    and ``kind`` names the entries (``optimizers``, ``models``).
    """

    scores: object
    improvement: object
    normalisation: object
    workloads: int
    resamples: int
    seed: int
    confidence: float
    kind: str = "entries"


def score_layout(scored) -> tuple[list, np.ndarray, np.ndarray]:
    """``(entries, scores, runs)``: scores ``(entries, workloads, most runs)``, NaN past each cell's runs, and
    the runs per cell (0 where an entry did not run a workload), from :func:`normalise`'s ``scores``."""
    import pandas as pd

    entries, entry_names = pd.factorize(scored["contestant"], use_na_sentinel=False)
    workloads, workload_names = pd.factorize(scored["workload"], use_na_sentinel=False)
    lists = scored["scores"].tolist()
    width = max((len(s) for s in lists), default=0)
    scores = np.full((len(entry_names), len(workload_names), width), math.nan)
    runs = np.zeros((len(entry_names), len(workload_names)), dtype=np.int64)
    for entry, workload, values in zip(entries.tolist(), workloads.tolist(), lists, strict=True):
        scores[entry, workload] = math.nan  # a cell given twice: the later row counts
        scores[entry, workload, : len(values)] = values
        runs[entry, workload] = len(values)
    return entry_names.tolist(), scores, runs


def _improvements(scores: np.ndarray, counts: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """``P(X > Y)`` of each pair in each resample: ``(pairs, resamples)``."""
    out = np.empty((len(pairs), counts.shape[2]))
    for row, (x, y) in enumerate(pairs):
        out[row] = mean_improvement(scores[x], scores[y], counts[x], counts[y])
    return out


def _statistics(scores, counts, pairs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return weighted_iqms(scores, counts), weighted_gaps(scores, counts), _improvements(scores, counts, pairs)


def bootstrap(scores: np.ndarray, runs: np.ndarray, pairs, resamples: int = RESAMPLES, seed: int = SEED):
    """IQM ``(E, B)``, optimality gap ``(E, B)`` and ``P(X > Y)`` ``(pairs, B)`` of ``resamples`` stratified
    resamples (:func:`stratified_counts`), drawn in chunks of at most :data:`CHUNK` counts from one seeded generator."""
    rng = np.random.default_rng(seed)
    entries, workloads, width = scores.shape
    chunk = max(1, CHUNK // max(1, entries * workloads * width))
    parts = []
    for start in range(0, resamples, chunk):
        # float32 holds counts, halves and their sums exactly here (below 2**24), at half the memory traffic
        counts = stratified_counts(rng, runs, min(chunk, resamples - start), width).astype(np.float32)
        parts.append(_statistics(scores, counts, pairs))
    return tuple(np.concatenate([part[i] for part in parts], axis=-1) for i in range(3))


def _pairs(runs: np.ndarray, order: list[int]) -> list[tuple[int, int]]:
    """Every pair of entries (in ``order``) that ran a workload in common."""
    ran = runs > 0
    return [(x, y) for i, x in enumerate(order) for y in order[i + 1 :] if (ran[x] & ran[y]).any()]


def _pair_rows(names, runs, pairs, point, samples, confidence) -> list[dict]:
    """The rows of :attr:`AcrossWorkloads.improvement`, each pair oriented so its probability is at least 0.5."""
    low, high = percentile_interval(samples, confidence) if len(pairs) else ([], [])
    rows = []
    for (x, y), p, lo, hi in zip(
        pairs, point.tolist(), np.asarray(low).tolist(), np.asarray(high).tolist(), strict=True
    ):
        if p < 0.5:
            x, y, p, lo, hi = y, x, 1 - p, 1 - hi, 1 - lo
        shared = (runs[x] > 0) & (runs[y] > 0)
        fewest = int(np.minimum(runs[x], runs[y])[shared].min())
        enough = fewest >= MIN_CALL_RUNS and shared.sum() >= MIN_CALL_WORKLOADS
        called = bool(enough and (lo > 0.5 or hi < 0.5))
        better = (names[x] if lo > 0.5 else names[y]) if called else None
        rows.append(
            {"x": names[x], "y": names[y], "probability": p, "low": lo, "high": hi, "workloads": int(shared.sum())}
            | {"fewest_runs": fewest, "called": called, "better": better}
        )
    return rows


def across_workloads(
    cells,
    references: Mapping | None = None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> AcrossWorkloads:
    """IQM, optimality gap and probability of improvement of the entries of ``cells`` over its workloads.

    ``cells`` and ``references`` are :func:`normalise`'s. Scores need two or more workloads that count;
    with fewer, ``scores`` and ``improvement`` are empty and ``workloads`` says how many there were.
    """
    import pandas as pd

    scored, normalisation = normalise(cells, references)
    counted = int((normalisation["method"] != LEFT_OUT).sum())
    empty = AcrossWorkloads(pd.DataFrame(), pd.DataFrame(), normalisation, counted, resamples, seed, confidence)
    if counted < 2:
        return empty
    names, scores, runs = score_layout(scored)
    present = present_counts(scores)
    iqm, gap = weighted_iqms(scores, present)[:, 0], weighted_gaps(scores, present)[:, 0]
    order = sorted(range(len(names)), key=lambda e: -iqm[e])  # stable: ties in order of first appearance
    pairs = _pairs(runs, order)
    boot_iqm, boot_gap, boot_pairs = bootstrap(scores, runs, pairs, resamples, seed)
    point_pairs = _improvements(scores, present, pairs)[:, 0]
    (iqm_low, iqm_high), (gap_low, gap_high) = (percentile_interval(b, confidence) for b in (boot_iqm, boot_gap))
    table = (
        pd.DataFrame(
            {
                "contestant": names,
                "workloads": (runs > 0).sum(axis=1),
                "runs": runs.sum(axis=1),
                "iqm": iqm,
                "iqm_low": iqm_low,
                "iqm_high": iqm_high,
                "gap": gap,
                "gap_low": gap_low,
                "gap_high": gap_high,
            }
        )
        .iloc[order]
        .reset_index(drop=True)
    )
    rows = _pair_rows(names, runs, pairs, point_pairs, boot_pairs, confidence)
    columns = ["x", "y", "probability", "low", "high", "workloads", "fewest_runs", "called", "better"]
    improvement = pd.DataFrame(rows, columns=columns)
    return AcrossWorkloads(table, improvement, normalisation, counted, resamples, seed, confidence)
