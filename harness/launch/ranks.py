"""One run over several devices: the harness starts the run's rank processes itself.

Lightning's own launchers do not fit inside a harness. Its ``ddp`` strategy
starts the other ranks by running the command line again -- a second
``harness run`` that trains the whole sweep and writes every record twice --
and ``ddp_spawn`` pickles the Trainer, which brings back neither what the
measuring callbacks saw nor the test results. So a run with ``devices`` N > 1
starts N processes (``spawn``), each of which rebuilds the registry and
trains the same config as one rank. Lightning finds ``LOCAL_RANK`` in their
environment, as under ``torchrun``, and starts nothing itself; its strategy
(DDP, FSDP, DeepSpeed) does the rest. Rank 0's record is the run's record.

Every rank trains on its own share of the data (:mod:`harness.train.sharding`;
:class:`harness.train.batches.TensorBatches` shards itself; Lightning gives a DataLoader a DistributedSampler), so
``batch_size`` is per device, as in Lightning, and a step trains on
``batch_size x N`` samples: that global batch is what samples/s counts.

The process that asked for the run (an inline sweep, a pool worker) waits.
A rank that fails stops the others at once instead of leaving them blocked
in a collective; a rank that dies gives the run a ``crashed`` record.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
from datetime import datetime, timezone
from multiprocessing.connection import wait

from harness import records
from harness.errors import one_line
from harness.launch import children
from harness.launch.machine import Threads, threads_per_worker

# torch, Lightning and the runner are imported inside the functions: a rank process must rebuild its registry
# (and ignore Ctrl-C) before it pays for them.


def execute(config, registry, suite: str | None, threads: Threads | None = None) -> dict:
    """Train ``config`` and return its record: here, or in one process per device when it has several.

    What every launcher calls for a run; the rank processes call the runner itself. ``threads`` is
    what the launcher gave this process (the runner records where the count came from).
    """
    from harness.train import runner
    from harness.train.sharding import needs_ranks

    if needs_ranks(config):
        return run_ranks(config, registry, suite, threads)
    return runner.execute(config, registry, suite=suite, threads_from=threads.source if threads else None)


def rank_threads(threads: Threads | None, world: int) -> Threads:
    """Each rank's CPU threads: a count the user gave holds per process; a share of the cores is split among ranks."""
    if threads is None:
        return threads_per_worker(world)
    if threads.source == "cores/workers":
        return Threads(max(1, threads.count // world), threads.source)
    return threads


def run_ranks(config, registry, suite: str | None, threads: Threads | None = None) -> dict:
    """Train ``config`` in one process per device and return rank 0's record (a failing rank's, if one fails)."""
    from harness.train.sharding import RANK_ENV, processes

    world = processes(config)
    threads = rank_threads(threads, world)
    context = multiprocessing.get_context("spawn")
    started = datetime.now(timezone.utc)
    port = _free_port()
    ranks: list[_Rank] = []
    try:
        for rank in range(world):
            environment = {
                RANK_ENV: f"{rank}/{world}",
                "LOCAL_RANK": str(rank),
                "NODE_RANK": "0",
                "WORLD_SIZE": str(world),
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
                "OMP_NUM_THREADS": str(threads.count),
            }
            args = (registry.plugins.origin, config, suite, os.getpid(), threads)
            ranks.append(_Rank(context, rank, environment, args))
        return _outcome(ranks, world, config, registry, suite, started)
    finally:
        _stop(ranks)


def _free_port() -> int:
    """A TCP port nobody listens on now, for rank 0's rendezvous (as Lightning finds one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Rank:
    """One rank process of a run, its end of the pipe, and what it has sent."""

    def __init__(self, context, rank: int, environment: dict[str, str], args: tuple):
        self.rank = rank
        self.process, self.conn = children.start(
            context, _rank_main, args, environment, name=f"harness-rank-{rank}", duplex=False
        )
        self.whereabouts: dict = {}
        self.error: str | None = None
        self.record: dict | None = None

    def read(self) -> None:
        """Take in everything the rank has sent so far."""
        while True:
            try:
                if not self.conn.poll():
                    return
                kind, payload = self.conn.recv()
            except (EOFError, OSError):
                return
            if kind == "began":
                self.whereabouts = payload
            elif kind == "error":
                self.error = payload
            else:
                self.record = payload


def _outcome(ranks: list[_Rank], world: int, config, registry, suite, started) -> dict:
    """Wait until rank 0 has its record, or until a rank fails or dies first; the run's record."""
    while ranks[0].record is None:
        live = [r for r in ranks if r.process.is_alive()]
        wait([r.conn for r in live] + [r.process.sentinel for r in live], timeout=1.0)
        for rank in ranks:
            ended = not rank.process.is_alive()  # checked before reading, so all it sent before it ended is read
            rank.read()
            if rank.error is not None:
                reason = f"rank {rank.rank} of {world} could not start: {rank.error}"
                return _record(config, registry, suite, started, rank, "failed", reason)
            if rank.record is not None and not records.is_final(rank.record):
                return _blame(rank, world)
            if ended and rank.record is None:
                rank.process.join()
                how = children.death(rank.process.exitcode)
                reason = f"rank {rank.rank} of {world} died ({how}) while running this cell"
                return _record(config, registry, suite, started, rank, "crashed", reason)
    deadline = (
        time.monotonic() + children.EXIT_GRACE_S
    )  # the others are past the last collective: let them end on their own
    for rank in ranks:
        rank.process.join(max(0.0, deadline - time.monotonic()))
    return ranks[0].record


def _blame(rank: _Rank, world: int) -> dict:
    """A failing rank's own record: the run failed, and the reason says on which rank."""
    record = rank.record
    if rank.rank:
        record["reason"] = f"rank {rank.rank} of {world}: {record['reason']}"
    return record


def _record(config, registry, suite, started, rank: _Rank, status: str, reason: str) -> dict:
    """The record of a run whose rank could not start or died: the runner's shape, the rank's whereabouts."""
    where = {"pid": rank.process.pid, **rank.whereabouts}
    return records.lost_record(registry.plugins, config, suite, started, status, reason, **where)


def _stop(ranks: list[_Rank]) -> None:
    """Leave no rank behind: any still running (blocked in a collective, interrupted) is terminated, then killed."""
    for rank in ranks:
        if rank.process.is_alive():
            rank.process.terminate()
    children.reap([(rank.process, rank.conn) for rank in ranks])


def _rank_main(conn, origin, config, suite: str | None, parent_pid: int, threads: Threads) -> None:
    """A rank's life: rebuild the registry, train ``config`` as this rank, send the record, exit.

    Messages: ``("error", why)`` if it cannot start, else ``("began",
    whereabouts)`` then ``("done", record)``.
    """
    children.become_child(parent_pid)  # Ctrl-C is for the process that started the run
    try:
        registry = children.prepare(origin, threads.count)
        import torch

        from harness.train import runner
        from harness.train.devices import whereabouts

        if config.accelerator in ("auto", "cuda", "gpu") and torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))  # the device Lightning gives this rank
    except BaseException as exc:
        conn.send(("error", one_line(exc)))
        return
    if children.tell_parent(conn, ("began", whereabouts(config, threads.source))):
        children.tell_parent(conn, ("done", runner.execute(config, registry, suite=suite, threads_from=threads.source)))
    children.leave()  # skip torch's teardown, and the process group's: the run is over
