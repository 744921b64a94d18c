"""The one owner of a run record's shape and meaning: what a record holds, which statuses are final,
which runs form one cell, and when a parsed file is a record at all.

A record is a plain JSON object, written by :mod:`harness.store`, read by
every table, comparison and resume. Its top-level keys: ``schema`` (see
:data:`SCHEMA_VERSION`), ``key`` (the config's content hash), ``status`` (one
of :data:`STATUSES`), ``reason`` and ``traceback`` (why a run did not end
``ok``), ``suite``, ``config`` (the resolved RunConfig), ``task``,
``metric``, ``metric_mode`` (``max``/``min``), ``synthetic``, ``results``
(the measurements), ``provenance`` and ``descriptions`` (name, plugin and
description of the model, dataset and optimizer). A run retried at a smaller
batch size after running out of memory has ``retry_of`` (the key of the run
that did), and that run's record has ``retried_as`` (``key`` and
``batch_size``). A tuned run has ``tuning`` (trials, grid, choice).
``results["timing"]`` says whether the run's timing can be trusted (see
:mod:`harness.train.noise`); ``provenance`` names the CPU ``threads`` it
trained with and ``threads_from`` (why that many), and ``dropped_plugins``
when a plugin's ``harness_run_callbacks`` was left out of it.

Nothing here imports torch: a report or a resume works on a machine without it.
"""

from __future__ import annotations

import hashlib
import itertools
import json

from harness.provenance import run_provenance

try:
    import orjson  # the [fast] extra: parses a record about twice as fast
except ImportError:  # pragma: no cover - exercised by patching orjson to None
    orjson = None

SCHEMA_VERSION = 1

#: ``ok``; ``failed`` (it raised); ``oom`` (out of memory); ``diverged`` (the loss became non-finite);
#: ``timeout`` (past the sweep's time limit); ``crashed`` (the process running it died); ``pruned`` (a tuning
#: trial stopped early because its validation curve trailed the others', :mod:`harness.train.pruning`);
#: ``incompatible`` (the model cannot take the dataset's inputs: :class:`harness.specs.Incompatible`).
STATUSES = ("ok", "failed", "oom", "diverged", "timeout", "crashed", "pruned", "incompatible")

#: Statuses that mean the cell is done; anything else is trained again on resume: the cause may be gone
#: (memory freed, a bug fixed, a longer time limit).
FINAL_STATUSES = ("ok", "diverged", "pruned", "incompatible")


def new_record(config, suite: str | None) -> dict:
    """A run's record before anything is measured: the one shape every launcher writes, whatever happens."""
    return {
        "schema": SCHEMA_VERSION,
        "key": config.key(),
        "suite": suite,
        "status": "ok",
        "reason": None,
        "traceback": None,
        "config": config.as_dict(),
        "results": {},
    }


def lost_record(plugins, config, suite: str | None, started, status: str, reason: str, **where) -> dict:
    """The record of a run whose process ended without sending one (died, stopped, failed to start).

    The runner's shape, so tables group it with its siblings; ``where`` is
    what is known of where it ran (pid, device, threads, ...).
    """
    record = new_record(config, suite)
    record.update(status=status, reason=reason)
    record["provenance"] = run_provenance(plugins, config, started, **where)
    return record


def is_final(record: dict | None) -> bool:
    """Whether a record finishes its cell (reused on resume, never trained again)."""
    return record is not None and record.get("status") in FINAL_STATUSES


def settled(record: dict) -> bool:
    """Whether a record needs no more work: final, or out of memory with a retry at a smaller batch size."""
    return is_final(record) or bool(record.get("retried_as"))


def problem(record) -> str | None:
    """Why a parsed JSON value is not a run record, or None when it is one.

    Checks shape and types only (a report must never trip over a metric
    ``"abc"``); whether the key belongs to the config and the file is the
    store's to check.
    """
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    schema = record.get("schema")
    if schema not in KNOWN_SCHEMAS or isinstance(schema, bool):
        return f"schema version {schema!r} is not one this harness reads ({', '.join(map(str, KNOWN_SCHEMAS))})"
    if not isinstance(record.get("key"), str) or not record["key"]:
        return "no 'key' string"
    if record.get("status") not in STATUSES:
        return f"status {record.get('status')!r} is not one of {', '.join(STATUSES)}"
    return _fields_problem(record, TOP_FIELDS, "") or _config_problem(record.get("config")) or _results_problem(record)


