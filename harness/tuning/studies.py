"""The Optuna studies of a tuning: samplers, storage in the results folder, asking and telling, resuming.

One study per workload x optimizer x study index, all in one SQLite file
(``studies.db``) beside the search and final records. Optuna draws the points
(``quasirandom``: a scrambled Halton sequence, as AlgoPerf's external tuning
does; ``tpe``; ``grid``, its points queued in order) and remembers every trial; the harness trains them
through its own launchers. Every study maximises: a metric where lower is
better (rmse) is told negated. With a pruner (``--prune``) the trials' runs
report their validation curves into the same file as they train
(:mod:`harness.train.pruning`), and a trial stopped early is told as pruned.

Resuming is exact. A trial asked but never told (the sweep was killed while
it trained) is still RUNNING in the file with its parameters: it is trained
(or its record found) and told, never asked again, so a study never gets more
than its budget. TPE is reseeded from the study's seed and the number of
trials so far before each ask, and the quasi-random sequence keeps its
position in the file, so a resumed study draws what an uninterrupted one would.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.specs import SearchParam
from harness.train.pruning import make_pruner, storage_for
from harness.tuning.space import study_name

#: The samplers ``harness tune --sampler`` offers; the first is the default.
SAMPLERS = ("quasirandom", "tpe", "grid")
#: The studies' file in the tuning's folder.
STORAGE_FILE = "studies.db"
#: The study's user attribute listing trials killed while they were being asked (they never reached a run).
ABANDONED = "harness_abandoned"


def storage_path(root: Path) -> Path:
    """The studies' file of the tuning in ``root``, as an absolute path (the trials' runs open it too)."""
    return Path(root).resolve() / STORAGE_FILE


def open_storage(root: Path):
    """The studies' storage: Optuna's RDB storage on SQLite in ``root``, quiet unless something is wrong."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = storage_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    return storage_for(str(path))


