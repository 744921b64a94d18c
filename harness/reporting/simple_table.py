"""Text tables the way tabulate writes them, with tabulate's ``simple`` format (the default) written directly.

tabulate formats every cell one at a time (types, widths, alignment) and
takes over a second for 30,000 rows; for plain text cells its ``simple``
table is just left-aligned columns, so :func:`table` writes that itself and
leaves every other format, and any cell tabulate would treat specially (a
line break, a control or wide character, an escape code), to tabulate.
tests/reporting/test_simple_table.py holds the two to the same text.
"""

from __future__ import annotations

import re

#: Characters a fast ``simple`` table may hold: printable ASCII and '±' (one column wide everywhere).
_PLAIN = re.compile(r"[^\x20-\x7e±]")
#: tabulate's minimum padding between a header and its column's width (``tabulate.MIN_PADDING``).
_HEADER_PADDING = 2
_SEPARATOR = "  "


def simple_table(headers: list[str], columns: list[list[str]]) -> str | None:
    """``tabulate(rows, headers, tablefmt="simple", disable_numparse=True)`` of these columns of text,
    or None when some header or cell is not plain text (then tabulate must write it)."""
    if not columns or not columns[0] or len(headers) != len(columns) or len({len(c) for c in columns}) > 1:
        return None
    try:
        everything = " ".join([*headers, *(cell for column in columns for cell in column)])
    except TypeError:  # a cell that is not text
        return None
    if _PLAIN.search(everything):
        return None
    cells = [[cell.strip() for cell in column] for column in columns]  # tabulate strips the cells, not the headers
    widths = [
        max(len(header) + _HEADER_PADDING, *map(len, column)) for header, column in zip(headers, cells, strict=True)
    ]
    lines = [
        _SEPARATOR.join(header.ljust(width) for header, width in zip(headers, widths, strict=True)).rstrip(),
        _SEPARATOR.join("-" * width for width in widths),
    ]
    padded = [[cell.ljust(width) for cell in column] for column, width in zip(cells, widths, strict=True)]
    lines.extend(_SEPARATOR.join(row).rstrip() for row in zip(*padded, strict=True))
    return "\n".join(lines)


def table(headers: list[str], columns: list[list[str]], fmt: str) -> str:
    """The columns as a table in tabulate's ``fmt`` (numbers not parsed: '0.900' stays '0.900')."""
    if fmt == "simple":
        text = simple_table(headers, columns)
        if text is not None:
            return text
    from tabulate import tabulate

    return tabulate(list(zip(*columns, strict=True)), headers=headers, tablefmt=fmt, disable_numparse=True)
