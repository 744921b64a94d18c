"""Suite file + command-line values -> the grid: a list of frozen RunConfig.

Names may carry per-item overrides, ``mlp[hidden=256,dropout=0.1]``, and may be
shell wildcards, ``sgd*``. Every override is checked against the spec's
declared defaults so a typo fails before anything trains. Model/dataset pairs
that cannot work together are skipped with the reason.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, did_you_mean
from harness.schedules import SCHEDULES
from harness.specs import unavailable_reason

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ACCELERATORS = ("auto", "cpu", "cuda", "gpu", "mps")
#: Lightning strategies for one run over several devices (``auto``: DDP when there are several, else none)
STRATEGIES = ("auto", "ddp", "fsdp", "deepspeed")
PRECISIONS = ("32-true", "32", "64-true", "16-mixed", "bf16-mixed", "bf16-true", "16-true", "transformer-engine")


@dataclass(frozen=True, kw_only=True)
class TrainingSettings:
    """How every cell of a sweep trains: shared by the suite and each run, defined once."""

    max_epochs: int = 20
    max_steps: int = -1
    accelerator: str = "auto"
    devices: str | int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    early_stopping: int | None = None
    target: float | None = None
    warmup_steps: int = 5
    deterministic: bool | None = None
    compile: bool = False
    channels_last: bool = False
    loader_workers: int | None = None


def training_settings(source) -> dict:
    """The :class:`TrainingSettings` fields of ``source`` (a Suite or a RunConfig)."""
    return {f.name: getattr(source, f.name) for f in fields(TrainingSettings)}


#: Settings added after records existed, left out of a record's config (and so of its key) while they hold
#: their default: the records of earlier sweeps keep their keys (a resumed sweep reuses them) and stay in
#: the same table cells as new runs of the same config.
OMITTED_DEFAULTS = {"strategy": "auto"}


@dataclass(frozen=True)
class RunConfig(TrainingSettings):
    """Everything that decides what one run computes. Its hash names the record."""

    model: str
    dataset: str
    optimizer: str
    seed: int
    model_params: dict = field(default_factory=dict)
    dataset_params: dict = field(default_factory=dict)
    optimizer_params: dict = field(default_factory=dict)
    model_label: str = ""
    dataset_label: str = ""
    optimizer_label: str = ""
    schedule: str = "constant"
    schedule_params: dict = field(default_factory=dict)
    batch_size: int = 64

    def as_dict(self) -> dict:
        """Every field, except settings added later that hold their default (see :data:`OMITTED_DEFAULTS`)."""
        data = asdict(self)
        for name, default in OMITTED_DEFAULTS.items():
            if data.get(name) == default:
                del data[name]
        return data

    def key(self) -> str:
        """Stable content hash: the same resolved config always gets the same record."""
        blob = json.dumps(self.as_dict(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Suite(TrainingSettings):
    """A sweep as the user wrote it, before names are resolved against the registry."""

    name: str | None = None
    models: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    optimizers: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    lr: tuple[float, ...] = ()
    batch_size: tuple[int, ...] = (64,)
    schedules: tuple[str, ...] = ("constant",)
    # how the sweep treats runs that go wrong (see EXECUTION_KEYS)
    timeout: float | None = None
    oom_retry: bool = False


SUITE_KEYS = tuple(f.name for f in fields(Suite))

#: Suite keys that say how runs are executed, not what they compute: a time limit, retrying out-of-memory runs
#: at a smaller batch size. They are not part of a RunConfig, so they never change a record's key (nor the name of
#: an ad-hoc sweep): a run finished without a time limit is reused by the same sweep with one.
EXECUTION_KEYS = ("timeout", "oom_retry")


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


def as_tuple(key: str, value, kind) -> tuple:
    """A scalar, a list or a comma string -> a tuple of ``kind``."""
    if isinstance(value, str):
        value = [parse_value(v) for v in split_top_level(value)]
    if not isinstance(value, (list, tuple)):
        value = [value]
    if any(isinstance(v, bool) for v in value):
        raise ConfigError(f"{key}: expected {kind.__name__} values, got {value!r}")
    try:
        out = tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected {kind.__name__} values, got {value!r}") from None
    if kind is not str and any(v <= 0 for v in out) and key != "seeds":
        raise ConfigError(f"{key}: values must be positive, got {list(out)}")
    return out


def _names(key: str, value) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(split_top_level(value))
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value)
    raise ConfigError(f"{key}: expected a list of names, got {value!r}")


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


def _seeds(key: str, value) -> tuple[int, ...]:
    """A count N means seeds 0..N-1; a list names the seeds themselves."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ConfigError(f"seeds: expected a positive count or a list of seeds, got {value!r}")
        return tuple(range(value))
    return as_tuple(key, value, int)


