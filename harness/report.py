"""Records -> pandas frames -> tables. Never imports torch or Lightning.

A report must build on a machine with no torch, so this module reads plain
records only; pandas and tabulate are imported inside the functions that use
them. One row per run (:func:`runs_frame`), one row per cell aggregated over
seeds (:func:`summary_frame`), rendered with tabulate or as CSV
(:func:`render`). A cell is every record whose config is equal except for the
seed, on the same device, so runs with different epochs, learning rates,
precisions or hardware are never averaged together.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
import statistics
from pathlib import Path

from harness.errors import ConfigError, HarnessError

#: How a table names each kind of peak-memory number (see harness.measure).
MEMORY_KINDS = {"cpu_rss_growth": "CPU RSS growth", "cuda_max_allocated": "CUDA max allocated"}

#: Statuses that are neither a success nor a crash: counted in their own column.
DIVERGED = "diverged"

#: Columns every runs frame has, even when no record carries them, so tables never hit a KeyError.
RECORD_COLUMNS = ("key", "cell", "status", "reason", "suite", "task", "metric", "metric_mode", "synthetic")
CONFIG_COLUMNS = (
    "model",
    "dataset",
    "optimizer",
    "seed",
    "model_label",
    "dataset_label",
    "optimizer_label",
    "schedule",
    "batch_size",
    "max_epochs",
    "max_steps",
    "accelerator",
    "devices",
    "precision",
    "early_stopping",
    "target",
    "warmup_steps",
    "deterministic",
)
RESULT_COLUMNS = (
    "test_metric",
    "test_loss",
    "best_val_metric",
    "best_val_epoch",
    "epochs",
    "steps",
    "train_time_s",
    "wall_time_s",
    "samples_per_s",
    "tokens_per_s",
    "measured_steps",
    "step_time_median_ms",
    "step_time_p90_ms",
    "peak_memory_mb",
    "memory_kind",
    "cuda_max_reserved_mb",
    "params",
    "trainable_params",
    "time_to_target_s",
    "epoch_to_target",
)
PROVENANCE_COLUMNS = ("device",)

#: The JSON of a cell's identity (config without seed, plus device); summary_frame reads it back.
CELL_SETTINGS = "cell_settings"
REASON_WIDTH = 60

#: The columns of :func:`summary_frame`, in order (``settings`` is inserted after ``batch`` when needed).
SUMMARY_COLUMNS = [
    "cell",
    "model",
    "dataset",
    "optimizer",
    "batch",
    "metric",
    "metric_mode",
    "mean",
    "std",
    "n",
    "failed",
    "diverged",
    "status",
    "samples_per_s",
    "tokens_per_s",
    "step_ms",
    "peak_mem_mib",
    "memory_kind",
    "params",
    "train_s",
    "target",
    "time_to_target_s",
    "reached_target",
    "device",
]


# ---------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------


#: Formats made from the records rather than the summary table (see :func:`export`); ``csv`` is both.
DOCUMENT_FORMATS = ("html", "parquet")


def formats() -> list[str]:
    """Every format :func:`export` accepts: tabulate's tables, ``csv``, ``parquet`` and the ``html`` page."""
    from tabulate import tabulate_formats

    return sorted(set(tabulate_formats) | {"csv", *DOCUMENT_FORMATS})


#: Formats that are bytes, not text: they need a file to go to.
BINARY_FORMATS = ("parquet",)


def check_format(fmt: str) -> str:
    """``fmt`` itself, or a ConfigError listing the formats a report can take (checked before any work)."""
    allowed = formats()
    if fmt not in allowed:
        raise ConfigError(f"unknown report format {fmt!r}; allowed: {', '.join(allowed)}")
    return fmt


# ---------------------------------------------------------------------------
# Records -> one row per run
# ---------------------------------------------------------------------------


