"""The training loop for the harness's own task modules, on Lightning Fabric's terms.

Why not the Lightning ``Trainer``? Measured on a 2-core CPU, a bare Trainer
spends about 0.3 ms of Python on every training step whatever the model:
a tiny MLP whose hand-written step takes 0.3 ms runs at half speed under it,
and a benchmark harness must not halve what it measures. Fabric keeps what
the Trainer gives that matters here -- accelerator and device choice,
precision plugins (autocast, gradient scaling, true half precision), seeding
-- and leaves the loop to us. The loop below does per step exactly what a
hand-written PyTorch loop does, plus a clock read; everything else (loss
checks, validation, schedules per epoch, callbacks' bookkeeping) happens once
per epoch.

Models that bring their own ``LightningModule`` keep the Trainer (they may
rely on any of its hooks), and so do multi-device runs, where the Trainer's
strategies do the distribution. That is one path per kind of model.

At 32-bit precision on one device -- most runs -- all Fabric would do is move
the module to the device, so the loop does that itself and never imports
Lightning (whose import, with ``torch._dynamo`` and torchmetrics, takes a
pool worker longer than torch's own). Other precisions (mixed, half, double,
Transformer Engine) take Fabric's precision plugin, imported by the run that
asks for one (:class:`_FabricPrecision`).

Callbacks written for the Trainer work here too: the loop calls the usual
hook names (``on_train_start``, ``on_train_epoch_start``, ``on_train_batch_end``,
``on_validation_start``, ``on_validation_end``, ``on_train_epoch_end``,
``on_train_end``: :data:`~harness.train.lazy_lightning.HOOKS`) with a
:class:`LoopState` in place of the trainer; it has the attributes such
callbacks read most (``current_epoch``, ``global_step``,
``callback_metrics``, ``should_stop``, ``sanity_checking``). The harness's
own measuring callbacks are plain classes with those hooks.
"""

from __future__ import annotations

import contextlib
import math
import os
from time import perf_counter

import torch

from harness.train.batches import TensorBatches
from harness.train.lazy_lightning import hooks, import_lightning
from harness.train.measure import backward_of, side_effect_free

#: The precisions at which Fabric would only move the module to its one device: the loop does that without it.
PLAIN_PRECISIONS = ("32-true", "32")
#: Fabric's arguments its command line (``fabric run``) may override through ``LT_<NAME>`` variables.
_FABRIC_ENVIRONMENT = ("LT_ACCELERATOR", "LT_STRATEGY", "LT_DEVICES", "LT_NUM_NODES", "LT_PRECISION")


class LoopState:
    """What callbacks see as ``trainer`` in the Fabric loop."""

    sanity_checking = False

    def __init__(self, max_epochs: int, max_steps: int, steps_per_epoch: int):
        self.max_epochs = max_epochs
        self.max_steps = max_steps
        self.current_epoch = 0
        self.global_step = 0
        self.should_stop = False
        self.callback_metrics: dict[str, torch.Tensor] = {}
        self.estimated_stepping_batches = planned_steps(max_epochs, max_steps, steps_per_epoch)


def planned_steps(max_epochs: int, max_steps: int, steps_per_epoch: int) -> int:
    """How many optimizer steps a run will take at most (what schedules are defined over)."""
    by_epochs = max_epochs * steps_per_epoch
    return min(by_epochs, max_steps) if max_steps and max_steps > 0 else by_epochs


class _PlainPrecision:
    """32-bit precision on one device, as Fabric's base ``Precision`` plugin has it, without importing Lightning.

    Inputs stay as they are, the forward pass runs in no autocast context,
    there is no gradient scaler, and setting up moves the module to the device
    (Fabric's ``SingleDeviceStrategy.module_to_device``).
    """

    scaler = None

    def __init__(self, device: torch.device):
        self.device = device

    def convert_input(self, data):
        return data

    def autocast(self):
        return contextlib.nullcontext()

    def setup(self, module, optimizer):
        """Move ``module`` to the device; ``(optimizer to step, the plain optimizer)``."""
        module.to(self.device)
        return optimizer, optimizer

    def backward(self, loss) -> None:
        loss.backward()