def _floats(key: str, value) -> tuple[float, ...]:
    return as_tuple(key, value, float)


def _ints(key: str, value) -> tuple[int, ...]:
    return as_tuple(key, value, int)


def _target(key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"target: expected a number, got {value!r}")
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
    "schedules": _names,
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
}


def _as_given(key: str, value) -> Any:
    return value


def make_suite(values: dict) -> Suite:
    """Validate raw values (from TOML or the CLI) into a Suite; every error names its field."""
    unknown = sorted(set(values) - set(SUITE_KEYS))
    if unknown:
        key = unknown[0]
        raise ConfigError(f"unknown setting {key!r}{did_you_mean(key, SUITE_KEYS)}; allowed: {', '.join(SUITE_KEYS)}")
    out = {key: SUITE_RULES.get(key, _as_given)(key, value) for key, value in values.items() if value is not None}
    suite = Suite(**out)
    _check_strategy(suite)
    return suite


def _check_strategy(suite: Suite) -> None:
    """A strategy spreads one run over several devices; FSDP and DeepSpeed need GPUs (Lightning's rule)."""
    if suite.strategy == "auto":
        return
    if str(suite.devices) == "1":
        raise ConfigError(f"strategy {suite.strategy!r} spreads one run over several devices: give devices N > 1")
    if suite.strategy in ("fsdp", "deepspeed") and suite.accelerator == "cpu":
        raise ConfigError(f"strategy {suite.strategy!r} needs GPUs (accelerator cuda); on CPUs use ddp")


def read_suite_file(path: str | Path) -> dict:
    """Raw values from a TOML suite file; its name defaults to the file's stem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"suite file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"suite file {path} is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"suite file {path} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"suite file {path} is not UTF-8 text (byte {exc.start}): not a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"suite file {path} is not valid TOML: {exc}") from None
    data.setdefault("name", path.stem)
    return data


def default_suite_path() -> Path:
    """The built-in default suite: a real benchmark on data that ships with a package."""
    return Path(str(resources.files("harness") / "suites" / "default.toml"))


def resolve_suite(suite_file=None, **settings) -> Suite:
    """A suite file (or the default suite) with the given settings laid over it."""
    values = read_suite_file(suite_file or default_suite_path())
    overrides = {k: v for k, v in settings.items() if v is not None}
    if overrides and suite_file is None:
        values.pop("name", None)  # an ad-hoc sweep gets a name from its content below
    values.update(overrides)
    suite = make_suite(values)
    if suite.name is None:  # named by what its runs compute: a time limit or OOM retries do not make another sweep
        content = {k: v for k, v in asdict(suite).items() if k not in EXECUTION_KEYS}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:8]
        suite = Suite(**{**asdict(suite), "name": f"sweep-{digest}"})
    return suite


# ---------------------------------------------------------------------------
# Expanding the grid
# ---------------------------------------------------------------------------


def _resolve_items(registry, kind: str, items) -> list[tuple[str, dict]]:
    """Expand wildcards and check overrides against each spec's declared parameters."""
    resolved = []
    for item in items:
        pattern, overrides = parse_item(item)
        for name in registry.select(kind, pattern):
            spec = registry.get(kind, name).spec
            allowed = dict(spec.defaults)
            for key in overrides:
                if key not in allowed:
                    raise ConfigError(
                        f"{kind} {name} has no parameter {key!r}{did_you_mean(key, allowed)}; "
                        f"parameters: {', '.join(sorted(allowed)) or 'none'}"
                    )
            resolved.append((name, overrides))
    return resolved


