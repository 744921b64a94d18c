"""MNIST, Fashion-MNIST and CIFAR-10 from their standard files, as device-ready tensors.

Every dataset keeps its official test set as the test split and holds out a
fixed, seeded part of the official training set for validation (model
selection never sees the test images). The hold-out depends on
``split_seed`` only, never on a run's seed. Pixels are scaled to [0, 1] and
standardised with the training split's mean and standard deviation (per
channel for colour), so no statistic leaks from validation or test data.
"""

from __future__ import annotations

import numpy as np
import torch

from harness.specs import DatasetInfo, DatasetSplits
from harness_vision import cifar, files
from harness_vision.idx import read_images_and_labels

FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DIGIT_CLASSES = tuple(str(i) for i in range(10))


def load_mnist(download=False, limit=None, val_size=5000, split_seed=0) -> DatasetSplits:
    """LeCun, Cortes & Burges' handwritten digits: 60,000 training and 10,000 test 28x28 grey images."""
    return _load_idx(files.MNIST, DIGIT_CLASSES, download, limit, val_size, split_seed)


def load_fashion_mnist(download=False, limit=None, val_size=5000, split_seed=0) -> DatasetSplits:
    """Zalando's Fashion-MNIST (Xiao et al., 2017): the same format and sizes as MNIST, ten clothing classes."""
    return _load_idx(files.FASHION_MNIST, FASHION_CLASSES, download, limit, val_size, split_seed)


def load_cifar10(download=False, limit=None, val_size=5000, split_seed=0) -> DatasetSplits:
    """Krizhevsky's CIFAR-10: 50,000 training and 10,000 test 32x32 colour images in ten classes."""
    folder, missing = files.cifar10_folder(), files.cifar10_missing()
    if missing:
        if not download:
            raise FileNotFoundError(missing)
        folder = files.download_cifar10()
    train_x, train_y, test_x, test_y = cifar.read_folder(folder, files.CIFAR10_TRAIN, files.CIFAR10_TEST)
    return holdout_splits(train_x, train_y, test_x, test_y, cifar.CLASSES, limit, val_size, split_seed, "cifar10")


def _load_idx(source, classes, download, limit, val_size, split_seed) -> DatasetSplits:
    found = source.find()
    if found is None:
        if not download:
            raise FileNotFoundError(source.missing_reason())
        found = source.download()
    train_x, train_y = read_images_and_labels(found["train_images"], found["train_labels"], len(classes))
    test_x, test_y = read_images_and_labels(found["test_images"], found["test_labels"], len(classes))
    if train_x.shape[1:] != test_x.shape[1:]:
        raise ValueError(f"{source.name}: training images are {train_x.shape[1:]} but test images {test_x.shape[1:]}")
    train_x, test_x = train_x[:, None], test_x[:, None]  # one channel
    return holdout_splits(train_x, train_y, test_x, test_y, classes, limit, val_size, split_seed, source.name)


def holdout_splits(train_x, train_y, test_x, test_y, classes, limit, val_size, split_seed, name) -> DatasetSplits:
    """Hold out ``val_size`` training images (seeded), cap training at ``limit``, standardise, wrap as tensors.

    Images arrive as uint8 ``[N, C, H, W]``. ``val_size=0`` holds out nothing: no validation split (None).
    """
    n = len(train_x)
    if isinstance(val_size, bool) or not isinstance(val_size, int) or not 0 <= val_size < n:
        raise ValueError(f"{name}: val_size must be an integer between 0 and {n - 1} (the training set has {n})")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"{name}: limit must be a positive integer or none, got {limit!r}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(split_seed))).numpy()
    val_idx, train_idx = order[:val_size], order[val_size:]
    mean, std = _channel_stats(train_x[train_idx])
    if limit is not None:
        train_idx = train_idx[:limit]  # a random subset, since the order is a seeded permutation

    def split(x, y, idx=None):
        images = x if idx is None else x[idx]
        tensor = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0)
        tensor.sub_(torch.tensor(mean).view(-1, 1, 1)).div_(torch.tensor(std).view(-1, 1, 1))
        labels = y if idx is None else y[idx]
        return tensor, torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))

    info = DatasetInfo(
        task="classification",
        modality="image",
        input_shape=tuple(train_x.shape[1:]),
        num_classes=len(classes),
        extra={"classes": list(classes), "mean": mean, "std": std},
    )
    train = split(train_x, train_y, train_idx)
    val = split(train_x, train_y, val_idx) if val_size else None
    return DatasetSplits(train, val, split(test_x, test_y), info)


def _channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 images ``[N, C, H, W]`` on the [0, 1] scale.

    Computed exactly from a 256-bin histogram per channel, so no float copy of the images is made.
    """
    values = np.arange(256, dtype=np.float64) / 255.0
    mean, std = [], []
    for c in range(images.shape[1]):
        counts = np.bincount(images[:, c].ravel(), minlength=256).astype(np.float64)
        m = float(counts @ values / counts.sum())
        var = float(counts @ (values - m) ** 2 / counts.sum())
        mean.append(m)
        std.append(var**0.5 or 1.0)
    return mean, std
