"""What a tuning searches: each run's search space, from the specs, the user's overrides and a fallback.

A space maps a parameter's address to its :class:`~harness.specs.SearchParam`:
``optimizer.lr``, ``optimizer.betas[0]``, ``model.dropout``,
``schedule.warmup``. The optimizer's spec declares its own space (the
built-in ones document theirs), a model's spec may declare one, and the user
overrides or removes any entry (``--space``, ``space=`` from Python). An
optimizer that declares none is searched on its learning rate alone, a log
range of a decade either side of its default. A drawn point is applied to a
base run as a new :class:`~harness.config.RunConfig`, labelled as the grid
would label it, so each trial is an ordinary run with an ordinary record.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from harness.config import RunConfig, optimizer_label
from harness.errors import ConfigError
from harness.specs import SearchParam, SpecError, space_key_problem
from harness.suite_rules import label, parse_item

#: The fallback space of an optimizer that declares none: its learning rate, this factor either side of its default.
FALLBACK_LR_FACTOR = 10.0
#: Significant digits a drawn number keeps: a trial's label stays readable, and no search resolves finer than this.
DIGITS = 4
#: The kinds of spec a space address starts with.
PARTS = ("optimizer", "model", "schedule")


def rounded(value: float) -> float:
    """``value`` to :data:`DIGITS` significant digits."""
    return float(f"{value:.{DIGITS}g}")


def declared_space(config: RunConfig, registry) -> dict[str, SearchParam]:
    """The space ``config``'s specs declare, each key prefixed with its part (``optimizer.lr``)."""
    optimizer = registry.get("optimizer", config.optimizer).spec
    model = registry.get("model", config.model).spec
    space = {_address("optimizer", key): param for key, param in optimizer.search_space.items()}
    if not space:
        default = config.optimizer_params.get("lr")
        space["optimizer.lr"] = SearchParam(default / FALLBACK_LR_FACTOR, default * FALLBACK_LR_FACTOR, log=True)
    space.update({_address("model", key): param for key, param in model.search_space.items()})
    return space


def _address(part: str, key: str) -> str:
    """A spec's space key as an address: ``lr`` of an optimizer is ``optimizer.lr``; ``schedule.warmup`` stays."""
    return key if key.startswith("schedule.") else f"{part}.{key}"


def space_for(config: RunConfig, registry, overrides: dict[str, SearchParam | None]) -> dict[str, SearchParam]:
    """``config``'s searched parameters: the declared space with ``overrides`` applied (None removes one).

    Schedule parameters are searched only when the run's schedule has them; a model's or optimizer's
    parameter the user fixed in its brackets (``sgd[weight_decay=0]``) is not searched at all.
    """
    space = {**declared_space(config, registry), **applicable(config, overrides)}
    fixed = fixed_addresses(config)
    space = {key: param for key, param in space.items()
             if param is not None and applies(config, key) and _base_address(key) not in fixed}  # fmt: skip
    if not space:
        raise ConfigError(
            f"{config.model_label} | {config.dataset_label} | {config.optimizer_label}: nothing is left to search "
            "(every parameter of its space is fixed in brackets or switched off with --space NAME=off)"
        )
    return dict(sorted(space.items()))


def fixed_addresses(config: RunConfig) -> set[str]:
    """The parameters the user fixed in the model's and optimizer's brackets, by address (``optimizer.weight_decay``).

    Read back from the run's labels, which hold exactly what was written in the brackets (the
    parameters themselves hold every default too)."""
    fixed = set()
    optimizer = _before_schedule(config.optimizer_label, config.schedule)
    for part, text in (("model", config.model_label), ("optimizer", optimizer)):
        fixed.update(f"{part}.{name}" for name in parse_item(text)[1])
    return fixed


