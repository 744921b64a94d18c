"""Feeding batches to a run without letting the input pipeline become the benchmark.

Small datasets given as tensors are moved to the device once and sliced into
batches there (shuffled once per epoch with a seeded generator), which costs
a few microseconds a batch instead of the ~1 ms a per-sample DataLoader spends
collating 128 samples. Anything else goes through a regular DataLoader.
"""

from __future__ import annotations

import math
import os

import torch
from torch.utils.data import DataLoader, Dataset, default_collate


class TensorBatches:
    """An iterable of batches cut from device-resident tensors of equal length.

    With ``shard=(rank, world)`` (one rank of a multi-device run) it yields only
    that rank's share, as a DistributedSampler would: every ``world``-th sample
    of the (shuffled) order, the same order on every rank. ``even`` pads the
    order by wrapping around, so that every rank takes the same number of
    steps (training); without it the shares may differ by one (evaluation,
    where every sample then counts exactly once).
    """

    def __init__(
        self,
        tensors,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        device=None,
        shard: tuple[int, int] | None = None,
        even: bool = False,
    ):
        tensors = tuple(tensors)
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("TensorBatches needs tensors of equal length")
        self.tensors = tuple(t.to(device) if device is not None else t for t in tensors)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(seed)
        self.memory_format = None  # e.g. torch.channels_last for image inputs, applied once per epoch
        self.pin = device is None and torch.cuda.is_available()  # host-resident for a GPU run: pin for async copies
        self.rank, self.world = shard or (0, 1)
        self.even = even

    def on_device(self, device) -> bool:
        return all(t.device == device for t in self.tensors)

    @property
    def num_samples(self) -> int:
        """Samples this rank sees per epoch (all of them, outside a multi-device run)."""
        total = len(self.tensors[0])
        if self.even:
            return math.ceil(total / self.world)
        return len(range(self.rank, total, self.world))

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def _order(self):
        """The indices of this epoch's samples for this rank; None for all of them in stored order."""
        total = len(self.tensors[0])
        if not self.shuffle and self.world == 1:
            return None
        order = torch.randperm(total, generator=self.generator) if self.shuffle else torch.arange(total)
        if self.world > 1:
            if self.even:
                order = order.repeat(math.ceil(self.world * self.num_samples / total))[: self.world * self.num_samples]
            order = order[self.rank :: self.world]
        return order.to(self.tensors[0].device)

    def __iter__(self):
        tensors = self.tensors
        order = self._order()
        if order is not None:
            tensors = tuple(t.index_select(0, order) for t in tensors)
        if self.memory_format is not None:
            tensors = tuple(
                t.contiguous(memory_format=self.memory_format) if t.dim() == 4 and t.is_floating_point() else t
                for t in tensors
            )
        if self.pin:
            tensors = tuple(t.pin_memory() for t in tensors)
        for start in range(0, self.num_samples, self.batch_size):
            yield tuple(t[start : start + self.batch_size] for t in tensors)


def is_tensor_split(split) -> bool:
    """True for a tuple/list of tensors, the form that can live on the device."""
    return isinstance(split, (tuple, list)) and len(split) > 0 and all(isinstance(t, torch.Tensor) for t in split)


#: Tensor splits bigger than this share of the device's free memory stay on the host and are copied per batch.
DEVICE_SHARE = 0.25


def fits_on_device(split, device) -> bool:
    """Whether a tensor split is small enough to live on ``device`` (always true for the CPU)."""
    if device is None or device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return sum(t.numel() * t.element_size() for t in split) <= DEVICE_SHARE * free


def default_loader_workers(device) -> int:
    """DataLoader workers when a run does not say: none on the CPU (they would steal its cores), else up to 4."""
    if device is None or device.type == "cpu":
        return 0
    return min(4, max(1, (os.cpu_count() or 2) - 1))


def make_batches(split, batch_size: int, *, shuffle: bool, seed: int, device, workers: int | None = None, shard=None):
    """Device-resident batches for tensor splits that fit, a seeded DataLoader for Datasets.

    A tensor split too big for the device stays on the host (pinned on CUDA)
    and the training loop copies each batch over. A DataLoader gets pinned
    memory on CUDA and ``workers`` persistent worker processes. ``shard``,
    ``(rank, world)`` in a multi-device run, gives tensor batches this rank's
    share (even across ranks when training, ``shuffle``); a Trainer gives a
    DataLoader its DistributedSampler itself.
    """
    if is_tensor_split(split):
        keep = device if fits_on_device(split, device) else None
        return TensorBatches(split, batch_size, shuffle=shuffle, seed=seed, device=keep, shard=shard, even=shuffle)
    if isinstance(split, Dataset):
        workers = default_loader_workers(device) if workers is None else workers
        return DataLoader(
            split,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=torch.Generator().manual_seed(seed),
            pin_memory=device is not None and device.type == "cuda",
            num_workers=workers,
            persistent_workers=workers > 0,
        )
    raise TypeError(f"a split must be a tuple of tensors or a torch Dataset, not {type(split).__name__}")


def first_batch(split, batch_size: int, device):
    """The first ``batch_size`` samples of a split, collated and on ``device``, without touching any shuffling state."""
    if is_tensor_split(split):
        return tuple(t[:batch_size].to(device) for t in split)
    batch = default_collate([split[i] for i in range(min(batch_size, len(split)))])
    return _to_device(batch, device)


def _to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def batch_size_of(batch) -> int:
    """Number of samples in a batch of any common shape (tensor, tuple, dict)."""
    while not isinstance(batch, torch.Tensor):
        if isinstance(batch, dict):
            batch = next(iter(batch.values()))
        elif isinstance(batch, (tuple, list)):
            batch = batch[0]
        else:
            return 0
    return int(batch.shape[0]) if batch.dim() else 1
