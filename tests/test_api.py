"""harness's top-level names: the functions of harness.api, whatever submodules have been imported."""

import importlib
import inspect
import subprocess
import sys

import pytest

import harness
import harness.api


def test_the_facade_names_are_the_api_functions_even_after_every_submodule_loads():
    for name in ("harness.tuning", "harness.reporting.export", "harness.reporting.compare", "harness.sweep"):
        importlib.import_module(name)  # importing a submodule sets the package attribute of its name
    for name in ("run", "tune", "report", "compare"):
        assert getattr(harness, name) is getattr(harness.api, name)
        assert inspect.isfunction(getattr(harness, name))
    assert "suite_file" in inspect.signature(harness.tune).parameters  # the real signature, not (*args, **kwargs)
    assert set(harness.__all__) >= {"hookimpl", "ModelSpec", "lazy", "run", "tune", "report", "compare"}


def test_importing_harness_loads_neither_torch_nor_the_api():
    probe = (
        "import sys, harness\n"
        "from harness import hookimpl, ModelSpec, DatasetSpec, OptimizerSpec, DatasetInfo, DatasetSplits, lazy\n"
        "print(sorted(m for m in ('torch', 'pandas', 'harness.api') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _refuse_training(monkeypatch):
    def trained(*args, **kwargs):
        raise AssertionError("training started before the output path was checked")

    monkeypatch.setattr(harness.api, "run_configs", trained)
    monkeypatch.setattr(importlib.import_module("harness.tuning.search"), "run_configs", trained)


def test_the_python_api_checks_output_paths_as_the_cli_does(tmp_path, monkeypatch):
    import pytest

    from harness.errors import ConfigError

    _refuse_training(monkeypatch)
    taken = tmp_path / "taken"
    taken.write_text("x")
    tiny = {"models": "logreg", "datasets": "digits", "optimizers": "sgd"}
    with pytest.raises(ConfigError, match=f"output directory {taken} is a file, not a directory"):
        harness.run(output=taken, **tiny)
    with pytest.raises(ConfigError, match=f"cannot be created: {taken} is a file"):
        harness.tune(output=taken / "tuned", **tiny)
    with pytest.raises(ConfigError, match="report file .* is a directory"):
        harness.report(tmp_path, output=tmp_path)
    with pytest.raises(ConfigError, match=f"plots directory {taken} is a file"):
        harness.report(tmp_path, plots=taken)


def test_run_announces_the_grid_size_and_passes_threads_on(monkeypatch):
    """The wiring to harness.config.grid_size and to run_configs(threads=...), which other modules provide."""
    from types import SimpleNamespace

    from harness.tuning import execution_options

    seen = {}

    def fake_run_configs(runs, output, **kwargs):
        seen.update(kwargs, runs=len(runs))
        return SimpleNamespace(records=[])

    monkeypatch.setattr(harness.api, "run_configs", fake_run_configs)
    monkeypatch.setattr(harness.api, "grid_size", lambda suite, registry: 42)
    events = []
    record = lambda kind, **data: events.append((kind, data))  # noqa: E731
    harness.run(models="logreg", datasets="digits", optimizers="sgd,adam", seeds=1, threads=2, on_event=record)
    assert events[0] == ("grid", {"size": 42}) and seen["runs"] == 2 and seen["threads"] == 2

    suite = SimpleNamespace(timeout=None, oom_retry=True, threads=3)
    assert execution_options(suite) == {"timeout": None, "oom_retry": True, "threads": 3}


def test_an_empty_grid_says_why_each_pair_was_skipped(tmp_path, monkeypatch, registry):
    from harness.data import DATA_ROOT_ENV
    from harness.errors import ConfigError

    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "no-data"))  # MNIST's files are nowhere
    with pytest.raises(ConfigError, match="the grid is empty: .*: dataset mnist is unavailable: mnist IDX files"):
        harness.api.run(output=tmp_path / "out", registry=registry, models="mlp", datasets="mnist", optimizers="sgd")
