"""Where runs execute: in this process, or in a pool of persistent local worker processes.

(Or in Ray actors: :mod:`harness.launch_ray`, made by :func:`make_launcher` like these.)

A launcher takes run configs and yields ``(config, record)`` as each run
finishes; the caller stores records as they arrive, so an interrupted sweep
keeps everything that finished. It takes the next config only when a worker is
free to start it: the caller decides at that moment whether the cell is still
to be trained (another sweep may have claimed it) and may add runs while the
sweep goes on (a retry at a smaller batch size).

The local pool exists because a sweep's fixed costs belong to a process, not
to a run: importing torch and Lightning, loading plugins, warming up kernels.
Each worker pays them once and then trains cell after cell, and several
workers train side by side, sharing the CPU cores (or one GPU each). Workers
are started with ``spawn``, which is safe with torch's thread pools and CUDA.
A pluggy manager cannot cross a process boundary, so a worker rebuilds the
registry from the arguments that built the parent's (its ``origin``).

Nothing here imports torch: the parent of a pool never needs it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from multiprocessing.connection import wait
from pathlib import Path

from harness.errors import ConfigError, LaunchError

LAUNCHERS = ("inline", "local", "ray")

#: How often a worker checks that the process that started it is still there.
PARENT_POLL_S = 0.5
#: How long a worker gets to exit on its own after the sweep, or after SIGTERM, before it is killed.
EXIT_GRACE_S = 5.0
#: How long a worker past the time limit gets between SIGTERM and SIGKILL.
TIMEOUT_GRACE_S = 2.0


class InlineLauncher:
    """Runs every cell in the calling process: simplest, and easiest to debug."""

    name = "inline"

    def __init__(self, registry, suite: str | None = None):
        self.registry = registry
        self.suite = suite

    def size(self, runs: int) -> int:
        """How many runs train at the same time."""
        return 1

    def map(self, runs: Iterable, on_start: Callable | None = None) -> Iterator[tuple]:
        from harness.runner import execute  # Lightning is imported only when something trains

        for config in runs:
            if on_start is not None:
                on_start(config)
            yield config, execute(config, self.registry, suite=self.suite)


def make_launcher(
    name: str,
    registry,
    suite: str | None = None,
    jobs: int | None = None,
    timeout: float | None = None,
    address: str | None = None,
    runs=(),
):
    """The launcher called ``name`` for ``runs``; a ConfigError before any work when they cannot go together.

    ``timeout`` is each run's time limit in seconds (None: no limit). Runs
    over several devices (``devices`` other than 1) start a process per
    device themselves (:mod:`harness.distributed`) and use every device the
    machine shows, so they train one at a time, in this process or one worker.
    """
    if name not in LAUNCHERS:
        raise ConfigError(f"unknown launcher {name!r}; allowed: {', '.join(LAUNCHERS)}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ConfigError(f"jobs must be a whole number of at least 1, not {jobs!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ConfigError(f"timeout: expected a positive number of seconds, got {timeout!r}")
    if address is not None and name != "ray":
        raise ConfigError(f"an address names a Ray cluster: it needs the ray launcher, not the {name} one")
    spread = sorted({str(config.devices) for config in runs if str(config.devices) != "1"})
    if spread:
        what = f"runs over several devices (devices={spread[0]})"
        if name == "ray":
            raise ConfigError(
                f"{what} start a process per device on one machine: use the local launcher with one job "
                "(-j 1) or the inline one; a Ray actor holds one GPU"
            )
        if jobs is not None and jobs > 1:
            raise ConfigError(f"{what} use every device they are given, so they train one at a time: use -j 1")
        jobs = 1
    if name == "inline":
        if jobs is not None and jobs > 1:
            raise ConfigError(f"the inline launcher trains one run at a time; {jobs} jobs need the local launcher")
        if timeout is not None:
            raise ConfigError(
                "timeout: the inline launcher trains in this process, which cannot stop a run midway and go on; "
                "a time limit needs the local launcher"
            )
        return InlineLauncher(registry, suite)
    if name == "ray":
        if timeout is not None:
            raise ConfigError("timeout: a per-run time limit needs the local launcher (the ray one has none)")
        from harness.launch_ray import RayLauncher

        return RayLauncher(registry, suite, jobs, address)
    return LocalLauncher(registry, suite, jobs, timeout)


def lost_record(registry, config, suite: str | None, started, status: str, reason: str, **where) -> dict:
    """The record of a run whose process ended without sending one (died, stopped, failed to start).

    The runner's shape, so tables group it with its siblings; ``where`` is
    what is known of where it ran (pid, device, threads, ...).
    """
    from harness.provenance import run_provenance
    from harness.store import new_record

    record = new_record(config, suite)
    record.update(status=status, reason=reason)
    record["provenance"] = run_provenance(registry.plugins, config, started, **where)
    return record


def missing_plugins(registry, loaded) -> list[str]:
    """The plugins available here that a worker, rebuilding the registry from its origin, did not load."""
    return sorted({info.name for info in registry.plugins.available()} - set(loaded))


def reap(children) -> None:
    """Give ``(process, pipe)`` pairs :data:`EXIT_GRACE_S` in all to exit, kill those still there, close the pipes."""
    deadline = time.monotonic() + EXIT_GRACE_S
    for process, conn in children:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
        conn.close()


# ---------------------------------------------------------------------------
# The machine: cores and GPUs, found without importing torch
# ---------------------------------------------------------------------------


def cpu_cores() -> int:
    """The cores this process may run on (its affinity mask, which containers and taskset narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def visible_gpus() -> list[str]:
    """The CUDA devices a child process may be pinned to, as ``CUDA_VISIBLE_DEVICES`` entries.

    Read from ``CUDA_VISIBLE_DEVICES`` when set (CUDA stops at the first
    invalid entry, so do we), else from the ``/dev/nvidiaN`` device nodes,
    which a container only has for the GPUs it was given.
    """
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        entries = []
        for entry in (item.strip() for item in listed.split(",")):
            if not entry or entry.startswith("-"):
                break
            entries.append(entry)
        return entries
    nodes = [path for path in Path("/dev").glob("nvidia*") if re.fullmatch(r"nvidia\d+", path.name)]
    return [str(index) for index in range(len(nodes))]


def default_jobs() -> int:
    """One worker per GPU when there are several; otherwise one worker that gets every core."""
    gpus = visible_gpus()
    return len(gpus) if len(gpus) > 1 else 1


# ---------------------------------------------------------------------------
# The worker process
# ---------------------------------------------------------------------------


def _exit_with_parent(parent_pid: int) -> None:
    """Exit as soon as the parent is gone (even SIGKILLed mid-run), so no sweep leaves orphans behind."""

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="harness-parent-watch", daemon=True).start()


