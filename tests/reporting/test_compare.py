"""harness compare: matching cells across two results directories and judging each change, on hand-made records."""

import io
import json
import subprocess
import sys

import pandas as pd
import pytest

import harness
from harness.cli import main
from harness.errors import ConfigError, HarnessError
from harness.reporting.compare import IMPROVED, NOISE, REGRESSION, UNCHANGED, DeviceMismatchError, compare_dirs
from harness.store import Store
from tests.records import DEVICE, make_record


def write(root, *records):
    store = Store(root)
    for r in records:
        store.write(r)
    return root


#: What each name of :func:`seeds` sets: the throughput, the peak memory, the test metric.
MEASURED = {"rate": "samples_per_s", "memory": "peak_memory_mb", "metric": "metric_value"}


def seeds(values, name, **kwargs):
    """One record per value of ``name`` (rate, memory or metric), seeds 0..n-1."""
    return [make_record(seed=i, **{MEASURED[name]: v}, **kwargs) for i, v in enumerate(values)]


STEADY = [1000.0, 1004.0, 996.0, 1002.0, 998.0]  # about 0.3% noise


def dirs(tmp_path, base_records, new_records):
    return write(tmp_path / "base", *base_records), write(tmp_path / "new", *new_records)


def by_quantity(comparison, cell_part=""):
    return {c.quantity: c for c in comparison.changes if cell_part in c.cell}


# ---------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------


