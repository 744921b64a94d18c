"""Numbers and cells as table text: '0.953 ± 0.004', throughput, memory kinds, and readable names for cells.

One place decides how a number reads, so the terminal table, LaTeX, HTML and
``harness compare`` all print it the same way.

Speed columns (samples/s, tokens/s, step ms, train s, seconds to target) of a
cell with a run whose timing was disturbed end in :data:`TIMING_MARK` ('!'), and
:func:`timing_footnotes` says below the table which runs and why: the run's own
reasons, such as a load average above the cores available, a step-time
coefficient of variation above 0.5, or threads that waited for a core over a
quarter of the time they were ready to run (see :mod:`harness.reporting.frames`).
"""

from __future__ import annotations

import itertools
import json
import math
import re

from harness.records import canonical
from harness.reporting.values import missing

#: How a table names each kind of peak-memory number (see harness.train.measure).
MEMORY_KINDS = {"cpu_rss_growth": "CPU RSS growth", "cuda_max_allocated": "CUDA max allocated"}


REASON_WIDTH = 60

#: Ends the speed numbers of a cell whose timing was disturbed; the footnote under the table says why.
TIMING_MARK = "!"

#: Footnote lines about disturbed timing before they become one summary line.
MAX_TIMING_LINES = 5


def _flatten(settings: dict) -> dict:
    """``{"optimizer_params": {"lr": 0.1}}`` -> ``{"optimizer_params.lr": 0.1}``, for naming differences."""
    flat = {}
    for name, value in settings.items():
        if isinstance(value, dict):
            flat.update({f"{name}.{key}": inner for key, inner in value.items()})
        else:
            flat[name] = value
    return flat


def _show(value) -> str:
    """A setting's value as a difference names it: text as it is, anything else as JSON."""
    if isinstance(value, str):
        return value
    kind = type(value)
    if kind is int or (kind is float and math.isfinite(value)):
        return kind.__repr__(value)  # what json.dumps writes for them, without its encoder
    return json.dumps(value, default=str)


def differences(settings: list[dict]) -> list[str]:
    """For cells that show the same labels: the settings that tell each apart, ``max_epochs=10``."""
    return grouped_differences(settings, [0] * len(settings))


#: Type marks for :func:`_comparable`'s stand-ins (lists are JSON-like: their repr is unique to their JSON).
_MARKS = {str: "s", int: "i", float: "f", bool: "b", list: "l"}


def _comparable(values: list) -> list:
    """Stand-ins for ``values``, hashable: two equal exactly where the values' JSON texts (``canonical``) are."""
    kinds = set(map(type, values)) - {str, type(None)}
    if not kinds or kinds == {int} or kinds == {bool}:
        return values  # strings, None and one kind of int or bool: equal as values is equal as text
    if kinds <= _MARKS.keys():  # the type and repr tell them apart as JSON does: 1, 1.0, True; -0.0; every NaN
        marked = [v if v is None else _MARKS[type(v)] + (v if type(v) is str else repr(v)) for v in values]
        if list not in kinds or not any(m[0] == "l" and "{" in m for m in marked if m is not None):
            return marked  # (a dict inside a list: its keys' order would count, so JSON decides)
    return [canonical({"v": v}) for v in values]


def _flat_columns(settings: list[dict]) -> dict[str, list] | None:
    """:func:`_flatten` of every dict, as one list per flattened name (None where a dict lacks it; a name no dict
    gives a value other than None is left out: it never differs). None when two names could collide (a key
    ``"a.b"`` beside ``"a": {"b": ...}``), which only the dicts one by one settle."""
    keys = list(dict.fromkeys(itertools.chain.from_iterable(settings)))
    if any("." in key for key in keys) or not all(type(s) is dict for s in settings):
        return None
    columns: dict[str, list] = {}
    for key in keys:
        values = list(map(dict.get, settings, itertools.repeat(key)))
        kinds = set(map(type, values))
        if not any(issubclass(kind, dict) for kind in kinds):
            if kinds != {type(None)}:
                columns[key] = values
            continue
        scalars = [None if isinstance(v, dict) else v for v in values]
        if set(map(type, scalars)) != {type(None)}:
            columns[key] = scalars
        nested = [v if isinstance(v, dict) else {} for v in values]
        for inner in dict.fromkeys(itertools.chain.from_iterable(nested)):
            columns[f"{key}.{inner}"] = list(map(dict.get, nested, itertools.repeat(inner)))
    return columns


