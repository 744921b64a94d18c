"""The metrics the task modules score with: torchmetrics' definitions, without importing torchmetrics.

Importing any part of torchmetrics imports all of it, and with it scipy.signal
and (where installed) transformers: about 2.5 s of a pool worker's start-up on
a 2-core machine. The metrics the tasks need are sums over batches, written
out here as torchmetrics computes them (``tests/train/test_metrics.py`` checks
each against torchmetrics on the same inputs):

* :class:`Accuracy`: ``MulticlassAccuracy(average="micro", top_k=k, ignore_index=i)``
* :class:`ExactMatch`: ``MulticlassExactMatch(ignore_index=i)``, whole sequences right
* :class:`MeanSquaredError` (``squared=False``: RMSE), :class:`MeanAbsoluteError`, :class:`R2Score`

Their states behave as torchmetrics' do: they move with the module
(``.to(device)``), follow a dtype given to ``.to()`` but not ``.half()``,
``.double()`` and the like (Lightning's 64-bit precision calls ``.double()``,
its half precisions ``.to(dtype)``), accumulate in place where torchmetrics
does (so in the state's dtype) and not where it does not, and in a
multi-device run :meth:`Metric.compute` sums them over the ranks without
changing this rank's own. A value with one element comes back as a 0-d tensor.
"""

from __future__ import annotations

import copy

import torch

#: The module methods whose dtype change a metric's states ignore (torchmetrics' guard: ``Metric.set_dtype`` only).
_DTYPE_CASTS = ("Module.type", "Module.half", "Module.float", "Module.double", "Module.bfloat16")


def _summed_over_ranks(value: torch.Tensor) -> torch.Tensor:
    total = value.clone()
    torch.distributed.all_reduce(total)
    return total


def safe_divide(num: torch.Tensor, denom: torch.Tensor) -> torch.Tensor:
    """``num / denom`` in floating point, 0 where ``denom`` is 0 (torchmetrics' ``_safe_divide``)."""
    num = num if num.is_floating_point() else num.float()
    denom = denom if denom.is_floating_point() else denom.float()
    return torch.where(denom != 0, num / denom, torch.full((), 0.0, dtype=num.dtype, device=num.device))


def _same_shape(preds: torch.Tensor, target: torch.Tensor) -> None:
    if preds.shape != target.shape:
        raise RuntimeError(
            f"Predictions and targets are expected to have the same shape, but got {preds.shape} and {target.shape}."
        )


