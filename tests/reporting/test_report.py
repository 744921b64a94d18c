"""The report: records -> runs frame -> per-cell summary -> tables, on hand-made records (no training).

Every test walks the pipeline of ``harness.reporting`` (``frames.runs_frame``, ``cells.summary_frame``,
``export.render`` and ``build_report``, ``stats_tables``), so they live together here.
"""

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
from harness.reporting.text import format_metric
from harness.store import Store
from tests.records import make_record


def summarise(records):
    return summary_frame(runs_frame(records))


def only_row(summary) -> dict:
    (row,) = summary.to_dict("records")
    return row


# ---------------------------------------------------------------------------
# runs_frame
# ---------------------------------------------------------------------------


def test_runs_frame_has_one_flat_row_per_run():
    frame = runs_frame([make_record(seed=0), make_record(seed=1)])
    assert len(frame) == 2
    for column in ("model_label", "dataset_label", "optimizer_label", "seed", "batch_size", "status", "reason"):
        assert column in frame
    for column in ("metric", "test_metric", "samples_per_s", "device", "test_top5_accuracy", "optimizer_params.lr"):
        assert column in frame
    assert "val_curve" not in frame and "test_metrics" not in frame  # lists and dicts stay in the record
    assert list(frame["seed"]) == [0, 1] and list(frame["provenance_seed"]) == [0, 1]
    assert frame.loc[0, "optimizer_params.lr"] == 0.1 and frame.loc[0, "python"] == "3.11.7"
    assert frame.loc[0, "cell"] == frame.loc[1, "cell"]  # seeds of one cell


def test_runs_frame_of_nothing_still_has_the_columns_tables_need():
    frame = runs_frame([])
    assert frame.empty and {"status", "test_metric", "samples_per_s", "memory_kind"} <= set(frame)
    assert render(summary_frame(frame)) == "no runs"


# ---------------------------------------------------------------------------
# summary_frame: aggregation and counts
# ---------------------------------------------------------------------------


def test_mean_and_sample_std_over_three_seeds():
    values = [0.91, 0.95, 0.96]
    row = only_row(summarise([make_record(seed=s, metric_value=v) for s, v in enumerate(values)]))
    assert row["mean"] == pytest.approx(statistics.fmean(values))
    assert row["std"] == pytest.approx(statistics.stdev(values))  # ddof=1
    assert row["ci95"] == pytest.approx(4.3027 * statistics.stdev(values) / 3**0.5, rel=1e-4)  # t(0.975, 2)
    assert row["n"] == 3 and row["failed"] == 0 and row["diverged"] == 0 and row["status"] == "ok"
    assert row["samples_per_s"] == pytest.approx(11000.0)
    assert row["step_ms"] == pytest.approx(4.0)  # median of the runs' median step times
    assert row["peak_mem_mib"] == pytest.approx(13.0) and row["memory_kind"] == "cpu_rss_growth"
    assert row["train_s"] == pytest.approx(2.0) and row["params"] == 10250
    assert (row["model"], row["dataset"], row["optimizer"], row["batch"], row["metric"]) == (
        "mlp",
        "digits",
        "sgd",
        64,
        "accuracy",
    )
    text = render(summarise([make_record(seed=s, metric_value=v) for s, v in enumerate(values)]))
    assert f"{statistics.fmean(values):.3f} ± {row['ci95']:.3f}" in text  # mean ± 95% CI half-width
    assert "test accuracy (mean ± 95% CI)" in text.splitlines()[0]


def test_one_seed_has_no_std():
    row = only_row(summarise([make_record(metric_value=0.9)]))
    assert row["n"] == 1 and pd.isna(row["std"]) and pd.isna(row["ci95"])  # absent, not a zero-width interval
    text = render(summarise([make_record(metric_value=0.9)]))
    assert "0.900" in text and "±" not in text and "95% CI" not in text


