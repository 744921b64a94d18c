"""Run records <-> files under a results directory.

One JSON file per run, ``<root>/runs/<config-key>.json``. Writes go to a
unique temporary file in the same folder, are fsynced, then renamed over the
target, so a reader (or a sweep killed mid-write) never sees half a record and
parallel writers never clobber each other. Records are plain JSON, never
pickles: reading a results directory never runs code. Nothing here imports torch.

A file is read only when it is a regular file of at most :data:`MAX_RECORD_BYTES`,
and used only when it is a valid record whose key is both its file name and
its config's hash: a copied, edited or hollow file is a broken one (reported,
its cell trained again), and no run is counted twice. A file that exists but
cannot be read is never replaced (:class:`UnreadableRecord`).

What a record holds and means is :mod:`harness.records`'s to say; this module only
moves records between memory and files.

Two sweeps may write into one results directory at once: :meth:`Store.claim`
lets only one of them train a cell at a time.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import stat
import sys
import tempfile
from pathlib import Path

from harness import records
from harness.errors import HarnessError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, so no claims
    fcntl = None

#: A record is a few KB; a file past this size is refused unread (a dump, a link to a device, a runaway file).
MAX_RECORD_BYTES = 16 * 2**20

#: Where a sweep keeps records it could not write under ``runs/``: one JSON object a line (see :meth:`Store.keep`).
UNSAVED_NAME = "unsaved-records.jsonl"


class NotARecord(ValueError):
    """A file under ``runs/`` that is not a valid record of its cell; its text says why, for a warning."""


class UnreadableRecord(HarnessError):
    """A record file that exists but cannot be read: it may be someone else's finished run, so it is never replaced."""

    def __init__(self, path: Path, error: OSError):
        self.path = path
        self.error = os_reason(error)
        super().__init__(f"{path} exists but cannot be read ({self.error}); fix its permissions or move it away")


def os_reason(error: OSError) -> str:
    """'PermissionError: Permission denied': what went wrong, without the path the caller names anyway."""
    return f"{type(error).__name__}: {error.strerror or error}"


def read_limited(path: Path, limit: int | None = None) -> bytes:
    """The bytes of the regular file at ``path`` (links followed), refusing anything else or anything past ``limit``.

    Never blocks on a FIFO, never reads a device: the type is checked before
    opening (non-blocking) and again on the open file. ``limit`` defaults to
    :data:`MAX_RECORD_BYTES`; at most one byte more is ever read.
    """
    limit = MAX_RECORD_BYTES if limit is None else limit
    _check_regular(os.stat(path), limit)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        _check_regular(os.fstat(fd), limit)  # swapped between the stat and the open
        chunks, left = [], limit + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise NotARecord(f"larger than {limit / 2**20:g} MB: not a record")
    return data


def _check_regular(info: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise NotARecord("not a regular file (a FIFO, a device or a directory): not read")
    if info.st_size > limit:
        raise NotARecord(f"{info.st_size:,} bytes, larger than {limit / 2**20:g} MB: not a record, not read")


def key_problem(record: dict, path: Path) -> str | None:
    """Why a well-formed record is not the record of the cell its file names, or None when it is."""
    if record["key"] != path.stem:
        return f"its key {record['key']} is not its file name: a copy of another run's record?"
    expected = records.config_key(record["config"])
    if expected != record["key"]:
        return f"its key {record['key']} is not its config's ({expected}): edited, or copied from another run?"
    return None


class Store:
    """The records of one results directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.runs = self.root / "runs"

    def path_for(self, key: str) -> Path:
        return self.runs / f"{key}.json"

    def write(self, record: dict) -> Path:
        """Atomically write ``record`` under its key and return the path.

        The file gets the mode any new file gets (0666 less the umask), so a
        results folder a group shares stays readable to all of it.
        """
        self.runs.mkdir(parents=True, exist_ok=True)
        target = self.path_for(record["key"])
        tmp, fd = self._new_temporary(record["key"])
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle, indent=1, sort_keys=True, allow_nan=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target

    def _new_temporary(self, key: str) -> tuple[Path, int]:
        """A new file of a unique name beside the records, opened for writing (the umask applies, unlike mkstemp)."""
        while True:
            tmp = self.runs / f".{key}.{secrets.token_hex(6)}.tmp"
            try:
                return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
            except FileExistsError:
                continue

    def load(self, path: Path) -> dict:
        """The record in ``path``, checked: NotARecord when it is not a valid record of the cell it names.

        FileNotFoundError when absent; any other OSError when it cannot be read.
        """
        data = read_limited(path)
        for exact in (False, True):  # a record refused is read again exactly: orjson reads huge integers as floats
            try:
                record = records.parse(data, exact=exact)
            except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, nested past the parser's depth
                raise NotARecord(f"unreadable record: {str(exc)[:200] or type(exc).__name__}") from None
            problem = records.problem(record) or key_problem(record, path)
            if problem is None:
                return record
        raise NotARecord(f"not a harness run record: {problem}")

    def inspect(self, key: str) -> tuple[dict | None, str | None]:
        """``(record, None)``; ``(None, None)`` when absent; ``(None, why)`` when the file is not a valid record.

        Raises UnreadableRecord when the file exists but cannot be read.
        """
        path = self.path_for(key)
        try:
            return self.load(path), None
        except FileNotFoundError:
            return None, None
        except NotARecord as exc:
            return None, str(exc)
        except OSError as exc:
            raise UnreadableRecord(path, exc) from None

    def read(self, key: str) -> dict | None:
        """The record for ``key``, or None when absent or not a valid record (the cell is then trained again).

        Raises UnreadableRecord when the file exists but cannot be read: such a file is never replaced.
        """
        return self.inspect(key)[0]

    def is_finished(self, key: str) -> bool:
        return records.is_final(self.read(key))

    def load_all(self) -> tuple[list[dict], list[tuple[Path, str]]]:
        """Every valid record, once, and ``(path, problem)`` for each file that is not one."""
        found, problems, seen = [], [], set()
        if not self.runs.is_dir():
            return found, problems
        for path in sorted(self.runs.glob("*.json")):
            try:
                record = self.load(path)
            except FileNotFoundError:
                if path.is_symlink():
                    problems.append((path, "a link to a file that does not exist"))
                continue  # removed since the listing
            except NotARecord as exc:
                problems.append((path, str(exc)))
                continue
            except OSError as exc:
                problems.append((path, f"cannot be read: {os_reason(exc)}"))
                continue
            if record["key"] in seen:
                problems.append((path, f"a second copy of run {record['key']}: counted once"))
                continue
            seen.add(record["key"])
            found.append(record)
        return found, problems

    def keep(self, record: dict) -> str:
        """Keep a record that could not be written under ``runs/``: where it went (a file, or 'stderr').

        Appended as one JSON line to :data:`UNSAVED_NAME` beside the results,
        else in the current folder, else in the system's temporary folder, else
        printed to stderr: a run that trained is never lost for want of a folder.
        """
        line = json.dumps(record, sort_keys=True, allow_nan=True) + "\n"
        for folder in (self.root, Path.cwd(), Path(tempfile.gettempdir())):
            path = folder / UNSAVED_NAME
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
                try:
                    data = line.encode()
                    while data:  # O_APPEND: each write lands at the end, whoever else appends
                        data = data[os.write(fd, data) :]
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError:
                continue
            return str(path.absolute())
        print(f"unsaved record: {line}", end="", file=sys.stderr, flush=True)
        return "stderr"

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
        except OSError:  # runs/ became unwritable: the file stays, harmless once unlocked (the next claim locks it)
            pass
        finally:
            os.close(self.fd)
            self.fd = None
