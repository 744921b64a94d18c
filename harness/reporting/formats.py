"""The formats a report can take, checked before any work: tabulate's tables, ``csv``, ``parquet`` and ``html``.

tabulate's ``unsafe*`` formats (``unsafehtml``) write every text unescaped, so a
plugin's name could put markup into a page: they are refused, not offered.
"""

from __future__ import annotations

from harness.errors import ConfigError

#: Formats made from the records rather than the summary table (see :func:`export`); ``csv`` is both.
DOCUMENT_FORMATS = ("html", "parquet")

#: The prefix of tabulate's formats that write text unescaped.
UNSAFE_PREFIX = "unsafe"


def formats() -> list[str]:
    """Every format :func:`export` accepts: tabulate's safe tables, ``csv``, ``parquet`` and the ``html`` page."""
    from tabulate import tabulate_formats

    safe = {name for name in tabulate_formats if not name.startswith(UNSAFE_PREFIX)}
    return sorted(safe | {"csv", *DOCUMENT_FORMATS})


#: Formats that are bytes, not text: they need a file to go to.
BINARY_FORMATS = ("parquet",)


def check_text_format(fmt: str) -> str:
    """:func:`check_format`, and a ConfigError for a binary format where text is printed (a sweep's table)."""
    if check_format(fmt) in BINARY_FORMATS:
        raise ConfigError(f"{fmt} is a binary format: write it with harness report --format {fmt} -o FILE")
    return fmt


def refuse_unsafe(fmt: str) -> None:
    """A ConfigError for tabulate's unescaped formats, naming the safe one to use instead."""
    from tabulate import tabulate_formats

    if fmt in tabulate_formats and fmt.startswith(UNSAFE_PREFIX):
        safe = fmt[len(UNSAFE_PREFIX) :]
        instead = f"use {safe}" if safe in formats() else f"allowed: {', '.join(formats())}"
        raise ConfigError(f"{fmt} writes text unescaped (a plugin's name could inject markup); {instead}")


def check_format(fmt: str) -> str:
    """``fmt`` itself, or a ConfigError listing the formats a report can take (checked before any work)."""
    refuse_unsafe(fmt)
    allowed = formats()
    if fmt not in allowed:
        raise ConfigError(f"unknown report format {fmt!r}; allowed: {', '.join(allowed)}")
    return fmt
