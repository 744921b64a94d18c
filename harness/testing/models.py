"""``check_model``: a model builds on a dataset it says it reads, gives outputs of the task's shape, trains with
finite losses and overfits a fixed tiny batch (the quickest sign that its gradients reach its weights).

torch is imported inside the functions, as everywhere in :mod:`harness.testing`.
"""

from __future__ import annotations

import math

from harness.registry import Entry, Registry
from harness.specs import Incompatible, unavailable_reason
from harness.testing.common import (
    Unavailable,
    accepts_defaults,
    default_registry,
    describe,
    failure,
    require_usable,
    resolve,
)
from harness.testing.datasets import first_examples, load_splits, small_params

#: Examples in the fixed batch a model must overfit, and Adam steps it gets.
BATCH, STEPS = 16, 40
#: A from-scratch model overfits at the first rate; a pretrained one (fine-tuning) needs the gentler second.
RATES = (3e-3, 1e-4)
#: The best loss of the last five steps must fall below this fraction of the first.
OVERFIT_RATIO = 0.7


def check_model(spec_or_name, dataset=None, registry: Registry | None = None) -> list[str]:
    """Check that a model keeps the plugin contract; raise AssertionError naming it, the dataset and the fault, or
    :class:`~harness.testing.Unavailable` when it (or the dataset) cannot be used here. Returns the datasets used.

    Its ``validate`` accepts its defaults; with them it builds on the dataset's info; a plain module's output has
    the task's shape (``[B, num_classes]``, ``[B, output_dim]``, ``[B, T, target_vocab_size]`` and a ``generate``
    for seq2seq); a fixed batch of 16 examples trains 40 Adam steps with finite losses, the best of the last five
    below 0.7 of the first (at lr 3e-3, else 1e-4, gentle enough for a pretrained model). ``dataset`` is a name or
    spec; without it, every compatible registered dataset usable here that is not synthetic, else the synthetic
    ones of its modalities at a small size.
    """
    registry = registry or default_registry()
    entry = resolve("model", spec_or_name, registry)
    accepts_defaults(entry)
    require_usable(entry)
    if dataset is None:
        targets = datasets_for(entry, registry)
    else:
        target = resolve("dataset", dataset, registry)
        why = entry.spec.incompatibility(target.spec)
        if why:
            raise ValueError(f"{describe(entry)} cannot be checked on dataset {target.name!r}: {why}")
        targets = [(target, None)]
    for target, params in targets:
        check_on(entry, target, load_splits(target, params))
    return [target.name for target, _ in targets]


def compatible_datasets(entry: Entry, registry: Registry) -> list[Entry]:
    """The registered datasets whose task and modality the model declares, usable here or not."""
    return [d for d in registry.entries("dataset") if entry.spec.incompatibility(d.spec) is None]


def datasets_for(entry: Entry, registry: Registry) -> list[tuple[Entry, dict | None]]:
    """The datasets a model is checked on when none is named, each with its parameters (None: its defaults)."""
    compatible = compatible_datasets(entry, registry)
    reasons = {d.name: unavailable_reason(d.spec, dict(d.spec.defaults)) for d in compatible}
    usable = [d for d in compatible if reasons[d.name] is None]
    real = [(d, None) for d in usable if not d.spec.synthetic]
    if real:
        return real
    synthetic = [(d, small_params(d)) for d in usable if d.spec.synthetic]
    if synthetic:
        return synthetic
    missing = "; ".join(f"{name}: {why}" for name, why in reasons.items() if why) or "none is registered"
    raise Unavailable(f"model {entry.name} (plugin {entry.plugin}): no dataset here that it can train on "
                      f"({'/'.join(entry.spec.tasks)}, {'/'.join(entry.spec.modalities)}): {missing}")  # fmt: skip


def check_on(entry: Entry, target: Entry, data) -> None:
    """One model on one loaded dataset: the output's shape, finite losses, and a fixed batch overfitted."""
    on = f"on dataset {target.name!r}"
    try:
        batch = first_examples(data.train, BATCH)
    except Exception as exc:
        raise failure(target, "the first examples of the train split cannot be read", exc) from exc
    losses: list[float] = []
    for lr in RATES:
        losses = overfit(entry, target, data.info, batch, lr, check_output=lr == RATES[0])
        if min(losses[-5:]) < OVERFIT_RATIO * losses[0]:
            return
    raise failure(entry, f"{on}: the loss did not fall below {OVERFIT_RATIO} of its first value on a fixed batch of "
                         f"{len(batch[0])} examples in {STEPS} Adam steps at lr {' or '.join(map(str, RATES))}: "
                         f"{losses[0]:.4g} at first, {min(losses[-5:]):.4g} at best in the end")  # fmt: skip


