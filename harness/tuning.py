"""Learning-rate tuning with an equal budget: a grid per optimizer per workload, the best on validation, N seeds.

Comparing optimizers at one learning rate each compares the learning rates as
much as the optimizers. ``harness tune`` gives every optimizer on every
workload the same budget: the same number of learning rates (a grid around
the optimizer's own default, or one grid given for all), each trained with
the same search seeds. The rate with the best mean *validation* metric wins
(the test split is never looked at to choose), and is then trained with the
final seeds. Final records carry a ``tuning`` entry (trials, grid, the chosen
rate and every trial's score), so tables can say how many trials each entry
got, and ``tuning.json`` lists every choice.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from harness.config import (
    RunConfig,
    Suite,
    empty_grid,
    expand,
    grid_size,
    has_validation,
    optimizer_label,
    resolve_suite,
)
from harness.errors import ConfigError, HarnessError, one_line
from harness.paths import check_output_dir, check_output_file
from harness.records import canonical, without_seed
from harness.registry import load_registry
from harness.store import Store
from harness.sweep import DEFAULT_RESULTS, SweepResult, run_configs, write_or_keep

#: The default grid: these multiples of each optimizer's default learning rate (half-decade steps).
DEFAULT_FACTORS = (0.1, 0.3, 1.0, 3.0, 10.0)


@dataclass
class Choice:
    """What the search decided for one workload x optimizer (every other setting fixed)."""

    config: RunConfig  # seed 0 at the chosen rate (at the grid's first rate when none won: labels only)
    lr: float | None  # None: no rate finished every search seed
    scores: dict[float, float | None]  # lr -> mean best validation metric over the search seeds (None: no ok run)
    metric: str | None
    mode: str | None
    trials: int

    def as_dict(self) -> dict:
        return {
            "model": self.config.model_label,
            "dataset": self.config.dataset_label,
            "optimizer": self.config.optimizer,
            "chosen_lr": self.lr,
            "trials": self.trials,
            "selected_on": f"mean best validation {self.metric}" if self.metric else None,
            "scores": [{"lr": lr, "val_metric": score} for lr, score in self.scores.items()],
        }


@dataclass
class TuneResult:
    """Both phases of a tuning sweep and what was chosen in between."""

    output: Path
    search: SweepResult
    final: SweepResult
    choices: list[Choice] = field(default_factory=list)

    def table(self, fmt: str = "simple") -> str:
        return self.final.table(fmt)


def grid_for(config: RunConfig, registry, lr_grid) -> list[float]:
    """The rates to try: ``lr_grid`` when given, else :data:`DEFAULT_FACTORS` times the optimizer's default."""
    if lr_grid:
        rates = sorted({float(lr) for lr in lr_grid})
        if not all(math.isfinite(lr) and lr > 0 for lr in rates):
            raise ConfigError(f"lr_grid: learning rates must be finite numbers above 0, got {list(lr_grid)}")
        return rates
    default = registry.get("optimizer", config.optimizer).spec.defaults.get("lr")
    if not isinstance(default, (int, float)) or default <= 0:
        raise ConfigError(f"optimizer {config.optimizer} declares no default lr; give the grid with --lr-grid")
    return sorted({float(f"{default * factor:.3g}") for factor in DEFAULT_FACTORS})


def at_rate(config: RunConfig, lr: float, seed: int, registry) -> RunConfig:
    """``config`` trained at learning rate ``lr`` with ``seed``, labelled as the grid would label it."""
    params = {**config.optimizer_params, "lr": lr}
    spec = registry.get("optimizer", config.optimizer).spec
    return replace(config, optimizer_params=params, optimizer_label=optimizer_label(config, spec, params), seed=seed)


def _score(records: list[dict]) -> float | None:
    """Mean best validation metric of the ok runs; None when none finished (a diverged rate never wins)."""
    values = [r["results"].get("best_val_metric") for r in records if r.get("status") == "ok"]
    values = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return statistics.fmean(values) if len(values) == len(records) and values else None


def choose(base: RunConfig, grid: list[float], by_key: dict[str, dict], search_seeds: int, registry) -> Choice:
    """The rate whose search runs reached the best mean validation metric (every seed must have finished)."""
    scores, metric, mode = {}, None, None
    for lr in grid:
        records = [by_key.get(at_rate(base, lr, seed, registry).key()) for seed in range(search_seeds)]
        records = [r for r in records if r is not None]
        scores[lr] = _score(records) if len(records) == search_seeds else None
        for record in records:
            metric, mode = metric or record.get("metric"), mode or record.get("metric_mode")
    scored = [(lr, s) for lr, s in scores.items() if s is not None]
    best = None
    if scored:
        best = (min if mode == "min" else max)(scored, key=lambda item: item[1])[0]
    chosen = at_rate(base, best if best is not None else grid[0], 0, registry)
    return Choice(chosen, best, scores, metric, mode, trials=len(grid) * search_seeds)


