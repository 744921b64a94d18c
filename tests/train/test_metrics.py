"""The harness's own metrics give torchmetrics' numbers on the same inputs, batch by batch, in every dtype it keeps."""

import pytest
import torch
import torchmetrics
from torchmetrics.classification import MulticlassAccuracy, MulticlassExactMatch

from harness.train import metrics as ours

PAD = 0


def _pairs():
    """(name, ours, torchmetrics', batches of (preds, target)) for every metric the tasks use."""
    generator = torch.Generator().manual_seed(0)

    def logits(n, c):
        return [(torch.randn(n, c, generator=generator), torch.randint(0, c, (n,), generator=generator))]

    def tokens(n, t, vocab):
        target = torch.randint(0, vocab, (n, t), generator=generator)
        target[:, t // 2 :] = PAD  # padded tails, ignored
        preds = torch.where(torch.rand(n, t, generator=generator) < 0.7, target, (target + 1) % vocab)
        preds[0] = target[0]  # one sequence exactly right, padding included
        return [(preds, target)]

    def regression(n, dim):
        shape = (n,) if dim == 1 else (n, dim)
        return [(torch.randn(*shape, generator=generator), torch.randn(*shape, generator=generator) * 3 + 1)]

    batches = {name: [] for name in ("top1", "top5", "tokens", "reg1", "reg3")}
    for n in (64, 64, 17):  # several batches, the last one smaller
        batches["top1"] += logits(n, 10)
        batches["top5"] += logits(n, 10)
        batches["tokens"] += tokens(n, 9, 12)
        batches["reg1"] += regression(n, 1)
        batches["reg3"] += regression(n, 3)
    return [
        ("accuracy", ours.Accuracy(10), MulticlassAccuracy(num_classes=10, average="micro"), batches["top1"]),
        ("top5", ours.Accuracy(10, top_k=5), MulticlassAccuracy(10, top_k=5, average="micro"), batches["top5"]),
        (
            "token_accuracy",
            ours.Accuracy(12, ignore_index=PAD),
            MulticlassAccuracy(num_classes=12, average="micro", ignore_index=PAD),
            batches["tokens"],
        ),
        (
            "exact_match",
            ours.ExactMatch(ignore_index=PAD),
            MulticlassExactMatch(num_classes=12, ignore_index=PAD),
            batches["tokens"],
        ),
        ("rmse", ours.MeanSquaredError(squared=False), torchmetrics.MeanSquaredError(squared=False), batches["reg1"]),
        (
            "rmse_3",
            ours.MeanSquaredError(squared=False, num_outputs=3),
            torchmetrics.MeanSquaredError(squared=False, num_outputs=3),
            batches["reg3"],
        ),
        ("mae", ours.MeanAbsoluteError(), torchmetrics.MeanAbsoluteError(), batches["reg1"]),
        (
            "mae_3",
            ours.MeanAbsoluteError(num_outputs=3),
            torchmetrics.MeanAbsoluteError(num_outputs=3),
            batches["reg3"],
        ),
        ("r2", ours.R2Score(), torchmetrics.R2Score(), batches["reg1"]),
        ("r2_3", ours.R2Score(multioutput="uniform_average"), torchmetrics.R2Score(), batches["reg3"]),
    ]


PAIRS = _pairs()


def _same(mine: torch.Tensor, theirs: torch.Tensor) -> None:
    assert mine.shape == theirs.shape and mine.dtype == theirs.dtype, (mine, theirs)
    assert torch.equal(mine, theirs), (mine, theirs)


@pytest.mark.parametrize("name, mine, theirs, batches", PAIRS, ids=[p[0] for p in PAIRS])
def test_each_metric_gives_torchmetrics_value_exactly(name, mine, theirs, batches):
    for _ in range(2):  # and again after a reset, as every evaluation epoch does
        for preds, target in batches:
            mine.update(preds, target)
            theirs.update(preds, target)
        _same(mine.compute(), theirs.compute())
        mine.reset()
        theirs.reset()


@pytest.mark.parametrize("convert", ["double", "to_float64", "to_float16", "to_bfloat16"])
def test_states_follow_a_dtype_as_torchmetrics_states_do(convert):
    """64-bit precision calls .double() (states stay float32); the half precisions call .to(dtype) (they follow)."""
    for name, mine, theirs, batches in PAIRS:
        if name.startswith(("r2", "rmse", "mae")):
            mine, theirs = torch.nn.Sequential(mine), torch.nn.Sequential(theirs)  # inside a module, as in a task
            if convert == "double":
                mine.double(), theirs.double()
            else:
                dtype = getattr(torch, convert.removeprefix("to_"))
                mine.to(dtype=dtype), theirs.to(dtype=dtype)
            dtype = torch.float64 if convert == "double" else dtype
            for preds, target in batches:
                mine[0].update(preds.to(dtype), target.to(dtype))
                theirs[0].update(preds.to(dtype), target.to(dtype))
            _same(mine[0].compute(), theirs[0].compute())


def test_a_metric_set_names_and_orders_its_values_as_a_metric_collection():
    batches = PAIRS[0][3]
    mine = ours.MetricSet({"accuracy": ours.Accuracy(10), "top5_accuracy": ours.Accuracy(10, top_k=5)}).clone("val_")
    theirs = torchmetrics.MetricCollection(
        {
            "accuracy": MulticlassAccuracy(10, average="micro"),
            "top5_accuracy": MulticlassAccuracy(10, top_k=5, average="micro"),
        }
    ).clone(prefix="val_")
    for preds, target in batches:
        mine.update(preds, target)
        theirs.update(preds, target)
    mine_values, their_values = mine.compute(), theirs.compute()
    assert list(mine_values) == list(their_values) == ["val_accuracy", "val_top5_accuracy"]
    for key in mine_values:
        _same(mine_values[key], their_values[key])


def test_states_move_with_the_module_and_are_no_buffers():
    module = torch.nn.Sequential(ours.MeanSquaredError())
    assert list(module.buffers()) == [] and list(module.parameters()) == [] and module.state_dict() == {}
    module.to("meta")
    assert module[0].sum_squared_error.device.type == "meta" and module[0].total.device.type == "meta"


def test_a_wrong_number_of_logits_is_refused_as_torchmetrics_refuses_it():
    with pytest.raises(ValueError, match="number of classes"):
        ours.Accuracy(10).update(torch.randn(4, 9), torch.zeros(4, dtype=torch.long))
    with pytest.raises(RuntimeError, match="same shape"):
        ours.MeanSquaredError().update(torch.randn(4), torch.randn(5))
