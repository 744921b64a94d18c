"""Which published (or computed) results each cell can be read against, and whether it agrees with them.

The reporting layer never loads plugins: :func:`harness.api.report` collects
every spec's :class:`harness.specs.Reference` as :class:`ReferenceEntry`
values (plain data) and hands them here.

A reference applies to a cell when its model, dataset and optimizer (spec
names; one shipped by a model spec implies that model, by a dataset spec that
dataset) are the cell's, its metric (when it names one) is the cell's test
metric, and each of its ``settings`` holds the same value in the cell's config
(:func:`setting` says where a key is looked up). The cell agrees when the 95%
confidence interval of its mean (the one the table prints; a single seed is its
own mean) overlaps ``value ± spread``, or, without a spread, when its mean is
within ``tolerance`` of the value; with neither, or without a finite mean, it is
unknown.

Nothing here runs for a report without references: :func:`with_references`
returns the summary itself, and the plain table never meets a reference column.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from harness.reporting.frames import CELL_SETTINGS
from harness.reporting.text import format_metric
from harness.reporting.values import missing
from harness.specs import Reference

AGREES, DISAGREES, UNKNOWN, NO_RUNS = "agrees", "disagrees", "unknown", "no matching runs"
#: How the summary table's ``agrees`` column reads each verdict.
AGREE_WORDS = {AGREES: "yes", DISAGREES: "no", UNKNOWN: "unknown"}
#: The summary columns a matching reference adds (text, so every format prints them as they read).
REFERENCE_COLUMNS = ("reference", "agrees")
#: Where the parameters of each part of a run sit in its config, in the order a plain key is looked up.
PARAM_PARTS = ("model_params", "dataset_params", "optimizer_params", "schedule_params")
#: What a cell's config is matched on before its settings are read.
SCOPE_COLUMNS = ("model", "dataset", "optimizer", "metric")

_ABSENT = object()


class ReferenceEntry(NamedTuple):
    """A reference and the spec that ships it: ``kind`` ("model" or "dataset") and that spec's name."""

    kind: str
    spec: str
    reference: Reference

    def scope(self) -> tuple[str | None, str | None, str | None, str | None]:
        """(model, dataset, optimizer, metric) the reference is for; None: any."""
        ref = self.reference
        model = ref.model or (self.spec if self.kind == "model" else None)
        dataset = ref.dataset or (self.spec if self.kind == "dataset" else None)
        return model, dataset, ref.optimizer, ref.metric

    @property
    def label(self) -> str:
        """How messages name it: 'dataset digits'."""
        return f"{self.kind} {self.spec}"


def entries_of(entries) -> list[ReferenceEntry]:
    """``(kind, spec, Reference)`` tuples as :class:`ReferenceEntry` values."""
    return [entry if isinstance(entry, ReferenceEntry) else ReferenceEntry(*entry) for entry in entries]


# ---------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------


def setting(config: Mapping, key: str):
    """The value ``key`` names in a cell's config, or a sentinel no value equals.

    A plain key is a config field (``max_steps``), else a parameter of the
    model, dataset, optimizer or schedule, the first of them that has it
    (``lr``, ``hidden``, ``val_fraction``); ``optimizer.lr`` or
    ``optimizer_params.lr`` names one part's. A key the config lacks matches
    nothing (a field added after a record was written, which it omits while it
    holds its default, such as ``strategy``, included).
    """
    value = config.get(key, _ABSENT)
    if value is not _ABSENT and not isinstance(value, Mapping):
        return value
    if "." in key:
        part, _, inner = key.partition(".")
        params = config.get(part if part.endswith("_params") else f"{part}_params")
        return params.get(inner, _ABSENT) if isinstance(params, Mapping) else _ABSENT
    for part in PARAM_PARTS:
        params = config.get(part)
        if isinstance(params, Mapping) and key in params:
            return params[key]
    return _ABSENT


