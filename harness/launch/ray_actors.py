"""The Ray launcher: runs train in persistent Ray actors, on a local Ray instance or an existing cluster.

It keeps the :class:`~harness.launch.base.Launcher` contract of the local pool (:mod:`harness.launch.local`): ``map``
yields ``(config, record)`` as runs finish, and the driver -- the process
that called :func:`harness.run` -- writes every record into its own results
directory. A sweep spread over a cluster therefore leaves the same records,
in the same place, as one on a laptop, and resumes the same way.

Each actor is a persistent worker: it rebuilds the registry once from the
arguments that built the driver's (its ``origin``), so every node must be
able to import the same plugins -- installed packages, and ``--plugins``
paths that exist there (on a local instance they do). It then trains cell
after cell with one GPU of its own, or its share of the CPUs. An actor that
dies mid-run gives its run a ``crashed`` record and is replaced.

Ray lives in its own module, imported only when this launcher is chosen, so
the harness never needs it otherwise (``pip install harness[ray]``); and the
local pool stays one concept per module.
"""

from __future__ import annotations

import os
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone

from harness import records
from harness.errors import LaunchError, one_line
from harness.launch import children
from harness.launch.base import check_plugins
from harness.launch.machine import Threads, cpu_cores, threads_per_worker

INSTALL_HINT = "the ray launcher needs `pip install harness[ray]`"