def _missing(value) -> bool:
    """None, NaN and pandas' NA alike: a number a record did not have."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # pandas.NA: its comparisons are NA too
        return True


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _cell_identity(record: dict) -> dict:
    """What makes runs one cell: the whole config but the seed, and the device they ran on."""
    config = {k: v for k, v in (record.get("config") or {}).items() if k != "seed"}
    config["device"] = (record.get("provenance") or {}).get("device")
    return config


def _canonical(data: dict) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def _flat_config(config: dict) -> dict:
    """Config fields as columns; parameter dicts become ``optimizer_params.lr`` style columns."""
    row = {}
    for name, value in config.items():
        if isinstance(value, dict):
            for key, inner in value.items():
                row[f"{name}.{key}"] = inner if _is_scalar(inner) else json.dumps(inner, default=str)
        else:
            row[name] = value if _is_scalar(value) else json.dumps(value, default=str)
    for kind in ("model", "dataset", "optimizer"):  # hand-made or old records may lack labels
        row[f"{kind}_label"] = row.get(f"{kind}_label") or row.get(kind)
    return row


def _put(row: dict, prefix: str, name: str, value) -> None:
    """Add a column; a name already taken (``seed``, ``precision``...) gets the section's prefix."""
    row[f"{prefix}_{name}" if name in row or name in CONFIG_COLUMNS else name] = value


def _run_row(record: dict) -> dict:
    identity = _canonical(_cell_identity(record))
    results = record.get("results") or {}
    row = {
        "key": record.get("key"),
        "cell": hashlib.sha256(identity.encode()).hexdigest()[:12],
        CELL_SETTINGS: identity,
        **{name: record.get(name) for name in RECORD_COLUMNS[2:]},
    }
    row["synthetic"] = bool(row["synthetic"])
    row.update(_flat_config(record.get("config") or {}))
    if row["synthetic"] and "synthetic" not in str(row["dataset_label"]):
        row["dataset_label"] = f"{row['dataset_label']} (synthetic)"  # never mistaken for a real result
    for name, value in results.items():
        if _is_scalar(value):
            _put(row, "results", name, value)
    for name, value in (results.get("test_metrics") or {}).items():
        row.setdefault(f"test_{name}", value)  # test_loss is already there from results
    for name, value in (record.get("provenance") or {}).items():
        if _is_scalar(value):
            _put(row, "provenance", name, value)
    return row


def runs_frame(records: list[dict]):
    """One row per run: status, flattened config, scalar results, ``test_<metric>`` and provenance.

    Lists (validation curves, loss histories) stay in the records. Columns
    that tables rely on exist even when no record has them (NaN), so failed
    or partial records never break a table.
    """
    import pandas as pd

    rows = [_run_row(record) for record in records]
    expected = (*RECORD_COLUMNS[:2], CELL_SETTINGS, *RECORD_COLUMNS[2:], *CONFIG_COLUMNS, *RESULT_COLUMNS)
    expected = (*expected, *PROVENANCE_COLUMNS)
    seen = {}  # ordered union: the expected columns first, then whatever the records brought
    for name in (*expected, *(name for row in rows for name in row)):
        seen.setdefault(name, None)
    return pd.DataFrame(rows).reindex(columns=list(seen))


# ---------------------------------------------------------------------------
# One row per run -> one row per cell
# ---------------------------------------------------------------------------


def _numbers(series) -> list[float]:
    """The finite numbers of a column, skipping gaps (and strings or flags a bad record may hold)."""
    return [float(v) for v in series if isinstance(v, numbers.Real) and not isinstance(v, bool) and not _missing(v)]


def _mean(series) -> float:
    values = _numbers(series)
    return statistics.fmean(values) if values else math.nan


def _median(series) -> float:
    values = _numbers(series)
    return statistics.median(values) if values else math.nan


def _first(series):
    """The first value a group has, or None: labels and kinds shared by a cell's runs."""
    return next((v for v in series if not _missing(v)), None)


def _status(group, n_ok: int) -> str:
    """'ok' when any seed worked, else the first failure's status and reason (the table shows it)."""
    if n_ok:
        return "ok"
    first = group.iloc[0]
    reason = first["reason"]
    return f"{first['status']}: {reason}" if not _missing(reason) else str(first["status"])