def _whereabouts(config, threads: int) -> dict:
    """Where this process will train ``config``, so a record can say so even if the process dies."""
    from harness.provenance import device_name
    from harness.runner import resolve_device

    where = {"pid": os.getpid(), "threads": threads}
    try:
        device = resolve_device(config.accelerator)
        where.update(device=device_name(device), accelerator=device.type)
    except Exception:  # execute() records why the device is unusable
        pass
    return where


def _worker_main(conn, origin, suite: str | None, parent_pid: int, threads: int) -> None:
    """A worker's life: build the registry once, then train each config received until told to stop.

    Messages to the parent: ``("loaded", plugin names)`` and ``("ready", None)``
    once, or ``("error", why)``; then per run ``("began", whereabouts)`` and
    ``("done", record)``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _exit_with_parent(parent_pid)
    try:
        from harness.registry import Registry

        registry = Registry(origin.load())  # before torch: a registry that cannot be rebuilt fails in a second
        conn.send(("loaded", sorted(info.name for info in registry.plugins.available())))
        import torch

        torch.set_num_threads(threads)
        from harness.runner import execute
    except BaseException as exc:
        from harness.manager import _short_error

        conn.send(("error", _short_error(exc)))
        return
    conn.send(("ready", None))
    while True:
        try:
            config = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            config = None
        if config is None:
            break
        conn.send(("began", _whereabouts(config, threads)))
        conn.send(("done", execute(config, registry, suite=suite)))
    # Skip the interpreter's teardown of torch (about a second): nothing is left to save.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# ---------------------------------------------------------------------------
# The pool, seen from the parent
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _child_environment(values: dict[str, str]):
    """Set environment variables for a child about to start, and put the parent's back afterwards.

    They must be in place before the child imports torch (``OMP_NUM_THREADS``,
    ``CUDA_VISIBLE_DEVICES``), which may happen before any worker code runs.
    """
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _sigint_blocked():
    """Start children with SIGINT blocked until they ignore it, so Ctrl-C during their start-up cannot hit them.

    A signal that arrives meanwhile stays pending for the parent and is delivered when this ends.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _death(exitcode: int | None) -> str:
    """'signal SIGKILL' or 'exit code 3': how a worker ended."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


class _Worker:
    """One worker process, its end of the pipe, and the run it holds."""

    def __init__(self, context, slot: int, environment: dict[str, str], args: tuple):
        self.slot = slot
        self.conn, child_end = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child_end, *args), name=f"harness-worker-{slot}", daemon=False
        )
        with _child_environment(environment), _sigint_blocked():
            self.process.start()
        child_end.close()  # the child holds the only other end: its death closes the pipe
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
        return _death(self.process.exitcode)


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
        return lost_record(self.registry, config, self.suite, worker.started_at, status, reason, **where)

    @staticmethod
    def _shut_down(workers: list[_Worker], gently: bool) -> None:
        """Leave no worker behind: idle ones are told to exit, busy (interrupted) ones terminated, then killed."""
        for worker in workers:
            if gently:
                worker.stop()
            elif worker.process.is_alive():
                worker.process.terminate()
        reap([(worker.process, worker.conn) for worker in workers])
