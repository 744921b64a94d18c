"""Learning-rate schedules shape the learning rate as documented, and a run applies the one it is given."""

import pytest
import torch

import harness
from harness.schedules import SCHEDULES, build_schedule

TINY = {"seeds": 1, "max_epochs": 3}


def _lrs(name, params, total=100, lr=1.0):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)
    scheduler = build_schedule(optimizer, name, {**SCHEDULES[name].defaults, **params}, total)
    seen = []
    for _ in range(total):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen


def test_schedule_shapes():
    assert set(_lrs("constant", {})) == {1.0}
    step = _lrs("step", {})
    assert step[49] == 1.0 and step[50] == pytest.approx(0.1) and step[75] == pytest.approx(0.01)
    cosine = _lrs("cosine", {})
    assert cosine[0] == 1.0 and cosine[50] == pytest.approx(0.5, abs=0.02) and cosine[-1] < 0.01
    warm = _lrs("warmup_cosine", {"warmup": 0.1})
    assert warm[0] == pytest.approx(0.1) and warm[9] == pytest.approx(1.0) and warm[-1] < 0.01
    assert all(a < b for a, b in zip(warm[:9], warm[1:10], strict=True))
    cycle = _lrs("onecycle", {})
    peak = max(range(100), key=cycle.__getitem__)
    assert 25 <= peak <= 35 and cycle[peak] == pytest.approx(1.0, rel=0.02) and cycle[-1] < 0.01


class ManyBetas(torch.optim.SGD):
    """An optimizer with three betas, as AggMo has: its state is keyed by their values."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        for group in self.param_groups:
            group["betas"] = (0.0, 0.9, 0.99)


def test_onecycle_cycles_momentum_only_where_it_can():
    param = torch.nn.Parameter(torch.zeros(1))
    for optimizer, cycles in [
        (torch.optim.SGD([param], lr=1.0, momentum=0.9), True),
        (torch.optim.Adam([param], lr=1.0), True),
        (torch.optim.SGD([param], lr=1.0), False),  # no momentum to cycle
        (ManyBetas([param], lr=1.0), False),  # betas[0] rewritten would break it
    ]:
        scheduler = build_schedule(optimizer, "onecycle", dict(SCHEDULES["onecycle"].defaults), 10)
        assert scheduler.cycle_momentum is cycles, type(optimizer).__name__
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["betas"] == (0.0, 0.9, 0.99)


def test_schedule_is_applied_in_a_run(tmp_path, registry):
    common = {"models": "logreg", "datasets": "digits", "optimizers": "sgd", "registry": registry, **TINY}
    constant = harness.run(launcher="inline", output=tmp_path / "a", **common).records[0]
    frozen = harness.run(
        launcher="inline", output=tmp_path / "b", schedules="step[milestones=[0.0],gamma=1e-9]", **common
    ).records[0]
    assert constant["results"]["test_metric"] > 0.8
    assert frozen["results"]["test_metric"] < 0.3  # lr is ~0 from the first step: nothing is learned
    assert frozen["config"]["optimizer_label"] == "sgd/step[gamma=1e-09,milestones=[0.0]]"
