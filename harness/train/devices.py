"""Which device a run trains on, and how records name it."""

from __future__ import annotations

import contextlib
import os
import platform

import torch

from harness.provenance import cpu_name


def resolve_device(accelerator: str) -> torch.device:
    """The device a run will use: the best one present for 'auto', else the one asked for."""
    if accelerator in ("cuda", "gpu") or (accelerator == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("accelerator 'cuda' requested but torch sees no CUDA device")
        return torch.device("cuda", torch.cuda.current_device())
    mps = getattr(torch.backends, "mps", None)
    if accelerator == "mps" or (accelerator == "auto" and mps is not None and mps.is_available()):
        if mps is None or not mps.is_available():
            raise RuntimeError("accelerator 'mps' requested but torch sees no MPS device")
        return torch.device("mps")
    return torch.device("cpu")


def device_name(device: torch.device) -> str:
    """'cuda: NVIDIA H100 80GB HBM3', 'mps: Apple M2', 'cpu: Intel Xeon ... (2 threads)'."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return f"mps: {platform.machine()} {platform.mac_ver()[0]}"
    return f"cpu: {cpu_name()} ({torch.get_num_threads()} threads)"


def whereabouts(config, threads_from: str | None = None) -> dict:
    """Where this process will train ``config``, so a record can say so even if the process dies.

    ``threads`` is the count torch really has; ``threads_from`` says why (see
    :func:`harness.provenance.run_provenance`).
    """
    where = {"pid": os.getpid(), "threads": torch.get_num_threads(), "threads_from": threads_from}
    try:
        device = resolve_device(config.accelerator)
        where.update(device=device_name(device), accelerator=device.type)
    except Exception:  # the runner records why the device is unusable
        pass
    return where


@contextlib.contextmanager
def cpu_threads(count: int):
    """Train with ``count`` CPU threads in this process, then give the caller back its own count."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
