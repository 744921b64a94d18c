"""A results directory as one self-contained HTML page: tables, figures and the provenance of every run.

Everything is inline (CSS, figures as SVG), so the file opens anywhere with
no network, attaches to an issue or a paper's supplement, and stays the same
forever. The page carries no script at all, and a Content-Security-Policy
that forbids scripts, so a plugin's name or description can never run code in
a reader's browser even if it held markup; every text is escaped on top of
that. Never imports torch.

The page is made from the runs frame alone (:func:`harness.reporting.frames.runs_frame`,
its ``detail.*`` columns included), so it needs no record in memory. It stays
readable, and a few MB at most, at 100,000 runs: a table longer than
:data:`MAX_ROWS` (:data:`MAX_CELLS` for the summary) shows its first rows in a
stated order, or the best-ranked cells, and says how many it left out and
which command lists them all; past :data:`MAX_ROWS` failed runs the failures
are first counted by status and reason, and past :data:`MAX_ROWS` runs the
provenance first counts the distinct machines and versions. Tracebacks are
shown once per distinct text, with how many runs raised it.

Speed numbers ending in '!' come from a cell with a run whose timing was
disturbed (load above the cores available, step-time CV above 0.5, threads waiting
for a core: the run's own reasons); hovering one shows why, a note under
the summary lists them, and the provenance table names each run's.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from datetime import datetime, timezone

from harness.reporting.cells import summary_frame
from harness.reporting.plots import best_ranked
from harness.reporting.references import REFERENCE_COLUMNS, insert_at, with_references
from harness.reporting.text import (
    energy_footnotes,
    is_number_text,
    is_speed_header,
    text_columns,
    timing_footnotes,
    timing_note,
)
from harness.reporting.values import missing

#: Scripts and network are off for the page; styles and figures are inline.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

#: Rows a per-run or grouped table shows at most; the page says how many it left out and where they all are.
MAX_ROWS = 500

#: Rows of the summary (one per cell) at most: past it, the best-ranked cells of every workload.
MAX_CELLS = 1000

#: Distinct tracebacks shown at most, the most frequent first.
MAX_TRACEBACKS = 20

#: Where every run is when a table shows only some.
ALL_RUNS = "every run is in `harness report <results dir> --format csv`"

#: (column of the runs frame, header) of the provenance tables; ``provenance_<name>`` wins when present.
PROVENANCE_FIELDS = (
    ("device", "device"),
    ("precision", "precision"),
    ("python", "python"),
    ("torch", "torch"),
    ("lightning", "lightning"),
    ("harness", "harness"),
    ("git_commit", "commit"),
    ("hostname", "host"),
    ("started_at", "started"),
)

#: (column, header) naming a run in the failure and provenance tables.
RUN_FIELDS = (
    ("model_label", "model"),
    ("dataset_label", "dataset"),
    ("optimizer_label", "optimizer"),
    ("seed", "seed"),
    ("status", "status"),
)

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1180px;
       padding: 0 1rem; color: #1b1b1b; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.meta { color: #555; }
table { border-collapse: collapse; margin: .6rem 0 1.2rem; font-size: 13px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { color: #9a1c1c; } td.disturbed { color: #8a5a00; } p.note { color: #8a5a00; font-size: 13px; }
p.cap { color: #555; font-size: 13px; font-style: italic; }
figure { margin: 1rem 0 2rem; } figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 13px; }
pre { background: #f7f7f7; padding: .6rem; overflow-x: auto; font-size: 12px; }
.scroll { overflow-x: auto; }
"""


def _e(value) -> str:
    return "" if missing(value) else html.escape(str(value), quote=True)


def _td(text, title: str = "") -> str:
    """One escaped cell: right-aligned when it reads as a number; a title marks it and says why on hover."""
    classes = " ".join(name for name, on in (("num", is_number_text(str(text))), ("disturbed", title)) if on)
    attributes = (f' class="{classes}"' if classes else "") + (f' title="{_e(title)}"' if title else "")
    return f"<td{attributes}>{_e(text)}</td>"


