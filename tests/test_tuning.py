"""harness tune with the grid sampler: the learning-rate grid per optimizer, chosen on validation, rerun with N seeds.

The other samplers, the search spaces, studies and resuming are in tests/tuning/."""

import json

import pytest

from harness.cli import main
from harness.config import RunConfig
from harness.reporting.cells import summary_frame
from harness.reporting.frames import runs_frame
from harness.store import Store
from harness.tuning import DEFAULT_FACTORS, grid_for, tune

TINY = {"models": "logreg", "datasets": "digits", "max_epochs": 3, "launcher": "inline"}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, registry):
    out = tmp_path_factory.mktemp("tune")
    return tune(output=out, registry=registry, optimizers="sgd,adam", seeds=2, sampler="grid", **TINY)


def _lr(record) -> float:
    return record["config"]["optimizer_params"]["lr"]


def test_every_optimizer_gets_the_same_grid_around_its_default(tuned, registry):
    search = tuned.search.records
    assert len(search) == 2 * len(DEFAULT_FACTORS) and all(r["status"] == "ok" for r in search)
    for name in ("sgd", "adam"):
        default = registry.get("optimizer", name).spec.defaults["lr"]
        tried = sorted(_lr(r) for r in search if r["config"]["optimizer"] == name)
        assert tried == pytest.approx(sorted(default * f for f in DEFAULT_FACTORS), rel=1e-2)


def test_the_best_validation_score_wins_and_is_rerun_with_every_seed(tuned):
    for name in ("sgd", "adam"):
        search = [r for r in tuned.search.records if r["config"]["optimizer"] == name]
        best = max(search, key=lambda r: r["results"]["best_val_metric"])  # chosen on validation, never test
        final = [r for r in tuned.final.records if r["config"]["optimizer"] == name]
        assert sorted(r["config"]["seed"] for r in final) == [0, 1]
        assert {_lr(r) for r in final} == {_lr(best)}
        for record in final:
            assert record["tuning"]["trials"] == len(DEFAULT_FACTORS)
            assert record["tuning"]["chosen_lr"] == _lr(best)
            assert record["tuning"]["selected_on"] == "mean best validation accuracy"
        seed0 = next(r for r in final if r["config"]["seed"] == 0)
        assert seed0["key"] == best["key"] and seed0["provenance"] == best["provenance"]  # reused, not retrained
    stored = Store(tuned.output / "final").load_all()[0]
    assert len(stored) == 4 and all("tuning" in r for r in stored)  # the annotation is on disk too
    choices = json.loads((tuned.output / "tuning.json").read_text())
    assert {c["optimizer"] for c in choices} == {"sgd", "adam"} and all(len(c["scores"]) == 5 for c in choices)
    assert all(
        c["space"]
        == {
            "optimizer.lr": "|".join(str(lr) for lr in _grid(c)),
        }
        for c in choices
    )


def _grid(choice: dict) -> list[float]:
    return [score["optimizer.lr"] for score in choice["scores"]]


def test_the_table_says_how_many_trials_each_entry_got(tuned):
    summary = summary_frame(runs_frame(tuned.final.records))
    assert list(summary["trials"]) == [5, 5]
    header, _, *rows = tuned.table().split("\n\n")[0].splitlines()
    assert "trials/study" in header and len(rows) == 2 and all(" grid " in row for row in rows)


def test_tuning_again_trains_nothing(tuned, registry):
    plans = []
    tune(
        output=tuned.output,
        registry=registry,
        optimizers="sgd,adam",
        seeds=2,
        sampler="grid",
        on_event=lambda kind, **data: plans.append(data["todo"]) if kind == "plan" else None,
        **TINY,
    )
    assert plans == [0, 0]


def test_a_trial_scores_its_mean_validation_metric_only_when_every_seed_finished():
    from harness.tuning import score

    ok = [{"status": "ok", "results": {"best_val_metric": v}} for v in (0.5, 0.7)]
    assert score(ok) == pytest.approx(0.6)
    assert score([*ok, {"status": "diverged", "results": {"best_val_metric": 0.9}}]) is None
    assert score([*ok, None]) is None  # a seed whose record is missing
    assert score([{"status": "ok", "results": {"best_val_metric": float("nan")}}]) is None


