"""Sequences of fixed length: MNIST-1D, a 1-D CNN, a GRU classifier and the MNIST-1D paper's four models.

Registered through the ``harness`` entry-point group like any outside plugin.
Torch, numpy and mnist1d are imported only when a run builds a model or loads
the data (``harness_sequence.models``, ``harness_sequence.mnist1d_data``); the
availability check uses the standard library only. Inputs follow the
"sequence" modality convention: ``(channels, length)`` per sample.
"""

from __future__ import annotations

from harness import hookimpl
from harness.specs import DatasetSpec, ModelSpec, lazy
from harness_sequence.paper import paper_model_specs

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


def _positive(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= 1


def cnn1d_problem(params) -> str | None:
    """Why a 1-D CNN's parameters cannot build (checked before anything trains), or None."""
    channels = params["channels"] if isinstance(params["channels"], (list, tuple)) else [params["channels"]]
    if not channels or not all(_positive(c) for c in channels):
        return f"channels must be one or more positive whole numbers, got {params['channels']!r}"
    if not _positive(params["kernel_size"]):
        return f"kernel_size must be a positive whole number, got {params['kernel_size']!r}"
    if params["pool"] not in (None, "none", "max", "avg"):
        return f"pool must be one of none, max, avg; got {params['pool']!r}"
    if params["head"] not in ("flatten", "avg", "max"):
        return f"head must be one of flatten, avg, max; got {params['head']!r}"
    return None if 0 <= params["dropout"] < 1 else f"dropout must be in [0, 1), got {params['dropout']!r}"


def gru_problem(params) -> str | None:
    """Why a GRU's parameters cannot build, or None."""
    for key in ("hidden_size", "num_layers"):
        if not _positive(params[key]):
            return f"{key} must be a positive whole number, got {params[key]!r}"
    return None if 0 <= params["dropout"] < 1 else f"dropout must be in [0, 1), got {params['dropout']!r}"


def mnist1d_problem(params) -> str | None:
    """Why MNIST-1D's parameters cannot be used, or None; ``val_fraction=0`` keeps no validation split."""
    if params["num_samples"] < 10:
        return f"num_samples must be at least 10 (one per class), got {params['num_samples']!r}"
    if not 0 <= params["val_fraction"] < 1:
        return f"val_fraction must be in [0, 1) (0: no validation split), got {params['val_fraction']!r}"
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
            validate=cnn1d_problem,
        ),
        ModelSpec(
            name="gru",
            build=lazy("harness_sequence.models:build_gru"),
            tasks=("classification",),
            modalities=("sequence",),
            defaults={"hidden_size": 128, "num_layers": 1, "bidirectional": False, "dropout": 0.0},
            description="GRU (128 units, orthogonal recurrent init) over the length dimension, channels as features; "
            "last hidden state -> linear",
            validate=gru_problem,
        ),
        *paper_model_specs(),
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
            validate=mnist1d_problem,
        ),
    ]
