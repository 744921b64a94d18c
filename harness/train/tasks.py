"""The task modules that turn a plugin's plain ``nn.Module`` into a trainable task.

Each task owns its loss and metrics, so every model on a dataset is scored
the same way. Training steps log nothing: per-step logging costs a device
sync and about a millisecond of Python on every step. Metrics are computed
once per validation/test epoch (:meth:`SupervisedTask.stage_results`) as
``val_<metric>``, ``val_loss``, ``test_<metric>`` and ``test_loss`` -- the
names a model plugin's own LightningModule must log too if it wants its
curves and scores recorded.

The modules are plain ``nn.Module``\\ s and their metrics the harness's own
(:mod:`harness.train.metrics`, torchmetrics' definitions), so a run of the
harness's own Fabric loop (:mod:`harness.train.engine`) imports neither
Lightning nor torchmetrics. A multi-device run trains under a ``Trainer``:
``wrap(..., lightning=True)`` gives it the module's ``LightningModule`` twin
(:func:`harness.train.lazy_lightning.lightning_twin`). Seq2seq's BLEU and chrF
still come from torchmetrics, imported by the runs that score them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.specs import EOS_ID, METRIC_MODES, PAD_ID, TASK_METRICS, DatasetInfo
from harness.train.lazy_lightning import lightning_twin
from harness.train.metrics import (
    Accuracy,
    ExactMatch,
    MeanAbsoluteError,
    MeanSquaredError,
    MetricSet,
    R2Score,
)


def _device_of(module: torch.nn.Module) -> torch.device:
    """Where ``module`` lives: a LightningModule knows; a plain one is where its first parameter (or buffer) is."""
    device = getattr(module, "device", None)
    if isinstance(device, torch.device):
        return device
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


class SupervisedTask(torch.nn.Module):
    """Shared loop: loss on training batches; metrics + mean loss on evaluation epochs."""

    def __init__(self, net: torch.nn.Module, info: DatasetInfo, metrics: MetricSet):
        super().__init__()
        self.net = net
        self.metric = info.metric or TASK_METRICS[info.task][0]
        self.mode = METRIC_MODES.get(self.metric, "max")
        self.val_metrics = metrics.clone(prefix="val_")
        self.test_metrics = metrics.clone(prefix="test_")
        self._loss_sum: dict[str, torch.Tensor | float] = {}
        self._count: dict[str, int] = {}

    def forward(self, inputs):
        return self.net(inputs)

    def loss(self, outputs, targets):  # pragma: no cover - abstract
        raise NotImplementedError

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        return self.loss(self.net(inputs), targets)

    def evaluate(self, metrics: MetricSet, batch) -> torch.Tensor:
        """Update ``metrics`` with one batch and return its mean loss."""
        inputs, targets = batch
        outputs = self.net(inputs)
        metrics.update(outputs, targets)
        return self.loss(outputs, targets)

    def _eval_step(self, stage: str, metrics: MetricSet, batch) -> None:
        loss = self.evaluate(metrics, batch).detach()
        n = len(batch[1])
        self._loss_sum[stage] = self._loss_sum.get(stage, 0.0) + loss * n
        self._count[stage] = self._count.get(stage, 0) + n

    def stage_results(self, stage: str) -> dict:
        """The evaluation epoch's metrics as ``{stage}_<name>``, and a fresh start for the next one."""
        metrics = self.val_metrics if stage == "val" else self.test_metrics
        values = dict(metrics.compute())  # the metrics sum every rank's state in a multi-device run
        loss_sum, count = self._loss_sum.get(stage, 0.0), self._count.get(stage, 0)
        if torch.distributed.is_available() and torch.distributed.is_initialized():  # and so must the loss
            total = torch.tensor([float(loss_sum), float(count)], device=_device_of(self))
            torch.distributed.all_reduce(total)
            loss_sum, count = total[0], int(total[1])
        if count:
            values[f"{stage}_loss"] = loss_sum / count
        metrics.reset()
        self._loss_sum[stage], self._count[stage] = 0.0, 0
        return values

    def _eval_epoch_end(self, stage: str) -> None:  # under a Trainer: the module is a LightningModule twin
        self.log_dict(self.stage_results(stage), on_epoch=True, on_step=False)

    def validation_step(self, batch, batch_idx):
        self._eval_step("val", self.val_metrics, batch)

    def on_validation_epoch_end(self):
        self._eval_epoch_end("val")

    def test_step(self, batch, batch_idx):
        self._eval_step("test", self.test_metrics, batch)

    def on_test_epoch_end(self):
        self._eval_epoch_end("test")


class ClassificationTask(SupervisedTask):
    """Cross-entropy on logits; top-1 accuracy, and top-5 where there are more than 5 classes."""

    def __init__(self, net, info: DatasetInfo):
        metrics = {"accuracy": Accuracy(num_classes=info.num_classes)}
        if info.num_classes > 5:
            metrics["top5_accuracy"] = Accuracy(num_classes=info.num_classes, top_k=5)
        super().__init__(net, info, MetricSet(metrics))

    def loss(self, outputs, targets):
        return F.cross_entropy(outputs, targets)


class _Unstandardized(MetricSet):
    """Regression metrics reported in the target's original units."""

    def __init__(self, metrics, mean: torch.Tensor, std: torch.Tensor, prefix: str = ""):
        super().__init__(metrics, prefix=prefix)
        self._mean, self._std = mean, std

    def update(self, outputs, targets):
        scale = (self._std.to(outputs.device), self._mean.to(outputs.device))
        super().update(outputs * scale[0] + scale[1], targets * scale[0] + scale[1])

    def clone(self, prefix=""):
        copy = super().clone(prefix=prefix)
        copy._mean, copy._std = self._mean, self._std
        return copy


