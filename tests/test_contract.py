"""The plugin contract, checked over every registered spec (built-ins now, any installed plugin too).

Each dataset loads offline with the shapes and classes it declares, or says
why it cannot; each model trains on a tiny slice of every compatible dataset
and overfits a fixed tiny batch; each optimizer steps.
"""

import pytest
import torch

from harness.api import load_registry
from harness.specs import PAD_ID, unavailable_reason
from harness.train.runner import load_dataset
from harness.train.tasks import wrap

REGISTRY = load_registry()
MODELS = REGISTRY.entries("model")
DATASETS = REGISTRY.entries("dataset")
OPTIMIZERS = REGISTRY.entries("optimizer")
PAIRS = [(m, d) for m in MODELS for d in DATASETS if m.spec.incompatibility(d.spec) is None]


def _usable(*entries):
    for entry in entries:
        reason = unavailable_reason(entry.spec)
        if reason:
            pytest.skip(f"{entry.kind} {entry.name} unavailable here: {reason}")


def _load(entry):
    return load_dataset(entry, dict(entry.spec.defaults))


def _first(split, n):
    """The first ``n`` examples of a split as a batch of tensors."""
    if isinstance(split, (tuple, list)):
        return tuple(t[:n] for t in split)
    items = [split[i] for i in range(n)]
    return tuple(torch.stack([torch.as_tensor(item[k]) for item in items]) for k in range(len(items[0])))


def test_every_builtin_family_is_registered():
    assert len(MODELS) >= 10 and len(OPTIMIZERS) >= 9
    assert {"classification", "regression", "seq2seq"} == {d.spec.task for d in DATASETS}


@pytest.mark.parametrize("entry", DATASETS, ids=lambda e: e.name)
def test_dataset_loads_as_declared(entry):
    _usable(entry)
    data = _load(entry)
    info = data.info
    assert (info.task, info.modality) == (entry.spec.task, entry.spec.modality)
    assert info.synthetic == entry.spec.synthetic
    for split in (data.train, data.val, data.test):
        inputs, targets = _first(split, 4)
        assert tuple(inputs.shape[1:]) == info.input_shape
        if info.task == "classification":
            assert info.num_classes >= 2 and 0 <= int(targets.min()) and int(targets.max()) < info.num_classes
        elif info.task == "regression":
            assert targets.dtype.is_floating_point and targets.reshape(4, -1).shape[1] == info.output_dim
        else:
            assert targets.shape[1] <= info.max_target_length and int(targets.max()) < info.target_vocab_size
        if info.modality == "tokens":
            assert inputs.dtype == torch.long and int(inputs.max()) < info.vocab_size and int(inputs.min()) >= PAD_ID


def _module(model_entry, info):
    built = model_entry.spec.build(info, **dict(model_entry.spec.defaults))
    import pytorch_lightning as pl

    return built if isinstance(built, pl.LightningModule) else wrap(built, info)


def _overfit(model, data, lr: float) -> list[float]:
    torch.manual_seed(0)
    module = _module(model, data.info)
    batch = _first(data.train, 16)
    trainable = [p for p in module.parameters() if p.requires_grad]
    assert trainable, "a model must have something to train"
    optimizer = torch.optim.Adam(trainable, lr=lr)
    module.train()
    losses = []
    for step in range(40):
        loss = module.training_step(batch, step)
        loss = loss["loss"] if isinstance(loss, dict) else loss
        assert torch.isfinite(loss), f"non-finite loss at step {step}"
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize("model, dataset", PAIRS, ids=lambda e: e.name)
def test_model_trains_and_overfits_a_tiny_batch(model, dataset):
    _usable(model, dataset)
    data = _load(dataset)
    # a from-scratch model overfits at 3e-3; a pretrained one (fine-tuning) needs a gentler rate
    for lr in (3e-3, 1e-4):
        losses = _overfit(model, data, lr)
        if min(losses[-5:]) < 0.7 * losses[0]:
            return
    pytest.fail(f"loss did not go down on a fixed tiny batch: {losses}")


@pytest.mark.parametrize("entry", OPTIMIZERS, ids=lambda e: e.name)
def test_optimizer_steps_downhill(entry):
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(8))
    optimizer = entry.spec.build([weight], **dict(entry.spec.defaults))
    assert isinstance(optimizer, torch.optim.Optimizer)
    start = float((weight**2).sum())
    for _ in range(20):
        optimizer.zero_grad()
        (weight**2).sum().backward()
        optimizer.step()
    assert float((weight**2).sum()) < start


@pytest.mark.parametrize("entry", MODELS + DATASETS + OPTIMIZERS, ids=lambda e: f"{e.kind}-{e.name}")
def test_a_spec_accepts_its_own_defaults(entry):
    """A spec's validate (optional) must allow its defaults, else the spec could never be used as declared."""
    validate = getattr(entry.spec, "validate", None)
    assert validate is None or validate(dict(entry.spec.defaults)) is None
