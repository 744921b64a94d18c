"""Records -> one row per run: status, flattened config, scalar results, ``test_<metric>``, timing and provenance.

The frame every table, figure and export starts from. pandas is imported
inside the functions, so importing a report module stays cheap.

Timing trust: a record's ``results["timing"]`` holds the load average at the
run's start and end, its CPU time against wall time and the coefficient of
variation of its step times, as ``timing_<name>`` columns, and ``disturbed``,
the reasons the run judged its own timing untrustworthy (load above the cores
available, step-time CV above 0.5, threads waiting for a core over a quarter of their ready time;
the thresholds are the measuring side's). ``timing_disturbed`` is True when
there is a reason, ``timing_notes`` joins them. Records from before timing was
measured are not marked: False, and empty ``timing_*`` numbers.
"""

from __future__ import annotations

import hashlib
import json

from harness.records import canonical, cell_identity, label
from harness.reporting.values import missing
from harness.specs import KINDS

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

#: The measurements of ``results["timing"]``, each a ``timing_<name>`` column (see the module docstring).
TIMING_FIELDS = (
    "load_start",
    "load_end",
    "cores",
    "threads",
    "cpu_time_s",
    "wall_time_s",
    "cpu_share",
    "run_queue_wait",
    "step_time_cv",
)

#: The columns saying whether a run's timing can be trusted, and why not.
TIMING_COLUMNS = (*(f"timing_{name}" for name in TIMING_FIELDS), "timing_disturbed", "timing_notes")


#: The JSON of a cell's identity (config without seed, plus device); summary_frame reads it back.
CELL_SETTINGS = "cell_settings"


def timing_reasons(record: dict) -> list[str]:
    """Why a run's timing cannot be trusted, as the run recorded it; empty when clean or not measured."""
    timing = (record.get("results") or {}).get("timing")
    reasons = timing.get("disturbed") if isinstance(timing, dict) else None
    if isinstance(reasons, str):  # a hand-written record may hold one reason as a string
        reasons = [reasons]
    return [str(reason) for reason in reasons or () if reason]


def _timing_columns(record: dict) -> dict:
    timing = (record.get("results") or {}).get("timing")
    timing = timing if isinstance(timing, dict) else {}
    row = {f"timing_{name}": timing.get(name) if _is_scalar(timing.get(name)) else None for name in TIMING_FIELDS}
    reasons = timing_reasons(record)
    return {**row, "timing_disturbed": bool(reasons), "timing_notes": "; ".join(reasons)}


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _flat_config(config: dict) -> dict:
    """Config fields as columns; parameter dicts become ``optimizer_params.lr`` style columns."""
    row = {}
    for name, value in config.items():
        if isinstance(value, dict):
            for key, inner in value.items():
                row[f"{name}.{key}"] = inner if _is_scalar(inner) else json.dumps(inner, default=str)
        else:
            row[name] = value if _is_scalar(value) else json.dumps(value, default=str)
    for part in KINDS:  # hand-made or old records may lack labels
        row[f"{part}_label"] = label(row, part)
    return row


def _put(row: dict, prefix: str, name: str, value) -> None:
    """Add a column; a name already taken (``seed``, ``precision``...) gets the section's prefix."""
    row[f"{prefix}_{name}" if name in row or name in CONFIG_COLUMNS else name] = value


def _run_row(record: dict) -> dict:
    identity = canonical(cell_identity(record))
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
    row.update(_timing_columns(record))
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
    expected = (*expected, *TIMING_COLUMNS, *PROVENANCE_COLUMNS)
    seen = {}  # ordered union: the expected columns first, then whatever the records brought
    for name in (*expected, *(name for row in rows for name in row)):
        seen.setdefault(name, None)
    return pd.DataFrame(rows).reindex(columns=list(seen))


def runs_export(records: list[dict]):
    """One row per run with every scalar config, result and provenance field: what csv and parquet hold.

    Columns holding mixed kinds of values (a number in one record, a string
    in another) become strings, so Parquet can type every column.
    """
    frame = runs_frame(records).drop(columns=[CELL_SETTINGS])
    for name in frame.columns:
        values = frame[name].dropna()
        if frame[name].dtype == object and len({type(v) for v in values}) > 1:
            frame[name] = frame[name].map(lambda v: v if missing(v) else str(v))
    return frame
