"""The po/ family: every optimizer of pytorch-optimizer, each either training in the harness's loop or refused
with its reason before anything trains, never a third outcome."""

import math
import subprocess
import sys

import pytest

pytest.importorskip(
    "pytorch_optimizer", reason="pytorch-optimizer is not installed (pip install pytorch-optimizer, or extra [zoo])"
)

import torch  # noqa: E402
from harness_zoo_optim import zoo  # noqa: E402

import harness  # noqa: E402
from harness import cli  # noqa: E402
from harness.errors import ConfigError, UnknownNameError  # noqa: E402
from harness.specs import OptimizerSpec, space_key_problem  # noqa: E402

NAMES = zoo.names()

#: Members whose defaults cannot move this tiny model in three steps, by design or by a known quirk, and the
#: settings the contract test gives them instead (each a documented parameter of the optimizer).
PROBE_SETTINGS = {
    # it steps with the gradient of keep_num steps ago: with the default 10, its first 10 steps change nothing
    "po/adashift": {"keep_num": 1},
    # no update until its variance rectification is defined (about 5 steps) unless it may fall back to SGD
    "po/radam": {"degenerated_to_sgd": True},
    # pytorch-optimizer 4.1.0's Ranger steps along +momentum (uphill) before rectification; SGD fallback avoids it
    "po/ranger": {"degenerated_to_sgd": True},
    # its first step projects every neuron onto zero mean and unit norm, which raises this regression's loss
    "po/nero": {"constraints": False},
    # a fine-tuning method: it trains only weights whose initial magnitude is under threshold (1e-3): none here
    "po/sara": {"threshold": 1.0},
}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Family sizes are remembered in the cache folder: a test's own, never the user's."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def problem():
    """A small linear regression on fixed random data, CPU and float32, built once: inputs, targets, first weights."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(64, 8, generator=generator)
    targets = inputs @ torch.randn(8, 4, generator=generator) + 0.1 * torch.randn(64, 4, generator=generator)
    torch.manual_seed(0)
    start = torch.nn.Linear(8, 4).state_dict()
    return inputs, targets, start


def _train(spec: OptimizerSpec, params: dict, problem, steps: int = 3) -> list[float]:
    """The losses before each step and after the last, stepping as the harness's loop does (no closure)."""
    inputs, targets, start = problem
    model = torch.nn.Linear(8, 4)
    model.load_state_dict(start)
    optimizer = spec.build(model.parameters(), **params)
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        losses.append(torch.nn.functional.mse_loss(model(inputs), targets).item())
    return losses


@pytest.mark.parametrize("name", NAMES)
def test_every_member_trains_three_steps_or_says_why(name, problem):
    spec = zoo.resolve(name)
    assert isinstance(spec, OptimizerSpec) and spec.name == name and spec.description
    assert all(space_key_problem(key, spec.defaults) is None for key in spec.search_space)
    params = {**spec.defaults, **PROBE_SETTINGS.get(name, {})}
    reason = spec.check(**params)
    if reason is not None:
        assert isinstance(reason, str) and reason.strip(), f"{name}: a check gives a reason or None"
        return
    assert spec.validate(params) is None
    losses = _train(spec, params, problem)
    assert all(math.isfinite(loss) for loss in losses), f"{name}: {losses}"
    assert losses[-1] < losses[0], f"{name}: the loss did not decrease: {losses}"