def test_a_twenty_percent_throughput_drop_is_a_regression(tmp_path, capsys):
    base, new = dirs(tmp_path, seeds(STEADY, "rate"), seeds([0.8 * v for v in STEADY], "rate"))
    result = compare_dirs(base, new)
    speed = by_quantity(result)["samples/s"]
    assert speed.verdict == REGRESSION and speed.relative == pytest.approx(-0.2)
    assert speed.test.method == "welch" and speed.test.p_value < 1e-6
    assert (speed.base.n, speed.new.n) == (5, 5)
    assert [c.quantity for c in result.regressions] == ["samples/s"]
    assert by_quantity(result)["test accuracy"].verdict == UNCHANGED
    assert main(["compare", str(base), str(new)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "-20.0%" in out and "1 regression in 1 matched cell" in out


def test_a_drop_within_the_noise_of_the_seeds_is_not(tmp_path, capsys):
    noisy = [1000.0, 1400.0, 650.0, 1250.0, 700.0]
    base, new = dirs(tmp_path, seeds(noisy, "rate"), seeds([0.9 * v for v in noisy], "rate"))
    speed = by_quantity(compare_dirs(base, new))["samples/s"]
    assert speed.relative == pytest.approx(-0.1) and speed.verdict == NOISE and speed.test.p_value > 0.05
    assert main(["compare", str(base), str(new)]) == 0
    assert "within noise" in capsys.readouterr().out


def test_a_significant_change_under_the_threshold_is_unchanged(tmp_path):
    base, new = dirs(tmp_path, seeds(STEADY, "rate"), seeds([0.97 * v for v in STEADY], "rate"))
    speed = by_quantity(compare_dirs(base, new))["samples/s"]
    assert speed.test.significant() and speed.verdict == UNCHANGED
    assert by_quantity(compare_dirs(base, new, threshold=0.02))["samples/s"].verdict == REGRESSION


def test_directions_memory_up_is_worse_rmse_down_is_better(tmp_path):
    base = seeds([100.0, 101.0, 99.0], "memory") + seeds([50.0, 50.5, 49.5], "metric", model="reg", mode="min")
    new = seeds([130.0, 131.0, 129.0], "memory") + seeds([40.0, 40.5, 39.5], "metric", model="reg", mode="min")
    result = compare_dirs(*dirs(tmp_path, base, new))
    memory = by_quantity(result, "mlp")["peak MiB (CPU RSS growth)"]
    assert memory.verdict == REGRESSION and memory.relative == pytest.approx(0.3)
    rmse = by_quantity(result, "reg")["test rmse"]
    assert rmse.verdict == IMPROVED and rmse.relative == pytest.approx(-0.2)
    faster = compare_dirs(*dirs(tmp_path / "2", seeds(STEADY, "rate"), seeds([1.3 * v for v in STEADY], "rate")))
    assert by_quantity(faster)["samples/s"].verdict == IMPROVED and not faster.regressions


def test_single_runs_fall_back_to_the_threshold_and_say_so(tmp_path):
    result = compare_dirs(*dirs(tmp_path, [make_record(samples_per_s=1000.0)], [make_record(samples_per_s=800.0)]))
    speed = by_quantity(result)["samples/s"]
    assert speed.verdict == REGRESSION and speed.test.method == "none"
    assert "threshold only" in speed.note
    assert "threshold only" in result.render()


def test_a_cell_that_now_fails_is_a_regression(tmp_path):
    failed = [make_record(seed=i, status="failed") for i in range(3)]
    result = compare_dirs(*dirs(tmp_path, seeds(STEADY[:3], "rate"), failed))
    (change,) = result.changes
    assert change.verdict == REGRESSION and change.quantity == "ok runs"
    assert "no ok run in NEW (3 failed)" in change.note and "3/3" in result.render() and "0/3" in result.render()


def test_bootstrap_on_request(tmp_path, capsys):
    base, new = dirs(tmp_path, seeds(STEADY, "rate"), seeds([0.8 * v for v in STEADY], "rate"))
    speed = by_quantity(compare_dirs(base, new, test="bootstrap"))["samples/s"]
    assert speed.test.method == "bootstrap" and speed.verdict == REGRESSION
    assert main(["compare", str(base), str(new), "--test", "bootstrap"]) == 1
    assert "(bootstrap)" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------


def test_cells_on_one_side_only_are_listed(tmp_path, capsys):
    base = seeds(STEADY[:2], "rate") + [make_record(model="old")]
    new = seeds(STEADY[:2], "rate") + [make_record(model="fresh"), make_record(model="mlp", max_epochs=20)]
    result = compare_dirs(*dirs(tmp_path, base, new))
    assert result.cells == 1
    assert result.only_base == ["old | digits | sgd | batch 64"]
    assert result.only_new == ["fresh | digits | sgd | batch 64", "mlp | digits | sgd | batch 64 (max_epochs=20)"]
    assert main(["compare", str(tmp_path / "base"), str(tmp_path / "new")]) == 0
    out = capsys.readouterr().out
    assert "only in BASE (1):\n  old | digits | sgd | batch 64" in out
    assert "only in NEW (2):" in out and "(max_epochs=20)" in out


def test_seeds_do_not_split_a_cell_and_new_config_fields_do_not_break_matching(tmp_path):
    base = seeds(STEADY[:3], "rate")
    # other seeds, a new field
    new = [make_record(seed=i + 10, samples_per_s=v, config={"compile": False}) for i, v in enumerate(STEADY[:3])]
    result = compare_dirs(*dirs(tmp_path, base, new))
    assert result.cells == 1 and not result.only_base and not result.only_new
    assert result.unmatched_fields == ["compile"]
    assert "left out of the match: compile" in result.render()


def test_device_mismatch_is_refused_unless_allowed(tmp_path, capsys):
    base, new = dirs(tmp_path, seeds(STEADY, "rate"), seeds(STEADY, "rate", device="cuda: Test GPU"))
    with pytest.raises(DeviceMismatchError, match="DEVICES DIFFER.*cpu: Test CPU.*cuda: Test GPU"):
        compare_dirs(base, new)
    assert main(["compare", str(base), str(new)]) == 2
    err = capsys.readouterr().err
    assert "DEVICES DIFFER" in err and "--allow-device-mismatch" in err

    result = compare_dirs(base, new, allow_device_mismatch=True)
    assert [(m.base_device, m.new_device) for m in result.device_mismatches] == [(DEVICE, "cuda: Test GPU")]
    assert result.cells == 1 and "WARNING: DEVICES DIFFER" in result.render()
    assert main(["compare", str(base), str(new), "--allow-device-mismatch"]) == 0
    captured = capsys.readouterr()
    assert "CELLS RAN ON DIFFERENT DEVICES" in captured.err and "WARNING: DEVICES DIFFER" in captured.out
    assert json.loads(result.render("json"))["device_mismatches"][0]["new_device"] == "cuda: Test GPU"


def test_the_same_config_on_two_devices_on_both_sides_pairs_device_by_device(tmp_path):
    # one folder holds one record per config: the GPU's runs asked for their accelerator (another key)
    gpu = seeds(STEADY[:2], "rate", device="cuda: Test GPU", config={"accelerator": "gpu"})
    both = seeds(STEADY[:2], "rate") + gpu
    result = compare_dirs(*dirs(tmp_path, both, both))
    assert result.cells == 2 and not result.device_mismatches and not result.regressions


# ---------------------------------------------------------------------------
# Bad input, formats, API
# ---------------------------------------------------------------------------


def test_bad_input_exits_2(tmp_path, capsys):
    base, new = dirs(tmp_path, seeds(STEADY[:2], "rate"), seeds(STEADY[:2], "rate"))
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(base), str(tmp_path / "missing")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert main(["compare", str(base), str(tmp_path / "empty")]) == 2
    assert "no run records" in capsys.readouterr().err
    assert main(["compare", str(base), str(new), "--threshold", "-1"]) == 2
    assert main(["compare", str(base), str(new), "--format", "nope"]) == 2
    assert "json" in capsys.readouterr().err
    other = write(tmp_path / "other", make_record(model="elsewhere"))
    assert main(["compare", str(base), str(other)]) == 2  # nothing matched: a gate that checked nothing fails
    assert "no cell of" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        compare_dirs(base, new, threshold=float("nan"))
    with pytest.raises(HarnessError):
        compare_dirs(base, new, test="magic")


def test_csv_and_json_carry_the_numbers(tmp_path, capsys):
    base = seeds(STEADY, "rate") + [make_record(model="old")]
    new = seeds([0.8 * v for v in STEADY], "rate")
    b, n = dirs(tmp_path, base, new)
    assert main(["compare", str(b), str(n), "--format", "csv"]) == 1
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    speed = frame[frame["quantity"] == "samples/s"].iloc[0]
    assert speed["verdict"] == "regression" and speed["relative_change"] == pytest.approx(-0.2)
    assert speed["base_n"] == 5 and speed["test"] == "welch"
    assert list(frame.loc[frame["verdict"] == "only in base", "cell"]) == ["old | digits | sgd | batch 64"]
    assert main(["compare", str(b), str(n), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["regressions"] == 1 and data["threshold"] == 0.05 and data["only_base"]
    assert main(["compare", str(b), str(n), "--format", "github"]) == 1
    assert "| cell" in capsys.readouterr().out


def test_python_api_returns_the_structured_result(tmp_path):
    base, new = dirs(tmp_path, seeds(STEADY, "rate"), seeds([0.8 * v for v in STEADY], "rate"))
    result = harness.compare(base, new, threshold=0.1)
    assert [c.quantity for c in result.regressions] == ["samples/s"]
    assert result.frame().loc[lambda f: f["quantity"] == "samples/s", "verdict"].item() == "regression"
    assert not harness.compare(base, new, threshold=0.25).regressions


def test_compare_needs_no_torch(tmp_path):
    base, new = dirs(tmp_path, seeds(STEADY, "rate"), seeds(STEADY, "rate"))
    probe = (
        "import json, sys\nfrom harness.cli import main\n"
        f"code = main(['compare', {str(base)!r}, {str(new)!r}])\n"
        "print(json.dumps([code, [m for m in ('torch', 'pytorch_lightning', 'lightning') if m in sys.modules]]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "samples/s" in out and json.loads(out.strip().splitlines()[-1]) == [0, []]