def _summary_row(group) -> dict:
    group = group.sort_values("seed", kind="stable", na_position="last")
    ok = group[group["status"] == "ok"]
    scores = _numbers(ok["test_metric"])
    params = _first(ok["params"])
    reached = _numbers(ok["time_to_target_s"])
    batch = _first(group["batch_size"])
    return {
        "cell": group["cell"].iloc[0],
        "model": _first(group["model_label"]),
        "dataset": _first(group["dataset_label"]),
        "optimizer": _first(group["optimizer_label"]),
        "batch": int(batch) if batch is not None else None,
        "metric": _first(group["metric"]),
        "metric_mode": _first(group["metric_mode"]),
        "mean": statistics.fmean(scores) if scores else math.nan,
        "std": statistics.stdev(scores) if len(scores) > 1 else math.nan,  # sample std (n-1)
        "n": len(ok),
        "failed": int((~group["status"].isin(["ok", DIVERGED])).sum()),
        "diverged": int((group["status"] == DIVERGED).sum()),
        "status": _status(group, len(ok)),
        "samples_per_s": _mean(ok["samples_per_s"]),
        "tokens_per_s": _mean(ok["tokens_per_s"]),
        "step_ms": _median(ok["step_time_median_ms"]),
        "peak_mem_mib": _mean(ok["peak_memory_mb"]),
        "memory_kind": _first(ok["memory_kind"]),
        "params": int(params) if params is not None else None,
        "train_s": _mean(ok["train_time_s"]),
        "target": _first(group["target"]),
        "time_to_target_s": statistics.fmean(reached) if reached else math.nan,
        "reached_target": len(reached),
        "device": _first(group["device"]),
    }


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


def _differences(settings: list[dict]) -> list[str]:
    """For cells that show the same labels: the settings that tell each apart, ``max_epochs=10``."""
    flat = [_flatten(s) for s in settings]
    names = sorted({name for f in flat for name in f})
    varying = [n for n in names if len({_canonical({"v": f.get(n)}) for f in flat}) > 1]
    return [", ".join(f"{n}={_show(f.get(n))}" for n in varying) for f in flat]


def _settings_column(summary, runs) -> list[str] | None:
    """A ``settings`` value per row when two cells would otherwise render identically, else None."""
    identity = dict(zip(runs["cell"], runs[CELL_SETTINGS], strict=True))
    shown = summary[["model", "dataset", "optimizer", "batch"]].itertuples(index=False)
    alike: dict[tuple, list[int]] = {}  # rendered labels -> row positions
    for position, labels in enumerate(shown):
        alike.setdefault(tuple("" if _missing(v) else str(v) for v in labels), []).append(position)
    if all(len(positions) == 1 for positions in alike.values()):
        return None
    column = [""] * len(summary)
    for positions in alike.values():
        if len(positions) > 1:
            texts = _differences([json.loads(identity[summary["cell"].iloc[p]]) for p in positions])
            for position, text in zip(positions, texts, strict=True):
                column[position] = text
    return column


def summary_frame(runs):
    """One row per cell: the test metric's mean and sample std over ok seeds, counts, and costs.

    Columns are :data:`SUMMARY_COLUMNS`: ``n`` counts ok seeds, ``failed``
    the runs that crashed (``diverged`` apart), ``step_ms`` is the median of
    the runs' median step times, ``time_to_target_s`` the mean over the runs
    that reached the target. ``settings`` appears only when two cells share
    every label, so no two rows of a table read the same.
    """
    import pandas as pd

    rows = [_summary_row(group) for _, group in runs.groupby("cell", sort=False, dropna=False)]
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    if summary.empty:
        return summary
    summary = summary.astype({"batch": "Int64", "params": "Int64"})  # whole numbers even where a cell has none
    settings = _settings_column(summary, runs)
    if settings is not None:
        summary.insert(summary.columns.get_loc("batch") + 1, "settings", settings)
    return summary.iloc[_row_order(summary)].reset_index(drop=True)


