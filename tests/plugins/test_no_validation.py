"""``val_fraction=0`` (``val_size=0`` for the image files): the loaders keep no validation split and return None."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.data import fixed_split


def test_fixed_split_accepts_no_validation():
    train, val, test = fixed_split(100, 0, 0.2, seed=1)
    assert len(val) == 0 and len(test) == 20 and len(train) == 80
    assert sorted(torch.cat([train, test]).tolist()) == list(range(100))
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\)"):
        fixed_split(100, -0.1, 0.2)


def test_digits_without_validation_trains_on_all_but_the_test_images():
    pytest.importorskip("sklearn")
    from harness_vision.digits import load_digits

    data = load_digits(val_fraction=0, test_fraction=0.2)
    assert data.val is None
    assert len(data.train[0]) + len(data.test[0]) == 1797
    assert len(load_digits().test[0]) == len(data.test[0])  # the same test split either way


def test_diabetes_without_validation():
    pytest.importorskip("sklearn")
    from harness_tabular.diabetes import load_diabetes

    data = load_diabetes(val_fraction=0)
    assert data.val is None and len(data.train[0]) + len(data.test[0]) == 442


def test_image_files_without_validation():
    from harness_vision.datasets import holdout_splits

    images = np.random.default_rng(0).integers(0, 255, size=(20, 1, 4, 4), dtype=np.uint8)
    labels = np.arange(20) % 10
    classes = tuple("0123456789")
    data = holdout_splits(images, labels, images[:5], labels[:5], classes, None, 0, 0, "tiny")
    assert data.val is None and len(data.train[0]) == 20
    assert len(holdout_splits(images, labels, images[:5], labels[:5], classes, None, 4, 0, "tiny").val[0]) == 4


def test_translation_pairs_without_validation():
    from harness_translation.corpus import build_splits

    pairs = [(f"a{i}", f"b{i}") for i in range(10)]
    indices = fixed_split(len(pairs), 0, 0.2)
    data = build_splits(pairs, indices, str.split, joiner=" ", text_metrics=False, metric="exact_match")
    assert data.val is None and len(data.train[0]) == 8 and len(data.test[0]) == 2


def test_mnist1d_holdout_of_nothing():
    from harness_sequence.mnist1d_data import stratified_holdout

    kept, held_out = stratified_holdout(np.array([0, 1, 2] * 4), 0, seed=0)
    assert len(held_out) == 0 and kept.tolist() == list(range(12))
