"""A pytorch-optimizer class read as a harness spec: defaults, description, search space and build.

Everything comes from the class itself (its ``__init__`` signature and docstring), so a new release of the
package brings its new optimizers and parameters without a change here. The few fixed choices are:

* a learning rate the signature does not give as a positive number (``lr=None``) falls back to
  :data:`LR_FALLBACK`, or to :data:`LR_DOCUMENTED` where the class documents its own value;
* a default that a grid item cannot express (a torch dtype, an enum, a function, a non-finite number) is
  left out: the optimizer keeps its own default, and the name cannot be overridden;
* a required parameter with no default (Ranger21's ``num_iterations``) is declared with the default None,
  and the optimizer's ``check`` says it must be given (``po/ranger21[num_iterations=3000]``);
* an optimizer that projects matrices onto a low rank only for parameter groups that carry ``rank``
  (GaLore, Fira, APOLLO) gets those group options too, with the projector's own defaults, so it runs as the
  method it is named after and not as its full-rank fallback (AdamW).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

from harness.specs import SearchParam

#: The learning rate used where the signature gives none (``lr=None``) and the class documents none.
LR_FALLBACK = 1e-3
#: Learning rates a class documents in words rather than as its default (SaRA: 1e-3 * exp(-350 * threshold)).
LR_DOCUMENTED = {"SaRA": 1e-3 * math.exp(-350 * 1e-3)}
#: The weight-decay range ``harness tune`` searches (log scale), wide enough for coupled (L2) and decoupled decay.
WEIGHT_DECAY_RANGE = (1e-6, 1e-1)
#: How far either side of the default learning rate the search goes (a decade, as harness_optim's fallback).
LR_SPAN = 10.0

#: What an optimizer is built over or wraps: never a hyper-parameter.
_NOT_HYPERPARAMETERS = ("params", "model", "optimizer", "base_optimizer")
_SKIP = object()


@dataclass(frozen=True)
class Hyper:
    """What a grid item may set on one optimizer, and how ``build`` passes it back."""

    defaults: dict
    tuples: frozenset = frozenset()  # parameters the class takes as tuples (a grid gives lists)
    takes_lr: bool = True


def _wants_float(annotation) -> bool:
    return annotation is float or "float" in str(annotation)


def json_like(value, annotation=inspect.Parameter.empty):
    """``value`` as a grid item can write it (tuples as lists, ints annotated float as floats), or ``_SKIP``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) is int:
        return float(value) if _wants_float(annotation) else value
    if isinstance(value, float) and type(value) is float:
        return value if math.isfinite(value) else _SKIP
    if isinstance(value, (tuple, list)) and type(value) in (tuple, list):
        items = [json_like(item) for item in value]
        return _SKIP if any(item is _SKIP for item in items) else items
    return _SKIP  # a dtype, an enum, a function: not something a grid item can name


def _learning_rate(cls, parameter) -> float:
    default = None if parameter is None else parameter.default
    usable = isinstance(default, (int, float)) and not isinstance(default, bool) and math.isfinite(default)
    if usable and default > 0:
        return float(default)
    return LR_DOCUMENTED.get(cls.__name__, LR_FALLBACK)


