"""One RunConfig -> one run record, trained in this process. Lightning lives in :mod:`harness.train` and nowhere above.

The runner never raises for a failing run: a run that raises, diverges or
runs out of memory comes back as a record whose status and reason say so, so
a sweep always goes on. It prints nothing but one line for a plugin whose
callbacks it drops (:mod:`harness.train.callbacks`).

A dataset loaded without a validation split (``val_fraction=0``: its
``val`` is None) trains without validation, and its record has none of the
validation-only results (:data:`VALIDATION_RESULTS`): absent, not zero.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
import signal
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import torch

from harness.config import RunConfig
from harness.errors import one_line
from harness.provenance import run_provenance
from harness.records import new_record
from harness.schedules import build_schedule
from harness.specs import METRIC_MODES, TASK_METRICS, DatasetInfo, DatasetSplits, Incompatible
from harness.train import sharding
from harness.train.batches import TensorBatches, first_batch, make_batches
from harness.train.callbacks import dropped_plugins, plugin_callbacks
from harness.train.devices import device_name, resolve_device
from harness.train.energy import EnergyMeter, counter_for
from harness.train.engine import EarlyStop, FabricLoop
from harness.train.lazy_lightning import import_lightning, is_lightning_module, lightning_callbacks, seed_everything
from harness.train.measure import (
    LossWatch,
    MemoryMeter,
    ThroughputMeter,
    ValidationCurve,
    count_parameters,
    flops_summary,
    peak_flops,
    token_counter,
    training_flops,
)
from harness.train.noise import TimingWatch
from harness.train.pruning import TrialPruning, pruning_budget
from harness.train.tasks import wrap

_DATA_CACHE: dict[tuple, DatasetSplits] = {}
_WARMED_DEVICES: set[str] = set()

#: Lightning's extras that cost time per step or write files: all off; the harness measures instead.
QUIET_TRAINER = {
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "num_sanity_val_steps": 0,
}

#: The results only a run with a validation split has; a run without one (``val_fraction=0``) lacks them.
VALIDATION_RESULTS = (
    "val_curve",
    "best_val_metric",
    "best_val_epoch",
    "time_to_target_s",
    "epoch_to_target",
    "eval_time_s",
)


def load_dataset(entry, params: dict) -> DatasetSplits:
    """The dataset's splits, loaded once per process for the same parameters."""
    key = (entry.plugin, entry.name, json.dumps(params, sort_keys=True, default=str))
    if key not in _DATA_CACHE:
        splits = entry.spec.load(**params)
        if not isinstance(splits, DatasetSplits):
            raise TypeError(f"dataset {entry.name}: load() returned {type(splits).__name__}, not DatasetSplits")
        if splits.info.task != entry.spec.task:
            raise TypeError(f"dataset {entry.name}: declares task {entry.spec.task} but loaded {splits.info.task}")
        _DATA_CACHE[key] = splits
    return _DATA_CACHE[key]