def _before_schedule(text: str, schedule: str) -> str:
    """An optimizer's label without the schedule a table names after it: 'adam[lr=0.1]' of 'adam[lr=0.1]/cosine'
    (a zoo's name has a '/' of its own: 'po/lion/cosine')."""
    if schedule == "constant":
        return text
    depth, last = 0, len(text)
    for position, char in enumerate(text):
        depth += (char in "[(") - (char in "])")
        if char == "/" and depth == 0:
            last = position
    return text[:last]


def _base_address(key: str) -> str:
    """``optimizer.betas`` for ``optimizer.betas[0]``: the parameter an address sets part of."""
    return key.split("[", 1)[0]


def applicable(config: RunConfig, overrides: dict) -> dict:
    """The overrides that address ``config``, by address: ``adam.lr`` only for adam, ``lr`` for any optimizer."""
    return {address: param for key, param in overrides.items() if (address := address_in(config, key))}


def address_in(config: RunConfig, key: str) -> str | None:
    """The address an override's ``key`` has in ``config`` (``lr`` -> ``optimizer.lr``), or None when it names
    nothing there (another optimizer's parameter, another schedule's, a typo)."""
    part, _, name = key.partition(".")
    if part in ("model", "schedule"):
        address = key
    elif name:
        address = f"optimizer.{name}" if part == config.optimizer else None
    else:
        address = f"optimizer.{key}"
    return address if address is not None and applies(config, address) else None


def applies(config: RunConfig, address: str) -> bool:
    """Whether the parameter at ``address`` exists in ``config`` (a schedule parameter of another schedule does not)."""
    part, _, name = address.partition(".")
    params = parameters(config).get(part)
    return params is not None and space_key_problem(name, params) is None


def parameters(config: RunConfig) -> dict[str, dict]:
    """``config``'s parameters by the part an address starts with (see :data:`PARTS`)."""
    return dict(zip(PARTS, (config.optimizer_params, config.model_params, config.schedule_params), strict=True))


def check_overrides(overrides: dict[str, SearchParam | None], base_runs: list[RunConfig]) -> None:
    """Every override must address a parameter of some run: a typo is an error, not a silently unsearched range."""
    for key in overrides:
        if not any(address_in(config, key) for config in base_runs):
            raise ConfigError(
                f"--space {key}: no run of this tuning has that parameter (optimizer parameters are NAME or "
                "OPTIMIZER.NAME, e.g. lr or adam.betas[0]; model.NAME; schedule.NAME for the run's schedule)"
            )


def parse_space(items) -> dict[str, SearchParam | None]:
    """``["lr=1e-4:1e-1:log", "1-betas[0]=1e-3:0.5:log", "model.width=64|128", "weight_decay=off"]`` as overrides.

    A range is ``LOW:HIGH`` with optional ``:log`` and ``:int``; choices are
    ``A|B|C``; ``off`` removes the parameter from the search. A ``1-`` before
    the name searches ``1 - value`` (momentum, beta1). A dict (from Python or a
    suite file) may map names to these strings or to :class:`SearchParam`.
    """
    pairs = items.items() if isinstance(items, dict) else (_split(item) for item in items)
    overrides = {}
    for key, text in pairs:
        one_minus = key.startswith("1-")
        name = key[2:] if one_minus else key
        if not re.fullmatch(r"[A-Za-z_][\w.]*(\[\d+\])?", name):
            raise ConfigError(f"--space {key}: expected a parameter name such as lr, adam.lr or model.dropout")
        overrides[name] = text if isinstance(text, SearchParam) or text is None else _param(key, text, one_minus)
    return overrides


def _split(item: str) -> tuple[str, str]:
    key, sep, text = str(item).partition("=")
    if not sep or not key or not text:
        raise ConfigError(f"--space {item}: expected NAME=LOW:HIGH[:log][:int], NAME=A|B|C or NAME=off")
    return key.strip(), text.strip()


