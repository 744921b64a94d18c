"""Records -> pandas frames -> tables. Never imports torch or Lightning.

A report must build on a machine with no torch, so this module reads plain
records only; pandas and tabulate are imported inside the functions that use
them. One row per run (:func:`runs_frame`), one row per cell aggregated over
seeds (:func:`summary_frame`), rendered with tabulate or as CSV
(:func:`render`). A cell is every record whose config is equal except for the
seed, on the same device, so runs with different epochs, learning rates,
precisions or hardware are never averaged together. Cells compete within a
workload (:func:`cell_table`); the numbers about that competition, confidence
intervals, tests and ranks, come from :mod:`harness.stats`
(:func:`stats_tables`).
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
RECORD_COLUMNS = ("key", "cell", "status", "reason", "suite", "task", "metric", "metric_mode", "synthetic", "trials")
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
    "ci95",
    "n",
    "rank",
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
    "trials",
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
    row["trials"] = (record.get("tuning") or {}).get("trials")  # learning rates x seeds tried before this run
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
    from harness.stats import estimate

    group = group.sort_values("seed", kind="stable", na_position="last")
    ok = group[group["status"] == "ok"]
    scores = estimate(_numbers(ok["test_metric"]))
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
        "mean": scores.mean,
        "std": scores.std,  # sample std (n-1)
        "ci95": scores.ci,  # half-width of the 95% t interval; NaN below two seeds
        "n": len(ok),
        "rank": None,  # filled in by summary_frame, which sees the whole workload
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
        "trials": _first(group["trials"]),
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
    """One row per cell: the test metric's mean, sample std and 95% CI over ok seeds, its rank, counts, and costs.

    Columns are :data:`SUMMARY_COLUMNS`: ``n`` counts ok seeds, ``ci95`` is
    the half-width of the mean's t interval, ``rank`` the place among the
    cells of its workload (1 is best, see :func:`cell_table`), ``failed`` the
    runs that crashed (``diverged`` apart), ``step_ms`` the median of the
    runs' median step times, ``time_to_target_s`` the mean over the runs that
    reached the target. ``settings`` appears only when two cells share every
    label, so no two rows of a table read the same.
    """
    import pandas as pd

    from harness.stats import rank_cells

    rows = [_summary_row(group) for _, group in runs.groupby("cell", sort=False, dropna=False)]
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    if summary.empty:
        return summary
    ranks = rank_cells(cell_table(runs)).set_index("cell")["rank"]
    summary["rank"] = summary["cell"].map(ranks)
    summary = summary.astype({"batch": "Int64", "params": "Int64", "rank": "Int64"})  # whole numbers or <NA>
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
# Cells -> workloads they compete in
# ---------------------------------------------------------------------------

#: Config fields that make a cell's model, and its optimizer (schedule included): what competes in a workload.
MODEL_FIELDS = ("model", "model_params", "model_label")
OPTIMIZER_FIELDS = ("optimizer", "optimizer_params", "optimizer_label", "schedule", "schedule_params")


def _workload_key(settings: dict, metric, compete: tuple[str, ...]) -> str:
    """Everything that must be equal for cells to be compared: the settings but the competing fields, and the metric."""
    return _canonical({**{k: v for k, v in settings.items() if k not in compete}, "metric": metric})


def _time_or_none(status, seconds):
    return float(seconds) if status == "ok" and isinstance(seconds, numbers.Real) and not _missing(seconds) else None


def cell_table(runs):
    """One row per cell with what :mod:`harness.stats` needs to compare cells.

    ``workload`` groups the cells where models and optimizers compete: the
    same dataset (hence task and metric) with every other setting equal
    (epochs, batch size, precision, device, target...). ``problem`` groups
    the cells where only optimizers compete: the same model too, as in
    AlgoPerf's workloads. ``optimizer_key`` names the optimizer side (with
    its hyper-parameters and schedule) across problems. ``values`` are the ok
    seeds' test metrics; ``times`` each run's seconds to target, None where a
    run never got there (failed and diverged runs included), empty without a target.
    """
    import pandas as pd

    rows = []
    for cell, group in runs.groupby("cell", sort=False, dropna=False):
        settings = json.loads(group[CELL_SETTINGS].iloc[0])
        metric = _first(group["metric"])
        target = _first(group["target"])
        rows.append(
            {
                "cell": cell,
                "settings": settings,
                "workload": _workload_key(settings, metric, MODEL_FIELDS + OPTIMIZER_FIELDS),
                "problem": _workload_key(settings, metric, OPTIMIZER_FIELDS),
                "optimizer_key": _canonical({k: settings.get(k) for k in OPTIMIZER_FIELDS}),
                "model": _first(group["model_label"]),
                "dataset": _first(group["dataset_label"]),
                "optimizer": _first(group["optimizer_label"]),
                "mode": _first(group["metric_mode"]),
                "values": _numbers(group.loc[group["status"] == "ok", "test_metric"]),
                "target": target,
                "times": []
                if target is None
                else [_time_or_none(*pair) for pair in zip(group["status"], group["time_to_target_s"], strict=True)],
            }
        )
    columns = ["cell", "settings", "workload", "problem", "optimizer_key", "model", "dataset", "optimizer"]
    return pd.DataFrame(rows, columns=[*columns, "mode", "values", "target", "times"])


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
    raw numbers (mean, std, ci95 apart).

    The metric column reads 'mean ± half-width of the 95% confidence interval'
    (a bare mean for one seed); ``seeds`` is n; ``rank`` orders the cells of a
    workload, shown when some workload has more than one.
    """
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


