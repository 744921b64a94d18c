"""Image classification: MNIST, Fashion-MNIST, CIFAR-10 and scikit-learn's digits; a classic CNN and a ResNet.

Registered through the ``harness`` entry-point group like any outside plugin.
The torch and numpy code lives in submodules (``datasets``, ``models``,
``digits``) imported only when a run loads data or builds a model; the
availability checks (``files``) use the standard library only and say where
the files were looked for and how to get them.
"""

from harness import hookimpl
from harness.data import split_problem
from harness.specs import DatasetSpec, ModelSpec, lazy
from harness_vision.sklearn_baseline import REFERENCE as SKLEARN_MLP_REFERENCE

#: Parameters of the file-backed datasets: validation is a fixed hold-out of the official training set.
#: ``val_size=0`` trains on the whole official training set, without validation.
_FILE_DEFAULTS = {"download": False, "limit": None, "val_size": 5000, "split_seed": 0}


def _mnist_missing(**params):
    from harness_vision.files import MNIST

    return MNIST.missing_reason(**params)


def _fashion_mnist_missing(**params):
    from harness_vision.files import FASHION_MNIST

    return FASHION_MNIST.missing_reason(**params)


def _cifar10_missing(**params):
    from harness_vision.files import cifar10_missing

    return cifar10_missing(**params)


def _counts(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _positive(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= 1


def cnn_problem(params) -> str | None:
    """Why a CNN's parameters cannot build (checked before anything trains), or None."""
    channels = _counts(params["channels"])
    if not channels or not all(_positive(c) for c in channels):
        return f"channels must be one or more positive whole numbers, got {params['channels']!r}"
    if not _positive(params["hidden"]):
        return f"hidden must be a positive whole number, got {params['hidden']!r}"
    if not 0 <= params["dropout"] < 1:
        return f"dropout must be in [0, 1), got {params['dropout']!r}"
    return None


def resnet_problem(params) -> str | None:
    """Why a ResNet's parameters cannot build, or None."""
    depth = params["depth"]
    if depth < 8 or (depth - 2) % 6:
        return f"depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got {depth!r}"
    if not _positive(params["width"]):
        return f"width must be a positive whole number, got {params['width']!r}"
    if params["shortcut"] not in ("pad", "conv"):
        return f"shortcut must be 'pad' (option A) or 'conv' (option B), got {params['shortcut']!r}"
    return None


def files_problem(params) -> str | None:
    """Why a file-backed dataset's parameters cannot be used, or None; ``val_size=0`` keeps no validation split."""
    if params["val_size"] < 0:
        return f"val_size must be 0 (no validation split) or a positive number of images, got {params['val_size']!r}"
    if params["limit"] is not None and not _positive(params["limit"]):
        return f"limit must be a positive whole number or none, got {params['limit']!r}"
    return None


@hookimpl
def harness_register_models():
    return [
        ModelSpec(
            name="cnn",
            build=lazy("harness_vision.models:build_cnn"),
            tasks=("classification",),
            modalities=("image",),
            defaults={"channels": [32, 64], "hidden": 128, "dropout": 0.25},
            description="Classic CNN: [3x3 conv, ReLU, 2x2 max-pool] x (32, 64) -> dense 128 -> dropout -> classes",
            validate=cnn_problem,
        ),
        ModelSpec(
            name="resnet",
            build=lazy("harness_vision.models:build_resnet"),
            tasks=("classification",),
            modalities=("image",),
            defaults={"depth": 20, "width": 16, "shortcut": "pad"},
            description="CIFAR-style ResNet-20 (He et al., 2016): 3 stages of basic blocks, 16/32/64 channels, "
            "batch norm, global average pooling; depth 6n+2",
            validate=resnet_problem,
        ),
    ]


@hookimpl
def harness_register_datasets():
    return [
        DatasetSpec(
            name="digits",
            load=lazy("harness_vision.digits:load_digits"),
            task="classification",
            modality="image",
            defaults={"val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0},
            description="scikit-learn's bundled handwritten digits: 1,797 8x8 grey images, 10 classes",
            validate=split_problem,
            references=(SKLEARN_MLP_REFERENCE,),  # computed by scikit-learn when a report has a matching cell
        ),
        DatasetSpec(
            name="mnist",
            load=lazy("harness_vision.datasets:load_mnist"),
            task="classification",
            modality="image",
            defaults=dict(_FILE_DEFAULTS),
            description="MNIST handwritten digits from the IDX files: 28x28 grey, 10 classes, "
            "55,000 train / 5,000 validation (held out) / 10,000 official test",
            check=_mnist_missing,
            validate=files_problem,
        ),
        DatasetSpec(
            name="fashion-mnist",
            load=lazy("harness_vision.datasets:load_fashion_mnist"),
            task="classification",
            modality="image",
            defaults=dict(_FILE_DEFAULTS),
            description="Zalando's Fashion-MNIST from the IDX files: 28x28 grey clothing, 10 classes, "
            "55,000 train / 5,000 validation (held out) / 10,000 official test",
            check=_fashion_mnist_missing,
            validate=files_problem,
        ),
        DatasetSpec(
            name="cifar10",
            load=lazy("harness_vision.datasets:load_cifar10"),
            task="classification",
            modality="image",
            defaults=dict(_FILE_DEFAULTS),
            description="CIFAR-10 python batches: 32x32 colour, 10 classes, "
            "45,000 train / 5,000 validation (held out) / 10,000 official test",
            check=_cifar10_missing,
            validate=files_problem,
        ),
    ]
