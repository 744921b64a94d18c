"""The local pool: runs train in persistent worker processes on this machine.

It exists because a sweep's fixed costs belong to a process, not to a run:
importing torch and Lightning, loading plugins, warming up kernels. Each
worker pays them once and then trains cell after cell, and several workers
train side by side, sharing the CPU cores (or one GPU each). Workers are
started with ``spawn``, which is safe with torch's thread pools and CUDA, and
live as :mod:`harness.launch.children` says.

Nothing here imports torch: the parent of a pool never needs it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from multiprocessing.connection import wait

from harness import records
from harness.errors import LaunchError, one_line
from harness.launch import children
from harness.launch.base import missing_plugins
from harness.launch.machine import cpu_cores, default_jobs, visible_gpus

#: How long a worker past the time limit gets between SIGTERM and SIGKILL.
TIMEOUT_GRACE_S = 2.0


def _worker_main(conn, origin, suite: str | None, parent_pid: int, threads: int) -> None:
    """A worker's life: build the registry once, then train each config received until told to stop.

    Messages to the parent: ``("loaded", plugin names)`` and ``("ready", None)``
    once, or ``("error", why)``; then per run ``("began", whereabouts)`` and
    ``("done", record)``.
    """
    children.become_child(parent_pid)  # Ctrl-C is the parent's to handle
    try:
        registry = children.prepare(
            origin, threads, on_loaded=lambda r: conn.send(("loaded", sorted(i.name for i in r.plugins.available())))
        )
        from harness.launch.ranks import execute
        from harness.train.devices import whereabouts
    except BaseException as exc:
        conn.send(("error", one_line(exc)))
        return
    conn.send(("ready", None))
    while True:
        try:
            config = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            config = None
        if config is None:
            break
        conn.send(("began", whereabouts(config, threads)))
        conn.send(("done", execute(config, registry, suite=suite)))
    children.leave()


class _Worker:
    """One worker process, its end of the pipe, and the run it holds."""

    def __init__(self, context, slot: int, environment: dict[str, str], args: tuple):
        self.slot = slot
        self.process, self.conn = children.start(
            context, _worker_main, args, environment, name=f"harness-worker-{slot}"
        )
        self.ready = False  # it has loaded its plugins and torch: a death from now on is a crash, not a failed start
        self.lost = False  # a send to it failed: it is dead or dying
        self.config = None  # the run it holds
        self.started_at = None
        self.began_at: float | None = None  # monotonic time it began the run, after its own start-up
        self.overdue = False  # stopped by the parent for running past the time limit
        self.whereabouts: dict = {}

    def hand(self, config) -> bool:
        """Give it ``config`` to train; False when it can no longer be reached."""
        try:
            self.conn.send(config)
        except OSError:
            self.lost = True
            return False
        self.config, self.started_at, self.began_at, self.whereabouts = config, datetime.now(timezone.utc), None, {}
        return True

    def seconds_left(self, limit: float | None) -> float | None:
        """How long its run may still go on under ``limit``; None without a limit or before the run began."""
        if limit is None or self.config is None or self.began_at is None:
            return None
        return self.began_at + limit - time.monotonic()

    def halt(self) -> None:
        """Stop it mid-run: SIGTERM, then SIGKILL if it has not exited within the grace period."""
        self.overdue = True
        self.process.terminate()
        self.process.join(TIMEOUT_GRACE_S)
        if self.process.is_alive():
            self.process.kill()

    def messages(self) -> Iterator[tuple]:
        """Everything the worker has sent so far; stops at the end of the pipe."""
        while True:
            try:
                if not self.conn.poll():
                    return
                yield self.conn.recv()
            except (EOFError, OSError):
                return

    def stop(self) -> None:
        """Ask an idle worker to exit once it has read everything sent before."""
        with contextlib.suppress(OSError):
            self.conn.send(None)

    def bury(self) -> str:
        """Reap a dead (or unreachable) worker; how it ended, e.g. 'signal SIGKILL'."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()
        return children.death(self.process.exitcode)


