"""Seeded random tensors shaped like real workloads."""

from __future__ import annotations

import torch

from harness.specs import SPECIAL_TOKENS, DatasetInfo, DatasetSplits


def _splits(make_inputs, num_classes, train_size, val_size, test_size, seed):
    generator = torch.Generator().manual_seed(seed)

    def split(n):
        return make_inputs(n, generator), torch.randint(0, num_classes, (n,), generator=generator)

    return split(train_size), split(val_size), split(test_size)


def _check_sizes(*sizes):
    if any(int(s) <= 0 for s in sizes):
        raise ValueError("shape, sizes and num_classes must be positive")


def synthetic_images(shape=(3, 32, 32), num_classes=10, train_size=2048, val_size=256, test_size=256, seed=0):
    _check_sizes(*shape, num_classes, train_size, val_size, test_size)
    shape = tuple(int(d) for d in shape)
    splits = _splits(
        lambda n, g: torch.randn((n, *shape), generator=g), num_classes, train_size, val_size, test_size, seed
    )
    info = DatasetInfo(
        task="classification", modality="image", input_shape=shape, num_classes=num_classes, synthetic=True
    )
    return DatasetSplits(*splits, info)


def synthetic_sequences(shape=(1, 256), num_classes=10, train_size=2048, val_size=256, test_size=256, seed=0):
    _check_sizes(*shape, num_classes, train_size, val_size, test_size)
    shape = tuple(int(d) for d in shape)
    splits = _splits(
        lambda n, g: torch.randn((n, *shape), generator=g), num_classes, train_size, val_size, test_size, seed
    )
    info = DatasetInfo(
        task="classification", modality="sequence", input_shape=shape, num_classes=num_classes, synthetic=True
    )
    return DatasetSplits(*splits, info)


def synthetic_tokens(length=128, vocab_size=10000, num_classes=2, train_size=2048, val_size=256, test_size=256, seed=0):
    _check_sizes(length, vocab_size, num_classes, train_size, val_size, test_size)
    first = len(SPECIAL_TOKENS)  # never emit padding or the other special ids
    splits = _splits(
        lambda n, g: torch.randint(first, vocab_size, (n, length), generator=g),
        num_classes,
        train_size,
        val_size,
        test_size,
        seed,
    )
    vocab = [*SPECIAL_TOKENS, *(f"tok{i}" for i in range(first, vocab_size))]
    info = DatasetInfo(
        task="classification",
        modality="tokens",
        input_shape=(length,),
        num_classes=num_classes,
        vocab_size=vocab_size,
        synthetic=True,
        extra={"vocab": vocab},
    )
    return DatasetSplits(*splits, info)