# ---------------------------------------------------------------------------
# Statistics across cells -> text
# ---------------------------------------------------------------------------

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
        for key, text in zip(keys, _differences([entries[k][1] for k in keys]), strict=True):
            names[key] = f"{label} ({_PARAM_PREFIXES.sub('', text)})"
    return names


def _only(settings: dict, fields: tuple[str, ...]) -> dict:
    return {k: settings.get(k) for k in fields}


def _test_name(test: str) -> str:
    from harness.stats import BOOTSTRAP, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, WELCH

    if test == WELCH:
        return "Welch's t-test"
    if test == BOOTSTRAP:
        return f"percentile bootstrap ({BOOTSTRAP_RESAMPLES:,} resamples, seed {BOOTSTRAP_SEED})"
    return test


def _verdict(row) -> str:
    """How a ranked cell stands against the best of its workload."""
    if row["best"]:
        return "best"
    if row["test"] == "none":
        return row["note"]
    word = "worse" if row["worse"] else "not significant"
    return f"{word}, p={row['p_value']:.3g} ({row['test']})"


def significance_frame(runs, alpha: float | None = None, test: str | None = None):
    """Every cell of a workload with two or more ranked cells: its rank, mean ± CI, and its test against the best."""
    import pandas as pd

    from harness.stats import ALPHA, WELCH, estimate, rank_cells

    cells = cell_table(runs)
    ranked = rank_cells(cells, ALPHA if alpha is None else alpha, test or WELCH)
    if ranked.empty:
        return pd.DataFrame()
    frame = cells.merge(ranked.drop(columns=["mean", "n"]), on="cell")
    frame = frame[frame.groupby("workload")["cell"].transform("size") > 1]
    if frame.empty:
        return pd.DataFrame()
    competing = MODEL_FIELDS + OPTIMIZER_FIELDS
    pairs = zip(frame["workload"], frame["dataset"], strict=True)
    workloads = readable_names({workload: (dataset, json.loads(workload)) for workload, dataset in pairs})
    contestants = {}
    for _, group in frame.groupby("workload", sort=False):
        entries = {
            c: (f"{m} / {o}", _only(s, competing))
            for c, m, o, s in zip(group["cell"], group["model"], group["optimizer"], group["settings"], strict=True)
        }
        contestants.update(readable_names(entries))
    metric = {c: json.loads(w)["metric"] for c, w in zip(frame["cell"], frame["workload"], strict=True)}
    out = pd.DataFrame(
        {
            "workload": frame["workload"].map(workloads),
            "cell": frame["cell"],
            "contestant": frame["cell"].map(contestants),
            "metric": frame["cell"].map(metric),
            "metric_mode": frame["mode"],
            "rank": frame["rank"],
            "mean": [estimate(v).mean for v in frame["values"]],
            "ci95": [estimate(v).ci for v in frame["values"]],
            "n": [len(v) for v in frame["values"]],
            "p_value": frame["p_value"],
            "test": frame["test"],
            "vs_best": frame.apply(_verdict, axis=1),
        }
    )
    return out.sort_values(["workload", "rank"], key=lambda c: c.map(_natural), kind="stable").reset_index(drop=True)


