"""harness's top-level names: the functions of harness.api, whatever submodules have been imported."""

import importlib
import inspect
import subprocess
import sys

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
