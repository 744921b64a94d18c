"""Values refused before anything trains: non-finite numbers, bad seeds, mistyped overrides, huge grids,
no validation with early stopping; and what the grid hands to plugins (check params, validators)."""

from __future__ import annotations

import math
import time

import pytest

from harness.cli_parser import build_parser
from harness.config import DEFAULT_MAX_RUNS, EXECUTION_KEYS, expand, grid_size, has_validation, make_suite
from harness.errors import ConfigError
from harness.manager import load_plugins
from harness.overrides import type_problem
from harness.registry import Registry
from harness.specs import DatasetSpec, ModelSpec, SpecError, lazy, unavailable_reason
from harness.suite_rules import MAX_SEED
from tests.plugin_factory import write_plugin


@pytest.fixture(scope="module")
def builtins() -> Registry:
    return Registry(load_plugins())


def suite(**values):
    return make_suite({"models": ["mlp"], "datasets": ["digits"], "optimizers": ["sgd"], **values})


def refused(registry, match, **values):
    with pytest.raises(ConfigError, match=match):
        expand(suite(**values), registry)


# ---------------------------------------------------------------------------
# Non-finite numbers (issue 5)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", [float("nan")], [0.1, float("inf")], "1e999"])
def test_non_finite_learning_rates_are_refused(value):
    with pytest.raises(ConfigError, match=r"^lr: values must be finite numbers"):
        make_suite({"lr": value})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -math.inf])
def test_non_finite_target_is_refused(value):
    with pytest.raises(ConfigError, match=r"^target: expected a finite number"):
        make_suite({"target": value})


@pytest.mark.parametrize("item", ["sgd[lr=nan]", "sgd[lr=inf]", "sgd[lr=-1]", "sgd[lr=0]", "adam[eps=nan]"])
def test_non_finite_or_non_positive_optimizer_overrides_are_refused(builtins, item):
    name = item.split("[")[0]
    refused(builtins, rf"^optimizer {name}.*(finite number|above 0)", optimizers=[item])


# ---------------------------------------------------------------------------
# Seeds (issue 8) and the grid's size (issue 7)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], "expected at least one seed"),
        ([1.5], "expected int values, got [1.5]"),
        (1.5, "expected int values"),
        ([True], "expected int values"),
        ([-1], f"between 0 and {MAX_SEED}"),
        ([MAX_SEED + 1], f"between 0 and {MAX_SEED}"),
        ([3, 1, 3], "seed 3 is listed more than once"),
        (MAX_SEED + 2, "a count of at most"),
    ],
)
def test_bad_seeds_say_what_is_wrong(value, expected):
    with pytest.raises(ConfigError) as raised:
        make_suite({"seeds": value})
    assert str(raised.value).startswith("seeds: ") and expected in str(raised.value)


def test_seed_zero_and_the_largest_seed_are_allowed():
    assert make_suite({"seeds": [0, MAX_SEED]}).seeds == (0, MAX_SEED)


def test_a_huge_seed_count_is_refused_at_once_by_the_grid_size(builtins):
    started = time.perf_counter()
    big = suite(seeds=1_000_000_000)
    assert len(big.seeds) == 1_000_000_000 and grid_size(big, builtins) == 1_000_000_000
    with pytest.raises(ConfigError) as raised:
        expand(big, builtins)
    assert time.perf_counter() - started < 5
    message = str(raised.value)
    assert "1,000,000,000 runs" in message and f"{DEFAULT_MAX_RUNS:,}" in message and "--max-runs" in message


def test_max_runs_bounds_the_grid_and_can_be_raised(builtins):
    values = {"models": ["mlp", "logreg"], "optimizers": ["sgd", "adam"], "seeds": 3, "lr": [0.1, 0.01]}
    assert grid_size(suite(**values), builtins) == 2 * 2 * 3 * 2
    with pytest.raises(ConfigError, match="up to 24 runs, more than the limit of 23"):
        expand(suite(**values, max_runs=23), builtins)
    runs, _ = expand(suite(**values, max_runs=24), builtins)
    assert len(runs) == 24
    assert grid_size(suite(optimizers=["*"]), builtins) == len(builtins.names("optimizer"))  # wildcards count


