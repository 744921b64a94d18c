"""Honest measurement of a run, at a cost of a few microseconds per training step.

* :class:`ThroughputMeter` times each training step as the interval between
  consecutive step ends (data fetching and the framework's own loop included,
  validation excluded), with warm-up steps left out of the rates. On CUDA it
  records events and synchronises once per epoch, not per step.
* :class:`MemoryMeter` reports the CUDA allocator's peaks after a reset, or on
  CPU the growth of the process's peak resident set over the run, read from
  the kernel's high-water mark (reset at start) so no sampling is needed.
* :class:`ValidationCurve` keeps the per-epoch validation metrics, the best
  epoch and the training time at which a target was first reached.
* :class:`LossWatch` stops a run whose training loss is no longer finite.

They are plain classes with the Trainer's hook names (:data:`harness.train.lazy_lightning.HOOKS`):
the Fabric loop calls them as they are, a ``Trainer`` through
:func:`harness.train.lazy_lightning.lightning_callbacks`, so measuring a run imports no Lightning.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import threading
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from time import perf_counter

import torch

from harness.train.batches import batch_size_of
from harness.train.lazy_lightning import import_lightning


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def token_counter(info) -> Callable | None:
    """For token data, a function batch -> number of real (non-padding) tokens in it, as a device tensor.

    Counted: the input ids, and for sequence-to-sequence also the target
    tokens the decoder predicts (the reference without its leading <bos>).
    The count stays on the device; the meter reads it once per epoch.
    """
    if info.modality != "tokens":
        return None
    from harness.specs import PAD_ID

    if info.task == "seq2seq":
        return lambda batch: (batch[0] != PAD_ID).sum() + (batch[1][:, 1:] != PAD_ID).sum()
    return lambda batch: (batch[0] != PAD_ID).sum()


class ThroughputMeter:
    """Step intervals and samples (and tokens) per step; rates exclude the first ``warmup_steps``.

    In a multi-device run each rank sees its own batch; a step trains on all
    of them, so samples are counted over every rank (the ranks' batches are
    equal: see :class:`harness.train.batches.TensorBatches`) and token counts are summed
    across ranks once per epoch.
    """

    def __init__(self, warmup_steps: int = 5, device: torch.device | None = None, count_tokens: Callable | None = None):
        self.warmup_steps = warmup_steps
        self.cuda = device is not None and device.type == "cuda"
        self.count_tokens = count_tokens
        self.intervals: list[float] = []  # seconds, one per training step
        self.samples: list[int] = []
        self.tokens: list[int] = []
        self._epoch_marks: list = []  # clock marks of the running epoch: epoch start, then each step end
        self._epoch_tokens: list = []  # device tensors, read at the next flush
        self.eval_time_s = 0.0  # wall time of the validation passes (which end in a device sync)
        self._validation_started = 0.0
        self.world_size = 1  # processes that train together (a Trainer's world size; 1 in the Fabric loop)

    def _mark(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return perf_counter()

    def on_train_start(self, trainer, pl_module):
        self.world_size = getattr(trainer, "world_size", 1)

    def on_train_epoch_start(self, trainer, pl_module):
        self._epoch_marks = [self._mark()]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._epoch_marks.append(self._mark())
        self.samples.append(batch_size_of(batch) * self.world_size)
        if self.count_tokens is not None:
            self._epoch_tokens.append(self.count_tokens(batch))

    def on_validation_start(self, trainer, pl_module):
        self._flush()  # so time-to-target sees every step before this validation
        self._validation_started = perf_counter()

    def on_validation_end(self, trainer, pl_module):
        self.eval_time_s += perf_counter() - self._validation_started
        self._epoch_marks = [self._mark()]  # validation time never lands in a step interval

    def on_train_epoch_end(self, trainer, pl_module):
        self._flush()

    def on_train_end(self, trainer, pl_module):
        self._flush()  # a run stopped mid-epoch (max_steps) ends here without an epoch end

    def _flush(self) -> None:
        if self._epoch_tokens:
            counts = torch.stack(self._epoch_tokens)
            if self.world_size > 1:  # every rank flushes at the same points, with as many steps
                torch.distributed.all_reduce(counts)
            self.tokens.extend(int(n) for n in counts.tolist())
            self._epoch_tokens = []
        marks, self._epoch_marks = self._epoch_marks, self._epoch_marks[-1:]
        if len(marks) < 2:
            return
        if self.cuda:
            marks[-1].synchronize()
            self.intervals.extend(a.elapsed_time(b) / 1000.0 for a, b in pairwise(marks))
        else:
            self.intervals.extend(b - a for a, b in pairwise(marks))

    @property
    def train_time_s(self) -> float:
        """Training time so far (all steps, warm-up included, evaluation excluded)."""
        return float(sum(self.intervals))

    @property
    def warmup(self) -> int:
        """The steps left out of the rates: ``warmup_steps``, but never more than half of those taken."""
        return min(self.warmup_steps, len(self.intervals) // 2)

    def measured_intervals(self) -> list[float]:
        """The step times the rates are computed from (seconds, warm-up left out)."""
        return self.intervals[self.warmup :]

    def summary(self) -> dict:
        warmup = self.warmup
        measured = self.measured_intervals()
        samples = self.samples[warmup : len(self.intervals)]
        tokens = self.tokens[warmup : len(self.intervals)]
        seconds = sum(measured)
        return {
            "steps": len(self.intervals),
            "warmup_steps": warmup,
            "measured_steps": len(measured),
            "train_time_s": self.train_time_s,
            "samples_per_s": sum(samples) / seconds if seconds > 0 else None,
            "tokens_per_s": sum(tokens) / seconds if tokens and seconds > 0 else None,
            "step_time_median_ms": statistics.median(measured) * 1000 if measured else None,
            "step_time_p90_ms": _percentile(measured, 0.9) * 1000 if measured else None,
        }


def _read_status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class MemoryMeter:
    """Peak memory of the run; ``kind`` says which number it is."""

    def __init__(self, device: torch.device):
        self.device = device
        self.kind = "cuda_max_allocated" if device.type == "cuda" else "cpu_rss_growth"
        self._baseline_kb = 0
        self._sampler: _RssSampler | None = None

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        _release_free_heap()
        self._baseline_kb = _read_status_kb("VmRSS") or 0
        try:  # Linux >= 4.0: reset the high-water mark to the current RSS
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self._sampler = _RssSampler()
            self._sampler.start()

    def stop(self) -> dict:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return {
                "memory_kind": self.kind,
                "peak_memory_mb": torch.cuda.max_memory_allocated(self.device) / 2**20,
                "cuda_max_reserved_mb": torch.cuda.max_memory_reserved(self.device) / 2**20,
            }
        if self._sampler is not None:
            peak_kb = self._sampler.stop()
        else:
            peak_kb = _read_status_kb("VmHWM") or 0
        return {
            "memory_kind": self.kind,
            "peak_memory_mb": max(0, peak_kb - self._baseline_kb) / 1024,
            "cuda_max_reserved_mb": None,
        }


def _release_free_heap() -> None:
    """Give memory freed by earlier runs back to the OS (glibc), so a run's growth doesn't depend on what ran before."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _RssSampler(threading.Thread):
    """Fallback where the kernel's high-water mark cannot be reset (macOS): sample RSS every 20 ms."""

    def __init__(self):
        super().__init__(daemon=True)
        import psutil

        self._process = psutil.Process()
        self._stop = threading.Event()
        self.peak_kb = self._process.memory_info().rss // 1024

    def run(self):
        while not self._stop.wait(0.02):
            self.peak_kb = max(self.peak_kb, self._process.memory_info().rss // 1024)

    def stop(self) -> int:
        self._stop.set()
        self.join()
        return max(self.peak_kb, self._process.memory_info().rss // 1024)


class ValidationCurve:
    """Per-epoch validation metrics, the best epoch, and time-to-target.

    Reads ``val_<metric>`` and ``val_loss`` from what the LightningModule
    logged once per validation epoch.
    """

    def __init__(self, metric: str, mode: str, meter: ThroughputMeter, target: float | None = None):
        self.key = f"val_{metric}"
        self.mode = mode
        self.meter = meter
        self.target = target
        self.curve: list[dict] = []
        self.time_to_target_s: float | None = None
        self.epoch_to_target: int | None = None

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        value = _scalar(metrics.get(self.key))
        point = {
            "epoch": trainer.current_epoch,
            "val_metric": value,
            "val_loss": _scalar(metrics.get("val_loss")),
            "train_time_s": self.meter.train_time_s,
        }
        self.curve.append(point)
        if self.target is not None and self.time_to_target_s is None and value is not None:
            if (value >= self.target) if self.mode == "max" else (value <= self.target):
                self.time_to_target_s = point["train_time_s"]
                self.epoch_to_target = point["epoch"]

    def summary(self) -> dict:
        scored = [p for p in self.curve if p["val_metric"] is not None]
        best = None
        if scored:
            pick = max if self.mode == "max" else min
            best = pick(scored, key=lambda p: p["val_metric"])
        return {
            "val_curve": self.curve,
            "best_val_metric": best["val_metric"] if best else None,
            "best_val_epoch": best["epoch"] if best else None,
            "time_to_target_s": self.time_to_target_s,
            "epoch_to_target": self.epoch_to_target,
        }


class LossWatch:
    """Keeps the training losses on the device and checks them once per epoch (one sync, not one per step)."""

    def __init__(self):
        self.diverged_at_epoch: int | None = None
        self.epoch_losses: list[float] = []
        self._losses: list[torch.Tensor] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self._losses = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            self._losses.append(loss.detach())

    def on_train_epoch_end(self, trainer, pl_module):
        if not self._losses:
            return
        mean = float(torch.stack(self._losses).float().mean())
        self._losses = []
        self.epoch_losses.append(mean)
        if not math.isfinite(mean):
            self.diverged_at_epoch = trainer.current_epoch
            trainer.should_stop = True


def _scalar(value) -> float | None:
    if value is None:
        return None
    return float(value.item() if isinstance(value, torch.Tensor) else value)


@contextlib.contextmanager
def side_effect_free(module: torch.nn.Module, device: torch.device):
    """Run extra steps on ``module`` (FLOP counting, compilation) without changing the run that follows.

    The random state is forked, and gradients and buffers (BatchNorm
    statistics) are restored afterwards; parameters are never stepped.
    """
    saved = {name: buffer.detach().clone() for name, buffer in module.named_buffers()}
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=rng_devices):
            yield
    finally:
        module.zero_grad(set_to_none=True)
        with torch.no_grad():
            for name, buffer in module.named_buffers():
                if name in saved:
                    buffer.copy_(saved[name])


def backward_of(loss) -> None:
    """Back-propagate what a training step returned: a loss tensor, or a dict with ``loss``."""
    loss = loss.get("loss") if isinstance(loss, dict) else loss
    loss.backward()


def training_flops(module: torch.nn.Module, step: Callable[[], torch.Tensor], device: torch.device) -> int | None:
    """FLOPs of one training step (forward + backward), counted by ``torch.utils.flop_counter``.

    The step runs once on a real batch before training, without side effects
    on the run (:func:`side_effect_free`). None -- unknown, not zero -- when
    the counter sees no FLOPs or cannot see all of them: cuDNN's recurrent
    kernels are opaque to it, so RNNs on CUDA are not counted.
    """
    from torch.utils.flop_counter import FlopCounterMode

    if device.type == "cuda" and any(isinstance(m, torch.nn.RNNBase) for m in module.modules()):
        return None
    counter = FlopCounterMode(display=False)
    with side_effect_free(module, device), counter:
        backward_of(step())
    return counter.get_total_flops() or None


def peak_flops(device: torch.device, precision: str) -> float | None:
    """The device's advertised peak FLOP/s for the run's compute dtype, where Lightning knows it (GPUs).

    Lightning's table is imported here, by GPU runs only: a CPU run has no peak to look up.
    """
    if device.type != "cuda":
        return None
    import warnings

    get_available_flops = import_lightning("lightning_fabric.utilities.throughput").get_available_flops

    dtype = torch.float32
    if precision.startswith("bf16"):
        dtype = torch.bfloat16
    elif precision.startswith("16"):
        dtype = torch.float16
    elif precision.startswith("64"):
        dtype = torch.float64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_available_flops(device, dtype)


def flops_summary(flops_per_step: int | None, batch_size: int, samples_per_s: float | None, peak: float | None):
    """FLOPs per sample, achieved FLOP/s and model FLOPs utilisation; None where a factor is unknown."""
    per_sample = flops_per_step / batch_size if flops_per_step and batch_size else None
    achieved = per_sample * samples_per_s if per_sample and samples_per_s else None
    return {
        "flops_per_sample": per_sample,
        "achieved_flops_per_s": achieved,
        "mfu": achieved / peak if achieved and peak else None,
    }


def count_parameters(module: torch.nn.Module) -> tuple[int, int]:
    """(all, trainable) parameter counts."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return total, trainable


__all__ = [
    "ThroughputMeter",
    "MemoryMeter",
    "ValidationCurve",
    "LossWatch",
    "count_parameters",
    "token_counter",
    "training_flops",
    "side_effect_free",
    "backward_of",
    "peak_flops",
    "flops_summary",
]
