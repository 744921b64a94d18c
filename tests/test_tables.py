"""Tables from records: aggregation over seeds, failed cells, formats. No training needed here."""

import io
import json
import statistics
import subprocess
import sys

import pandas as pd
import pytest

from harness.errors import ConfigError, HarnessError
from harness.reporting.cells import summary_frame
from harness.reporting.export import build_report, render
from harness.reporting.frames import runs_frame
from harness.store import Store


def record(
    seed=0, acc=0.9, status="ok", model="mlp", optimizer="sgd", max_epochs=10, memory_kind="cpu_rss_growth", **results
):
    config = {
        "model": model,
        "dataset": "digits",
        "optimizer": optimizer,
        "seed": seed,
        "model_label": model,
        "dataset_label": "digits",
        "optimizer_label": optimizer,
        "batch_size": 64,
        "max_epochs": max_epochs,
        "target": None,
    }
    measured = {
        "test_metric": acc,
        "samples_per_s": 1000.0 + seed,
        "step_time_median_ms": 2.0 + seed,
        "peak_memory_mb": 10.0,
        "memory_kind": memory_kind,
        "params": 650,
        "train_time_s": 1.5,
        "test_metrics": {"accuracy": acc},
    }
    measured.update(results)
    key = f"{model}-{optimizer}-{max_epochs}-{seed}"
    if status != "ok":
        measured = {}
    return {
        "key": key,
        "status": status,
        "reason": None if status == "ok" else "RuntimeError: boom",
        "config": config,
        "task": "classification",
        "metric": "accuracy",
        "metric_mode": "max",
        "results": measured,
        "provenance": {"device": "cpu: test", "seed": seed},
    }


def test_mean_std_and_counts_over_seeds():
    accs = [0.90, 0.92, 0.97]
    summary = summary_frame(runs_frame([record(seed=i, acc=a) for i, a in enumerate(accs)]))
    (row,) = summary.to_dict("records")
    assert row["mean"] == pytest.approx(statistics.fmean(accs))
    assert row["std"] == pytest.approx(statistics.stdev(accs))  # sample std, n-1
    assert row["n"] == 3 and row["failed"] == 0
    assert row["samples_per_s"] == pytest.approx(1001.0)
    assert row["step_ms"] == pytest.approx(3.0)  # median of the runs' median step times
    text = render(summary, "simple")
    half_width = 4.3027 * statistics.stdev(accs) / 3**0.5  # t(0.975, 2) * s / sqrt(n)
    assert row["ci95"] == pytest.approx(half_width, rel=1e-4)
    assert f"{statistics.fmean(accs):.3f} ± {half_width:.3f}" in text
    assert "peak MiB (CPU RSS growth)" in text


def test_failed_cells_are_shown_not_hidden():
    records = [
        record(seed=0, model="boom", status="failed"),
        record(seed=0, model="mlp"),
        record(seed=1, model="mlp", status="failed"),
    ]
    summary = summary_frame(runs_frame(records))
    rows = {r["model"]: r for r in summary.to_dict("records")}
    assert rows["boom"]["n"] == 0 and rows["boom"]["failed"] == 1
    assert rows["mlp"]["n"] == 1 and rows["mlp"]["failed"] == 1
    text = render(summary)
    assert "failed: RuntimeError: boom" in text
    assert "failed" in text.splitlines()[0]  # a failed-count column appears when something failed


def test_partial_results_do_not_crash():
    partial = record()
    partial["results"] = {"test_metric": 0.5}
    text = render(summary_frame(runs_frame([partial])))
    assert "0.500" in text


def test_cells_differing_in_settings_are_not_merged():
    records = [record(seed=s, max_epochs=e, acc=0.8 if e == 5 else 0.95) for e in (5, 20) for s in (0, 1)]
    summary = summary_frame(runs_frame(records))
    assert len(summary) == 2 and list(summary["n"]) == [2, 2]
    text = render(summary)
    assert "max_epochs=5" in text and "max_epochs=20" in text


def test_csv_round_trips_numbers():
    summary = summary_frame(runs_frame([record(seed=0, acc=0.9), record(seed=1, acc=0.8)]))
    frame = pd.read_csv(io.StringIO(render(summary, "csv")))
    assert frame.loc[0, "mean"] == pytest.approx(0.85)
    assert frame.loc[0, "n"] == 2 and frame.loc[0, "model"] == "mlp"


@pytest.mark.parametrize("fmt, marker", [("github", "|"), ("latex", "\\begin{tabular}"), ("plain", "mlp")])
def test_text_formats(fmt, marker):
    text = render(summary_frame(runs_frame([record(seed=0, acc=0.9)])), fmt)
    assert marker in text and "0.900" in text and "1000" in text


def test_mixed_memory_kinds_are_labelled_per_row():
    records = [record(model="a"), record(model="b", memory_kind="cuda_max_allocated")]
    text = render(summary_frame(runs_frame(records)))
    assert "CUDA max allocated" in text and "CPU RSS growth" in text


def test_unknown_format_lists_the_allowed_ones():
    with pytest.raises(ConfigError, match="github"):
        render(summary_frame(runs_frame([record()])), "nope")


def test_build_report_skips_corrupt_files(tmp_path):
    store = Store(tmp_path)
    store.write(record())
    (tmp_path / "runs" / "broken.json").write_text("{not json")
    text, problems = build_report(tmp_path)
    assert "mlp" in text and [p.name for p, _ in problems] == ["broken.json"]
    with pytest.raises(HarnessError, match="no run records"):
        build_report(tmp_path / "empty")


def test_report_cli_needs_no_torch(tmp_path):
    Store(tmp_path).write(record())
    probe = (
        "import sys\nfrom harness.cli import main\n"
        f"main(['report', {str(tmp_path)!r}])\n"
        "print(json.dumps([m for m in ('torch', 'pytorch_lightning') if m in sys.modules]))\n"
    ).replace("import sys", "import sys, json")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "mlp" in out and json.loads(out.strip().splitlines()[-1]) == []
