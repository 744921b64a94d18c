"""scikit-learn's digits (UCI optical recognition of handwritten digits, test part), offline.

scikit-learn computes the splits (its bundled images, its stratified
``train_test_split``), and they are cached as .npz under
``harness.data.cache_dir("digits")``, keyed by the split parameters and the
scikit-learn version: importing scikit-learn (with scipy and pandas) takes
longer than training a small model on digits, so a process whose splits are
cached never imports it. The cached arrays are the ones scikit-learn gave,
bit for bit.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from harness.data import cache_dir, write_atomically
from harness.specs import DatasetInfo, DatasetSplits

#: Bump when the arrays written for the same key change.
CACHE_VERSION = 1
SPLITS = ("train", "val", "test")


def load_digits(val_fraction=0.2, test_fraction=0.2, split_seed=0) -> DatasetSplits:
    """Fixed stratified train/validation/test splits; pixels scaled from 0..16 to 0..1.

    The split depends on ``split_seed`` only, never on the run's seed, so every
    run of a comparison sees the same test images. ``val_fraction=0`` keeps no
    validation split (``val`` is None): training gets all but the test images.
    """
    if not (0 <= val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("val_fraction must be in [0, 1), test_fraction in (0, 1), and they must sum to less than 1")
    import torch  # here, not at the top: the scikit-learn baseline reads the same splits without torch

    arrays = cached_splits(val_fraction, test_fraction, split_seed)

    def split(name):
        if f"{name}_x" not in arrays:
            return None
        return torch.from_numpy(arrays[f"{name}_x"]), torch.from_numpy(arrays[f"{name}_y"])

    info = DatasetInfo(task="classification", modality="image", input_shape=(1, 8, 8), num_classes=10)
    return DatasetSplits(split("train"), split("val"), split("test"), info)


def make_splits(val_fraction: float, test_fraction: float, split_seed: int) -> dict[str, np.ndarray]:
    """scikit-learn's images split as ``{"train_x", "train_y", ["val_x", "val_y",] "test_x", "test_y"}``."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]  # N x 1 x 8 x 8
    labels = bunch.target.astype(np.int64)
    rest_x, test_x, rest_y, test_y = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=split_seed
    )
    if val_fraction == 0:
        return {"train_x": rest_x, "train_y": rest_y, "test_x": test_x, "test_y": test_y}
    train_x, val_x, train_y, val_y = train_test_split(
        rest_x, rest_y, test_size=val_fraction / (1 - test_fraction), stratify=rest_y, random_state=split_seed
    )
    return {"train_x": train_x, "train_y": train_y, "val_x": val_x, "val_y": val_y, "test_x": test_x, "test_y": test_y}


def cache_path(val_fraction: float, test_fraction: float, split_seed: int) -> Path:
    """Where the splits for these parameters live: a hash of them and scikit-learn's version names the file."""
    try:
        sklearn_version = version("scikit-learn")
    except PackageNotFoundError:  # pragma: no cover - then make_splits cannot run either
        sklearn_version = "unknown"
    key = json.dumps(
        {"val_fraction": val_fraction, "test_fraction": test_fraction, "split_seed": split_seed,
         "scikit-learn": sklearn_version, "version": CACHE_VERSION},
        sort_keys=True,
    )  # fmt: skip
    return cache_dir("digits") / f"digits-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def cached_splits(val_fraction: float, test_fraction: float, split_seed: int) -> dict[str, np.ndarray]:
    """The splits from the cache when present, else made by scikit-learn and cached atomically."""
    path = cache_path(val_fraction, test_fraction, split_seed)
    if path.exists():
        try:
            with np.load(path) as stored:
                return {name: stored[name] for name in stored.files}
        except (OSError, ValueError, KeyError):  # a damaged cache file is made again, not trusted
            pass
    arrays = make_splits(val_fraction, test_fraction, split_seed)
    write_atomically(path, lambda tmp: np.savez(tmp, **arrays), suffix=".tmp.npz")
    return arrays
