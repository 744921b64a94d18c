"""One RunConfig -> one run record. Lightning lives here (and in measure/tasks) and nowhere above.

The runner never prints and never raises for a failing run: a run that
raises, diverges or runs out of memory comes back as a record whose status
and reason say so, so a sweep always goes on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import time
import traceback
import warnings
from datetime import datetime, timezone

import pytorch_lightning as pl
import torch

from harness.config import RunConfig
from harness.data import TensorBatches, make_batches
from harness.manager import _short_error
from harness.measure import LossWatch, MemoryMeter, ThroughputMeter, ValidationCurve, count_parameters
from harness.provenance import device_name, static_provenance
from harness.schedules import build_schedule
from harness.specs import METRIC_MODES, TASK_METRICS, DatasetInfo, DatasetSplits
from harness.store import SCHEMA_VERSION
from harness.tasks import wrap

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

for _name in ("pytorch_lightning", "lightning.pytorch", "lightning.fabric", "lightning_fabric"):
    logging.getLogger(_name).setLevel(logging.ERROR)


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
    module.configure_optimizers = lambda: torch.optim.SGD(module.parameters(), lr=0.1)
    batches = TensorBatches((torch.randn(16, 4), torch.randint(0, 2, (16,))), 8, shuffle=True, device=device)
    trainer = pl.Trainer(
        accelerator=device.type,
        devices=1,
        max_epochs=1,
        **QUIET_TRAINER,
        callbacks=[ThroughputMeter(0, device), LossWatch()],
    )
    with _lightning_quietly(trainer):
        trainer.fit(module, train_dataloaders=batches, val_dataloaders=batches)
        trainer.test(module, dataloaders=batches, verbose=False)


def _status_of(exc: BaseException) -> str:
    if isinstance(exc, torch.OutOfMemoryError):
        return "oom"
    return "failed"


def execute(config: RunConfig, registry, suite: str | None = None) -> dict:
    """Train and test one cell of the grid; return its record (never raises for a bad run)."""
    started = datetime.now(timezone.utc)
    wall_start = time.perf_counter()
    results: dict = {}
    record = {
        "schema": SCHEMA_VERSION,
        "key": config.key(),
        "suite": suite,
        "status": "ok",
        "reason": None,
        "traceback": None,
        "config": config.as_dict(),
        "results": results,
    }
    device = None
    try:
        device = resolve_device(config.accelerator)
        _warm_up_process(device)
        wall_start = time.perf_counter()  # the process's one-time warm-up is not this run's time
        _train_and_test(config, registry, device, record, results)
    except Exception as exc:  # a run's failure is data, not a crash of the sweep
        record["status"] = _status_of(exc)
        record["reason"] = _short_error(exc)
        record["traceback"] = "".join(traceback.format_exception(exc)[-12:])
    finally:
        results["wall_time_s"] = time.perf_counter() - wall_start
    record["provenance"] = {
        **static_provenance(),
        "plugins": registry.plugins.versions(),
        "device": device_name(device) if device is not None else None,
        "accelerator": device.type if device is not None else None,
        "precision": config.precision,
        "seed": config.seed,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return record


def _train_and_test(config: RunConfig, registry, device: torch.device, record: dict, results: dict) -> None:
    model_entry = registry.get("model", config.model)
    dataset_entry = registry.get("dataset", config.dataset)
    optimizer_entry = registry.get("optimizer", config.optimizer)
    data = load_dataset(dataset_entry, config.dataset_params)
    info = data.info

    pl.seed_everything(config.seed, workers=True, verbose=False)
    memory = MemoryMeter(device)
    memory.start()

    built = model_entry.spec.build(info, **config.model_params)
    if isinstance(built, pl.LightningModule):
        module = built
        metric = getattr(module, "metric", None) or info.metric or TASK_METRICS[info.task][0]
        mode = getattr(module, "mode", None) or METRIC_MODES.get(metric, "max")
    elif isinstance(built, torch.nn.Module):
        module = wrap(built, info)
        metric, mode = module.metric, module.mode
    else:
        raise TypeError(f"model {config.model}: build() returned {type(built).__name__}, not a torch.nn.Module")

    def configure_optimizers():
        """The run's optimizer and schedule, for every module alike, so comparisons stay fair."""
        optimizer = optimizer_entry.spec.build(module.parameters(), **config.optimizer_params)
        if config.schedule == "constant":
            return optimizer
        total = module.trainer.estimated_stepping_batches
        scheduler = build_schedule(optimizer, config.schedule, config.schedule_params, total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    module.configure_optimizers = configure_optimizers
    record.update(task=info.task, metric=metric, metric_mode=mode, synthetic=info.synthetic)
    results["params"], results["trainable_params"] = count_parameters(module)

    meter = ThroughputMeter(config.warmup_steps, device)
    curve = ValidationCurve(metric, mode, meter, config.target)
    loss_watch = LossWatch()
    callbacks = [meter, curve, loss_watch]
    if config.early_stopping:
        from pytorch_lightning.callbacks import EarlyStopping

        callbacks.append(EarlyStopping(monitor=f"val_{metric}", mode=mode, patience=config.early_stopping))
    for extra in registry.plugins.pm.hook.harness_run_callbacks(config=config):
        callbacks.extend(extra or [])

    pin = device.type == "cuda"
    train = make_batches(data.train, config.batch_size, shuffle=True, seed=config.seed, device=device, pin_memory=pin)
    val = make_batches(data.val, config.batch_size, shuffle=False, seed=config.seed, device=device, pin_memory=pin)
    test = make_batches(data.test, config.batch_size, shuffle=False, seed=config.seed, device=device, pin_memory=pin)

    deterministic = config.deterministic if config.deterministic is not None else device.type == "cpu"
    trainer = pl.Trainer(
        accelerator=device.type,
        devices=config.devices,
        precision=config.precision,
        max_epochs=config.max_epochs,
        max_steps=config.max_steps,
        deterministic=deterministic,
        callbacks=callbacks,
        **QUIET_TRAINER,
    )
    with _lightning_quietly(trainer):
        trainer.fit(module, train_dataloaders=train, val_dataloaders=val)
        results.update(memory.stop())
        results.update(meter.summary())
        results.update(curve.summary())
        results["epochs"] = trainer.current_epoch
        results["train_losses"] = loss_watch.epoch_losses
        if loss_watch.diverged_at_epoch is not None:
            record["status"] = "diverged"
            record["reason"] = f"training loss became non-finite in epoch {loss_watch.diverged_at_epoch}"
            return
        tested = trainer.test(module, dataloaders=test, verbose=False)[0]
    results["test_metrics"] = {k[len("test_") :]: float(v) for k, v in tested.items() if k.startswith("test_")}
    results["test_metric"] = results["test_metrics"].get(metric)
    results["test_loss"] = results["test_metrics"].get("loss")