def _natural(value) -> tuple:
    """Sort key that puts 'max_epochs=5' before 'max_epochs=20' and gaps last."""
    if _missing(value):
        return (1,)
    parts = re.split(r"(\d+(?:\.\d+)?)", str(value))
    return (0, *(float(p) if i % 2 else p for i, p in enumerate(parts)))


def _row_order(summary) -> list[int]:
    """Rows by dataset, model, optimizer, batch size, then the settings that tell cells apart."""
    columns = [c for c in ("dataset", "model", "optimizer", "batch", "settings") if c in summary]
    return sorted(range(len(summary)), key=lambda i: [_natural(summary[c].iloc[i]) for c in columns])


# ---------------------------------------------------------------------------
# Cells -> text
# ---------------------------------------------------------------------------


def _decimals(value: float, significant: int) -> int:
    """Decimal places that show ``value`` to ``significant`` digits, in fixed notation."""
    if value == 0 or not math.isfinite(value):
        return significant - 1
    return max(0, significant - 1 - math.floor(math.log10(abs(value))))


def format_metric(mean: float, std: float, mode: str | None = None) -> str:
    """'0.953 ± 0.004' for fractions (accuracy-like); otherwise the std's two significant digits set the precision."""
    if _missing(mean):
        return ""
    if mode != "min" and 0 <= mean <= 1:
        places = 3
    else:
        places = _decimals(std, 2) if not _missing(std) and std > 0 else _decimals(mean, 4)
    text = f"{mean:.{places}f}"
    return text if _missing(std) else f"{text} ± {std:.{places}f}"


def format_rate(value: float) -> str:
    """Throughput as a plain integer; below 100 with three significant digits so slow models don't read 0."""
    if _missing(value):
        return ""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.{_decimals(value, 3)}f}"


NUMBER_TEXT = re.compile(r"^-?\d[\d,]*(\.\d+)?( ± \d+(\.\d+)?)?$")


def is_number_text(text: str) -> bool:
    """Whether a table cell reads as a number ('1234', '0.953 ± 0.004'): such columns align right."""
    return bool(NUMBER_TEXT.match(text))


def _text(value) -> str:
    return "" if _missing(value) else str(value)


def _fixed(value, places: int) -> str:
    return "" if _missing(value) else f"{float(value):.{places}f}"


def _integer(value) -> str:
    return "" if _missing(value) else str(int(value))