def _param(key: str, text: str, one_minus: bool) -> SearchParam | None:
    """One ``--space`` value as a SearchParam (None for ``off``), its problems as one-line errors."""
    if text == "off":
        return None
    fields: dict[str, Any]
    if "|" in text:
        fields = {"kind": "choice", "choices": tuple(_value(v) for v in text.split("|")), "one_minus": one_minus}
    else:
        parts = text.split(":")
        if len(parts) < 2:
            raise ConfigError(f"--space {key}={text}: expected LOW:HIGH[:log][:int], A|B|C or off")
        low, high, *flags = parts
        unknown = set(flags) - {"log", "int"}
        if unknown:
            raise ConfigError(f"--space {key}={text}: unknown flag {sorted(unknown)[0]!r}; flags are log and int")
        try:
            low, high = float(low), float(high)
        except ValueError:
            raise ConfigError(f"--space {key}={text}: expected LOW:HIGH with numbers, A|B|C or off") from None
        kind = "int" if "int" in flags else "float"
        if kind == "int" and low.is_integer() and high.is_integer():
            low, high = int(low), int(high)
        fields = {"low": low, "high": high, "log": "log" in flags, "kind": kind, "one_minus": one_minus}
    try:
        return SearchParam(**fields)
    except SpecError as exc:
        raise ConfigError(f"--space {key}={text}: {str(exc).removeprefix('search parameter: ')}") from None


def _value(text: str) -> Any:
    """A choice as the number or boolean it spells, else the text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def study_name(key: str, param: SearchParam) -> str:
    """The name a parameter has in a study: ``1-optimizer.betas[0]`` when the search draws ``1 - value``."""
    return f"1-{key}" if param.one_minus else key


def apply(config: RunConfig, space: dict[str, SearchParam], drawn: dict[str, Any], registry, seed: int) -> RunConfig:
    """``config`` with the drawn values set (rounded to :data:`DIGITS` digits) and ``seed``, labelled like the grid."""
    params = {part: dict(values) for part, values in parameters(config).items()}
    for key, param in space.items():
        value = drawn[study_name(key, param)]
        if param.kind == "float":
            value = rounded(1 - value if param.one_minus else value)
        part, _, name = key.partition(".")
        _set(params[part], name, value)
    spec = registry.get("model", config.model).spec
    model_overrides = {k: v for k, v in params["model"].items() if spec.defaults.get(k) != v}
    changed = replace(config, optimizer_params=params["optimizer"], model_params=params["model"],
                      schedule_params=params["schedule"], seed=seed)  # fmt: skip
    optimizer_spec = registry.get("optimizer", config.optimizer).spec
    return replace(
        changed,
        optimizer_label=optimizer_label(changed, optimizer_spec, params["optimizer"]),
        model_label=label(config.model, model_overrides) if model_overrides else config.model_label,
    )


def get(config: RunConfig, key: str):
    """The value of the parameter at ``key`` (``optimizer.betas[0]``) in ``config``."""
    part, _, name = key.partition(".")
    params = parameters(config)[part]
    match = re.fullmatch(r"(\w+)\[(\d+)\]", name)
    return params[match[1]][int(match[2])] if match else params[name]


def _set(params: dict, name: str, value) -> None:
    """Set ``name`` (or the element ``name[i]`` of a list) in ``params``."""
    match = re.fullmatch(r"(\w+)\[(\d+)\]", name)
    if match is None:
        params[name] = value
        return
    values = list(params[match[1]])
    values[int(match[2])] = value
    params[match[1]] = values


def describe(space: dict[str, SearchParam]) -> dict[str, str]:
    """The space as a reader sees it, for records and ``tuning.json``: ``{"optimizer.lr": "1e-05..0.1 log"}``."""
    described = {}
    for key, param in space.items():
        if param.kind == "choice":
            described[study_name(key, param)] = "|".join(str(c) for c in param.choices)
        else:
            flags = (" log" if param.log else "") + (" int" if param.kind == "int" else "")
            described[study_name(key, param)] = f"{param.low:g}..{param.high:g}{flags}"
    return described