def import_ray():
    """Ray itself, or a LaunchError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise LaunchError(f"{INSTALL_HINT} ({exc})") from None
    return ray


class _Trainer:
    """What each Ray actor is: a registry built once, then one run after another.

    Its methods run in the actor's process, one at a time, in the order the driver calls them.
    """

    def __init__(self, origin, suite: str | None, threads: Threads):
        self.registry = children.prepare(origin, threads.count)
        self.suite = suite
        self.threads = threads

    def loaded(self) -> list[str]:
        """The plugins this actor could load (the driver checks it has them all)."""
        return sorted(info.name for info in self.registry.plugins.available())

    def whereabouts(self, config) -> dict:
        """Where ``config`` is about to train, so its record can say so even if this actor dies."""
        from harness.train.devices import whereabouts

        return {**whereabouts(config, self.threads.source), "hostname": socket.gethostname()}

    def run(self, config) -> dict:
        from harness.launch.ranks import execute

        return execute(config, self.registry, suite=self.suite, threads=self.threads)


class _Slot:
    """One actor of the pool, and the run it holds."""

    def __init__(self, actor, index: int):
        self.actor = actor
        self.index = index
        self.ready = actor.loaded.remote()  # resolves once the actor has loaded its plugins and torch
        self.config = None
        self.running = None  # the ref of the run it holds
        self.where = None  # the ref of that run's whereabouts
        self.started_at = None


class RayLauncher:
    """Trains cells in ``jobs`` persistent Ray actors: on the cluster at ``address``, or on a local Ray instance.

    ``address`` is what ``ray.init`` takes (``auto``, ``ray://HEAD:10001``);
    without one (and without ``RAY_ADDRESS``) a local instance is started for
    the sweep and shut down after it. A Ray connection the caller opened
    beforehand (``ray.init(...)`` in a notebook, with whatever ``runtime_env``
    it needs) is used as it is and left open. By default there is one actor per
    GPU of the cluster, else one per node; each reserves its share of the CPUs
    and uses that many threads, unless ``threads`` (or ``OMP_NUM_THREADS`` where the driver runs) says how many.
    """

    name = "ray"

    def __init__(
        self,
        registry,
        suite: str | None = None,
        jobs: int | None = None,
        address: str | None = None,
        threads: int | None = None,
    ):
        self.registry = registry
        self.threads = threads
        self.suite = suite
        self.jobs = jobs
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.ray = import_ray()
        self._connected = False
        self._owned = False  # this launcher opened the connection (and, without an address, started Ray)

    # -- the cluster --------------------------------------------------------

    def _connect(self) -> None:
        if self._connected:
            return
        ray = self.ray
        if not ray.is_initialized():
            try:
                if self.address is None:
                    ray.init(num_cpus=cpu_cores(), include_dashboard=False, log_to_driver=False)
                else:
                    ray.init(address=self.address, log_to_driver=False)
            except Exception as exc:  # Ray raises ConnectionError, ValueError, RuntimeError... all mean the same here
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
                raise LaunchError(f"could not start or reach {where}: {_short(exc)}") from None
            self._owned = True
        self._connected = True

    def _disconnect(self) -> None:
        if self._owned and self.ray.is_initialized():
            self.ray.shutdown()
        self._connected = self._owned = False

    def _cluster(self) -> tuple[float, float, float, int]:
        """The cluster's GPUs and CPUs, the most CPUs any one node has, and how many nodes have CPUs."""
        nodes = [node["Resources"] for node in self.ray.nodes() if node.get("Alive")]
        total = self.ray.cluster_resources()
        biggest = max((resources.get("CPU", 0.0) for resources in nodes), default=1.0)
        count = max(1, sum(1 for resources in nodes if resources.get("CPU")))
        return total.get("GPU", 0.0), total.get("CPU", 1.0), biggest, count

    def size(self, runs: int) -> int:
        """How many actors ``runs`` runs get (connecting to the cluster to count its GPUs or nodes)."""
        if runs <= 0:
            return 0
        self._connect()
        gpus, _, _, nodes = self._cluster()
        jobs = self.jobs or (int(gpus) if gpus >= 1 else nodes)
        return max(1, min(jobs, runs))

    def _options(self, count: int) -> tuple[dict, Threads]:
        """Each actor's resources (its share of GPUs and CPUs, spread over the nodes) and its threads."""
        gpus, cpus, biggest, _ = self._cluster()
        share = min(biggest, cpus / count)  # fractional when there are more actors than CPUs: Ray allows it
        threads = threads_per_worker(1, self.threads, cores=int(share))  # the share is already one actor's
        options = {
            "num_cpus": share,
            "num_gpus": min(1.0, gpus / count) if gpus else 0,
            "max_restarts": 0,  # a dead actor is replaced by the driver, which knows which run it held
            "scheduling_strategy": "SPREAD",
            "runtime_env": {"env_vars": {"OMP_NUM_THREADS": str(threads.count)}},  # before the actor imports torch
        }
        return options, threads

    # -- the sweep ----------------------------------------------------------

    def map(self, runs: Iterable, on_start: Callable | None = None) -> Iterator[tuple]:
        ray = self.ray
        pending = deque(runs)
        slots: list[_Slot] = []
        try:
            count = self.size(len(pending))
            if not count:
                return
            options, threads = self._options(count)
            actor_class = ray.remote(_Trainer).options(**options)
            origin = self.registry.plugins.origin

            def start(index: int) -> _Slot:
                return _Slot(actor_class.remote(origin, self.suite, threads), index)

            def hand_out(slot: _Slot) -> None:
                slot.config = slot.running = None
                if pending:
                    config = pending.popleft()
                    slot.where = slot.actor.whereabouts.remote(config)
                    slot.running = slot.actor.run.remote(config)  # after whereabouts: an actor takes calls in order
                    slot.config, slot.started_at = config, datetime.now(timezone.utc)
                    if on_start is not None:
                        on_start(config)

            slots = [start(index) for index in range(count)]
            starting = {slot.ready: slot for slot in slots}
            while pending and starting or any(slot.running is not None for slot in slots):
                refs = [*starting, *(slot.running for slot in slots if slot.running is not None)]
                (ref,), _ = ray.wait(refs, num_returns=1)
                if ref in starting:
                    slot = starting.pop(ref)
                    self._check_plugins(self._loaded(ref))
                    hand_out(slot)
                    continue
                slot = next(slot for slot in slots if slot.running == ref)
                config = slot.config
                try:
                    record = ray.get(ref)
                except ray.exceptions.RayActorError as exc:  # the actor died under the run
                    record = self._crashed(config, slot, exc)
                    slot.running = None
                    if pending:  # a replacement boots while the caller stores
                        replacement = start(slot.index)
                        slots.append(replacement)
                        starting[replacement.ready] = replacement
                    yield config, record
                    continue
                yield config, record
                hand_out(slot)  # after the yield: the caller sees a run finish before the next starts
        finally:
            for slot in slots:
                ray.kill(slot.actor, no_restart=True)
            self._disconnect()

    def _loaded(self, ref) -> list[str]:
        """An actor's plugins, once it is up; a LaunchError saying why when it could not start."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            raise LaunchError(f"a Ray actor could not start: {_short(exc)}") from None

    def _check_plugins(self, loaded: list[str]) -> None:
        """An actor must have every plugin the driver has; one registered by hand here cannot be rebuilt there."""
        check_plugins(
            self.registry,
            loaded,
            "a Ray actor: install them on every node (or load them with plugins=[PATH] from a path every node has)",
        )

    def _crashed(self, config, slot: _Slot, exc: Exception) -> dict:
        """The record of a run whose actor died under it: the runner's shape, status ``crashed``."""
        try:
            where = self.ray.get(slot.where, timeout=5)
        except Exception:  # the actor died before it could say
            where = {}
        hostname = where.pop("hostname", None)
        reason = f"Ray actor died while running this cell ({_short(exc)})"
        record = records.lost_record(
            self.registry.plugins, config, self.suite, slot.started_at, "crashed", reason, **where
        )
        if hostname is not None:
            record["provenance"]["hostname"] = hostname  # the node it ran on, not the driver's
        return record


def _short(exc: Exception) -> str:
    """One line from one of Ray's many-line errors: the actor's own exception, or the first line."""
    cause = getattr(exc, "cause", None) or getattr(exc, "base_exception", None)
    if isinstance(cause, Exception) and cause is not exc:
        return one_line(cause)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
