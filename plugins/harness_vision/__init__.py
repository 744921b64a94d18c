"""Image classification: MNIST, Fashion-MNIST, CIFAR-10 and scikit-learn's digits; a classic CNN and a ResNet.

Registered through the ``harness`` entry-point group like any outside plugin.
The torch and numpy code lives in submodules (``datasets``, ``models``,
``digits``) imported only when a run loads data or builds a model; the
availability checks (``files``) use the standard library only and say where
the files were looked for and how to get them.
"""

from harness import hookimpl
from harness.specs import DatasetSpec, ModelSpec, lazy

#: Parameters of the file-backed datasets: validation is a fixed hold-out of the official training set.
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
        ),
        ModelSpec(
            name="resnet",
            build=lazy("harness_vision.models:build_resnet"),
            tasks=("classification",),
            modalities=("image",),
            defaults={"depth": 20, "width": 16, "shortcut": "pad"},
            description="CIFAR-style ResNet-20 (He et al., 2016): 3 stages of basic blocks, 16/32/64 channels, "
            "batch norm, global average pooling; depth 6n+2",
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
        ),
    ]