def _alike(values: list) -> bool:
    """Whether every value has the same JSON text, where that is quick to tell (False when unsure)."""
    first = values[0]
    kind = type(first)
    if kind not in (str, int, bool, type(None)) and not (kind is float and first != 0 and first == first):
        return False
    return values.count(first) == len(values) and len(set(map(type, values))) == 1


def grouped_differences(settings: list[dict], groups) -> list[str]:
    """:func:`differences` within each group of ``settings`` at once (``groups``: a group number per dict)."""
    import numpy as np
    import pandas as pd

    if not settings:
        return []
    columns = _flat_columns(settings)
    if columns is None:
        flat = [_flatten(s) for s in settings]
        columns = {name: [f.get(name) for f in flat] for name in {name for f in flat for name in f}}
    codes = np.asarray(groups, dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1]])
    group_of = np.searchsorted(np.unique(codes), codes)  # the group's place among starts
    shown: list[list[str]] = [[] for _ in settings]
    for name in sorted(columns):
        values = columns[name]
        if _alike(values):
            continue
        keys, _ = pd.factorize(pd.Series(_comparable(values), dtype=object))
        ordered = keys[order]
        differs = np.minimum.reduceat(ordered, starts) != np.maximum.reduceat(ordered, starts)
        for position in np.flatnonzero(differs[group_of]).tolist():
            shown[position].append(f"{name}={_show(values[position])}")
    return [", ".join(parts) for parts in shown]


def _decimals(value: float, significant: int) -> int:
    """Decimal places that show ``value`` to ``significant`` digits, in fixed notation."""
    if value == 0 or not math.isfinite(value):
        return significant - 1
    return max(0, significant - 1 - math.floor(math.log10(abs(value))))


def format_metric(mean: float, std: float, mode: str | None = None) -> str:
    """'0.953 ± 0.004' for fractions (accuracy-like); otherwise the std's two significant digits set the precision."""
    if missing(mean):
        return ""
    if mode != "min" and 0 <= mean <= 1:
        places = 3
    else:
        places = _decimals(std, 2) if not missing(std) and std > 0 else _decimals(mean, 4)
    text = f"{mean:.{places}f}"
    return text if missing(std) else f"{text} ± {std:.{places}f}"


def format_rate(value: float) -> str:
    """Throughput as a plain integer; below 100 with three significant digits so slow models don't read 0."""
    if missing(value):
        return ""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.{_decimals(value, 3)}f}"


NUMBER_TEXT = re.compile(rf"^-?\d[\d,]*(\.\d+)?( ± \d+(\.\d+)?)?{re.escape(TIMING_MARK)}?$")


def is_number_text(text: str) -> bool:
    """Whether a table cell reads as a number ('1234', '0.953 ± 0.004'): such columns align right."""
    return bool(NUMBER_TEXT.match(text))


def _text(value) -> str:
    return "" if missing(value) else str(value)


def fixed(value, places: int) -> str:
    return "" if missing(value) else f"{float(value):.{places}f}"


def _integer(value) -> str:
    return "" if missing(value) else str(int(value))


