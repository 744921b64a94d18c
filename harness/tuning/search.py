"""Tuning with an equal budget: studies per optimizer per workload, chosen on validation, rerun with N seeds.

Comparing optimizers at one setting each compares the settings as much as the
optimizers. ``harness tune`` gives every optimizer on every workload the same
budget, as AlgoPerf's external tuning does: ``trials`` points of its declared
search space (:mod:`harness.tuning.space`), drawn by a sampler
(:mod:`harness.tuning.studies`), each trained with the same search seeds, in
each of ``studies`` independent studies (different sampler seeds), so a table
can show how much of a difference is tuning luck. The point with the best mean
*validation* metric wins its study (the test split is never looked at to
choose), and each study's winner is trained with the final seeds
(:mod:`harness.tuning.final`). Trials train through the launchers like any
sweep, into ``search/``; a killed tuning resumes without retraining a trial.
With ``prune``, a trial whose validation curve trails its study's others is
stopped early (:mod:`harness.train.pruning`) and its budget said to be pruned.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from harness.config import RunConfig, empty_grid, expand, grid_size, has_validation, resolve_suite
from harness.errors import ConfigError
from harness.registry import load_registry
from harness.specs import SearchParam
from harness.sweep import SweepResult, run_configs
from harness.train.pruning import PRUNERS, pruning_budget
from harness.tuning.final import Choice, TuneResult, check_folders, final_phase, write_choices
from harness.tuning.grid import grid_for
from harness.tuning.space import apply, check_overrides, describe, get, parse_space, space_for
from harness.tuning.studies import SAMPLERS, Study, Trial, open_storage, storage_path

#: Trials per study when none is given: AlgoPerf's external tuning gives each study 5.
DEFAULT_TRIALS = 5


@dataclass
class Workload:
    """One base run (a workload x optimizer at seed 0) and its studies."""

    base: RunConfig
    space: dict[str, SearchParam]
    studies: list[Study] = field(default_factory=list)
    prune: dict | None = None  # the pruner and the studies' file, given to every trial's runs

    def pruner(self) -> tuple[str, int | None] | None:
        """:func:`~harness.train.pruning.make_pruner`'s arguments for this workload's studies, or None."""
        if self.prune is None:
            return None
        return self.prune["pruner"], pruning_budget(self.base.max_epochs, self.base.max_steps)


# kept whole: the order of the checks is the order a user meets them in, before anything trains
def tune(
    suite_file=None,
    *,
    trials: int | None = None,
    studies: int = 1,
    sampler: str = "quasirandom",
    space=None,
    lr_grid=None,
    search_seeds: int = 1,
    seeds=3,
    prune: str | None = None,
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
    """Search each optimizer's space on each workload with an equal budget, choose on validation, rerun with seeds.

    ``trials`` points per study (default 5; with ``sampler="grid"``, the grid's
    size), ``studies`` independent studies, ``sampler`` one of
    :data:`~harness.tuning.studies.SAMPLERS`, ``space`` overrides of the declared
    spaces (``["lr=1e-4:1e-1:log"]`` or a dict, see
    :func:`~harness.tuning.space.parse_space`), ``lr_grid`` the grid sampler's
    rates, ``seeds`` the final runs' seeds (a count N for 0..N-1, or the seeds),
    ``prune`` a pruner of :data:`~harness.train.pruning.PRUNERS` (None: every trial trains its whole budget).
    Records land in ``output/search`` and ``output/final`` (default
    ``results/<suite name>-tuned``), the studies in ``output/studies.db``, the
    choices in ``output/tuning.json``; all of it resumes.
    """
    final_seeds = _final_seeds(seeds)
    if search_seeds < 1 or studies < 1 or (trials is not None and trials < 1):
        raise ConfigError("--search-seeds, --seeds, --studies and --trials must be at least 1")
    if sampler not in SAMPLERS:
        raise ConfigError(f"--sampler {sampler}: expected one of {', '.join(SAMPLERS)}")
    _check_pruning(prune, search_seeds)
    if lr_grid and sampler != "grid":
        raise ConfigError(f"--lr-grid gives the grid sampler's rates; with --sampler {sampler} use --space lr=LOW:HIGH")
    if settings.get("lr") is not None:
        raise ConfigError("lr: tuning chooses the learning rate; give its range with space (--space lr=LOW:HIGH:log)")
    overrides = parse_space(space or {})
    if sampler == "grid" and overrides:
        raise ConfigError("--space: the grid sampler searches the learning rate grid only (--lr-grid)")
    emit = on_event or (lambda kind, **data: None)
    suite = resolve_suite(suite_file, **settings)
    root = check_folders(output, suite)
    registry = registry or load_registry(plugins, blocked)
    base = replace(suite, seeds=(0,), lr=())
    emit("grid", size=grid_size(base, registry))
    base_runs, skipped = expand(base, registry)
    if not base_runs:
        raise empty_grid(skipped)
    check_validation_split(base_runs)
    check_overrides(overrides, base_runs)
    for model, dataset, reason in skipped:
        emit("skip", model=model, dataset=dataset, reason=reason)
    workloads = [Workload(b, _space(b, registry, overrides, sampler, lr_grid)) for b in base_runs]
    budget = len(workloads[0].space["optimizer.lr"].choices) if sampler == "grid" else trials or DEFAULT_TRIALS
    storage = open_storage(root)
    for workload in workloads:
        name, space = workload.base.key(), workload.space
        workload.prune = {"pruner": prune, "storage": str(storage_path(root))} if prune else None
        workload.studies = [Study(storage, f"{name}/study-{k}", sampler, k, space, budget, workload.pruner())
                            for k in range(studies)]  # fmt: skip

    # every record read in full: the choice reads the search's, and the final ones get their ``tuning`` entry again
    common = {"registry": registry, "suite_name": suite.name, "rerun": rerun, "use_index": False}
    common.update(launcher=launcher, jobs=jobs, address=address, **execution_options(suite))
    run = partial(run_configs, on_event=on_event, **common)  # both phases train alike, each into its own folder
    adaptive = sampler == "tpe"
    emit("phase", name="search", detail=f"{budget} trial(s) x {search_seeds} seed(s) x {studies} study(ies) per "
         f"optimizer and workload, {sampler} over {', '.join(describe(workloads[0].space))}")  # fmt: skip
    telling = Telling(on_event)
    search, by_key = _search(run, root / "search", workloads, search_seeds, registry, adaptive, jobs, telling)
    choices = [_choice(w, study, by_key, search_seeds, registry) for w in workloads for study in w.studies]
    final = final_phase(run, root, choices, by_key, final_seeds, rerun, emit, search_seeds, sampler, prune)
    write_choices(root, choices)
    return TuneResult(root, search, final, choices)


def _final_seeds(seeds) -> tuple[int, ...]:
    """The final runs' seeds: a count N (0..N-1) or the seeds themselves, each a whole number at least 0, once."""
    if isinstance(seeds, bool):
        raise ConfigError(f"--seeds: expected a count or a list of seeds, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError("--search-seeds, --seeds, --studies and --trials must be at least 1")
        return tuple(range(seeds))
    values = tuple(seeds)
    if not values or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in values):
        raise ConfigError(f"--seeds: expected whole numbers at least 0, got {list(values)}")
    if len(set(values)) != len(values):
        raise ConfigError(f"--seeds: each seed once, got {list(values)}")
    return values