def _init_parameters(cls) -> list[inspect.Parameter]:
    """The parameters of ``cls.__init__`` a grid item could give: not ``self``, nor what it optimizes or wraps."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [p for p in parameters if p.name not in _NOT_HYPERPARAMETERS]


def _grid_type(annotation) -> bool:
    """Whether a parameter annotated so takes a number, a flag or a word (what a grid item can write)."""
    return annotation in (int, float, bool, str) or str(annotation) in ("int", "float", "bool", "str")


def required_parameters(cls) -> list[str]:
    """Numbers, flags or words ``cls`` needs and has no default for (Ranger21's ``num_iterations``).

    A required model, optimizer or scheduler is not listed: no grid item can give one, and the rules of
    :mod:`harness_zoo_optim.limits` say why such an optimizer is unusable.
    """
    plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [
        p.name
        for p in _init_parameters(cls)
        if p.kind in plain and p.default is inspect.Parameter.empty and _grid_type(p.annotation)
    ]


def hyperparameters(cls) -> Hyper:
    """The defaults a grid item can override: ``lr`` first, then every keyword whose default it can write."""
    parameters = {p.name: p for p in _init_parameters(cls) if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    defaults = {"lr": _learning_rate(cls, parameters.get("lr"))}
    required = set(required_parameters(cls))
    tuples = set()
    for name, parameter in parameters.items():
        if name == "lr":
            continue
        if parameter.default is inspect.Parameter.empty:
            if name in required:
                defaults[name] = None  # the check asks for it until the grid item gives it
            continue
        value = json_like(parameter.default, parameter.annotation)
        if value is not _SKIP:
            defaults[name] = value
            if isinstance(parameter.default, tuple):
                tuples.add(name)
    options = _group_options(cls)
    for name, value in options.items():
        defaults.setdefault(name, value)
    return Hyper(defaults, frozenset(tuples), "lr" in parameters)


def _group_options(cls) -> dict:
    """The low-rank projector's options (``rank``...) for a class that projects only groups carrying them."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    if "GaLoreProjector(" not in source or "'rank' in group" not in source:
        return {}
    from pytorch_optimizer.optimizer.utils.galore import GaLoreProjector

    found = {}
    for parameter in list(inspect.signature(GaLoreProjector.__init__).parameters.values())[1:]:
        value = json_like(parameter.default, parameter.annotation)
        if parameter.kind is parameter.POSITIONAL_OR_KEYWORD and value is not _SKIP:
            found[parameter.name] = value
    return found


def description(cls) -> str:
    """The first sentence of the class docstring and the class it names (``harness show`` prints it)."""
    text = " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split())
    sentence = text.split(". ")[0].rstrip(".")
    origin = f"{cls.__module__.split('.')[0]}'s {cls.__name__}"  # torch's Adam, re-exported, or the package's own
    return f"{sentence} ({origin})" if sentence else origin


def search_space(defaults: dict) -> dict:
    """``lr`` a decade either side of its default, and ``weight_decay`` where the optimizer has one (log scales)."""
    lr = defaults["lr"]
    space = {"lr": SearchParam(lr / LR_SPAN, lr * LR_SPAN, log=True)}
    if isinstance(defaults.get("weight_decay"), (int, float)) and not isinstance(defaults["weight_decay"], bool):
        space["weight_decay"] = SearchParam(*WEIGHT_DECAY_RANGE, log=True)
    return space


def arguments(hyper: Hyper, params) -> dict:
    """The keyword arguments for the class: tuples where it takes tuples, the lr only if it takes one."""
    kwargs = {}
    for key, value in params.items():
        if key == "lr" and not hyper.takes_lr:
            continue
        if key in hyper.defaults and hyper.defaults[key] is None and value is None:
            continue  # the class's own None default, or a required one left unset (which the check refuses)
        kwargs[key] = tuple(value) if key in hyper.tuples and isinstance(value, list) else value
    return kwargs


def builder(cls, hyper: Hyper):
    """``build(params, lr, **hparams)`` for the spec: the optimizer over the model's parameters."""

    def build(params, lr, **hparams):
        optimizer = cls(list(params), **arguments(hyper, {"lr": lr, **hparams}))
        for group in optimizer.param_groups:  # one without a learning rate (A2Grad) still takes a schedule
            group.setdefault("lr", lr)
        return optimizer

    build.__name__ = f"build_{cls.__name__.lower()}"
    build.__doc__ = f"Construct pytorch-optimizer's {cls.__name__}."
    return build


def _probe():
    import torch

    return torch.nn.Parameter(torch.zeros(2, 2))


def keeps_no_lr(cls, hyper: Hyper) -> bool:
    """Whether the optimizer, built with its defaults, keeps no learning rate in its parameter groups (A2Grad):
    its description then says that ``lr`` and schedules leave it unchanged."""
    try:
        built = cls([_probe()], **arguments(hyper, hyper.defaults))
    except Exception:  # one that cannot be built from parameters is refused by its check
        return False
    return any("lr" not in group for group in built.param_groups)


def argument_problem(cls, params) -> str | None:
    """Why a required argument given in a grid item is not of its annotated type (``num_iterations=abc``), or None."""
    annotations = {p.name: p.annotation for p in _init_parameters(cls)}
    for name in required_parameters(cls):
        value, wanted = params.get(name), annotations[name]
        if value is None:
            continue
        whole = wanted in (int, "int") and (isinstance(value, bool) or not isinstance(value, int))
        number = wanted in (float, "float") and (isinstance(value, bool) or not isinstance(value, (int, float)))
        if whole or number:
            return f"{name} must be a {'whole number' if whole else 'number'}, got {value!r}"
    return None


def construction_problem(cls, hyper: Hyper, params) -> str | None:
    """Why the optimizer refuses ``params`` (a beta of 1.5, an unknown option), found by building it over one
    small tensor before anything trains, or None. The package validates in its constructor; asking it is the
    one check that never drifts from what it accepts."""
    try:
        cls([_probe()], **arguments(hyper, params))
    except Exception as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        return f"{cls.__name__} refuses these parameters: {text}"
    return None
