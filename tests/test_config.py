"""Suite files and command-line values -> the grid of RunConfig. No training, no torch."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import subprocess
import sys
from importlib import resources

import pytest

from harness.config import (
    ACCELERATORS,
    PRECISIONS,
    SUITE_KEYS,
    RunConfig,
    Suite,
    expand,
    label,
    make_suite,
    parse_item,
    parse_value,
    read_suite_file,
    split_top_level,
)
from harness.errors import ConfigError, HarnessError, UnknownNameError
from harness.manager import load_plugins
from harness.registry import Registry
from tests.plugin_factory import dataset, write_plugin


@pytest.fixture(scope="module")
def builtins() -> Registry:
    """The built-in plugins only, found through their entry points."""
    return Registry(load_plugins())


def suite(**values) -> Suite:
    return make_suite({"models": ["mlp"], "datasets": ["digits"], "optimizers": ["sgd"], **values})


# ---------------------------------------------------------------------------
# Parsing values
# ---------------------------------------------------------------------------


def test_split_top_level_keeps_bracketed_commas():
    text = "mlp[hidden=[256,128],dropout=0.1], logreg ,cnn[kernel=(3,3)]"
    assert split_top_level(text) == ["mlp[hidden=[256,128],dropout=0.1]", "logreg", "cnn[kernel=(3,3)]"]
    assert split_top_level("a[x=[[1,2],[3]]],b") == ["a[x=[[1,2],[3]]]", "b"]
    assert split_top_level("a,,b, ") == ["a", "b"]
    assert split_top_level("") == []


@pytest.mark.parametrize("text", ["a[x=1,b", "a[x=[1,2]", "a]b,[c", "a)"])
def test_split_top_level_rejects_unbalanced_brackets(text):
    with pytest.raises(ConfigError, match="unbalanced brackets"):
        split_top_level(text)


def test_parse_item_gives_name_and_typed_values():
    name, params = parse_item("mlp[hidden=[256,128],dropout=0.1]")
    assert name == "mlp"
    assert params == {"hidden": [256, 128], "dropout": 0.1}
    assert isinstance(params["dropout"], float) and all(isinstance(h, int) for h in params["hidden"])

    name, params = parse_item(" sgd[ nesterov = true ,amsgrad=False, act=gelu, quoted='x y', n=none, k=(3,3), m=2] ")
    assert name == "sgd"
    assert params == {
        "nesterov": True,
        "amsgrad": False,
        "act": "gelu",
        "quoted": "x y",
        "n": None,
        "k": [3, 3],
        "m": 2,
    }
    assert params["m"] is not True and isinstance(params["m"], int)
    assert parse_item("logreg") == ("logreg", {})
    assert parse_item("s*") == ("s*", {})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("256", 256),
        ("-1", -1),
        ("0.1", 0.1),
        ("1e-3", 0.001),
        ("TRUE", True),
        ("false", False),
        ("None", None),
        ("[64,32]", [64, 32]),
        ("(1,2)", [1, 2]),
        ("relu", "relu"),
        (" gelu ", "gelu"),
        ("'16'", "16"),
    ],
)
def test_parse_value(text, value):
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


@pytest.mark.parametrize(
    "text",
    [
        "mlp[hidden",
        "mlp[hidden]",
        "mlp[=3]",
        "mlp[hidden=1",
        "mlp[a=1]x",
        "mlp]",
        "[hidden=1]",
        "mlp[a=[1,2]",
        "mlp[a=1]]",
        "",
    ],
)
def test_malformed_items_raise_config_error(text):
    with pytest.raises(ConfigError, match=r"bad item|bad override|unbalanced"):
        parse_item(text)


def test_label_shows_what_the_user_changed():
    assert label("mlp", {}) == "mlp"
    assert label("mlp", {"hidden": [32], "act": "gelu", "dropout": 0.1}) == "mlp[act=gelu,dropout=0.1,hidden=[32]]"
    assert label("sgd", {"nesterov": True}) == "sgd[nesterov=true]"


# ---------------------------------------------------------------------------
# Validating a suite
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("typo", "meant"), [("seed", "seeds"), ("modles", "models"), ("batchsize", "batch_size")])
def test_unknown_setting_suggests_the_close_key(typo, meant):
    with pytest.raises(ConfigError) as raised:
        make_suite({"models": ["mlp"], typo: 1})
    message = str(raised.value)
    assert f"unknown setting {typo!r}" in message
    assert f"did you mean: {meant}" in message
    assert "allowed: " + ", ".join(SUITE_KEYS) in message


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("seeds", 0, "positive count or a list of seeds"),
        ("seeds", "a,b", "expected int values"),
        ("max_epochs", -3, "expected a positive integer"),
        ("max_epochs", 2.5, "expected a positive integer"),
        ("max_epochs", True, "expected a positive integer"),
        ("max_steps", 0, "expected a positive integer"),
        ("warmup_steps", -1, "expected a non-negative integer"),
        ("early_stopping", 0, "expected a positive integer"),
        ("precision", "fp8", "is not one of " + ", ".join(PRECISIONS)),
        ("accelerator", "tpu", "is not one of " + ", ".join(ACCELERATORS)),
        ("batch_size", "abc", "expected int values"),
        ("batch_size", [32, 0], "values must be positive"),
        ("lr", -0.1, "values must be positive"),
        ("lr", "fast", "expected float values"),
        ("target", "high", "expected a number"),
        ("deterministic", "yes", "expected true or false"),
        ("models", 3, "expected a list of names"),
        ("devices", "many", "expected a positive integer"),
    ],
)
def test_bad_values_name_the_field_and_what_is_allowed(field, value, expected):
    with pytest.raises(ConfigError) as raised:
        make_suite({field: value})
    message = str(raised.value)
    assert message.startswith(f"{field}: "), message
    assert expected in message


def test_suite_values_are_normalised():
    built = make_suite(
        {
            "name": "s",
            "models": "mlp, logreg[]",
            "seeds": 3,
            "lr": "0.1,0.01",
            "batch_size": "32,64",
            "devices": "2",
            "precision": "bf16-mixed",
            "max_steps": -1,
            "target": 1,
            "early_stopping": None,
        }
    )
    assert built.models == ("mlp", "logreg[]")
    assert built.seeds == (0, 1, 2)
    assert built.lr == (0.1, 0.01) and all(isinstance(lr, float) for lr in built.lr)
    assert built.batch_size == (32, 64)
    assert built.devices == 2
    assert built.precision == "bf16-mixed"
    assert built.target == 1.0 and isinstance(built.target, float)
    assert built.early_stopping is None  # None means "keep the default"
    assert make_suite({"seeds": [3, 7]}).seeds == (3, 7)
    assert make_suite({"lr": 0.05}).lr == (0.05,)
    assert make_suite({"devices": "auto"}).devices == "auto"
    assert make_suite({}) == Suite()


def test_read_suite_file(tmp_path):
    path = tmp_path / "nightly.toml"
    path.write_text('models = ["mlp"]\nseeds = 2\n')
    values = read_suite_file(path)
    assert values == {"models": ["mlp"], "seeds": 2, "name": "nightly"}  # name defaults to the file stem

    path.write_text('name = "explicit"\nmodels = ["mlp"]\n')
    assert read_suite_file(path)["name"] == "explicit"

    with pytest.raises(ConfigError, match="does not exist"):
        read_suite_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('models = ["mlp"\nseeds = = 2\n')
    with pytest.raises(ConfigError, match=r"bad\.toml is not valid TOML"):
        read_suite_file(bad)


def test_packaged_default_suite_expands(builtins):
    values = read_suite_file(str(resources.files("harness") / "suites" / "default.toml"))
    runs, skipped = expand(make_suite(values), builtins)
    assert values["name"] == "default"
    assert skipped == []
    assert len(runs) == 2 * 1 * 2 * 3  # models x datasets x optimizers x seeds


# ---------------------------------------------------------------------------
# Expanding the grid
# ---------------------------------------------------------------------------


def test_grid_is_the_full_product(builtins):
    lrs, batch_sizes, seeds = [0.1, 0.01, 0.001], [32, 64], [0, 1]
    runs, skipped = expand(
        make_suite(
            {
                "models": ["mlp", "logreg"],
                "datasets": ["digits"],
                "optimizers": ["sgd", "adam"],
                "lr": lrs,
                "batch_size": batch_sizes,
                "seeds": len(seeds),
                "max_epochs": 3,
                "precision": "bf16-mixed",
            }
        ),
        builtins,
    )
    assert skipped == []
    assert len(runs) == 2 * 1 * 2 * len(lrs) * len(batch_sizes) * len(seeds)
    cells = {(r.model, r.dataset, r.optimizer, r.optimizer_params["lr"], r.batch_size, r.seed) for r in runs}
    assert cells == set(itertools.product(["mlp", "logreg"], ["digits"], ["adam", "sgd"], lrs, batch_sizes, seeds))
    assert len({r.key() for r in runs}) == len(runs)
    assert {(r.max_epochs, r.precision) for r in runs} == {(3, "bf16-mixed")}
    assert all(isinstance(r, RunConfig) for r in runs)


def test_defaults_fill_params_when_nothing_is_overridden(builtins):
    (run,), _ = expand(suite(), builtins)
    assert run.model_params == dict(builtins.get("model", "mlp").spec.defaults)
    assert run.dataset_params == dict(builtins.get("dataset", "digits").spec.defaults)
    assert run.optimizer_params == dict(builtins.get("optimizer", "sgd").spec.defaults)
    assert (run.model_label, run.dataset_label, run.optimizer_label) == ("mlp", "digits", "sgd")
    assert run.seed == 0 and run.batch_size == 64


def test_overrides_are_merged_into_params_and_label(builtins):
    runs, _ = expand(
        suite(
            models=["mlp[hidden=[32]]"], datasets=["digits[split_seed=1]"], optimizers=["sgd[momentum=0.9]"], lr=[0.05]
        ),
        builtins,
    )
    (run,) = runs
    assert run.model == "mlp"
    assert run.model_params == {"hidden": [32], "dropout": 0.0, "activation": "relu"}
    assert run.model_label == "mlp[hidden=[32]]"
    assert run.dataset_params["split_seed"] == 1 and run.dataset_label == "digits[split_seed=1]"
    assert run.optimizer_params["momentum"] == 0.9 and run.optimizer_params["lr"] == 0.05
    assert run.optimizer_label == "sgd[lr=0.05,momentum=0.9]"
    assert builtins.get("model", "mlp").spec.defaults["hidden"] == [128, 64]  # the spec is untouched


def test_unknown_override_suggests_the_parameter(builtins):
    with pytest.raises(ConfigError) as raised:
        expand(suite(models=["mlp[hiden=3]"]), builtins)
    message = str(raised.value)
    assert "model mlp has no parameter 'hiden'" in message
    assert "did you mean: hidden" in message
    assert "parameters: activation, dropout, hidden" in message
    with pytest.raises(ConfigError, match="optimizer sgd has no parameter 'momentun'.*did you mean: momentum"):
        expand(suite(optimizers=["sgd[momentun=0.9]"]), builtins)
    with pytest.raises(ConfigError, match="model logreg has no parameter 'hidden'; parameters: none"):
        expand(suite(models=["l*[hidden=3]"]), builtins)  # a wildcard's overrides are checked per match


def test_unknown_names_and_empty_selections(builtins):
    with pytest.raises(UnknownNameError, match="did you mean: mlp"):
        expand(suite(models=["mlpp"]), builtins)
    with pytest.raises(ConfigError, match="datasets: nothing selected"):
        expand(make_suite({"models": ["mlp"], "optimizers": ["sgd"]}), builtins)
    assert issubclass(ConfigError, HarnessError) and issubclass(UnknownNameError, HarnessError)


def test_incompatible_pairs_are_skipped_with_the_reason(tmp_path):
    path = write_plugin(
        tmp_path,
        "odd_data",
        datasets=[
            dataset("prices", task="regression", modality="tabular"),
            dataset("reviews", task="classification", modality="tokens"),
        ],
    )
    registry = Registry(load_plugins(paths=[path]))
    runs, skipped = expand(
        make_suite({"models": ["mlp"], "datasets": ["digits", "prices", "reviews"], "optimizers": ["sgd"], "seeds": 2}),
        registry,
    )
    assert [(r.model, r.dataset) for r in runs] == [("mlp", "digits")] * 2
    assert skipped == [
        ("mlp", "prices", "model mlp does classification, dataset prices is regression"),
        ("mlp", "reviews", "model mlp reads image/tabular/sequence, dataset reviews is tokens"),
    ]

    runs, skipped = expand(
        make_suite({"models": ["logreg", "mlp*"], "datasets": ["reviews"], "optimizers": ["*"]}), registry
    )
    assert runs == [] and [(m, d) for m, d, _ in skipped] == [
        ("logreg", "reviews"),
        ("mlp", "reviews"),
        ("mlp_regressor", "reviews"),
    ]


def test_duplicate_items_are_deduplicated(builtins):
    runs, _ = expand(
        make_suite(
            {
                "models": ["mlp", "mlp", "ml?"],
                "datasets": ["digits", "d*"],
                "optimizers": ["sgd", "s*"],
                "seeds": [0, 1],
                "batch_size": [64, 64],
            }
        ),
        builtins,
    )
    assert [(r.model, r.optimizer, r.seed) for r in runs] == [("mlp", "sgd", 0), ("mlp", "sgd", 1)]
    different, _ = expand(suite(models=["mlp", "mlp[hidden=[8]]"]), builtins)
    assert [r.model_label for r in different] == ["mlp", "mlp[hidden=[8]]"]


# ---------------------------------------------------------------------------
# RunConfig.key(): the name of a record
# ---------------------------------------------------------------------------


def _changed(value):
    """A different value of the same kind, for every type a RunConfig field holds."""
    if isinstance(value, bool) or value is None:
        return not value if isinstance(value, bool) else 1
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, dict):
        return {**value, "extra": 1}
    raise AssertionError(f"teach _changed about {type(value).__name__}")


@pytest.fixture(scope="module")
def base_run(builtins) -> RunConfig:
    (run,), _ = expand(suite(models=["mlp[hidden=[32]]"], lr=[0.01], target=0.9), builtins)
    return run


def test_key_is_stable(base_run):
    key = base_run.key()
    assert key == base_run.key()
    assert len(key) == 16 and int(key, 16) >= 0
    assert RunConfig.from_dict(base_run.as_dict()).key() == key
    assert RunConfig.from_dict({**base_run.as_dict(), "unknown_field": 1}).key() == key
    shuffled = dataclasses.replace(base_run, model_params=dict(reversed(list(base_run.model_params.items()))))
    assert shuffled.key() == key  # insertion order of params does not matter

    code = (
        "import json, sys\nfrom harness.config import RunConfig\n"
        "print(RunConfig.from_dict(json.loads(sys.argv[1])).key())"
    )
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(base_run.as_dict())],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert out.stdout.strip() == key  # and across processes


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(RunConfig)])
def test_key_changes_with_every_field(base_run, name):
    changed = dataclasses.replace(base_run, **{name: _changed(getattr(base_run, name))})
    assert changed != base_run
    assert changed.key() != base_run.key()


def test_a_built_in_suite_is_found_by_name_from_any_folder(tmp_path):
    from harness.config import resolve_suite

    assert resolve_suite("mnist1d-paper").name == "mnist1d-paper"  # tests run in a temporary folder
    (tmp_path / "mine.toml").write_text('name = "mine"\nmodels = ["mlp"]\n')
    assert resolve_suite("mine.toml").name == "mine"
    with pytest.raises(ConfigError, match="suite file nope does not exist"):
        resolve_suite("nope")