def _check_pruning(prune: str | None, search_seeds: int) -> None:
    """A pruner judges a trial by one run's validation curve, epoch by epoch."""
    if prune is None:
        return
    if prune not in PRUNERS:
        raise ConfigError(f"--prune {prune}: expected one of {', '.join(PRUNERS)}")
    if search_seeds != 1:
        raise ConfigError(
            f"--prune judges a trial by one run's validation curve; with --search-seeds {search_seeds} a trial has "
            f"{search_seeds}: prune with --search-seeds 1"
        )


def _space(base: RunConfig, registry, overrides: dict, sampler: str, lr_grid) -> dict[str, SearchParam]:
    """A workload's space: the grid sampler's learning rates as one choice, else the declared space with overrides."""
    if sampler == "grid":
        return {"optimizer.lr": SearchParam(kind="choice", choices=tuple(grid_for(base, registry, lr_grid)))}
    return space_for(base, registry, overrides)


def check_validation_split(base_runs: list[RunConfig]) -> None:
    """Tuning chooses on the validation metric: a dataset that keeps no validation split leaves nothing to choose on."""
    for config in base_runs:
        if not has_validation(config.dataset_params):
            raise ConfigError(
                f"dataset {config.dataset_label} keeps no validation split, and tuning chooses on validation: tune "
                "with a validation split, then run the chosen setting with val_fraction=0"
            )


def execution_options(suite) -> dict:
    """How ``run_configs`` executes a suite's runs: time limit, OOM retries, CPU threads per worker."""
    return {"timeout": suite.timeout, "oom_retry": suite.oom_retry, "threads": suite.threads}


class Telling:
    """Tells each trial of a round as soon as the records of all its runs are in, as the sweep reports them.

    A pruner compares a running trial with the finished ones, so a trial must
    be told the moment it ends, not when its whole round does. Passes every
    event on to ``forward`` (the progress display).
    """

    def __init__(self, forward=None):
        self.forward = forward
        self.by_key: dict[str, dict] = {}
        self.waiting: list[tuple] = []  # (study, trial, configs) not told yet

    def __call__(self, kind: str, **data) -> None:
        if kind in ("done", "reused") and data.get("record"):
            record = data["record"]
            self.by_key[record["key"]] = record
            self.by_key.update(unpruned([record]))
            self.tell(ready_only=True)
        if self.forward is not None:
            self.forward(kind, **data)

    def tell(self, ready_only: bool = False) -> None:
        """Tell the waiting trials whose records are all in (all of them unless ``ready_only``: a missing one fails)."""
        still = []
        for study, trial, configs in self.waiting:
            records = [self.by_key.get(c.key()) for c in configs]
            if ready_only and not all(records):
                still.append((study, trial, configs))
                continue
            pruned = any((r or {}).get("status") == "pruned" for r in records)
            study.tell(trial, score(records), _mode(records), pruned)
        self.waiting = still


