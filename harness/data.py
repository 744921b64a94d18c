"""Where dataset plugins find their files, and the fixed splits every run of a comparison shares.

Part of the plugin contract: dataset plugins import these, so the module's
path and names stay fixed. torch is imported inside :func:`fixed_split` only:
plugins call :func:`data_root` from their cheap availability checks, and
listing must not load torch. Feeding batches to a run is
:mod:`harness.train.batches`'s job.
"""

from __future__ import annotations

import os
from pathlib import Path

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
