"""The run index: the runs frame of a results directory, kept beside it so a second report reads only what changed.

``<root>/runs.index.parquet`` holds one row per file under ``runs/``: its name,
size, modification and change times and inode (its *signature*), why it is not
a valid record (or nothing), and its row of the runs frame
(:func:`harness.reporting.frames.run_row`). Reading a folder lists and stats
every file, takes the rows whose signature is unchanged from the index, and
reads, checks and turns into rows only the files that are new or changed,
several processes at once when there are many. The index is then rewritten.

The JSON records stay the source of truth; the index is derived and disposable:

- deleting it loses nothing (the next read rebuilds it);
- a stale one is detected file by file (a record rewritten is a new inode with
  a new time), and one that cannot be read, is not Parquet or was written by
  another version of this code (:func:`fingerprint`) is rebuilt whole;
- it is written to a temporary file and renamed over the old one, so two
  processes updating it at once each leave a complete index, never a torn one;
- a folder that cannot be written to is read all the same, without an index.

A frame read through the index and one built from the files are equal
(:mod:`harness.reporting.columnar`), so every report reads the same
either way.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import secrets
import stat
from pathlib import Path

from harness import records as records_module
from harness import store as store_module
from harness.reporting import columnar, frames

INDEX_NAME = "runs.index.parquet"

#: Below this many record files a folder is read without an index: reading them all takes less than
#: loading Parquet's reader (about 0.3 s), and a small folder stays as the sweep left it.
INDEX_FROM = 1_000

#: The columns that key an index row to its file, and the one saying why a file is not a valid record.
FILE = "index.file"
SIGNATURE = ("index.size", "index.mtime_ns", "index.ctime_ns", "index.ino")
PROBLEM = "index.problem"
INDEX_COLUMNS = (FILE, *SIGNATURE, PROBLEM)

#: Schema metadata holding the code's fingerprint; an index of another fingerprint is rebuilt.
FINGERPRINT_KEY = b"harness.index_fingerprint"

#: Files to read per extra reading process: below twice this, this process reads them all (a start costs 0.2 s).
PARALLEL_FROM = 2_000


def fingerprint() -> str:
    """A hash of the code that decides what a row holds and whether a file is a record.

    Any change to it (a new column, a stricter check) makes every index
    written before it stale, so an upgrade can never serve old rows.
    """
    digest = hashlib.sha256()
    for module in (frames, columnar, records_module, store_module):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def index_path(root) -> Path:
    return Path(root) / INDEX_NAME


def load_runs(root, details: bool = False, use_index: bool = True, columns=None):
    """``(runs, problems)``: the runs frame of every valid record under ``root``, each run once, and
    ``(path, problem)`` for every file under ``runs/`` that is not one.

    ``details`` keeps :data:`harness.reporting.frames.DETAIL_COLUMNS` (what the
    HTML page needs); ``use_index=False``, or a folder of fewer than
    :data:`INDEX_FROM` files, reads every file and leaves the index alone.
    ``columns`` (with ``key``) keeps only those: from a fresh index, only they are read.
    Rows are in file-name order, as :meth:`harness.store.Store.load_all` reads them.
    """
    import pandas as pd

    root = Path(root)
    listing = _listing(root / "runs")
    use_index = use_index and len(listing) >= INDEX_FROM
    old = _read_index(root, details, columns) if use_index else None
    fresh, stale = _split(listing, old)
    rewrite = use_index and (old is None or bool(stale) or len(fresh) != len(old))
    if rewrite and old is not None and (not details or columns):  # the new index needs every column it keeps
        old = _read_index(root, details=True)
        fresh, stale = _split(listing, old)
    if not rewrite and old is not None:
        return _split_problems(root, old, details, columns)  # nothing changed: the index as it was written
    new = _read_files(root, stale)  # in file-name order, as ``stale`` is
    if fresh is None or fresh.empty:
        arrow = new.select(_columns(new.column_names))
    else:  # the index's rows and the new ones, typed together (a column's kind may change with them)
        parts = [fresh, columnar.from_arrow(new)] if new.num_rows else [fresh]  # an empty one types columns float
        both = pd.concat(parts, ignore_index=True).sort_values(FILE, kind="stable")
        arrow = columnar.to_arrow(both.reset_index(drop=True).reindex(columns=_columns(both.columns)))
    if rewrite:
        _write_index(root, arrow)
    return _split_problems(root, columnar.from_arrow(arrow), details, columns)


def _columns(names) -> list[str]:
    present = [name for name in names if name not in INDEX_COLUMNS]
    return [*INDEX_COLUMNS, *frames.column_order(present)]


def _split_problems(root: Path, table, details: bool, columns=None):
    """The valid rows as a runs frame, and the problems of the others (a key seen twice counted once)."""
    valid = table[table[PROBLEM].isna()]
    duplicate = valid["key"].duplicated(keep="first")
    broken = table[table[PROBLEM].notna()]
    problems = [(root / "runs" / name, problem) for name, problem in zip(broken[FILE], broken[PROBLEM], strict=True)]
    for name, key in valid[duplicate][[FILE, "key"]].itertuples(index=False):
        problems.append((root / "runs" / name, f"a second copy of run {key}: counted once"))
    runs = valid[~duplicate].drop(columns=list(INDEX_COLUMNS))
    if not details:
        runs = runs.drop(columns=[name for name in frames.DETAIL_COLUMNS if name in runs.columns])
    if columns is not None:
        runs = runs[[name for name in runs.columns if name in {"key", *columns}]]
    return runs.reset_index(drop=True), sorted(problems, key=lambda item: str(item[0]))


# -- the folder ---------------------------------------------------------------


def _listing(runs: Path) -> dict[str, tuple | None]:
    """File name -> signature of every ``*.json`` under ``runs`` (None when it cannot be stat'ed: a broken link)."""
    found: dict[str, tuple | None] = {}
    try:
        entries = list(os.scandir(runs))
    except (FileNotFoundError, NotADirectoryError):
        return found
    for entry in entries:
        if not entry.name.endswith(".json"):
            continue
        try:
            info = entry.stat()
        except OSError:
            found[entry.name] = None
            continue
        kind = "f" if stat.S_ISREG(info.st_mode) else "x"  # a FIFO or a device is never taken from the index
        found[entry.name] = (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, kind)
    return found


def _split(listing: dict, old):
    """(rows of ``old`` whose file is unchanged, [names of files to read])."""
    if old is None:
        return None, sorted(listing)
    current = {(name, *signature[:-1]) for name, signature in listing.items() if signature and signature[-1] == "f"}
    indexed = zip(old[FILE].tolist(), *(old[column].tolist() for column in SIGNATURE), strict=True)
    unchanged = {entry[0] for entry in current.intersection(indexed)}
    stale = sorted(set(listing) - unchanged)
    return (old if len(unchanged) == len(old) else old[old[FILE].isin(unchanged)]), stale


def _read_files(root: Path, names: list[str]):
    """The index table of the files ``names``: read here, or shared with one more process per extra core."""
    workers = min(_cores(), 1 + len(names) // PARALLEL_FROM)
    if workers < 2:
        return _rows_table(read_chunk(str(root), names))
    try:
        return _read_in_processes(root, names, workers)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError):  # no process to be had, or one died: read here
        return _rows_table(read_chunk(str(root), names))


def _read_in_processes(root: Path, names: list[str], workers: int):
    """:func:`read_chunk` on contiguous shares of ``names``: ``workers - 1`` fresh Pythons and this one.

    Plain subprocesses rather than multiprocessing: those import the caller's
    main module again, which a script without a ``__main__`` guard, or one read
    from stdin, does not survive. Each sends back its share as a table.
    """
    import subprocess
    import sys

    import pandas as pd
    import pyarrow as pa

    package_parent = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
    share = -(-len(names) // workers)
    shares = [names[start : start + share] for start in range(0, len(names), share)]
    command = [sys.executable, "-c", "from harness.reporting.run_index import serve; serve()"]
    children = []
    try:
        for _ in shares[1:]:  # all started before any is fed: each imports while the others do
            children.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env))
        for child, names_of_child in zip(children, shares[1:], strict=True):
            child.stdin.write(json.dumps({"root": str(root), "names": names_of_child}).encode())
            child.stdin.close()
        tables = [_rows_table(read_chunk(str(root), shares[0]))]
        for child in children:
            tables.append(pickle.loads(child.stdout.read()))  # our own child's answer, never a file's content
            if child.wait() != 0:
                raise OSError(f"a reading process exited with status {child.returncode}")
        try:
            return columnar.concat(tables)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column of one kind in a share, another in the next
            both = pd.concat([columnar.from_arrow(table) for table in tables], ignore_index=True)
            return columnar.to_arrow(both.reindex(columns=_columns(both.columns)))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def serve() -> None:
    """A reading process: ``{"root", "names"}`` as JSON on stdin, the pickled table of their rows on stdout."""
    import sys

    request = json.loads(sys.stdin.buffer.read())
    table = _rows_table(read_chunk(request["root"], request["names"]))
    sys.stdout.buffer.write(pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def read_chunk(root: str, names: list[str]) -> list[dict]:
    """The index row of each file: signature, problem or its run row (runs in reading processes too)."""
    store = store_module.Store(root)
    rows = []
    for name in names:
        path = store.runs / name
        try:
            info = os.stat(path)
            signature = dict(
                zip(SIGNATURE, (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino), strict=True)
            )
        except OSError:  # never a gap: a column with one would turn to floats, too coarse for nanoseconds
            signature = dict.fromkeys(SIGNATURE, -1)
        row = {FILE: name, **signature, PROBLEM: None}
        try:
            row.update(frames.run_row(store.load(path)))
        except FileNotFoundError:
            if not path.is_symlink():
                continue  # removed since the listing
            row[PROBLEM] = "a link to a file that does not exist"
        except store_module.NotARecord as exc:
            row[PROBLEM] = str(exc)
        except OSError as exc:
            row[PROBLEM] = f"cannot be read: {store_module.os_reason(exc)}"
        rows.append(row)
    return rows


def _rows_table(rows: list[dict]):
    """Index rows as an Arrow table (:mod:`harness.reporting.columnar`), its columns in their order."""
    return columnar.rows_arrow(rows, _columns({name for row in rows for name in row}))


# -- the index file -----------------------------------------------------------


def _read_index(root: Path, details: bool, only=None):
    """The index's rows (without the detail columns unless ``details``; of the columns ``only`` and the
    index's own when given), or None when there is none usable: absent, unreadable, torn, not Parquet, or
    written by other code."""
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(index_path(root)) as parquet:  # not read_table: it loads pyarrow.dataset, 0.5 s
            schema = parquet.schema_arrow
            metadata = schema.metadata or {}
            if metadata.get(FINGERPRINT_KEY, b"").decode() != fingerprint() or not set(INDEX_COLUMNS) <= set(
                schema.names
            ):
                return None
            skip = () if details else frames.DETAIL_COLUMNS
            wanted = None if only is None else {*INDEX_COLUMNS, "key", *only}
            names = [name for name in schema.names if name not in skip and (wanted is None or name in wanted)]
            table = parquet.read(columns=names)
    except Exception:  # noqa: BLE001 - absent, unreadable, not Parquet, truncated: a cache, rebuilt
        return None
    frame = columnar.from_arrow(table.replace_schema_metadata(metadata))
    if frame[FILE].duplicated().any():
        return None
    return frame


def _write_index(root: Path, arrow) -> None:
    """Write the index (an Arrow table) atomically; a folder that refuses it keeps working without one."""
    import pyarrow.parquet as pq

    path = index_path(root)
    metadata = {**(arrow.schema.metadata or {}), FINGERPRINT_KEY: fingerprint().encode()}
    tmp = path.with_name(f".{INDEX_NAME}.{secrets.token_hex(6)}.tmp")
    try:
        pq.write_table(arrow.replace_schema_metadata(metadata), tmp)
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
