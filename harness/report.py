"""Records -> pandas frames -> tables. Never imports torch or Lightning.

One row per run (:func:`runs_frame`), one row per cell aggregated over seeds
(:func:`summary_frame`), rendered with tabulate or as CSV (:func:`render`).
A cell is every record whose config is equal except for the seed, so runs
with different epochs, learning rates or precisions are never averaged.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path

from harness.errors import ConfigError, HarnessError

MEMORY_KINDS = {"cpu_rss_growth": "CPU RSS growth", "cuda_max_allocated": "CUDA max allocated"}
CONFIG_COLUMNS = (
    "model",
    "dataset",
    "optimizer",
    "seed",
    "model_label",
    "dataset_label",
    "optimizer_label",
    "batch_size",
    "max_epochs",
    "max_steps",
    "precision",
    "accelerator",
    "target",
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


def formats() -> list[str]:
    from tabulate import tabulate_formats

    return sorted(set(tabulate_formats) | {"csv"})


def check_format(fmt: str) -> str:
    """``fmt`` itself, or a ConfigError listing the formats a table can take."""
    if fmt not in formats():
        raise ConfigError(f"--format: unknown table format {fmt!r}; allowed: {', '.join(formats())}")
    return fmt


def _cell_settings(config: dict) -> str:
    """What makes runs the same cell: the whole config except the seed, as canonical JSON."""
    return json.dumps({k: v for k, v in config.items() if k != "seed"}, sort_keys=True, default=str)


def runs_frame(records: list[dict]):
    """One row per run: labels, status, every scalar measurement and provenance field."""
    import pandas as pd

    rows = []
    for record in records:
        config = record.get("config", {})
        results = record.get("results") or {}
        row = {
            "key": record.get("key"),
            "cell": hashlib.sha256(_cell_settings(config).encode()).hexdigest()[:12],
            "settings_json": _cell_settings(config),
            "status": record.get("status"),
            "reason": record.get("reason"),
            "suite": record.get("suite"),
            "task": record.get("task"),
            "metric": record.get("metric"),
            "metric_mode": record.get("metric_mode"),
        }
        row.update({column: config.get(column) for column in CONFIG_COLUMNS})
        row["synthetic"] = bool(record.get("synthetic"))
        if row["synthetic"] and "synthetic" not in str(row["dataset_label"]):
            row["dataset_label"] = f"{row['dataset_label']} (synthetic)"  # never mistaken for a real result
        row.update({column: results.get(column) for column in RESULT_COLUMNS})
        for name, value in (results.get("test_metrics") or {}).items():
            row[f"test_{name}"] = value
        for name, value in (record.get("provenance") or {}).items():
            if not isinstance(value, (dict, list)):
                row[f"provenance_{name}" if name in row else name] = value
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame


def _mean(values):
    values = [v for v in values if v is not None and v == v]
    return statistics.fmean(values) if values else None


def _median(values):
    values = [v for v in values if v is not None and v == v]
    return statistics.median(values) if values else None


def _differing_settings(configs: dict[str, dict]) -> dict[str, str]:
    """For cells that would show the same labels: the config fields that tell them apart."""
    keys = sorted({k for config in configs.values() for k in config} - {"seed"})
    varying = [
        k for k in keys if len({json.dumps(c.get(k), sort_keys=True, default=str) for c in configs.values()}) > 1
    ]
    return {
        cell: ", ".join(f"{k}={json.dumps(config.get(k), default=str)}" for k in varying)
        for cell, config in configs.items()
    }


def summary_frame(runs):
    """One row per cell: the test metric's mean and std over ok seeds, and the costs that go with it."""
    import pandas as pd

    if runs.empty:
        return pd.DataFrame()
    rows, configs = [], {}
    for cell, group in runs.groupby("cell", sort=False):
        ok = group[group["status"] == "ok"]
        first = group.iloc[0]
        scores = [v for v in ok["test_metric"] if v is not None and v == v]
        failed = group[group["status"] != "ok"]
        row = {
            "cell": cell,
            "model": first["model_label"],
            "dataset": first["dataset_label"],
            "optimizer": first["optimizer_label"],
            "batch": first["batch_size"],
            "metric": next((m for m in group["metric"] if isinstance(m, str)), None),
            "mean": statistics.fmean(scores) if scores else None,
            "std": statistics.stdev(scores) if len(scores) > 1 else None,
            "n": len(scores),
            "failed": len(failed),
            "status": "ok" if scores else f"{failed.iloc[0]['status']}: {failed.iloc[0]['reason']}",
            "samples_per_s": _mean(ok["samples_per_s"]),
            "step_ms": _median(ok["step_time_median_ms"]),
            "peak_mem_mb": _mean(ok["peak_memory_mb"]),
            "memory_kind": next((m for m in ok["memory_kind"] if isinstance(m, str)), None),
            "params": next((int(p) for p in ok["params"] if p is not None and p == p), None),
            "train_s": _mean(ok["train_time_s"]),
            "time_to_target_s": _mean(ok["time_to_target_s"]),
            "target": first["target"],
        }
        rows.append(row)
        configs[cell] = json.loads(first["settings_json"])
    summary = pd.DataFrame(rows)
    labels = summary[["model", "dataset", "optimizer", "batch"]].astype(str).agg("|".join, axis=1)
    if labels.duplicated(keep=False).any():
        settings = _differing_settings({cell: configs[cell] for cell in summary["cell"][labels.duplicated(keep=False)]})
        summary.insert(4, "settings", [settings.get(cell, "") for cell in summary["cell"]])
    return summary.sort_values(["dataset", "model", "optimizer", "batch"], kind="stable").reset_index(drop=True)


