"""Columns of a frame in groups, without a Python loop per group: counts, first values, means, medians, sums.

Every aggregate here gives, for all groups at once, exactly what the one-group
code of the tables gave: :func:`harness.reporting.values.finite_numbers` picks
the numbers (flags and strings skipped, infinities kept), ``statistics.fmean``
is an exactly rounded sum divided by n (:func:`exact_sums`), ``statistics.median``
the middle of the sorted numbers, and numpy's ``sum``/``mean``/``var`` add in
pairs in a fixed order (:func:`numpy_sums` follows that order, so a mean here
equals ``np.mean`` of the group to the last bit).

A :class:`Groups` holds rows grouped by integer codes in a chosen order; the
``select`` of a row mask gives that subset as contiguous segments, one per group.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

#: numpy adds up to this many values one by one, and up to :data:`_BLOCK` with eight accumulators.
_UNROLL = 8
_BLOCK = 128
#: Segments up to this long are summed exactly side by side; a longer one by ``math.fsum`` on its own.
_CARRIED = 64


def present(series) -> np.ndarray:
    """Which values of a column are there: not None, NaN or pandas' NA (:func:`harness.reporting.values.missing`)."""
    import pandas as pd

    return ~np.asarray(pd.isna(series), dtype=bool)


def real_numbers(series, flags: bool = False) -> np.ndarray:
    """The column as floats: each real number as ``float(v)``, infinities kept; NaN for anything else.

    What :func:`harness.reporting.values.finite_numbers` keeps, in place; flags
    (True, False) count as the numbers 1 and 0 only with ``flags``.
    """
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return series.to_numpy(dtype=float, na_value=np.nan) if flags else np.full(len(series), np.nan)
    if pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        return series.to_numpy(dtype=float, na_value=np.nan)
    inferred = pd.api.types.infer_dtype(series, skipna=True) if pd.api.types.is_object_dtype(dtype) else None
    if inferred in ("floating", "integer", "mixed-integer-float", "empty", *(("boolean",) if flags else ())):
        return series.to_numpy(dtype=float, na_value=np.nan)  # numbers (or flags) and gaps only
    return np.array(
        [
            float(v) if isinstance(v, numbers.Real) and (flags or not isinstance(v, bool)) and v == v else math.nan
            for v in series.to_numpy(dtype=object)
        ],
        dtype=float,
    )


def nonempty_text(series) -> np.ndarray:
    """Which values are text with at least one character."""
    import pandas as pd

    dtype = series.dtype
    texts_only = pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype)
    if texts_only or (pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(series) == "string"):
        return present(series) & (series.str.len().to_numpy(dtype=float, na_value=0.0) > 0)
    return np.array([isinstance(v, str) and v != "" for v in series.to_numpy(dtype=object)], dtype=bool)


def truthy(series) -> np.ndarray:
    """``bool(v)`` of each value that is there; False for gaps."""
    values = series.to_numpy(dtype=object, copy=True)
    values[~present(series)] = False
    return values.astype(bool)


