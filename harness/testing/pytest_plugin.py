"""harness's pytest plugin (entry point ``pytest11``, name ``harness``; ``-p no:harness`` turns it off).

It gives tests the session fixture ``harness_registry`` (every installed plugin, loaded once) and the option
``--harness-check PLUGIN`` (repeatable): pytest then also runs every check of that plugin
(:func:`harness.testing.checks`), one test each, without a test file. pytest loads this module in every run of
every project in the environment, so importing it imports no torch and loads no plugin.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser) -> None:
    group = parser.getgroup("harness", "harness plugin contract")
    group.addoption(
        "--harness-check",
        action="append",
        default=[],
        metavar="PLUGIN",
        help="also run every contract check of the harness plugin PLUGIN (an entry-point name, its module or "
        "its distribution), one test each (repeatable)",
    )


@pytest.fixture(scope="session")
def harness_registry():
    """Every installed harness plugin's specs, loaded once per test session."""
    from harness.testing.common import default_registry

    return default_registry()


class HarnessCheck(pytest.Item):
    """One contract check of a plugin, run as a test; a spec unusable here is a skip with its reason."""

    def __init__(self, *, check, **kwargs):
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        from harness.testing.plugins import skip_when_unavailable

        skip_when_unavailable(self.check)()

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, AssertionError):  # the check's message says it all; no traceback of the kit
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"harness check {self.name}"


class HarnessChecks(pytest.Collector):
    """The checks of one plugin named with ``--harness-check``."""

    def collect(self):
        from harness.testing.plugins import Check, checks

        try:
            found = checks(self.name)
        except AssertionError as exc:  # not found: one failing test that says so, rather than an internal error
            found = [Check(f"plugin-{self.name}-is-found", lambda exc=exc: _raise(exc))]
        return [HarnessCheck.from_parent(self, name=check.name, check=check) for check in found]


def _raise(exc: BaseException):
    raise exc


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect, so they apply to the checks too
def pytest_collection_modifyitems(session, config, items) -> None:
    for plugin in config.getoption("harness_check"):
        collector = HarnessChecks.from_parent(session, name=plugin, nodeid=f"harness-check/{plugin}")
        found = collector.collect()
        # reported like any collected node, so that "collected N items" and --collect-only count the checks
        config.hook.pytest_collectreport(report=pytest.CollectReport(collector.nodeid, "passed", None, found))
        items.extend(found)
