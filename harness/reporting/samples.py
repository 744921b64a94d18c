"""Many samples at once: each one's mean, spread and interval, and their order within the workloads they share.

The numbers are those of :func:`harness.reporting.stats.estimate` and
:func:`harness.reporting.stats.better_first`, sample by sample, to the last
bit (means and variances add in numpy's own order, :mod:`harness.reporting.grouped`);
the t quantiles of the intervals are computed once per distinct sample size,
without scipy (:mod:`harness.reporting.student_t`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from harness.reporting.grouped import numpy_means, numpy_variances, offsets
from harness.reporting.student_t import t_quantiles

#: Means within this relative distance of each other share a rank (``math.isclose``'s ``rel_tol``).
SAME_RANK = 1e-12


@dataclass(frozen=True)
class Estimates:
    """Means, sample stds and variances (ddof=1), sizes and confidence half-widths of many samples (NaN where
    undefined)."""

    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray
    ci: np.ndarray
    var: np.ndarray


def ci_half_widths(std: np.ndarray, n: np.ndarray, confidence: float) -> np.ndarray:
    """``t(1-(1-confidence)/2, n-1)·std/√n`` of each sample; NaN below two values or for an unknown std."""
    std, n = np.asarray(std, dtype=float), np.asarray(n, dtype=np.int64)
    usable = (n >= 2) & np.isfinite(std)
    sizes = np.unique(n[usable])
    quantiles = np.full(len(n), np.nan)
    if len(sizes):
        table = t_quantiles(0.5 + confidence / 2, (sizes - 1).astype(float))
        quantiles[usable] = table[np.searchsorted(sizes, n[usable])]
    with np.errstate(invalid="ignore"):
        return np.where(usable, quantiles * std / np.sqrt(n), np.nan)


def segment_estimates(values: np.ndarray, sizes: np.ndarray, confidence: float = 0.95) -> Estimates:
    """The estimate of each segment of finite ``values`` (segments laid end to end, ``sizes`` long)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    means = numpy_means(values, sizes)
    single = sizes == 1
    means[single] = values[offsets(sizes)[single]]  # the value itself (numpy would add it to 0.0: -0.0 -> 0.0)
    variances = numpy_variances(values, sizes, means)
    with np.errstate(invalid="ignore"):
        std = np.sqrt(variances)
    return Estimates(means, std, sizes, ci_half_widths(std, sizes, confidence), variances)


def estimates(samples, confidence: float = 0.95) -> Estimates:
    """The estimate of each sample (an iterable of numbers, of which the finite ones count)."""
    samples = [list(sample) for sample in samples]
    lengths = np.fromiter(map(len, samples), dtype=np.int64, count=len(samples))
    flat = np.array(list(itertools.chain.from_iterable(samples)), dtype=float)
    keep = np.isfinite(flat)
    owner = np.repeat(np.arange(len(samples)), lengths)[keep]
    return segment_estimates(flat[keep], np.bincount(owner, minlength=len(samples)), confidence)


def _listed(values) -> list:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _isclose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``math.isclose(a, b, rel_tol=SAME_RANK)`` elementwise, for finite numbers."""
    difference = np.abs(b - a)
    return (a == b) | (difference <= np.abs(SAME_RANK * b)) | (difference <= np.abs(SAME_RANK * a))


def rank_order(workloads, modes, means) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cells that get a rank, workload by workload (in order of first appearance), best first.

    Returns ``(positions, ranks, best)``: the ranked cells' positions, their
    ranks (1 is best; a mean equal to 12 digits to a better one's shares the
    first such rank) and the position of their workload's best. A workload
    is ranked only when its cells name exactly one direction (``max`` or
    ``min``) among them; a cell only with a finite mean. Ties keep the cells' order.
    """
    import pandas as pd

    codes, _ = pd.factorize(pd.Series(_listed(workloads), dtype=object))
    modes = pd.Series(_listed(modes), dtype=object)
    means = np.asarray(means, dtype=float)
    count = int(codes.max(initial=-1)) + 1
    empty = np.zeros(0, dtype=np.int64)
    if not count:
        return empty, empty, empty
    grouped = codes >= 0
    highest = np.bincount(codes[grouped & modes.eq("max").to_numpy(dtype=bool)], minlength=count) > 0
    lowest = np.bincount(codes[grouped & modes.eq("min").to_numpy(dtype=bool)], minlength=count) > 0
    workload = np.where(grouped, codes, 0)
    candidates = np.flatnonzero(grouped & (highest ^ lowest)[workload] & np.isfinite(means))
    key = np.where(highest[workload], -means, means)[candidates]
    positions = candidates[np.lexsort((candidates, key, codes[candidates]))]
    if not len(positions):
        return empty, empty, empty
    ordered_codes, ordered = codes[positions], means[positions]
    first = np.flatnonzero(np.r_[True, ordered_codes[1:] != ordered_codes[:-1]])
    start = first[np.cumsum(np.r_[True, ordered_codes[1:] != ordered_codes[:-1]]) - 1]
    low, high = start.copy(), np.arange(len(positions))
    while (low < high).any():  # the first of the workload's order whose mean is close to each one's
        middle = (low + high) // 2
        close = _isclose(ordered[middle], ordered)
        searching = low < high
        high = np.where(searching & close, middle, high)
        low = np.where(searching & ~close, middle + 1, low)
    return positions, low - start + 1, positions[start]
