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
    return value if isinstance(value, str) else json.dumps(value, default=str)


def differences(settings: list[dict]) -> list[str]:
    """For cells that show the same labels: the settings that tell each apart, ``max_epochs=10``."""
    flat = [_flatten(s) for s in settings]
    names = sorted({name for f in flat for name in f})
    varying = [n for n in names if len({canonical({"v": f.get(n)}) for f in flat}) > 1]
    return [", ".join(f"{n}={_show(f.get(n))}" for n in varying) for f in flat]


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
    kinds = sorted({_memory_kind(k) for k in summary["memory_kind"] if not missing(k)})
    if len(kinds) == 1:
        return f"peak MiB ({kinds[0]})", False
    return ("peak MiB (mixed)", True) if kinds else ("peak MiB", False)


def _target_text(row) -> str:
    """Mean seconds to target; '(2/3)' when not every ok seed got there."""
    if missing(row["target"]) or not row["n"]:
        return ""
    if not row["reached_target"]:
        return "not reached"
    text = fixed(row["time_to_target_s"], 2)
    return text if row["reached_target"] == row["n"] else f"{text} ({row['reached_target']}/{row['n']})"


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


def _marked(text):
    """A speed column's ``text``, ending in the timing mark for a cell with a disturbed run."""

    def marked(row) -> str:
        value = text(row)
        disturbed = row.get("disturbed")
        number = value[:1].isdigit()  # 'not reached' is no time to distrust
        return f"{value}{TIMING_MARK}" if number and not missing(disturbed) and disturbed else value

    return marked


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
    rows = [row for _, row in summary.iterrows() if not missing(row["disturbed"]) and row["disturbed"]]
    if len(rows) > MAX_TIMING_LINES:
        runs, total = sum(int(r["disturbed"]) for r in rows), sum(int(r["n"]) for r in rows)
        reasons = "; ".join(dict.fromkeys(part for r in rows for part in str(r["timing_notes"]).split("; ")))
        head = f"{TIMING_MARK} timing disturbed in {runs} of {total} runs of {len(rows)} cells: "
        return [head + _shorten(reasons, 2 * REASON_WIDTH)]
    return [f"{TIMING_MARK} {_cell_name(r)}: {_shorten(timing_note(r), 2 * REASON_WIDTH)}" for r in rows]


def text_columns(summary) -> list[tuple[str, object]]:
    """(header, row -> text) for every column this summary needs; empty ones are left out."""
    metrics = sorted({m for m in summary["metric"] if not missing(m)})
    memory_header, per_row_kind = _memory_header(summary)
    targets = sorted({t for t in summary["target"] if not missing(t)})

    def metric_text(row):
        if not row["n"]:
            return _shorten(row["status"])
        return format_metric(row["mean"], row["ci95"], row["metric_mode"])

    columns = [
        ("model", lambda r: _text(r["model"])),
        ("dataset", lambda r: _text(r["dataset"])),
        ("optimizer", lambda r: _text(r["optimizer"])),
        ("batch", lambda r: _integer(r["batch"])),
    ]
    if "settings" in summary:
        columns.append(("settings", lambda r: r["settings"]))
    if len(metrics) > 1:
        columns.append(("metric", lambda r: _text(r["metric"])))
    metric_header = f"test {metrics[0]}" if len(metrics) == 1 else "test metric"
    if (summary["n"] >= 2).any():
        metric_header += " (mean ± 95% CI)"
    columns.append((metric_header, metric_text))
    columns.append(("seeds", lambda r: str(r["n"])))
    if summary["trials"].notna().any():  # tuned cells: how many search runs chose their learning rate
        columns.append(("trials", lambda r: _integer(r["trials"])))
    if (summary["rank"] >= 2).any():  # some workload has cells to rank; alone in one, a rank says nothing
        columns.append(("rank", lambda r: _integer(r["rank"])))
    if summary["failed"].any():
        columns.append(("failed", lambda r: str(r["failed"])))
    if summary["diverged"].any():
        columns.append(("diverged", lambda r: str(r["diverged"])))
    columns.append(("samples/s", _marked(lambda r: format_rate(r["samples_per_s"]))))
    if summary["tokens_per_s"].notna().any():
        columns.append(("tokens/s", _marked(lambda r: format_rate(r["tokens_per_s"]))))
    columns.append(("step ms", _marked(lambda r: fixed(r["step_ms"], 2))))
    columns.append((memory_header, lambda r: fixed(r["peak_mem_mib"], 1)))
    if per_row_kind:
        columns.append(("memory", lambda r: _memory_kind(r["memory_kind"])))
    columns.append(("params", lambda r: _integer(r["params"])))
    columns.append(("train s", _marked(lambda r: fixed(r["train_s"], 2))))
    if targets:
        columns.append((f"s to {targets[0]:g}" if len(targets) == 1 else "s to target", _marked(_target_text)))
    return columns


#: Prefixes left out when a difference names a contestant: 'sgd (lr=0.01)', not 'optimizer_params.lr=0.01'.
_PARAM_PREFIXES = re.compile(r"\b(?:model|optimizer|schedule)_params\.")


def readable_names(entries: dict[str, tuple[str, dict]]) -> dict[str, str]:
    """key -> readable name: its label, plus '(lr=0.01)' style settings where several keys share that label.

    ``entries`` maps each key to ``(label, settings)``; only the settings that
    differ among the keys sharing a label are named.
    """
    by_label: dict[str, list[str]] = {}
    for key, (label, _) in entries.items():
        by_label.setdefault(label, []).append(key)
    names = {}
    for label, keys in by_label.items():
        if len(keys) == 1:
            names[keys[0]] = label
            continue
        for key, text in zip(keys, differences([entries[k][1] for k in keys]), strict=True):
            names[key] = f"{label} ({_PARAM_PREFIXES.sub('', text)})"
    return names