def test_failed_and_diverged_runs_are_counted_apart_and_left_out_of_the_mean():
    records = [
        make_record(seed=0, metric_value=0.9),
        make_record(seed=1, metric_value=0.8),
        make_record(seed=2, status="failed", reason="RuntimeError: boom"),
        make_record(seed=3, status="diverged", reason="training loss became non-finite in epoch 2"),
    ]
    row = only_row(summarise(records))
    assert row["n"] == 2 and row["failed"] == 1 and row["diverged"] == 1
    assert row["mean"] == pytest.approx(0.85)
    header = render(summarise(records)).splitlines()[0]
    assert "failed" in header and "diverged" in header


def test_failed_cells_are_shown_not_hidden():
    records = [
        make_record(seed=0, model="boom", status="failed"),
        make_record(seed=0, model="mlp"),
        make_record(seed=1, model="mlp", status="failed"),
    ]
    summary = summarise(records)
    rows = {r["model"]: r for r in summary.to_dict("records")}
    assert rows["boom"]["n"] == 0 and rows["boom"]["failed"] == 1
    assert rows["mlp"]["n"] == 1 and rows["mlp"]["failed"] == 1
    text = render(summary)
    assert "failed: RuntimeError: boom" in text
    assert "failed" in text.splitlines()[0]  # a failed-count column appears when something failed


def test_a_cell_whose_runs_all_failed_shows_the_first_reason():
    long_reason = "ValueError: " + "x" * 200
    records = [
        make_record(model="broken", seed=1, status="failed", reason="second"),
        make_record(model="broken", seed=0, status="failed", reason=long_reason),
        make_record(model="mlp"),
    ]
    summary = summarise(records)
    rows = {r["model"]: r for r in summary.to_dict("records")}
    assert rows["broken"]["n"] == 0 and rows["broken"]["failed"] == 2 and pd.isna(rows["broken"]["mean"])
    assert rows["broken"]["status"] == f"failed: {long_reason}"  # full reason in the frame (and CSV)
    text = render(summary)
    assert "failed: ValueError: xxx" in text and "x" * 100 not in text and "..." in text
    assert "second" not in text


def test_partial_and_missing_results_do_not_crash():
    empty = make_record(model="empty")
    empty["results"] = {}
    none = make_record(model="none")
    none["results"] = None
    del none["provenance"], none["metric"], none["metric_mode"]
    partial = make_record(model="partial")
    partial["results"] = {"test_metric": 0.5}
    bare = {"key": "bare", "status": "failed", "reason": None, "config": {"model": "bare", "seed": 0}}
    summary = summarise([empty, none, partial, bare])
    assert len(summary) == 4
    for fmt in ("simple", "github", "latex", "csv"):
        assert render(summary, fmt)
    text = render(summary)
    assert "0.500" in text and "bare" in text and "nan" not in text


# ---------------------------------------------------------------------------
# Cells are never merged across settings
# ---------------------------------------------------------------------------


def test_cells_differing_only_in_max_epochs_stay_apart_and_say_so():
    records = [make_record(seed=s, max_epochs=e, metric_value=0.8 if e == 5 else 0.95) for e in (20, 5) for s in (0, 1)]
    summary = summarise(records)
    assert len(summary) == 2 and list(summary["n"]) == [2, 2]
    assert list(summary["settings"]) == ["max_epochs=5", "max_epochs=20"]  # numeric order
    assert list(summary["mean"]) == pytest.approx([0.8, 0.95])
    lines = render(summary).splitlines()
    assert "settings" in lines[0]
    assert "max_epochs=5" in lines[2] and "0.800" in lines[2]
    assert "max_epochs=20" in lines[3] and "0.950" in lines[3]
    assert len(set(lines[2:])) == 2


def test_settings_column_only_when_labels_collide():
    summary = summarise([make_record(model="a"), make_record(model="b", max_epochs=5)])
    assert "settings" not in summary and "settings" not in render(summary)


