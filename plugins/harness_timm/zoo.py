"""The members of the ``timm/`` family: which architectures timm has, each one's spec, and its build.

Imported only when a ``timm/`` name is used (through :func:`harness.specs.lazy`); timm itself is imported
inside the functions, with an error that says what to install when it (or the torchvision under it)
cannot be.
"""

from __future__ import annotations

import functools
import re

from harness.specs import ModelSpec
from harness_timm.adapt import PREFIX, first_line, fit, image_shape
from harness_timm.params import DEFAULTS, params_problem
from harness_timm.weights import create_pretrained

#: The parameters passed to ``timm.create_model`` as they are (when not None).
PASSED = ("drop_rate", "drop_path_rate", "drop_block_rate", "global_pool", "patch_size", "window_size")


def matching_torchvision(torch_version: str) -> str | None:
    """The torchvision release series built for ``torch_version`` (torch 2.N goes with torchvision 0.N+15)."""
    found = re.match(r"2\.(\d+)\b", torch_version)
    return f"0.{int(found[1]) + 15}" if found else None


def import_failure(exc: BaseException, versions: dict | None = None) -> str:
    """One line: why timm cannot be imported, and what to install; ``versions`` (for tests) else the installed."""
    if versions is None:
        from importlib import metadata

        versions = {}
        for dist in ("torch", "torchvision"):
            try:
                versions[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                versions[dist] = None
    torch_v, vision_v = versions.get("torch"), versions.get("torchvision")
    wanted = matching_torchvision(torch_v or "")
    advice = "pip install timm torchvision (a torchvision built for your torch), or pip install 'harness-dl[zoo]'"
    if torch_v and vision_v and wanted and ("torchvision" in str(exc) or not vision_v.startswith(wanted + ".")):
        advice = (
            f"torchvision {vision_v} is not built for torch {torch_v}: pip install 'torchvision=={wanted}.*' "
            f"(the release for torch {torch_v.split('+')[0]}), or install the torch that torchvision {vision_v} needs"
        )
    return f"timm cannot be imported here ({first_line(exc)}); {advice}"


def import_timm():
    """timm, imported; an ImportError of one line saying what to install when it cannot be."""
    try:
        import timm
    except Exception as exc:  # a missing package, or a torchvision built for another torch (RuntimeError)
        raise ImportError(import_failure(exc)) from None
    return timm


def names() -> list[str]:
    """Every architecture timm registers, as ``timm/<name>`` (pretrained tags are not listed)."""
    return [PREFIX + name for name in import_timm().list_models()]


def known(timm, arch: str) -> bool:
    """Whether timm has ``arch``: an architecture, or one with a pretrained tag timm lists (``resnet18.a1_in1k``)."""
    base, _, tag = arch.partition(".")
    if not base or not timm.is_model(base):
        return False
    return not tag or arch in timm.list_pretrained(arch)


def resolve(name: str) -> ModelSpec | None:
    """The spec of ``timm/<name>``, or None when timm has no such architecture."""
    arch = name.removeprefix(PREFIX) if name.startswith(PREFIX) else ""
    if not arch or not known(import_timm(), arch):
        return None
    return ModelSpec(
        name=name,
        build=functools.partial(build, arch),
        tasks=("classification",),
        modalities=("image",),
        defaults=dict(DEFAULTS),
        description=f"timm's {arch}: random weights (pretrained=true: local weights only), fitted to the dataset's "
        "channels, classes and image size",
        validate=params_problem,
    )


def build(arch: str, info, **params):
    """timm's ``arch`` for ``info``'s images: fitted on the meta device first (fast, and says why it cannot
    take them), then built for real, from random weights unless ``pretrained`` asks for local ones."""
    shape = image_shape(PREFIX + arch, info)
    timm = import_timm()
    kwargs = {"num_classes": info.num_classes, "in_chans": shape[0]}
    kwargs.update({key: params[key] for key in PASSED if params.get(key) is not None})
    kwargs = fit(timm, arch, kwargs, shape)
    if params.get("pretrained") or params.get("pretrained_file"):
        return create_pretrained(timm, arch, kwargs, params.get("pretrained_file"))
    return timm.create_model(arch, **kwargs)