def tune(
    suite_file=None,
    *,
    lr_grid=None,
    search_seeds: int = 1,
    seeds: int = 3,
    output=None,
    registry=None,
    plugins=(),
    blocked=(),
    on_event=None,
    launcher: str = "local",
    jobs: int | None = None,
    address: str | None = None,
    rerun: bool = False,
    **settings,
) -> TuneResult:
    """Search the learning-rate grid, pick per workload x optimizer on validation, rerun the pick with ``seeds``.

    Records land in ``output/search`` and ``output/final`` (default
    ``results/<suite name>-tuned``); both phases resume like ``harness run``.
    """
    if search_seeds < 1 or seeds < 1:
        raise ConfigError("--search-seeds and --seeds must be at least 1")
    if settings.get("lr") is not None:
        raise ConfigError("lr: tuning chooses the learning rate; give the rates to try with lr_grid (--lr-grid)")
    emit = on_event or (lambda kind, **data: None)
    suite = resolve_suite(suite_file, **settings)
    root = check_folders(output, suite)
    registry = registry or load_registry(plugins, blocked)
    base = replace(suite, seeds=(0,), lr=())
    emit("grid", size=grid_size(base, registry))
    base_runs, skipped = expand(base, registry)
    if not base_runs:
        raise empty_grid(skipped)
    _check_validation_split(base_runs)
    grids = {base.key(): grid_for(base, registry, lr_grid) for base in base_runs}
    for model, dataset, reason in skipped:
        emit("skip", model=model, dataset=dataset, reason=reason)

    # every record read in full: the choice reads the search's, and the final ones get their ``tuning`` entry again
    common = {"registry": registry, "suite_name": suite.name, "rerun": rerun, "use_index": False}
    common.update(launcher=launcher, jobs=jobs, address=address, **execution_options(suite))
    run = partial(run_configs, on_event=on_event, **common)  # both phases train alike, each into its own folder
    search = _search(run, root / "search", base_runs, grids, search_seeds, registry, emit)
    by_key = {record["key"]: record for record in search.records}
    choices = [choose(base, grids[base.key()], by_key, search_seeds, registry) for base in base_runs]
    final_store = Store(root / "final")
    unsaved: list[str] = []
    final = _final(run, final_store, choices, by_key, seeds, rerun, emit, unsaved)
    _annotate(final.records, choices, search_seeds, final_store, emit, unsaved)
    final.unsaved.extend(unsaved)
    try:
        (root / "tuning.json").write_text(json.dumps([c.as_dict() for c in choices], indent=1) + "\n")
    except OSError as exc:  # the choices are in every final record's ``tuning`` too
        raise HarnessError(
            f"{root / 'tuning.json'} cannot be written ({one_line(exc)}); the final records hold the choices"
        ) from None
    return TuneResult(root, search, final, choices)


def _check_validation_split(base_runs: list[RunConfig]) -> None:
    """Tuning chooses on the validation metric: a dataset that keeps no validation split leaves nothing to choose on."""
    for config in base_runs:
        if not has_validation(config.dataset_params):
            raise ConfigError(
                f"dataset {config.dataset_label} keeps no validation split, and tuning chooses the learning rate on "
                "validation: tune with a validation split, then run the chosen rate with val_fraction=0"
            )


def _write(store: Store, record: dict, emit, unsaved: list[str]) -> None:
    """Store ``record`` as a sweep does (:func:`harness.sweep.write_or_keep`); one kept elsewhere joins ``unsaved``."""
    _, kept = write_or_keep(store, record, emit)
    if kept is not None:
        unsaved.append(kept)


def check_folders(output, suite: Suite) -> Path:
    """The tuning root, once it and the folders and file a tuning writes there are sure to be writable."""
    if output:
        root = check_output_dir(output)
    else:
        root = check_output_dir(DEFAULT_RESULTS / f"{suite.name}-tuned", "results directory (named after the suite)")
    for phase in ("search", "final"):
        check_output_dir(root / phase)
    check_output_file(root / "tuning.json")
    return root


def execution_options(suite: Suite) -> dict:
    """How ``run_configs`` executes a suite's runs: time limit, OOM retries, CPU threads per worker."""
    return {"timeout": suite.timeout, "oom_retry": suite.oom_retry, "threads": suite.threads}


def _search(run, folder: Path, base_runs: list[RunConfig], grids: dict, search_seeds: int, registry, emit):
    """The search phase: every base run at every rate of its grid, with each search seed."""
    rates = len(grids[base_runs[0].key()])
    emit("phase", name="search", detail=f"{rates} learning rate(s) x {search_seeds} seed(s) per optimizer and workload")
    configs = [
        at_rate(base, lr, seed, registry)
        for base in base_runs
        for lr in grids[base.key()]
        for seed in range(search_seeds)
    ]
    return run(configs, folder)


def _final(run, store: Store, choices: list[Choice], by_key: dict, seeds: int, rerun: bool, emit, unsaved: list):
    """The final phase: each chosen rate with the final seeds; a workload where no rate won is reported, not run."""
    configs = [replace(c.config, seed=seed) for c in choices if c.lr is not None for seed in range(seeds)]
    for choice in choices:
        if choice.lr is None:
            emit("untunable", config=choice.config, reason="no learning rate of the grid finished every search seed")
    for config in configs:  # a search run at the chosen rate is already a final run: copy, don't retrain
        if config.key() in by_key and not rerun and not store.is_finished(config.key()):
            _write(store, by_key[config.key()], emit, unsaved)
    emit("phase", name="final", detail=f"{len(configs) // max(1, seeds)} choices x {seeds} seed(s)")
    return run(configs, store.root)


def _annotate(final_records: list[dict], choices: list[Choice], search_seeds: int, store: Store, emit, unsaved) -> None:
    """Give each final record its ``tuning`` entry (what its rate was chosen from, and how), and store it again."""
    tuning = {canonical(without_seed(c.config.as_dict())): c for c in choices if c.lr is not None}  # by cell
    for record in final_records:
        choice = tuning.get(canonical(without_seed(record["config"])))
        if choice is not None:
            record["tuning"] = {
                "trials": choice.trials,
                "search_seeds": search_seeds,
                "lr_grid": list(choice.scores),
                "chosen_lr": choice.lr,
                "selected_on": f"mean best validation {choice.metric}",
                "scores": [{"lr": lr, "val_metric": s} for lr, s in choice.scores.items()],
            }
            _write(store, record, emit, unsaved)