def same(a, b) -> bool:
    """Whether a config value and a reference's setting are the same: 0 and 0.0 are, a list and a tuple of equal
    items are, True and 1 are not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real):
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def cell_matches(runs, entries: Sequence) -> dict[str, list[int]]:
    """Cell id -> the positions in ``entries`` of the references that apply to it, in order; cells without one
    are left out. Only the configs of cells whose model, dataset, optimizer and metric fit are parsed."""
    import numpy as np

    if not entries or runs.empty:
        return {}
    entries = entries_of(entries)
    first = runs.drop_duplicates("cell")
    cells, texts = first["cell"].tolist(), first[CELL_SETTINGS].tolist()
    columns = {name: first[name].to_numpy(dtype=object) for name in SCOPE_COLUMNS}
    configs: dict[int, dict] = {}
    found: dict[str, list[int]] = {}
    for position, entry in enumerate(entries):
        fits = np.ones(len(cells), dtype=bool)
        for name, wanted in zip(SCOPE_COLUMNS, entry.scope(), strict=True):
            if wanted is not None:
                fits &= columns[name] == wanted
        for key, value in entry.reference.settings.items():
            if fits.any():
                fits &= may_hold(first, key, value)
        for row in np.flatnonzero(fits).tolist():
            if row not in configs:
                configs[row] = json.loads(texts[row])
            settings = entry.reference.settings.items()
            if all(same(setting(configs[row], key), value) for key, value in settings):
                found.setdefault(cells[row], []).append(position)
    return found


def may_hold(first, key: str, value):
    """Which rows of a runs frame may hold ``value`` under ``key`` (:func:`setting`), read from its flattened
    config columns: a quick test that never drops a row that holds it, so that only the rows it keeps have their
    whole config parsed and compared."""
    import numpy as np

    everything = np.ones(len(first), dtype=bool)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return everything  # lists, None and flags: the whole config decides
    part, _, inner = key.partition(".")
    if inner:
        names = [f"{part if part.endswith('_params') else part + '_params'}.{inner}"]
    else:
        names = [key, *(f"{params}.{key}" for params in PARAM_PARTS)]
    holds = np.zeros(len(first), dtype=bool)
    for name in (name for name in names if name in first.columns):
        try:
            holds |= first[name].eq(value).fillna(False).to_numpy(dtype=bool)
        except Exception:  # noqa: BLE001 - a column typed so that it cannot be compared: the config decides
            return everything
    return holds


def needed(runs, entries: Sequence) -> set[int]:
    """Positions in ``entries`` of the references some cell matches: the computed ones a report must compute."""
    return {position for positions in cell_matches(runs, entries).values() for position in positions}


# ---------------------------------------------------------------------------
# Agreement
# ---------------------------------------------------------------------------


def agreement(reference: Reference, mean, ci95, n) -> str:
    """:data:`AGREES`, :data:`DISAGREES` or :data:`UNKNOWN` for a cell's mean and CI half-width over ``n`` seeds."""
    if reference.value is None or missing(mean) or not math.isfinite(mean) or missing(n) or not n:
        return UNKNOWN
    half = ci95 if not missing(ci95) and math.isfinite(ci95) else 0.0  # one seed: its mean, as the table prints it
    slack = 1e-12 * max(1.0, abs(reference.value))  # 0.9 is within 0.025 of 0.925, rounding aside
    if reference.spread is not None:
        low, high = reference.value - reference.spread, reference.value + reference.spread
        return AGREES if mean - half <= high + slack and mean + half >= low - slack else DISAGREES
    if reference.tolerance is not None:
        return AGREES if abs(mean - reference.value) <= reference.tolerance + slack else DISAGREES
    return UNKNOWN


def short_source(source: str, limit: int = 40) -> str:
    """A source as a table cell names it: up to its first comma, semicolon or parenthesis."""
    head = re.split(r"[,;(]", source, maxsplit=1)[0].strip()
    return head if len(head) <= limit else head[: limit - 3] + "..."