def _search(run, folder: Path, workloads: list[Workload], search_seeds: int, registry, adaptive: bool, jobs,
            telling: Telling):  # fmt: skip
    """Ask, train and tell until every study has had its budget; every round trains as one sweep.

    A sampler that does not learn from results (quasi-random, grid) asks for
    its whole budget at once, so every trial can train side by side. TPE asks
    for as many points per round as keep the workers busy across all studies.
    Returns the search's sweep result and every record read, by key.
    """
    studies = [(w, s) for w in workloads for s in w.studies]
    per_round = max(1, math.ceil((jobs or 1) / len(studies))) if adaptive else max(s.trials for _, s in studies)
    rounds: list[SweepResult] = []
    by_key = telling.by_key
    # a resumed tuning reads the runs of the trials told before, so it can choose and copy them into final/
    known = [c for w, s in studies for t in s.told() for c in _trial_runs(w, s, t, search_seeds, registry)]
    first = True
    while True:
        batch = []
        for workload, study in studies:
            asked = (study.pending() if first else []) + study.ask(per_round)
            batch += [(workload, study, trial, _trial_runs(workload, study, trial, search_seeds, registry))
                      for trial in asked]  # fmt: skip
        if not batch and not (first and known):
            break
        first = False
        telling.waiting = [(study, trial, configs) for _, study, trial, configs in batch]
        result = run(_unique(known + [c for *_, configs in batch for c in configs]), folder, on_event=telling)
        known = []
        rounds.append(result)
        by_key.update((record["key"], record) for record in result.records)
        by_key.update(unpruned(result.records))
        telling.tell()  # any left: a run with no record (the sweep refused it) fails its trial
    return _merged(folder, rounds), by_key


def _trial_runs(workload: Workload, study: Study, trial: Trial, search_seeds: int, registry) -> list[RunConfig]:
    runs = [apply(workload.base, workload.space, trial.drawn, registry, seed) for seed in range(search_seeds)]
    if workload.prune is None:
        return runs
    return [replace(run, prune={**workload.prune, "study": study.name, "trial": trial.number}) for run in runs]


def unpruned(records: list[dict]) -> dict[str, dict]:
    """The finished trial runs that could have been pruned, as the same runs without a pruner, by key.

    A trial the pruner let finish trained exactly what a run without one
    trains, so the final phase copies it instead of training it again.
    """
    found = {}
    for record in records:
        if record.get("status") == "ok" and record["config"].get("prune"):
            config = replace(RunConfig.from_dict(record["config"]), prune=None)
            found[config.key()] = {**record, "key": config.key(), "config": config.as_dict()}
    return found


def _unique(configs: list[RunConfig]) -> list[RunConfig]:
    """Each run once (two trials may draw the same point, e.g. of a choice)."""
    return list({c.key(): c for c in configs}.values())


def score(records: list) -> float | None:
    """Mean best validation metric over the search seeds; None unless every seed finished ok (divergence loses)."""
    values = [(r or {}).get("results", {}).get("best_val_metric") for r in records if (r or {}).get("status") == "ok"]
    values = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return statistics.fmean(values) if values and len(values) == len(records) else None


def _mode(records: list) -> str | None:
    return next((r.get("metric_mode") for r in records if r and r.get("metric_mode")), None)


def _metric(records: list) -> str | None:
    return next((r.get("metric") for r in records if r and r.get("metric")), None)


def _choice(workload: Workload, study: Study, by_key: dict, search_seeds: int, registry) -> Choice:
    """What ``study`` chose: its best trial on validation, as a run at seed 0 (the base run when none finished)."""
    best = study.best()
    config = apply(workload.base, workload.space, best.drawn, registry, 0) if best else workload.base
    # the metric of this workload's own runs (another workload of the tuning may be a regression)
    runs = [c for trial in study.told() for c in _trial_runs(workload, study, trial, search_seeds, registry)]
    records = [by_key.get(c.key()) for c in runs]
    mode = _mode(records)
    return Choice(
        base=workload.base,
        study=study.seed,
        config=config,
        chosen=_chosen(workload, config) if best else None,
        space=describe(workload.space),
        scores=study.scores(mode),
        metric=_metric(records),
        mode=mode,
        trials=study.trials,
        pruned=study.pruned(),
    )


def _chosen(workload: Workload, config: RunConfig) -> dict:
    """The chosen values by address (``optimizer.lr``), as the run was configured (after rounding)."""
    return {key: get(config, key) for key in workload.space}


def _merged(folder: Path, rounds: list[SweepResult]) -> SweepResult:
    """The search's rounds as one sweep result: every record once, every problem kept."""
    merged = SweepResult(folder)
    seen = {}
    for result in rounds:
        seen.update((r["key"], r) for r in result.records)
        merged.skipped += [s for s in result.skipped if s not in merged.skipped]
        merged.reused += result.reused
        merged.blocked += result.blocked
        merged.unsaved += result.unsaved
    merged.records = list(seen.values())
    return merged
