"""``check_optimizer``: an optimizer builds from its defaults and goes downhill on a quadratic."""

from __future__ import annotations

import math

from harness.registry import Registry
from harness.testing.common import accepts_defaults, default_registry, failure, require_usable, resolve

#: Steps on ``sum(w**2)`` after which the loss must be below where it started.
STEPS = 20


def check_optimizer(spec_or_name, registry: Registry | None = None) -> None:
    """Check that an optimizer keeps the plugin contract; raise AssertionError naming it and the fault, or
    :class:`~harness.testing.Unavailable` when its ``check()`` says it cannot be used here.

    Its ``validate`` accepts its defaults; ``build([weight], **defaults)`` returns a ``torch.optim.Optimizer``;
    20 steps on ``sum(weight**2)`` from a seeded random start keep the loss finite and end below where it began.
    """
    import torch

    entry = resolve("optimizer", spec_or_name, registry or default_registry())
    accepts_defaults(entry)
    require_usable(entry)
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(8))
    try:
        optimizer = entry.spec.build([weight], **dict(entry.spec.defaults))
    except Exception as exc:
        raise failure(entry, "build([weight], **defaults) raised", exc) from exc
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise failure(entry, f"build() returned {type(optimizer).__name__}, not a torch.optim.Optimizer")
    start = float((weight.detach() ** 2).sum())
    for step in range(STEPS):
        optimizer.zero_grad()
        (weight**2).sum().backward()
        try:
            optimizer.step()
        except Exception as exc:
            raise failure(entry, f"step {step} on a quadratic raised", exc) from exc
    end = float((weight.detach() ** 2).sum())
    if not math.isfinite(end) or end >= start:
        raise failure(entry, f"{STEPS} steps on sum(w**2) with its defaults did not descend: {start:.4g} -> {end:.4g}")