def _optimizer_cells(runs):
    """The cell table with readable names for each problem (model × dataset) and each optimizer."""
    cells = cell_table(runs)
    cells["problem_name"] = cells["problem"].map(
        readable_names(
            {
                p: (f"{m} on {d}", json.loads(p))
                for p, m, d in zip(cells["problem"], cells["model"], cells["dataset"], strict=True)
            }
        )
    )
    cells["contestant"] = cells["optimizer_key"].map(
        readable_names({k: (o, json.loads(k)) for k, o in zip(cells["optimizer_key"], cells["optimizer"], strict=True)})
    )
    return cells[cells.groupby("problem")["cell"].transform("size") > 1]


def wins_frame(runs, alpha: float | None = None, test: str | None = None):
    """Per problem (model × dataset, other settings equal) with two or more optimizers: who won, and how surely."""
    from harness.stats import ALPHA, WELCH, win_table

    cells = _optimizer_cells(runs)
    table = win_table(
        cells.assign(workload=cells["problem_name"])[["workload", "contestant", "mode", "values"]],
        ALPHA if alpha is None else alpha,
        test or WELCH,
    )
    return table.sort_values("workload", key=lambda c: c.map(_natural), kind="stable").reset_index(drop=True)


def profile_frame(runs, taus=None):
    """AlgoPerf-style performance profile of the optimizers over the problems that have a target (empty if none)."""
    import pandas as pd

    from harness.stats import PROFILE_TAUS, performance_profile

    cells = _optimizer_cells(runs)
    cells = cells[cells["target"].notna()]
    if cells.empty:
        return pd.DataFrame()
    return performance_profile(
        cells.assign(workload=cells["problem_name"])[["workload", "contestant", "times"]], taus or PROFILE_TAUS
    )


def _winner_text(row) -> str:
    from harness.stats import ALONE, TIE, WIN

    if row["outcome"] == WIN:
        return row["winner"]
    if row["outcome"] == TIE:
        return "tie: " + ", ".join(row["tied"])
    if row["outcome"] == ALONE:
        return f"{row['best']} (the others have no ok runs)"
    return "none: too few seeds to test"


def _table(title: str, frame, fmt: str) -> str:
    """A titled table; in CSV the title is a '# ' line so each block still parses with comment='#'."""
    from tabulate import tabulate

    if fmt == "csv":
        return f"# {title}\n" + frame.to_csv(index=False).rstrip("\n")
    return f"{title}\n\n" + tabulate(frame, headers="keys", tablefmt=fmt, showindex=False, disable_numparse=True)