def _shorten(text: str, limit: int = REASON_WIDTH) -> str:
    """One line of at most ``limit`` characters: a reason must not blow up the table."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _memory_kind(kind) -> str:
    return "" if _missing(kind) else MEMORY_KINDS.get(kind, str(kind))


def _memory_header(summary) -> tuple[str, bool]:
    """'peak MiB (CPU RSS growth)'; with several kinds '(mixed)' and True: a kind column per row."""
    kinds = sorted({_memory_kind(k) for k in summary["memory_kind"] if not _missing(k)})
    if len(kinds) == 1:
        return f"peak MiB ({kinds[0]})", False
    return ("peak MiB (mixed)", True) if kinds else ("peak MiB", False)


def _target_text(row) -> str:
    """Mean seconds to target; '(2/3)' when not every ok seed got there."""
    if _missing(row["target"]) or not row["n"]:
        return ""
    if not row["reached_target"]:
        return "not reached"
    text = _fixed(row["time_to_target_s"], 2)
    return text if row["reached_target"] == row["n"] else f"{text} ({row['reached_target']}/{row['n']})"


def _text_columns(summary) -> list[tuple[str, object]]:
    """(header, row -> text) for every column this summary needs; empty ones are left out."""
    metrics = sorted({m for m in summary["metric"] if not _missing(m)})
    memory_header, per_row_kind = _memory_header(summary)
    targets = sorted({t for t in summary["target"] if not _missing(t)})

    def metric_text(row):
        if not row["n"]:
            return _shorten(row["status"])
        return format_metric(row["mean"], row["std"], row["metric_mode"])

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
    columns.append((f"test {metrics[0]}" if len(metrics) == 1 else "test metric", metric_text))
    columns.append(("seeds", lambda r: str(r["n"])))
    if summary["failed"].any():
        columns.append(("failed", lambda r: str(r["failed"])))
    if summary["diverged"].any():
        columns.append(("diverged", lambda r: str(r["diverged"])))
    columns.append(("samples/s", lambda r: format_rate(r["samples_per_s"])))
    if summary["tokens_per_s"].notna().any():
        columns.append(("tokens/s", lambda r: format_rate(r["tokens_per_s"])))
    columns.append(("step ms", lambda r: _fixed(r["step_ms"], 2)))
    columns.append((memory_header, lambda r: _fixed(r["peak_mem_mib"], 1)))
    if per_row_kind:
        columns.append(("memory", lambda r: _memory_kind(r["memory_kind"])))
    columns.append(("params", lambda r: _integer(r["params"])))
    columns.append(("train s", lambda r: _fixed(r["train_s"], 2)))
    if targets:
        columns.append((f"s to {targets[0]:g}" if len(targets) == 1 else "s to target", _target_text))
    return columns


def render(summary, fmt: str = "simple") -> str:
    """The summary as a table in any tabulate format (``latex``: booktabs, the best in bold), or as CSV with
    raw numbers (mean and std apart)."""
    if check_format(fmt) in DOCUMENT_FORMATS:
        raise ConfigError(f"{fmt} is a whole report, not a table format; use harness report --format {fmt}")
    if summary.empty:
        return "no runs"
    if fmt == "csv":
        return summary.drop(columns=["cell"]).to_csv(index=False).rstrip("\n")
    if fmt == "latex":
        from harness.latex import render_latex

        return render_latex(summary)
    from tabulate import tabulate

    columns = _text_columns(summary)
    rows = [[text(row) for _, text in columns] for _, row in summary.iterrows()]
    headers = [header for header, _ in columns]
    # numparse off: tabulate would turn '0.900' back into '0.9'
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)


def load_records(root) -> tuple[list[dict], list[tuple[Path, str]]]:
    """Every record under ``root``, and ``(path, problem)`` for files that are not records; none at all is an error."""
    from harness.store import Store

    records, problems = Store(root).load_all()
    if not records:
        raise HarnessError(f"no run records under {root}")
    return records, problems


def runs_export(records: list[dict]):
    """One row per run with every scalar config, result and provenance field: what csv and parquet hold.

    Columns holding mixed kinds of values (a number in one record, a string
    in another) become strings, so Parquet can type every column.
    """
    frame = runs_frame(records).drop(columns=[CELL_SETTINGS])
    for name in frame.columns:
        values = frame[name].dropna()
        if frame[name].dtype == object and len({type(v) for v in values}) > 1:
            frame[name] = frame[name].map(lambda v: v if _missing(v) else str(v))
    return frame


def export(records: list[dict], fmt: str = "simple", problems=()) -> str | bytes:
    """The records in ``fmt``: a summary table (tabulate formats; ``latex`` with the best in bold),
    one row per run (``csv``, ``parquet`` as bytes), or the whole ``html`` page."""
    check_format(fmt)
    if fmt == "html":
        from harness.html_report import build_html

        return build_html(records, problems)
    if fmt == "csv":
        return runs_export(records).to_csv(index=False)
    if fmt == "parquet":
        import io

        buffer = io.BytesIO()
        runs_export(records).to_parquet(buffer, index=False)
        return buffer.getvalue()
    return render(summary_frame(runs_frame(records)), fmt)


def build_report(root, fmt: str = "simple") -> tuple[str | bytes, list[tuple[Path, str]]]:
    """:func:`export` of the records under ``root``, and ``(path, problem)`` for the files that are not records."""
    check_format(fmt)
    records, problems = load_records(root)
    return export(records, fmt, problems), problems
