"""Run records <-> files under a results directory.

One JSON file per run, ``<root>/runs/<config-key>.json``. Writes go to a
unique temporary file in the same folder, are fsynced, then renamed over the
target, so a reader (or a sweep killed mid-write) never sees half a record and
parallel writers never clobber each other. Records are plain JSON, never
pickles: reading a results directory never runs code. Nothing here imports torch.

A record is a dict with these top-level keys: ``schema``, ``key``, ``status``
(``ok``, ``failed``, ``oom``, ``diverged``, ``timeout`` when it ran past the
sweep's time limit, or ``crashed`` when the worker process running it died),
``reason``, ``traceback``, ``suite``, ``config`` (the resolved RunConfig),
``task``, ``metric``, ``metric_mode`` (``max``/``min``), ``results`` (the
measurements), ``provenance`` and ``descriptions`` (name, plugin and
description of the model, dataset and optimizer). A run retried at a smaller
batch size after running out of memory has ``retry_of`` (the key of the run
that did), and that run's record has ``retried_as`` (``key`` and ``batch_size``).

Two sweeps may write into one results directory at once: :meth:`Store.claim`
lets only one of them train a cell at a time.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, so no claims
    fcntl = None

SCHEMA_VERSION = 1

#: Statuses that mean the cell is done; anything else (``failed``, ``oom``, ``timeout``, ``crashed``) is
#: retried on resume: the cause may be gone (memory freed, a bug fixed, a longer time limit).
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
        """The record for ``key``, or None when absent or not a record (the cell is then trained again)."""
        try:
            record = json.loads(self.path_for(key).read_text())
        except (OSError, ValueError):  # missing, truncated, binary garbage (UnicodeDecodeError is a ValueError)
            return None
        return record if _problem(record) is None else None

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
            problem = _problem(record)
            if problem is not None:
                problems.append((path, f"not a harness run record: {problem}"))
                continue
            records.append(record)
        return records, problems

    def claim(self, key: str) -> Claim | None:
        """The exclusive right to train ``key`` now, or None while another process holds it.

        A claim is an advisory lock (``flock``) on ``runs/.<key>.lock``, so the
        kernel drops it when its holder dies, even SIGKILLed: a dead sweep never
        leaves a stale claim. The file holds the holder's host and pid, for people.
        """
        self.runs.mkdir(parents=True, exist_ok=True)
        path = self.runs / f".{key}.lock"
        if fcntl is None:  # pragma: no cover
            return Claim(path, None)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            mine = os.fstat(fd)
            if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
                os.ftruncate(fd, 0)
                os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
                return Claim(path, fd)
            os.close(fd)  # its holder released (and removed) the file between our open and lock: take the new one

    def holder(self, key: str) -> str:
        """Who holds the claim on ``key``, as its lock file says: 'host pid', or '' if unknown."""
        try:
            return (self.runs / f".{key}.lock").read_text().strip()
        except (OSError, ValueError):
            return ""


class Claim:
    """A held claim on one cell (see :meth:`Store.claim`); :meth:`release` once its record is written."""

    def __init__(self, path: Path, fd: int | None):
        self.path, self.fd = path, fd

    def release(self) -> None:
        """Remove the lock file while still holding the lock, then unlock.

        Removing it first is safe: a process that opened the old file and locks
        it after us sees that it is no longer the file at that path, and retries.
        """
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)
            self.fd = None


def _problem(record) -> str | None:
    """Why a parsed JSON value is not a run record, or None when it is one."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    for name, kind in (("key", str), ("status", str), ("config", dict)):
        if not isinstance(record.get(name), kind):
            return f"no {name!r} {kind.__name__}"
    if not isinstance(record.get("results", {}), dict):
        return "'results' is not an object"
    return None
