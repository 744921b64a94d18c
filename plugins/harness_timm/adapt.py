"""Fitting a timm architecture to a dataset's images, found out on the ``meta`` device before anything is built.

Classes and channels are plain ``create_model`` keywords. A model with a fixed input size (its class takes
``img_size``: a ViT, a Swin, an MLP-Mixer, a MaxViT) is built for the dataset's height and width, and when it
cuts the image into patches (timm's ``PatchEmbed``) whose size does not tile the image finely enough, with
a smaller patch (:func:`choose_patch`). A convolutional model whose stem stride is its ``patch_size`` (a
ConvNeXt) and that leaves small images too small for its last stage gets a finer stem (:func:`finer_stems`).
Building on ``meta`` allocates no memory and runs no real arithmetic, so a model that cannot take the images
(a 3x3 kernel left with a 1x1 feature map, windows that do not divide the grid) fails in a second with
timm's own reason, instead of after a real build.
"""

from __future__ import annotations

import inspect
import math
import re

from harness.specs import Incompatible

PREFIX = "timm/"
#: The coarsest patch grid a fitted patch leaves per side: timm's coarsest ViTs (224 px, patch 32) see 7x7.
MIN_GRID = 7
#: The batch of the meta forward: two, so a batch norm in training mode has more than one value per channel.
PROBE_BATCH = 2


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message``: what an error becomes in a one-line reason."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def image_shape(name: str, info) -> tuple[int, int, int]:
    """The dataset's ``(channels, height, width)``; a ValueError when its inputs are not images."""
    if len(info.input_shape) != 3:
        raise Incompatible(f"{name} needs images [channels, height, width], got inputs of shape {info.input_shape}")
    channels, height, width = info.input_shape
    return channels, height, width


