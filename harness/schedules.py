"""Learning-rate schedules, selectable per run (``--schedule cosine``, ``warmup_cosine[warmup=0.1]``).

Every schedule steps once per optimizer step and is defined over the run's
total number of steps, so it means the same thing for any dataset size or
epoch count. The set is fixed by the harness so schedules compare fairly
across optimizers; each has documented parameters with defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Schedule:
    name: str
    description: str
    defaults: dict = field(default_factory=dict)


SCHEDULES = {
    s.name: s
    for s in (
        Schedule("constant", "the optimizer's learning rate throughout"),
        Schedule(
            "step", "multiply by gamma at the given fractions of training", {"milestones": [0.5, 0.75], "gamma": 0.1}
        ),
        Schedule("cosine", "cosine decay from lr to min_ratio * lr over the run", {"min_ratio": 0.0}),
        Schedule(
            "warmup_cosine",
            "linear warm-up over the first `warmup` fraction of steps, then cosine decay",
            {"warmup": 0.05, "min_ratio": 0.0},
        ),
        Schedule(
            "onecycle",
            "one-cycle policy (Smith & Topin): up to max_lr_ratio * lr, then annealed down (also cycles momentum)",
            {"max_lr_ratio": 1.0, "pct_start": 0.3},
        ),
    )
}


def _factor(name: str, params: dict, total: int):
    """The multiplier of the base learning rate at step ``t`` for the LambdaLR schedules."""
    if name == "constant":
        return lambda t: 1.0
    if name == "step":
        marks = sorted(int(float(m) * total) for m in params["milestones"])
        return lambda t: params["gamma"] ** sum(t >= m for m in marks)
    warmup = int(params.get("warmup", 0.0) * total)
    floor = params["min_ratio"]

    def cosine(t):
        if t < warmup:
            return (t + 1) / warmup
        progress = min(1.0, (t - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return cosine


def _momentum_cycles(group: dict) -> bool:
    """Whether OneCycleLR can cycle this group's momentum: SGD's ``momentum`` above 0, or Adam's two ``betas``.

    It rewrites ``betas[0]``; an optimizer with another number of betas (AggMo's list of momenta, which keys its
    state by their values) would break, so its momentum is left alone.
    """
    if "betas" in group:
        return isinstance(group["betas"], (tuple, list)) and len(group["betas"]) == 2
    return isinstance(group.get("momentum"), (int, float)) and group["momentum"] > 0


def build_schedule(optimizer, name: str, params: dict, total_steps: int):
    """The torch LR scheduler for ``name``, stepping per optimizer step over ``total_steps``."""
    import torch

    total = max(1, int(total_steps))
    if name == "onecycle":
        max_lrs = [group["lr"] * params["max_lr_ratio"] for group in optimizer.param_groups]
        cycle_momentum = all(_momentum_cycles(group) for group in optimizer.param_groups)
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=max_lrs,
            total_steps=total + 1,
            pct_start=params["pct_start"],
            cycle_momentum=cycle_momentum,
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, _factor(name, params, total))
