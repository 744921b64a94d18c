"""The machine a pool runs on: its cores and GPUs, found without importing torch.

The parent of a pool sizes it and pins its workers from these, and it never imports torch.
"""

from __future__ import annotations

import os
import re
from pathlib import Path


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