def _fmt_metric(mean, std) -> str:
    if mean is None:
        return ""
    digits = 3 if 0 <= mean <= 1 else 4
    text = f"{mean:.{digits}f}" if 0 <= mean <= 1 else f"{mean:.{digits}g}"
    if std is not None:
        text += f" ± {std:.{digits}f}" if 0 <= mean <= 1 else f" ± {std:.2g}"
    return text


def _fmt(value, spec: str) -> str:
    if value is None or value != value:
        return ""
    return format(int(value) if spec == "d" else value, spec)


def render(summary, fmt: str = "simple") -> str:
    """The summary as a table in any tabulate format, or as CSV with raw numbers."""
    check_format(fmt)
    if summary.empty:
        return "no runs"
    if fmt == "csv":
        return summary.drop(columns=["cell"]).to_csv(index=False).rstrip("\n")
    from tabulate import tabulate

    kinds = {k for k in summary["memory_kind"] if isinstance(k, str)}
    memory_header = (
        f"peak MiB ({MEMORY_KINDS.get(next(iter(kinds)), next(iter(kinds)))})" if len(kinds) == 1 else "peak MiB"
    )
    metrics = {m for m in summary["metric"] if isinstance(m, str)}
    metric_header = f"test {next(iter(metrics))}" if len(metrics) == 1 else "test metric"
    show_target = summary["target"].notna().any()
    rows = []
    for _, row in summary.iterrows():
        out = {"model": row["model"], "dataset": row["dataset"], "optimizer": row["optimizer"], "batch": row["batch"]}
        if "settings" in summary:
            out["settings"] = row["settings"]
        if len(metrics) > 1:
            out["metric"] = row["metric"]
        out[metric_header] = _fmt_metric(row["mean"], row["std"]) if row["n"] else _shorten(row["status"])
        out["seeds"] = row["n"]
        out["failed"] = row["failed"]
        out["samples/s"] = _fmt(row["samples_per_s"], ".0f")
        out["step ms"] = _fmt(row["step_ms"], ".2f")
        out[memory_header] = _fmt(row["peak_mem_mb"], ".1f")
        if len(kinds) > 1:
            out["memory"] = MEMORY_KINDS.get(row["memory_kind"], row["memory_kind"])
        out["params"] = _fmt(row["params"], "d")
        out["train s"] = _fmt(row["train_s"], ".2f")
        if show_target:
            out[f"s to {row['target']}" if summary["target"].nunique() == 1 else "s to target"] = _fmt(
                row["time_to_target_s"], ".2f"
            )
        rows.append(out)
    if not summary["failed"].any():
        for out in rows:
            out.pop("failed")
    return tabulate(rows, headers="keys", tablefmt=fmt, disable_numparse=True)


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_report(root, fmt: str = "simple") -> tuple[str, list[tuple[Path, str]]]:
    """The table of every record under ``root`` plus the files that could not be read."""
    from harness.store import Store

    check_format(fmt)
    records, problems = Store(root).load_all()
    if not records:
        raise HarnessError(f"no run records under {root}")
    return render(summary_frame(runs_frame(records)), fmt), problems
