"""``harness tune``: equal-budget studies per optimizer per workload, chosen on validation, rerun with N seeds.

:mod:`~harness.tuning.space` says what is searched, :mod:`~harness.tuning.studies`
draws the points and remembers them (Optuna), :mod:`~harness.tuning.search`
trains the trials and picks each study's best, :mod:`~harness.tuning.final`
reruns the picks and writes them down, :mod:`~harness.tuning.grid` is the
grid sampler's learning rates.
"""

from harness.tuning.final import Choice, TuneResult
from harness.tuning.grid import DEFAULT_FACTORS, at_rate, grid_for
from harness.tuning.search import DEFAULT_TRIALS, execution_options, score, tune
from harness.tuning.studies import SAMPLERS

__all__ = [
    "DEFAULT_FACTORS", "DEFAULT_TRIALS", "SAMPLERS", "Choice", "TuneResult", "at_rate", "execution_options",
    "grid_for", "score", "tune",
]  # fmt: skip
