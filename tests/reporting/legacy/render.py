"""``harness.reporting.export.render`` as it was before issue 13 (see the package's docstring)."""

from __future__ import annotations

from harness.errors import ConfigError
from harness.reporting.formats import DOCUMENT_FORMATS, check_format
from tests.reporting.legacy.text import text_columns, timing_footnotes


def render(summary, fmt: str = "simple") -> str:
    if check_format(fmt) in DOCUMENT_FORMATS:
        raise ConfigError(f"{fmt} is a whole report, not a table format; use harness report --format {fmt}")
    if summary.empty:
        return "no runs"
    if fmt == "csv":
        return summary.drop(columns=["cell"]).to_csv(index=False).rstrip("\n")
    notes = timing_footnotes(summary)
    if fmt == "latex":
        from tests.reporting.legacy.latex import escape, render_latex

        return "\n\n".join([render_latex(summary), *(escape(line) for line in notes)])
    from tabulate import tabulate

    columns = text_columns(summary)
    rows = [[text(row) for _, text in columns] for _, row in summary.iterrows()]
    headers = [header for header, _ in columns]
    return "\n".join([tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True), *notes])