def test_an_explicit_grid_is_used_as_given(registry):
    base = RunConfig(model="logreg", dataset="digits", optimizer="sgd", seed=0)
    assert grid_for(base, registry, [0.3, 0.01, 0.3]) == [0.01, 0.3]


def test_tune_from_the_command_line(tmp_path, capsys):
    args = ["tune", "-m", "logreg", "-d", "digits", "-o", "sgd", "--lr-grid", "0.3,0.01", "--seeds", "2"]
    assert main([*args, "--max-epochs", "2", "--launcher", "inline", "--output", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    header = captured.out.splitlines()[0]
    assert "trials/study" in header and "lr=0.3" in captured.out.splitlines()[2]
    assert "search: 2 trial(s) x 1 seed(s) x 1 study(ies) per optimizer and workload, grid over optimizer.lr" in (
        captured.err
    )
    assert (tmp_path / "tuning.json").exists() and len(list((tmp_path / "final" / "runs").glob("*.json"))) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--search-seeds", "0"], "--search-seeds, --seeds, --studies and --trials must be at least 1"),
        (["--studies", "0"], "expected a number of studies of at least 1"),
        (["--space", "lr=0.1:0.01:log"], "--space lr=0.1:0.01:log: low must be below high"),
        (["--space", "lr=0:1:log"], "a log scale needs low > 0"),
        (["--space", "lrr=1e-4:1e-1"], "--space lrr: no run of this tuning has that parameter"),
        (["--space", "lr"], "expected NAME=LOW:HIGH[:log][:int]"),
        (["--space", "lr=a:b"], "expected LOW:HIGH with numbers"),
        (["--sampler", "tpe", "--lr-grid", "0.1"], "--lr-grid gives the grid sampler's rates"),
        (["--lr", "0.1"], "unrecognized arguments: --lr"),
        (["--lr-grid", "fast"], "lr-grid"),
    ],
)
def test_bad_tune_options_exit_2(args, message, capsys):
    try:
        status = main(["tune", "-m", "logreg", "-d", "digits", "-o", "sgd", *args])
    except SystemExit as exit:  # argparse's own usage errors
        status = exit.code
    assert status == 2
    assert message in capsys.readouterr().err


def test_the_folders_a_tuning_writes_are_checked_before_the_search(tmp_path, registry, monkeypatch):
    import harness.tuning.search
    from harness.errors import ConfigError

    def trained(*args, **kwargs):
        raise AssertionError("the search started before the output folders were checked")

    monkeypatch.setattr(harness.tuning.search, "run_configs", trained)
    (tmp_path / "search").write_text("in the way")
    with pytest.raises(ConfigError, match=f"^output directory {tmp_path / 'search'} is a file, not a directory$"):
        tune(output=tmp_path, registry=registry, optimizers="sgd", **TINY)
    (tmp_path / "search").unlink()
    (tmp_path / "tuning.json").mkdir()
    with pytest.raises(ConfigError, match="tuning.json is a directory"):
        tune(output=tmp_path, registry=registry, optimizers="sgd", **TINY)


def test_a_grid_of_non_finite_or_non_positive_rates_is_refused_from_python_too(tmp_path, registry):
    from harness.errors import ConfigError

    base = RunConfig(model="logreg", dataset="digits", optimizer="sgd", seed=0)
    for bad in ([float("nan")], [0.1, float("inf")], [0.0], [-0.1]):
        with pytest.raises(ConfigError, match="lr_grid: learning rates must be finite numbers above 0"):
            grid_for(base, registry, bad)


def test_a_dataset_without_validation_cannot_be_tuned(tmp_path, registry, monkeypatch):
    import harness.tuning.search
    from harness.errors import ConfigError

    def trained(*args, **kwargs):
        raise AssertionError("the search started on a dataset without a validation split")

    monkeypatch.setattr(harness.tuning.search, "run_configs", trained)
    settings = {**TINY, "datasets": "digits[val_fraction=0]"}
    with pytest.raises(ConfigError, match="keeps no validation split, and tuning chooses on validation"):
        tune(output=tmp_path, registry=registry, optimizers="sgd", **settings)
