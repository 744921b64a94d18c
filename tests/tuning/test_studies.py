"""Samplers, equal budgets, independent studies, and resuming a tuning that was killed."""

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest

import harness
from harness.tuning import tune
from harness.tuning.studies import ABANDONED, STORAGE_FILE

TINY = {"models": "logreg", "datasets": "digits", "max_epochs": 1, "launcher": "inline"}


def _trials(folder) -> dict[str, list]:
    """Every study in the folder's storage: its trials' states and drawn values."""
    storage = f"sqlite:///{folder / STORAGE_FILE}"
    return {
        summary.study_name: optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()
        for summary in optuna.get_all_study_summaries(storage)
    }


@pytest.mark.parametrize("sampler", ["quasirandom", "tpe"])
def test_every_optimizer_gets_the_same_budget_in_every_study(tmp_path, registry, sampler):
    tuned = tune(output=tmp_path, registry=registry, optimizers="sgd,adam", trials=3, studies=2, seeds=1,
                 sampler=sampler, **TINY)  # fmt: skip
    studies = _trials(tmp_path)
    assert len(studies) == 4  # 2 optimizers x 2 studies, one workload
    for trials in studies.values():
        assert len(trials) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    for trials in studies.values():  # every point inside its declared range
        for trial in trials:
            assert 1e-4 <= trial.params["optimizer.lr"] <= 1.0
    sgd = [t for trials in studies.values() for t in trials if "optimizer.weight_decay" in t.params]
    assert len(sgd) == 6 and all(1e-6 <= t.params["optimizer.weight_decay"] <= 1e-2 for t in sgd)
    # each study's winner with each final seed; the table gathers studies x seeds per optimizer
    assert len(tuned.final.records) == 2 * 2  # or fewer, where two studies chose the same point
    table, spaces = tuned.table().split("\n\n")
    rows = table.splitlines()[2:]
    assert len(rows) == 2 and all(f" 2       2          3               {sampler}" in row for row in rows)
    assert "adam         1-betas[0] 0.001..0.5 log; lr 0.0001..0.1 log" in spaces
    assert "sgd          lr 0.001..1 log; weight_decay 1e-06..0.01 log" in spaces
    report = harness.report(tmp_path / "final")  # the final folder's report shows the entries too
    assert "Tuned entries" in report and report.endswith(spaces) and all(row in report for row in rows)
    choices = json.loads((tmp_path / "tuning.json").read_text())
    assert sorted((c["optimizer"], c["study"]) for c in choices) == [("adam", 0), ("adam", 1), ("sgd", 0), ("sgd", 1)]
    for choice in choices:  # the winner is the best on validation among its study's own trials
        best = max(choice["scores"], key=lambda s: s["val_metric"])
        assert choice["chosen"]["optimizer.lr"] == pytest.approx(best["optimizer.lr"], rel=1e-3)
    for record in tuned.final.records:
        assert record["tuning"]["sampler"] == sampler and record["tuning"]["trials"] == 3
        assert record["tuning"]["studies"] == 2 and record["tuning"]["entry"]["optimizer"] in ("sgd", "adam")


@pytest.mark.parametrize("sampler", ["quasirandom", "tpe"])
def test_a_study_draws_by_its_seed(tmp_path, sampler):
    from harness.specs import SearchParam
    from harness.tuning.studies import Study, open_storage

    space = {"optimizer.lr": SearchParam(1e-4, 1.0, log=True), "optimizer.betas[0]": SearchParam(1e-3, 0.5, log=True,
             one_minus=True), "model.width": SearchParam(kind="choice", choices=(64, 128))}  # fmt: skip

    def drawn(folder, seed):
        study = Study(open_storage(folder), "w/study", sampler, seed, space, trials=4)
        return [trial.drawn for trial in study.ask(4)]

    first = drawn(tmp_path / "a", 0)
    assert first == drawn(tmp_path / "b", 0)  # the same study draws the same points
    assert first != drawn(tmp_path / "c", 1)  # an independent study draws others
    assert set(first[0]) == {"optimizer.lr", "1-optimizer.betas[0]", "model.width"}
    assert len({p["optimizer.lr"] for p in first}) == 4


def test_the_grid_sampler_tries_each_point_once_in_order(tmp_path):
    from harness.specs import SearchParam
    from harness.tuning.studies import Study, open_storage

    space = {"optimizer.lr": SearchParam(kind="choice", choices=(0.01, 0.1, 1.0))}
    study = Study(open_storage(tmp_path), "w/study", "grid", 0, space, trials=3)
    assert [t.drawn["optimizer.lr"] for t in study.ask(5)] == [0.01, 0.1, 1.0] and study.ask(1) == []


