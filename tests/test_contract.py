"""The plugin contract, checked on every built-in plugin through ``harness.testing``: the kit an outside plugin's
author runs is exercised here on every CI run.

Each plugin loads, registers something, shares no name and refuses unknown parameters; each dataset loads
offline with the shapes and classes it declares; each model trains on a tiny slice of every compatible dataset
and overfits a fixed tiny batch; each optimizer steps downhill; every spec's ``validate`` accepts its defaults.
A spec unusable here (files or a package missing) is skipped with its reason.
"""

from harness import DISTRIBUTION
from harness.testing import parametrize_with_checks
from harness.testing.common import default_registry

REGISTRY = default_registry()


def test_every_builtin_family_is_registered():
    assert len(REGISTRY.entries("model")) >= 10 and len(REGISTRY.entries("optimizer")) >= 9
    assert {"classification", "regression", "seq2seq"} == {d.spec.task for d in REGISTRY.entries("dataset")}


@parametrize_with_checks(DISTRIBUTION, REGISTRY)  # the distribution: every built-in plugin
def test_builtin_plugins_keep_the_contract(check):
    check()
