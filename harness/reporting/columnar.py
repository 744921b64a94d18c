"""Runs frames as Arrow tables: how every column is typed, so a frame read from files and one read from the
run index are equal.

One rule types a column, whichever way its values came (rows of
:func:`harness.reporting.frames.run_row`, or a pandas frame): gaps (None,
NaN, pandas' NA) are nulls; a column with no value at all holds numbers; a
column whose values are of one kind (numbers, flags, text) gets Arrow's type
for it; a column of mixed kinds (a number in one record, a string in
another), or one Arrow cannot hold (an integer past 64 bits), is kept as JSON
text and named in the schema's metadata, so :func:`from_arrow` gives back the
very values. Parquet holds any such table, which is what the run index stores.
"""

from __future__ import annotations

import functools
import json
import numbers

from harness.reporting.values import missing

#: Schema metadata naming the columns stored as JSON text because their values are of mixed kinds.
JSON_COLUMNS_KEY = b"harness.json_columns"


@functools.cache
def _gap_types() -> frozenset:
    import pandas as pd

    return frozenset((type(None), type(pd.NA)))


def value_kinds(values: list) -> set[str]:
    """The kinds of the values that are not gaps: ``number``, ``flag``, or a type's name (``str``, ``list``...)."""
    types = set(map(type, values)) - _gap_types()
    if float in types and not any(v == v for v in values if type(v) is float):
        types.discard(float)  # only NaN: gaps
    kinds = set()
    for kind in types:
        if issubclass(kind, bool):
            kinds.add("flag")
        elif issubclass(kind, numbers.Number):
            kinds.add("number")
        else:
            kinds.add(kind.__name__)
    return kinds


def _column(values: list):
    """``(array, as_json)``: one column's values as an Arrow array, typed by the module's rule."""
    import pyarrow as pa

    kinds = value_kinds(values)
    if not kinds:
        return pa.nulls(len(values), type=pa.float64()), False
    if len(kinds) == 1:
        try:
            return pa.array(values, from_pandas=True), False
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    texts = [None if missing(v) else json.dumps(v) for v in values]
    return pa.array(texts, type=pa.string()), True


def _table(columns: dict[str, list]):
    import pyarrow as pa

    arrays, encoded = [], []
    for name, values in columns.items():
        array, as_json = _column(values)
        arrays.append(array)
        if as_json:
            encoded.append(name)
    table = pa.Table.from_arrays(arrays, names=list(columns))
    return table.replace_schema_metadata({JSON_COLUMNS_KEY: json.dumps(encoded).encode()})


def rows_arrow(rows: list[dict], names: list[str]):
    """Rows (dicts) as an Arrow table with the columns ``names``, in that order (a name no row has: all nulls).

    Every row's keys must be among ``names``.
    """
    columns = {name: [None] * len(rows) for name in names}
    for position, row in enumerate(rows):  # one pass over the rows, not one per column: 4x faster
        for name, value in row.items():
            columns[name][position] = value
    return _table(columns)


def to_arrow(frame):
    """A pandas frame as an Arrow table, typed like :func:`rows_arrow` types the same values."""
    return _table({str(name): frame[name].tolist() for name in frame.columns})


def encoded_columns(table) -> list[str]:
    """The columns of ``table`` kept as JSON text."""
    return json.loads((table.schema.metadata or {}).get(JSON_COLUMNS_KEY, b"[]"))


def concat(tables):
    """Tables of the same rule, one under the other: a column JSON-encoded in one is encoded in all.

    Columns missing from a table are nulls there. Raises ``pyarrow.ArrowInvalid``
    (or ``ArrowTypeError``) when a column has different kinds in two tables.
    """
    import pyarrow as pa

    encoded = sorted({name for table in tables for name in encoded_columns(table)})
    aligned = []
    for table in tables:
        own = set(encoded_columns(table))
        for name in encoded:
            if name in table.column_names and name not in own:
                values = table.column(name).to_pylist()
                array = pa.array([None if v is None else json.dumps(v) for v in values], type=pa.string())
                table = table.set_column(table.column_names.index(name), name, array)
        aligned.append(table.replace_schema_metadata(None))
    joined = pa.concat_tables(aligned, promote_options="permissive")
    return joined.replace_schema_metadata({JSON_COLUMNS_KEY: json.dumps(encoded).encode()})


def from_arrow(table):
    """The pandas frame of an Arrow table of this rule (its JSON-text columns decoded)."""
    frame = table.to_pandas()
    for name in encoded_columns(table):
        if name in frame.columns:
            frame[name] = frame[name].map(lambda text: None if missing(text) else json.loads(text)).astype(object)
    return frame


def typed(frame):
    """``frame`` as it comes back from the run index: the same values, typed by this module's rule.

    Every runs frame goes through it, read from the files or from the index,
    so the two never differ (a gap is None in a text column, NaN in a number one).
    """
    return from_arrow(to_arrow(frame))
