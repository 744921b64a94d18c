"""Runs whose timing was disturbed (load, CPU contention, jittery steps) are marked in every report and never
judged a speed regression or improvement by compare; tabulate's unescaped formats are refused."""

import io
import json

import pandas as pd
import pytest

from harness.cli import main
from harness.errors import ConfigError
from harness.reporting.cells import summary_frame
from harness.reporting.compare import DISTURBED, REGRESSION, UNCHANGED, check_compare_format, compare_dirs
from harness.reporting.export import export, render
from harness.reporting.formats import check_format, formats
from harness.reporting.frames import runs_export, runs_frame
from harness.reporting.html import build_html
from harness.reporting.text import MAX_TIMING_LINES, TIMING_MARK, is_number_text
from harness.store import Store
from tests.records import make_record

LOADED = "load 3.2 > 2 cores"
JITTERY = "step-time CV 0.8 > 0.5"


def timing(*reasons, cv=0.1):
    """``results["timing"]`` as the runner writes it, disturbed for ``reasons``."""
    return {
        "load_start": 3.2 if LOADED in reasons else 0.4,
        "load_end": 2.9,
        "cores": 2,
        "threads": 2,
        "cpu_time_s": 1.8,
        "wall_time_s": 1.0,
        "cpu_share": 0.9,
        "step_time_cv": 0.8 if JITTERY in reasons else cv,
        "disturbed": list(reasons),
    }


def summarise(records):
    return summary_frame(runs_frame(records))


def mixed_cells():
    """'mlp': three seeds, one of them disturbed by load; 'cnn': two clean seeds."""
    records = [make_record(seed=s, timing=timing(*([LOADED] if s == 1 else []))) for s in range(3)]
    return records + [make_record(model="cnn", seed=s, timing=timing()) for s in range(2)]


def table_rows(text: str) -> dict[str, str]:
    return {line.split()[0]: line for line in text.splitlines() if line.split() and line.split()[0] in ("mlp", "cnn")}


# ---------------------------------------------------------------------------
# Run-level frames and CSV
# ---------------------------------------------------------------------------


def test_runs_frame_says_which_runs_were_disturbed_and_why():
    old = make_record(model="old")  # written before timing was measured: unknown, not marked
    frame = runs_frame([make_record(timing=timing(LOADED, JITTERY)), make_record(seed=1, timing=timing()), old])
    assert list(frame["timing_disturbed"]) == [True, False, False]
    assert list(frame["timing_notes"]) == [f"{LOADED}; {JITTERY}", "", ""]
    assert frame.loc[0, "timing_load_start"] == 3.2 and frame.loc[0, "timing_step_time_cv"] == 0.8
    assert frame.loc[0, "timing_cpu_share"] == 0.9 and frame.loc[0, "timing_cores"] == 2
    assert pd.isna(frame.loc[2, "timing_load_start"]) and pd.isna(frame.loc[2, "timing_cpu_share"])
    assert frame.loc[0, "wall_time_s"] == 2.5 and frame.loc[0, "timing_wall_time_s"] == 1.0  # results' own kept
    assert {"timing_disturbed", "timing_notes"} <= set(runs_frame([]))


def test_run_csv_and_parquet_carry_the_timing_columns():
    records = [make_record(timing=timing(LOADED)), make_record(seed=1, timing=timing())]
    frame = pd.read_csv(io.StringIO(export(records, "csv")))
    assert list(frame["timing_disturbed"]) == [True, False]
    assert frame.loc[0, "timing_notes"] == LOADED and pd.isna(frame.loc[1, "timing_notes"])
    parquet = pd.read_parquet(io.BytesIO(runs_export(runs_frame(records)).to_parquet(index=False)))
    assert list(parquet["timing_disturbed"]) == [True, False]


# ---------------------------------------------------------------------------
# The summary table
# ---------------------------------------------------------------------------


def test_summary_counts_the_disturbed_runs_of_a_cell():
    rows = {r["model"]: r for r in summarise(mixed_cells()).to_dict("records")}
    assert (rows["mlp"]["disturbed"], rows["mlp"]["timing_notes"]) == (1, LOADED)
    assert (rows["cnn"]["disturbed"], rows["cnn"]["timing_notes"]) == (0, "")
    csv = pd.read_csv(io.StringIO(render(summarise(mixed_cells()), "csv")))
    assert list(csv["disturbed"]) == [0, 1]  # cnn sorts first


def test_text_table_marks_the_speed_numbers_of_a_disturbed_cell_and_says_why():
    text = render(summarise(mixed_cells()))
    rows = table_rows(text)
    assert f"11000{TIMING_MARK}" in rows["mlp"] and f"4.00{TIMING_MARK}" in rows["mlp"]  # samples/s, step ms
    assert f"2.00{TIMING_MARK}" in rows["mlp"]  # train s
    assert "0.900 ±" in rows["mlp"] and f"0.900{TIMING_MARK}" not in rows["mlp"]  # the metric is no timing
    assert TIMING_MARK not in rows["cnn"]
    footnotes = [line for line in text.splitlines() if line.startswith(TIMING_MARK)]
    assert footnotes == [f"{TIMING_MARK} mlp | digits | sgd | batch 64: timing disturbed in 1 of 3 runs: {LOADED}"]


def test_clean_and_unmeasured_cells_have_no_mark_and_no_footnote():
    for records in ([make_record(timing=timing())], [make_record()]):
        text = render(summarise(records))
        assert TIMING_MARK not in text and "disturbed" not in text


