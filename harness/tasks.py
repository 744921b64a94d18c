"""LightningModules that turn a plugin's plain ``nn.Module`` into a trainable task.

Each task owns its loss and metrics (torchmetrics), so every model on a
dataset is scored the same way. Training steps log nothing: per-step logging
costs a device sync and about a millisecond of Python on every step. Metrics
are logged once per validation/test epoch as ``val_<metric>``, ``val_loss``,
``test_<metric>`` and ``test_loss`` -- the names a model plugin's own
LightningModule must log too if it wants its curves and scores recorded.
"""

from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from harness.specs import DatasetInfo


class SupervisedTask(pl.LightningModule):
    """Shared loop: loss on training batches; metrics + mean loss on evaluation epochs."""

    #: main metric name and whether higher ("max") or lower ("min") is better
    metric = ""
    mode = "max"

    def __init__(self, net: torch.nn.Module, make_optimizer: Callable, metrics: MetricCollection):
        super().__init__()
        self.net = net
        self.make_optimizer = make_optimizer
        self.val_metrics = metrics.clone(prefix="val_")
        self.test_metrics = metrics.clone(prefix="test_")
        self._loss_sum = {}
        self._count = {}

    def forward(self, inputs):
        return self.net(inputs)

    def loss(self, outputs, targets):  # pragma: no cover - abstract
        raise NotImplementedError

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        return self.loss(self.net(inputs), targets)

    def _eval_step(self, stage: str, metrics: MetricCollection, batch) -> None:
        inputs, targets = batch
        outputs = self.net(inputs)
        loss = self.loss(outputs, targets).detach() * len(targets)
        self._loss_sum[stage] = self._loss_sum.get(stage, 0) + loss
        self._count[stage] = self._count.get(stage, 0) + len(targets)
        metrics.update(outputs, targets)

    def _eval_epoch_end(self, stage: str, metrics: MetricCollection) -> None:
        values = {name: value for name, value in metrics.compute().items()}
        if self._count.get(stage):
            values[f"{stage}_loss"] = self._loss_sum[stage] / self._count[stage]
        self.log_dict(values, on_epoch=True, on_step=False)
        metrics.reset()
        self._loss_sum[stage], self._count[stage] = 0, 0

    def validation_step(self, batch, batch_idx):
        self._eval_step("val", self.val_metrics, batch)

    def on_validation_epoch_end(self):
        self._eval_epoch_end("val", self.val_metrics)

    def test_step(self, batch, batch_idx):
        self._eval_step("test", self.test_metrics, batch)

    def on_test_epoch_end(self):
        self._eval_epoch_end("test", self.test_metrics)

    def configure_optimizers(self):
        return self.make_optimizer(self.parameters())


class ClassificationTask(SupervisedTask):
    """Cross-entropy on logits; accuracy (top-1) is the main metric."""

    metric = "accuracy"
    mode = "max"

    def __init__(self, net, make_optimizer, info: DatasetInfo):
        metrics = MetricCollection({"accuracy": MulticlassAccuracy(num_classes=info.num_classes, average="micro")})
        super().__init__(net, make_optimizer, metrics)

    def loss(self, outputs, targets):
        return F.cross_entropy(outputs, targets)


#: task name (``DatasetInfo.task``) -> the LightningModule that wraps plain models for it
TASK_MODULES = {"classification": ClassificationTask}


def wrap(net, make_optimizer, info: DatasetInfo) -> SupervisedTask:
    """The task module for ``info.task`` around ``net``."""
    try:
        module_class = TASK_MODULES[info.task]
    except KeyError:
        raise NotImplementedError(f"task {info.task!r} has no training module yet") from None
    return module_class(net, make_optimizer, info)