def table(headers, rows, row_classes=None, table_id: str | None = None, titles=None) -> str:
    """An escaped HTML table; cells that read as numbers are right-aligned; ``titles`` (per row, per cell) hover."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for index, row in enumerate(rows):
        css = f' class="{_e(row_classes[index])}"' if row_classes and row_classes[index] else ""
        hovers = titles[index] if titles else [""] * len(row)
        cells = "".join(_td(c, title) for c, title in zip(row, hovers, strict=True))
        body.append(f"<tr{css}>{cells}</tr>")
    ident = f' id="{_e(table_id)}"' if table_id else ""
    rows_html = "".join(body)
    return f'<div class="scroll"><table{ident}><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table></div>'


def cap_note(shown: int, total: int, noun: str, order: str, where: str = ALL_RUNS) -> str:
    """'showing 500 of 4,873 failed runs (by run key); every run is in ...' under a cut table; '' when it is whole."""
    if shown >= total:
        return ""
    return f"<p class='cap'>{_e(f'showing {shown:,} of {total:,} {noun} ({order}); {where}')}</p>"


def _column(runs, name: str):
    """A column of the runs frame, or gaps where no run had it."""
    import pandas as pd

    return runs[name] if name in runs.columns else pd.Series(None, index=runs.index, dtype=object)


def _provenance_column(runs, name: str):
    """The provenance's ``name``: ``provenance_<name>`` where it clashed with a config column, else ``name``."""
    return _column(runs, f"provenance_{name}" if f"provenance_{name}" in runs.columns else name)


def _whole(value):
    """A seed as '3', never '3.0' (a column with a gap holds floats)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _commit_texts(runs):
    """Each run's commit, 12 characters, '(dirty)' when the tree had changes."""
    import pandas as pd

    pairs = zip(_column(runs, "git_commit"), _column(runs, "git_dirty"), strict=True)
    texts = [
        (commit[:12] + (" (dirty)" if not missing(dirty) and dirty else ""))
        if isinstance(commit, str) and commit
        else None
        for commit, dirty in pairs
    ]
    return pd.Series(texts, index=runs.index, dtype=object)


def _summary_section(summary) -> str:
    """The summary table; a summary with the ``reference`` and ``agrees`` columns
    (:func:`harness.reporting.references.with_references`) shows them after ``seeds``, as the text table does."""
    columns = text_columns(summary)
    shown = best_ranked(summary, MAX_CELLS)
    records = [row for _, row in shown.iterrows()]
    headers = [h for h, _ in columns]
    rows = [[text(row) for _, text in columns] for row in records]
    extra = [name for name in REFERENCE_COLUMNS if name in summary]
    if extra:
        at = insert_at(headers)
        headers[at:at] = extra
        for row, record in zip(rows, records, strict=True):
            row[at:at] = [record[name] for name in extra]
    classes = ["" if row["n"] else "failed" for row in records]
    notes = [timing_note(row) for row in records]
    titles = [[note if is_speed_header(h) and note else "" for h in headers] for note in notes]
    lines = timing_footnotes(summary) + energy_footnotes(summary)
    note = f"<p class='note' id='timing-notes'>{'<br>'.join(_e(line) for line in lines)}</p>" if lines else ""
    order = "the best-ranked: rank 1 of every workload first, then rank 2 and so on; cells without an ok run last"
    cut = cap_note(len(shown), len(summary), "cells", order, "every cell is in `harness report <results dir>`")
    return "<h2>Summary</h2>" + cut + table(headers, rows, classes, "summary", titles) + note


def _figures_section(figures) -> str:
    from harness.reporting.plots import figure_note, figure_svg

    if not figures:
        return ""
    parts = ["<h2>Figures</h2>"]
    for title, fig in figures:
        note = figure_note(fig)
        caption = _e(title) + (f"<br>{_e(note)}" if note else "")
        parts.append(f'<figure class="plot">{figure_svg(fig)}<figcaption>{caption}</figcaption></figure>')
    return "".join(parts)


def _descriptions_section(runs) -> str:
    """What each model, dataset and optimizer is, in its plugin's own words (escaped)."""
    seen: dict[tuple[str, str], str] = {}
    for text in _column(runs, "detail.descriptions").dropna().unique():  # one JSON per distinct workload
        entries = json.loads(text)
        for kind, entry in entries.items() if isinstance(entries, dict) else ():
            if isinstance(entry, dict) and entry.get("name"):
                seen.setdefault((kind, str(entry["name"])), str(entry.get("description") or ""))
    if not seen:
        return ""
    rows = [[kind, name, text] for (kind, name), text in sorted(seen.items())][:MAX_ROWS]
    cut = cap_note(len(rows), len(seen), "models, datasets and optimizers", "by kind and name")
    return "<h2>Workloads</h2>" + cut + table(["kind", "name", "description"], rows, table_id="descriptions")


def _run_rows(frame, fields) -> list[list]:
    """Table rows of ``frame`` (already cut): one text per (column, header) of ``fields``."""
    columns = [_column(frame, name) for name, _ in fields]
    return [[_whole(value) for value in row] for row in zip(*columns, strict=True)] if columns else []


