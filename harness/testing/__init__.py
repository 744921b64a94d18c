"""The plugin contract as checks a plugin's author runs from their own tests (``harness.testing``).

The checks the built-in plugins pass (``tests/test_contract.py`` runs them), in the spirit of scikit-learn's
``check_estimator``::

    from harness.testing import check_model, parametrize_with_checks

    @parametrize_with_checks("harness_demo")    # one test per check: model-demo_model-overfits-on-digits, ...
    def test_harness_contract(check):
        check()

A check returns when the contract holds, raises ``AssertionError`` naming the plugin, the spec and what broke,
or :class:`Unavailable` (a skip under pytest) when the spec's ``check()`` says it cannot be used here. pytest
gets the fixture ``harness_registry`` and the option ``--harness-check PLUGIN`` from
:mod:`harness.testing.pytest_plugin`. Importing this package imports no torch: pytest loads it in every run.
"""

from harness.testing.common import Unavailable
from harness.testing.datasets import check_dataset
from harness.testing.models import check_model
from harness.testing.optimizers import check_optimizer
from harness.testing.plugins import Check, check_plugin, checks, parametrize_with_checks, plugin_names

__all__ = [
    "Check",
    "Unavailable",
    "check_dataset",
    "check_model",
    "check_optimizer",
    "check_plugin",
    "checks",
    "parametrize_with_checks",
    "plugin_names",
]
