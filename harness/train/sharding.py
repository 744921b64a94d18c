"""What a process knows of a run over several devices: whether it is one rank of it, and how many ranks there are.

A run with ``devices`` N > 1 trains in N rank processes, which
:mod:`harness.launch.ranks` starts; each finds ``RANK/WORLD`` in
:data:`RANK_ENV` and trains its share (:class:`harness.train.batches.TensorBatches`
shards itself, Lightning gives a DataLoader a DistributedSampler). This
module only reads that; starting processes is the launchers' job.
"""

from __future__ import annotations

import os

import torch

#: Set in a rank process to ``"RANK/WORLD"``: it trains its share of one run and never starts ranks itself.
RANK_ENV = "HARNESS_RANK"


def shard() -> tuple[int, int] | None:
    """``(rank, world size)`` in a rank process of a multi-device run; None anywhere else."""
    value = os.environ.get(RANK_ENV)
    if not value:
        return None
    rank, world = value.split("/")
    return int(rank), int(world)


def processes(config) -> int:
    """How many processes a run trains in: one per device, as Lightning counts ``devices`` for the accelerator."""
    accelerator = config.accelerator
    if accelerator == "auto":
        accelerator = "cuda" if torch.cuda.is_available() else "cpu"  # Apple's MPS is a single device
    if accelerator not in ("cuda", "gpu", "cpu"):
        return 1
    if config.devices == "auto":
        return torch.cuda.device_count() if accelerator != "cpu" else 1
    return int(config.devices)


def needs_ranks(config) -> bool:
    """Whether this process must start rank processes for ``config`` rather than train it itself."""
    return str(config.devices) != "1" and shard() is None and processes(config) > 1


def lightning_strategy(config) -> str:
    """The Trainer's ``strategy``: in a rank process ``auto`` means DDP (never Lightning's fork or spawn)."""
    if config.strategy == "auto" and shard() is not None:
        return "ddp"
    return config.strategy
