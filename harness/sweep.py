"""A sweep: runs trained through a launcher into a results directory, and the bookkeeping around it --
which cells to train, in what order, and what to do when one goes wrong.

Kept out of the launchers, so every launcher resumes, retries and shares a
results directory the same way:

* a cell whose record is final (``ok``, ``diverged``) is reused, not retrained;
* a cell is claimed (:meth:`harness.store.Store.claim`) just before a worker
  starts it and released once its record is written, so two sweeps writing into
  one results directory never train the same cell at once. A cell another sweep
  holds is left to it and collected at the end: reused if that sweep finished
  it, trained here if that sweep's run failed or the sweep died;
* with ``oom_retry``, a run that ran out of memory is run again at half the batch
  size, down to 1. The retry is another config (another key, its own record with
  ``retry_of``); the record of the run that ran out of memory stays ``oom`` and
  names the retry (``retried_as``). On resume, such a cell is not tried again at
  the size that failed: the sweep goes on down its retries;
* a cell whose file is not a valid record (copied, edited, hollow, not JSON) is
  said so and trained again; one whose file exists but cannot be read is not
  trained at all, so that nobody's record is replaced unseen (``blocked``); a
  record that cannot be written is tried again, then kept beside the results
  (:meth:`harness.store.Store.keep`, ``unsaved``). Either makes the sweep a
  failure for its caller (:attr:`SweepResult.storage_ok`), never a traceback.

Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.config import RunConfig
from harness.errors import one_line
from harness.launch.base import Launcher
from harness.launch.factory import make_launcher
from harness.records import FINAL_STATUSES, is_final
from harness.store import Claim, Store, UnreadableRecord, os_reason

#: Where a sweep's records go when no output is given: ``results/<suite name>``.
DEFAULT_RESULTS = Path("results")

#: How often a sweep looks again at cells another sweep is training, once it has nothing else to do.
WAIT_POLL_S = 0.5

#: How often a record that could not be written is tried again, and the pause before each retry (seconds),
#: before it is kept elsewhere (:meth:`harness.store.Store.keep`).
WRITE_ATTEMPTS = 3
WRITE_RETRY_S = 0.2


def halved(config):
    """``config`` at half its batch size, or None at batch size 1 (nothing smaller to try)."""
    return replace(config, batch_size=config.batch_size // 2) if config.batch_size > 1 else None


class Sweep:
    """Trains runs into a store through a launcher; ``records``, ``reused``, ``blocked``, ``unsaved`` say what it did.

    ``emit(kind, **data)`` is told: ``plan``, then per run ``start`` and ``done``;
    ``retry`` when a run is added at a smaller batch size; ``held`` when another
    sweep holds a cell, ``wait`` when only such cells are left, and ``reused``
    when a cell turns out to be finished by another sweep. Storage trouble:
    ``broken`` (a cell's file is not a valid record: trained again), ``blocked``
    (its file exists but cannot be read: not trained, so nothing is replaced),
    ``unclaimed`` (once: no claim can be made, cells are trained without) and
    ``unsaved`` (a record that could not be written, and where it was kept instead).
    """

    def __init__(
        self,
        store: Store,
        *,
        rerun: bool = False,
        oom_retry: bool = False,
        emit: Callable[..., None] | None = None,
        on_record: Callable[[dict, Path], None] | None = None,
        indexed=None,
    ):
        self.store = store
        # key -> status of the valid records the run index vouches for (a runs frame, :func:`indexed_runs`): not read
        self.indexed = {} if indexed is None else dict(zip(indexed["key"], indexed["status"], strict=True))
        self.reused_keys: list[str] = []
        self.rerun = rerun
        self.oom_retry = oom_retry
        self.emit = emit or (lambda kind, **data: None)
        self.on_record = on_record or (lambda record, path: None)
        self.records: list[dict] = []
        self.reused = 0
        self.total = 0
        self.blocked: list[str] = []  # the files of cells not trained because they exist but cannot be read
        self.unsaved: list[str] = []  # where each record that could not be written under runs/ was kept
        self._queue: deque = deque()  # runs to hand to the launcher
        self._held: list = []  # runs another sweep was training when their turn came
        self._retry_of: dict[str, str] = {}  # key of a retry -> key of the run that ran out of memory
        self._claims: dict[str, Claim] = {}
        self._numbers: dict[str, int] = {}  # key -> the run's place in the sweep, given when it starts
        self._broken: set[Path] = set()  # files already reported as not valid records
        self._unclaimed = False  # whether the sweep has said that it cannot make claims

    # -- planning ---------------------------------------------------------

    def plan(self, runs) -> int:
        """Reuse what is already settled on disk, queue the rest; how many runs are queued."""
        self.total = len(runs)
        for config in runs:
            self._settle(config)
        return len(self._queue)

    def queued(self) -> list[RunConfig]:
        """The runs waiting to be trained, in order."""
        return list(self._queue)

    def _settle(self, config, retry_of: str | None = None) -> None:
        """Reuse ``config``'s record if settled (following its retries), else queue it."""
        key = config.key()
        if retry_of is not None:
            self._retry_of[key] = retry_of
        status = None if self.rerun else self.indexed.get(key)
        if status in FINAL_STATUSES:
            self.reused_keys.append(key)
            self.reused += 1
            return
        if status is not None and not (self.oom_retry and status == "oom"):  # valid, not final: trained again
            self._queue.append(config)  # (an out-of-memory run may name its retry: read below)
            return
        try:
            existing = self._existing(config)
        except UnreadableRecord as exc:
            self._block(config, exc.path, str(exc))
            return
        if is_final(existing):
            self._reuse(existing)
        elif self.oom_retry and existing is not None and existing.get("retried_as") and (smaller := halved(config)):
            self._reuse(existing)
            self.total += 1
            self._settle(smaller, retry_of=key)
        else:
            self._queue.append(config)

    def _reuse(self, record: dict) -> None:
        self.records.append(record)
        self.reused += 1

    def _existing(self, config) -> dict | None:
        """The cell's valid record (None under ``rerun``); a broken file is reported. Raises UnreadableRecord."""
        record, problem = self.store.inspect(config.key())  # read even under rerun: an unreadable file is kept
        path = self.store.path_for(config.key())
        if problem is not None and path not in self._broken:
            self._broken.add(path)
            self.emit("broken", config=config, path=path, problem=problem)
        return None if self.rerun else record

    def _block(self, config, path: Path, reason: str) -> None:
        """Leave a cell untrained because its file cannot be read; the caller exits non-zero."""
        self.blocked.append(str(path))
        self.emit("blocked", config=config, path=path, reason=reason)

    # -- training ---------------------------------------------------------

    def run(self, pool: Launcher) -> None:
        """Train everything queued, then whatever the runs add (retries) or another sweep leaves to this one."""
        try:
            while self._queue or self._held:
                if not self._queue:
                    self._collect_held()
                    continue
                with contextlib.closing(pool.map(_Claiming(self), on_start=self._on_start)) as finished:
                    for config, record in finished:  # closed at once on Ctrl-C
                        self._finish(config, record)
        finally:
            for claim in self._claims.values():  # runs taken but never finished (Ctrl-C, a launch error)
                claim.release()
            self._claims.clear()

    def _next(self):
        """The next run to train, claimed, or None when the queue is empty: called as a worker comes free."""
        while self._queue:
            config = self._queue.popleft()
            key = config.key()
            claim = self._claim(config)
            if claim is None:
                self._held.append(config)
                self.emit("held", config=config, holder=self.store.holder(key))
                continue
            try:
                existing = self._existing(config)
            except UnreadableRecord as exc:
                claim.release()
                self._block(config, exc.path, str(exc))
                continue
            if is_final(existing):  # another sweep finished it meanwhile
                claim.release()
                self._reuse(existing)
                self.emit("reused", config=config, record=existing)
                continue
            self._claims[key] = claim
            return config
        return None

    def _claim(self, config) -> Claim | None:
        """The claim on a cell, or None while another sweep holds it.

        When no claim can be made (runs/ cannot be written), an empty one: the
        cell is trained anyway and its record kept elsewhere, never lost.
        """
        try:
            return self.store.claim(config.key())
        except OSError as exc:
            if not self._unclaimed:
                self._unclaimed = True
                self.emit("unclaimed", config=config, path=self.store.runs, error=os_reason(exc))
            return Claim(self.store.runs / f".{config.key()}.lock", None)

    def _on_start(self, config) -> None:
        key = config.key()
        self._numbers[key] = self.reused + len(self._numbers) + 1
        self.emit("start", index=self._numbers[key], total=self.total, config=config)

    def _finish(self, config, record: dict) -> None:
        """Store a finished run's record (noting any retry), release its claim, queue its retry."""
        key = config.key()
        if key in self._retry_of:
            record["retry_of"] = self._retry_of[key]
        smaller = halved(config) if self.oom_retry and record["status"] == "oom" else None
        if smaller is not None:
            record["retried_as"] = {"key": smaller.key(), "batch_size": smaller.batch_size}
            record["reason"] = f"{record['reason']}; retried at batch size {smaller.batch_size}"
        path = self._write(config, record)
        claim = self._claims.pop(key, None)
        if claim is not None:
            claim.release()
        self.records.append(record)
        self.emit("done", index=self._numbers.get(key, 0), total=self.total, config=config, record=record, path=path)
        if path is not None:
            self.on_record(record, path)
        if smaller is not None:
            self.total += 1
            self.emit("retry", config=smaller, batch_size=smaller.batch_size, of=config)
            self._settle(smaller, retry_of=key)

    def _write(self, config, record: dict) -> Path | None:
        """Write the record (see :func:`write_or_keep`); one kept elsewhere is listed in ``unsaved``."""
        path, kept = write_or_keep(self.store, record, self.emit, config)
        if kept is not None:
            self.unsaved.append(kept)
        return path

    def _collect_held(self) -> None:
        """Wait until another sweep lets go of the cells it held; reuse what it finished, queue what it did not."""
        self.emit("wait", count=len(self._held))
        while True:
            still = []
            for config in self._held:
                if self._take_back(config):
                    still.append(config)
            self._held = still
            if self._queue or not self._held:
                return
            time.sleep(WAIT_POLL_S)

    def _take_back(self, config) -> bool:
        """Whether another sweep still holds ``config``; if not, reuse what it finished or queue the cell."""
        claim = self._claim(config)
        if claim is None:
            return True
        claim.release()  # taken again when a worker starts it
        try:
            existing = self._existing(config)
        except UnreadableRecord as exc:
            self._block(config, exc.path, str(exc))
            return False
        if is_final(existing):
            self._reuse(existing)
            self.emit("reused", config=config, record=existing)
        else:
            self._queue.append(config)
        return False


def write_or_keep(store: Store, record: dict, emit, config=None) -> tuple[Path | None, str | None]:
    """Write ``record`` under its key, trying again briefly; one that cannot be is kept elsewhere, never lost.

    Returns ``(path, None)`` once written, else ``(file it was kept in or None, where it went)`` after an
    ``unsaved`` event (:meth:`harness.store.Store.keep`: beside the results, ..., or 'stderr').
    """
    for attempt in range(WRITE_ATTEMPTS):
        try:
            return store.write(record), None
        except OSError as exc:
            error = exc
            if attempt + 1 < WRITE_ATTEMPTS:
                time.sleep(WRITE_RETRY_S)
    kept = store.keep(record)
    emit("unsaved", config=config, path=store.path_for(record["key"]), kept=kept, error=os_reason(error))
    return (None if kept == "stderr" else Path(kept)), kept


class _Claiming:
    """The queue as a launcher sees it: each run claimed only when a worker asks for it.

    Its length (the queue's when the round began) is an upper bound that sizes a worker pool.
    """

    def __init__(self, sweep: Sweep):
        self.sweep = sweep
        self.size = len(sweep._queue)

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        while (config := self.sweep._next()) is not None:
            yield config


def notify_record_written(registry, record: dict, path: Path) -> None:
    """Tell plugins a record was written; an observer that fails gets one line on stderr, never stops the sweep."""
    for impl in registry.plugins.pm.hook.harness_record_written.get_hookimpls():
        try:
            impl.function(record=record, path=str(path))
        except Exception as exc:  # an observer must never stop the sweep
            print(
                f"warning: plugin {impl.plugin_name}: harness_record_written failed: {one_line(exc)}",
                file=sys.stderr,
                flush=True,
            )


@dataclass
class SweepResult:
    """What a sweep did (:func:`harness.run` returns it): its records, skipped pairs and output folder.

    ``records`` holds one record per cell of this grid (a dict, the shape :mod:`harness.records` owns:
    ``status``, ``config``, ``results`` with every measurement, ``provenance``), those trained now and
    those reused that were read; in a big folder, cells reused through the run index are not read
    (``reused_runs``) and :meth:`all_records` reads them too. ``reused`` counts the cells not trained
    again, ``skipped`` lists the ``(model, dataset, reason)`` pairs the grid left out, ``output`` is the
    folder the records are in. :meth:`table` renders the summary ``harness run`` prints, :meth:`frame`
    gives one pandas row per run. ``blocked`` names the files of cells left untrained because their file
    exists but cannot be read, ``unsaved`` where each record went that could not be written under
    ``runs/`` (a file, or 'stderr'); either means the sweep did not fully succeed (``storage_ok``).
    """

    output: Path
    records: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    reused: int = 0
    blocked: list[str] = field(default_factory=list)
    unsaved: list[str] = field(default_factory=list)
    reused_runs: object = None  # runs frame of the finished cells reused through the run index, never read as records

    @property
    def storage_ok(self) -> bool:
        """Whether every cell could be read and every record written where it belongs."""
        return not self.blocked and not self.unsaved

    def all_records(self) -> list[dict]:
        """Every record of the grid: ``records`` and, read from their files now, those reused through the index."""
        if self.reused_runs is None or self.reused_runs.empty:
            return list(self.records)
        store = Store(self.output)
        return [*filter(None, (store.read(key) for key in self.reused_runs["key"])), *self.records]

    def frame(self):
        """One row per run of the grid (:func:`harness.reporting.frames.runs_frame`), reused cells included."""
        import pandas as pd

        from harness.reporting.columnar import typed
        from harness.reporting.frames import DETAIL_COLUMNS, column_order, runs_frame

        frame = runs_frame(self.records)
        if self.reused_runs is None or self.reused_runs.empty:
            return frame
        both = pd.concat([self.reused_runs, frame.drop(columns=list(DETAIL_COLUMNS))])
        return typed(both.reindex(columns=[c for c in column_order(both.columns) if c in both]).reset_index(drop=True))

    def table(self, fmt: str = "simple") -> str:
        """The sweep's runs in a text format of :func:`harness.reporting.export.export_runs` (csv: one row per run)."""
        from harness.reporting.export import export_runs
        from harness.reporting.formats import check_text_format

        return export_runs(self.frame(), check_text_format(fmt))


def run_configs(
    runs: list[RunConfig],
    output: str | Path,
    *,
    registry,
    suite_name: str | None = None,
    rerun: bool = False,
    on_event: Callable[..., None] | None = None,
    launcher: str = "local",
    jobs: int | None = None,
    timeout: float | None = None,
    oom_retry: bool = False,
    address: str | None = None,
    threads: int | None = None,
    use_index: bool = True,
) -> SweepResult:
    """Train the given runs (already resolved configs) into ``output``, reusing finished records unless ``rerun``.

    What :func:`harness.run` does after expanding its grid; ``harness tune`` calls it
    with the configs its search chose. ``timeout``, ``oom_retry`` and ``threads`` as in :func:`harness.run`.
    In a folder big enough to keep a run index, the finished cells are found through it
    and reused unread (``SweepResult.reused_runs``) unless ``use_index`` is False.
    """
    emit = on_event or (lambda kind, **data: None)
    pool = make_launcher(
        launcher, registry, suite=suite_name, jobs=jobs, timeout=timeout, address=address, runs=runs, threads=threads
    )
    store = Store(output)
    indexed = None if rerun or not use_index else indexed_runs(store)
    sweep = Sweep(
        store,
        rerun=rerun,
        oom_retry=oom_retry,
        emit=emit,
        on_record=lambda record, path: notify_record_written(registry, record, path),
        indexed=indexed,
    )
    todo = sweep.plan(runs)
    emit(
        "plan", total=sweep.total, todo=todo, reused=sweep.reused, output=store.root, workers=pool.size(todo),
        in_process=pool.name == "inline", blocked=len(sweep.blocked),
    )  # fmt: skip
    sweep.run(pool)
    reused_runs = indexed[indexed["key"].isin(sweep.reused_keys)] if sweep.reused_keys else None
    return SweepResult(
        store.root, sweep.records, reused=sweep.reused, blocked=sweep.blocked, unsaved=sweep.unsaved,
        reused_runs=reused_runs,
    )  # fmt: skip


def indexed_runs(store: Store, columns=None):
    """The runs frame of the valid records under ``store``, from the run index; None in a folder too small
    to keep one (:data:`harness.reporting.run_index.INDEX_FROM`).

    What lets a sweep over a 100,000-run grid decide what is done without reading every record:
    a finished cell in it is reused as it is, an unfinished one trained again, neither read.
    """
    from harness.reporting.run_index import INDEX_FROM, load_runs

    try:
        count = sum(1 for entry in os.scandir(store.runs) if entry.name.endswith(".json"))
    except OSError:
        return None
    if count < INDEX_FROM:
        return None
    runs, _ = load_runs(store.root, columns=columns)
    return runs


@dataclass
class SweepPlan:
    """What a sweep would do (``harness run --plan``): the grid's size, the runs it would reuse, train or skip."""

    output: Path
    total: int
    reused: int
    todo: list[RunConfig]
    blocked: list[str]
    broken: int

    def describe(self, shown: int = 10) -> str:
        lines = [
            f"{self.total:,} runs: {self.reused:,} finished (reused), {len(self.todo):,} to train"
            + (f" ({self.broken:,} of them over a file that is not a valid record)" if self.broken else "")
            + (f", {len(self.blocked):,} blocked (a file that cannot be read)" if self.blocked else ""),
        ]
        for config in self.todo[:shown]:
            lines.append(f"  to train: {config.model_label} / {config.dataset_label} / {config.optimizer_label}"
                         f" seed {config.seed} ({config.key()})")  # fmt: skip
        if len(self.todo) > shown:
            lines.append(f"  ... and {len(self.todo) - shown:,} more")
        return "\n".join(lines)


def plan_configs(runs: list[RunConfig], output, *, rerun: bool = False, oom_retry: bool = False) -> SweepPlan:
    """What :func:`run_configs` would train and reuse, deciding it the same way, without training anything."""
    store = Store(output)
    indexed = None if rerun else indexed_runs(store, columns=["status"])
    broken = []
    sweep = Sweep(
        store, rerun=rerun, oom_retry=oom_retry, indexed=indexed,
        emit=lambda kind, **data: broken.append(data) if kind == "broken" else None,
    )  # fmt: skip
    sweep.plan(runs)
    return SweepPlan(store.root, sweep.total, sweep.reused, sweep.queued(), sweep.blocked, len(broken))
