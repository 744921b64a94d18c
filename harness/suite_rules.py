"""How raw suite values (TOML, command line, keyword arguments) are read and checked, one rule per suite key.

Kept apart from :mod:`harness.config` (the Suite, RunConfig and the grid) so each stays readable. Every rule
raises a ConfigError that names its key, before anything trains: a bad value must never start a run whose
record would then stay in the results for good.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable
from functools import partial
from typing import Any

from harness.errors import ConfigError

ACCELERATORS = ("auto", "cpu", "cuda", "gpu", "mps")
#: Lightning strategies for one run over several devices (``auto``: DDP when there are several, else none)
STRATEGIES = ("auto", "ddp", "fsdp", "deepspeed")
PRECISIONS = ("32-true", "32", "64-true", "16-mixed", "bf16-mixed", "bf16-true", "16-true", "transformer-engine")

#: The most runs a grid may have unless the suite key ``max_runs`` (``--max-runs``) raises it: a typo such as
#: ``--seeds 10000000`` fails at once with the size instead of expanding for minutes or running out of memory.
DEFAULT_MAX_RUNS = 100_000
#: The largest seed: numpy's and Lightning's ``seed_everything`` accept 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1
#: A seed count up to this is kept as a tuple; a larger one stays a ``range`` (a Sequence of its own), so
#: reading ``seeds = 1000000000`` costs nothing before the grid size is checked.
EAGER_SEEDS = 10_000


# ---------------------------------------------------------------------------
# Parsing values
# ---------------------------------------------------------------------------


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets: 'a[x=1,y=2],b' -> ['a[x=1,y=2]', 'b']."""
    parts, depth, current = [], 0, []
    for char in text:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
            if depth < 0:  # 'a],[b' must not balance out
                raise ConfigError(f"unbalanced brackets in {text!r}")
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    if depth != 0:
        raise ConfigError(f"unbalanced brackets in {text!r}")
    return [p.strip() for p in parts if p.strip()]


def parse_value(text: str) -> Any:
    """'256' -> 256, '0.1' -> 0.1, 'true' -> True, '[64,32]' -> [64, 32], 'relu' -> 'relu'."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text.strip()
    return list(value) if isinstance(value, tuple) else value


def parse_item(text: str) -> tuple[str, dict]:
    """'mlp[hidden=256,dropout=0.1]' -> ('mlp', {'hidden': 256, 'dropout': 0.1})."""
    text = text.strip()
    name, bracket, body = text.partition("[")
    if not name.strip() or "]" in name or (bracket and not text.endswith("]")):
        raise ConfigError(f"bad item {text!r}: expected NAME or NAME[key=value,...]")
    if not bracket:
        return text, {}
    body = body[:-1]
    params = {}
    for part in split_top_level(body):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"bad override {part!r} in {text!r}: expected key=value")
        params[key.strip()] = parse_value(value)
    return name.strip(), params


def label(name: str, overrides: dict) -> str:
    """The row label a table shows: the name plus what the user changed."""
    if not overrides:
        return name
    inner = ",".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sorted(overrides.items()))
    return f"{name}[{inner}]"


def _values(value) -> list:
    """A scalar, a list or a comma string -> a list of parsed values."""
    if isinstance(value, str):
        return [parse_value(v) for v in split_top_level(value)]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def as_tuple(key: str, value, kind) -> tuple:
    """A scalar, a list or a comma string -> a tuple of ``kind``: whole numbers for int, finite ones for float."""
    value = _values(value)
    if any(isinstance(v, bool) for v in value) or (kind is int and not all(isinstance(v, int) for v in value)):
        raise ConfigError(f"{key}: expected {kind.__name__} values, got {value!r}")
    try:
        out = tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected {kind.__name__} values, got {value!r}") from None
    if kind is float and not all(math.isfinite(v) for v in out):
        raise ConfigError(f"{key}: values must be finite numbers, got {list(out)}")
    if kind is not str and any(v <= 0 for v in out):
        raise ConfigError(f"{key}: values must be positive, got {list(out)}")
    return out


# ---------------------------------------------------------------------------
# One rule per suite key
# ---------------------------------------------------------------------------


def _names(key: str, value) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(split_top_level(value))
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value)
    raise ConfigError(f"{key}: expected a list of names, got {value!r}")


def _some_names(key: str, value) -> tuple[str, ...]:
    """Names of which at least one is needed even when the suite does not say (schedules)."""
    names = _names(key, value)
    if not names:
        raise ConfigError(f"{key}: expected at least one name, got {value!r}")
    return names


def _positive_int(key: str, value, allow_minus_one=False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or (value <= 0 and not (allow_minus_one and value == -1)):
        also = " or -1 (no limit)" if allow_minus_one else ""
        raise ConfigError(f"{key}: expected a positive integer{also}, got {value!r}")
    return value


def _choice(key: str, value, allowed) -> str:
    value = str(value)
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _non_negative(key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key}: expected a non-negative integer, got {value!r}")
    return value


def _seed_count(count: int) -> tuple[int, ...] | range:
    """Seeds 0..count-1, built only when few: a huge count is refused later by the grid size, not here."""
    if count <= 0:
        raise ConfigError(f"seeds: expected a positive count or a list of seeds, got {count!r}")
    if count > MAX_SEED + 1:
        raise ConfigError(f"seeds: a count of at most {MAX_SEED + 1} (seeds run from 0 to {MAX_SEED}), got {count}")
    return tuple(range(count)) if count <= EAGER_SEEDS else range(count)


def _seeds(key: str, value) -> tuple[int, ...] | range:
    """A count N means seeds 0..N-1; a list names the seeds themselves: each a whole number, once."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _seed_count(value)
    if isinstance(value, range) and value.step == 1 and value.start == 0:
        return _seed_count(len(value))
    seeds = _values(value)
    if not seeds:
        raise ConfigError(f"seeds: expected at least one seed (or a count N for seeds 0..N-1), got {value!r}")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int)]
    if bad:
        raise ConfigError(f"seeds: expected int values, got {seeds!r} (each seed is a whole number, {bad[0]!r} is not)")
    out_of_range = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if out_of_range:
        raise ConfigError(f"seeds: each seed is between 0 and {MAX_SEED} (what numpy accepts), got {out_of_range[0]}")
    seen: set[int] = set()
    for seed in seeds:
        if seed in seen:
            raise ConfigError(f"seeds: seed {seed} is listed more than once; each seed names one run")
        seen.add(seed)
    return tuple(seeds)