def test_threads_and_max_runs_are_execution_keys():
    assert {"threads", "max_runs"} <= set(EXECUTION_KEYS)
    built = make_suite({"threads": 2, "max_runs": 10})
    assert (built.threads, built.max_runs) == (2, 10)
    assert make_suite({}).threads is None and make_suite({}).max_runs == DEFAULT_MAX_RUNS
    for key in ("threads", "max_runs"):
        with pytest.raises(ConfigError, match=rf"^{key}: expected a positive integer"):
            make_suite({key: 0})


def test_cli_options_threads_and_max_runs():
    parser = build_parser()
    for command in ("run", "tune"):
        args = parser.parse_args([command, "--threads", "3", "--max-runs", "50"])
        assert (args.threads, args.max_runs) == (3, 50)
        assert parser.parse_args([command]).threads is None
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--threads", "0"])


@pytest.mark.parametrize(("key", "value"), [("batch_size", []), ("schedules", [])])
def test_empty_lists_that_would_empty_the_grid_are_refused(key, value):
    with pytest.raises(ConfigError, match=rf"^{key}: expected at least one"):
        make_suite({key: value})


# ---------------------------------------------------------------------------
# Per-item overrides (issue 6)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "default", "problem"),
    [
        ("abc", 0.0, "expected a number"),
        (True, 0.0, "expected a number"),
        (float("nan"), 0.0, "expected a finite number"),
        (1, 0.0, None),
        (1.5, 3, "expected a whole number"),
        (True, 3, "expected a whole number"),
        (1, True, "expected true or false"),
        (3, "relu", "expected text"),
        (None, "max", None),
        ("abc", [128, 64], "expected a list"),
        (256, [128, 64], None),
        ([1, "a"], [128, 64], "expected a whole number in the list"),
        ("anything", None, None),
    ],
)
def test_type_problem(value, default, problem):
    assert type_problem(value, default) == problem


@pytest.mark.parametrize(
    ("kind", "item", "expected"),
    [
        ("models", "mlp[hidden=abc]", "model mlp: hidden='abc' is not allowed: expected a list"),
        ("models", "mlp[dropout=abc]", "model mlp: dropout='abc' is not allowed: expected a number (the default"),
        ("models", "mlp[dropout=1.5]", "model mlp[dropout=1.5]: dropout must be in [0, 1), got 1.5"),
        ("models", "mlp[hidden=[0]]", "hidden widths must be positive"),
        ("models", "mlp[activation=swish]", "activation must be one of"),
        ("optimizers", "sgd[momentum=1.5]", "momentum must be in [0, 1)"),
        ("optimizers", "adam[betas=[0.9,1.0]]", "betas must be two numbers in [0, 1)"),
        ("optimizers", "adamw[weight_decay=-1]", "weight_decay must be at least 0"),
        ("optimizers", "sgd[nesterov=true]", "nesterov needs momentum > 0"),
        ("datasets", "digits[val_fraction=1.2]", "val_fraction must be in [0, 1)"),
        ("datasets", "digits[test_fraction=abc]", "expected a number"),
        ("schedules", "cosine[min_ratio=abc]", "schedule cosine: min_ratio='abc' is not allowed: expected a number"),
        ("schedules", "warmup_cosine[warmup=-0.1]", "warmup=-0.1 is not allowed"),
        ("schedules", "step[milestones=0.5]", "a list of fractions"),
    ],
)
def test_bad_overrides_fail_before_anything_trains(builtins, kind, item, expected):
    with pytest.raises(ConfigError) as raised:
        expand(suite(**{kind: [item]}), builtins)
    assert expected in str(raised.value)


def test_good_overrides_still_pass(builtins):
    runs, _ = expand(
        suite(
            models=["mlp[hidden=256,dropout=0.1]"],
            optimizers=["sgd[momentum=0.9,nesterov=true]", "adam[betas=[0.8,0.99]]"],
            schedules=["step[milestones=[0.3]]", "warmup_cosine[warmup=0.1]"],
        ),
        builtins,
    )
    assert len(runs) == 4


def test_each_lr_of_the_suite_reaches_the_validator(tmp_path):
    body = """
    SEEN = []

    def _picky(params):
        SEEN.append(params["lr"])
        return "lr too high for this optimizer" if params["lr"] > 1 else None
    """
    spec = "OptimizerSpec(name='picky', build=_build, defaults={'lr': 0.1}, validate=_picky)"
    path = write_plugin(tmp_path, "picky_plugin", optimizers=[spec], body=body)
    registry = Registry(load_plugins(paths=[path]))
    expand(suite(optimizers=["picky"], lr=[0.5]), registry)
    assert registry.get("optimizer", "picky").spec.validate.__globals__["SEEN"] == [0.1, 0.5]
    with pytest.raises(ConfigError, match=r"optimizer picky\[lr=2.0\]: lr too high"):
        expand(suite(optimizers=["picky"], lr=[2.0]), registry)


