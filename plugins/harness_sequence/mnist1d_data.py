"""MNIST-1D (Greydanus, 2020), generated offline and cached as .npz.

The ``mnist1d`` package procedurally turns ten 1-D digit templates into noisy,
padded, sheared and translated signals of length 40. Generating is cheap but
not free, so the arrays are written once under
``harness.data.cache_dir("mnist1d")``, keyed by every generation argument and
the package version, and read back on later loads. Only ``make_dataset`` is
used: ``get_dataset`` would try to download the published pickle.
"""

from __future__ import annotations

import hashlib
import json
import random
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import torch

from harness.data import cache_dir, write_atomically
from harness.specs import DatasetInfo, DatasetSplits
from harness_sequence import mnist1d_missing

NUM_CLASSES = 10
ARRAYS = ("x", "y", "x_test", "y_test")


def generation_args(num_samples: int = 5000, generation_seed: int = 42, shuffle_seq: bool = False) -> dict:
    """The package's own generation arguments with the exposed ones overridden (the download URL dropped)."""
    from mnist1d.data import get_dataset_args

    args = get_dataset_args(as_dict=True)
    args.pop("url", None)
    if int(num_samples) < NUM_CLASSES:
        raise ValueError(f"num_samples must be at least {NUM_CLASSES} (one per class), got {num_samples}")
    args.update(num_samples=int(num_samples), seed=int(generation_seed), shuffle_seq=bool(shuffle_seq))
    return args


def cache_path(args: dict) -> Path:
    """Where the arrays for ``args`` live: a hash of the arguments and the package version names the file."""
    try:
        package_version = version("mnist1d")
    except PackageNotFoundError:  # pragma: no cover - imported from a source tree
        package_version = "unknown"
    key = json.dumps({"args": args, "mnist1d": package_version}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir("mnist1d") / f"mnist1d-{args['num_samples']}-{digest}.npz"


def generate(args: dict) -> dict[str, np.ndarray]:
    """Run the package's generator, leaving the global ``random``/``numpy`` RNG state as it found it.

    ``make_dataset`` reseeds both global generators; restoring them keeps a
    data load from silently changing what the rest of the process draws.
    """
    import mnist1d.data
    from mnist1d.utils import ObjectView

    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = mnist1d.data.make_dataset(ObjectView(dict(args)))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {
        "x": np.asarray(data["x"], dtype=np.float32),
        "y": np.asarray(data["y"], dtype=np.int64),
        "x_test": np.asarray(data["x_test"], dtype=np.float32),
        "y_test": np.asarray(data["y_test"], dtype=np.int64),
    }


def cached_arrays(args: dict) -> dict[str, np.ndarray]:
    """The generated arrays for ``args``: from the cache when present, else generated and cached atomically."""
    path = cache_path(args)
    if path.exists():
        try:
            with np.load(path) as stored:
                return {name: stored[name] for name in ARRAYS}
        except (OSError, ValueError, KeyError):  # a damaged cache file is regenerated, not trusted
            pass
    arrays = generate(args)
    write_atomically(path, lambda tmp: np.savez(tmp, args=json.dumps(args, sort_keys=True), **arrays), ".tmp.npz")
    return arrays


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out): ``round(fraction * n)`` samples, each class in proportion, chosen by ``seed`` alone.

    Classes get their share rounded down, and the samples left over go to the
    classes with the largest remainders, so the total is exact. A fraction of 0 holds out nothing.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    shares = counts * fraction
    quotas = np.floor(shares).astype(int)
    leftover = round(len(labels) * fraction) - quotas.sum()
    quotas[np.argsort(-(shares - quotas), kind="stable")[:leftover]] += 1
    held = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quotas, strict=True)]
    held_out = np.sort(np.concatenate(held)).astype(np.int64)
    kept = np.setdiff1d(np.arange(len(labels)), held_out)
    return kept, held_out


def load_mnist1d(
    num_samples=5000, generation_seed=42, shuffle_seq=False, val_fraction=0.1, split_seed=0
) -> DatasetSplits:
    """The package's train/test split, with a stratified validation hold-out from its training part.

    Inputs are ``float32 [N, 1, 40]`` (channels, length), already standardised
    by the generator; targets are class ids. The hold-out depends on
    ``split_seed`` only, never on the run's seed. ``shuffle_seq`` permutes the
    positions of every signal the same way (the paper's test of spatial priors).
    ``val_fraction=0`` keeps no validation split (``val`` is None).
    """
    reason = mnist1d_missing()
    if reason:
        raise ModuleNotFoundError(reason)
    args = generation_args(num_samples, generation_seed, shuffle_seq)
    arrays = cached_arrays(args)
    kept, held_out = stratified_holdout(arrays["y"], val_fraction, split_seed)

    def split(x, y):
        return torch.from_numpy(np.ascontiguousarray(x[:, None, :])), torch.from_numpy(np.ascontiguousarray(y))

    train = split(arrays["x"][kept], arrays["y"][kept])
    val = split(arrays["x"][held_out], arrays["y"][held_out]) if len(held_out) else None  # val_fraction=0
    test = split(arrays["x_test"], arrays["y_test"])
    info = DatasetInfo(
        task="classification",
        modality="sequence",
        input_shape=(1, arrays["x"].shape[1]),
        num_classes=NUM_CLASSES,
        extra={"generation_args": args},
    )
    return DatasetSplits(train, val, test, info)
