"""Real training on the bundled digits: learning happens, is measured, stored and resumed."""

import json
import math

import pytest

import harness
from harness.store import Store
from tests import FIXTURES

TINY = {"datasets": "digits", "seeds": 1, "max_epochs": 4}
TRAIN_SAMPLES = 1077  # digits: 1797 images, stratified 60/20/20 split


def _events():
    seen = []
    return seen, lambda kind, **data: seen.append((kind, data))


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory, registry):
    out = tmp_path_factory.mktemp("mlp")
    result = harness.run(
        launcher="inline", output=out, registry=registry, models="mlp", optimizers="adam", target=0.5, **TINY
    )
    return out, result


def test_mlp_learns_digits_well_above_chance(mlp_run):
    _, result = mlp_run
    (record,) = result.records
    assert record["status"] == "ok", record["reason"]
    assert record["task"] == "classification" and record["metric"] == "accuracy"
    results = record["results"]
    assert results["test_metric"] > 0.8  # chance is 0.1
    assert results["test_metrics"]["accuracy"] == results["test_metric"]
    assert 0 < results["test_loss"] < math.log(10)
    assert results["best_val_metric"] > 0.8
    assert results["best_val_epoch"] in range(4)


def test_run_is_measured(mlp_run):
    _, result = mlp_run
    results = result.records[0]["results"]
    steps_per_epoch = math.ceil(TRAIN_SAMPLES / 64)
    assert results["steps"] == 4 * steps_per_epoch
    assert results["warmup_steps"] == 5
    assert results["measured_steps"] == results["steps"] - 5
    assert results["samples_per_s"] > 0
    assert 0 < results["step_time_median_ms"] <= results["step_time_p90_ms"]
    assert 0 < results["train_time_s"] < results["wall_time_s"]
    # samples/s and step time describe the same steps: about 64 samples per median step
    assert 20 < results["samples_per_s"] * results["step_time_median_ms"] / 1000 < 200
    assert results["memory_kind"] == "cpu_rss_growth" and results["peak_memory_mb"] > 0
    assert results["params"] == (64 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10)
    assert results["epochs"] == 4
    curve = results["val_curve"]
    assert [p["epoch"] for p in curve] == [0, 1, 2, 3]
    assert all(0 <= p["val_metric"] <= 1 and p["val_loss"] > 0 for p in curve)
    times = [p["train_time_s"] for p in curve]
    assert times == sorted(times) and times[-1] == pytest.approx(results["train_time_s"])
    assert results["epoch_to_target"] is not None
    assert 0 < results["time_to_target_s"] <= results["train_time_s"]


def test_run_records_whether_its_timing_can_be_trusted(mlp_run):
    _, result = mlp_run
    record = result.records[0]
    results, provenance = record["results"], record["provenance"]
    timing = results["timing"]
    fields = {
        "load_start",
        "load_end",
        "cores",
        "threads",
        "cpu_time_s",
        "wall_time_s",
        "cpu_share",
        "run_queue_wait",
        "step_time_cv",
    }
    assert set(timing) == {*fields, "disturbed"}
    assert timing["cpu_time_s"] > 0 and 0 < timing["wall_time_s"] <= results["wall_time_s"]
    assert timing["step_time_cv"] > 0 and timing["cpu_share"] > 0
    assert timing["cores"] >= 1 and timing["threads"] >= 1
    assert timing["threads"] == provenance["threads"]  # the count torch trained with
    assert all(isinstance(load, float) for load in (timing["load_start"], timing["load_end"]))
    assert isinstance(timing["disturbed"], list) and all(isinstance(why, str) for why in timing["disturbed"])
    assert provenance["threads_from"] in ("OMP_NUM_THREADS", "cores/workers")


def test_record_has_provenance_and_round_trips(mlp_run):
    out, result = mlp_run
    record = result.records[0]
    provenance = record["provenance"]
    for key in ("python", "torch", "lightning", "harness", "hostname", "started_at", "finished_at"):
        assert provenance[key]
    assert provenance["device"].startswith("cpu: ")
    assert provenance["seed"] == 0 and provenance["precision"] == "32-true"
    assert {"harness_dense", "harness_vision", "harness_optim"} <= set(provenance["plugins"])
    assert record["config"]["model_params"] == {"hidden": [128, 64], "dropout": 0.0, "activation": "relu"}
    stored = json.loads(Store(out).path_for(record["key"]).read_text())
    assert stored == json.loads(json.dumps(record))