def offsets(sizes: np.ndarray) -> np.ndarray:
    """Where each segment starts, for segments of these sizes laid end to end."""
    starts = np.zeros(len(sizes), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    return starts


class Groups:
    """Rows in ``count`` groups (``codes``, one per row), walked in ``order`` (rows keep that order within a group)."""

    def __init__(self, codes: np.ndarray, count: int, order: np.ndarray | None = None):
        codes = np.asarray(codes, dtype=np.int64)
        rows = np.arange(len(codes)) if order is None else np.asarray(order)
        self.codes, self.count = codes, count
        self.order = rows[np.argsort(codes[rows], kind="stable")]  # grouped, each group in the given order

    def select(self, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, sizes)``: the rows where ``mask`` holds, group after group, and how many each group has."""
        rows = self.order if mask is None else self.order[mask[self.order]]
        return rows, np.bincount(self.codes[rows], minlength=self.count)

    def first(self, values, mask: np.ndarray) -> list:
        """The value of the first row where ``mask`` holds, per group (None where none does)."""
        rows, sizes = self.select(mask)
        firsts = rows[offsets(sizes)[sizes > 0]]
        out = [None] * self.count
        # tolist: the values iteration gives (Python scalars), without iterating an Arrow-backed column
        taken = values.iloc[firsts].tolist() if hasattr(values, "iloc") else np.asarray(values, dtype=object)[firsts]
        for code, value in zip(self.codes[firsts].tolist(), list(taken), strict=True):
            out[code] = value
        return out

    def first_present(self, series) -> list:
        """:func:`harness.reporting.values.first_present` of every group."""
        return self.first(series, present(series))

    def segments(self, values: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``values`` where ``mask`` holds and they are not NaN, as contiguous segments, and the segments' sizes."""
        keep = ~np.isnan(values) if mask is None else mask & ~np.isnan(values)
        rows, sizes = self.select(keep)
        return values[rows], sizes


def numpy_sums(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``np.add.reduce`` of each segment, added in numpy's own order (pairwise, eight accumulators), bit for bit."""
    return _pairwise(values, offsets(sizes), np.asarray(sizes, dtype=np.int64))


def _pairwise(values: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """numpy's ``pairwise_sum`` of ``values[start:start+size]`` for every segment at once."""
    out = np.zeros(len(sizes))
    small = sizes < _UNROLL
    if small.any():  # one by one from 0.0
        out[small] = _running_sums(values, starts[small], sizes[small], np.zeros(int(small.sum())))
    middle = (sizes >= _UNROLL) & (sizes <= _BLOCK)
    if middle.any():
        out[middle] = _unrolled_sums(values, starts[middle], sizes[middle])
    large = sizes > _BLOCK
    if large.any():  # halves, the first a multiple of eight long
        start, size = starts[large], sizes[large]
        half = size // 2
        half -= half % _UNROLL
        both = _pairwise(values, np.concatenate([start, start + half]), np.concatenate([half, size - half]))
        out[large] = both[: len(start)] + both[len(start) :]
    return out


def _running_sums(values, starts, sizes, totals) -> np.ndarray:
    """``totals`` plus the values of each segment, added one at a time."""
    for position in range(int(sizes.max(initial=0))):
        more = position < sizes
        totals[more] = totals[more] + values[starts[more] + position]
    return totals


def _unrolled_sums(values, starts, sizes) -> np.ndarray:
    """numpy's sum of 8 to 128 values: eight running sums over whole blocks of eight, combined, then the rest."""
    lanes = np.arange(_UNROLL)
    accumulators = values[starts[:, None] + lanes]
    whole = sizes - sizes % _UNROLL
    for block in range(_UNROLL, int(whole.max()), _UNROLL):
        more = block < whole
        accumulators[more] = accumulators[more] + values[starts[more, None] + block + lanes]
    a = accumulators.T
    totals = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
    return _running_sums(values, starts + whole, sizes - whole, totals)


def numpy_means(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``np.mean`` of each segment (NaN for an empty one)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return numpy_sums(values, sizes) / sizes


def numpy_variances(values: np.ndarray, sizes: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``np.var(ddof=1)`` of each segment, given its ``np.mean`` (NaN below two values)."""
    deviations = values - np.repeat(means, sizes)
    squares = numpy_sums(deviations * deviations, sizes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sizes >= 2, squares / np.maximum(sizes - 1, 1), np.nan)


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e = a + b`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def exact_sums(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``math.fsum`` of each segment: the exact sum, rounded once (0.0 for an empty one; NaN where fsum fails).

    Error-free additions carry each sum in two parts, whose one rounding is
    the exact sum's unless the low part itself was rounded and the sum lies
    near a rounding boundary; there, and for a sum of zero (its sign) or one
    that is not finite, ``math.fsum`` itself decides.
    """
    starts, sizes = offsets(sizes), np.asarray(sizes, dtype=np.int64)
    short = sizes <= _CARRIED  # longer segments are few (each holds many values): fsum takes them whole
    filled = (sizes > 0) & short
    high, low = np.zeros(len(sizes)), np.zeros(len(sizes))
    high[filled] = values[starts[filled]]
    magnitude, exact = np.abs(high), np.ones(len(sizes), dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):
        for position in range(1, int(sizes[short].max(initial=0))):
            more = (position < sizes) & short
            value = values[starts[more] + position]
            high[more], error = _two_sum(high[more], value)
            low[more], slip = _two_sum(low[more], error)
            exact[more] &= slip == 0  # so far high + low is the sum itself
            magnitude[more] += np.abs(value)
        rounded, remainder = _two_sum(high, low)
        bound = 4.0 * (sizes * sizes + sizes) * 2.0**-106 * magnitude  # what the carried low parts may miss
        away = np.abs(np.nextafter(rounded, np.copysign(np.inf, rounded)) - rounded)
        towards = np.abs(rounded - np.nextafter(rounded, 0.0))
        gap = np.where(remainder * rounded > 0, away, towards)  # to the neighbour on the exact sum's side
        sure = np.isfinite(rounded) & (rounded != 0) & (exact | (np.abs(remainder) + bound < gap / 2))
    result = np.where(sure | (sizes == 0), np.where(filled, rounded, 0.0), np.nan)
    for group in np.flatnonzero((sizes > 0) & ~sure).tolist():
        start = int(starts[group])
        try:
            result[group] = math.fsum(values[start : start + int(sizes[group])].tolist())
        except (ValueError, OverflowError):  # inf - inf, or a sum past the largest float
            result[group] = math.nan
    return result


def exact_means(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``statistics.fmean`` of each segment (NaN for an empty one)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sizes > 0, exact_sums(values, sizes) / np.maximum(sizes, 1), np.nan)


def medians(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``statistics.median`` of each segment (NaN for an empty one)."""
    segment = np.repeat(np.arange(len(sizes)), sizes)
    ordered = values[np.lexsort((values, segment))]
    starts, middle = offsets(sizes), sizes // 2
    upper = ordered[np.minimum(starts + middle, max(len(ordered) - 1, 0))] if len(ordered) else np.zeros(len(sizes))
    lower = ordered[np.maximum(starts + middle - 1, 0)] if len(ordered) else np.zeros(len(sizes))
    with np.errstate(invalid="ignore"):
        even = (lower + upper) / 2
    return np.where(sizes == 0, np.nan, np.where(sizes % 2 == 1, upper, even))


def split(values: list, sizes: np.ndarray) -> list[list]:
    """A list per segment, from the segments laid end to end."""
    ends = np.cumsum(sizes).tolist()
    starts = [0, *ends[:-1]] if ends else []
    return [values[start:end] for start, end in zip(starts, ends, strict=True)]