def test_learning_rate_and_device_split_cells():
    other_device = make_record(seed=1, device="cuda: Test GPU")
    summary = summarise([make_record(seed=0), other_device, make_record(seed=0, lr=0.01)])
    assert len(summary) == 3 and list(summary["n"]) == [1, 1, 1]
    assert set(summary["settings"]) == {
        "device=cpu: Test CPU, optimizer_params.lr=0.1",
        "device=cuda: Test GPU, optimizer_params.lr=0.1",
        "device=cpu: Test CPU, optimizer_params.lr=0.01",
    }


def test_rows_sorted_by_dataset_model_optimizer():
    records = [make_record(model=m) for m in ("zeta", "alpha", "mid")]
    records[0]["config"]["dataset_label"] = "aaa"
    assert list(summarise(records)["model"]) == ["zeta", "alpha", "mid"]
    assert list(summarise(records[1:])["model"]) == ["alpha", "mid"]


# ---------------------------------------------------------------------------
# render: formats and number formatting
# ---------------------------------------------------------------------------


def test_csv_parses_back_with_raw_numbers():
    values = [0.9, 0.8, 0.85]
    records = [make_record(seed=s, metric_value=v) for s, v in enumerate(values)]
    records.append(make_record(model="broken", status="failed", reason="RuntimeError: boom"))
    frame = pd.read_csv(io.StringIO(render(summarise(records), "csv")))
    ok = frame[frame["model"] == "mlp"].iloc[0]
    assert ok["mean"] == pytest.approx(statistics.fmean(values))
    assert ok["std"] == pytest.approx(statistics.stdev(values))
    assert ok["n"] == 3 and ok["samples_per_s"] == pytest.approx(11000.0) and ok["params"] == 10250
    broken = frame[frame["model"] == "broken"].iloc[0]
    assert broken["status"] == "failed: RuntimeError: boom" and pd.isna(broken["mean"]) and broken["failed"] == 1
    assert "cell" not in frame


@pytest.mark.parametrize(
    "fmt, marker",
    [("github", "| model"), ("latex", "\\begin{tabular}"), ("latex_booktabs", "\\toprule"), ("plain", "mlp")],
)
def test_text_formats_render_the_values(fmt, marker):
    text = render(summarise([make_record(seed=0, metric_value=0.9), make_record(seed=1, metric_value=0.92)]), fmt)
    assert marker in text
    text = text.replace(r"$\pm$", "±")  # the harness's own LaTeX writes ± as math
    # 0.910 ± t(0.975, 1) * 0.01414 / sqrt(2) = 0.910 ± 0.127: two seeds give a wide interval
    assert "0.910 ± 0.127" in text and "10500" in text and "3.50" in text and "12.5" in text and "10250" in text


def test_memory_header_names_the_kind():
    assert "peak MiB (CPU RSS growth)" in render(summarise([make_record()]))
    cuda = make_record(memory_kind="cuda_max_allocated")
    assert "peak MiB (CUDA max allocated)" in render(summarise([cuda]))


def test_mixed_memory_kinds_say_mixed_and_label_each_row():
    records = [make_record(model="a"), make_record(model="b", memory_kind="cuda_max_allocated")]
    lines = render(summarise(records)).splitlines()
    assert "peak MiB (mixed)" in lines[0]
    assert "CPU RSS growth" in lines[2] and "CUDA max allocated" in lines[3]


def test_time_to_target_shown_only_when_a_target_was_set():
    assert "s to" not in render(summarise([make_record()]))
    records = [make_record(seed=s, target=0.9, time_to_target_s=t) for s, t in enumerate([1.0, 2.0, None])]
    row = only_row(summarise(records))
    assert row["time_to_target_s"] == pytest.approx(1.5) and row["reached_target"] == 2
    text = render(summarise(records))
    assert "s to 0.9" in text and "1.50 (2/3)" in text


def test_regression_metric_keeps_significant_digits():
    records = [make_record(seed=s, metric_value=v, mode="min") for s, v in enumerate([53.21, 51.0])]
    text = render(summarise(records))
    assert "test rmse" in text and "52 ± 14" in text  # 52.105 ± 12.706 * 1.5627 / sqrt(2)
    assert format_metric(0.0123, 0.0004, "min") == "0.01230 ± 0.00040"
    assert format_metric(12345.6, float("nan"), "min") == "12346"
    assert format_metric(0.95, 0.004, "max") == "0.950 ± 0.004"


