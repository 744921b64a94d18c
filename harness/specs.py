"""The typed contract between plugins and the harness.

Plugins return these frozen dataclasses from the discovery hooks. They carry
callables, never instances, so listing plugins stays cheap: nothing heavy is
built or loaded until a run asks for it. This module must not import torch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: What a dataset asks a model to learn; it decides the loss, metrics and the
#: LightningModule that wraps a plain ``nn.Module``.
TASKS = ("classification", "regression", "seq2seq")

#: Each task's main metric and whether higher ("max") or lower ("min") is better.
TASK_METRICS = {
    "classification": ("accuracy", "max"),
    "regression": ("rmse", "min"),
    "seq2seq": ("token_accuracy", "max"),
}

#: Metrics each task computes; a dataset may pick its main one from these (``DatasetInfo.metric``).
TASK_METRIC_NAMES = {
    "classification": ("accuracy", "top5_accuracy"),
    "regression": ("rmse", "mae", "r2"),
    "seq2seq": ("token_accuracy", "exact_match", "bleu", "chrf"),
}

#: Whether a larger value of a metric is better ("max") or a smaller one ("min").
METRIC_MODES = {"rmse": "min", "mae": "min", "loss": "min"}

#: What the inputs look like; models declare which modalities they can read.
MODALITIES = ("image", "sequence", "tokens", "tabular")

#: Token ids every token dataset reserves, in this order, so models and tasks agree on them.
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)


class SpecError(ValueError):
    """A plugin returned a spec that breaks the contract."""


def unavailable_reason(spec, params: Mapping | None = None) -> str | None:
    """Why a model or dataset cannot be used here (its ``check``), or None; a raising check is a reason too.

    ``params`` (the resolved parameters of one grid item) reach a check that takes keyword arguments, so
    ``download=true`` or an explicit ``path`` can make a dataset usable; a check without parameters is called
    as before, with none.
    """
    check = getattr(spec, "check", None)
    if check is None:
        return None
    try:
        return check(**_accepted(check, params or {}))
    except Exception as exc:  # a broken check must not break listing
        return f"check failed: {type(exc).__name__}: {exc}"


def _accepted(check: Callable, params: Mapping) -> dict:
    """The part of ``params`` that ``check`` takes by keyword: all with ``**kwargs``, else the names it declares."""
    if not params:
        return {}
    target = check.resolve() if callable(getattr(check, "resolve", None)) else check  # a lazy() check: its target
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # a builtin without a signature: called as before
        return {}
    kinds = {p.name: p.kind for p in signature.parameters.values()}
    if inspect.Parameter.VAR_KEYWORD in kinds.values():
        return dict(params)
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {key: value for key, value in params.items() if kinds.get(key) in named}


def _check_validate(kind: str, name: str, validate) -> None:
    if validate is not None and not callable(validate):
        raise SpecError(f"{kind} {name!r}: validate must be callable or None")


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not name or any(c in name for c in " ,[]=*?"):
        raise SpecError(
            f"{kind} name {name!r} must be a non-empty string without spaces, commas, brackets, '=' or wildcards"
        )


def _check_vocab(kind: str, name: str, what: str, values, allowed) -> None:
    bad = sorted(set(values) - set(allowed))
    if bad:
        raise SpecError(f"{kind} {name!r}: unknown {what} {bad}; allowed: {', '.join(allowed)}")


@dataclass(frozen=True)
class DatasetInfo:
    """What a loaded dataset says about itself; a model's ``build`` reads it.

    ``input_shape`` excludes the batch dimension (for token data: the padded
    sequence length). ``num_classes`` is set for classification, ``output_dim``
    for regression, ``vocab_size`` for token inputs (ids per
    :data:`SPECIAL_TOKENS`, 0 is padding) and ``target_vocab_size`` plus
    ``max_target_length`` for sequence-to-sequence targets. ``metric`` picks
    the main metric among :data:`TASK_METRIC_NAMES` when the task's default
    does not fit (exact match for dates, BLEU for translation).

    Conventions by task, read by the harness's task modules:

    * classification: targets are class ids ``[B]``.
    * regression: targets are ``[B, output_dim]`` floats, standardised; ``extra``
      may hold ``target_mean``/``target_std`` (lists) so errors are reported in
      the original units.
    * seq2seq: batches are ``(source [B, S], target [B, T])`` of token ids,
      targets framed as ``<bos> ... <eos>`` and padded; ``extra["target_vocab"]``
      (id -> token) and ``extra["joiner"]`` ("" for characters, " " for words)
      turn ids back into text for BLEU/chrF; ``extra["text_metrics"]`` False skips them.
    """

    task: str
    modality: str
    input_shape: tuple[int, ...]
    num_classes: int | None = None
    output_dim: int | None = None
    vocab_size: int | None = None
    target_vocab_size: int | None = None
    max_target_length: int | None = None
    metric: str | None = None
    synthetic: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        if self.metric is not None and self.metric not in TASK_METRIC_NAMES.get(self.task, ()):
            raise SpecError(
                f"metric {self.metric!r} is not computed for {self.task}; "
                f"choose from {', '.join(TASK_METRIC_NAMES.get(self.task, ()))}"
            )


@dataclass(frozen=True)
class DatasetSplits:
    """Train/validation/test data plus metadata, as a dataset's ``load`` returns it.

    Each split is either a tuple of tensors ``(inputs, targets)`` (small data:
    the harness keeps it on the device and slices batches from it) or any
    ``torch.utils.data.Dataset`` (the harness wraps it in a DataLoader).
    ``val`` may be None: no validation split (e.g. ``val_fraction=0``, to train
    on the whole training set as a paper's protocol does); such a run has no
    validation metrics, and early stopping and ``target`` are refused for it.
    """

    train: Any
    val: Any
    test: Any
    info: DatasetInfo


@dataclass(frozen=True)
class ModelSpec:
    """A model family.

    ``build(info, **params)`` gets the dataset's :class:`DatasetInfo` and the
    resolved hyper-parameters (``defaults`` overlaid with the user's overrides)
    and returns a plain ``torch.nn.Module`` (the harness wraps it for the task)
    or a ``LightningModule`` with its own training logic. Such a module logs
    ``val_<metric>``/``val_loss`` per validation epoch and ``test_<metric>``/
    ``test_loss`` in testing (metric per :data:`TASK_METRICS`, or its own
    ``metric``/``mode`` attributes); the harness still supplies the optimizer,
    so optimizer comparisons stay fair. ``defaults`` declares every parameter
    ``build`` accepts: overrides of undeclared names are rejected as typos,
    and an override must have the type of its default (a whole number for an
    int, a number for a float, a list for a list; a None default takes anything).
    ``check(**params)``, when given, says why the model cannot be used on this
    machine (an optional package that is not installed), or returns None. A
    check that takes keyword arguments gets the resolved parameters of the grid
    item (only those it names, unless it takes ``**params``); one that takes
    none is called with none. ``validate(params)``, when given, gets the
    resolved parameters before anything trains and returns why they are not
    allowed ("dropout must be in [0, 1), got 1.5"), or None; it must be cheap
    and must not raise (an exception is reported as the plugin's bug).
    """

    name: str
    build: Callable[..., Any]
    tasks: tuple[str, ...] = ("classification",)
    modalities: tuple[str, ...] = MODALITIES
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    check: Callable[..., str | None] | None = None
    validate: Callable[[Mapping[str, Any]], str | None] | None = None

    def __post_init__(self) -> None:
        _check_name("model", self.name)
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "modalities", tuple(self.modalities))
        _check_vocab("model", self.name, "task", self.tasks, TASKS)
        _check_vocab("model", self.name, "modality", self.modalities, MODALITIES)
        if not callable(self.build):
            raise SpecError(f"model {self.name!r}: build must be callable")
        _check_validate("model", self.name, self.validate)

    def incompatibility(self, dataset: DatasetSpec) -> str | None:
        """Why this model cannot train on ``dataset``, or None when it can."""
        if dataset.task not in self.tasks:
            return f"model {self.name} does {'/'.join(self.tasks)}, dataset {dataset.name} is {dataset.task}"
        if dataset.modality not in self.modalities:
            return f"model {self.name} reads {'/'.join(self.modalities)}, dataset {dataset.name} is {dataset.modality}"
        return None


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset.

    ``load(**params)`` returns :class:`DatasetSplits`. ``task`` and
    ``modality`` are declared here too so the grid can skip incompatible pairs
    without loading any data. ``check(**params)``, when given, says why the
    data cannot be loaded on this machine and how to get it (files not found
    under the data root, a package not installed), or returns None; it must be
    cheap. A check that takes keyword arguments gets the resolved parameters of
    the grid item (only those it names, unless it takes ``**params``), so that
    ``download=true`` or an explicit ``path`` counts; one that takes none is
    called with none. ``validate(params)`` works as for :class:`ModelSpec`.
    Overrides must have the type of their default, as for models.
    ``synthetic`` marks generated data that measures speed, not learning.
    """

    name: str
    load: Callable[..., DatasetSplits]
    task: str
    modality: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    synthetic: bool = False
    check: Callable[..., str | None] | None = None
    validate: Callable[[Mapping[str, Any]], str | None] | None = None

    def __post_init__(self) -> None:
        _check_name("dataset", self.name)
        _check_vocab("dataset", self.name, "task", [self.task], TASKS)
        _check_vocab("dataset", self.name, "modality", [self.modality], MODALITIES)
        if not callable(self.load):
            raise SpecError(f"dataset {self.name!r}: load must be callable")
        _check_validate("dataset", self.name, self.validate)


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer.

    ``build(params, **hparams)`` returns a ``torch.optim.Optimizer``;
    ``defaults`` holds at least ``lr`` and is overlaid with the user's values
    (each of its default's type; every ``lr`` a finite number above 0).
    ``validate(hparams)``, when given, gets the resolved hyper-parameters (with
    each learning rate of the grid) before anything trains and returns why they
    are not allowed, or None, as for :class:`ModelSpec`.
    """

    name: str
    build: Callable[..., Any]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    validate: Callable[[Mapping[str, Any]], str | None] | None = None

    def __post_init__(self) -> None:
        _check_name("optimizer", self.name)
        if not callable(self.build):
            raise SpecError(f"optimizer {self.name!r}: build must be callable")
        if "lr" not in self.defaults:
            raise SpecError(f"optimizer {self.name!r}: defaults must hold a learning rate 'lr'")
        _check_validate("optimizer", self.name, self.validate)


SPEC_TYPES = {"model": ModelSpec, "dataset": DatasetSpec, "optimizer": OptimizerSpec}
#: The kinds of spec, which are also the three parts of every run (its config names each, with a label and parameters).
KINDS = tuple(SPEC_TYPES)


def lazy(target: str) -> Callable[..., Any]:
    """A callable standing for ``"package.module:function"``, imported on first call.

    Lets a plugin register specs without importing torch or a heavy optional
    dependency, so ``harness list`` stays fast and a missing dependency only
    fails the runs that need it.
    """
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise SpecError(f"lazy target {target!r} must look like 'package.module:function'")
    resolved: list = []

    def resolve() -> Callable[..., Any]:
        """The function itself, imported now (what a caller inspects, e.g. for the parameters of a check)."""
        if not resolved:
            import importlib

            resolved.append(getattr(importlib.import_module(module_name), attr))
        return resolved[0]

    def call(*args, **kwargs):
        return resolve()(*args, **kwargs)

    call.__name__ = attr
    call.__qualname__ = attr
    call.__doc__ = f"Lazily imported {target}."
    call.target = target
    call.resolve = resolve
    return call
