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
import math
import numbers

try:
    import orjson
except ImportError:  # pragma: no cover - the [fast] extra is not installed
    orjson = None

from harness.records import canonical, cell_identity, label
from harness.reporting.columnar import from_arrow, rows_arrow, value_kinds
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
    *("energy_j", "energy_eval_j", "avg_power_w", "samples_per_j", "energy_source", "energy_absent"),
)

#: The record's ``results.energy`` entry (harness.train.energy) -> the columns it becomes.
ENERGY_COLUMNS = {"train_j": "energy_j", "eval_j": "energy_eval_j", "avg_power_w": "avg_power_w",
                  "samples_per_j": "samples_per_j", "source": "energy_source"}  # fmt: skip


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


#: What the HTML page shows beyond the tables, one text per run (JSON but the traceback); exports leave them out.
#: ``detail.curve`` is ``[[epoch, val_metric], ...]``, ``detail.descriptions`` the record's ``descriptions``,
#: ``detail.plugins`` its provenance's plugin versions.
DETAIL_COLUMNS = ("detail.curve", "detail.descriptions", "detail.traceback", "detail.plugins")


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


_SCALARS = (str, int, float, bool, type(None))


def _is_scalar(value) -> bool:
    return type(value) in _SCALARS or isinstance(value, _SCALARS)  # the exact types of parsed JSON first: fast


_CONFIG_NAMES = frozenset(CONFIG_COLUMNS)


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


def _curve_text(curve) -> str | None:
    """A run's validation curve as compact JSON ``[[epoch, metric], ...]``: the points that have both, finite."""
    if not isinstance(curve, list):
        return None
    try:
        pairs = [(point["epoch"], point["val_metric"]) for point in curve]
    except (TypeError, KeyError):  # a point that is not an object, or lacks one of them
        pairs = [(point.get("epoch"), point.get("val_metric")) for point in curve if isinstance(point, dict)]
    kept = [
        [epoch, value]
        for epoch, value in pairs
        if type(epoch) is int and (type(value) is int or (type(value) is float and value - value == 0))  # finite
    ]
    if len(kept) < len(pairs):  # numbers of other types (numpy's, in a record made in memory) are numbers too
        kept = [
            [int(epoch), float(value)]
            for epoch, value in pairs
            if isinstance(epoch, int) and not isinstance(epoch, bool) and _finite_number(value)
        ]
    return _compact_json(kept) if kept else None


def _finite_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _compact_json(value) -> str:
    """JSON without spaces, keys sorted: orjson's when installed (ten times faster), else the standard library's."""
    if orjson is not None:
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # a value orjson cannot write (an integer past 64 bits): the standard library can
            pass
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _json_text(value) -> str | None:
    return _compact_json(value) if value else None


def _details(record: dict) -> dict:
    """The :data:`DETAIL_COLUMNS` of one run."""
    results = record.get("results") or {}
    traceback = record.get("traceback")
    return {
        "detail.curve": _curve_text(results.get("val_curve")),
        "detail.descriptions": _json_text(record.get("descriptions")),
        "detail.traceback": traceback if isinstance(traceback, str) and traceback else None,
        "detail.plugins": _json_text((record.get("provenance") or {}).get("plugins")),
    }


def run_row(record: dict) -> dict:
    """One run as a row of the runs frame: every scalar it holds, flattened, and its :data:`DETAIL_COLUMNS`."""
    identity = canonical(cell_identity(record))
    results = record.get("results") or {}
    row = {
        "key": record.get("key"),
        "cell": hashlib.sha256(identity.encode()).hexdigest()[:12],
        CELL_SETTINGS: identity,
        **{name: record.get(name) for name in RECORD_COLUMNS[2:]},
    }
    row["synthetic"] = bool(row["synthetic"])
    row["trials"] = (record.get("tuning") or {}).get("trials")  # points tried per study before this run was chosen
    row["tuning"] = _json_text(record.get("tuning"))  # what it was chosen from: harness.reporting.tuned reads it
    row.update(_flat_config(record.get("config") or {}))
    if row["synthetic"] and "synthetic" not in str(row["dataset_label"]):
        row["dataset_label"] = f"{row['dataset_label']} (synthetic)"  # never mistaken for a real result
    _put_scalars(row, "results", results)
    energy = results.get("energy")
    if isinstance(energy, dict):
        row.update((column, energy.get(name)) for name, column in ENERGY_COLUMNS.items())
    for name, value in (results.get("test_metrics") or {}).items():
        row.setdefault(f"test_{name}", value)  # test_loss is already there from results
    row.update(_timing_columns(record))
    _put_scalars(row, "provenance", record.get("provenance") or {})
    row.update(_details(record))
    return row


def _put_scalars(row: dict, prefix: str, section: dict) -> None:
    """The scalar fields of a record's section as columns; a name already taken (``seed``, ``precision``...)
    gets the section's prefix."""
    for name, value in section.items():
        if type(value) in _SCALARS or isinstance(value, _SCALARS):
            row[f"{prefix}_{name}" if name in row or name in _CONFIG_NAMES else name] = value


def column_order(names) -> list[str]:
    """Columns in the one order every frame has: the expected ones, then the others sorted, the details last.

    Fixed by the names alone, never by which record came first, so a frame read
    from the run index and one built from the files list their columns alike.
    """
    expected = (*RECORD_COLUMNS[:2], CELL_SETTINGS, *RECORD_COLUMNS[2:], *CONFIG_COLUMNS, *RESULT_COLUMNS)
    expected = (*expected, *TIMING_COLUMNS, *PROVENANCE_COLUMNS)
    rest = sorted(set(names) - set(expected) - set(DETAIL_COLUMNS))
    return [*expected, *rest, *DETAIL_COLUMNS]


def rows_frame(rows: list[dict]):
    """The runs frame of rows made by :func:`run_row`, typed the way the run index stores it
    (:mod:`harness.reporting.columnar`)."""
    names = {name for row in rows for name in row}
    return from_arrow(rows_arrow(rows, column_order(names)))


def runs_frame(records: list[dict]):
    """One row per run: status, flattened config, scalar results, ``test_<metric>``, provenance and details.

    Lists (validation curves, loss histories) stay in the records but the
    curve's text in ``detail.curve``. Columns that tables rely on exist even
    when no record has them (NaN), so failed or partial records never break a table.
    """
    return rows_frame([run_row(record) for record in records])


def runs_export(runs):
    """The runs frame as csv and parquet hold it: every scalar config, result and provenance field, one row per run.

    Columns holding mixed kinds of values (a number in one record, a string
    in another) become strings, so Parquet can type every column.
    """
    frame = runs.drop(columns=[CELL_SETTINGS, *(c for c in DETAIL_COLUMNS if c in runs.columns)])
    for name in frame.columns:
        if frame[name].dtype == object and len(value_kinds(frame[name].tolist())) > 1:
            frame[name] = frame[name].map(lambda v: v if missing(v) else str(v))
    return frame