def _config_problem(config) -> str | None:
    if not isinstance(config, dict):
        return "no 'config' object"
    for name in REQUIRED_CONFIG:
        if name not in config:
            return f"config has no {name!r}"
    return _fields_problem(config, CONFIG_FIELDS, "config.")


def _results_problem(record: dict) -> str | None:
    if "results" not in record:
        return "an ok record without 'results'" if record["status"] == "ok" else None
    results = record["results"]
    if not isinstance(results, dict):
        return "'results' is not an object"
    if record["status"] == "ok" and "test_metric" not in results:
        return "an ok record without results.test_metric"
    found = _fields_problem(results, RESULT_FIELDS, "results.")
    if found is None and "test_metrics" in results:
        found = _fields_problem(results["test_metrics"], {}, "results.test_metrics.", rest=_number)
    curve = results.get("val_curve", ())
    if found is None and not _plain_points(curve):
        for point in curve:
            found = found or _fields_problem(point, {}, "results.val_curve[].", rest=_number)
    losses = results.get("train_losses", ())
    if found is None and not _plain_numbers(losses):
        for loss in losses:
            found = found or (None if _number(loss) else f"results.train_losses holds {_shown(loss)}, not a number")
    return found


_PLAIN_NUMBER_TYPES = frozenset((int, float, type(None)))


def _plain_numbers(values) -> bool:
    """Whether every value is a JSON number or null, by exact type: the fast check of long lists (in C).

    The slow check says why not."""
    return set(map(type, values)) <= _PLAIN_NUMBER_TYPES


def _plain_points(curve) -> bool:
    """Whether ``curve`` is a list of objects of numbers or nulls, checked fast; the slow check says why not."""
    try:
        return _plain_numbers(itertools.chain.from_iterable(map(dict.values, curve)))
    except TypeError:  # not a list, or a point that is not an object
        return False


def _fields_problem(data, kinds: dict, prefix: str = "", rest=None) -> str | None:
    """The first field of ``data`` whose value ``kinds`` (name -> check) refuses; ``rest`` checks the others."""
    if not isinstance(data, dict):
        return f"{prefix.rstrip('.')} is not an object"
    for name, value in data.items():
        check = kinds.get(name, rest)
        if check is not None and not check(value):
            return f"{prefix}{name} is {_shown(value)}, not {check.__doc__}"
    return None