def test_resume_skips_finished_cells_and_rerun_forces(mlp_run, registry):
    out, first = mlp_run
    path = Store(out).path_for(first.records[0]["key"])
    mtime = path.stat().st_mtime_ns
    seen, on_event = _events()
    again = harness.run(
        launcher="inline",
        output=out,
        registry=registry,
        models="mlp",
        optimizers="adam",
        target=0.5,
        on_event=on_event,
        **TINY,
    )
    assert again.reused == 1 and not any(kind == "start" for kind, _ in seen)
    assert again.records == [json.loads(path.read_text())]
    assert path.stat().st_mtime_ns == mtime

    forced = harness.run(
        launcher="inline",
        output=out,
        registry=registry,
        models="mlp",
        optimizers="adam",
        target=0.5,
        rerun=True,
        **TINY,
    )
    assert forced.reused == 0
    # same seed, deterministic on CPU: the same accuracy again
    assert forced.records[0]["results"]["test_metric"] == first.records[0]["results"]["test_metric"]


def test_table_shows_measured_values(mlp_run):
    _, result = mlp_run
    results = result.records[0]["results"]
    table = result.table("github")
    assert "mlp" in table and "digits" in table and "adam" in table
    assert f"{results['test_metric']:.3f}" in table
    assert f"{results['samples_per_s']:.0f}" in table.replace(",", "")


def test_failed_and_diverged_runs_are_recorded_and_sweep_goes_on(tmp_path, test_registry):
    seen, on_event = _events()
    result = harness.run(
        launcher="inline",
        output=tmp_path,
        registry=test_registry,
        models="boom,nan,logreg",
        optimizers="sgd",
        on_event=on_event,
        **TINY,
    )
    by_model = {r["config"]["model"]: r for r in result.records}
    assert by_model["boom"]["status"] == "failed"
    assert "kaboom" in by_model["boom"]["reason"] and "RuntimeError" in by_model["boom"]["traceback"]
    assert by_model["nan"]["status"] == "diverged"
    assert "non-finite" in by_model["nan"]["reason"]
    assert by_model["nan"]["results"]["epochs"] == 1  # stopped after the first epoch
    assert by_model["logreg"]["status"] == "ok" and by_model["logreg"]["results"]["test_metric"] > 0.5
    assert len(list((tmp_path / "runs").glob("*.json"))) == 3
    assert "failed" in result.table()

    # resume: the diverged and ok cells are final; the failed one is tried again
    seen, on_event = _events()
    harness.run(
        launcher="inline",
        output=tmp_path,
        registry=test_registry,
        models="boom,nan,logreg",
        optimizers="sgd",
        on_event=on_event,
        **TINY,
    )
    assert [data["config"].model for kind, data in seen if kind == "start"] == ["boom"]


def test_model_with_its_own_lightning_module(tmp_path, test_registry):
    result = harness.run(
        launcher="inline", output=tmp_path, registry=test_registry, models="ownloop", optimizers="adam", **TINY
    )
    (record,) = result.records
    assert record["status"] == "ok", record["traceback"]
    assert record["results"]["test_metric"] > 0.5
    assert len(record["results"]["val_curve"]) == 4
    assert record["results"]["params"] == 64 * 32 + 32 + 32 * 10 + 10


def test_lifecycle_hooks_observe_runs(tmp_path, capsys):
    from harness.api import load_registry

    registry = load_registry(plugins=[FIXTURES / "observer.py"])
    observer = registry.plugins.pm.get_plugin("observer")
    result = harness.run(
        launcher="inline",
        output=tmp_path,
        registry=registry,
        models="logreg",
        optimizers="sgd",
        datasets="digits",
        seeds=2,
        max_epochs=1,
    )
    assert "warning: plugin observer: harness_record_written failed: RuntimeError: " in capsys.readouterr().err
    assert [c.seed for c in observer.seen["configs"]] == [0, 1]  # harness_run_callbacks: once per run
    assert observer.seen["batches"] == sum(r["results"]["steps"] for r in result.records)
    assert [key for key, _ in observer.seen["written"]] == [r["key"] for r in result.records]
    assert all(path.endswith(".json") for _, path in observer.seen["written"])
    assert all(r["status"] == "ok" for r in result.records)


def test_early_stopping_ends_a_run_that_stopped_improving(tmp_path, registry):
    # lr=1e-12 leaves float32 weights as they are (lr=0 is refused), so validation accuracy never improves
    result = harness.run(
        launcher="inline",
        output=tmp_path,
        registry=registry,
        models="logreg",
        optimizers="sgd[lr=1e-12]",
        datasets="digits",
        seeds=1,
        max_epochs=20,
        early_stopping=2,
    )
    results = result.records[0]["results"]
    assert result.records[0]["status"] == "ok"
    assert results["epochs"] == 3 and len(results["val_curve"]) == 3
