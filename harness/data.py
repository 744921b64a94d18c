"""Feeding batches to a run without letting the input pipeline become the benchmark.

Small datasets given as tensors are moved to the device once and sliced into
batches there (shuffled once per epoch with a seeded generator), which costs
a few microseconds a batch instead of the ~1 ms a per-sample DataLoader spends
collating 128 samples. Anything else goes through a regular DataLoader.

torch is imported inside the functions: dataset plugins call ``data_root``
from their cheap availability checks, and listing must not load torch.
"""

from __future__ import annotations

import math
import os
from pathlib import Path


class TensorBatches:
    """An iterable of batches cut from device-resident tensors of equal length."""

    def __init__(self, tensors, batch_size: int, shuffle: bool = False, seed: int = 0, device=None):
        tensors = tuple(tensors)
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("TensorBatches needs tensors of equal length")
        import torch

        self.tensors = tuple(t.to(device) if device is not None else t for t in tensors)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def num_samples(self) -> int:
        return len(self.tensors[0])

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self):
        import torch

        tensors = self.tensors
        if self.shuffle:
            order = torch.randperm(self.num_samples, generator=self.generator).to(tensors[0].device)
            tensors = tuple(t.index_select(0, order) for t in tensors)
        for start in range(0, self.num_samples, self.batch_size):
            yield tuple(t[start : start + self.batch_size] for t in tensors)


def is_tensor_split(split) -> bool:
    """True for a tuple/list of tensors, the form that can live on the device."""
    import torch

    return isinstance(split, (tuple, list)) and len(split) > 0 and all(isinstance(t, torch.Tensor) for t in split)


def make_batches(split, batch_size: int, *, shuffle: bool, seed: int, device, pin_memory: bool = False):
    """Device-resident batches for tensor splits, a seeded DataLoader for Datasets."""
    import torch
    from torch.utils.data import DataLoader, Dataset

    if is_tensor_split(split):
        return TensorBatches(split, batch_size, shuffle=shuffle, seed=seed, device=device)
    if isinstance(split, Dataset):
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(split, batch_size=batch_size, shuffle=shuffle, generator=generator, pin_memory=pin_memory)
    raise TypeError(f"a split must be a tuple of tensors or a torch Dataset, not {type(split).__name__}")


def batch_size_of(batch) -> int:
    """Number of samples in a batch of any common shape (tensor, tuple, dict)."""
    import torch

    while not isinstance(batch, torch.Tensor):
        if isinstance(batch, dict):
            batch = next(iter(batch.values()))
        elif isinstance(batch, (tuple, list)):
            batch = batch[0]
        else:
            return 0
    return int(batch.shape[0]) if batch.dim() else 1


# ---------------------------------------------------------------------------
# Where datasets live, and fixed splits (used by dataset plugins)
# ---------------------------------------------------------------------------

DATA_ROOT_ENV = "HARNESS_DATA_ROOT"
CACHE_ENV = "HARNESS_CACHE_DIR"


def data_root() -> Path:
    """Where downloadable datasets are looked for: ``--data-root`` / $HARNESS_DATA_ROOT, else ~/.cache/harness/data."""
    return Path(os.environ.get(DATA_ROOT_ENV) or Path.home() / ".cache" / "harness" / "data").expanduser()


def cache_dir(*parts: str) -> Path:
    """A folder for data the harness generates itself (e.g. mnist1d arrays); created on demand."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "harness").expanduser()
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def fixed_split(n: int, val_fraction: float, test_fraction: float, seed: int = 0):
    """Index tensors (train, val, test) of a seeded permutation of ``range(n)``.

    The split depends on ``seed`` only, never on a run's seed, so every run of
    a comparison sees the same test examples.
    """
    import torch

    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("val_fraction and test_fraction must be in (0, 1) and sum to less than 1")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]