def _shown(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _number(value) -> bool:
    """a number or null"""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _integer(value) -> bool:
    """an integer"""
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_integer(value) -> bool:
    """an integer or null"""
    return value is None or _integer(value)


def _text(value) -> bool:
    """a string"""
    return isinstance(value, str)


def _optional_text(value) -> bool:
    """a string or null"""
    return value is None or isinstance(value, str)


def _optional_flag(value) -> bool:
    """true, false or null"""
    return value is None or isinstance(value, bool)


def _object(value) -> bool:
    """an object"""
    return isinstance(value, dict)


def _list(value) -> bool:
    """a list"""
    return isinstance(value, list)


def _numbers(value) -> bool:
    """an object of numbers"""
    return isinstance(value, dict) and all(_number(v) for v in value.values())


def _devices(value) -> bool:
    """a count or a string"""
    return isinstance(value, str) or _integer(value)


def _mode(value) -> bool:
    """'max', 'min' or null"""
    return value in ("max", "min", None)


def _retried_as(value) -> bool:
    """an object with a 'key' string and a 'batch_size' integer"""
    return isinstance(value, dict) and _text(value.get("key")) and _integer(value.get("batch_size"))


def _provenance(value) -> bool:
    """an object whose 'device' is a string or null"""
    return isinstance(value, dict) and _optional_text(value.get("device"))


#: Schema versions this code reads; a record of any other is refused (its fields may mean something else).
KNOWN_SCHEMAS = (SCHEMA_VERSION,)

#: Top-level fields and how each is checked when present (``schema``, ``key``, ``status`` are checked first).
TOP_FIELDS = {
    "reason": _optional_text,
    "traceback": _optional_text,
    "suite": _optional_text,
    "task": _optional_text,
    "metric": _optional_text,
    "metric_mode": _mode,
    "synthetic": _optional_flag,
    "provenance": _provenance,
    "descriptions": _object,
    "retry_of": _text,
    "retried_as": _retried_as,
    "tuning": _object,
}

#: Config fields every record has; the rest of a config is vouched for by its key (see :mod:`harness.store`).
REQUIRED_CONFIG = ("model", "dataset", "optimizer", "seed")

#: The config fields tables read, and what each must hold.
CONFIG_FIELDS = {
    **dict.fromkeys(("model", "dataset", "optimizer"), _text),
    "seed": _integer,
    **dict.fromkeys(("model_label", "dataset_label", "optimizer_label", "schedule", "precision"), _text),
    **dict.fromkeys(("max_epochs", "max_steps", "batch_size", "warmup_steps"), _integer),
    **dict.fromkeys(("model_params", "dataset_params", "optimizer_params", "schedule_params"), _object),
    "early_stopping": _optional_integer,
    "target": _number,
    "devices": _devices,
    "deterministic": _optional_flag,
}

#: Measurements and what each must hold; others (added by later versions) are left as they are.
RESULT_FIELDS = {
    **dict.fromkeys(
        (
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
            "warmup_steps",
            "step_time_median_ms",
            "step_time_p90_ms",
            "peak_memory_mb",
            "cuda_max_reserved_mb",
            "params",
            "trainable_params",
            "time_to_target_s",
            "epoch_to_target",
            "test_time_s",
            "eval_time_s",
            "compile_time_s",
            "world_size",
            "flops_per_sample",
            "achieved_flops_per_s",
            "mfu",
        ),
        _number,
    ),  # fmt: skip
    "memory_kind": _optional_text,
    "engine": _optional_text,
    "test_metrics": _object,
    "val_curve": _list,
    "train_losses": _list,
}


def parse(data: bytes, exact: bool = False):
    """The JSON value in ``data``: orjson where installed, the standard library where it is not, refuses (NaN,
    Infinity, which records written by ``json`` may hold) or ``exact`` is asked for: orjson reads an integer
    past 64 bits as a float. Errors are ValueError."""
    if orjson is not None and not exact:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def config_key(config: dict) -> str:
    """A run's key: the content hash of its config as the record holds it (:meth:`harness.config.RunConfig.key`).

    Recomputed from a record read back, it proves the record belongs to its
    cell: a copied or edited record no longer matches.
    """
    try:
        blob = json.dumps(config, sort_keys=True, default=str)
    except (TypeError, ValueError):  # keys of mixed types cannot be sorted: no run config has them
        return ""
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def without_seed(config: dict | None) -> dict:
    """A config without its seed: what the runs of one cell share."""
    return {k: v for k, v in (config or {}).items() if k != "seed"}


def run_device(record: dict) -> str | None:
    """The device a run trained on, as its provenance names it."""
    return (record.get("provenance") or {}).get("device")


def cell_identity(record: dict) -> dict:
    """What makes runs one cell: the whole config but the seed, and the device they ran on.

    Runs with different epochs, learning rates, precisions or hardware are
    never averaged together.
    """
    return {**without_seed(record.get("config")), "device": run_device(record)}


def canonical(data) -> str:
    """Sorted-key JSON: equal settings give equal text, so it can key a dict or a hash."""
    return json.dumps(data, sort_keys=True, default=str)


def label(config: dict, part: str) -> str | None:
    """How tables name a run's ``part`` (a :data:`harness.specs.KINDS`): its label, or its name in older records."""
    return config.get(f"{part}_label") or config.get(part)