def _failure_groups(failed) -> str:
    """Failed runs counted by status and reason, the most frequent first (shown when the runs themselves are cut)."""
    import pandas as pd

    pairs = pd.DataFrame({"status": failed["status"], "reason": _column(failed, "reason").astype(object).fillna("")})
    counts = pairs.groupby(["status", "reason"], sort=False).size().sort_values(ascending=False, kind="stable")
    rows = [[status, reason, f"{count:,}"] for (status, reason), count in counts.iloc[:MAX_ROWS].items()]
    cut = cap_note(len(rows), len(counts), "distinct statuses and reasons", "the most frequent first")
    return cut + table(["status", "reason", "runs"], rows, table_id="failure-groups")


def _tracebacks(failed) -> str:
    """Each distinct traceback once, with the runs that raised it, the most frequent first."""
    raised = failed[_column(failed, "detail.traceback").notna()]
    if raised.empty:
        return ""
    groups = raised.groupby("detail.traceback", sort=False)["key"].agg(["size", "first"])
    groups = groups.sort_values("size", ascending=False, kind="stable")
    parts = []
    for text, (count, key) in groups.iloc[:MAX_TRACEBACKS].iterrows():
        who = _e(key) if count == 1 else f"{_e(key)} and {count - 1:,} other runs"
        parts.append(f"<details><summary>traceback of {who}</summary><pre>{_e(text)}</pre></details>")
    where = "each run's own is in its record, runs/<key>.json"
    cut = cap_note(len(parts), len(groups), "distinct tracebacks", "the most frequent first", where)
    return cut + "".join(parts)


def _failures_section(runs) -> str:
    status = runs["status"]
    failed = runs[status.notna() & (status != "ok")]
    if failed.empty:
        return ""
    parts = ["<h2>Runs that did not finish</h2>"]
    if len(failed) > MAX_ROWS:
        parts.append(_failure_groups(failed))
    shown = failed.iloc[failed["key"].astype(object).fillna("").astype(str).argsort(kind="stable")[:MAX_ROWS]]
    parts.append(cap_note(len(shown), len(failed), "runs that did not finish", "by run key"))
    fields = (*RUN_FIELDS, ("reason", "reason"))
    parts.append(table([h for _, h in fields], _run_rows(shown, fields), table_id="failures"))
    parts.append(_tracebacks(failed))
    return "".join(parts)


def _provenance_frame(runs):
    """The runs' provenance as text columns named by the headers, and ``timing disturbed`` (the run's reasons)."""
    import pandas as pd

    columns = {h: _provenance_column(runs, name) for name, h in PROVENANCE_FIELDS if name != "git_commit"}
    columns["commit"] = _commit_texts(runs)
    frame = pd.DataFrame({h: columns[h] for _, h in PROVENANCE_FIELDS}, index=runs.index)
    frame["timing disturbed"] = _column(runs, "timing_notes")
    return frame


def _environments(runs, provenance) -> str:
    """Distinct machines and versions, with how many runs each ran and when (shown when the runs are cut)."""
    headers = [h for _, h in PROVENANCE_FIELDS if h != "started"]
    texts = provenance[headers].astype(object).where(provenance[headers].notna(), "")
    texts = texts.assign(
        started=provenance["started"], disturbed=_column(runs, "timing_disturbed").fillna(False).astype(bool)
    )
    groups = texts.groupby(headers, sort=False, dropna=False)
    counts = groups.agg(
        runs=("started", "size"), first=("started", "min"), last=("started", "max"), disturbed=("disturbed", "sum")
    )
    counts = counts.sort_values("runs", ascending=False, kind="stable")
    rows = [
        [*key, f"{r.runs:,}", r.first, r.last, f"{int(r.disturbed):,}"] for key, r in counts.iloc[:MAX_ROWS].iterrows()
    ]
    cut = cap_note(len(rows), len(counts), "distinct machines and versions", "the most runs first")
    heads = [*headers, "runs", "first started", "last started", "timing disturbed (runs)"]
    return "<p>Machines and versions, with the runs each ran:</p>" + cut + table(heads, rows, table_id="environments")


def _plugins(runs) -> str:
    """Every plugin version any run had, with how many runs had it."""
    versions: Counter = Counter()
    for text, count in _column(runs, "detail.plugins").value_counts(sort=False).items():
        plugins = json.loads(text)
        for name, version in plugins.items() if isinstance(plugins, dict) else ():
            versions[(str(name), str(version))] += int(count)
    if not versions:
        return ""
    rows = [[name, version, f"{count:,}"] for (name, version), count in sorted(versions.items())]
    cut = cap_note(min(len(rows), MAX_ROWS), len(rows), "plugin versions", "by name")
    return cut + table(["plugin", "version", "runs"], rows[:MAX_ROWS], table_id="plugins")


