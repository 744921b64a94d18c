"""benchmarks/workloads_table.py: the README's workloads column is computed from records, and only the text
between its markers is ever rewritten."""

from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path

import pytest

import harness
from harness.api import load_registry, resolve_suite

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "workloads_table.py"


@pytest.fixture(scope="module")
def table():
    """The script as a module (benchmarks/ is not a package); its dataclasses need it in sys.modules."""
    spec = importlib.util.spec_from_file_location("workloads_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    """A tiny real sweep, 2 seeds of 1 epoch, and its records' folder."""
    output = tmp_path_factory.mktemp("records")
    result = harness.run(
        models="mlp", datasets="digits", optimizers="adam", seeds=2, max_epochs=1, output=output, launcher="inline"
    )
    assert len(result.records) == 2 and all(record["status"] == "ok" for record in result.records)
    return output, result.records


@pytest.mark.slow
def test_row_text_is_mean_and_sample_sd_of_the_records(table, two_seeds):
    output, records = two_seeds
    values = [record["results"]["test_metric"] for record in records]

    text = table.suite_text(table.read_runs(output), note="a note")

    mean, sd = statistics.fmean(values), statistics.stdev(values)
    assert text == f"mlp/adam on digits: accuracy {mean:.3f} ± {sd:.3f} (2 seeds, 1 epoch, a note)"


@pytest.mark.slow
def test_only_the_suites_own_runs_count(table, two_seeds):
    output, records = two_seeds
    text = table.suite_text(table.read_runs(output, keys=[records[0]["key"]]))
    assert text == f"mlp/adam on digits: accuracy {records[0]['results']['test_metric']:.3f} (1 seed, 1 epoch)"
    assert table.read_runs(output, keys=["no-such-key"]).empty


def test_readme_changes_only_between_the_markers(table):
    before = "# Title\n\nprose above | with a bar\n\n"
    after = "\n\nprose below\n| a | table |\n"
    old = f"{before}{table.BEGIN}\n| old | table |\n{table.END}{after}"

    new = table.replace_block(old, "| new | table |")

    assert new == f"{before}{table.BEGIN}\n| new | table |\n{table.END}{after}"
    assert table.replace_block(new, "| new | table |") == new


def test_readme_without_markers_is_refused(table):
    with pytest.raises(SystemExit, match="markers"):
        table.replace_block(f"no markers here\n{table.END}\n{table.BEGIN}\n", "x")


def test_unmeasured_suites_say_why_and_keep_no_number(table):
    suites = [table.Workload("a-suite", Path("a.toml"), "vision"), table.Workload("b-suite", Path("b.toml"), "vision")]
    measured = {"a-suite": table.Measured("a-suite: not measured here (no data | here)"),
                "b-suite": table.Measured("b-suite: not measured here (gone)")}  # fmt: skip

    block = table.build_table(suites, measured)

    vision = next(line for line in block.splitlines() if line.startswith("| vision"))
    assert vision.endswith("| a-suite: not measured here (no data \\| here); b-suite: not measured here (gone) |")
    assert "| synthetic (`harness_synthetic`) |" in block and block.count("\n| ") == len(table.ROWS) + 2


def test_every_suite_file_feeds_a_row_and_is_a_valid_suite(table):
    workloads = table.read_workloads()
    assert {workload.row for workload in workloads} <= {row.key for row in table.ROWS}
    for workload in workloads:
        assert resolve_suite(workload.path).name == workload.name == workload.path.stem


def test_a_suite_that_cannot_run_here_is_not_measured_and_says_why(table, tmp_path):
    suite = tmp_path / "broken.toml"
    suite.write_text(
        '# table-row: vision\nmodels = ["mlp"]\ndatasets = ["no-such-dataset"]\noptimizers = ["adam"]\n',
        encoding="utf-8",
    )
    workload = table.read_workload(suite)

    measured = table.measure(workload, tmp_path / "results", load_registry(), train=True, jobs=1)

    assert measured.runs is None
    assert measured.text.startswith("broken: not measured here (") and "no-such-dataset" in measured.text