class _FabricPrecision:
    """Any other precision: Lightning Fabric and its precision plugin (imported here, by the runs that need it)."""

    def __init__(self, device: torch.device, precision: str):
        fabric = import_lightning("lightning_fabric")
        devices = [device.index] if device.type == "cuda" and device.index is not None else 1
        self.fabric = fabric.Fabric(accelerator=device.type, devices=devices, precision=precision)
        self.plugin = self.fabric.strategy.precision
        self.scaler = getattr(self.plugin, "scaler", None)

    def convert_input(self, data):
        return self.plugin.convert_input(data)

    def autocast(self):
        return self.fabric.autocast()

    def setup(self, module, optimizer):
        """Convert and move ``module``; ``(Fabric's optimizer, which scales and steps, the plain optimizer)``."""
        _, wrapped = self.fabric.setup(module, optimizer)
        return wrapped, wrapped.optimizer

    def backward(self, loss) -> None:
        self.fabric.backward(loss)


def precision_for(device: torch.device, precision: str):
    """How a run at ``precision`` on ``device`` converts inputs, autocasts, sets up, scales and back-propagates."""
    if precision in PLAIN_PRECISIONS and not any(os.environ.get(name) for name in _FABRIC_ENVIRONMENT):
        return _PlainPrecision(device)
    return _FabricPrecision(device, precision)


class EarlyStop:
    """Stop when the validation metric has not improved for ``patience`` epochs."""

    def __init__(self, key: str, mode: str, patience: int):
        self.key, self.mode, self.patience = key, mode, patience
        self.best: float | None = None
        self.waited = 0

    def should_stop(self, metrics: dict) -> bool:
        value = metrics.get(self.key)
        if value is None:
            return False
        value = float(value)
        improved = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if improved and math.isfinite(value):
            self.best, self.waited = value, 0
            return False
        self.waited += 1
        return self.waited >= self.patience


@contextlib.contextmanager
def _deterministic(enabled: bool):
    """torch's deterministic algorithms for the run only: the worker process lives on."""
    before = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)


