"""Where dataset plugins find their files and cache what they make, and the fixed splits every run shares.

Part of the plugin contract: dataset plugins import these, so the module's
path and names stay fixed. torch is imported inside :func:`fixed_split` only:
plugins call :func:`data_root` from their cheap availability checks, and
listing must not load torch. Feeding batches to a run is
:mod:`harness.train.batches`'s job.
"""

from __future__ import annotations

import os
from collections.abc import Callable
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


def write_atomically(path: Path, write: Callable[[Path], None], suffix: str = ".tmp") -> None:
    """Write ``path`` whole or not at all: ``write(temporary path)`` beside it, then one rename.

    Parallel workers (or reports side by side) read a cache file while another
    process may be writing it; the rename is atomic, so a reader finds the old
    file, the new one or none, never half of one. ``suffix`` ends the temporary
    name (``.tmp.npz``: numpy's ``savez`` adds ``.npz`` to a name without it).
    """
    import tempfile

    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=suffix)
    os.close(handle)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def split_problem(params) -> str | None:
    """Why ``params["val_fraction"]`` and ``params["test_fraction"]`` cannot split a dataset, or None.

    A dataset's ``validate`` can return it as is; :func:`fixed_split` raises it.
    ``val_fraction=0`` is allowed: no validation split.
    """
    val, test = params["val_fraction"], params["test_fraction"]
    if not (0 <= val < 1 and 0 < test < 1 and val + test < 1):
        return (
            f"val_fraction must be in [0, 1) (0: no validation split) and test_fraction in (0, 1), "
            f"summing to less than 1; got {val!r} and {test!r}"
        )
    return None


def fixed_split(n: int, val_fraction: float, test_fraction: float, seed: int = 0):
    """Index tensors (train, val, test) of a seeded permutation of ``range(n)``.

    The split depends on ``seed`` only, never on a run's seed, so every run of
    a comparison sees the same test examples. ``val_fraction=0`` holds out no
    validation (its index tensor is empty): training uses the whole rest, as a
    paper's protocol may; the dataset's ``load`` then returns ``val=None``.
    """
    import torch

    problem = split_problem({"val_fraction": val_fraction, "test_fraction": test_fraction})
    if problem:
        raise ValueError(problem)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]
