"""Choosing a launcher: the one place that checks a launcher's options against each other and the runs.

Every check happens before any work starts, so a bad combination costs nothing.
"""

from __future__ import annotations

from harness.errors import ConfigError
from harness.launch.base import Launcher
from harness.launch.inline import InlineLauncher
from harness.launch.local import LocalLauncher

LAUNCHERS = ("inline", "local", "ray")


def make_launcher(
    name: str,
    registry,
    suite: str | None = None,
    jobs: int | None = None,
    timeout: float | None = None,
    address: str | None = None,
    runs=(),
    threads: int | None = None,
) -> Launcher:
    """The launcher called ``name`` for ``runs``; a ConfigError before any work when they cannot go together.

    ``timeout`` is each run's time limit in seconds (None: no limit). Runs
    over several devices (``devices`` other than 1) start a process per
    device themselves (:mod:`harness.launch.ranks`) and use every device the
    machine shows, so they train one at a time, in this process or one worker.
    ``threads`` is each worker's CPU thread count (None: ``OMP_NUM_THREADS``
    when the user set it, else an even share of the cores; see
    :func:`harness.launch.machine.threads_per_worker`).
    """
    if name not in LAUNCHERS:
        raise ConfigError(f"unknown launcher {name!r}; allowed: {', '.join(LAUNCHERS)}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ConfigError(f"jobs must be a whole number of at least 1, not {jobs!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ConfigError(f"timeout: expected a positive number of seconds, got {timeout!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"threads must be a whole number of at least 1, not {threads!r}")
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
        return InlineLauncher(registry, suite, threads)
    if name == "ray":
        if timeout is not None:
            raise ConfigError("timeout: a per-run time limit needs the local launcher (the ray one has none)")
        from harness.launch.ray_actors import RayLauncher  # Ray is imported only when it is chosen

        return RayLauncher(registry, suite, jobs, address, threads)
    return LocalLauncher(registry, suite, jobs, timeout, threads)