def stats_parts(runs, fmt: str = "simple", alpha: float | None = None, test: str | None = None) -> list[tuple]:
    """``(title, frame)`` for the significance table, the optimizers' win table and performance profile.

    Each part appears only where it has something to say: a workload with two
    ranked cells, a problem with two optimizers, a target for the profile.
    ``test`` is ``welch`` (default) or ``bootstrap``, see :mod:`harness.stats`.
    """
    import pandas as pd

    from harness.stats import ALPHA, WELCH, WIN

    check_format(fmt)
    alpha, test = (ALPHA if alpha is None else alpha), (test or WELCH)
    parts = []
    significance = significance_frame(runs, alpha, test)
    if not significance.empty:
        if fmt == "csv":
            shown = significance.drop(columns=["cell"])
        else:
            shown = pd.DataFrame(
                {
                    "workload": significance["workload"],
                    "model / optimizer": significance["contestant"],
                    "rank": significance["rank"].astype(str),
                    "test metric (mean ± 95% CI)": [
                        f"{m} {format_metric(r['mean'], r['ci95'], r['metric_mode'])}"
                        for m, (_, r) in zip(significance["metric"], significance.iterrows(), strict=True)
                    ],
                    "seeds": significance["n"].astype(str),
                    "vs best": significance["vs_best"],
                }
            )
        title = (
            f"Significance: each cell against the best of its workload (dataset, other settings equal); "
            f"{_test_name(test)}, two-sided, alpha {alpha:g}; untested below 2 seeds a side"
        )
        parts.append((title, shown))
    wins = wins_frame(runs, alpha, test)
    if not wins.empty:
        if fmt == "csv":
            shown = wins.assign(tied=wins["tied"].map(" ".join))
        else:
            shown = pd.DataFrame(
                {
                    "workload": wins["workload"],
                    "optimizers": wins["contestants"].astype(str),
                    "winner": wins.apply(_winner_text, axis=1),
                    "best mean": [_fixed(v, 4) for v in wins["best_mean"]],
                    "runner-up": wins["runner_up"].fillna(""),
                    "runner-up mean": [_fixed(v, 4) for v in wins["runner_up_mean"]],
                    "p (test)": [
                        "" if _missing(p) else f"{p:.3g} ({test})"
                        for p, test in zip(wins["p_value"], wins["test"], strict=True)
                    ],
                }
            )
        tally = wins.loc[wins["outcome"] == WIN, "winner"].value_counts()
        counts = ", ".join(f"{name} {count}" for name, count in tally.items()) or "none"
        undecided = int((wins["outcome"] != WIN).sum())
        title = (
            f"Optimizer wins per workload (model x dataset, other settings equal), by mean test metric; "
            f"a win is significant at alpha {alpha:g}. Wins: {counts}; ties or undecided: {undecided}"
        )
        parts.append((title, shown))
    profile = profile_frame(runs)
    if not profile.empty:
        shown = profile.rename(columns=lambda tau: f"tau={tau:g}").reset_index(names="optimizer")
        if fmt != "csv":
            for column in shown.columns[1:]:
                shown[column] = shown[column].map(lambda v: _fixed(v, 2))
        cells = _optimizer_cells(runs)
        problems = cells.loc[cells["target"].notna(), "problem"].nunique()
        title = (
            f"Performance profile: share of the {problems} workloads with a target where an optimizer's median "
            f"time to target is within tau x the fastest optimizer's (a run that never reaches it counts as infinite)"
        )
        parts.append((title, shown))
    return parts


def stats_tables(runs, fmt: str = "simple", alpha: float | None = None, test: str | None = None) -> str:
    """:func:`stats_parts` as titled tables in ``fmt`` (csv: '# title' blocks)."""
    parts = stats_parts(runs, fmt, alpha, test)
    if not parts:
        return "statistics: no workload has two cells to compare"
    return "\n\n".join(_table(title, frame, fmt) for title, frame in parts)


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


def export(records: list[dict], fmt: str = "simple", problems=(), stats: bool = False, test: str | None = None):
    """The records in ``fmt``: a summary table (tabulate formats; ``latex`` with the best in bold; with
    ``stats`` the tables of :func:`stats_tables` below it), one row per run (``csv``, ``parquet`` as bytes),
    or the whole ``html`` page (statistics always included)."""
    check_format(fmt)
    if fmt == "html":
        from harness.html_report import build_html

        return build_html(records, problems, test=test)
    if stats and fmt in BINARY_FORMATS:
        raise ConfigError(f"--stats adds tables below the report; {fmt} holds one row per run and nothing else")
    runs = runs_frame(records)
    below = "\n\n" + stats_tables(runs, fmt, test=test) if stats else ""
    if fmt == "csv":  # the statistics follow as '# title' blocks, each parsable with comment='#'
        return runs_export(records).to_csv(index=False).rstrip("\n") + below
    if fmt == "parquet":
        import io

        buffer = io.BytesIO()
        runs_export(records).to_parquet(buffer, index=False)
        return buffer.getvalue()
    return render(summary_frame(runs), fmt) + below


def build_report(
    root, fmt: str = "simple", stats: bool = False, test: str | None = None
) -> tuple[str | bytes, list[tuple[Path, str]]]:
    """:func:`export` of the records under ``root``, and ``(path, problem)`` for the files that are not records."""
    check_format(fmt)
    records, problems = load_records(root)
    return export(records, fmt, problems, stats=stats, test=test), problems