def test_time_to_target_is_marked_but_not_reached_is_not():
    records = [make_record(seed=0, target=0.9, time_to_target_s=1.5, timing=timing(JITTERY))]
    assert f"1.50{TIMING_MARK}" in render(summarise(records))
    records = [make_record(seed=0, target=0.9, timing=timing(JITTERY))]
    assert f"not reached{TIMING_MARK}" not in render(summarise(records))


def test_many_disturbed_cells_get_one_summary_line():
    records = [make_record(model=f"m{i}", timing=timing(LOADED)) for i in range(MAX_TIMING_LINES + 1)]
    footnotes = [line for line in render(summarise(records)).splitlines() if line.startswith(TIMING_MARK)]
    count = MAX_TIMING_LINES + 1
    assert footnotes == [f"{TIMING_MARK} timing disturbed in {count} of {count} runs of {count} cells: {LOADED}"]


def test_marked_numbers_still_align_as_numbers_and_latex_has_the_note():
    assert is_number_text(f"11000{TIMING_MARK}") and is_number_text(f"4.00{TIMING_MARK}")
    assert not is_number_text(f"mlp{TIMING_MARK}")
    latex = render(summarise(mixed_cells()), "latex")
    assert f"11000{TIMING_MARK}" in latex and "timing disturbed in 1 of 3 runs" in latex


# ---------------------------------------------------------------------------
# The HTML page
# ---------------------------------------------------------------------------


def test_html_marks_disturbed_speed_cells_with_the_reasons_on_hover():
    page = build_html(runs_frame(mixed_cells()))
    title = 'title="timing disturbed in 1 of 3 runs: load 3.2 &gt; 2 cores"'  # escaped, as every text
    assert f'<td class="num disturbed" {title}>11000{TIMING_MARK}</td>' in page
    assert '<td class="num">0.900 ± ' in page  # the metric cell of that row is not marked
    assert "id='timing-notes'" in page and "mlp | digits | sgd | batch 64: timing disturbed in 1 of 3 runs" in page
    assert "<th>timing disturbed</th>" in page and "<td>load 3.2 &gt; 2 cores</td>" in page  # the run in provenance
    clean = build_html(runs_frame([make_record(timing=timing())]))
    assert "timing-notes" not in clean and 'disturbed"' not in clean


# ---------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------

STEADY = [1000.0, 1004.0, 996.0, 1002.0, 998.0]


def write(root, records):
    store = Store(root)
    for record in records:
        store.write(record)
    return root


def runs(rates, *reasons):
    return [make_record(seed=i, samples_per_s=v, timing=timing(*reasons)) for i, v in enumerate(rates)]


def speed(comparison):
    (change,) = [c for c in comparison.changes if c.quantity == "samples/s"]
    return change


def test_a_three_times_slower_disturbed_run_is_set_aside_not_a_regression(tmp_path, capsys):
    base = write(tmp_path / "base", runs(STEADY))
    new = write(tmp_path / "new", runs([v / 3 for v in STEADY], LOADED))
    result = compare_dirs(base, new)
    change = speed(result)
    assert change.verdict == DISTURBED and result.regressions == [] and result.set_aside == [change]
    assert "would be regression" in change.note and f"NEW: 5 of 5 runs ({LOADED})" in change.note
    assert "BASE" not in change.note
    assert main(["compare", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    assert "timing disturbed" in out and "1 speed change set aside: timing disturbed" in out
    assert "REGRESSION" not in out
    assert json.loads(result.render("json"))["set_aside"] == 1


def test_the_same_slowdown_without_disturbance_is_a_regression(tmp_path):
    base = write(tmp_path / "base", runs(STEADY))
    new = write(tmp_path / "new", runs([v / 3 for v in STEADY]))
    result = compare_dirs(base, new)
    assert speed(result).verdict == REGRESSION and result.set_aside == []
    assert "set aside" not in result.verdict_line()
    assert main(["compare", str(base), str(new)]) == 1


def test_a_disturbed_base_never_makes_an_improvement_and_other_quantities_are_judged(tmp_path):
    base = write(tmp_path / "base", runs([v / 3 for v in STEADY], JITTERY))
    worse = [make_record(seed=i, samples_per_s=v, metric_value=0.5) for i, v in enumerate(STEADY)]
    new = write(tmp_path / "new", worse)
    result = compare_dirs(base, new)
    change = speed(result)
    assert change.verdict == DISTURBED and "would be improved" in change.note and "BASE: 5 of 5 runs" in change.note
    metric = next(c for c in result.changes if c.quantity == "test accuracy")
    assert metric.verdict == REGRESSION  # accuracy is no timing: still judged


def test_an_unchanged_speed_keeps_its_verdict_and_says_the_timing_was_disturbed(tmp_path):
    base = write(tmp_path / "base", runs(STEADY))
    new = write(tmp_path / "new", runs(STEADY, LOADED))
    change = speed(compare_dirs(base, new))
    assert change.verdict == UNCHANGED and LOADED in change.note


# ---------------------------------------------------------------------------
# tabulate's unsafe formats
# ---------------------------------------------------------------------------


def test_unsafe_tabulate_formats_are_refused(tmp_path, capsys):
    assert "unsafehtml" not in formats() and "html" in formats()
    for check in (check_format, check_compare_format):
        with pytest.raises(ConfigError, match="unsafehtml writes text unescaped.*use html"):
            check("unsafehtml")
    with pytest.raises(ConfigError, match="unescaped"):
        render(summarise([make_record()]), "unsafehtml")
    write(tmp_path / "results", [make_record()])
    assert main(["report", str(tmp_path / "results"), "--format", "unsafehtml"]) == 2
    assert "unsafehtml writes text unescaped" in capsys.readouterr().err