class Metric(torch.nn.Module):
    """Sum-reduced states, reset to their defaults, and a value computed from them."""

    def __init__(self):
        super().__init__()
        self._defaults: dict[str, torch.Tensor] = {}

    def add_state(self, name: str, default: torch.Tensor) -> None:
        self._defaults[name] = default
        setattr(self, name, default.detach().clone())

    def reset(self) -> None:
        for name, default in self._defaults.items():
            setattr(self, name, default.detach().clone().to(getattr(self, name).device))

    def _apply(self, fn, *args, **kwargs):
        this = super()._apply(fn, *args, **kwargs)
        if any(cast in str(fn) for cast in _DTYPE_CASTS):
            return this
        for name, default in self._defaults.items():
            self._defaults[name] = fn(default)
            setattr(self, name, fn(getattr(self, name)))
        return this

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def formula(self, **states: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def compute(self) -> torch.Tensor:
        """The value over everything updated since the last reset (over every rank in a multi-device run)."""
        states = {name: getattr(self, name) for name in self._defaults}
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            states = {name: _summed_over_ranks(value) for name, value in states.items()}
        value = self.formula(**states)
        return (value.squeeze() if value.numel() == 1 else value).clone()


class Accuracy(Metric):
    """The share of samples (or tokens) whose target is among the ``top_k`` predictions; ``ignore_index`` skipped.

    ``preds`` are logits ``(N, C, ...)`` or class ids shaped like ``target``.
    """

    def __init__(self, num_classes: int, top_k: int = 1, ignore_index: int | None = None):
        super().__init__()
        self.num_classes, self.top_k, self.ignore_index = num_classes, top_k, ignore_index
        self.add_state("correct", torch.zeros((), dtype=torch.long))
        self.add_state("total", torch.zeros((), dtype=torch.long))

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        if preds.ndim == target.ndim + 1 and preds.shape[1] != self.num_classes:
            raise ValueError(
                "If `preds` have one dimension more than `target`, `preds.shape[1]` should be"
                f" equal to number of classes, got {preds.shape[1]} and {self.num_classes}."
            )
        if self.top_k > 1:
            scores = preds.reshape(*preds.shape[:2], -1)
            target = target.reshape(target.shape[0], -1)
            if self.ignore_index is not None:
                raise NotImplementedError("top-k accuracy with ignore_index is not needed by any task")
            hit = (torch.topk(scores, k=self.top_k, dim=1).indices == target.unsqueeze(1)).any(dim=1)
        else:
            if preds.ndim == target.ndim + 1:
                preds = preds.argmax(dim=1)
            preds, target = preds.reshape(-1), target.reshape(-1)
            if self.ignore_index is not None:
                kept = target != self.ignore_index
                preds, target = preds[kept], target[kept]
            hit = preds == target
        self.correct = self.correct + hit.sum()
        self.total = self.total + hit.numel()

    def formula(self, correct, total):
        return safe_divide(correct, total)


class ExactMatch(Metric):
    """The share of sequences ``(N, T)`` right at every position (an ``ignore_index`` position counts as right)."""

    def __init__(self, ignore_index: int | None = None):
        super().__init__()
        self.ignore_index = ignore_index
        self.add_state("correct", torch.zeros((), dtype=torch.long))
        self.add_state("total", torch.zeros((), dtype=torch.long))

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        if preds.ndim == target.ndim + 1:
            preds = preds.argmax(dim=1)
        preds, target = preds.reshape(preds.shape[0], -1), target.reshape(target.shape[0], -1)
        if self.ignore_index is not None:
            preds = preds.clone()
            preds[target == self.ignore_index] = self.ignore_index
        self.correct = self.correct + ((preds == target).sum(1) == preds.shape[1]).sum()
        self.total = self.total + preds.shape[0]

    def formula(self, correct, total):
        return safe_divide(correct, total)


class MeanSquaredError(Metric):
    """Mean squared error per output, or its root (``squared=False``); sums accumulate in the state's dtype."""

    def __init__(self, squared: bool = True, num_outputs: int = 1):
        super().__init__()
        self.squared, self.num_outputs = squared, num_outputs
        self.add_state("sum_squared_error", torch.zeros(num_outputs))
        self.add_state("total", torch.tensor(0))

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        _same_shape(preds, target)
        if self.num_outputs == 1:
            preds, target = preds.view(-1), target.view(-1)
        diff = preds - target
        self.sum_squared_error += torch.sum(diff * diff, dim=0)
        self.total += target.shape[0]

    def formula(self, sum_squared_error, total):
        mean = sum_squared_error / total
        return mean if self.squared else torch.sqrt(mean)


class MeanAbsoluteError(Metric):
    """Mean absolute error per output; sums accumulate in the state's dtype."""

    def __init__(self, num_outputs: int = 1):
        super().__init__()
        self.num_outputs = num_outputs
        self.add_state("sum_abs_error", torch.zeros(num_outputs))
        self.add_state("total", torch.tensor(0))

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        _same_shape(preds, target)
        if self.num_outputs == 1:
            preds, target = preds.view(-1), target.view(-1)
        self.sum_abs_error += torch.sum(torch.abs(preds - target), dim=0)
        self.total += target.shape[0]

    def formula(self, sum_abs_error, total):
        return sum_abs_error / total


class R2Score(Metric):
    """Coefficient of determination per output, averaged over outputs (``multioutput="uniform_average"``)."""

    def __init__(self, multioutput: str = "uniform_average"):
        super().__init__()
        if multioutput not in ("raw_values", "uniform_average", "variance_weighted"):
            raise ValueError(f"multioutput {multioutput!r} is not raw_values, uniform_average or variance_weighted")
        self.multioutput = multioutput
        self.add_state("sum_squared_obs", torch.tensor(0.0))
        self.add_state("sum_obs", torch.tensor(0.0))
        self.add_state("rss", torch.tensor(0.0))
        self.add_state("total", torch.tensor(0))

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        _same_shape(preds, target)
        if preds.ndim > 2:
            raise ValueError(
                f"Expected both prediction and target to be 1D or 2D tensors, but received tensors with dimension "
                f"{preds.shape}"
            )
        residual = target - preds
        self.sum_squared_obs = self.sum_squared_obs + torch.sum(target * target, dim=0)
        self.sum_obs = self.sum_obs + torch.sum(target, dim=0)
        self.rss = self.rss + torch.sum(residual * residual, dim=0)
        self.total = self.total + target.size(0)

    def formula(self, sum_squared_obs, sum_obs, rss, total):
        if total < 2:
            raise ValueError("Needs at least two samples to calculate r2 score.")
        tss = sum_squared_obs - sum_obs * (sum_obs / total)
        cond_rss = ~torch.isclose(rss, torch.zeros_like(rss), atol=1e-4)
        cond_tss = ~torch.isclose(tss, torch.zeros_like(tss), atol=1e-4)
        cond = cond_rss & cond_tss
        scores = torch.ones_like(rss)
        scores[cond] = 1 - (rss[cond] / tss[cond])
        scores[cond_rss & ~cond_tss] = 0.0
        if self.multioutput == "raw_values":
            return scores
        if self.multioutput == "uniform_average":
            return torch.mean(scores)
        return torch.sum(tss / torch.sum(tss) * scores)


class MetricSet(torch.nn.ModuleDict):
    """Named metrics updated together; :meth:`compute` gives ``{prefix + name: value}`` in name order."""

    def __init__(self, metrics: dict[str, Metric], prefix: str = ""):
        super().__init__()
        for name in sorted(metrics):  # not ModuleDict's update(), which this class's update() replaces
            self[name] = metrics[name]
        self.prefix = prefix

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        for metric in self.values():
            metric.update(preds, target)

    def compute(self) -> dict[str, torch.Tensor]:
        return {f"{self.prefix}{name}": metric.compute() for name, metric in self.items()}

    def reset(self) -> None:
        for metric in self.values():
            metric.reset()

    def clone(self, prefix: str = "") -> MetricSet:
        """A fresh copy with its own states, whose values are named ``prefix + name``."""
        twin = copy.deepcopy(self)
        twin.prefix = prefix
        return twin


__all__ = [
    "Accuracy",
    "ExactMatch",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Metric",
    "MetricSet",
    "R2Score",
    "safe_divide",
]
