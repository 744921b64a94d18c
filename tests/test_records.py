"""What a record must be to count: every real record passes, type garbage in any field it is read for does not."""

import json

import pytest

from harness.config import RunConfig
from harness.records import STATUSES, config_key, new_record, problem
from tests.records import make_record


def _config(**changes):
    base = {"model": "mlp", "dataset": "digits", "optimizer": "sgd", "seed": 0, "model_label": "mlp"}
    return RunConfig(**{**base, **changes})


@pytest.mark.parametrize("status", STATUSES)
def test_records_as_the_factory_and_the_runner_write_them_are_valid(status):
    assert problem(make_record(status=status)) is None
    assert problem(make_record(mode="min", metric_value=52.0, status=status)) is None
    record = new_record(_config(), "suite")  # the runner's shape before it measures anything
    record.update(status=status, results={"test_metric": None} if status == "ok" else {})
    assert problem(record) is None


def test_values_a_real_run_can_hold_are_accepted():
    record = make_record(target=0.9, config={"early_stopping": 3, "deterministic": True, "devices": "auto"})
    results = record["results"]
    results.update(test_metric=float("nan"), samples_per_s=None, engine="fabric", train_losses=[0.5, float("nan")])
    results.update(timing={"load_start": 0.1, "disturbed": ["busy"]}, added_later={"anything": ["goes"]})
    results["val_curve"].append({"epoch": 1, "val_metric": None, "val_loss": float("inf"), "train_time_s": 2})
    record.update(retry_of="abc", retried_as={"key": "def", "batch_size": 32}, tuning={"trials": 3})
    assert problem(json.loads(json.dumps(record))) is None  # NaN and Infinity survive the file


def _broken(path, value):
    record = make_record()
    *parents, name = path
    target = record
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[name]
    else:
        target[name] = value
    return record


_DELETE = object()


@pytest.mark.parametrize(
    "path, value, says",
    [
        (("results", "test_metric"), "abc", "results.test_metric"),
        (("config", "seed"), {"a": 1}, "config.seed"),
        (("config", "seed"), True, "config.seed"),
        (("config", "model"), 3, "config.model"),
        (("config", "batch_size"), "64", "config.batch_size"),
        (("config", "optimizer_params"), [0.1], "config.optimizer_params"),
        (("config", "optimizer"), _DELETE, "config has no 'optimizer'"),
        (("results", "samples_per_s"), True, "results.samples_per_s"),
        (("results", "test_metrics", "accuracy"), "high", "results.test_metrics.accuracy"),
        (("results", "val_curve"), "rising", "results.val_curve"),
        (("results", "val_curve", 0), 3, "results.val_curve[]"),
        (("results", "val_curve", 0, "val_metric"), [0.5], "results.val_curve[].val_metric"),
        (("results", "train_losses"), [0.5, "x"], "results.train_losses"),
        (("results", "test_metric"), _DELETE, "results.test_metric"),
        (("results",), _DELETE, "without 'results'"),
        (("results",), [1], "'results' is not an object"),
        (("status",), "done", "status 'done'"),
        (("status",), _DELETE, "status None"),
        (("schema",), 2, "schema version 2"),
        (("schema",), _DELETE, "schema version None"),
        (("schema",), True, "schema version True"),
        (("key",), "", "'key'"),
        (("key",), 7, "'key'"),
        (("metric",), 3, "metric"),
        (("metric_mode",), "up", "metric_mode"),
        (("provenance",), "cpu", "provenance"),
        (("provenance", "device"), 0, "provenance"),
        (("retried_as",), {"key": "k"}, "retried_as"),
        (("reason",), ["a"], "reason"),
    ],
)
def test_type_garbage_anywhere_a_table_reads_makes_a_broken_record(path, value, says):
    found = problem(_broken(path, value))
    assert found is not None and says in found


def test_not_an_object_and_hollow_records_are_refused():
    assert problem([1, 2]) == "a JSON list, not an object"
    assert problem({"schema": 1, "key": "k", "status": "ok", "config": {}}) == "config has no 'model'"
    failed = make_record(status="failed")
    del failed["results"]
    assert problem(failed) is None  # only an ok record must have measurements


def test_the_key_recomputed_from_a_stored_config_is_the_config_key():
    configs = [
        _config(),
        _config(seed=3, optimizer_params={"lr": 0.1, "betas": (0.9, 0.99)}, target=0.95),
        _config(strategy="ddp", devices=2),  # a field left out at its default, set here
        _config(model_params={"nested": {"x": [1, 2.5, None]}}, schedule="cosine"),
    ]
    for config in configs:
        stored = json.loads(json.dumps(new_record(config, None)))["config"]  # as a file holds it
        assert config_key(stored) == config.key()
    assert config_key(_config(seed=1).as_dict()) != config_key(_config().as_dict())
    assert config_key({1: "a", "b": 2}) == ""  # keys that cannot be sorted: no config's key
