"""Report formats beyond the terminal table: LaTeX with the best in bold, CSV and Parquet with one row per run."""

import io

import pandas as pd
import pytest

import harness.api as api
from harness.cli import main
from harness.reporting.cells import summary_frame
from harness.reporting.export import export
from harness.reporting.frames import runs_frame
from harness.reporting.latex import escape, render_latex
from harness.store import Store
from tests.records import make_record


def _summary(records):
    return summary_frame(runs_frame(records))


def _rows(latex: str) -> dict[str, str]:
    """model name -> its LaTeX row."""
    lines = [line for line in latex.splitlines() if line.endswith(r"\\") and not line.startswith("model")]
    return {line.split(" & ")[0]: line for line in lines}


def test_latex_is_booktabs_with_the_best_of_each_column_in_bold():
    records = [make_record(model="fast_net", seed=s, metric_value=0.80, samples_per_s=50000.0) for s in (0, 1)]
    records += [make_record(model="good_net", seed=s, metric_value=0.95, peak_memory_mb=3.0) for s in (0, 1)]
    latex = render_latex(_summary(records))
    assert latex.startswith(r"\begin{tabular}") and latex.endswith(r"\end{tabular}")
    assert r"\toprule" in latex and r"\midrule" in latex and r"\bottomrule" in latex and r"\hline" not in latex
    rows = _rows(latex)
    assert set(rows) == {r"fast\_net", r"good\_net"}  # underscores escaped: the table compiles
    assert r"\textbf{0.950 $\pm$ 0.000}" in rows[r"good\_net"]  # best accuracy
    assert r"\textbf{3.0}" in rows[r"good\_net"]  # least memory
    assert r"\textbf{50000}" in rows[r"fast\_net"]  # most samples/s
    assert r"\textbf" not in rows[r"fast\_net"].split(" & ")[5]  # its accuracy is not the best


def test_latex_best_follows_the_metric_mode_and_stays_within_a_dataset():
    low = [make_record(model="a", seed=s, metric_value=0.2, mode="min") for s in (0, 1)]
    high = [make_record(model="b", seed=s, metric_value=0.9, mode="min") for s in (0, 1)]
    other = [make_record(model="c", seed=s, metric_value=0.1) for s in (0, 1)]
    for record in other:
        record["config"]["dataset_label"] = "zz_other"
    latex = render_latex(_summary(low + high + other))
    rows = _rows(latex)
    assert r"\textbf{0.20" in rows["a"] and r"\textbf{0.90" not in rows["b"]  # lower RMSE wins
    assert r"\textbf" not in rows["c"].split(" & ")[6]  # alone in its dataset: nothing to beat
    assert latex.count(r"\midrule") == 2  # header rule, then one between the two datasets


def test_latex_escapes_every_special_character():
    assert escape("a_b & 50% #1 $x$ {y} ~ ^ \\") == (
        r"a\_b \& 50\% \#1 \$x\$ \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{}"
    )


def test_csv_and_parquet_have_one_row_per_run_with_provenance(tmp_path):
    records = [make_record(seed=s) for s in range(3)] + [make_record(model="broken", status="failed", reason="boom")]
    store = Store(tmp_path / "results")
    for record in records:
        store.write(record)
    csv = pd.read_csv(io.StringIO(export(records, "csv")))
    assert len(csv) == 4 and sorted(csv["seed"]) == [0, 0, 1, 2]
    assert {"test_metric", "samples_per_s", "peak_memory_mb", "device", "status", "reason"} <= set(csv.columns)
    assert set(csv["status"]) == {"ok", "failed"}
    assert main(["report", str(tmp_path / "results"), "--format", "parquet", "-o", str(tmp_path / "runs.parquet")]) == 0
    parquet = pd.read_parquet(tmp_path / "runs.parquet")
    assert set(parquet.columns) == set(csv.columns) and len(parquet) == 4
    assert parquet.set_index("key").loc[make_record(seed=2)["key"], "samples_per_s"] == pytest.approx(12000.0)


def test_parquet_needs_a_file_and_is_refused_before_any_work(tmp_path, capsys):
    Store(tmp_path).write(make_record())
    assert main(["report", str(tmp_path), "--format", "parquet"]) == 2
    assert "binary format" in capsys.readouterr().err
    assert main(["run", "--format", "parquet", "-m", "nosuch"]) == 2
    assert "binary format" in capsys.readouterr().err


def test_report_writes_to_a_file(tmp_path):
    Store(tmp_path / "r").write(make_record())
    text = api.report(tmp_path / "r", "github", output=tmp_path / "out" / "table.md")
    assert (tmp_path / "out" / "table.md").read_text() == text + "\n"
    assert text.startswith("| model")
