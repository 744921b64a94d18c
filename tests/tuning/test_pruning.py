"""Pruning a tuning's trials: Optuna's pruners on the per-epoch validation curve, through the launchers."""

import json

import optuna
import pytest

from harness import cli, cli_parser
from harness.errors import ConfigError
from harness.store import Store
from harness.train import pruning
from harness.tuning import tune
from harness.tuning.search import unpruned
from harness.tuning.studies import STORAGE_FILE

#: A space wide enough that some rates barely learn in 4 epochs: the median pruner has trials to stop.
WIDE = {"models": "mlp", "datasets": "digits", "optimizers": "sgd", "max_epochs": 4, "space": ["lr=1e-4:1:log"]}


def _states(folder) -> list:
    storage = f"sqlite:///{folder / STORAGE_FILE}"
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()


def test_the_median_pruner_stops_trailing_trials_and_the_table_says_so(tmp_path, registry):
    tuned = tune(output=tmp_path, registry=registry, trials=8, seeds=1, prune="median", launcher="inline", **WIDE)
    search = tuned.search.records
    pruned = [r for r in search if r["status"] == "pruned"]
    assert len(search) == 8 and pruned, [r["results"].get("best_val_metric") for r in search]
    for record in pruned:  # stopped after the warm-up, before the budget, never tested
        after = record["results"]["pruned_after_epoch"]
        assert pruning.MEDIAN_WARMUP_EPOCHS < after < 4 and len(record["results"]["val_curve"]) == after
        assert record["reason"] == (f"stopped by the median pruner after epoch {after} of 4: its validation curve "
                                    "trailed the study's other trials")  # fmt: skip
        assert "test_metric" not in record["results"] and record["config"]["prune"]["pruner"] == "median"
    first = [r for r in search if r["config"]["prune"]["trial"] < pruning.MEDIAN_STARTUP_TRIALS]
    assert all(r["status"] == "ok" for r in first)  # none is judged before 5 have finished
    states = _states(tmp_path)
    assert sum(t.state == optuna.trial.TrialState.PRUNED for t in states) == len(pruned)
    curves = {r["config"]["prune"]["trial"]: len(r["results"]["val_curve"]) for r in search}
    assert {t.number: len(t.intermediate_values) for t in states} == curves  # every epoch reported, as trained
    # the winner finished its budget; its search run is the final run at seed 0, copied, not trained again
    (final,) = tuned.final.records
    assert final["status"] == "ok" and "prune" not in final["config"] and tuned.final.reused == 1  # copied
    assert final["tuning"]["pruner"] == "median" and final["tuning"]["pruned"] == len(pruned)
    assert Store(tmp_path / "final").read(final["key"])["results"] == final["results"]
    assert f"8 ({len(pruned)} of 8 pruned, median)" in tuned.table()
    choices = json.loads((tmp_path / "tuning.json").read_text())
    assert choices[0]["pruned"] == len(pruned)
    assert sum("pruned_after_epoch" in row for row in choices[0]["scores"]) == len(pruned)
    # tuning again trains nothing: a pruned trial is final, as a finished one
    again = tune(output=tmp_path, registry=registry, trials=8, seeds=1, prune="median", launcher="inline", **WIDE)
    assert again.search.reused == 8 and again.final.reused == 1


def test_the_hyperband_pruner_runs_its_brackets(tmp_path, registry):
    tuned = tune(output=tmp_path, registry=registry, trials=6, seeds=1, prune="hyperband", launcher="inline", **WIDE)
    statuses = [r["status"] for r in tuned.search.records]
    assert set(statuses) <= {"ok", "pruned"} and statuses.count("ok") >= 1
    told = {t.number: t.state for t in _states(tmp_path)}
    assert sorted(told.values(), key=str) == sorted(
        [optuna.trial.TrialState.PRUNED if s == "pruned" else optuna.trial.TrialState.COMPLETE for s in statuses],
        key=str,
    )


def test_pruning_judges_one_run_per_trial(tmp_path, registry):
    with pytest.raises(ConfigError, match="--prune judges a trial by one run's validation curve"):
        tune(output=tmp_path, registry=registry, trials=2, search_seeds=2, prune="median", **WIDE)
    with pytest.raises(ConfigError, match="--prune asha: expected one of median, hyperband"):
        tune(output=tmp_path, registry=registry, trials=2, prune="asha", **WIDE)


def test_a_bad_pruner_is_a_one_line_error_from_the_command_line(tmp_path, capsys):
    code = cli.main(["tune", "-m", "mlp", "-d", "digits", "-o", "sgd", "--prune", "median",
                             "--search-seeds", "2", "--output", str(tmp_path)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--search-seeds 1" in err[0]
    assert cli_parser.PRUNERS == pruning.PRUNERS


def test_an_unpruned_run_is_the_same_run_without_a_pruner(registry):
    from dataclasses import replace

    from harness.config import expand, resolve_suite

    (config,) = expand(resolve_suite(models="mlp", datasets="digits", optimizers="sgd", seeds=1), registry)[0]
    trial = replace(config, prune={"pruner": "median", "study": "s", "trial": 3, "storage": "/x/studies.db"})
    assert trial.key() != config.key()
    record = {"key": trial.key(), "status": "ok", "config": trial.as_dict(), "results": {"test_metric": 0.9}}
    assert unpruned([record]) == {config.key(): {**record, "key": config.key(), "config": config.as_dict()}}
    assert unpruned([{**record, "status": "pruned"}]) == {}
