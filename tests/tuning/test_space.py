"""What a tuning searches: declared spaces, --space overrides, and how a drawn point becomes a run."""

import re

import pytest

from harness.config import expand, make_suite
from harness.errors import ConfigError
from harness.specs import OptimizerSpec, SearchParam, SpecError
from harness.tuning.space import apply, check_overrides, describe, parse_space, space_for


def _base(registry, **settings):
    suite = make_suite({"models": "logreg", "datasets": "digits", "seeds": 1, **settings})
    runs, _ = expand(suite, registry)
    return runs


def test_every_built_in_optimizer_declares_a_space_with_its_learning_rate(registry):
    for info in registry.entries("optimizer"):
        space = info.spec.search_space
        assert "lr" in space and space["lr"].log, info.name
        assert space["lr"].low < info.spec.defaults["lr"] < space["lr"].high, info.name


def test_the_declared_space_with_overrides(registry):
    sgd, adam = _base(registry, optimizers="sgd,adam")
    assert set(space_for(sgd, registry, {})) == {"optimizer.lr", "optimizer.weight_decay"}
    assert set(space_for(adam, registry, {})) == {"optimizer.lr", "optimizer.betas[0]"}
    overrides = parse_space(["adam.lr=1e-3:1e-2:log", "weight_decay=off", "1-betas[0]=0.01:0.2:log"])
    assert set(space_for(sgd, registry, overrides)) == {"optimizer.lr"}  # adam.lr is adam's alone
    adam_space = space_for(adam, registry, overrides)
    assert adam_space["optimizer.lr"] == SearchParam(1e-3, 1e-2, log=True)
    assert adam_space["optimizer.betas[0]"] == SearchParam(0.01, 0.2, log=True, one_minus=True)
    assert describe(adam_space) == {"1-optimizer.betas[0]": "0.01..0.2 log", "optimizer.lr": "0.001..0.01 log"}


def test_a_parameter_fixed_in_brackets_is_not_searched(registry):
    sgd, adam, adamw = _base(registry, optimizers="sgd[weight_decay=0],adam[betas=[0.8,0.99]],adamw",
                             schedules="warmup_cosine[warmup=0.05]")  # fmt: skip
    assert set(space_for(sgd, registry, {})) == {"optimizer.lr", "schedule.warmup"}
    assert set(space_for(adam, registry, {})) == {"optimizer.lr", "schedule.warmup"}  # betas[0] is part of betas
    assert set(space_for(adamw, registry, {})) == {"optimizer.lr", "optimizer.betas[0]", "optimizer.weight_decay",
                                                   "schedule.warmup"}  # fmt: skip
    (mlp,) = expand(make_suite({"models": "mlp[dropout=0.2]", "datasets": "digits", "optimizers": "sgd", "seeds": 1}),
                    registry)[0]  # fmt: skip
    assert "model.dropout" not in space_for(mlp, registry, parse_space(["model.dropout=0:0.5"]))
    (fixed,) = _base(registry, optimizers="sgd[lr=0.1,weight_decay=0]")
    with pytest.raises(ConfigError, match=r"sgd\[lr=0.1,weight_decay=0\]: nothing is left to search"):
        space_for(fixed, registry, {})


def test_a_schedule_parameter_is_searched_only_with_its_schedule(registry):
    (constant,) = _base(registry, optimizers="adam")
    (warm,) = _base(registry, optimizers="adam", schedules="warmup_cosine")
    assert "schedule.warmup" not in space_for(constant, registry, {})
    assert space_for(warm, registry, {})["schedule.warmup"] == SearchParam(0.01, 0.1)


def test_a_drawn_point_is_an_ordinary_labelled_run(registry):
    (warm,) = _base(registry, optimizers="adam", schedules="warmup_cosine")
    space = space_for(warm, registry, {})
    drawn = {"optimizer.lr": 0.0123456, "1-optimizer.betas[0]": 0.05, "schedule.warmup": 0.0333333}
    run = apply(warm, space, drawn, registry, seed=3)
    assert run.optimizer_params["lr"] == 0.01235 and run.optimizer_params["betas"] == [0.95, 0.999]
    assert run.schedule_params["warmup"] == 0.03333 and run.seed == 3
    assert run.optimizer_label == "adam[betas=[0.95, 0.999],lr=0.01235]/warmup_cosine[warmup=0.03333]"
    assert warm.optimizer_params["betas"] == [0.9, 0.999]  # the base run is left alone


def test_a_model_parameter_can_be_searched(registry):
    suite = make_suite({"models": "mlp", "datasets": "digits", "optimizers": "sgd", "seeds": 1})
    (mlp,), _ = expand(suite, registry)
    space = space_for(mlp, registry, parse_space(["model.dropout=0:0.5", "model.activation=relu|tanh"]))
    assert space["model.dropout"] == SearchParam(0, 0.5) and space["model.activation"].choices == ("relu", "tanh")
    drawn = {"optimizer.lr": 0.1, "optimizer.weight_decay": 1e-4, "model.dropout": 0.25, "model.activation": "tanh"}
    run = apply(mlp, space, drawn, registry, seed=0)
    assert run.model_params["dropout"] == 0.25 and run.model_label == "mlp[activation=tanh,dropout=0.25]"


def test_an_optimizer_without_a_space_searches_its_rate_a_decade_either_side(registry, monkeypatch):
    (sgd,) = _base(registry, optimizers="sgd")
    from dataclasses import replace

    bare = OptimizerSpec("sgd", lambda params, lr: None, {"lr": 0.1, "weight_decay": 0.0})
    get = registry.get
    monkeypatch.setattr(registry, "get", lambda kind, name: replace(get(kind, name), spec=bare) if kind == "optimizer"
                        else get(kind, name))  # fmt: skip
    assert space_for(sgd, registry, {}) == {"optimizer.lr": SearchParam(0.01, 1.0, log=True)}


@pytest.mark.parametrize(
    "item, message",
    [
        ("lr=1:0.1", "low must be below high"),
        ("lr=0:1:log", "a log scale needs low > 0"),
        ("lr=1e-3:1:cubic", "unknown flag 'cubic'"),
        ("width=1.5:8:int", "an int range needs whole-number bounds"),
        ("1-momentum=0.1:2:log", "one_minus bounds 1 - value"),
        ("lr", "expected NAME=LOW:HIGH"),
        ("l r=1:2", "expected a parameter name"),
    ],
)
def test_a_bad_range_is_a_one_line_error(item, message):
    with pytest.raises(ConfigError, match=message):
        parse_space([item])


def test_an_override_must_address_some_run(registry):
    runs = _base(registry, optimizers="sgd,adam")
    check_overrides(parse_space(["adam.betas[0]=0.8|0.9", "weight_decay=0:0.1"]), runs)
    for key in ("rmsprop.lr", "betas[3]", "schedule.warmup"):
        with pytest.raises(ConfigError, match=re.escape(f"--space {key}: no run of this tuning has that parameter")):
            check_overrides(parse_space([f"{key}=0.1:0.2"]), runs)


def test_a_spec_with_a_bad_space_is_refused_when_built():
    with pytest.raises(SpecError, match="'lrr' is not one of its parameters"):
        OptimizerSpec("x", lambda params, lr: None, {"lr": 0.1}, search_space={"lrr": SearchParam(0.1, 1)})
    with pytest.raises(SpecError, match="must be a SearchParam"):
        OptimizerSpec("x", lambda params, lr: None, {"lr": 0.1}, search_space={"lr": (0.1, 1)})
    with pytest.raises(SpecError, match="a choice needs at least one value"):
        SearchParam(kind="choice")