@contextlib.contextmanager
def _lightning_quietly(trainer):
    """Silence Lightning's advice warnings, and undo its Ctrl-C handling.

    Lightning turns Ctrl-C into ``exit(1)`` and then ignores SIGINT; the sweep
    gets its KeyboardInterrupt back so it can stop cleanly.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"(pytorch_)?lightning.*")
        warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
        try:
            yield
        except SystemExit:
            if trainer.interrupted:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                raise KeyboardInterrupt from None
            raise


def _warm_up_process(device: torch.device) -> None:
    """Pay a process's one-time costs (lazy imports, thread pools, CUDA/cuBLAS init) on a throwaway fit.

    Without it the first run of every process is charged ~10 MiB of CPU memory
    and slower early steps that have nothing to do with its model.
    """
    if device.type in _WARMED_DEVICES:
        return
    _WARMED_DEVICES.add(device.type)
    info = DatasetInfo(task="classification", modality="tabular", input_shape=(4,), num_classes=2)
    module = wrap(torch.nn.Linear(4, 2), info)
    data = (torch.randn(16, 4), torch.randint(0, 2, (16,)))
    loop = FabricLoop(
        device, "32-true", max_epochs=1, max_steps=-1, callbacks=[ThroughputMeter(0, device), LossWatch()]
    )
    loop.fit(
        module,
        lambda steps: (torch.optim.SGD(module.parameters(), lr=0.1), None),
        TensorBatches(data, 8, shuffle=True, device=device),
        TensorBatches(data, 8, device=device),
    )
    loop.test(module, TensorBatches(data, 8, device=device))
    training_flops(module, lambda: module.training_step(tuple(t.to(device) for t in data), 0), device)


#: How allocators without an exception class of their own say they are out of memory (MPS, the CPU allocator).
_OUT_OF_MEMORY = re.compile(r"out of memory|can't allocate memory|failed to allocate", re.IGNORECASE)


def _status_of(exc: BaseException) -> str:
    """``oom`` for any out-of-memory error (CUDA's has a class, others only a message), ``incompatible`` for a
    model that cannot take the dataset (:class:`harness.specs.Incompatible`), else ``failed``."""
    if isinstance(exc, Incompatible):
        return "incompatible"
    if isinstance(exc, torch.OutOfMemoryError) or (isinstance(exc, RuntimeError) and _OUT_OF_MEMORY.search(str(exc))):
        return "oom"
    return "failed"


def _free_device_memory(device: torch.device | None) -> None:
    """After an out-of-memory error, give the failed run's cached blocks back, so the next run starts clean."""
    gc.collect()
    if device is not None and device.type == "cuda":
        torch.cuda.empty_cache()


def execute(config: RunConfig, registry, suite: str | None = None, threads_from: str | None = None) -> dict:
    """Train and test one cell of the grid in this process (or as one rank of it); return its record.

    Never raises for a bad run. A run over several devices is started by
    :func:`harness.launch.ranks.execute`, whose rank processes each come here.
    ``threads_from`` is where the launcher took this process's thread count from, for the record.
    """
    started = datetime.now(timezone.utc)
    wall_start = time.perf_counter()
    record = new_record(config, suite)
    results: dict = record["results"]
    device = None
    try:
        device = resolve_device(config.accelerator)
        _warm_up_process(device)
        wall_start = time.perf_counter()  # the process's one-time warm-up is not this run's time
        _train_and_test(config, registry, device, record, results)
    except Exception as exc:  # a run's failure is data, not a crash of the sweep
        record["status"] = _status_of(exc)
        record["reason"] = str(exc) if record["status"] == "incompatible" else one_line(exc)  # a fact, not a bug
        record["traceback"] = "".join(traceback.format_exception(exc)[-12:])
        if record["status"] == "oom":
            record["reason"] = f"out of memory at batch size {config.batch_size}: {record['reason']}"
    finally:
        results["wall_time_s"] = time.perf_counter() - wall_start
    if record["status"] == "oom":  # out here, where the exception (and the run's tensors its traceback holds) is gone
        _free_device_memory(device)
    record["provenance"] = run_provenance(
        registry.plugins,
        config,
        started,
        device=device_name(device) if device is not None else None,
        accelerator=device.type if device is not None else None,
        threads=torch.get_num_threads(),  # the count torch really trains with, whoever set it
        threads_from=threads_from,
    )
    if dropped := dropped_plugins(registry):
        record["provenance"]["dropped_plugins"] = dropped
    return record


def _train_and_test(config: RunConfig, registry, device: torch.device, record: dict, results: dict) -> None:
    """Train one cell, then test it unless it diverged, filling in ``record`` (``results`` is its results).

    The steps' order is part of what is measured: seeding first, the memory
    meter started before the model is built (its weights count), FLOPs counted
    before the batches are made.
    """
    model_entry, dataset_entry, optimizer_entry = _entries(config, registry, record)
    data = load_dataset(dataset_entry, config.dataset_params)
    info = data.info
    if data.val is None and (config.early_stopping or config.target is not None):
        raise ValueError(
            f"dataset {config.dataset} has no validation split (val_fraction=0): early stopping and a target "
            "are judged on it"
        )

    seed_everything(config.seed)  # as Lightning's seed_everything(seed, workers=True) does it
    memory = MemoryMeter(device)
    memory.start()
    module, own_module, metric, mode = _build_module(model_entry, config, info)
    record.update(task=info.task, metric=metric, metric_mode=mode, synthetic=info.synthetic)
    results["params"], results["trainable_params"] = count_parameters(module)

    watch = _Watch.attach(config, registry, device, info, metric, mode, validated=data.val is not None)
    flops_per_step = _count_flops(module, data.train, config.batch_size, device)
    plan = _make_plan(config, device, data, module, optimizer_entry, watch.callbacks, metric, mode)
    timing = TimingWatch(device.type, torch.get_num_threads())
    timing.start()
    test = _fit(plan, own_module, results)
    results["timing"] = timing.stop(watch.meter.measured_intervals())

    results.update(memory.stop())
    watch.summarize(results)
    peak = peak_flops(device, config.precision) if str(config.devices) == "1" else None
    results.update(flops_summary(flops_per_step, config.batch_size, results.get("samples_per_s"), peak))
    if watch.losses.diverged_at_epoch is not None:
        record["status"] = "diverged"
        record["reason"] = f"training loss became non-finite in epoch {watch.losses.diverged_at_epoch}"
        return
    if watch.pruning is not None and watch.pruning.pruned_after is not None:  # a search never reads the test split
        record["status"] = "pruned"
        record["reason"] = watch.pruning.reason(pruning_budget(config.max_epochs, config.max_steps))
        results["pruned_after_epoch"] = watch.pruning.pruned_after
        return
    started = time.perf_counter()
    tested = test()
    results["test_time_s"] = time.perf_counter() - started
    results["test_metrics"] = tested
    results["test_metric"] = tested.get(metric)
    results["test_loss"] = tested.get("loss")


def _entries(config: RunConfig, registry, record: dict) -> tuple:
    """The run's model, dataset and optimizer entries; the record keeps what each is, in its plugin's own words."""
    entries = (
        registry.get("model", config.model),
        registry.get("dataset", config.dataset),
        registry.get("optimizer", config.optimizer),
    )
    record["descriptions"] = {  # what the report says each part is
        entry.kind: {"name": entry.name, "plugin": entry.plugin, "description": entry.spec.description}
        for entry in entries
    }
    return entries


def _build_module(model_entry, config: RunConfig, info: DatasetInfo) -> tuple[torch.nn.Module, bool, str, str]:
    """The model as a trainable module, whether it is the model's own, and the metric (and its mode) it is judged by.

    A model's own LightningModule may name its metric; a plain ``nn.Module`` is
    wrapped in the harness's task module, which takes the dataset's (a
    LightningModule only for a multi-device run, which the Trainer trains).
    """
    built = model_entry.spec.build(info, **config.model_params)
    if is_lightning_module(built):
        metric = getattr(built, "metric", None) or info.metric or TASK_METRICS[info.task][0]
        mode = getattr(built, "mode", None) or METRIC_MODES.get(metric, "max")
        return built, True, metric, mode
    if isinstance(built, torch.nn.Module):
        module = wrap(built, info, lightning=str(config.devices) != "1")
        return module, False, module.metric, module.mode
    raise TypeError(f"model {config.model}: build() returned {type(built).__name__}, not a torch.nn.Module")


@dataclass
class _Watch:
    """The callbacks that measure a run while it trains (then any a plugin adds), and what they found."""

    meter: ThroughputMeter
    curve: ValidationCurve | None  # None: the run has no validation split
    losses: LossWatch
    callbacks: list
    pruning: TrialPruning | None = None  # a tuning trial's pruner (config.prune), else None
    energy: EnergyMeter | None = None
    energy_absent: str | None = None  # why there is no energy meter

    @classmethod
    def attach(
        cls,
        config: RunConfig,
        registry,
        device: torch.device,
        info: DatasetInfo,
        metric: str,
        mode: str,
        validated: bool,
    ):
        """The harness's measuring callbacks first, then the plugins' (``harness_run_callbacks``), in that order."""
        meter = ThroughputMeter(config.warmup_steps, device, token_counter(info))
        curve = ValidationCurve(metric, mode, meter, config.target) if validated else None
        losses = LossWatch()
        pruning = None
        if config.prune and validated:  # after the curve: a pruned run's last epoch is on it
            pruning = TrialPruning(config.prune, metric, mode, pruning_budget(config.max_epochs, config.max_steps))
        energy, absent = _energy_meter(config, device)
        callbacks = [meter, *([curve] if curve is not None else []), losses, *([pruning] if pruning else [])]
        callbacks += [energy] if energy is not None else []
        callbacks.extend(plugin_callbacks(registry, config))
        return cls(meter, curve, losses, callbacks, pruning, energy, absent)

    def summarize(self, results: dict) -> None:
        """Speed, the validation curve (where there is one) and the training losses, into ``results``."""
        results.update(self.meter.summary())
        results["train_losses"] = self.losses.epoch_losses
        if self.energy is not None:
            results.update(self.energy.summary(sum(self.meter.samples)))
        else:
            results["energy_absent"] = self.energy_absent
        if self.curve is not None:
            results.update(self.curve.summary())
            results["eval_time_s"] = self.meter.eval_time_s


def _energy_meter(config: RunConfig, device: torch.device) -> tuple[EnergyMeter | None, str | None]:
    """The run's energy meter (:mod:`harness.train.energy`), or None and why there is none."""
    if str(config.devices) != "1":
        return None, "energy is measured on single-device runs only (a rank's counter sees its own device)"
    counter, absent = counter_for(device)
    if counter is None:
        return None, absent
    return EnergyMeter(counter, sync=torch.cuda.synchronize if device.type == "cuda" else None), None


def _make_plan(
    config: RunConfig, device: torch.device, data: DatasetSplits, module, optimizer_entry, callbacks, metric, mode
) -> _Plan:
    """What either engine trains with: the batches of each split, the optimizer's recipe, the callbacks."""

    def make_optimizer(total_steps: int):
        """The run's optimizer and schedule, for every module alike, so comparisons stay fair."""
        optimizer = optimizer_entry.spec.build(module.parameters(), **config.optimizer_params)
        if config.schedule == "constant":
            return optimizer, None
        return optimizer, build_schedule(optimizer, config.schedule, config.schedule_params, total_steps)

    def batches(split, shuffle):
        return make_batches(
            split,
            config.batch_size,
            shuffle=shuffle,
            seed=config.seed,
            device=device,
            workers=config.loader_workers,
            shard=sharding.shard(),
        )

    return _Plan(
        config=config,
        module=module,
        make_optimizer=make_optimizer,
        callbacks=callbacks,
        train=batches(data.train, True),
        val=batches(data.val, False) if data.val is not None else None,
        test=batches(data.test, False),
        train_split=data.train,
        device=device,
        deterministic=config.deterministic if config.deterministic is not None else device.type == "cpu",
        monitor=f"val_{metric}",
        mode=mode,
    )


def _fit(plan: _Plan, own_module: bool, results: dict) -> Callable[[], dict]:
    """Train with the engine the run needs (a Trainer for a model's own module or several devices, else Fabric)."""
    config = plan.config
    use_trainer = own_module or str(config.devices) != "1"
    if use_trainer and (config.compile or config.channels_last):
        raise ValueError(
            "compile and channels_last apply to the harness's own training loop: not to a model's own "
            "LightningModule nor to multi-device runs (compile or convert inside the module instead)"
        )
    results["engine"] = "trainer" if use_trainer else "fabric"
    return (_fit_with_trainer if use_trainer else _fit_with_fabric)(plan, results)


@dataclass
class _Plan:
    """Everything a training engine needs for one run, prepared the same way for both."""

    config: RunConfig
    module: torch.nn.Module  # a LightningModule when the Trainer trains it
    make_optimizer: Callable
    callbacks: list
    train: Iterable
    val: Iterable | None  # None: no validation split, no validation
    test: Iterable
    train_split: object
    device: torch.device
    deterministic: bool
    monitor: str  # val_<metric>
    mode: str


def _fit_with_fabric(plan: _Plan, results: dict) -> Callable[[], dict]:
    """Train the harness's own task module in the lean Fabric loop; return a function that tests it."""
    config = plan.config
    compile_batches = []
    if config.compile:  # the batch shapes of an epoch: the full one and the last, smaller one
        last = _split_length(plan.train_split) % config.batch_size
        compile_batches = [first_batch(plan.train_split, n, plan.device) for n in (config.batch_size, last) if n]
    loop = FabricLoop(
        plan.device,
        config.precision,
        max_epochs=config.max_epochs,
        max_steps=config.max_steps,
        callbacks=plan.callbacks,
        early_stop=EarlyStop(plan.monitor, plan.mode, config.early_stopping) if config.early_stopping else None,
        deterministic=plan.deterministic,
        compile=config.compile,
        channels_last=config.channels_last,
        compile_batches=compile_batches,
    )
    loop.fit(plan.module, plan.make_optimizer, plan.train, plan.val)
    results["epochs"] = loop.state.current_epoch + 1
    results["compile_time_s"] = loop.compile_time_s
    return lambda: loop.test(plan.module, plan.test)


def _fit_with_trainer(plan: _Plan, results: dict) -> Callable[[], dict]:
    """Train with a Lightning Trainer: models with their own LightningModule, and multi-device runs."""
    config, module = plan.config, plan.module

    def configure_optimizers():
        optimizer, scheduler = plan.make_optimizer(module.trainer.estimated_stepping_batches)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    pl = import_lightning()  # this run needs Lightning: a model's own LightningModule, or several devices
    module.configure_optimizers = configure_optimizers
    callbacks = lightning_callbacks(plan.callbacks)
    if config.early_stopping:
        callbacks.append(
            pl.callbacks.EarlyStopping(monitor=plan.monitor, mode=plan.mode, patience=config.early_stopping)
        )
    trainer = pl.Trainer(
        accelerator=plan.device.type,
        devices=config.devices,
        strategy=sharding.lightning_strategy(config),
        precision=config.precision,
        max_epochs=config.max_epochs,
        max_steps=config.max_steps,
        deterministic=plan.deterministic,
        callbacks=callbacks,
        **QUIET_TRAINER,
        **({"limit_val_batches": 0} if plan.val is None else {}),  # even a module with its own val_dataloader
    )
    with _lightning_quietly(trainer):
        trainer.fit(module, train_dataloaders=plan.train, val_dataloaders=plan.val)
    results["epochs"] = trainer.current_epoch
    results["compile_time_s"] = None
    results["world_size"] = trainer.world_size  # processes that trained together; samples/s counts them all

    def test() -> dict:
        with _lightning_quietly(trainer):
            tested = trainer.test(module, dataloaders=plan.test, verbose=False)[0]
        return {k[len("test_") :]: float(v) for k, v in tested.items() if k.startswith("test_")}

    return test


def _split_length(split) -> int:
    return len(split[0]) if isinstance(split, (tuple, list)) else len(split)


def _count_flops(module, split, batch_size: int, device: torch.device) -> int | None:
    """FLOPs of one training step on the first batch of the training split; None if they cannot be counted."""
    try:
        batch = first_batch(split, batch_size, device)
        module.to(device)
        module.train()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a plugin's module may self.log() without a trainer
            return training_flops(module, lambda: module.training_step(batch, 0), device)
    except Exception:  # counting is a nicety; a model the counter cannot follow just has no FLOPs figure
        return None