class FabricLoop:
    """Fit with per-epoch validation, then test: one run of a task module.

    ``make_optimizer(total_steps)`` returns ``(optimizer, scheduler_or_None)``;
    a scheduler steps once per optimizer step.
    """

    def __init__(
        self,
        device: torch.device,
        precision: str,
        *,
        max_epochs: int,
        max_steps: int,
        callbacks=(),
        early_stop: EarlyStop | None = None,
        deterministic: bool = False,
        compile: bool = False,
        channels_last: bool = False,
        compile_batches=(),
    ):
        self.precision = precision_for(device, precision)
        self.device = device
        self.max_epochs = max_epochs
        self.max_steps = max_steps
        self.callbacks = list(callbacks)
        self.early_stop = early_stop
        self.deterministic = deterministic
        self.compile = compile
        self.compile_batches = list(compile_batches)
        self.compile_time_s: float | None = None
        self.memory_format = torch.channels_last if channels_last else None
        self.state: LoopState | None = None

    # -- data -------------------------------------------------------------

    def _prepare(self, batches):
        """Device-resident tensors converted once (precision, memory format); other loaders per batch."""
        precision = self.precision
        if isinstance(batches, TensorBatches):
            batches.tensors = tuple(precision.convert_input(t) for t in batches.tensors)
            if self.memory_format is not None:
                batches.memory_format = self.memory_format
            return batches if batches.on_device(self.device) else _Transfer(batches, self.device, None)
        return _Transfer(batches, self.device, precision, self.memory_format)

    # -- the run ----------------------------------------------------------

    def fit(self, module, make_optimizer, train, val) -> None:
        """Train ``module``, validating on ``val`` after each epoch (``val`` None: never, e.g. ``val_fraction=0``)."""
        if val is None and self.early_stop is not None:
            raise ValueError("early stopping watches the validation metric, and this run has no validation split")
        train = self._prepare(train)
        val = self._prepare(val) if val is not None else None
        self.state = state = LoopState(self.max_epochs, self.max_steps, len(train))
        optimizer, scheduler = make_optimizer(state.estimated_stepping_batches)
        optimizer, raw = self.precision.setup(module, optimizer)  # moves (and converts) the module
        if self.memory_format is not None:
            module.to(memory_format=self.memory_format)
        if self.compile:
            module.net = torch.compile(module.net)
            self.compile_time_s = self._compile(module)
        self.module = module
        batch_end = hooks(self.callbacks, "on_train_batch_end")
        call = self._call
        max_steps = self.max_steps if self.max_steps and self.max_steps > 0 else math.inf
        training_step, backward, step, zero_grad = self._step_functions(module, optimizer, raw)
        # autocast per forward pass, never around the loop: autocast caches the low-precision copies of
        # the weights until its outermost context exits, so one long context would train on stale weights
        autocast = self.precision.autocast
        with _deterministic(self.deterministic):
            call("on_train_start")
            for epoch in range(self.max_epochs):
                state.current_epoch = epoch
                module.train()
                call("on_train_epoch_start")
                for batch_idx, batch in enumerate(train):
                    with autocast():
                        loss = training_step(batch, batch_idx)
                    zero_grad(set_to_none=True)
                    backward(loss)
                    step()
                    if scheduler is not None:
                        scheduler.step()
                    state.global_step += 1
                    for hook in batch_end:
                        hook(state, module, loss, batch, batch_idx)
                    if state.global_step >= max_steps:
                        state.should_stop = True
                        break
                call("on_train_epoch_end")
                if val is not None:
                    self._validate(module, val)
                if self.early_stop is not None and self.early_stop.should_stop(state.callback_metrics):
                    state.should_stop = True
                if state.should_stop:
                    break
            call("on_train_end")

    def _compile(self, module) -> float:
        """Compile the training graph for every batch shape an epoch has, before the clock starts.

        Runs forward and backward (never an optimizer step) on each of
        ``compile_batches`` -- the full batch and the epoch's last, smaller
        one -- so no compilation lands inside a measured training step.
        """
        start = perf_counter()
        precision = self.precision
        module.train()
        with side_effect_free(module, self.device):
            for batch in self.compile_batches:
                batch = precision.convert_input(_to(batch, self.device, False, self.memory_format))
                with precision.autocast():
                    loss = module.training_step(batch, 0)
                backward_of(loss)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return perf_counter() - start

    def _step_functions(self, module, optimizer, raw):
        """What one training step calls, bound once.

        Fabric's backward and optimizer step matter when its precision plugin
        scales the loss (16-mixed); otherwise they only add ~10 us of Python
        per step around ``loss.backward()`` and ``optimizer.step()``, so the
        loop calls those of the plain optimizer (``raw``) directly, exactly as
        a hand-written loop does.
        """
        if self.precision.scaler is not None:
            return module.training_step, self.precision.backward, optimizer.step, optimizer.zero_grad
        return module.training_step, torch.Tensor.backward, raw.step, raw.zero_grad

    def test(self, module, test) -> dict[str, float]:
        """The test split's metrics, ``{"loss": ..., "<metric>": ...}``."""
        with _deterministic(self.deterministic):
            values = self._evaluate(module, self._prepare(test), "test")
        return {k[len("test_") :]: float(v) for k, v in values.items()}

    def _validate(self, module, val) -> None:
        self._call("on_validation_start")
        self.state.callback_metrics.update(self._evaluate(module, val, "val"))
        self._call("on_validation_end")

    def _evaluate(self, module, batches, stage: str) -> dict:
        module.eval()
        step = module.validation_step if stage == "val" else module.test_step
        with torch.no_grad(), self.precision.autocast():  # the weights hold still: one context is right here
            for batch_idx, batch in enumerate(batches):
                step(batch, batch_idx)
        return module.stage_results(stage)

    def _call(self, name: str) -> None:
        for hook in hooks(self.callbacks, name):
            hook(self.state, self.module)


class _Transfer:
    """Batches from a DataLoader (or host-resident tensors) moved to the device as they are used."""

    def __init__(self, batches, device, precision=None, memory_format=None):
        self.batches, self.device, self.precision, self.memory_format = batches, device, precision, memory_format

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        non_blocking = self.device.type == "cuda"
        for batch in self.batches:
            batch = _to(batch, self.device, non_blocking, self.memory_format)
            yield self.precision.convert_input(batch) if self.precision is not None else batch


def _to(batch, device, non_blocking, memory_format):
    if isinstance(batch, torch.Tensor):
        batch = batch.to(device, non_blocking=non_blocking)
        if memory_format is not None and batch.dim() == 4 and batch.is_floating_point():
            batch = batch.contiguous(memory_format=memory_format)
        return batch
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(b, device, non_blocking, memory_format) for b in batch)
    if isinstance(batch, dict):
        return {k: _to(v, device, non_blocking, memory_format) for k, v in batch.items()}
    return batch


__all__ = ["FabricLoop", "LoopState", "EarlyStop", "PLAIN_PRECISIONS", "planned_steps", "precision_for"]