def distributions(space: dict[str, SearchParam]) -> dict[str, Any]:
    """Optuna's distribution for each searched parameter, under its study name."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    made = {}
    for key, param in space.items():
        if param.kind == "choice":
            made[study_name(key, param)] = CategoricalDistribution(param.choices)
        elif param.kind == "int":
            made[study_name(key, param)] = IntDistribution(int(param.low), int(param.high), log=param.log)
        else:
            made[study_name(key, param)] = FloatDistribution(float(param.low), float(param.high), log=param.log)
    return made


def make_sampler(name: str, seed: int, trials_so_far: int = 0):
    """The Optuna sampler ``name`` seeded with ``seed`` (TPE: with ``trials_so_far`` too, see the module docs)."""
    import optuna

    if name == "quasirandom":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.QMCSampler(
                qmc_type="halton",
                scramble=True,
                seed=seed,
                independent_sampler=optuna.samplers.RandomSampler(seed=seed),
                warn_independent_sampling=False,
                warn_asynchronous_seeding=False,
            )
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed * 1_000_003 + trials_so_far, n_startup_trials=5)
    if name == "grid":  # the grid's points are enqueued in order (Study): nothing is left to draw
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError(f"--sampler {name}: expected one of {', '.join(SAMPLERS)}")


@dataclass
class Trial:
    """One point a study asked for: its number in the study and the values drawn, by study name."""

    number: int
    drawn: dict[str, Any]


class Study:
    """One study of one workload x optimizer: its budget of ``trials``, asked for and told through Optuna."""

    def __init__(
        self, storage, name: str, sampler: str, seed: int, space: dict[str, SearchParam], trials: int,
        pruner: tuple[str, int | None] | None = None,
    ):  # fmt: skip
        """``pruner``: ``(name, epochs)`` of :func:`~harness.train.pruning.make_pruner`, or None for none."""
        import optuna

        self.name, self.sampler_name, self.seed, self.space, self.trials = name, sampler, seed, space, trials
        self.distributions = distributions(space)
        self.study = optuna.create_study(
            storage=storage, study_name=name, sampler=make_sampler(sampler, seed), direction="maximize",
            load_if_exists=True, pruner=make_pruner(*pruner) if pruner else optuna.pruners.NopPruner(),
        )  # fmt: skip
        if sampler == "grid" and not self._trials():
            self._enqueue_grid()

    def _enqueue_grid(self) -> None:
        """Queue every point of the grid (one choice per parameter: their product), in order, once."""
        import itertools

        names = list(self.distributions)
        for values in itertools.product(*(self.distributions[n].choices for n in names)):
            self.study.enqueue_trial(dict(zip(names, values, strict=True)))

    def _trials(self, *states):
        return self.study.get_trials(deepcopy=False, states=states or None)

    def _used(self) -> int:
        """Trials that took a share of the budget: asked ones, whatever became of them (not the grid's queue)."""
        from optuna.trial import TrialState

        states = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
        abandoned = self._abandoned()
        return sum(t.number not in abandoned for t in self._trials(*states))

    def pending(self) -> list[Trial]:
        """Trials asked by an earlier, interrupted tuning and never told: they are trained (or found) again.

        One killed while it was being asked, before all its values were drawn,
        never reached a run: it is closed as abandoned and does not count
        against the budget, so the study asks for a whole one in its place (the
        quasi-random sequence then moves on past the abandoned point).
        """
        from optuna.trial import TrialState

        pending = []
        for t in self._trials(TrialState.RUNNING):
            if set(t.params) == set(self.distributions):
                pending.append(Trial(t.number, dict(t.params)))
                continue
            self.study.set_user_attr(ABANDONED, sorted({*self._abandoned(), t.number}))
            self.study.tell(t.number, state=TrialState.FAIL)
        return pending

    def _abandoned(self) -> set[int]:
        return set(self.study.user_attrs.get(ABANDONED, ()))

    def told(self) -> list[Trial]:
        """Trials already told (finished, pruned or failed), whose runs a resumed tuning reads instead of training."""
        from optuna.trial import TrialState

        abandoned = self._abandoned()
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        return [Trial(t.number, dict(t.params)) for t in self._trials(*states) if t.number not in abandoned]

    def ask(self, count: int) -> list[Trial]:
        """Up to ``count`` new trials, never past the study's budget of :attr:`trials`."""
        asked = []
        for _ in range(max(0, min(count, self.trials - self._used()))):
            if self.sampler_name == "tpe":
                self.study.sampler = make_sampler("tpe", self.seed, self._used())
            trial = self.study.ask(self.distributions)
            asked.append(Trial(trial.number, dict(trial.params)))
        return asked

    def tell(self, trial: Trial, score: float | None, mode: str | None, pruned: bool = False) -> None:
        """Record ``score`` (None: the trial failed; it still used its share of the budget), or that it was pruned."""
        from optuna.trial import TrialState

        if self.study.get_trials(deepcopy=False)[trial.number].state != TrialState.RUNNING:
            return  # told already, by another tuning into the same folder
        if pruned:
            self.study.tell(trial.number, state=TrialState.PRUNED)
        elif score is None:
            self.study.tell(trial.number, state=TrialState.FAIL)
        else:
            self.study.tell(trial.number, -score if mode == "min" else score)

    def best(self) -> Trial | None:
        """The completed trial with the best validation score (the earliest among equals), or None."""
        from optuna.trial import TrialState

        done = self._trials(TrialState.COMPLETE)
        if not done:
            return None
        top = max(done, key=lambda t: (t.value, -t.number))
        return Trial(top.number, dict(top.params))

    def scores(self, mode: str | None) -> list[dict]:
        """Every trial with its drawn values and score in the metric's own sign (None for a failed trial)."""
        from optuna.trial import TrialState

        rows, abandoned = [], self._abandoned()
        for t in self._trials():
            if t.number in abandoned:
                continue
            value = None if t.state != TrialState.COMPLETE else (-t.value if mode == "min" else t.value)
            row = {"trial": t.number, **t.params, "val_metric": value}
            if t.state == TrialState.PRUNED:
                row["pruned_after_epoch"] = (t.last_step or 0) + 1
            rows.append(row)
        return rows

    def pruned(self) -> int:
        """How many of the study's trials a pruner stopped early."""
        from optuna.trial import TrialState

        return len(self._trials(TrialState.PRUNED))
