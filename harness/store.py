"""Run records <-> files under a results directory.

One JSON file per run, ``<root>/runs/<config-key>.json``. Writes go to a
unique temporary file in the same folder, are fsynced, then renamed over the
target, so a reader (or a sweep killed mid-write) never sees half a record and
parallel writers never clobber each other. Records are plain JSON, never
pickles: reading a results directory never runs code. Nothing here imports torch.

What a record holds and means is :mod:`harness.records`'s to say; this module only
moves records between memory and files.

Two sweeps may write into one results directory at once: :meth:`Store.claim`
lets only one of them train a cell at a time.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path

from harness import records

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, so no claims
    fcntl = None


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
        return record if records.problem(record) is None else None

    def is_finished(self, key: str) -> bool:
        return records.is_final(self.read(key))

    def load_all(self) -> tuple[list[dict], list[tuple[Path, str]]]:
        """Every readable record, and ``(path, problem)`` for each file that is not one."""
        found, problems = [], []
        if not self.runs.is_dir():
            return found, problems
        for path in sorted(self.runs.glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                problems.append((path, f"unreadable record: {exc}"))
                continue
            problem = records.problem(record)
            if problem is not None:
                problems.append((path, f"not a harness run record: {problem}"))
                continue
            found.append(record)
        return found, problems

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
