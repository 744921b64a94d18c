"""Run records <-> files under a results directory.

One JSON file per run, ``<root>/runs/<config-key>.json``. Writes go to a
unique temporary file in the same folder, are fsynced, then renamed over the
target, so a reader (or a sweep killed mid-write) never sees half a record and
parallel writers never clobber each other. Records are plain JSON, never
pickles. Nothing here imports torch.

A record is a dict with these top-level keys: ``schema``, ``key``, ``status``
(``ok``, ``failed``, ``oom``, ``diverged``, or ``crashed`` when the worker
process running it died), ``reason``, ``traceback``, ``suite``,
``config`` (the resolved RunConfig), ``task``, ``metric``, ``metric_mode``
(``max``/``min``), ``results`` (the measurements), ``provenance`` and
``descriptions`` (name, plugin and description of the model, dataset and optimizer).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

SCHEMA_VERSION = 1

#: Statuses that mean the cell is done; anything else (``failed``, ``oom``, ``crashed``) is retried on resume.
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


class Store:
    """The records of one results directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.runs = self.root / "runs"

    def path_for(self, key: str) -> Path:
        return self.runs / f"{key}.json"

    def write(self, record: dict) -> Path:
        """Atomically write ``record`` under its key and return the path."""
        self.runs.mkdir(parents=True, exist_ok=True)
        target = self.path_for(record["key"])
        fd, tmp = tempfile.mkstemp(prefix=f".{record['key']}.", suffix=".tmp", dir=self.runs)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle, indent=1, sort_keys=True, allow_nan=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def read(self, key: str) -> dict | None:
        """The record for ``key``, or None when absent or unreadable."""
        try:
            return json.loads(self.path_for(key).read_text())
        except (OSError, ValueError):
            return None

    def is_finished(self, key: str) -> bool:
        record = self.read(key)
        return record is not None and record.get("status") in FINAL_STATUSES

    def load_all(self) -> tuple[list[dict], list[tuple[Path, str]]]:
        """Every readable record, and ``(path, problem)`` for each file that is not one."""
        records, problems = [], []
        if not self.runs.is_dir():
            return records, problems
        for path in sorted(self.runs.glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                problems.append((path, f"unreadable record: {exc}"))
                continue
            if not isinstance(record, dict) or "key" not in record or "config" not in record:
                problems.append((path, "not a harness run record"))
                continue
            records.append(record)
        return records, problems