def value_text(reference: Reference, mode: str | None) -> str:
    """'0.964 ± 0.004' (value ± spread), '0.94 (tol 0.025)', or the bare value; '' before it is computed."""
    if reference.value is None:
        return ""
    if reference.spread is not None:
        return format_metric(reference.value, reference.spread, mode)
    text = format_metric(reference.value, None, mode)
    return f"{text} (tol {reference.tolerance:g})" if reference.tolerance is not None else text


def reference_text(reference: Reference, mode: str | None) -> str:
    """The summary's ``reference`` cell: '0.964 ± 0.004 (scikit-learn 1.9.1 MLPClassifier)'."""
    return f"{value_text(reference, mode)} ({short_source(reference.source)})"


# ---------------------------------------------------------------------------
# The summary table's columns
# ---------------------------------------------------------------------------


def reference_columns(summary, runs, entries) -> dict[str, list[str]] | None:
    """The ``reference`` and ``agrees`` texts of every summary row ('' where none applies; '; ' between several),
    or None when no cell has a reference: then the table stays as it was. Public so that every page can show them
    (the HTML report included): ``summary`` is :func:`harness.reporting.cells.summary_frame` of ``runs``."""
    entries = [entry for entry in entries_of(entries) if entry.reference.value is not None]
    found = cell_matches(runs, entries)
    if not found:
        return None
    texts = {name: [""] * len(summary) for name in REFERENCE_COLUMNS}
    rows = summary[["cell", "metric_mode", "mean", "ci95", "n"]].itertuples(index=False)
    for position, (cell, mode, mean, ci95, n) in enumerate(rows):
        references = [entries[i].reference for i in found.get(cell, ())]
        texts["reference"][position] = "; ".join(reference_text(r, mode) for r in references)
        texts["agrees"][position] = "; ".join(AGREE_WORDS[agreement(r, mean, ci95, n)] for r in references)
    return texts


def with_references(summary, runs, entries):
    """``summary`` with :data:`REFERENCE_COLUMNS` at the end when some cell has a reference, else itself."""
    if not entries or summary.empty:
        return summary
    columns = reference_columns(summary, runs, entries)
    return summary if columns is None else summary.assign(**columns)


def text_columns_of(summary) -> list[tuple[str, list[str]]]:
    """(header, texts) of the reference columns a summary holds; none for a summary without them."""
    return [(name, summary[name].tolist()) for name in REFERENCE_COLUMNS if name in summary]


def insert_at(headers: list[str]) -> int:
    """Where the reference columns go among a table's ``headers``: after ``seeds``, beside the metric they judge."""
    return headers.index("seeds") + 1 if "seeds" in headers else len(headers)


def latex_with_columns(latex: str, columns: list[tuple[str, list[str]]]) -> str:
    """A :func:`harness.reporting.latex.render_latex` tabular with ``columns`` inserted after its ``seeds`` column.

    Its cells are escaped and joined by ' & ', one row per line ending in
    ' \\\\', with a ``\\midrule`` line between datasets.
    """
    from harness.reporting.latex import escape

    lines = latex.split("\n")
    begin = next(i for i, line in enumerate(lines) if line.startswith(r"\begin{tabular}{"))
    header = lines.index(r"\toprule", begin) + 1
    cells = lines[header].removesuffix(r" \\").split(" & ")
    at = insert_at(cells)
    cells[at:at] = [escape(name) for name, _ in columns]
    lines[header] = " & ".join(cells) + r" \\"
    aligns = lines[begin][len(r"\begin{tabular}{") : -1]
    lines[begin] = r"\begin{tabular}{" + aligns[:at] + "l" * len(columns) + aligns[at:] + "}"
    end = lines.index(r"\bottomrule", header)
    rows = [i for i in range(header + 2, end) if lines[i] != r"\midrule"]
    for row, line in zip(range(len(rows)), (lines[i] for i in rows), strict=True):
        cells = line.removesuffix(r" \\").split(" & ")
        cells[at:at] = [escape(texts[row]) for _, texts in columns]
        lines[rows[row]] = " & ".join(cells) + r" \\"
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# The listing: every reference with its status (harness report --references)
# ---------------------------------------------------------------------------


def _settings_text(settings: Mapping) -> str:
    return ", ".join(
        f"{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in settings.items()
    )


