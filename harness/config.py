"""Suite file + command-line values -> the grid: a list of frozen RunConfig.

Names may carry per-item overrides, ``mlp[hidden=256,dropout=0.1]``, and may be
shell wildcards, ``sgd*``. Every override is checked against the spec's
declared defaults (its name and its type) and the plugin's own ``validate``
(:mod:`harness.overrides`), and the grid's size against ``max_runs``, so a
typo fails before anything trains. Model/dataset pairs that cannot work
together are skipped with the reason. Raw values are read by
:mod:`harness.suite_rules`.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from importlib import resources
from pathlib import Path

from harness.errors import ConfigError, did_you_mean
from harness.overrides import check_item, check_params, run_validator, schedule_problem
from harness.records import config_key
from harness.schedules import SCHEDULES
from harness.specs import unavailable_reason
from harness.suite_rules import (
    ACCELERATORS,
    DEFAULT_MAX_RUNS,
    PRECISIONS,
    STRATEGIES,
    SUITE_RULES,
    as_given,
    as_tuple,
    label,
    parse_item,
    parse_value,
    split_top_level,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: The value rules live in :mod:`harness.suite_rules`; these names stay importable from here.
__all__ = [
    "ACCELERATORS", "DEFAULT_MAX_RUNS", "EXECUTION_KEYS", "PRECISIONS", "STRATEGIES", "SUITE_KEYS", "RunConfig",
    "Suite", "TrainingSettings", "as_tuple", "expand", "grid_size", "has_validation", "label", "make_suite",
    "optimizer_label", "parse_item", "parse_value", "read_suite_file", "resolve_suite", "split_top_level",
]  # fmt: skip


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
OMITTED_DEFAULTS = {"strategy": "auto", "prune": None}


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
    #: A tuning trial's pruning (:mod:`harness.train.pruning`): ``pruner``, ``study``, ``trial``, ``storage``.
    #: Part of the key: a trial that may stop early is not the same run as one that cannot.
    prune: dict | None = None

    def as_dict(self) -> dict:
        """Every field, except settings added later that hold their default (see :data:`OMITTED_DEFAULTS`).

        A copy: changing it never changes the config. Plain copies of the JSON-like
        values (``dataclasses.asdict`` deep-copies through ``copy``, 20x slower on a 100,000-run grid).
        """
        return {name: _plain_copy(value) for name, value in self._fields().items()}

    def _fields(self) -> dict:
        """The fields :meth:`as_dict` holds, the values themselves (not copies)."""
        data = {name: getattr(self, name) for name in _run_config_fields()}
        for name, default in OMITTED_DEFAULTS.items():
            if data.get(name) == default:
                del data[name]
        return data

    @cached_property
    def _key(self) -> str:
        return config_key(self._fields())

    def key(self) -> str:
        """Stable content hash: the same resolved config always gets the same record (computed once)."""
        return self._key

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@functools.cache
def _run_config_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(RunConfig))


def _plain_copy(value):
    """A copy of a JSON-like value: dicts and lists copied all the way down, anything else shared."""
    if isinstance(value, dict):
        return {key: _plain_copy(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_plain_copy(inner) for inner in value]
    if isinstance(value, tuple):
        return tuple(_plain_copy(inner) for inner in value)
    return value


@dataclass(frozen=True)
class Suite(TrainingSettings):
    """A sweep as the user wrote it, before names are resolved against the registry."""

    name: str | None = None
    models: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    optimizers: tuple[str, ...] = ()
    seeds: Sequence[int] = (0,)  # a tuple, or a range for a large count (see suite_rules.EAGER_SEEDS)
    lr: tuple[float, ...] = ()
    batch_size: tuple[int, ...] = (64,)
    schedules: tuple[str, ...] = ("constant",)
    # how the sweep executes its runs and treats those that go wrong (see EXECUTION_KEYS)
    timeout: float | None = None
    oom_retry: bool = False
    threads: int | None = None  # CPU threads per worker; None: OMP_NUM_THREADS, else the cores shared out
    max_runs: int = DEFAULT_MAX_RUNS  # the largest grid expand() builds (see grid_size)


SUITE_KEYS = tuple(f.name for f in fields(Suite))

#: Suite keys that say how runs are executed, not what they compute: a time limit, retrying out-of-memory runs
#: at a smaller batch size, CPU threads per worker, the largest grid allowed. They are not part of a RunConfig,
#: so they never change a record's key (nor the name of an ad-hoc sweep): a run finished without a time limit is
#: reused by the same sweep with one.
EXECUTION_KEYS = ("timeout", "oom_retry", "threads", "max_runs")


def make_suite(values: dict) -> Suite:
    """Validate raw values (from TOML or the CLI) into a Suite; every error names its field."""
    unknown = sorted(set(values) - set(SUITE_KEYS))
    if unknown:
        key = unknown[0]
        raise ConfigError(f"unknown setting {key!r}{did_you_mean(key, SUITE_KEYS)}; allowed: {', '.join(SUITE_KEYS)}")
    out = {key: SUITE_RULES.get(key, as_given)(key, value) for key, value in values.items() if value is not None}
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
    return built_in_suite("default")


def built_in_suite(name: str) -> Path:
    """The path of the suite file that ships with the harness as ``suites/<name>.toml``."""
    return Path(str(resources.files("harness") / "suites" / f"{name}.toml"))


def suite_path(suite_file) -> Path:
    """``suite_file`` as given, or, for a bare name that is no file here, the built-in suite of that name.

    ``harness run mnist1d-paper`` then runs ``harness/suites/mnist1d-paper.toml`` from any folder.
    """
    path = Path(suite_file)
    if not path.exists() and path.suffix == "" and len(path.parts) == 1 and built_in_suite(path.name).is_file():
        return built_in_suite(path.name)
    return path


def resolve_suite(suite_file=None, **settings) -> Suite:
    """A suite file, a built-in suite's name (or the default suite) with the given settings laid over it."""
    values = read_suite_file(suite_path(suite_file) if suite_file else default_suite_path())
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
    """Expand wildcards and check each match's overrides: declared, of the default's type, allowed by the plugin."""
    resolved = []
    for item in items:
        pattern, overrides = parse_item(item)
        for name in registry.select(kind, pattern):
            entry = registry.get(kind, name)
            check_item(kind, name, overrides, entry.spec, entry.plugin)
            resolved.append((name, overrides))
    return resolved


