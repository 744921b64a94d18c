"""The machine a pool runs on: its cores and GPUs, and how many CPU threads each worker gets, found without torch.

The parent of a pool sizes it and pins its workers from these, and it never imports torch.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

from harness.provenance import cpu_cores

#: Where a worker's thread count came from, as records say (provenance ``threads_from``).
THREAD_SOURCES = ("option", "OMP_NUM_THREADS", "cores/workers")


class Threads(NamedTuple):
    """How many CPU threads each worker (or rank) trains with, and where that number came from."""

    count: int
    source: str  # one of THREAD_SOURCES


def environment_threads() -> int | None:
    """``OMP_NUM_THREADS`` when it is set to a positive whole number, else None (unset, empty, "4,2", "0")."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def threads_per_worker(workers: int, threads: int | None = None, cores: int | None = None) -> Threads:
    """The CPU threads each of ``workers`` workers gets: the user's number, else an even share of the cores.

    An explicit ``threads`` (``--threads``, the suite key) wins, then an
    ``OMP_NUM_THREADS`` the user set; both are per worker, as OpenMP means them.
    Otherwise the ``cores`` (default: those this process may use) are split
    evenly, since many more threads than cores makes CPU training many times slower.
    """
    if threads is not None:
        return Threads(threads, "option")
    if (from_environment := environment_threads()) is not None:
        return Threads(from_environment, "OMP_NUM_THREADS")
    return Threads(max(1, (cpu_cores() if cores is None else cores) // max(1, workers)), "cores/workers")


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
