"""A results directory as one self-contained HTML page: tables, figures and the provenance of every run.

Everything is inline (CSS, figures as SVG), so the file opens anywhere with
no network, attaches to an issue or a paper's supplement, and stays the same
forever. The page carries no script at all, and a Content-Security-Policy
that forbids scripts, so a plugin's name or description can never run code in
a reader's browser even if it held markup; every text is escaped on top of
that. Never imports torch.

Speed numbers ending in '!' come from a cell with a run whose timing was
disturbed (load above the cores available, step-time CV above 0.5, threads waiting
for a core: the run's own reasons); hovering one shows why, a note under
the summary lists them, and the provenance table names each run's.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone

from harness.records import label
from harness.reporting.cells import summary_frame
from harness.reporting.frames import runs_frame, timing_reasons
from harness.reporting.text import is_number_text, is_speed_header, text_columns, timing_footnotes, timing_note
from harness.reporting.values import missing
from harness.specs import KINDS

#: Scripts and network are off for the page; styles and figures are inline.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

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

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1180px;
       padding: 0 1rem; color: #1b1b1b; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.meta { color: #555; }
table { border-collapse: collapse; margin: .6rem 0 1.2rem; font-size: 13px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { color: #9a1c1c; } td.disturbed { color: #8a5a00; } p.note { color: #8a5a00; font-size: 13px; }
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


def _summary_section(summary) -> str:
    columns = text_columns(summary)
    rows = [[text(row) for _, text in columns] for _, row in summary.iterrows()]
    classes = ["" if row["n"] else "failed" for _, row in summary.iterrows()]
    notes = [timing_note(row) for _, row in summary.iterrows()]
    titles = [[note if is_speed_header(h) and note else "" for h, _ in columns] for note in notes]
    lines = timing_footnotes(summary)
    note = f"<p class='note' id='timing-notes'>{'<br>'.join(_e(line) for line in lines)}</p>" if lines else ""
    return "<h2>Summary</h2>" + table([h for h, _ in columns], rows, classes, "summary", titles) + note


def _figures_section(figures) -> str:
    from harness.reporting.plots import figure_svg

    if not figures:
        return ""
    parts = ["<h2>Figures</h2>"]
    for title, fig in figures:
        parts.append(f'<figure class="plot">{figure_svg(fig)}<figcaption>{_e(title)}</figcaption></figure>')
    return "".join(parts)


def _descriptions_section(records) -> str:
    """What each model, dataset and optimizer is, in its plugin's own words (escaped)."""
    seen: dict[tuple[str, str], str] = {}
    for record in records:
        for kind, entry in (record.get("descriptions") or {}).items():
            if isinstance(entry, dict) and entry.get("name"):
                seen.setdefault((kind, str(entry["name"])), str(entry.get("description") or ""))
    if not seen:
        return ""
    rows = [[kind, name, text] for (kind, name), text in sorted(seen.items())]
    return "<h2>Workloads</h2>" + table(["kind", "name", "description"], rows, table_id="descriptions")


def _run_cells(record: dict) -> list:
    """Model, dataset and optimizer (their labels, as the tables show them), seed and status of one run."""
    config = record.get("config") or {}
    labels = [label(config, part) for part in KINDS]
    return [*labels, config.get("seed"), record.get("status")]


def _failures_section(records) -> str:
    failed = [r for r in records if r.get("status") not in ("ok", None)]
    if not failed:
        return ""
    parts = ["<h2>Runs that did not finish</h2>"]
    rows = [[*_run_cells(record), record.get("reason")] for record in failed]
    parts.append(table(["model", "dataset", "optimizer", "seed", "status", "reason"], rows, table_id="failures"))
    for record in failed:
        if record.get("traceback"):
            parts.append(
                f"<details><summary>traceback of {_e(record.get('key'))}</summary><pre>{_e(record['traceback'])}</pre>"
                "</details>"
            )
    return "".join(parts)


def _provenance_section(records) -> str:
    rows = []
    for record in sorted(records, key=lambda r: str(r.get("key"))):
        provenance = record.get("provenance") or {}
        commit = provenance.get("git_commit")
        if commit and provenance.get("git_dirty"):
            commit = f"{commit[:12]} (dirty)"
        elif commit:
            commit = commit[:12]
        values = {**provenance, "git_commit": commit}
        timing = "; ".join(timing_reasons(record))
        rows.append([record.get("key"), *_run_cells(record), *(values.get(n) for n, _ in PROVENANCE_FIELDS), timing])
    headers = ["run", "model", "dataset", "optimizer", "seed", "status", *(h for _, h in PROVENANCE_FIELDS)]
    headers.append("timing disturbed")
    plugins: dict[str, str] = {}
    for record in records:
        for name, version in ((record.get("provenance") or {}).get("plugins") or {}).items():
            plugins.setdefault(str(name), str(version))
    plugin_table = table(["plugin", "version"], sorted(plugins.items()), table_id="plugins") if plugins else ""
    return "<h2>Provenance</h2>" + table(headers, rows, table_id="provenance") + plugin_table


def _problems_section(problems) -> str:
    if not problems:
        return ""
    rows = [[str(path), problem] for path, problem in problems]
    return "<h2>Files skipped</h2>" + table(["file", "problem"], rows, table_id="skipped")


def _statistics_section(runs, test: str | None) -> str:
    """Significance against the best of each workload, optimizer wins, performance profile: as the terminal shows."""
    from harness.reporting.stats_tables import stats_parts

    parts = stats_parts(runs, "simple", test=test)
    if not parts:
        return ""
    blocks = ["<h2>Statistics</h2>"]
    for index, (heading, frame) in enumerate(parts):
        rows = [[str(v) for v in row] for row in frame.itertuples(index=False)]
        blocks.append(f"<p>{_e(heading)}</p>" + table(list(frame.columns), rows, table_id=f"stats-{index}"))
    return "".join(blocks)


def build_html(
    records: list[dict], problems=(), title: str = "Benchmark report", sections=(), test: str | None = None
) -> str:
    """The whole page. ``sections`` are extra ``(heading, html)`` blocks (already escaped) placed after the summary;
    ``test`` is the significance test of the statistics (``welch`` by default)."""
    from harness.reporting import plots

    runs = runs_frame(records)
    summary = summary_frame(runs)
    figures = plots.all_figures(records, runs, summary)
    try:
        figure_html = _figures_section(figures)
    finally:
        plots.close(figures)
    devices = sorted({str(d) for d in runs["device"] if not missing(d)})
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta = f"{len(records)} runs · {len(summary)} cells · device: {', '.join(devices) or 'unknown'} · made {generated}"
    extra = "".join(f"<h2>{_e(heading)}</h2>{block}" for heading, block in sections)
    body = "".join(
        [
            f"<h1>{_e(title)}</h1><p class='meta'>{_e(meta)}</p>",
            _summary_section(summary),
            _statistics_section(runs, test),
            extra,
            figure_html,
            _descriptions_section(records),
            _failures_section(records),
            _provenance_section(records),
            _problems_section(problems),
        ]
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>\n"
    )
