"""The README's promise: `harness run` with no arguments runs a real benchmark and prints its table."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_default_run_trains_the_default_suite_and_resumes(tmp_path):
    command = [sys.executable, "-m", "harness.cli", "run"]
    first = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "results" / "default" / "runs").glob("*.json")]
    assert len(records) == 2 * 2 * 3  # mlp, logreg x sgd, adam x 3 seeds on digits
    assert all(r["status"] == "ok" for r in records)
    assert min(r["results"]["test_metric"] for r in records) > 0.8  # chance is 0.1
    for model in ("mlp", "logreg"):
        for optimizer in ("sgd", "adam"):
            assert any(model in line and optimizer in line and "± " in line for line in first.stdout.splitlines())

    second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0
    assert "0 to train, 12 already done" in second.stderr
    assert second.stdout == first.stdout
