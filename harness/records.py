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

Nothing here imports torch: a report or a resume works on a machine without it.
"""

from __future__ import annotations

import json

from harness.provenance import run_provenance

SCHEMA_VERSION = 1

#: ``ok``; ``failed`` (it raised); ``oom`` (out of memory); ``diverged`` (the loss became non-finite);
#: ``timeout`` (past the sweep's time limit); ``crashed`` (the process running it died).
STATUSES = ("ok", "failed", "oom", "diverged", "timeout", "crashed")

#: Statuses that mean the cell is done; anything else is trained again on resume: the cause may be gone
#: (memory freed, a bug fixed, a longer time limit).
FINAL_STATUSES = ("ok", "diverged")


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
    """Why a parsed JSON value is not a run record, or None when it is one."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    for name, kind in (("key", str), ("status", str), ("config", dict)):
        if not isinstance(record.get(name), kind):
            return f"no {name!r} {kind.__name__}"
    if not isinstance(record.get("results", {}), dict):
        return "'results' is not an object"
    return None


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