def test_unknown_format_lists_the_allowed_ones():
    summary = summarise([make_record()])
    with pytest.raises(ConfigError, match="allowed: .*github.*latex"):
        render(summary, "nope")


# ---------------------------------------------------------------------------
# build_report and the no-torch promise
# ---------------------------------------------------------------------------


def test_build_report_reports_corrupt_files_and_still_renders(tmp_path):
    store = Store(tmp_path)
    for seed in range(2):
        store.write(make_record(seed=seed, metric_value=0.9))
    (tmp_path / "runs" / "broken.json").write_text("{not json")
    text, problems = build_report(tmp_path, "github")
    assert "| mlp" in text and "0.900 ± 0.000" in text
    assert [path.name for path, _ in problems] == ["broken.json"]
    assert "unreadable" in problems[0][1]


def test_build_report_without_records_says_where_it_looked(tmp_path):
    with pytest.raises(HarnessError, match=f"no run records under {tmp_path}"):
        build_report(tmp_path)
    with pytest.raises(HarnessError, match="no run records"):
        build_report(tmp_path / "empty")  # a folder that does not exist
    with pytest.raises(ConfigError):
        build_report(tmp_path, "nope")


TORCH = ("torch", "pytorch_lightning", "lightning", "lightning_fabric", "torchmetrics")


