"""Every timm architecture by name as ``timm/<name>`` (``timm/resnet18``, ``timm/vit_tiny_patch16_224``).

One family (:class:`harness.families.FamilySpec`), not one spec per architecture: ``harness list`` shows it
as one line and never imports timm (which imports torch and torchvision: seconds); a run, a wildcard under
the prefix (``timm/*vit_tiny*``) or a typo's did-you-mean is what imports it (:mod:`harness_timm.zoo`).

Each member is built from random weights and fitted to the dataset (:mod:`harness_timm.adapt`): its
classes, its channels, and for a model that has a fixed input size (a ViT, a Swin, an MLP-Mixer) its image
size and, when the model's own does not tile the image, a smaller patch. Whether the model can take the
dataset's images at all is found first on the ``meta`` device, so a mismatch fails at once with the reason.
``pretrained=true`` reads weights already on this machine only (:mod:`harness_timm.weights`); nothing is
ever downloaded.

Install with ``pip install "harness-dl[zoo]"`` or ``pip install timm torchvision`` (a torchvision built
for the installed torch).
"""

from __future__ import annotations

from harness import hookimpl
from harness.families import FamilySpec
from harness.specs import lazy

#: The PyPI distribution whose version keys the family's cached size.
DISTRIBUTION = "timm"
#: What timm needs importable: import name -> what to install.
REQUIREMENTS = {"timm": "timm", "torchvision": "torchvision"}


def package_missing() -> str | None:
    """Why the family cannot be used here (timm or torchvision not installed), or None; imports neither."""
    from importlib.util import find_spec

    missing = [dist for module, dist in REQUIREMENTS.items() if find_spec(module) is None]
    if not missing:
        return None
    return (
        f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed: pip install "
        f"{' '.join(missing)} (a torchvision built for your torch), or pip install 'harness-dl[zoo]'"
    )


@hookimpl
def harness_register_families():
    return [
        FamilySpec(
            kind="model",
            prefix="timm/",
            resolve=lazy("harness_timm.zoo:resolve"),
            names=lazy("harness_timm.zoo:names"),
            description="architectures from timm",
            distribution=DISTRIBUTION,
            check=package_missing,
        )
    ]