def _resolve_schedule(item: str) -> tuple[str, dict]:
    """'cosine' or 'warmup_cosine[warmup=0.1]' checked against the known schedules and their parameters."""
    name, overrides = parse_item(item)
    if name not in SCHEDULES:
        raise ConfigError(
            f"unknown schedule {name!r}{did_you_mean(name, SCHEDULES)}; schedules: {', '.join(SCHEDULES)}"
        )
    allowed = SCHEDULES[name].defaults
    for key in overrides:
        if key not in allowed:
            raise ConfigError(
                f"schedule {name} has no parameter {key!r}{did_you_mean(key, allowed)}; "
                f"parameters: {', '.join(sorted(allowed)) or 'none'}"
            )
    return name, overrides


def optimizer_label(config: RunConfig, spec, params: dict) -> str:
    """The label of ``config``'s optimizer with ``params``: 'adam[lr=0.003]', always naming the lr."""
    overrides = {k: v for k, v in params.items() if k == "lr" or spec.defaults.get(k, _UNSET) != v}
    schedule_defaults = SCHEDULES[config.schedule].defaults
    schedule_overrides = {k: v for k, v in config.schedule_params.items() if schedule_defaults.get(k, _UNSET) != v}
    return label(config.optimizer, overrides) + _schedule_suffix(config.schedule, schedule_overrides)


_UNSET = object()


def _schedule_suffix(schedule: str, overrides: dict) -> str:
    """How a table names a non-constant schedule after the optimizer: 'sgd/cosine'."""
    return "" if schedule == "constant" else f"/{label(schedule, overrides)}"


def _unusable(spec, kind: str) -> str | None:
    reason = unavailable_reason(spec)
    return f"{kind} {spec.name} is unavailable: {reason}" if reason else None


def expand(suite: Suite, registry) -> tuple[list[RunConfig], list[tuple[str, str, str]]]:
    """The grid: every compatible model x dataset x optimizer x lr x batch size x seed.

    Returns the runs and the skipped ``(model, dataset, reason)`` pairs.
    """
    for key in ("models", "datasets", "optimizers"):
        if not getattr(suite, key):
            raise ConfigError(f"{key}: nothing selected; name at least one (see `harness list {key}`)")
    models = _resolve_items(registry, "model", suite.models)
    datasets = _resolve_items(registry, "dataset", suite.datasets)
    optimizers = _resolve_items(registry, "optimizer", suite.optimizers)
    schedules = [_resolve_schedule(item) for item in suite.schedules]

    runs, skipped, seen = [], [], set()
    lrs = suite.lr or (None,)
    for (model, m_over), (dataset, d_over) in itertools.product(models, datasets):
        model_spec = registry.get("model", model).spec
        dataset_spec = registry.get("dataset", dataset).spec
        reason = _unusable(model_spec, "model") or _unusable(dataset_spec, "dataset")
        reason = reason or model_spec.incompatibility(dataset_spec)
        if reason:
            skipped.append((model, dataset, reason))
            continue
        for (optimizer, o_over), (schedule, s_over), lr, batch_size, seed in itertools.product(
            optimizers, schedules, lrs, suite.batch_size, suite.seeds
        ):
            opt_spec = registry.get("optimizer", optimizer).spec
            o_over = {**o_over, **({"lr": lr} if lr is not None else {})}
            run = RunConfig(
                model=model,
                dataset=dataset,
                optimizer=optimizer,
                seed=seed,
                model_params={**model_spec.defaults, **m_over},
                dataset_params={**dataset_spec.defaults, **d_over},
                optimizer_params={**opt_spec.defaults, **o_over},
                model_label=label(model, m_over),
                dataset_label=label(dataset, d_over),
                optimizer_label=label(optimizer, o_over) + _schedule_suffix(schedule, s_over),
                schedule=schedule,
                schedule_params={**SCHEDULES[schedule].defaults, **s_over},
                batch_size=batch_size,
                **training_settings(suite),
            )
            if run.key() not in seen:
                seen.add(run.key())
                runs.append(run)
    return runs, skipped
