"""Sequences of fixed length: MNIST-1D, a 1-D CNN and a GRU classifier.

Registered through the ``harness`` entry-point group like any outside plugin.
Torch, numpy and mnist1d are imported only when a run builds a model or loads
the data (``harness_sequence.models``, ``harness_sequence.mnist1d_data``); the
availability check uses the standard library only. Inputs follow the
"sequence" modality convention: ``(channels, length)`` per sample.
"""

from __future__ import annotations

from harness import hookimpl
from harness.specs import DatasetSpec, ModelSpec, lazy

INSTALL_HINT = "pip install mnist1d (or: pip install 'harness[sequence]')"


def mnist1d_missing() -> str | None:
    """Why MNIST-1D cannot be generated here, or None; finds packages without importing them."""
    import importlib.util

    if importlib.util.find_spec("mnist1d") is None:
        return f"the mnist1d package is not installed: {INSTALL_HINT}"
    for dependency in ("scipy", "matplotlib", "requests"):  # mnist1d imports these at module level
        if importlib.util.find_spec(dependency) is None:
            return f"mnist1d needs {dependency}, which is not installed: pip install {dependency}"
    return None


@hookimpl
def harness_register_models():
    return [
        ModelSpec(
            name="cnn1d",
            build=lazy("harness_sequence.models:build_cnn1d"),
            tasks=("classification",),
            modalities=("sequence",),
            defaults={
                "channels": [32, 64, 64],
                "kernel_size": 5,
                "pool": "max",
                "head": "avg",
                "batch_norm": True,
                "dropout": 0.0,
            },
            description="1-D CNN: three Conv1d(k=5, same padding)-BatchNorm-ReLU-MaxPool(2) blocks "
            "(32-64-64 channels), global average pooling -> linear",
        ),
        ModelSpec(
            name="gru",
            build=lazy("harness_sequence.models:build_gru"),
            tasks=("classification",),
            modalities=("sequence",),
            defaults={"hidden_size": 128, "num_layers": 1, "bidirectional": False, "dropout": 0.0},
            description="GRU (128 units, orthogonal recurrent init) over the length dimension, channels as features; "
            "last hidden state -> linear",
        ),
    ]


@hookimpl
def harness_register_datasets():
    return [
        DatasetSpec(
            name="mnist1d",
            load=lazy("harness_sequence.mnist1d_data:load_mnist1d"),
            task="classification",
            modality="sequence",
            defaults={
                "num_samples": 5000,
                "generation_seed": 42,
                "shuffle_seq": False,
                "val_fraction": 0.1,
                "split_seed": 0,
            },
            description="MNIST-1D (Greydanus 2020): 5,000 generated 1-D digit signals of length 40, 10 classes; "
            "the package's 4,000/1,000 train/test split, 10% of train held out for validation",
            check=mnist1d_missing,
        ),
    ]
