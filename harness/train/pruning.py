"""Stopping a tuning trial early when its validation curve trails the others' (Optuna's pruners).

``harness tune --prune median|hyperband`` gives each search run a ``prune`` entry in its config: the
pruner, the study's name and file, and the trial's number. The run, wherever a launcher trains it,
reports its validation metric to the study after every epoch and asks the pruner whether to go on;
the pruner reads the other trials' curves from the same SQLite file as they are written, so a trial
started late is judged against the ones already done. A run told to stop ends its training there, is
not tested (a search never looks at the test split) and is recorded with status ``pruned``.

The pruners are built the same way here and in the tuning's own process (:func:`make_pruner`),
since Optuna keeps a study's pruner in memory, not in its file.
"""

from __future__ import annotations

import math

#: The pruners ``harness tune --prune`` offers.
PRUNERS = ("median", "hyperband")
#: Trials a median pruner lets finish before it judges any, and epochs it lets every trial train.
MEDIAN_STARTUP_TRIALS = 5
MEDIAN_WARMUP_EPOCHS = 2
#: Hyperband's least budget (epochs) and the share of trials each rung keeps (1 in 3).
HYPERBAND_MIN_EPOCHS = 1
HYPERBAND_REDUCTION = 3
#: Seconds a process waits for the study file while another writes to it (SQLite locks the whole file).
LOCK_TIMEOUT_S = 60


def make_pruner(name: str, max_epochs: int | None):
    """Optuna's pruner ``name`` for runs of at most ``max_epochs`` epochs (None: Hyperband learns it from
    the first finished trial, for runs limited by steps)."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP_TRIALS, n_warmup_steps=MEDIAN_WARMUP_EPOCHS)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=HYPERBAND_MIN_EPOCHS,
            max_resource=max_epochs if max_epochs else "auto",
            reduction_factor=HYPERBAND_REDUCTION,
        )
    raise ValueError(f"pruner {name!r}: expected one of {', '.join(PRUNERS)}")


def pruning_budget(max_epochs: int, max_steps: int) -> int | None:
    """The epochs a pruner sees a trial run: ``max_epochs``, unless steps end it first (then unknown)."""
    return None if max_steps and max_steps > 0 else max_epochs


def storage_for(path: str):
    """Optuna's storage on the study file at ``path``, waiting for a lock rather than failing at once."""
    import optuna

    return optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": LOCK_TIMEOUT_S}})


class TrialPruning:
    """A measuring callback: report each epoch's validation metric to the trial, stop when the pruner says so.

    ``prune`` is the run config's entry (``pruner``, ``study``, ``trial``, ``storage``); the metric is
    told as the study sees it, negated when lower is better (every study maximises).
    """

    def __init__(self, prune: dict, metric: str, mode: str, budget: int | None):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)  # a retrained trial reports its epochs again: ignored
        storage = storage_for(prune["storage"])
        study_id = storage.get_study_id_from_name(prune["study"])
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, prune["trial"])
        study = optuna.load_study(
            study_name=prune["study"],
            storage=storage,
            pruner=make_pruner(prune["pruner"], budget),
            sampler=optuna.samplers.RandomSampler(),
        )
        self.trial = optuna.trial.Trial(study, trial_id)
        self.pruner = prune["pruner"]
        self.key = f"val_{metric}"
        self.sign = 1.0 if mode == "max" else -1.0
        self.pruned_after: int | None = None  # the epoch (counted from 1) after which it stopped

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.key)
        value = None if value is None else float(value)
        if value is None or not math.isfinite(value):  # a diverging run is stopped by its loss, not here
            return
        epoch = trainer.current_epoch
        self.trial.report(self.sign * value, epoch)
        if self.trial.should_prune():
            self.pruned_after = epoch + 1
            trainer.should_stop = True

    def reason(self, planned_epochs: int | None) -> str:
        of = f" of {planned_epochs}" if planned_epochs else ""
        return (
            f"stopped by the {self.pruner} pruner after epoch {self.pruned_after}{of}: its validation curve "
            "trailed the study's other trials"
        )


__all__ = ["PRUNERS", "TrialPruning", "make_pruner", "pruning_budget", "storage_for"]