def _shorten(text: str, limit: int = REASON_WIDTH) -> str:
    """One line of at most ``limit`` characters: a reason must not blow up the table."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _memory_kind(kind) -> str:
    return "" if missing(kind) else MEMORY_KINDS.get(kind, str(kind))


def _memory_header(summary) -> tuple[str, bool]:
    """'peak MiB (CPU RSS growth)'; with several kinds '(mixed)' and True: a kind column per row."""
    kinds = sorted({_memory_kind(k) for k in summary["memory_kind"].unique() if not missing(k)})
    if len(kinds) == 1:
        return f"peak MiB ({kinds[0]})", False
    return ("peak MiB (mixed)", True) if kinds else ("peak MiB", False)


def _target_text(target, n, reached, seconds) -> str:
    """Mean seconds to target; '(2/3)' when not every ok seed got there."""
    if missing(target) or not n:
        return ""
    if not reached:
        return "not reached"
    text = fixed(seconds, 2)
    return text if reached == n else f"{text} ({reached}/{n})"


#: Headers of the speed columns, which carry the timing mark (and ``s to <target>``).
SPEED_HEADERS = ("samples/s", "tokens/s", "step ms", "train s")


def is_speed_header(header: str) -> bool:
    """Whether a column of :func:`text_columns` is a speed number, marked when timing was disturbed."""
    return header in SPEED_HEADERS or header.startswith("s to ")


def timing_note(row) -> str:
    """'timing disturbed in 1 of 3 runs: <reasons>' for a summary row, or '' when its timing is clean."""
    disturbed = row.get("disturbed")
    if missing(disturbed) or not disturbed:
        return ""
    return f"timing disturbed in {int(disturbed)} of {int(row['n'])} runs: {row['timing_notes']}"


class TextColumn:
    """One column of the summary as text: the summary ``fields`` it reads and ``text(*values)`` of a row's.

    Called with a row (``column(row)``) it gives that row's text; :meth:`texts`
    gives the whole column's, reading the summary column by column.
    """

    def __init__(self, fields: tuple[str, ...], text, marked: bool = False):
        self.fields, self.text, self.marked = fields, text, marked

    def _text_of(self, values) -> str:
        if not self.marked:
            return self.text(*values)
        value, disturbed = self.text(*values[:-1]), values[-1]
        number = value[:1].isdigit()  # 'not reached' is no time to distrust
        return f"{value}{TIMING_MARK}" if number and not missing(disturbed) and disturbed else value

    def _names(self) -> tuple[str, ...]:
        return (*self.fields, "disturbed") if self.marked else self.fields

    def __call__(self, row) -> str:
        return self._text_of([row.get(name) for name in self._names()])

    def texts(self, summary) -> list[str]:
        """The text of every row, in order."""
        columns = [summary[name].tolist() if name in summary else [None] * len(summary) for name in self._names()]
        return [self._text_of(values) for values in zip(*columns, strict=True)]


def _metric_text(n, status, mean, ci95, mode) -> str:
    return format_metric(mean, ci95, mode) if n else _shorten(status)


def _cell_name(row) -> str:
    parts = [_text(row.get(name)) for name in ("model", "dataset", "optimizer")]
    if not missing(row.get("batch")):
        parts.append(f"batch {int(row['batch'])}")
    if row.get("settings"):
        parts.append(str(row["settings"]))
    return " | ".join(parts)


def timing_footnotes(summary) -> list[str]:
    """Lines for under a table: which cells' speed numbers carry the mark, in how many runs, and why."""
    if "disturbed" not in summary:
        return []
    marked = [not missing(v) and bool(v) for v in summary["disturbed"].tolist()]
    rows = [row for _, row in summary[marked].iterrows()] if sum(marked) <= MAX_TIMING_LINES else None
    if rows is None:
        chosen = summary[marked]
        runs, total = sum(int(v) for v in chosen["disturbed"]), sum(int(v) for v in chosen["n"])
        reasons = "; ".join(dict.fromkeys(part for notes in chosen["timing_notes"] for part in str(notes).split("; ")))
        head = f"{TIMING_MARK} timing disturbed in {runs} of {total} runs of {len(chosen)} cells: "
        return [head + _shorten(reasons, 2 * REASON_WIDTH)]
    return [f"{TIMING_MARK} {_cell_name(r)}: {_shorten(timing_note(r), 2 * REASON_WIDTH)}" for r in rows]


#: The summary's energy columns (:func:`harness.reporting.cells.summary_frame`), shown only where measured.
ENERGY_SUMMARY = ("energy_j", "samples_per_j", "energy_absent")


def measured_energy(summary) -> bool:
    """Whether some cell of the summary measured its energy."""
    return "samples_per_j" in summary and bool(summary["samples_per_j"].notna().any())


def energy_footnotes(summary) -> list[str]:
    """A line for under a table whose runs measured no energy: why (no counter here, no permission)."""
    if measured_energy(summary) or "energy_absent" not in summary:
        return []
    reasons = [r for r in dict.fromkeys(summary["energy_absent"].tolist()) if not missing(r)]
    return [f"energy not measured: {_shorten('; '.join(reasons), 2 * REASON_WIDTH)}"] if reasons else []