def test_a_raising_validator_is_reported_as_the_plugins_bug(tmp_path):
    body = """
    def _broken(params):
        return 1 / 0
    """
    spec = "ModelSpec(name='buggy', build=_build, defaults={'k': 1}, validate=_broken)"
    path = write_plugin(tmp_path, "buggy_plugin", models=[spec], body=body)
    registry = Registry(load_plugins(paths=[path]))
    with pytest.raises(ConfigError) as raised:
        expand(suite(models=["buggy"]), registry)
    message = str(raised.value)
    plugin = registry.get("model", "buggy").plugin
    assert "model buggy" in message and f"plugin {plugin}" in message and "ZeroDivisionError" in message
    assert "\n" not in message


def test_validate_must_be_callable():
    with pytest.raises(SpecError, match="validate must be callable"):
        ModelSpec("m", build=lambda info: None, validate="no")
    with pytest.raises(SpecError, match="validate must be callable"):
        DatasetSpec("d", load=lambda: None, task="regression", modality="tabular", validate=3)


# ---------------------------------------------------------------------------
# A dataset's check sees its parameters (issue 18)
# ---------------------------------------------------------------------------


def test_check_gets_the_params_it_accepts():
    def only_download(download=False):
        return None if download else "files missing"

    spec = DatasetSpec("d", load=lambda: None, task="regression", modality="tabular", check=only_download)
    assert unavailable_reason(spec) == "files missing"
    assert unavailable_reason(spec, {"download": True, "limit": 3}) is None  # limit is not passed

    no_params = DatasetSpec("e", load=lambda: None, task="regression", modality="tabular", check=lambda: "nope")
    assert unavailable_reason(no_params, {"download": True}) == "nope"  # called as before

    lazy_check = DatasetSpec(
        "f", load=lambda: None, task="regression", modality="tabular", check=lazy("os.path:isdir")
    )  # a lazy check: its target's signature decides (isdir takes no keyword 'download')
    assert unavailable_reason(lazy_check, {"download": True}) is not None


def test_download_true_makes_a_missing_image_dataset_usable(builtins, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(tmp_path))  # nothing there
    values = {"models": ["mlp"], "optimizers": ["sgd"]}
    runs, skipped = expand(make_suite({**values, "datasets": ["mnist"]}), builtins)
    assert runs == [] and "mnist is unavailable" in skipped[0][2]
    runs, skipped = expand(make_suite({**values, "datasets": ["mnist[download=true]"]}), builtins)
    assert skipped == [] and runs[0].dataset_params["download"] is True


def test_an_explicit_path_counts_for_rotten_tomatoes(builtins, tmp_path):
    corpus = tmp_path / "reviews.csv"
    corpus.write_text("category,text\nfresh,good\n")
    spec = builtins.get("dataset", "rotten-tomatoes").spec
    assert unavailable_reason(spec, {**spec.defaults, "path": str(corpus)}) is None
    assert "is not a file" in unavailable_reason(spec, {**spec.defaults, "path": str(tmp_path / "none.csv")})


# ---------------------------------------------------------------------------
# No validation split (issue 19)
# ---------------------------------------------------------------------------


def test_val_fraction_zero_is_allowed_without_early_stopping_or_target(builtins):
    (run,), _ = expand(suite(datasets=["digits[val_fraction=0]"]), builtins)
    assert run.dataset_params["val_fraction"] == 0
    assert not has_validation(run.dataset_params) and has_validation({"val_fraction": 0.1})
    assert not has_validation({"val_size": 0}) and has_validation({})


@pytest.mark.parametrize("setting", [{"early_stopping": 3}, {"target": 0.9}])
def test_no_validation_with_early_stopping_or_target_is_refused(builtins, setting):
    key = next(iter(setting))
    with pytest.raises(ConfigError, match=rf"digits\[val_fraction=0\] keeps no validation split, but {key}"):
        expand(suite(datasets=["digits[val_fraction=0]"], **setting), builtins)
