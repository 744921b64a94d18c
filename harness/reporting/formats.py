"""The formats a report can take, checked before any work: tabulate's tables, ``csv``, ``parquet`` and ``html``."""

from __future__ import annotations

from harness.errors import ConfigError

#: Formats made from the records rather than the summary table (see :func:`export`); ``csv`` is both.
DOCUMENT_FORMATS = ("html", "parquet")


def formats() -> list[str]:
    """Every format :func:`export` accepts: tabulate's tables, ``csv``, ``parquet`` and the ``html`` page."""
    from tabulate import tabulate_formats

    return sorted(set(tabulate_formats) | {"csv", *DOCUMENT_FORMATS})


#: Formats that are bytes, not text: they need a file to go to.
BINARY_FORMATS = ("parquet",)


def check_text_format(fmt: str) -> str:
    """:func:`check_format`, and a ConfigError for a binary format where text is printed (a sweep's table)."""
    if check_format(fmt) in BINARY_FORMATS:
        raise ConfigError(f"{fmt} is a binary format: write it with harness report --format {fmt} -o FILE")
    return fmt


def check_format(fmt: str) -> str:
    """``fmt`` itself, or a ConfigError listing the formats a report can take (checked before any work)."""
    allowed = formats()
    if fmt not in allowed:
        raise ConfigError(f"unknown report format {fmt!r}; allowed: {', '.join(allowed)}")
    return fmt
