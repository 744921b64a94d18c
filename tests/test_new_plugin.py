"""`harness new-plugin`: the package it writes installs, passes its own tests at once, and trains.

The package is installed into a folder of the test's own (``pip install --target``), never into the project's
environment; the subprocesses find its dist-info, and so its ``harness`` entry point, through ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.cli import main
from harness.scaffold import new_plugin

TIMEOUT = 600


def _run(command, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)


@pytest.mark.slow
def test_a_new_plugin_installs_passes_its_tests_and_trains(tmp_path):
    package = tmp_path / "harness-demo"
    assert main(["new-plugin", "demo", "--model", "--dataset", "--optimizer", "--output", str(package)]) == 0
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--target", str(site)]
    installed = _run([*pip, "--no-index", "--disable-pip-version-check", "-q", str(package)])
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (site / "harness_demo").is_dir() and list(site.glob("harness_demo-*.dist-info"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}

    tests = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], env=env, cwd=package)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout

    out = tmp_path / "out"
    run = [sys.executable, "-m", "harness.cli", "run", "-m", "demo_model", "-d", "demo_dataset", "-o", "demo_optimizer"]
    trained = _run([*run, "--seeds", "1", "--max-epochs", "1", "--output", str(out)], env=env)
    assert trained.returncode == 0, trained.stdout[-4000:] + trained.stderr[-4000:]
    records = [json.loads(path.read_text()) for path in (out / "runs").glob("*.json")]
    assert [record["status"] for record in records] == ["ok"]

    blocked = _run([sys.executable, "-m", "harness.cli", "list", "models", "-p", "no:harness_demo"], env=env)
    assert blocked.returncode == 0 and "mlp" in blocked.stdout and "demo_model" not in blocked.stdout


def test_only_the_kinds_asked_for_are_written(tmp_path):
    written = new_plugin("solo", ["optimizer"], tmp_path / "solo")
    names = sorted(str(path.relative_to(tmp_path / "solo")) for path in written.files)
    assert names == ["README.md", "harness_solo/__init__.py", "harness_solo/optimizers.py", "pyproject.toml",
                     "tests/test_harness_solo.py"]  # fmt: skip
    init = (tmp_path / "solo" / "harness_solo" / "__init__.py").read_text()
    assert "harness_register_optimizers" in init and "ModelSpec" not in init and "solo_optimizer" in init
    assert (
        '[project.entry-points.harness]\nharness_solo = "harness_solo"'
        in (tmp_path / "solo" / "pyproject.toml").read_text()
    )
    for path in written.files:
        if path.suffix == ".py":
            compile(path.read_text(), str(path), "exec")  # every file is valid Python


@pytest.mark.parametrize(
    "argv, error",
    [
        (["Demo"], "bad plugin name 'Demo': use 1-40 lowercase letters, digits and _, from a letter (demo)"),
        (["9lives"], "bad plugin name '9lives'"),
        (["my-plugin"], "bad plugin name 'my-plugin'"),
        (["harness_demo"], "give it without 'harness' (demo makes the package harness_demo)"),
        (["dense"], "a package harness_dense is already importable here"),
    ],
)
def test_a_bad_name_is_one_line_and_exit_2(argv, error, capsys, tmp_path):
    assert main(["new-plugin", *argv, "--output", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"harness new-plugin: error: bad plugin name {argv[0]!r}") and err.count("\n") == 1
    assert error in err
    assert not (tmp_path / "new").exists()


def test_an_existing_non_empty_folder_is_refused(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine\n")
    assert main(["new-plugin", "demo", "--output", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert err == f"harness new-plugin: error: output folder {tmp_path / 'taken'} already exists and is not empty; " \
                  "choose another --output\n"  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    assert main(["new-plugin", "demo", "--output", str(tmp_path / "empty")]) == 0  # an empty one is fine
    assert main(["new-plugin", "demo"]) == 0 and (tmp_path / "harness-demo" / "pyproject.toml").exists()  # the cwd