def test_listing_the_family_imports_neither_torch_nor_the_package():
    code = (
        "import sys, harness_zoo_optim as p; (family,) = p.harness_register_families(); "
        "assert family.check() is None and family.prefix == 'po/'; "
        "print(sorted(m for m in ('torch', 'pytorch_optimizer') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_family_through_the_registry(registry):
    spec = registry.get("optimizer", "po/lion").spec
    assert spec.defaults["betas"] == [0.9, 0.99] and spec.defaults["lr"] == 1e-4
    assert set(spec.search_space) == {"lr", "weight_decay"} and spec.search_space["lr"].log
    with pytest.raises(UnknownNameError, match=r"unknown optimizer 'po/lino' \(did you mean: po/lion"):
        registry.get("optimizer", "po/lino")
    expanded = registry.select("optimizer", "po/ada*")
    assert {"po/adam", "po/adamw", "po/adan", "po/adabelief"} <= set(expanded)
    assert all(name.startswith("po/ada") for name in expanded)


def test_overrides_are_checked_by_name_type_and_the_optimizers_own_rules(registry):
    harness.plan(models="logreg", datasets="digits", optimizers="po/lion[betas=[0.95,0.98]]", registry=registry)
    with pytest.raises(ConfigError, match=r"no parameter 'betaz' \(did you mean: betas"):
        harness.plan(models="logreg", datasets="digits", optimizers="po/lion[betaz=[0.9,0.99]]", registry=registry)
    with pytest.raises(ConfigError, match=r"Lion refuses these parameters: beta2 must be in the range"):
        harness.plan(models="logreg", datasets="digits", optimizers="po/lion[betas=[0.9,1.5]]", registry=registry)


def test_harness_list_shows_the_family_as_one_line(capsys):
    assert cli.main(["list", "optimizers"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "po/" in line]
    assert len(lines) == 1 and "po/<name>" in lines[0] and "optimizers from pytorch-optimizer" in lines[0]


def test_an_unusable_member_is_refused_with_its_reason_before_anything_trains(registry):
    with pytest.raises(ConfigError, match=r"optimizer po/lbfgs is unavailable: its step needs a closure"):
        harness.plan(models="logreg", datasets="digits", optimizers="po/lbfgs", registry=registry)
    with pytest.raises(ConfigError, match=r"po/adahessian is unavailable: .*create_graph=True"):
        harness.plan(models="logreg", datasets="digits", optimizers="po/adahessian", registry=registry)
    with pytest.raises(ConfigError, match=r"po/ranger21 is unavailable: it needs num_iterations"):
        harness.plan(models="logreg", datasets="digits", optimizers="po/ranger21", registry=registry)
    plan = harness.plan(models="logreg", datasets="digits", optimizers="po/ranger21[num_iterations=500]",
                        registry=registry)  # fmt: skip
    assert plan is not None  # given its required argument, it is usable


def test_an_optimizer_without_a_learning_rate_says_so_and_still_takes_a_schedule(problem):
    from harness.schedules import SCHEDULES, build_schedule

    spec = zoo.resolve("po/a2grad")
    assert "it has no learning rate" in spec.description
    model = torch.nn.Linear(8, 4)
    optimizer = spec.build(model.parameters(), **spec.defaults)
    schedule = build_schedule(optimizer, "cosine", dict(SCHEDULES["cosine"].defaults), total_steps=10)
    model(problem[0]).sum().backward()
    optimizer.step()
    schedule.step()


def test_a_member_trains_in_a_worker(tmp_path):
    result = harness.run(models="logreg", datasets="digits", optimizers="po/lion", seeds=1, max_epochs=2,
                         output=tmp_path / "out", jobs=1)  # fmt: skip
    (record,) = result.records
    assert record["status"] == "ok", record.get("reason")
    assert record["config"]["optimizer"] == "po/lion" and record["results"]["test_metric"] > 0.1


@pytest.mark.slow
def test_tuning_gives_a_member_the_same_budget_as_a_built_in(tmp_path):
    result = harness.tune(models="logreg", datasets="digits", optimizers="adamw,po/lion", trials=2, seeds=1,
                          max_epochs=1, launcher="inline", output=tmp_path / "tuned")  # fmt: skip
    by_optimizer = {choice.base.optimizer: choice for choice in result.choices}
    assert set(by_optimizer) == {"adamw", "po/lion"}
    assert by_optimizer["adamw"].trials == by_optimizer["po/lion"].trials == 2
    searched = [record["config"]["optimizer"] for record in result.search.records]
    assert sorted(searched) == ["adamw", "adamw", "po/lion", "po/lion"]
    assert {"optimizer.lr", "optimizer.weight_decay"} <= set(by_optimizer["po/lion"].space)
    assert all(record["status"] == "ok" for record in result.final.records)
