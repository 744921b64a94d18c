import os

import pytest

from tests import FIXTURES


@pytest.fixture(autouse=True)
def _no_results_in_repo(tmp_path, monkeypatch):
    """Tests run in a temporary folder, so a default results/ never lands in the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def registry():
    """The built-in plugins only."""
    from harness.api import load_registry

    return load_registry()


@pytest.fixture(scope="session")
def test_registry():
    """Built-ins plus the test models that fail, diverge or bring their own LightningModule."""
    from harness.api import load_registry

    return load_registry(plugins=[FIXTURES / "test_models.py"])


def pytest_configure(config):
    os.environ.setdefault("PYTHONHASHSEED", "0")