def choose_patch(native: int, height: int, width: int) -> int:
    """The model's own patch when it divides the image and leaves at least MIN_GRID patches a side; else the
    largest patch below it that divides both sides and does (1 for an image under MIN_GRID pixels)."""
    side = min(height, width)
    if height % native == 0 and width % native == 0 and side // native >= MIN_GRID:
        return native
    common = math.gcd(height, width)
    fitting = [p for p in range(min(native, common), 0, -1) if common % p == 0 and side // p >= MIN_GRID]
    return fitting[0] if fitting else 1


def constructor_params(cls) -> list[inspect.Parameter]:
    """The keyword parameters a model class's constructor names, subclass first, through the ``**kwargs`` of
    subclasses that pass them on (DeiT's)."""
    found: list[inspect.Parameter] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        found += [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return found


def accepted(cls) -> set[str]:
    """The keywords a model class's constructor takes."""
    return {p.name for p in constructor_params(cls)}


def patch_embed(model):
    """The model's timm ``PatchEmbed`` (the layer that cuts the image into patches), or None."""
    from timm.layers import PatchEmbed

    return next((m for m in model.modules() if isinstance(m, PatchEmbed)), None)


def native_patch(model) -> int | None:
    """The square patch of the model's timm ``PatchEmbed``, or None (no such layer, or an oblong patch)."""
    size = getattr(patch_embed(model), "patch_size", None)
    if size is None:
        return None
    size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    return int(size[0]) if size[0] == size[1] else None


def meta_model(timm, arch: str, kwargs: dict):
    """The model built on the meta device: its shapes without its memory."""
    import torch

    with torch.device("meta"):
        return timm.create_model(arch, **kwargs)


def sized(model, kwargs: dict, shape) -> dict:
    """``kwargs`` plus the dataset's image size (and a fitted patch) for a model that takes ``img_size``."""
    takes = accepted(type(model))
    if "img_size" not in takes or "img_size" in kwargs:
        return dict(kwargs)
    _, height, width = shape
    fitted = {**kwargs, "img_size": height if height == width else (height, width)}
    patch = native_patch(model)
    if patch and "patch_size" in takes and "patch_size" not in kwargs:
        chosen = choose_patch(patch, height, width)
        if chosen != patch:
            fitted["patch_size"] = chosen
    return fitted


def pinned_keyword(exc: BaseException) -> str | None:
    """The keyword timm refused because the architecture's entry point fixes it (an MLP-Mixer's patch_size)."""
    found = re.search(r"multiple values for keyword argument '(\w+)'", str(exc)) if isinstance(exc, TypeError) else None
    return found[1] if found else None


def fit(timm, arch: str, kwargs: dict, shape) -> dict:
    """The ``create_model`` keywords with which ``arch`` takes ``shape`` images; :class:`Incompatible` saying why
    none do (a ValueError when timm refuses the user's own keywords).

    The first error names the parameters when timm refuses them ("cannot be built with drop_path_rate=0.1");
    every later one says "timm/NAME cannot take a CxHxW input: <why>". A size or patch the architecture
    fixes is left as it is, and named in the reason if the model then cannot take the images.
    """
    name = PREFIX + arch
    cannot = f"{name} cannot take a {'x'.join(str(d) for d in shape)} input"
    try:
        model = base = meta_model(timm, arch, kwargs)
    except Exception as exc:
        shown = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        raise ValueError(f"{name} cannot be built with {shown}: {first_line(exc)}") from None
    fitted, note = sized(base, kwargs, shape), ""
    while fitted != kwargs:
        try:
            model = meta_model(timm, arch, fitted)
            break
        except Exception as exc:
            key = pinned_keyword(exc)
            if key is None or key in kwargs or key not in fitted:
                raise Incompatible(f"{cannot}: {first_line(exc)}{note}") from None
            fitted.pop(key)
            at = f" at {native_patch(base)}" if key == "patch_size" and native_patch(base) else ""
            note += f"; timm's {arch} fixes its {key}{at}"
    untiled = untiled_patch(model, shape)
    if untiled:
        raise Incompatible(f"{cannot}: {untiled}{note}")
    try:
        probe(model, shape, kwargs["num_classes"], cannot, note)
    except Incompatible:
        for stem in finer_stems(base, fitted):  # a ConvNeXt's 4x4 stem leaves 28 px too small for its last stage
            candidate = {**fitted, "patch_size": stem}
            try:
                probe(meta_model(timm, arch, candidate), shape, kwargs["num_classes"], cannot, note)
            except Exception:
                continue
            return candidate
        raise
    return fitted


def stem_stride(cls) -> int | None:
    """The default ``patch_size`` a model class's constructor declares (a ConvNeXt's stem stride), or None."""
    default = next((p.default for p in constructor_params(cls) if p.name == "patch_size"), None)
    return default if isinstance(default, int) and not isinstance(default, bool) else None


def finer_stems(model, kwargs: dict) -> list[int]:
    """Smaller strides to try, largest first, for a convolutional model whose stem stride is its ``patch_size``
    (it takes that keyword but no ``img_size``) when the user did not set one: a stride of 2 instead of 4 gives
    its later stages four times the feature map, which small images need."""
    takes = accepted(type(model))
    if "patch_size" not in takes or "img_size" in takes or "patch_size" in kwargs:
        return []
    native = stem_stride(type(model))
    return [native // 2**k for k in range(1, 4) if native and native // 2**k >= 1]


def untiled_patch(model, shape) -> str | None:
    """Why the model's patches do not tile the image (a 16-pixel patch on 28 pixels drops 12 of them), or None."""
    embed = patch_embed(model)
    size = getattr(embed, "patch_size", None)
    if size is None or getattr(embed, "dynamic_img_pad", False):  # a padding PatchEmbed tiles any image
        return None
    size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    _, height, width = shape
    if height % size[0] or width % size[1]:
        return f"its {size[0]}x{size[1]} patches do not tile {height}x{width} images and would leave pixels out"
    return None


def probe(model, shape, num_classes: int, cannot: str, note: str = "") -> None:
    """One forward pass of a meta batch: :class:`Incompatible` ``cannot: why`` when the model cannot take it."""
    import torch

    try:
        with torch.no_grad():
            out = model(torch.empty(PROBE_BATCH, *shape, device="meta"))
    except Exception as exc:
        raise Incompatible(f"{cannot}: {first_line(exc)}{note}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (PROBE_BATCH, num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise Incompatible(f"{cannot}: its output is {got}, not class scores [batch, {num_classes}]{note}")
