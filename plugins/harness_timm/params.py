"""What a ``timm/<name>`` grid item may set, and the check of its values before anything trains.

Every default is None ("the architecture's own"), except ``pretrained``: ``timm.create_model`` drops a
None keyword, so an architecture that has no such parameter (a VGG has no ``drop_path_rate``) still
builds, and only what a user sets reaches it. A None default takes any value in the override checker, so
the types are checked here.
"""

from __future__ import annotations

import math

#: Each parameter a member declares, with its default.
DEFAULTS = {
    "pretrained": False,  # true: weights from a local file or the local Hugging Face / torch hub cache, offline
    "pretrained_file": None,  # a .safetensors/.pth/.bin file to load (implies pretrained)
    "drop_rate": None,  # dropout before the classifier
    "drop_path_rate": None,  # stochastic depth
    "drop_block_rate": None,  # DropBlock (ResNets)
    "global_pool": None,  # the classifier's pooling: avg, max, avgmax, token, ...
    # a ViT-like model's patch, or a ConvNeXt-like stem's stride; None: its own when it fits the image, else smaller
    "patch_size": None,
    "window_size": None,  # a windowed model's attention window (Swin, MaxViT)
}

RATES = ("drop_rate", "drop_path_rate", "drop_block_rate")


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _rate(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value < 1


def params_problem(params) -> str | None:
    """Why a member's parameters cannot be used (checked before anything trains), or None."""
    for key in RATES:
        if params[key] is not None and not _rate(params[key]):
            return f"{key} must be a number in [0, 1) or none (the model's own), got {params[key]!r}"
    for key in ("pretrained_file", "global_pool"):
        if params[key] is not None and (not isinstance(params[key], str) or not params[key]):
            return f"{key} must be text or none, got {params[key]!r}"
    if params["patch_size"] is not None and not _whole(params["patch_size"]):
        return f"patch_size must be a positive whole number or none (fitted to the image), got {params['patch_size']!r}"
    window = params["window_size"]
    windows = window if isinstance(window, (list, tuple)) else [window]
    if window is not None and not (windows and all(_whole(w) for w in windows)):
        return f"window_size must be a positive whole number, a list of them, or none, got {window!r}"
    return None