def test_importing_the_reporting_package_records_and_store_does_not_import_torch():
    probe = (
        "import importlib, json, pkgutil, sys\nimport harness.records, harness.reporting, harness.store\n"
        "names = [m.name for m in pkgutil.walk_packages(harness.reporting.__path__, 'harness.reporting.')]\n"
        "for name in names:\n    importlib.import_module(name)\n"
        f"print(json.dumps([names, [m for m in {TORCH!r} if m in sys.modules]]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    names, torch_modules = json.loads(out.strip().splitlines()[-1])
    assert {"harness.reporting.export", "harness.reporting.compare", "harness.reporting.html"} <= set(names)
    assert torch_modules == []


# ---------------------------------------------------------------------------
# Statistics in the report: ranks, significance, optimizer wins and profiles
# ---------------------------------------------------------------------------


def contest(values: dict, **kwargs):
    """Records of ``{(model, optimizer): [metric value of seed 0, 1, ...]}``: the cells of one workload differ
    only in model and optimizer; ``kwargs`` (``target``, ``mode``) go to every record."""
    return [
        make_record(model=model, optimizer=optimizer, seed=seed, metric_value=value, **kwargs)
        for (model, optimizer), values_by_seed in values.items()
        for seed, value in enumerate(values_by_seed)
    ]


def test_rank_within_a_workload_honours_a_min_metric():
    records = contest({("mlp", "sgd"): [50.0, 51.0, 49.0], ("mlp", "adam"): [40.0, 40.5, 39.5]}, mode="min")
    summary = summarise(records)
    assert dict(zip(summary["optimizer"], summary["rank"], strict=True)) == {"adam": 1, "sgd": 2}
    assert "rank" in render(summary).splitlines()[0]
    csv = pd.read_csv(io.StringIO(render(summary, "csv")))
    assert {"ci95", "rank"} <= set(csv.columns) and list(csv["rank"]) == [1, 2]


def test_no_rank_column_when_no_cell_has_a_rival():
    records = [make_record(seed=0), make_record(seed=0, max_epochs=5)]  # two workloads: epochs differ
    summary = summarise(records)
    assert list(summary["rank"]) == [1, 1] and "rank" not in render(summary).splitlines()[0]


def test_significance_table_tests_each_cell_against_the_best():
    from harness.reporting.stats_tables import stats_tables

    records = contest(
        {
            ("mlp", "adam"): [0.95, 0.951, 0.949],
            ("mlp", "sgd"): [0.80, 0.81, 0.79],
            ("cnn", "adam"): [0.94, 0.96, 0.95],
        }
    )
    text = stats_tables(runs_frame(records))
    lines = {line.split()[1] + line.split()[3]: line for line in text.splitlines() if line.startswith("digits")}
    assert "best" in lines["mlpadam"] and " 1 " in lines["mlpadam"]
    assert "worse, p=" in lines["mlpsgd"] and "(welch)" in lines["mlpsgd"]
    assert "not significant" in lines["cnnadam"]  # 0.950 vs 0.950: a tie is no loss
    assert "Welch's t-test" in text and "alpha 0.05" in text
    assert "mlp on digits" in text and "adam" in text  # the win table for mlp's two optimizers
    assert "Performance profile" not in text  # no target set


def test_win_table_and_profile_for_optimizers_with_a_target():
    from harness.reporting.stats_tables import profile_frame, wins_frame

    records = contest({("mlp", "adam"): [0.95, 0.96, 0.94], ("mlp", "sgd"): [0.85, 0.86, 0.84]}, target=0.9)
    for record in records:  # adam reaches the target in 2 s; sgd in 4 s on one seed only
        adam = record["config"]["optimizer"] == "adam"
        record["results"]["time_to_target_s"] = 2.0 if adam else (4.0 if record["config"]["seed"] == 0 else None)
    records += contest({("cnn", "adam"): [0.91, 0.92], ("cnn", "sgd"): [0.93, 0.90]}, target=0.9)
    for record in records[-4:]:
        record["results"]["time_to_target_s"] = 3.0 if record["config"]["optimizer"] == "adam" else 6.0
    runs = runs_frame(records)
    wins = wins_frame(runs).set_index("workload")
    assert wins.loc["mlp on digits", "outcome"] == "win" and wins.loc["mlp on digits", "winner"] == "adam"
    assert wins.loc["cnn on digits", "outcome"] == "tie"
    profile = profile_frame(runs)
    assert profile.loc["adam", 1.0] == 1.0  # fastest on both
    assert profile.loc["sgd", 2.0] == 0.5 and profile.loc["sgd", 4.0] == 0.5  # 2x on cnn; never (median) on mlp
    text, _ = build_report_from(records, stats=True)
    assert "Wins: adam 1; ties or undecided: 1" in text and "tie: adam, sgd" in text
    assert "Performance profile" in text and "tau=1.5" in text


def build_report_from(records, **kwargs):
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        store = Store(root)
        for record in records:
            store.write(record)
        return build_report(root, **kwargs)


def test_stats_say_when_there_is_nothing_to_compare_and_csv_blocks_parse():
    text, _ = build_report_from([make_record()], stats=True)
    assert text.endswith("statistics: no workload has two cells to compare")
    records = contest({("mlp", "adam"): [0.95, 0.96], ("mlp", "sgd"): [0.85, 0.86]})
    text, _ = build_report_from(records, fmt="csv", stats=True)
    blocks = text.split("\n\n")
    assert len(blocks) == 3 and blocks[1].startswith("# Significance")
    significance = pd.read_csv(io.StringIO(blocks[1]), comment="#")
    assert list(significance["rank"]) == [1, 2] and list(significance["test"]) == ["none", "welch"]


def test_report_cli_stats_and_bootstrap_without_torch(tmp_path):
    store = Store(tmp_path)
    for record in contest({("mlp", "adam"): [0.95, 0.96, 0.94], ("mlp", "sgd"): [0.85, 0.86, 0.84]}):
        store.write(record)
    probe = (
        "import json, sys\nfrom harness.cli import main\n"
        f"main(['report', {str(tmp_path)!r}, '--stats', '--test', 'bootstrap'])\n"
        "print(json.dumps([m for m in ('torch', 'pytorch_lightning', 'lightning') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "mlp" in out and "(bootstrap)" in out and "percentile bootstrap" in out
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_harness_report_can_be_called_twice(tmp_path):
    import harness

    Store(tmp_path).write(make_record())
    first = harness.report(tmp_path)
    assert harness.report(tmp_path, stats=True).startswith(first)  # the name stays the function, not the module
