"""Hand-made run records for the tests of tables, exports and comparisons: no training, no torch.

One factory, :func:`make_record`, builds a record of the shape the runner writes
(:mod:`harness.records` documents every key). By default it is one ``ok`` run of
``mlp`` on ``digits`` with ``sgd`` (lr 0.1), 10 epochs, batch size 64, seed 0, on
:data:`DEVICE`, with every measurement a table reads. Name only what a test is about::

    from tests.records import make_record

    make_record(seed=1, metric_value=0.95)                   # another seed of the same cell
    make_record(model="cnn", optimizer="adam", target=0.9)   # another cell
    make_record(status="failed", reason="ValueError: x")     # no measurements but the wall time
    make_record(mode="min", metric_value=52.0)               # a regression run, scored by RMSE (lower is better)
    make_record(device="cuda: Test GPU")                     # the same config on other hardware: another cell
    make_record(config={"compile": False})                   # any other config field, added or overridden
    make_record(samples_per_s=800.0, time_to_target_s=None)  # a measurement set, or (None) left out

Measurements a test does not name grow with the seed, so that a mean, a
median or a per-run row can be told apart from a single run's value: over
seeds 0, 1, 2 the mean samples/s is 11000, the median step time 4.0 ms, the
mean peak memory 13.0 MiB and the mean training time 2.0 s.
"""

from __future__ import annotations

from harness.records import config_key

#: The device every record ran on unless told otherwise (the provenance's ``device``).
DEVICE = "cpu: Test CPU"


def make_record(
    *,
    seed: int = 0,
    model: str = "mlp",
    dataset: str = "digits",
    optimizer: str = "sgd",
    lr: float = 0.1,
    max_epochs: int = 10,
    target: float | None = None,
    metric_value: float = 0.9,
    mode: str = "max",
    status: str = "ok",
    reason: str | None = None,
    device: str = DEVICE,
    config: dict | None = None,
    **results,
) -> dict:
    """A run record as the runner writes it.

    :param seed: the run's seed; runs that differ only in it are one cell.
    :param model: the model's name, also its label (likewise ``dataset`` and ``optimizer``).
    :param lr: the optimizer's learning rate (``config["optimizer_params"]["lr"]``).
    :param max_epochs: the run's epoch budget (also the epochs it trained).
    :param target: the metric value the run tried to reach (``config["target"]``).
    :param metric_value: the test metric, the best validation metric and ``test_metrics[metric]``.
    :param mode: ``"max"``: a classification scored by accuracy; ``"min"``: a regression scored by RMSE.
    :param status: any of :data:`harness.records.STATUSES`; a run that is not ``ok`` has measured only
        its wall time, and ``reason`` defaults to ``"RuntimeError: boom"``.
    :param reason: why the run did not end ``ok``.
    :param device: the provenance's device; the same config on two devices is two cells.
    :param config: config fields to add or override (applied last).
    :param results: measurements to set (e.g. ``samples_per_s=800.0``); ``None`` leaves one out.
    :return: a new dict each call. Its ``key`` is the real one, the hash of its config
        (:func:`harness.records.config_key`), so a store accepts it; the same config on another device has the
        same key (one results folder cannot hold both).
    """
    metric, task = ("accuracy", "classification") if mode == "max" else ("rmse", "regression")
    settings = {
        "model": model,
        "dataset": dataset,
        "optimizer": optimizer,
        "seed": seed,
        "model_params": {"hidden": 64},
        "dataset_params": {},
        "optimizer_params": {"lr": lr, "momentum": 0.0},
        "model_label": model,
        "dataset_label": dataset,
        "optimizer_label": optimizer,
        "max_epochs": max_epochs,
        "max_steps": -1,
        "batch_size": 64,
        "accelerator": "auto",
        "devices": 1,
        "precision": "32-true",
        "early_stopping": None,
        "target": target,
        "warmup_steps": 5,
        "deterministic": None,
        **(config or {}),
    }
    test_metrics = {metric: metric_value, "top5_accuracy": 1.0, "loss": 0.2}
    if task != "classification":
        del test_metrics["top5_accuracy"]
    measured = {
        "test_metric": metric_value,
        "test_loss": 0.2,
        "test_metrics": test_metrics,
        "best_val_metric": metric_value,
        "best_val_epoch": 3,
        "val_curve": [{"epoch": 0, "val_metric": 0.5, "val_loss": 1.0, "train_loss": 1.2, "train_time_s": 0.1}],
        "epochs": max_epochs,
        "steps": 340,
        "train_time_s": 1.0 + seed,
        "wall_time_s": 2.5,
        "samples_per_s": 10000.0 + 1000 * seed,
        "tokens_per_s": None,
        "measured_steps": 335,
        "warmup_steps": 5,
        "step_time_median_ms": 3.0 + seed,
        "step_time_p90_ms": 3.5,
        "peak_memory_mb": 12.0 + seed,
        "memory_kind": "cpu_rss_growth",
        "cuda_max_reserved_mb": None,
        "params": 10250,
        "trainable_params": 10250,
        "time_to_target_s": None,
        "epoch_to_target": None,
    }
    measured.update(results)
    measured = {name: value for name, value in measured.items() if name not in results or value is not None}
    if status != "ok":
        measured = {"wall_time_s": 0.1}
        reason = reason or "RuntimeError: boom"
    return {
        "schema": 1,
        "key": config_key(settings),
        "status": status,
        "reason": reason,
        "traceback": None,
        "suite": "default",
        "config": settings,
        "task": task,
        "metric": metric,
        "metric_mode": mode,
        "results": measured,
        "provenance": {
            "python": "3.11.7",
            "device": device,
            "seed": seed,
            "plugins": {"harness_dense": "0.1"},
        },
    }