def _provenance_section(runs) -> str:
    provenance = _provenance_frame(runs)
    parts = ["<h2>Provenance</h2>"]
    if len(runs) > MAX_ROWS:
        parts.append(_environments(runs, provenance))
    order = runs["key"].astype(object).fillna("").astype(str).argsort(kind="stable")[:MAX_ROWS]
    shown, details = runs.iloc[order], provenance.iloc[order]
    headers = ["run", *(h for _, h in RUN_FIELDS), *details.columns]
    rows = [
        [key, *cells, *more]
        for key, cells, more in zip(
            shown["key"], _run_rows(shown, RUN_FIELDS), details.itertuples(index=False), strict=True
        )
    ]
    parts.append(cap_note(len(rows), len(runs), "runs", "by run key"))
    parts.append(table(headers, rows, table_id="provenance"))
    parts.append(_plugins(runs))
    return "".join(parts)


def _problems_section(problems) -> str:
    problems = list(problems)
    if not problems:
        return ""
    rows = [[str(path), problem] for path, problem in problems[:MAX_ROWS]]
    where = "`harness report <results dir>` names them all"
    cut = cap_note(len(rows), len(problems), "files that are not records", "in the order read", where)
    return "<h2>Files skipped</h2>" + cut + table(["file", "problem"], rows, table_id="skipped")


def _statistics_section(runs, test: str | None, across=None) -> str:
    """Significance against the best of each workload, optimizer wins, performance profile and the statistics
    across workloads (``across``, :func:`harness.reporting.stats_tables.across_frame`): as the terminal shows."""
    from harness.reporting.stats_tables import stats_parts

    parts = stats_parts(runs, "simple", test=test, across=across)
    if not parts:
        return ""
    blocks = ["<h2>Statistics</h2>"]
    for index, (heading, frame) in enumerate(parts):
        if frame is None:  # a message, no table
            blocks.append(f"<p>{_e(heading)}</p>")
            continue
        shown = best_ranked(frame, MAX_ROWS)
        rows = [[str(v) for v in row] for row in shown.itertuples(index=False)]
        order = "the best ranks first" if "rank" in frame.columns else "in the table's order"
        cut = cap_note(len(rows), len(frame), "rows", order, "every row is in `harness report <results dir> --stats`")
        blocks.append(f"<p>{_e(heading)}</p>" + cut + table(list(frame.columns), rows, table_id=f"stats-{index}"))
    return "".join(blocks)


def build_html(
    runs,
    problems=(),
    title: str = "Benchmark report",
    sections=(),
    test: str | None = None,
    references=None,
    reference_entries=(),
) -> str:
    """The whole page of a runs frame (:func:`harness.reporting.frames.runs_frame`, details included).

    ``problems`` are the ``(path, problem)`` of files that are not records; ``sections`` are extra
    ``(heading, html)`` blocks (already escaped) placed after the statistics; ``test`` is the
    significance test of the statistics (``welch`` by default); ``references`` maps workloads to the
    values the statistics across workloads normalise by (:func:`harness.reporting.stats_tables.across_frame`).
    ``reference_entries`` are the plugins' references (:mod:`harness.reporting.references`, with their
    values): the summary gains ``reference`` and ``agrees`` columns where a cell matches one, and a
    workload one covers whole is normalised by it.
    """
    from harness.reporting import plots
    from harness.reporting.stats_tables import across_frame

    summary = summary_frame(runs)
    across = across_frame(runs, references, reference_entries=reference_entries)  # once, for tables and figure
    figures = plots.all_figures(runs, summary, across)
    try:
        figure_html = _figures_section(figures)
    finally:
        plots.close(figures)
    devices = sorted(str(d) for d in _column(runs, "device").dropna().unique())
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta = f"{len(runs):,} runs · {len(summary):,} cells · device: {', '.join(devices) or 'unknown'} · made {generated}"
    extra = "".join(f"<h2>{_e(heading)}</h2>{block}" for heading, block in sections)
    body = "".join(
        [
            f"<h1>{_e(title)}</h1><p class='meta'>{_e(meta)}</p>",
            _summary_section(with_references(summary, runs, reference_entries)),
            _statistics_section(runs, test, across),
            extra,
            figure_html,
            _descriptions_section(runs),
            _failures_section(runs),
            _provenance_section(runs),
            _problems_section(problems),
        ]
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>\n"
    )
