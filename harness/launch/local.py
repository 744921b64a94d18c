"""The local pool: runs train in persistent worker processes on this machine.

It exists because a sweep's fixed costs belong to a process, not to a run:
importing torch (and, in its first run, ``torch._dynamo``, which torch's
optimizers import), loading plugins, warming up kernels, loading datasets. Each
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
from harness.launch.base import check_plugins
from harness.launch.machine import Threads, default_jobs, threads_per_worker, visible_gpus

#: How long a worker past the time limit gets between SIGTERM and SIGKILL.
TIMEOUT_GRACE_S = 2.0


def worker_main(conn, origin, suite: str | None, parent_pid: int, threads: Threads) -> None:
    """A worker's life: build the registry once, then train each config received until told to stop.

    Messages to the parent: ``("loaded", plugin names)`` and ``("ready", None)``
    once, or ``("error", why)``; then per run ``("began", whereabouts)`` and
    ``("done", record)``.
    """
    children.become_child(parent_pid)  # Ctrl-C is the parent's to handle
    try:

        def on_loaded(registry) -> None:
            conn.send(("loaded", sorted(info.name for info in registry.plugins.available())))

        registry = children.prepare(origin, threads.count, on_loaded=on_loaded)
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
        if not children.tell_parent(conn, ("began", whereabouts(config, threads.source))):
            break
        if not children.tell_parent(conn, ("done", execute(config, registry, suite=suite, threads=threads))):
            break  # the sweep was killed while this run trained: its record is trained again on resume
    children.leave()


class _Worker:
    """One worker process, its end of the pipe, and the run it holds."""

    def __init__(self, context, slot: int, environment: dict[str, str], args: tuple):
        self.slot = slot
        self.process, self.conn = children.start(context, worker_main, args, environment, name=f"harness-worker-{slot}")
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


class _Pool:
    """One :meth:`LocalLauncher.map` call: its workers, its source of runs, and the runs taken but not yet started.

    Each step of a sweep is a method: start a worker, hand it a run, read what
    it sent, replace it when it dies. The steps that end runs are generators,
    yielding ``(config, record)`` up through :meth:`sweep` to ``map``'s caller,
    who may add runs to the source after each yield.
    """

    def __init__(
        self,
        registry,
        suite: str | None,
        timeout: float | None,
        runs: Iterable,
        on_start: Callable | None,
        threads: int | None = None,
    ):
        self.registry = registry
        self.asked_threads = threads  # the user's per-worker thread count, if any
        self.suite = suite
        self.timeout = timeout
        self.on_start = on_start
        self.source = iter(runs)
        self.pending: deque = deque()  # runs taken from the source that no worker has started yet
        self.workers: list[_Worker] = []

    def more(self) -> bool:
        """Whether a run is left, taking it from the source (so it is ready to hand out) if need be."""
        if not self.pending and (config := next(self.source, None)) is not None:
            self.pending.append(config)
        return bool(self.pending)

    def configure(self, count: int) -> None:
        """Settle the pool's shape before any worker starts: ``count`` workers, their threads, their GPUs.

        Workers are pinned to one GPU each when the first run uses one device
        (a sweep's runs share their training settings); call it after :meth:`more`.
        Each gets :func:`~harness.launch.machine.threads_per_worker` threads.
        """
        self.count = count
        self.threads = threads_per_worker(count, self.asked_threads)
        self.gpus = visible_gpus()
        self.pin = len(self.gpus) > 1 and str(self.pending[0].devices) == "1"
        self.context = multiprocessing.get_context("spawn")
        self.args = (self.registry.plugins.origin, self.suite, os.getpid(), self.threads)

    def start(self, slot: int) -> _Worker:
        """A new worker for ``slot``, with its share of the threads (and its GPU when pinned)."""
        environment = {"OMP_NUM_THREADS": str(self.threads.count)}  # before the worker imports torch
        if self.pin:
            environment["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        return _Worker(self.context, slot, environment, self.args)

    def hand_out(self, worker: _Worker) -> None:
        """The next pending run to ``worker``, or, when none is left, its notice to exit."""
        worker.config = None
        config = self.pending.popleft() if self.pending else next(self.source, None)
        if config is None:
            worker.stop()
            return
        if not worker.hand(config):
            self.pending.appendleft(config)  # it never started; the worker's replacement takes it
        elif self.on_start is not None:
            self.on_start(config)

    def sweep(self) -> Iterator[tuple]:
        """Start the workers and hand each a run, then wait on them and serve each until none holds a run."""
        for slot in range(self.count):
            self.workers.append(self.start(slot))
        for worker in self.workers:
            self.hand_out(worker)
        while busy := [worker for worker in self.workers if worker.config is not None or worker.lost]:
            ready = [w.conn for w in busy if not w.lost] + [w.process.sentinel for w in busy]
            wait(ready, timeout=0 if any(w.lost for w in busy) else self.until_next_limit(busy))
            for worker in busy:
                yield from self.serve(worker)

    def serve(self, worker: _Worker) -> Iterator[tuple]:
        """After a wait: act on what ``worker`` sent; then, if it died or ran past the time limit, replace it."""
        # checked before reading, so everything it sent before it died is read below
        dead = worker.lost or not worker.process.is_alive()
        yield from self.read(worker)
        if not dead and (left := worker.seconds_left(self.timeout)) is not None and left <= 0:
            worker.halt()
            dead = True
        if dead:
            yield from self.replace(worker)

    def read(self, worker: _Worker) -> Iterator[tuple]:
        """Act on each message ``worker`` has sent (see :func:`worker_main`); a finished run is yielded."""
        for kind, payload in worker.messages():
            if kind == "error":
                raise LaunchError(f"a worker process could not start: {payload}")
            if kind == "loaded":
                self.check_loaded(payload)
            elif kind == "ready":
                worker.ready = True
            elif kind == "began":
                worker.whereabouts, worker.began_at = payload, time.monotonic()
            elif kind == "done":
                config, worker.config = worker.config, None
                yield config, payload
                self.hand_out(worker)  # after the yield: the caller sees a run finish before the next starts

    def replace(self, worker: _Worker) -> Iterator[tuple]:
        """Bury a dead worker, yield the record of the run it held, and start a replacement if runs are left."""
        how = worker.bury()
        if not worker.ready:
            raise LaunchError(
                f"a worker process died while starting ({how}); its error is printed above. Workers "
                "import the main module: from a script, call harness.run() under "
                "`if __name__ == '__main__':`, or use the inline launcher"
            )
        held, worker.config, worker.lost = worker.config, None, False
        replacement = self.start(worker.slot) if self.more() else None  # boots while the caller stores
        if replacement is not None:
            self.workers[self.workers.index(worker)] = replacement
        if held is not None:
            yield held, (self.timed_out if worker.overdue else self.crashed)(held, worker, how)
        if replacement is None and self.more():  # the caller added a run while it had this one
            replacement = self.start(worker.slot)
            self.workers[self.workers.index(worker)] = replacement
        if replacement is not None:
            self.hand_out(replacement)

    def check_loaded(self, loaded: list[str]) -> None:
        """A worker must have every plugin the parent has; one registered by hand in-process cannot be rebuilt."""
        check_plugins(
            self.registry,
            loaded,
            "a worker process (registered by hand in this process, or changed on disk since?); "
            "load them with plugins=[PATH], or use the inline launcher",
        )

    def until_next_limit(self, busy: list[_Worker]) -> float | None:
        """Seconds until the first busy worker's run reaches the time limit (None: no limit to wait for)."""
        left = [s for s in (w.seconds_left(self.timeout) for w in busy) if s is not None]
        return max(0.0, min(left)) if left else None

    def crashed(self, config, worker: _Worker, how: str) -> dict:
        """The record of a run whose worker died under it: the runner's shape, status ``crashed``."""
        return self.lost_record(config, worker, "crashed", f"worker process died ({how}) while running this cell")

    def timed_out(self, config, worker: _Worker, how: str) -> dict:
        """The record of a run stopped at the time limit: status ``timeout``, with how long it had run."""
        reason = f"still running after the time limit of {self.timeout:g}s; its worker was stopped ({how})"
        record = self.lost_record(config, worker, "timeout", reason)
        record["results"]["wall_time_s"] = time.monotonic() - worker.began_at
        return record

    def lost_record(self, config, worker: _Worker, status: str, reason: str) -> dict:
        """The record of a run that ended with its worker: the runner's shape, what is known of where it ran."""
        where = {"pid": worker.process.pid, **worker.whereabouts}
        return records.lost_record(
            self.registry.plugins, config, self.suite, worker.started_at, status, reason, **where
        )

    def shut_down(self, gently: bool) -> None:
        """Leave no worker behind: idle ones are told to exit, busy (interrupted) ones terminated, then killed."""
        for worker in self.workers:
            if gently:
                worker.stop()
            elif worker.process.is_alive():
                worker.process.terminate()
        children.reap([(worker.process, worker.conn) for worker in self.workers])


class LocalLauncher:
    """Trains cells in ``jobs`` persistent worker processes on this machine, started when runs arrive.

    Each worker imports torch, loads the plugins and warms up once, then
    trains cell after cell. CPU threads are split evenly across workers (many
    more threads than cores makes CPU training many times slower) unless
    ``threads`` or ``OMP_NUM_THREADS`` says how many each gets; with
    several GPUs, each worker sees one. A worker that dies mid-run gives that
    run a ``crashed`` record and is replaced; the sweep goes on. With a
    ``timeout``, a run still going that many seconds after it began (the
    worker's own start-up not counted) is stopped the same way, with its
    worker, and recorded as ``timeout``.
    """

    name = "local"

    def __init__(
        self,
        registry,
        suite: str | None = None,
        jobs: int | None = None,
        timeout: float | None = None,
        threads: int | None = None,
    ):
        self.registry = registry
        self.suite = suite
        self.jobs = jobs or default_jobs()
        self.timeout = timeout
        self.threads = threads

    def size(self, runs: int) -> int:
        """How many workers ``runs`` runs get: never more than there are runs."""
        return max(0, min(self.jobs, runs))

    def map(self, runs: Iterable, on_start: Callable | None = None) -> Iterator[tuple]:
        """Train ``runs``, taking each only when a worker is free for it; yield ``(config, record)`` as they end.

        ``runs`` may be a lazy iterable; its length, where it has one, is an upper
        bound that sizes the pool. Workers are pinned to one GPU each when the
        first run uses one device (a sweep's runs share their training settings).
        """
        pool = _Pool(self.registry, self.suite, self.timeout, runs, on_start, self.threads)
        if not pool.more():
            return
        pool.configure(self.size(len(runs)) if hasattr(runs, "__len__") else self.jobs)
        completed = False
        try:
            yield from pool.sweep()
            completed = True
        finally:
            pool.shut_down(gently=completed)