def overall_status(statuses: list[str]) -> str:
    """One status for a reference over the cells it matched: 'agrees', 'agrees (3 cells)', 'agrees 2, disagrees 1'."""
    if not statuses:
        return NO_RUNS
    counts = Counter(statuses)
    if len(counts) == 1:
        return statuses[0] if len(statuses) == 1 else f"{statuses[0]} ({len(statuses)} cells)"
    return ", ".join(f"{status} {counts[status]}" for status in (AGREES, DISAGREES, UNKNOWN) if status in counts)


@dataclass
class ReferenceListing:
    """Every reference of the loaded plugins, with its status against a results folder's runs.

    ``rows`` holds one dict per reference (see :func:`listing`); ``problems``
    says which computed references could not be computed, and why.
    """

    rows: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def render(self, fmt: str = "simple") -> str:
        """A table in any tabulate format, or ``csv`` with every field in full; a text table lists each
        reference's settings and protocol below it, numbered as its ``#`` column."""
        return render_listing(self.rows, fmt)


#: The listing's columns; a text table shows :data:`LISTING_TABLE` and the rest below it.
LISTING_COLUMNS = ("#", "spec", "model", "dataset", "optimizer", "metric", "reference", "runs", "status", "source",
                   "settings", "protocol")  # fmt: skip
LISTING_TABLE = LISTING_COLUMNS[:-2]


def listing(summary, runs, entries, failures: Mapping[int, str] | None = None) -> list[dict]:
    """One row per entry, in order: its scope, value, the matching cells' means (``runs``) and ``status``.

    ``summary`` and ``runs`` are the report's (None: no runs); ``failures``
    maps an entry's position to why its computed value could not be had.
    """
    entries, failures = entries_of(entries), failures or {}
    found = cell_matches(runs, entries) if runs is not None else {}
    by_entry: dict[int, list[str]] = {}
    for cell, positions in found.items():
        for position in positions:
            by_entry.setdefault(position, []).append(cell)
    rows_of = {row.cell: row for row in summary.itertuples(index=False)} if summary is not None else {}
    rows = []
    for position, entry in enumerate(entries):
        model, dataset, optimizer, metric = entry.scope()
        ref = entry.reference
        cells = [rows_of[cell] for cell in by_entry.get(position, ()) if cell in rows_of]
        statuses = [agreement(ref, c.mean, c.ci95, c.n) for c in cells]
        if position in failures:
            status, value = f"failed: {failures[position]}", "could not be computed"
        else:
            status = overall_status(statuses)
            value = value_text(ref, cells[0].metric_mode if cells else None) or "computed when a run matches"
        seeds = [f"{format_metric(c.mean, c.ci95, c.metric_mode) or '-'} ({c.n} seeds)" for c in cells]
        rows.append({"#": str(position + 1), "spec": entry.label, "model": model or "any", "dataset": dataset or "any",
                     "optimizer": optimizer or "any", "metric": metric or "main", "reference": value,
                     "runs": "; ".join(seeds), "status": status, "source": ref.source,
                     "settings": _settings_text(ref.settings), "protocol": ref.protocol})  # fmt: skip
    return rows


def render_listing(rows: list[dict], fmt: str = "simple") -> str:
    """The rows of :func:`listing` as ``fmt``: csv in full, any other format as a table and notes below it."""
    if not rows:
        return "no references: no loaded plugin ships one"
    if fmt == "csv":
        import csv
        import io

        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=LISTING_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    from harness.reporting.simple_table import table

    shown = [dict(row, source=short_source(row["source"])) for row in rows]
    text = table(list(LISTING_TABLE), [[row[name] for row in shown] for name in LISTING_TABLE], fmt)
    notes = []
    for row in rows:
        parts = [f"source: {row['source']}"]
        parts += [f"{name}: {row[name]}" for name in ("settings", "protocol") if row[name]]
        notes.append(f"#{row['#']} {row['spec']}: " + "; ".join(parts))
    return "\n\n".join([text, "\n".join(notes)])
