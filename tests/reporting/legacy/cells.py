"""One row per run -> one row per cell (its runs over seeds), and the workloads cells compete in.

A cell is every record whose config is equal except for the seed, on the
same device (:func:`harness.records.cell_identity`), so runs with different
epochs, learning rates, precisions or hardware are never averaged together.
Cells compete within a workload (:func:`cell_table`); the numbers about that
competition come from :mod:`tests.reporting.legacy.stats`.
"""

from __future__ import annotations

import json
import math
import numbers
import statistics

from harness.records import canonical
from harness.reporting.frames import CELL_SETTINGS
from harness.reporting.values import finite_numbers, first_present, missing, natural_key
from tests.reporting.legacy.text import differences

#: Statuses that are neither a success nor a crash: counted in their own column.
DIVERGED = "diverged"


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
    "disturbed",
    "timing_notes",
]


def _mean(series) -> float:
    values = finite_numbers(series)
    return statistics.fmean(values) if values else math.nan


def _median(series) -> float:
    values = finite_numbers(series)
    return statistics.median(values) if values else math.nan


def _status(group, n_ok: int) -> str:
    """'ok' when any seed worked, else the first failure's status and reason (the table shows it)."""
    if n_ok:
        return "ok"
    first = group.iloc[0]
    reason = first["reason"]
    return f"{first['status']}: {reason}" if not missing(reason) else str(first["status"])


def _timing_notes(ok) -> str:
    """The distinct reasons the ok runs gave for distrusting their timing, in the order first seen."""
    notes = [text for text in ok["timing_notes"] if isinstance(text, str) and text]
    reasons = (reason for text in notes for reason in text.split("; "))
    return "; ".join(dict.fromkeys(reasons))


def _summary_row(group) -> dict:
    from tests.reporting.legacy.stats import estimate

    group = group.sort_values("seed", kind="stable", na_position="last")
    ok = group[group["status"] == "ok"]
    scores = estimate(finite_numbers(ok["test_metric"]))
    params = first_present(ok["params"])
    reached = finite_numbers(ok["time_to_target_s"])
    batch = first_present(group["batch_size"])
    return {
        "cell": group["cell"].iloc[0],
        "model": first_present(group["model_label"]),
        "dataset": first_present(group["dataset_label"]),
        "optimizer": first_present(group["optimizer_label"]),
        "batch": int(batch) if batch is not None else None,
        "metric": first_present(group["metric"]),
        "metric_mode": first_present(group["metric_mode"]),
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
        "memory_kind": first_present(ok["memory_kind"]),
        "params": int(params) if params is not None else None,
        "train_s": _mean(ok["train_time_s"]),
        "target": first_present(group["target"]),
        "time_to_target_s": statistics.fmean(reached) if reached else math.nan,
        "reached_target": len(reached),
        "trials": first_present(group["trials"]),
        "device": first_present(group["device"]),
        "disturbed": sum(bool(v) for v in ok["timing_disturbed"] if not missing(v)),
        "timing_notes": _timing_notes(ok),
    }


def _settings_column(summary, runs) -> list[str] | None:
    """A ``settings`` value per row when two cells would otherwise render identically, else None."""
    identity = dict(zip(runs["cell"], runs[CELL_SETTINGS], strict=True))
    shown = summary[["model", "dataset", "optimizer", "batch"]].itertuples(index=False)
    alike: dict[tuple, list[int]] = {}  # rendered labels -> row positions
    for position, labels in enumerate(shown):
        alike.setdefault(tuple("" if missing(v) else str(v) for v in labels), []).append(position)
    if all(len(positions) == 1 for positions in alike.values()):
        return None
    column = [""] * len(summary)
    for positions in alike.values():
        if len(positions) > 1:
            texts = differences([json.loads(identity[summary["cell"].iloc[p]]) for p in positions])
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
    reached the target, ``disturbed`` the ok runs whose own timing said it
    cannot be trusted (see :mod:`harness.reporting.frames`) and
    ``timing_notes`` their distinct reasons: every table marks that cell's
    speed columns. ``settings`` appears only when two cells share every
    label, so no two rows of a table read the same.
    """
    import pandas as pd

    from tests.reporting.legacy.stats import rank_cells

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


def _row_order(summary) -> list[int]:
    """Rows by dataset, model, optimizer, batch size, then the settings that tell cells apart."""
    columns = [c for c in ("dataset", "model", "optimizer", "batch", "settings") if c in summary]
    return sorted(range(len(summary)), key=lambda i: [natural_key(summary[c].iloc[i]) for c in columns])


#: Config fields that make a cell's model, and its optimizer (schedule included): what competes in a workload.
MODEL_FIELDS = ("model", "model_params", "model_label")


OPTIMIZER_FIELDS = ("optimizer", "optimizer_params", "optimizer_label", "schedule", "schedule_params")


def _workload_key(settings: dict, metric, compete: tuple[str, ...]) -> str:
    """Everything that must be equal for cells to be compared: the settings but the competing fields, and the metric."""
    return canonical({**{k: v for k, v in settings.items() if k not in compete}, "metric": metric})


def _time_or_none(status, seconds):
    return float(seconds) if status == "ok" and isinstance(seconds, numbers.Real) and not missing(seconds) else None


def cell_table(runs):
    """One row per cell with what :mod:`tests.reporting.legacy.stats` needs to compare cells.

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
        metric = first_present(group["metric"])
        target = first_present(group["target"])
        rows.append(
            {
                "cell": cell,
                "settings": settings,
                "workload": _workload_key(settings, metric, MODEL_FIELDS + OPTIMIZER_FIELDS),
                "problem": _workload_key(settings, metric, OPTIMIZER_FIELDS),
                "optimizer_key": canonical({k: settings.get(k) for k in OPTIMIZER_FIELDS}),
                "model": first_present(group["model_label"]),
                "dataset": first_present(group["dataset_label"]),
                "optimizer": first_present(group["optimizer_label"]),
                "mode": first_present(group["metric_mode"]),
                "values": finite_numbers(group.loc[group["status"] == "ok", "test_metric"]),
                "target": target,
                "times": []
                if target is None
                else [_time_or_none(*pair) for pair in zip(group["status"], group["time_to_target_s"], strict=True)],
            }
        )
    columns = ["cell", "settings", "workload", "problem", "optimizer_key", "model", "dataset", "optimizer"]
    return pd.DataFrame(rows, columns=[*columns, "mode", "values", "target", "times"])
