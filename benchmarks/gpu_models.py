"""ImageNet-sized models for the GPU overhead benchmark, as a local harness plugin.

Loaded with ``--plugins benchmarks/gpu_models.py`` (the overhead script does
it itself): ``torchvision-resnet50`` needs torchvision, ``timm`` any timm
model by name. Each is listed as unavailable, with the reason, where its
package is missing.
"""

from __future__ import annotations

import importlib.util

from harness import hookimpl
from harness.specs import ModelSpec


def _needs(package: str):
    return lambda: None if importlib.util.find_spec(package) else f"needs the {package} package"


def build_torchvision_resnet50(info):
    from torchvision.models import resnet50

    return resnet50(num_classes=info.num_classes)


def build_timm(info, name="resnet50"):
    import timm

    return timm.create_model(name, num_classes=info.num_classes, in_chans=info.input_shape[0])


@hookimpl
def harness_register_models():
    return [
        ModelSpec(
            name="torchvision-resnet50",
            build=build_torchvision_resnet50,
            tasks=("classification",),
            modalities=("image",),
            description="torchvision's ResNet-50 (He et al., 2016), randomly initialised",
            check=_needs("torchvision"),
        ),
        ModelSpec(
            name="timm",
            build=build_timm,
            tasks=("classification",),
            modalities=("image",),
            defaults={"name": "resnet50"},
            description="any timm image model by name, randomly initialised",
            check=_needs("timm"),
        ),
    ]