def _resolve_schedule(item: str) -> tuple[str, dict]:
    """'cosine' or 'warmup_cosine[warmup=0.1]' checked against the known schedules and their parameters."""
    name, overrides = parse_item(item)
    if name not in SCHEDULES:
        raise ConfigError(
            f"unknown schedule {name!r}{did_you_mean(name, SCHEDULES)}; schedules: {', '.join(SCHEDULES)}"
        )
    defaults = SCHEDULES[name].defaults
    check_params(f"schedule {name}", overrides, defaults)
    run_validator(f"schedule {label(name, overrides)}", schedule_problem, {**defaults, **overrides})
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


def _unusable(spec, kind: str, params: dict) -> str | None:
    """Why ``spec`` cannot be used with ``params`` here: its check sees them (``download=true``, a ``path``)."""
    reason = unavailable_reason(spec, params)
    return f"{kind} {spec.name} is unavailable: {reason}" if reason else None


def grid_size(suite: Suite, registry) -> int:
    """An upper bound on the runs of ``suite``'s grid, from the lengths alone: cheap for any size.

    Wildcards are matched, nothing else is built; skipped pairs and duplicates still count.
    """
    size = 1
    for key, kind in (("models", "model"), ("datasets", "dataset"), ("optimizers", "optimizer")):
        size *= sum(len(registry.select(kind, parse_item(item)[0])) for item in getattr(suite, key))
    return size * len(suite.schedules) * max(1, len(suite.lr)) * len(suite.batch_size) * len(suite.seeds)


def _check_size(suite: Suite, registry) -> None:
    """Refuse a grid past ``max_runs`` before a single RunConfig is built."""
    size = grid_size(suite, registry)
    if size > suite.max_runs:
        raise ConfigError(
            f"the grid has up to {size:,} runs, more than the limit of {suite.max_runs:,}: select fewer models, "
            f"datasets, optimizers, learning rates, batch sizes or seeds, or raise the limit with --max-runs N "
            f"(suite key max_runs)"
        )


def has_validation(dataset_params: dict) -> bool:
    """Whether a dataset with these parameters holds out a validation split (``val_fraction``/``val_size`` 0: no)."""
    return all(dataset_params.get(key, None) != 0 for key in ("val_fraction", "val_size"))


def _check_validation(suite: Suite, registry, datasets) -> None:
    """Early stopping and ``target`` are measured on validation: refuse them with a dataset that keeps none."""
    uses = [key for key in ("early_stopping", "target") if getattr(suite, key) is not None]
    for name, overrides in datasets if uses else ():
        if not has_validation({**registry.get("dataset", name).spec.defaults, **overrides}):
            raise ConfigError(
                f"dataset {label(name, overrides)} keeps no validation split, but {' and '.join(uses)} "
                f"{'is' if len(uses) == 1 else 'are'} measured on validation: drop {' and '.join(uses)} "
                "or hold out a validation split"
            )