def build_module(entry: Entry, target: Entry, info):
    """The model built with its defaults, wrapped in the task's module unless it is a LightningModule of its own;
    and whether it is its own. A build that raises :class:`~harness.specs.Incompatible` is a skip, with its reason."""
    import torch

    from harness.train.lazy_lightning import is_lightning_module
    from harness.train.tasks import wrap

    try:
        built = entry.spec.build(info, **dict(entry.spec.defaults))
    except Incompatible as exc:  # the model's own word that it cannot take this data: a run records it, not a failure
        raise Unavailable(
            f"model {entry.name} (plugin {entry.plugin}) cannot take dataset {target.name}: {exc}"
        ) from exc
    except Exception as exc:
        raise failure(entry, f"on dataset {target.name!r}: build() raised", exc) from exc
    if is_lightning_module(built):
        return built, True
    if not isinstance(built, torch.nn.Module):
        raise failure(entry, f"on dataset {target.name!r}: build() returned {type(built).__name__}, not an nn.Module")
    return wrap(built, info), False


def overfit(entry: Entry, target: Entry, info, batch, lr: float, check_output: bool) -> list[float]:
    """The losses of ``STEPS`` Adam steps at ``lr`` on ``batch``, each checked finite; the output's shape first."""
    import torch

    torch.manual_seed(0)
    module, own = build_module(entry, target, info)
    on = f"on dataset {target.name!r}"
    if check_output and not own:
        problem = output_problem(module.net, info, batch)
        if problem:
            raise failure(entry, f"{on}: {problem}")
    trainable = [p for p in module.parameters() if p.requires_grad]
    if not trainable:
        raise failure(entry, f"{on}: it has no parameter that requires a gradient: nothing to train")
    optimizer = torch.optim.Adam(trainable, lr=lr)
    module.train()
    losses = []
    for step in range(STEPS):
        try:
            loss = module.training_step(batch, step)
        except Exception as exc:
            raise failure(entry, f"{on}: training step {step} raised", exc) from exc
        loss = loss["loss"] if isinstance(loss, dict) else loss
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not math.isfinite(float(loss.detach())):
            raise failure(entry, f"{on}: training step {step} (lr {lr}) gave the loss {loss!r}, not a finite scalar")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def output_problem(net, info, batch) -> str | None:
    """Why a plain module's output on ``batch`` is not what the task's loss and metrics read, or None."""
    import torch

    inputs, targets = batch
    n = len(inputs)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            if info.task == "seq2seq":
                return _seq2seq_problem(net, info, inputs, targets)
            output = net(inputs)
    except Exception as exc:
        from harness.errors import one_line

        return f"forward on a batch of {n} raised {one_line(exc)}"
    finally:
        net.train(was_training)
    if not isinstance(output, torch.Tensor) or not output.dtype.is_floating_point:
        return f"forward returned {type(output).__name__} {getattr(output, 'dtype', '')}, not a float tensor".strip()
    width = info.num_classes if info.task == "classification" else info.output_dim or 1
    allowed = [(n, width)] + ([(n,)] if info.task == "regression" and width == 1 else [])
    if tuple(output.shape) not in allowed:
        what = "num_classes" if info.task == "classification" else "output_dim"
        shape = tuple(output.shape)
        return f"output has shape {shape} on a batch of {n}; the {info.task} task needs {allowed[0]} (batch, {what})"
    return None


def _seq2seq_problem(net, info, source, target) -> str | None:
    """A seq2seq model's teacher-forced logits ``[B, T, target_vocab_size]`` and greedy ``generate``."""
    import torch

    n, steps = len(source), target.shape[1] - 1
    logits = net(source, target[:, :-1])
    expected = (n, steps, info.target_vocab_size)
    shape = tuple(getattr(logits, "shape", ()))
    if not isinstance(logits, torch.Tensor) or shape != expected:
        return f"forward(source, target_in) gave shape {shape}, expected {expected} (batch, steps, target_vocab_size)"
    if not callable(getattr(net, "generate", None)):
        return "a seq2seq model needs generate(source, max_length) for evaluation"
    longest = info.max_target_length - 1
    ids = net.generate(source[:2], longest)
    shape = tuple(getattr(ids, "shape", ()))
    if not isinstance(ids, torch.Tensor) or ids.dtype.is_floating_point or len(shape) != 2 or shape[0] != min(2, n):
        return f"generate(source, {longest}) gave {type(ids).__name__} of shape {shape}, not ids [2, <= {longest}]"
    if shape[1] > longest:
        return f"generate(source, {longest}) gave {shape[1]} ids per example, more than max_length"
    return None