def _floats(key: str, value) -> tuple[float, ...]:
    return as_tuple(key, value, float)


def _ints(key: str, value) -> tuple[int, ...]:
    out = as_tuple(key, value, int)
    if not out:
        raise ConfigError(f"{key}: expected at least one value, got {value!r}")
    return out


def _target(key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"target: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"target: expected a finite number, got {value!r}")
    return float(value)


def _timeout(key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ConfigError(f"timeout: expected a positive number of seconds, got {value!r}")
    return float(value)


def _suite_name(key: str, value) -> str:
    """The name becomes a directory under results/, so it must be one path component."""
    if not isinstance(value, str) or not value.strip() or "/" in value or value in (".", ".."):
        raise ConfigError(f"name: expected a suite name (text without '/'), got {value!r}")
    return value


def _devices(key: str, value) -> str | int:
    """'auto', or a count given as a number or as digits (the command line gives text)."""
    number = int(value) if str(value).isdigit() else value
    if value != "auto" and (isinstance(number, bool) or not isinstance(number, int) or number <= 0):
        raise ConfigError(f"devices: expected a positive integer or 'auto', got {value!r}")
    return value if value == "auto" else number


def _flag(key: str, value) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    return value


#: Each suite key's rule, ``(key, value) -> validated value``: a value that breaks it raises a ConfigError naming
#: the key. A key without a rule here is taken as given.
SUITE_RULES: dict[str, Callable[[str, Any], Any]] = {
    "name": _suite_name,
    "models": _names,
    "datasets": _names,
    "optimizers": _names,
    "schedules": _some_names,
    "seeds": _seeds,
    "lr": _floats,
    "batch_size": _ints,
    "max_epochs": _positive_int,
    "max_steps": partial(_positive_int, allow_minus_one=True),
    "early_stopping": _positive_int,
    "warmup_steps": _non_negative,
    "loader_workers": _non_negative,
    "accelerator": partial(_choice, allowed=ACCELERATORS),
    "precision": partial(_choice, allowed=PRECISIONS),
    "strategy": partial(_choice, allowed=STRATEGIES),
    "devices": _devices,
    "target": _target,
    "timeout": _timeout,
    "deterministic": _flag,
    "compile": _flag,
    "channels_last": _flag,
    "oom_retry": _flag,
    "threads": _positive_int,
    "max_runs": _positive_int,
}


def as_given(key: str, value) -> Any:
    """The rule of a key that has none: the value as it came."""
    return value
