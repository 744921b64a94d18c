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


class Incompatible(ValueError):
    """Raised by a model's ``build`` when it cannot take the dataset it is given (an input too small for its
    kernels, patches that do not tile the image): the run is recorded as ``incompatible`` with the message as
    its reason, a final status like a skipped pair, not a failure to retry."""


def unavailable_reason(spec, params: Mapping | None = None) -> str | None:
    """Why a model, dataset or optimizer cannot be used here (its ``check``), or None; a raising check is a reason too.

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


#: The kinds of value a :class:`SearchParam` draws.
SEARCH_KINDS = ("float", "int", "choice")


@dataclass(frozen=True)
class SearchParam:
    """One hyper-parameter's search range, as declared in a spec's ``search_space`` (``harness tune``).

    ``float`` and ``int`` draw from ``[low, high]``, evenly on a log scale when
    ``log`` (then ``low`` > 0); ``choice`` draws one of ``choices``. With
    ``one_minus`` the search draws ``1 - value`` instead: momentum or Adam's
    beta1, searched on a log scale near 1 (``low``/``high`` bound ``1 - value``).
    A space's key names a parameter of the spec's ``defaults``; an element of a
    list default is ``name[index]`` (``betas[0]``); the run's schedule parameters
    are ``schedule.name`` (``schedule.warmup``), searched only when the run's
    schedule has that parameter.
    """

    low: float | None = None
    high: float | None = None
    log: bool = False
    kind: str = "float"
    choices: tuple = ()
    one_minus: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        problem = search_param_problem(self)
        if problem:
            raise SpecError(f"search parameter: {problem}")


def search_param_problem(param: SearchParam) -> str | None:
    """Why ``param`` cannot be searched ("low must be below high, got 0.1 and 0.01"), or None."""
    import math

    if param.kind not in SEARCH_KINDS:
        return f"kind must be one of {', '.join(SEARCH_KINDS)}, got {param.kind!r}"
    if param.kind == "choice":
        if not param.choices:
            return "a choice needs at least one value in choices"
        return "one_minus and log apply to numbers, not to a choice" if param.one_minus or param.log else None
    numbers = (param.low, param.high)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in numbers):
        return f"low and high must be finite numbers, got {param.low!r} and {param.high!r}"
    if param.kind == "int" and (param.one_minus or not all(float(v).is_integer() for v in numbers)):
        return f"an int range needs whole-number bounds (and no one_minus), got {param.low!r} and {param.high!r}"
    if param.low >= param.high:
        return f"low must be below high, got {param.low!r} and {param.high!r}"
    if param.log and param.low <= 0:
        return f"a log scale needs low > 0, got {param.low!r}"
    if param.one_minus and param.high > 1:
        return f"one_minus bounds 1 - value, which must stay in (0, 1]; got high {param.high!r}"
    return None


@dataclass(frozen=True)
class Reference:
    """A published result a run can be read against (``harness report --references``).

    ``value`` is in the units of the record's test metric (``metric``, default
    the dataset's main one; accuracy as a fraction, 0.94 for 94%), measured on
    ``dataset`` with ``model`` and ``optimizer`` (spec names; None where the
    spec that ships the reference already says, or where any will do) under
    ``protocol`` (words for a reader) and ``settings`` (what a run's config must
    hold to be compared: ``{"max_steps": 8000, "batch_size": 100}``; keys of
    the run config, or of its model, dataset or optimizer parameters). A run
    agrees when its mean's confidence interval overlaps ``value +- spread`` (the
    published spread, e.g. a standard deviation over seeds) or, with no spread,
    lies within ``tolerance`` of it. ``source`` names the paper and table.

    A result that is computed rather than published (a baseline trained by
    another library) gives ``value=None`` and ``compute``: a callable taking no
    arguments (``harness.specs.lazy`` makes one without importing anything)
    that returns a :class:`Reference` with its value. Where it applies is known
    without calling it (this reference's model, dataset, optimizer, metric and
    settings), so a report calls it only when some cell matches; the
    ``value``, ``spread``, ``tolerance``, ``source`` and ``protocol`` it returns
    are what the report shows (:meth:`resolve`). It should cache its result: a
    report may ask again. A ``compute`` that raises is reported by the spec's
    name, and the report goes on without it.
    """

    value: float | None
    source: str
    model: str | None = None
    dataset: str | None = None
    optimizer: str | None = None
    metric: str | None = None
    spread: float | None = None
    tolerance: float | None = None
    protocol: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    compute: Callable[[], Reference] | None = None

    def __post_init__(self) -> None:
        import math

        for name in ("value", "spread", "tolerance"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise SpecError(f"reference {self.source!r}: {name} must be a finite number, got {v!r}")
        if (self.spread is not None and self.spread < 0) or (self.tolerance is not None and self.tolerance < 0):
            raise SpecError(f"reference {self.source!r}: spread and tolerance must be at least 0")
        if not self.source:
            raise SpecError("a reference needs its source (paper, table)")
        if (self.value is None) == (self.compute is None):
            raise SpecError(f"reference {self.source!r}: give a value, or value=None and compute (not both)")
        if self.compute is not None and not callable(self.compute):
            raise SpecError(f"reference {self.source!r}: compute must be callable, got {self.compute!r}")

    def resolve(self) -> Reference:
        """This reference with its value: itself, or what ``compute()`` gives, kept to this one's scope (raises
        what ``compute`` raises; SpecError when it returns anything but a Reference with a value)."""
        if self.compute is None:
            return self
        got = self.compute()
        if not isinstance(got, Reference) or got.value is None:
            raise SpecError(f"reference {self.source!r}: compute must return a Reference with a value, got {got!r}")
        spread, tolerance = (
            getattr(got, n) if getattr(got, n) is not None else getattr(self, n) for n in ("spread", "tolerance")
        )
        import dataclasses

        return dataclasses.replace(self, value=got.value, spread=spread, tolerance=tolerance, source=got.source,
                                   protocol=got.protocol or self.protocol, compute=None)  # fmt: skip


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
    ``references`` are results this model can be read against
    (:class:`Reference`; its ``model`` defaults to this one); one whose value is
    computed is computed only when a report has a cell it matches.
    """

    name: str
    build: Callable[..., Any]
    tasks: tuple[str, ...] = ("classification",)
    modalities: tuple[str, ...] = MODALITIES
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    check: Callable[..., str | None] | None = None
    validate: Callable[[Mapping[str, Any]], str | None] | None = None
    search_space: Mapping[str, SearchParam] = field(default_factory=dict)
    references: tuple[Reference, ...] = ()

    def __post_init__(self) -> None:
        _check_name("model", self.name)
        _check_space("model", self.name, self.search_space, self.defaults)
        _check_references("model", self.name, self)
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
    ``references`` are results on this dataset (:class:`Reference`; its
    ``dataset`` defaults to this one), published or computed, as for :class:`ModelSpec`.
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
    references: tuple[Reference, ...] = ()

    def __post_init__(self) -> None:
        _check_references("dataset", self.name, self)
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
    are not allowed, or None, as for :class:`ModelSpec`. ``check()``, when
    given, says why the optimizer cannot be used here (a package missing, a
    step that needs what the training loop does not give, such as a closure),
    or returns None: a grid naming it is refused with that reason, before
    anything trains.
    """

    name: str
    build: Callable[..., Any]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    validate: Callable[[Mapping[str, Any]], str | None] | None = None
    search_space: Mapping[str, SearchParam] = field(default_factory=dict)
    check: Callable[..., str | None] | None = None

    def __post_init__(self) -> None:
        _check_name("optimizer", self.name)
        _check_space("optimizer", self.name, self.search_space, self.defaults)
        if not callable(self.build):
            raise SpecError(f"optimizer {self.name!r}: build must be callable")
        if "lr" not in self.defaults:
            raise SpecError(f"optimizer {self.name!r}: defaults must hold a learning rate 'lr'")
        _check_validate("optimizer", self.name, self.validate)


def space_key_problem(key: str, defaults: Mapping[str, Any]) -> str | None:
    """Why ``key`` names nothing a search can set in a spec with ``defaults`` (see :class:`SearchParam`), or None."""
    import re

    if key.startswith("schedule.") and key.count(".") == 1 and len(key) > 9:
        return None
    match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?", key)
    if match is None or match[1] not in defaults:
        return f"{key!r} is not one of its parameters ({', '.join(sorted(defaults)) or 'none'}) nor schedule.NAME"
    if match[2] is not None:
        default = defaults[match[1]]
        if not isinstance(default, (list, tuple)) or int(match[2]) >= len(default):
            return f"{key!r}: {match[1]} is not a list with an element {match[2]}"
    return None


def _check_space(kind: str, name: str, space, defaults) -> None:
    if not isinstance(space, Mapping):
        raise SpecError(f"{kind} {name!r}: search_space must map parameter names to SearchParam")
    for key, param in space.items():
        if not isinstance(param, SearchParam):
            raise SpecError(f"{kind} {name!r}: search_space[{key!r}] must be a SearchParam, got {param!r}")
        problem = space_key_problem(key, defaults)
        if problem:
            raise SpecError(f"{kind} {name!r}: search_space: {problem}")


def _check_references(kind: str, name: str, spec) -> None:
    references = tuple(spec.references)
    object.__setattr__(spec, "references", references)
    for reference in references:
        if not isinstance(reference, Reference):
            raise SpecError(f"{kind} {name!r}: references must be Reference objects, got {reference!r}")


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