class LocalLauncher:
    """Trains cells in ``jobs`` persistent worker processes on this machine, started when runs arrive.

    Each worker imports torch, loads the plugins and warms up once, then
    trains cell after cell. CPU threads are split evenly across workers (many
    more threads than cores makes CPU training many times slower); with
    several GPUs, each worker sees one. A worker that dies mid-run gives that
    run a ``crashed`` record and is replaced; the sweep goes on. With a
    ``timeout``, a run still going that many seconds after it began (the
    worker's own start-up not counted) is stopped the same way, with its
    worker, and recorded as ``timeout``.
    """

    name = "local"

    def __init__(self, registry, suite: str | None = None, jobs: int | None = None, timeout: float | None = None):
        self.registry = registry
        self.suite = suite
        self.jobs = jobs or default_jobs()
        self.timeout = timeout

    def size(self, runs: int) -> int:
        """How many workers ``runs`` runs get: never more than there are runs."""
        return max(0, min(self.jobs, runs))

    def map(self, runs: Iterable, on_start: Callable | None = None) -> Iterator[tuple]:
        """Train ``runs``, taking each only when a worker is free for it; yield ``(config, record)`` as they end.

        ``runs`` may be a lazy iterable; its length, where it has one, is an upper
        bound that sizes the pool. Workers are pinned to one GPU each when the
        first run uses one device (a sweep's runs share their training settings).
        """
        source = iter(runs)
        pending: deque = deque()  # runs taken from the source that no worker has started yet

        def next_run():
            return pending.popleft() if pending else next(source, None)

        def more() -> bool:
            """Whether a run is left, taking it from the source (so it is ready to hand out) if need be."""
            if not pending and (config := next(source, None)) is not None:
                pending.append(config)
            return bool(pending)

        if not more():
            return
        count = self.size(len(runs)) if hasattr(runs, "__len__") else self.jobs
        threads = max(1, cpu_cores() // count)
        gpus = visible_gpus()
        pin = len(gpus) > 1 and str(pending[0].devices) == "1"
        context = multiprocessing.get_context("spawn")
        args = (self.registry.plugins.origin, self.suite, os.getpid(), threads)

        def start(slot: int) -> _Worker:
            environment = {"OMP_NUM_THREADS": str(threads)}
            if pin:
                environment["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
            return _Worker(context, slot, environment, args)

        def hand_out(worker: _Worker) -> None:
            """The next pending run to ``worker``, or, when none is left, its notice to exit."""
            worker.config = None
            config = next_run()
            if config is None:
                worker.stop()
                return
            if not worker.hand(config):
                pending.appendleft(config)  # it never started; the worker's replacement takes it
            elif on_start is not None:
                on_start(config)

        workers: list[_Worker] = []
        completed = False
        try:
            for slot in range(count):
                workers.append(start(slot))
            for worker in workers:
                hand_out(worker)
            while busy := [worker for worker in workers if worker.config is not None or worker.lost]:
                ready = [w.conn for w in busy if not w.lost] + [w.process.sentinel for w in busy]
                wait(ready, timeout=0 if any(w.lost for w in busy) else self._until_next_limit(busy))
                for worker in busy:
                    # checked before reading, so everything it sent before it died is read below
                    dead = worker.lost or not worker.process.is_alive()
                    for kind, payload in worker.messages():
                        if kind == "error":
                            raise LaunchError(f"a worker process could not start: {payload}")
                        if kind == "loaded":
                            self._check_plugins(payload)
                        elif kind == "ready":
                            worker.ready = True
                        elif kind == "began":
                            worker.whereabouts, worker.began_at = payload, time.monotonic()
                        elif kind == "done":
                            config, worker.config = worker.config, None
                            yield config, payload
                            hand_out(worker)  # after the yield: the caller sees a run finish before the next starts
                    if not dead and (left := worker.seconds_left(self.timeout)) is not None and left <= 0:
                        worker.halt()
                        dead = True
                    if not dead:
                        continue
                    how = worker.bury()
                    if not worker.ready:
                        raise LaunchError(
                            f"a worker process died while starting ({how}); its error is printed above. Workers "
                            "import the main module: from a script, call harness.run() under "
                            "`if __name__ == '__main__':`, or use the inline launcher"
                        )
                    held, worker.config, worker.lost = worker.config, None, False
                    replacement = start(worker.slot) if more() else None  # boots while the caller stores
                    if replacement is not None:
                        workers[workers.index(worker)] = replacement
                    if held is not None:
                        yield held, (self._timed_out if worker.overdue else self._crashed)(held, worker, how)
                    if replacement is None and more():  # the caller added a run while it had this one
                        replacement = start(worker.slot)
                        workers[workers.index(worker)] = replacement
                    if replacement is not None:
                        hand_out(replacement)
            completed = True
        finally:
            self._shut_down(workers, gently=completed)

    def _check_plugins(self, loaded: list[str]) -> None:
        """A worker must have every plugin the parent has; one registered by hand in-process cannot be rebuilt."""
        missing = missing_plugins(self.registry, loaded)
        if missing:
            raise LaunchError(
                f"plugins {', '.join(missing)} are available here but not in a worker process (registered by "
                "hand in this process, or changed on disk since?); load them with plugins=[PATH], or use the "
                "inline launcher"
            )

    def _until_next_limit(self, busy: list[_Worker]) -> float | None:
        """Seconds until the first busy worker's run reaches the time limit (None: no limit to wait for)."""
        left = [s for s in (w.seconds_left(self.timeout) for w in busy) if s is not None]
        return max(0.0, min(left)) if left else None

    def _crashed(self, config, worker: _Worker, how: str) -> dict:
        """The record of a run whose worker died under it: the runner's shape, status ``crashed``."""
        return self._lost(config, worker, "crashed", f"worker process died ({how}) while running this cell")

    def _timed_out(self, config, worker: _Worker, how: str) -> dict:
        """The record of a run stopped at the time limit: status ``timeout``, with how long it had run."""
        reason = f"still running after the time limit of {self.timeout:g}s; its worker was stopped ({how})"
        record = self._lost(config, worker, "timeout", reason)
        record["results"]["wall_time_s"] = time.monotonic() - worker.began_at
        return record

    def _lost(self, config, worker: _Worker, status: str, reason: str) -> dict:
        """The record of a run that ended with its worker: the runner's shape, what is known of where it ran."""
        where = {"pid": worker.process.pid, **worker.whereabouts}
        return records.lost_record(
            self.registry.plugins, config, self.suite, worker.started_at, status, reason, **where
        )

    @staticmethod
    def _shut_down(workers: list[_Worker], gently: bool) -> None:
        """Leave no worker behind: idle ones are told to exit, busy (interrupted) ones terminated, then killed."""
        for worker in workers:
            if gently:
                worker.stop()
            elif worker.process.is_alive():
                worker.process.terminate()
        children.reap([(worker.process, worker.conn) for worker in workers])
