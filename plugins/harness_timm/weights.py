"""Pretrained weights for a ``timm/`` member, read from this machine only: never a download.

``pretrained_file=PATH`` names the file. Otherwise the file timm would fetch is looked for where timm
keeps it after a download: the Hugging Face hub cache (the architecture's ``hf_hub_id``) and the torch
hub cache (its ``url``). The file found is handed to timm as a local file, so its usual loading applies
(the classifier replaced for the dataset's classes, the first convolution summed for grey images, a ViT's
position embeddings and patch kernel resampled for its size); no hub or URL code runs, and
``HF_HUB_OFFLINE`` is set around it all the same.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import urlparse

from harness_timm.adapt import PREFIX, first_line

#: What timm's hub loader looks for when the architecture names no file of its own.
HF_FILES = ("model.safetensors", "pytorch_model.bin")


@contextlib.contextmanager
def offline():
    """The Hugging Face hub offline for the block: the variable, and the flag huggingface_hub read at import."""
    import sys

    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = getattr(sys.modules.get("huggingface_hub"), "constants", None)
    flag = getattr(constants, "HF_HUB_OFFLINE", None)
    if flag is not None:
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = before
        if flag is not None:
            constants.HF_HUB_OFFLINE = flag


def hub_cached(hub_id: str, filename: str | None) -> tuple[Path | None, str]:
    """The file of ``hub_id`` in the local Hugging Face cache (or None), and where it was looked for."""
    try:
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:
        return None, f"{hub_id} (huggingface_hub is not installed)"
    repo, _, revision = hub_id.partition("@")
    names = (filename,) if filename else HF_FILES
    for name in names:
        found = try_to_load_from_cache(repo, name, cache_dir=constants.HF_HUB_CACHE, revision=revision or None)
        if isinstance(found, str):
            return Path(found), ""
    return None, f"{' or '.join(names)} of {repo} in the Hugging Face cache {constants.HF_HUB_CACHE}"


def url_cached(url: str) -> tuple[Path | None, str]:
    """The file a download of ``url`` would have left in the torch hub cache (or None), and where that is."""
    import torch.hub

    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
    return (path, "") if path.is_file() else (None, f"{path.name} in the torch hub cache {path.parent}")


def cached_weights(timm, arch: str) -> Path:
    """The local file of ``arch``'s default (or tagged) pretrained weights; a ValueError saying where it looked."""
    cfg = timm.models.get_pretrained_cfg(arch)
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise ValueError(f"{PREFIX}{arch}: timm has no pretrained weights for {arch}; use pretrained=false")
    looked = []
    for source, find in ((cfg.hf_hub_id, lambda: hub_cached(cfg.hf_hub_id, cfg.hf_hub_filename)),
                         (cfg.url, lambda: url_cached(cfg.url))):  # fmt: skip
        if source:
            path, where = find()
            if path is not None:
                return path
            looked.append(where)
    tagged = f"{cfg.architecture}.{cfg.tag}" if cfg.tag else cfg.architecture
    raise ValueError(
        f"{PREFIX}{arch}: pretrained=true reads weights already on this machine and the harness never downloads, "
        f"but none were found (looked for {'; and '.join(looked)}); fetch them once where there is a network "
        f"(python -c \"import timm; timm.create_model('{tagged}', pretrained=True)\"), or give pretrained_file=PATH"
    )


def create_pretrained(timm, arch: str, kwargs: dict, file: str | None = None):
    """``arch`` built with ``kwargs`` and weights from ``file`` or the local caches, offline."""
    if file:
        path = Path(file).expanduser()
        if not path.is_file():
            raise ValueError(f"{PREFIX}{arch}: pretrained_file {file!r} is not a file")
    else:
        path = cached_weights(timm, arch)
    cfg = timm.models.get_pretrained_cfg(arch)
    # an .npz (Google's ViT weights) needs the architecture's own loader; any other file is a plain state dict
    custom = bool(cfg and cfg.custom_load) and path.suffix == ".npz"
    overlay = {"file": str(path), "custom_load": custom}
    try:
        with offline():
            return timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)
    except Exception as exc:
        raise ValueError(f"{PREFIX}{arch}: the weights in {path} do not load: {first_line(exc)}") from None
