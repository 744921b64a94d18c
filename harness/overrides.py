"""The parameters of one grid item (``mlp[dropout=0.1]``, ``cosine[warmup=0.1]``), checked before anything trains.

Each override must be a declared parameter and of the type of its declared default, every learning rate must be
a finite positive number, and the plugin's own ``validate`` (optional, see :mod:`harness.specs`) gets the last
word. Without these checks ``mlp[dropout=abc]`` starts a worker, fails there a quarter of a minute later and
leaves a failed record behind.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from harness.errors import ConfigError, did_you_mean, one_line
from harness.suite_rules import label


def type_problem(value, default) -> str | None:
    """Why ``value`` cannot stand where the plugin declared ``default``, or None.

    A None default takes anything; a text default also takes none (options such as ``pool=none``); a list
    default also takes one value of its elements' type (``hidden=256`` for ``[256]``, where the plugin allows it).
    """
    if default is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "expected true or false"
    if isinstance(default, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else "expected a whole number"
    if isinstance(default, float):
        if isinstance(value, str) and value.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
            return "expected a finite number"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "expected a number"
        return None if math.isfinite(value) else "expected a finite number"
    if isinstance(default, str):
        return None if value is None or isinstance(value, str) else "expected text"
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            return "expected a list" if not default or type_problem(value, default[0]) else None
        problems = [type_problem(element, default[0]) for element in value] if default else []
        return next((f"{p} in the list" for p in problems if p), None)
    return None if isinstance(value, type(default)) else f"expected a {type(default).__name__}"


def check_params(what: str, overrides: Mapping, defaults: Mapping) -> None:
    """Every override a declared parameter of the type of its default; ``what`` names the item ('model mlp')."""
    for key, value in overrides.items():
        if key not in defaults:
            raise ConfigError(
                f"{what} has no parameter {key!r}{did_you_mean(key, defaults)}; "
                f"parameters: {', '.join(sorted(defaults)) or 'none'}"
            )
        problem = type_problem(value, defaults[key])
        if problem:
            raise ConfigError(f"{what}: {key}={value!r} is not allowed: {problem} (the default is {defaults[key]!r})")


def lr_problem(value) -> str | None:
    """Why ``value`` is no learning rate, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return f"lr={value!r} is not allowed: a learning rate is a finite number above 0"
    return None


def run_validator(what: str, validate: Callable | None, params: Mapping, plugin: str | None = None) -> None:
    """The plugin's own ``validate(params)``: its reason is the user's error; its exception is the plugin's bug."""
    if validate is None:
        return
    try:
        reason = validate(dict(params))
    except Exception as exc:  # a broken validator must not look like the user's mistake, nor be a traceback
        source = f"plugin {plugin}" if plugin else "its plugin"
        raise ConfigError(f"{what}: the validate() of {source} failed: {one_line(exc)} (a bug in the plugin)") from None
    if reason:
        raise ConfigError(f"{what}: {reason}")


def check_item(kind: str, name: str, overrides: Mapping, spec, plugin: str | None = None) -> None:
    """One model, dataset or optimizer with its overrides: names, types, the lr, then the plugin's validate."""
    what = f"{kind} {label(name, dict(overrides))}"
    check_params(f"{kind} {name}", overrides, spec.defaults)
    params = {**spec.defaults, **overrides}
    if kind == "optimizer":
        problem = lr_problem(params.get("lr"))
        if problem:
            raise ConfigError(f"{what}: {problem}")
    run_validator(what, getattr(spec, "validate", None), params, plugin)


def _within(low: float, high: float, closed_high: bool = False) -> Callable[[float], bool]:
    return lambda v: low <= v <= high if closed_high else low <= v < high


#: What each schedule parameter may be, beyond its type: (test, what is allowed).
SCHEDULE_LIMITS: dict[str, tuple[Callable[[float], bool], str]] = {
    "gamma": (lambda v: v > 0, "above 0"),
    "min_ratio": (_within(0, 1, closed_high=True), "between 0 and 1"),
    "warmup": (_within(0, 1), "in [0, 1): a fraction of the steps"),
    "pct_start": (lambda v: 0 < v < 1, "in (0, 1): a fraction of the steps"),
    "max_lr_ratio": (lambda v: v > 0, "above 0"),
    "milestones": (_within(0, 1, closed_high=True), "a list of fractions of the steps, each between 0 and 1"),
}


def schedule_problem(params: Mapping) -> str | None:
    """Why a schedule's resolved parameters cannot be used (a negative warm-up, a fraction above 1), or None."""
    for key, value in params.items():
        if key not in SCHEDULE_LIMITS:
            continue
        test, allowed = SCHEDULE_LIMITS[key]
        if key == "milestones" and not isinstance(value, (list, tuple)):
            return f"{key}={value!r} is not allowed: {allowed}"
        if not all(test(v) for v in (value if isinstance(value, (list, tuple)) else [value])):
            return f"{key}={value!r} is not allowed: {allowed}"
    return None
