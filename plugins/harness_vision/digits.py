"""scikit-learn's digits (UCI optical recognition of handwritten digits, test part), offline."""

from __future__ import annotations

import numpy as np
import torch

from harness.specs import DatasetInfo, DatasetSplits


def load_digits(val_fraction=0.2, test_fraction=0.2, split_seed=0) -> DatasetSplits:
    """Fixed stratified train/validation/test splits; pixels scaled from 0..16 to 0..1.

    The split depends on ``split_seed`` only, never on the run's seed, so every
    run of a comparison sees the same test images. ``val_fraction=0`` keeps no
    validation split (``val`` is None): training gets all but the test images.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    if not (0 <= val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("val_fraction must be in [0, 1), test_fraction in (0, 1), and they must sum to less than 1")
    bunch = sklearn_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]  # N x 1 x 8 x 8
    labels = bunch.target.astype(np.int64)
    rest_x, test_x, rest_y, test_y = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=split_seed
    )

    def split(x, y):
        return torch.from_numpy(x), torch.from_numpy(y)

    info = DatasetInfo(task="classification", modality="image", input_shape=(1, 8, 8), num_classes=10)
    if val_fraction == 0:
        return DatasetSplits(split(rest_x, rest_y), None, split(test_x, test_y), info)
    train_x, val_x, train_y, val_y = train_test_split(
        rest_x, rest_y, test_size=val_fraction / (1 - test_fraction), stratify=rest_y, random_state=split_seed
    )
    return DatasetSplits(split(train_x, train_y), split(val_x, val_y), split(test_x, test_y), info)