def text_columns(summary) -> list[tuple[str, TextColumn]]:
    """(header, column) for every column this summary needs, empty ones left out; ``column(row)`` is a row's
    text and ``column.texts(summary)`` the whole column's (:func:`text_table`)."""
    metrics = sorted({m for m in summary["metric"].unique() if not missing(m)})
    memory_header, per_row_kind = _memory_header(summary)
    targets = sorted({t for t in summary["target"].unique() if not missing(t)})
    columns = [
        ("model", TextColumn(("model",), _text)),
        ("dataset", TextColumn(("dataset",), _text)),
        ("optimizer", TextColumn(("optimizer",), _text)),
        ("batch", TextColumn(("batch",), _integer)),
    ]
    if "settings" in summary:
        columns.append(("settings", TextColumn(("settings",), lambda v: v)))
    if len(metrics) > 1:
        columns.append(("metric", TextColumn(("metric",), _text)))
    metric_header = f"test {metrics[0]}" if len(metrics) == 1 else "test metric"
    if (summary["n"] >= 2).any():
        metric_header += " (mean ± 95% CI)"
    columns.append((metric_header, TextColumn(("n", "status", "mean", "ci95", "metric_mode"), _metric_text)))
    columns.append(("seeds", TextColumn(("n",), str)))
    if summary["trials"].notna().any():  # tuned cells: how many search runs chose their learning rate
        columns.append(("trials", TextColumn(("trials",), _integer)))
    if (summary["rank"] >= 2).any():  # some workload has cells to rank; alone in one, a rank says nothing
        columns.append(("rank", TextColumn(("rank",), _integer)))
    if summary["failed"].any():
        columns.append(("failed", TextColumn(("failed",), str)))
    if summary["diverged"].any():
        columns.append(("diverged", TextColumn(("diverged",), str)))
    columns.append(("samples/s", TextColumn(("samples_per_s",), format_rate, marked=True)))
    if summary["tokens_per_s"].notna().any():
        columns.append(("tokens/s", TextColumn(("tokens_per_s",), format_rate, marked=True)))
    columns.append(("step ms", TextColumn(("step_ms",), _fixed(2), marked=True)))
    columns.append((memory_header, TextColumn(("peak_mem_mib",), _fixed(1))))
    if per_row_kind:
        columns.append(("memory", TextColumn(("memory_kind",), _memory_kind)))
    columns.append(("params", TextColumn(("params",), _integer)))
    columns.append(("train s", TextColumn(("train_s",), _fixed(2), marked=True)))
    if measured_energy(summary):  # where a run could read a counter (harness.train.energy)
        columns.append(("train J", TextColumn(("energy_j",), _fixed(1))))
        columns.append(("samples/J", TextColumn(("samples_per_j",), format_rate)))
    if targets:
        header = f"s to {targets[0]:g}" if len(targets) == 1 else "s to target"
        fields = ("target", "n", "reached_target", "time_to_target_s")
        columns.append((header, TextColumn(fields, _target_text, marked=True)))
    return columns


def _fixed(places: int):
    return lambda value: fixed(value, places)


def text_table(summary) -> tuple[list[str], list[list[str]]]:
    """The summary as text, column by column: the headers of :func:`text_columns` and each column's texts."""
    columns = text_columns(summary)
    return [header for header, _ in columns], [column.texts(summary) for _, column in columns]


#: Prefixes left out when a difference names a contestant: 'sgd (lr=0.01)', not 'optimizer_params.lr=0.01'.
_PARAM_PREFIXES = re.compile(r"\b(?:model|optimizer|schedule)_params\.")


def readable_names(entries: dict[str, tuple[str, dict]]) -> dict[str, str]:
    """key -> readable name: its label, plus '(lr=0.01)' style settings where several keys share that label.

    ``entries`` maps each key to ``(label, settings)``; only the settings that
    differ among the keys sharing a label are named.
    """
    keys = list(entries)
    return dict(zip(keys, grouped_readable_names([entries[k] for k in keys], [0] * len(keys)), strict=True))


def grouped_readable_names(entries: list[tuple[str, dict]], groups) -> list[str]:
    """:func:`readable_names` within each group at once: a name per ``(label, settings)`` of ``entries``."""
    import pandas as pd

    labels = [label for label, _ in entries]
    shared, _ = pd.factorize(
        pd.Series([(group, label) for group, label in zip(groups, labels, strict=True)], dtype=object)
    )
    sizes = pd.Series(shared).map(pd.Series(shared).value_counts()).to_numpy() if len(shared) else []
    texts = grouped_differences([settings for _, settings in entries], shared)
    return [
        label if size == 1 else f"{label} ({_PARAM_PREFIXES.sub('', text)})"
        for label, size, text in zip(labels, sizes, texts, strict=True)
    ]
