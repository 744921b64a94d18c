"""The ``grid`` sampler's points: learning rates around each optimizer's default, as ``harness tune`` first did.

A grid of multiples of the default rate (half-decade steps) gives every
optimizer the same number of trials at the same relative spacing, and is the
one sampler whose trials can be read at a glance. ``--lr-grid`` gives the
rates themselves, the same for every optimizer.
"""

from __future__ import annotations

import math
from dataclasses import replace

from harness.config import RunConfig, optimizer_label
from harness.errors import ConfigError

#: The default grid: these multiples of each optimizer's default learning rate (half-decade steps).
DEFAULT_FACTORS = (0.1, 0.3, 1.0, 3.0, 10.0)


def grid_for(config: RunConfig, registry, lr_grid) -> list[float]:
    """The rates to try: ``lr_grid`` when given, else :data:`DEFAULT_FACTORS` times the optimizer's default."""
    if lr_grid:
        rates = sorted({float(lr) for lr in lr_grid})
        if not all(math.isfinite(lr) and lr > 0 for lr in rates):
            raise ConfigError(f"lr_grid: learning rates must be finite numbers above 0, got {list(lr_grid)}")
        return rates
    default = registry.get("optimizer", config.optimizer).spec.defaults.get("lr")
    if not isinstance(default, (int, float)) or default <= 0:
        raise ConfigError(f"optimizer {config.optimizer} declares no default lr; give the grid with --lr-grid")
    return sorted({float(f"{default * factor:.3g}") for factor in DEFAULT_FACTORS})


def at_rate(config: RunConfig, lr: float, seed: int, registry) -> RunConfig:
    """``config`` trained at learning rate ``lr`` with ``seed``, labelled as the grid would label it."""
    params = {**config.optimizer_params, "lr": lr}
    spec = registry.get("optimizer", config.optimizer).spec
    return replace(config, optimizer_params=params, optimizer_label=optimizer_label(config, spec, params), seed=seed)