class RegressionTask(SupervisedTask):
    """Mean squared error on standardised targets; RMSE (main), MAE and R^2 in original units."""

    def __init__(self, net, info: DatasetInfo):
        dim = info.output_dim or 1
        mean = torch.tensor(info.extra.get("target_mean", [0.0] * dim), dtype=torch.float32)
        std = torch.tensor(info.extra.get("target_std", [1.0] * dim), dtype=torch.float32)
        metrics = {
            "rmse": MeanSquaredError(squared=False, num_outputs=dim),
            "mae": MeanAbsoluteError(num_outputs=dim) if dim > 1 else MeanAbsoluteError(),
            "r2": R2Score(multioutput="uniform_average") if dim > 1 else R2Score(),
        }
        super().__init__(net, info, _Unstandardized(metrics, mean, std))
        self.output_dim = dim

    def _shape(self, outputs, targets):
        return outputs.reshape(len(outputs), self.output_dim), targets.reshape(len(targets), self.output_dim)

    def loss(self, outputs, targets):
        outputs, targets = self._shape(outputs, targets)
        return F.mse_loss(outputs, targets)

    def evaluate(self, metrics, batch):
        inputs, targets = batch
        outputs, targets = self._shape(self.net(inputs), targets)
        if self.output_dim == 1:
            metrics.update(outputs.squeeze(1), targets.squeeze(1))
        else:
            metrics.update(outputs, targets)
        return F.mse_loss(outputs, targets)


class Seq2SeqTask(SupervisedTask):
    """Teacher-forced cross-entropy in training; greedy decoding scored in evaluation.

    The wrapped model provides ``forward(source, target_in) -> logits [B, T, V]``
    (teacher forcing) and ``generate(source, max_length) -> ids [B, <=max_length]``
    (greedy, without the leading ``<bos>``). Token accuracy and exact match
    compare the decoded ids with the reference; BLEU and chrF (torchmetrics)
    compare the detokenised texts where the dataset has words worth scoring.
    """

    def __init__(self, net, info: DatasetInfo):
        vocab = info.target_vocab_size
        metrics = {
            "token_accuracy": Accuracy(num_classes=vocab, ignore_index=PAD_ID),
            "exact_match": ExactMatch(ignore_index=PAD_ID),
        }
        super().__init__(net, info, MetricSet(metrics))
        self.max_length = info.max_target_length - 1  # the reference without its <bos>
        self.target_vocab = list(info.extra.get("target_vocab", []))
        self.joiner = info.extra.get("joiner", " ")
        self.text_metrics = bool(info.extra.get("text_metrics", True)) and bool(self.target_vocab)
        if self.text_metrics:  # torchmetrics (with scipy and transformers) only for the runs that score text
            from torchmetrics import MetricCollection
            from torchmetrics.text import BLEUScore, CHRFScore

            self.val_text = MetricCollection({"bleu": BLEUScore(), "chrf": CHRFScore()}, prefix="val_")
            self.test_text = self.val_text.clone(prefix="test_")

    def forward(self, source, target_in):
        return self.net(source, target_in)

    def loss(self, logits, target_out):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target_out.reshape(-1), ignore_index=PAD_ID)

    def training_step(self, batch, batch_idx):
        source, target = batch
        return self.loss(self.net(source, target[:, :-1]), target[:, 1:])

    def _detokenize(self, ids: torch.Tensor) -> list[str]:
        texts = []
        for row in ids.tolist():
            tokens = []
            for token in row:
                if token in (EOS_ID, PAD_ID):
                    break
                tokens.append(self.target_vocab[token] if token < len(self.target_vocab) else "<unk>")
            texts.append(self.joiner.join(tokens))
        return texts

    def evaluate(self, metrics, batch):
        source, target = batch
        reference = target[:, 1:]
        loss = self.loss(self.net(source, target[:, :-1]), reference)
        generated = self.net.generate(source, self.max_length)
        predicted = torch.full_like(reference, PAD_ID)
        length = min(generated.shape[1], reference.shape[1])
        predicted[:, :length] = generated[:, :length]
        # after the first <eos> a prediction is padding, so garbage past it is not scored
        ended = (predicted == EOS_ID).long().cumsum(1) - (predicted == EOS_ID).long() > 0
        predicted = predicted.masked_fill(ended, PAD_ID)
        metrics.update(predicted, reference)
        if self.text_metrics:
            text = self.val_text if metrics is self.val_metrics else self.test_text
            text.update(self._detokenize(predicted), [[r] for r in self._detokenize(reference)])
        return loss

    def stage_results(self, stage):
        values = super().stage_results(stage)
        if self.text_metrics:
            text = self.val_text if stage == "val" else self.test_text
            values.update(text.compute())
            text.reset()
        return values


#: task name (``DatasetInfo.task``) -> the LightningModule that wraps plain models for it
TASK_MODULES = {"classification": ClassificationTask, "regression": RegressionTask, "seq2seq": Seq2SeqTask}


def wrap(net, info: DatasetInfo, lightning: bool = False) -> SupervisedTask:
    """The task module for ``info.task`` around ``net``; ``lightning``: as a LightningModule, for a ``Trainer``."""
    task = TASK_MODULES[info.task]
    return (lightning_twin(task) if lightning else task)(net, info)
