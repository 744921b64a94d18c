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
  the size that failed: the sweep goes on down its retries.

Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.config import RunConfig
from harness.launch.base import Launcher
from harness.launch.factory import make_launcher
from harness.records import is_final
from harness.store import Claim, Store

#: Where a sweep's records go when no output is given: ``results/<suite name>``.
DEFAULT_RESULTS = Path("results")

#: How often a sweep looks again at cells another sweep is training, once it has nothing else to do.
WAIT_POLL_S = 0.5


def halved(config):
    """``config`` at half its batch size, or None at batch size 1 (nothing smaller to try)."""
    return replace(config, batch_size=config.batch_size // 2) if config.batch_size > 1 else None


class Sweep:
    """Trains runs into a store through a launcher; ``records`` and ``reused`` say what it did.

    ``emit(kind, **data)`` is told: ``plan``, then per run ``start`` and ``done``;
    ``retry`` when a run is added at a smaller batch size; ``held`` when another
    sweep holds a cell, ``wait`` when only such cells are left, and ``reused``
    when a cell turns out to be finished by another sweep.
    """

    def __init__(
        self,
        store: Store,
        *,
        rerun: bool = False,
        oom_retry: bool = False,
        emit: Callable[..., None] | None = None,
        on_record: Callable[[dict, Path], None] | None = None,
    ):
        self.store = store
        self.rerun = rerun
        self.oom_retry = oom_retry
        self.emit = emit or (lambda kind, **data: None)
        self.on_record = on_record or (lambda record, path: None)
        self.records: list[dict] = []
        self.reused = 0
        self.total = 0
        self._queue: deque = deque()  # runs to hand to the launcher
        self._held: list = []  # runs another sweep was training when their turn came
        self._retry_of: dict[str, str] = {}  # key of a retry -> key of the run that ran out of memory
        self._claims: dict[str, Claim] = {}
        self._numbers: dict[str, int] = {}  # key -> the run's place in the sweep, given when it starts

    # -- planning ---------------------------------------------------------

    def plan(self, runs) -> int:
        """Reuse what is already settled on disk, queue the rest; how many runs are queued."""
        self.total = len(runs)
        for config in runs:
            self._settle(config)
        return len(self._queue)

    def _settle(self, config, retry_of: str | None = None) -> None:
        """Reuse ``config``'s record if settled (following its retries), else queue it."""
        key = config.key()
        if retry_of is not None:
            self._retry_of[key] = retry_of
        existing = None if self.rerun else self.store.read(key)
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
            claim = self.store.claim(key)
            if claim is None:
                self._held.append(config)
                self.emit("held", config=config, holder=self.store.holder(key))
                continue
            existing = None if self.rerun else self.store.read(key)
            if is_final(existing):  # another sweep finished it meanwhile
                claim.release()
                self._reuse(existing)
                self.emit("reused", config=config, record=existing)
                continue
            self._claims[key] = claim
            return config
        return None

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
        path = self.store.write(record)
        claim = self._claims.pop(key, None)
        if claim is not None:
            claim.release()
        self.records.append(record)
        self.emit("done", index=self._numbers.get(key, 0), total=self.total, config=config, record=record, path=path)
        self.on_record(record, path)
        if smaller is not None:
            self.total += 1
            self.emit("retry", config=smaller, batch_size=smaller.batch_size, of=config)
            self._settle(smaller, retry_of=key)

    def _collect_held(self) -> None:
        """Wait until another sweep lets go of the cells it held; reuse what it finished, queue what it did not."""
        self.emit("wait", count=len(self._held))
        while True:
            still = []
            for config in self._held:
                claim = self.store.claim(config.key())
                if claim is None:
                    still.append(config)
                    continue
                claim.release()  # taken again when a worker starts it
                existing = self.store.read(config.key())
                if is_final(existing):
                    self._reuse(existing)
                    self.emit("reused", config=config, record=existing)
                else:
                    self._queue.append(config)
            self._held = still
            if self._queue or not self._held:
                return
            time.sleep(WAIT_POLL_S)


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
    """Tell plugins a record was written; an observer that fails is warned about, never stops the sweep."""
    for impl in registry.plugins.pm.hook.harness_record_written.get_hookimpls():
        try:
            impl.function(record=record, path=str(path))
        except Exception as exc:  # an observer must never stop the sweep
            warnings.warn(f"plugin {impl.plugin_name}: harness_record_written failed: {exc}", stacklevel=2)


@dataclass
class SweepResult:
    """What a sweep did: its records (this grid's cells only), skipped pairs and output folder."""

    output: Path
    records: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    reused: int = 0

    def frame(self):
        from harness.reporting.frames import runs_frame

        return runs_frame(self.records)

    def table(self, fmt: str = "simple") -> str:
        """The sweep's records in a text format of :func:`harness.reporting.export.export` (csv: one row per run)."""
        from harness.reporting.export import export
        from harness.reporting.formats import check_text_format

        return export(self.records, check_text_format(fmt))


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
) -> SweepResult:
    """Train the given runs (already resolved configs) into ``output``, reusing finished records unless ``rerun``.

    What :func:`harness.run` does after expanding its grid; ``harness tune`` calls it
    with the configs its search chose. ``timeout`` and ``oom_retry`` as in :func:`harness.run`.
    """
    emit = on_event or (lambda kind, **data: None)
    pool = make_launcher(launcher, registry, suite=suite_name, jobs=jobs, timeout=timeout, address=address, runs=runs)
    store = Store(output)
    sweep = Sweep(
        store,
        rerun=rerun,
        oom_retry=oom_retry,
        emit=emit,
        on_record=lambda record, path: notify_record_written(registry, record, path),
    )
    todo = sweep.plan(runs)
    emit(
        "plan", total=sweep.total, todo=todo, reused=sweep.reused, output=store.root, workers=pool.size(todo),
        in_process=pool.name == "inline",
    )  # fmt: skip
    sweep.run(pool)
    return SweepResult(store.root, sweep.records, reused=sweep.reused)
