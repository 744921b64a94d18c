"""Where a number came from: versions, machine, device and workspace commit.

Collected once per process (a git call and a few imports are not free) and
stamped on every record, so results from different machines or commits are
never mistaken for each other.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def harness_version() -> str | None:
    """The installed version of the harness itself, under its distribution name (``harness.DISTRIBUTION``).

    Read from the package, which Python imports before any of its modules, not imported here: the facade's
    lazy entry points would put all of the harness above this module in its import graph.
    """
    return _version(sys.modules[__package__].DISTRIBUTION)


@functools.cache
def git_state(cwd: str | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git workspace around ``cwd``; (None, None) outside one."""

    def git(*args):
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None, None
        status = git("status", "--porcelain", "--untracked-files=no")
        return head.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def cpu_cores() -> int:
    """The cores this process may run on (its affinity mask, which containers and taskset narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@functools.cache
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def static_provenance() -> dict:
    """The part of provenance that is the same for every run in this process."""
    commit, dirty = git_state()
    return {
        "python": platform.python_version(),
        "torch": _version("torch"),
        "lightning": _version("pytorch-lightning") or _version("lightning"),
        "torchmetrics": _version("torchmetrics"),
        "harness": harness_version(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "executable": sys.executable,
        "git_commit": commit,
        "git_dirty": dirty,
    }


def run_provenance(
    plugins, config, started, *, device=None, accelerator=None, threads=None, threads_from=None, pid=None
) -> dict:
    """The provenance of one run: the process's static part plus where, when and by which process it ran.

    ``device`` is :func:`harness.train.devices.device_name`'s text; ``threads`` the CPU threads the
    run's process trained with and ``threads_from`` why that many (``option``, ``OMP_NUM_THREADS`` or
    ``cores/workers``; None where nobody chose); ``pid`` defaults to this process, so records show
    which worker ran them.
    """
    from datetime import datetime, timezone

    return {
        **static_provenance(),
        "plugins": plugins.versions(),
        "device": device,
        "accelerator": accelerator,
        "threads": threads,
        "threads_from": threads_from,
        "pid": os.getpid() if pid is None else pid,
        "precision": config.precision,
        "seed": config.seed,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