def _check_lrs(registry, optimizers, lrs) -> None:
    """Each optimizer's own validate() sees every learning rate of the suite's ``lr`` list too."""
    for (name, overrides), lr in itertools.product(optimizers, lrs):
        entry = registry.get("optimizer", name)
        params = {**entry.spec.defaults, **overrides, "lr": lr}
        what = f"optimizer {label(name, {**overrides, 'lr': lr})}"
        run_validator(what, getattr(entry.spec, "validate", None), params, entry.plugin)


def _resolve(suite: Suite, registry) -> tuple[list, list, list, list]:
    """The suite's models, datasets, optimizers and schedules, every item checked, before any run is built."""
    for key in ("models", "datasets", "optimizers"):
        if not getattr(suite, key):
            raise ConfigError(f"{key}: nothing selected; name at least one (see `harness list {key}`)")
    _check_size(suite, registry)
    models = _resolve_items(registry, "model", suite.models)
    datasets = _resolve_items(registry, "dataset", suite.datasets)
    optimizers = _resolve_items(registry, "optimizer", suite.optimizers)
    for name, overrides in optimizers:  # a model or dataset that cannot be used skips its pairs; an optimizer, all
        spec = registry.get("optimizer", name).spec
        if reason := _unusable(spec, "optimizer", {**spec.defaults, **overrides}):
            raise ConfigError(reason)
    schedules = [_resolve_schedule(item) for item in suite.schedules]
    _check_lrs(registry, optimizers, suite.lr)
    _check_validation(suite, registry, datasets)
    return models, datasets, optimizers, schedules


def expand(suite: Suite, registry) -> tuple[list[RunConfig], list[tuple[str, str, str]]]:
    """The grid: every compatible model x dataset x optimizer x lr x batch size x seed.

    Returns the runs and the skipped ``(model, dataset, reason)`` pairs. Every value is checked first, and a
    grid larger than ``suite.max_runs`` is refused (see :func:`grid_size`), so nothing starts on a bad grid.
    """
    models, datasets, optimizers, schedules = _resolve(suite, registry)
    runs, skipped, seen = [], [], set()
    lrs = suite.lr or (None,)
    for (model, m_over), (dataset, d_over) in itertools.product(models, datasets):
        model_spec = registry.get("model", model).spec
        dataset_spec = registry.get("dataset", dataset).spec
        model_params = {**model_spec.defaults, **m_over}
        dataset_params = {**dataset_spec.defaults, **d_over}
        reason = _unusable(model_spec, "model", model_params) or _unusable(dataset_spec, "dataset", dataset_params)
        reason = reason or model_spec.incompatibility(dataset_spec)
        if reason:
            skipped.append((model, dataset, reason))
            continue
        shared = {"model": model, "dataset": dataset, "model_label": label(model, m_over)}
        shared.update(dataset_label=label(dataset, d_over), **training_settings(suite))
        for (optimizer, o_over), (schedule, s_over), lr in itertools.product(optimizers, schedules, lrs):
            opt_spec = registry.get("optimizer", optimizer).spec
            o_over = {**o_over, **({"lr": lr} if lr is not None else {})}
            optimizer_label = label(optimizer, o_over) + _schedule_suffix(schedule, s_over)
            for batch_size, seed in itertools.product(suite.batch_size, suite.seeds):
                run = RunConfig(
                    **shared,
                    optimizer=optimizer,
                    seed=seed,
                    model_params=dict(model_params),
                    dataset_params=dict(dataset_params),
                    optimizer_params={**opt_spec.defaults, **o_over},
                    optimizer_label=optimizer_label,
                    schedule=schedule,
                    schedule_params={**SCHEDULES[schedule].defaults, **s_over},
                    batch_size=batch_size,
                )
                if run.key() not in seen:
                    seen.add(run.key())
                    runs.append(run)
    return runs, skipped


def empty_grid(skipped: list[tuple[str, str, str]]) -> ConfigError:
    """The error for a grid with no run: with why each selected pair was skipped (a dataset's files missing, ...)."""
    reasons = sorted({reason for _, _, reason in skipped})
    more = f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else ""
    why = f": {'; '.join(reasons[:3])}{more}" if reasons else ""
    return ConfigError(f"the grid is empty: no selected model can train on any selected dataset{why}")
