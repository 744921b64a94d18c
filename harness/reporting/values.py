"""What counts as a value in a frame of records: gaps, finite numbers, and the order rows sort in.

Records come from many harness versions and plugins, so a column may hold
None, NaN, pandas' NA, a flag or a string where a number was expected; every
table reads them through these few helpers.
"""

from __future__ import annotations

import numbers
import re


def missing(value) -> bool:
    """None, NaN and pandas' NA alike: a number a record did not have."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # pandas.NA: its comparisons are NA too
        return True


def finite_numbers(series) -> list[float]:
    """The finite numbers of a column, skipping gaps (and strings or flags a bad record may hold)."""
    return [float(v) for v in series if isinstance(v, numbers.Real) and not isinstance(v, bool) and not missing(v)]


def first_present(series):
    """The first value a group has, or None: labels and kinds shared by a cell's runs."""
    return next((v for v in series if not missing(v)), None)


def natural_key(value) -> tuple:
    """Sort key that puts 'max_epochs=5' before 'max_epochs=20' and gaps last."""
    if missing(value):
        return (1,)
    parts = re.split(r"(\d+(?:\.\d+)?)", str(value))
    return (0, *(float(p) if i % 2 else p for i, p in enumerate(parts)))
