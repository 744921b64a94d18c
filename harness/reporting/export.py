"""A results directory in any report format: the summary table, one row per run, or the whole HTML page.

What ``harness report`` and :func:`harness.report` call; every format is
checked before any record is read.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import ConfigError, HarnessError
from harness.reporting.cells import summary_frame
from harness.reporting.formats import BINARY_FORMATS, DOCUMENT_FORMATS, check_format
from harness.reporting.frames import runs_export, runs_frame
from harness.reporting.references import insert_at, latex_with_columns, text_columns_of, with_references
from harness.reporting.stats_tables import stats_tables
from harness.reporting.text import ENERGY_SUMMARY, energy_footnotes, text_columns, timing_footnotes


def render(summary, fmt: str = "simple") -> str:
    """The summary as a table in any tabulate format (``latex``: booktabs, the best in bold), or as CSV with
    raw numbers (mean, std, ci95 apart).

    The metric column reads 'mean ± half-width of the 95% confidence interval'
    (a bare mean for one seed); ``seeds`` is n; ``rank`` orders the cells of a
    workload, shown when some workload has more than one. Speed numbers ending
    in '!' come from a run whose timing was disturbed; a line under the table
    says why (:mod:`harness.reporting.text`). A summary that holds the
    ``reference`` and ``agrees`` columns (:func:`harness.reporting.references.with_references`)
    shows them after ``seeds``.
    """
    if check_format(fmt) in DOCUMENT_FORMATS:
        raise ConfigError(f"{fmt} is a whole report, not a table format; use harness report --format {fmt}")
    if summary.empty:
        return "no runs"
    if fmt == "csv":  # energy columns only where some run measured or explained them
        empty = [c for c in ENERGY_SUMMARY if c in summary and summary[c].isna().all()]
        return summary.drop(columns=["cell", *empty]).to_csv(index=False).rstrip("\n")
    notes = timing_footnotes(summary) + energy_footnotes(summary)
    extra = text_columns_of(summary)  # the reference columns, when some cell has a reference
    if fmt == "latex":
        from harness.reporting.latex import escape, render_latex

        latex = render_latex(summary)
        latex = latex_with_columns(latex, extra) if extra else latex
        return "\n\n".join([latex, *(escape(line) for line in notes)])
    from harness.reporting.simple_table import table

    columns = text_columns(summary)  # each column's texts at once, not row by row
    headers, texts = [header for header, _ in columns], [column.texts(summary) for _, column in columns]
    if extra:
        at = insert_at(headers)
        headers[at:at], texts[at:at] = [name for name, _ in extra], [column for _, column in extra]
    return "\n".join([table(headers, texts, fmt), *notes])


def load_results(root, details: bool = False, use_index: bool = True):
    """``(runs, problems)``: the runs frame of every valid record under ``root`` (each run once), through the
    run index (:mod:`harness.reporting.run_index`), and ``(path, problem)`` for files that are not one.

    None at all is an error, which names the first file that was not a record (the only warning it would get).
    """
    from harness.reporting.run_index import load_runs

    runs, problems = load_runs(root, details=details, use_index=use_index)
    if runs.empty:
        first = f"{problems[0][0]}: {problems[0][1]}" if problems else ""
        why = f" ({len(problems)} file(s) are not valid records; {first})" if problems else ""
        raise HarnessError(f"no run records under {root}{why}")
    return runs, problems


def export(records: list[dict], fmt: str = "simple", problems=(), stats: bool = False, test: str | None = None,
           references=()):  # fmt: skip
    """:func:`export_runs` of a list of records."""
    return export_runs(runs_frame(records), fmt, problems, stats=stats, test=test, references=references)


def shows_references(fmt: str) -> bool:
    """Whether ``fmt`` shows the summary table, which gains ``reference`` and ``agrees`` columns when a cell
    has a reference: every table format and the html page (csv and parquet hold one row per run)."""
    return fmt not in ("csv", "parquet")


def uses_references(fmt: str, stats: bool = False) -> bool:
    """Whether a report in ``fmt`` reads the plugins' references: where it shows the summary table
    (:func:`shows_references`), or with ``stats`` (csv too), whose statistics across workloads normalise a
    workload by a reference that covers it whole."""
    return shows_references(fmt) or (stats and fmt not in BINARY_FORMATS)


def export_runs(runs, fmt: str = "simple", problems=(), stats: bool = False, test: str | None = None, references=()):
    """The runs frame in ``fmt``: a summary table (tabulate formats; ``latex`` with the best in bold; with
    ``stats`` the tables of :func:`stats_tables` below it), one row per run (``csv``, ``parquet`` as bytes),
    or the whole ``html`` page (statistics always included; it needs the frame's detail columns).

    ``references`` (``(kind, spec, Reference)`` entries with their values,
    :mod:`harness.reporting.references`) add the table's ``reference`` and
    ``agrees`` columns where a cell matches one (the html page's too), and
    normalise a workload of the statistics across workloads that one covers
    whole (:func:`harness.reporting.stats_tables.whole_workload_references`)."""
    check_format(fmt)
    if fmt == "html":
        from harness.reporting.html import build_html

        return build_html(runs, problems, test=test, reference_entries=references)
    if stats and fmt in BINARY_FORMATS:
        raise ConfigError(f"--stats adds tables below the report; {fmt} holds one row per run and nothing else")
    below = "\n\n" + stats_tables(runs, fmt, test=test, reference_entries=references) if stats else ""
    if fmt == "csv":  # the statistics follow as '# title' blocks, each parsable with comment='#'
        return runs_export(runs).to_csv(index=False).rstrip("\n") + below
    if fmt == "parquet":
        import io

        buffer = io.BytesIO()
        runs_export(runs).to_parquet(buffer, index=False)
        return buffer.getvalue()
    return render(with_references(summary_frame(runs), runs, references), fmt) + _tuned_below(runs, fmt) + below


def _tuned_below(runs, fmt: str) -> str:
    """For a tuning's final runs: each entry over its studies and seeds, and the spaces searched (else nothing)."""
    from harness.reporting.tuned import tuned_records, tuned_table

    records = tuned_records(runs)
    if not records:
        return ""
    title = "Tuned entries: each optimizer and workload over its studies x seeds (harness tune)"
    return f"\n\n{title}\n\n{tuned_table(records, fmt)}"


def needs_details(fmt: str) -> bool:
    """Whether ``fmt`` shows more than the tables: the html page draws curves and lists tracebacks."""
    return fmt == "html"


def build_report(
    root, fmt: str = "simple", stats: bool = False, test: str | None = None, use_index: bool = True, references=()
) -> tuple[str | bytes, list[tuple[Path, str]]]:
    """:func:`export_runs` of the records under ``root``, and ``(path, problem)`` for the files that are not records."""
    check_format(fmt)
    runs, problems = load_results(root, details=needs_details(fmt), use_index=use_index)
    return export_runs(runs, fmt, problems, stats=stats, test=test, references=references), problems