def test_a_trial_killed_while_it_was_being_asked_is_abandoned_not_counted(tmp_path):
    from optuna.distributions import FloatDistribution

    from harness.specs import SearchParam
    from harness.tuning.studies import Study, open_storage

    space = {"optimizer.lr": SearchParam(1e-4, 1.0, log=True), "optimizer.weight_decay": SearchParam(1e-6, 1e-2)}
    study = Study(open_storage(tmp_path), "w/study", "tpe", 0, space, trials=3)
    (whole,) = study.ask(1)
    half = study.study.ask()  # the process died after drawing one of its two values
    half.suggest_float("optimizer.lr", 1e-4, 1.0, log=True)
    assert isinstance(study.distributions["optimizer.lr"], FloatDistribution)

    again = Study(open_storage(tmp_path), "w/study", "tpe", 0, space, trials=3)
    assert [t.number for t in again.pending()] == [whole.number]  # the whole one is trained; the half one is not
    assert len(again.ask(5)) == 2  # the budget of 3 counts the whole trial only
    assert [row["trial"] for row in again.scores("max")] == [0, 2, 3]


def test_tuning_again_trains_nothing_and_asks_nothing(tmp_path, registry):
    tune(output=tmp_path, registry=registry, optimizers="sgd", trials=3, studies=2, seeds=2, sampler="tpe", **TINY)
    before = {name: len(trials) for name, trials in _trials(tmp_path).items()}
    plans = []
    again = tune(output=tmp_path, registry=registry, optimizers="sgd", trials=3, studies=2, seeds=2, sampler="tpe",
                 on_event=lambda kind, **data: kind == "plan" and plans.append(data["todo"]), **TINY)  # fmt: skip
    assert set(plans) == {0} and {name: len(trials) for name, trials in _trials(tmp_path).items()} == before
    assert len(again.search.records) == 6 and len(again.final.records) == len(tuned_seeds(again)) * 2


def tuned_seeds(result) -> set:
    return {r["config"]["seed"] for r in result.final.records}


def test_an_interrupted_search_resumes_without_retraining_or_redrawing(tmp_path, registry, monkeypatch):
    """Killed after its first round of TPE: the next tuning trains the asked trial, never asks past the budget."""
    import harness.tuning.search as search

    real, rounds = search.run_configs, []

    def interrupted(configs, output, **kwargs):
        rounds.append(len(configs))
        if len(rounds) == 2:
            raise KeyboardInterrupt  # the second round's trial was asked, and is never told
        return real(configs, output, **kwargs)

    monkeypatch.setattr(search, "run_configs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune(output=tmp_path, registry=registry, optimizers="sgd", trials=3, seeds=1, sampler="tpe", **TINY)
    (trials,) = _trials(tmp_path).values()
    states = [t.state.name for t in trials]
    assert states == ["COMPLETE", "RUNNING"]
    first_record = next((tmp_path / "search" / "runs").glob("*.json"))
    written = first_record.stat().st_mtime_ns

    monkeypatch.setattr(search, "run_configs", real)
    tune(output=tmp_path, registry=registry, optimizers="sgd", trials=3, seeds=1, sampler="tpe", **TINY)
    (trials,) = _trials(tmp_path).values()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3  # the running trial was told, not asked again
    assert trials[1].params == next(t.params for t in trials if t.number == 1)
    assert first_record.stat().st_mtime_ns == written  # the finished trial was not trained again
    assert len(list((tmp_path / "search" / "runs").glob("*.json"))) == 3


def test_a_tuning_killed_with_sigkill_resumes_exactly(tmp_path):
    """The whole command, SIGKILLed mid-search, then run again: no finished trial is retrained or redrawn."""
    out = tmp_path / "tuned"
    command = [sys.executable, "-m", "harness.cli", "tune", "-m", "logreg", "-d", "digits", "-o", "sgd",
               "--sampler", "tpe", "--trials", "5", "--seeds", "1", "--max-epochs", "1", "--launcher", "inline",
               "--output", str(out)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    runs = out / "search" / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(runs.glob("*.json")) if runs.exists() else []) < 2:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = {path.name: path.stat().st_mtime_ns for path in runs.glob("*.json")}
    assert 2 <= len(finished) < 5, "the tuning was not killed mid-search"
    drawn_before = {t.number: t.params for trials in _trials(out).values() for t in trials}

    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (trials,) = _trials(out).values()
    (name,) = _trials(out)
    abandoned = set(optuna.load_study(study_name=name, storage=f"sqlite:///{out / STORAGE_FILE}").user_attrs.get(
        ABANDONED, ()))  # fmt: skip
    assert len(abandoned) <= 1  # killed while a trial was being asked: it never reached a run
    counted = [t for t in trials if t.number not in abandoned]
    assert len(counted) == 5 and all(t.state == optuna.trial.TrialState.COMPLETE for t in counted)
    assert all(trials[n].params == params for n, params in drawn_before.items())  # nothing redrawn
    after = {path.name: path.stat().st_mtime_ns for path in runs.glob("*.json")}
    assert len(after) == 5 and all(after[name] == mtime for name, mtime in finished.items())
