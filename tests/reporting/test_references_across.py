"""The plugins' references beyond the summary table: a reference that covers a workload whole normalises it in the
statistics across workloads (named in the normalisation table), and the HTML summary shows the reference columns.

Hand-made records (tests/records.py) and hand-made references: no training, no torch.
"""

from __future__ import annotations

import math

import pytest

from harness.cli import main
from harness.reporting.across_workloads import MIN_MAX, REFERENCE, WorkloadReference, normalise
from harness.reporting.export import shows_references, uses_references
from harness.reporting.frames import runs_frame
from harness.reporting.html import build_html
from harness.reporting.references import ReferenceEntry
from harness.reporting.stats_tables import across_cells, across_frame, stats_tables, whole_workload_references
from harness.specs import Reference
from harness.store import Store
from tests.records import make_record

#: Optimizers on two problems: (model, optimizer, lr) -> test accuracy per seed.
CELLS = {
    ("mlp", "sgd", 0.1): [0.90, 0.91, 0.92],
    ("mlp", "adam", 0.001): [0.93, 0.94, 0.95],
    ("cnn", "sgd", 0.1): [0.80, 0.81, 0.82],
    ("cnn", "adam", 0.001): [0.83, 0.84, 0.85],
}


def records(cells=CELLS, **kwargs) -> list[dict]:
    return [
        make_record(model=model, optimizer=optimizer, lr=lr, seed=seed, metric_value=value, **kwargs)
        for (model, optimizer, lr), values in cells.items()
        for seed, value in enumerate(values)
    ]


RUNS = runs_frame(records())


def covering(runs, *entries) -> dict:
    frame, _ = across_cells(runs)
    return whole_workload_references(runs, frame, [ReferenceEntry(*entry) for entry in entries])


def methods(result) -> dict:
    how = result.normalisation.set_index("workload")
    return {name: (row.method, row.low, row.source, row.note) for name, row in how.iterrows()}


def test_a_reference_for_every_cell_of_a_workload_normalises_it_and_is_named():
    entries = [("dataset", "digits", Reference(0.95, "Paper 2020, Table 1", model="mlp"))]
    assert covering(RUNS, *entries) == {"mlp on digits": WorkloadReference(0.95, "Paper 2020")}
    result = across_frame(RUNS, reference_entries=entries)
    mlp, cnn = methods(result)["mlp on digits"], methods(result)["cnn on digits"]
    assert mlp == (REFERENCE, 0.95, "Paper 2020", "")
    assert cnn[0] == MIN_MAX and cnn[1] == pytest.approx(0.81) and cnn[2] == ""
    frame, _ = across_cells(RUNS)
    scored, _ = normalise(frame, covering(RUNS, *entries))
    scores = {(w, c): s for w, c, s in scored.itertuples(index=False)}
    # 1 + (x - r)/|r| against 0.95; min-max of the means 0.81 and 0.84 on cnn
    assert scores[("mlp on digits", "adam")] == pytest.approx([1 + (v - 0.95) / 0.95 for v in (0.93, 0.94, 0.95)])
    assert scores[("mlp on digits", "sgd")] == pytest.approx([1 + (v - 0.95) / 0.95 for v in (0.90, 0.91, 0.92)])
    assert scores[("cnn on digits", "adam")] == pytest.approx([(v - 0.81) / 0.03 for v in (0.83, 0.84, 0.85)])
    text = stats_tables(RUNS, reference_entries=entries)
    normalisation = text.split("Normalisation of each workload")[1]
    assert "reference 0.95 (Paper 2020)" in normalisation and "min-max of the means: 0.81 (worst)" in normalisation


def test_a_reference_for_some_cells_of_a_workload_only_is_not_used():
    only_sgd = ("dataset", "digits", Reference(0.95, "Sgd 2020", model="mlp", optimizer="sgd"))
    only_lr = ("model", "mlp", Reference(0.95, "Lr 2020", settings={"lr": 0.1}))  # adam ran at 0.001
    other_metric = ("model", "mlp", Reference(0.1, "Loss 2020", metric="loss"))
    assert covering(RUNS, only_sgd, only_lr, other_metric) == {}
    result = across_frame(RUNS, reference_entries=[only_sgd, only_lr, other_metric])
    assert set(result.normalisation["method"]) == {MIN_MAX} and set(result.normalisation["note"]) == {""}


def test_an_optimizer_reference_covers_a_workload_where_every_compared_cell_used_that_optimizer():
    cells = {key: values for key, values in CELLS.items() if key[1] == "sgd"}  # every run used sgd
    runs = runs_frame(records(cells) + records(cells, dataset="iris"))
    entry = ("dataset", "digits", Reference(0.92, "Sgd on digits 2019", optimizer="sgd"))
    result = across_frame(runs, reference_entries=[entry])
    assert result.kind == "models"
    assert methods(result)["digits"][:3] == (REFERENCE, 0.92, "Sgd on digits 2019")
    assert methods(result)["iris"][0] == MIN_MAX


def test_several_values_are_not_chosen_between_and_the_note_says_why():
    entries = [
        ("model", "mlp", Reference(0.95, "Paper A 2020")),
        ("dataset", "digits", Reference(0.9, "Paper B 2021, Table 2", model="mlp")),
        ("dataset", "digits", Reference(0.95, "Paper C 2022")),  # the same value again: one value, two sources
    ]
    result = across_frame(RUNS, reference_entries=entries)
    method, low, source, note = methods(result)["mlp on digits"]
    assert (method, source) == (MIN_MAX, "") and low == pytest.approx(0.91)
    assert note == (
        "2 references apply to all its cells with different values, none chosen: 0.95 (Paper A 2020, Paper C 2022); "
        "0.9 (Paper B 2021)"
    )
    assert methods(result)["cnn on digits"][:3] == (REFERENCE, 0.95, "Paper C 2022")  # only C covers cnn
    text = stats_tables(RUNS, reference_entries=entries)
    assert "min-max of the means: 0.91 (worst) to 0.94 (best); 2 references apply" in text
    # a value given by the caller wins over the plugins'
    given = across_frame(RUNS, {"mlp on digits": 0.5}, reference_entries=entries)
    assert methods(given)["mlp on digits"] == (REFERENCE, 0.5, "", "")


def test_a_reference_that_cannot_scale_falls_back_and_says_so():
    runs = runs_frame(records(target=0.5))
    result = across_frame(runs, reference_entries=[("dataset", "digits", Reference(0.0, "Zero 2020"))])
    method, low, _, note = methods(result)["mlp on digits"]
    assert (method, low) == ("target", 0.5) and note == "its reference 0 cannot scale scores (zero or not finite)"


def test_the_html_summary_shows_the_reference_columns_escaped():
    assert shows_references("html") and uses_references("html")
    assert not shows_references("csv") and uses_references("csv", stats=True) and not uses_references("parquet", True)
    entries = [("model", "cnn", Reference(0.81, "A & B <2020>", tolerance=0.02))]
    page = build_html(RUNS, reference_entries=entries)
    summary = page.split('<table id="summary">')[1].split("</table>")[0]
    headers = [h.split("</th>")[0] for h in summary.split("<th>")[1:]]
    at = headers.index("seeds")
    assert headers[at + 1 : at + 3] == ["reference", "agrees"]
    rows = [row.split("</tr>")[0] for row in summary.split("<tr>")[2:]]
    cnn = [row for row in rows if row.startswith("<td>cnn</td>")]
    assert len(cnn) == 2 and all("<td>0.810 (tol 0.02) (A &amp; B &lt;2020&gt;)</td>" in row for row in cnn)
    assert sorted(row.split("</td>")[at + 2].removeprefix("<td>") for row in cnn) == ["no", "yes"]  # 0.81, 0.84
    assert all(row.split("</td>")[at + 1] == "<td>" for row in rows if row.startswith("<td>mlp</td>"))
    assert "<2020>" not in page
    # the cnn reference covers every cell of cnn on digits, so the statistics normalise that workload by it
    assert "reference 0.81 (A &amp; B &lt;2020&gt;)" in page


PLUGIN = """
from harness import hookimpl
from harness.specs import ModelSpec, Reference


def _computed():
    return Reference(0.8, "Computed 2021 v1")


def _never():
    raise RuntimeError("computed although no cell matches")


def _sgd_only():
    raise RuntimeError("computed for the sgd cell")


@hookimpl
def harness_register_models():
    return [ModelSpec(name="refnet", build=lambda *a, **k: None, references=(
        Reference(0.95, "Whole 2020, Table 1", dataset="digits"),
        Reference(None, "Computed 2021", dataset="iris", compute=_never),
        Reference(None, "Sgd only 2021", optimizer="sgd", compute=_sgd_only),
    )), ModelSpec(name="refcnn", build=lambda *a, **k: None, references=(
        Reference(None, "Computed 2021", dataset="digits", compute=_computed),
    ))]
"""


@pytest.fixture
def shipped(tmp_path):
    """A results folder of refnet and refcnn, each with sgd and adam (CELLS), and the plugin shipping their
    references: one covering refnet on digits, one computed covering refcnn on digits, one computed for no cell,
    and one computed for refnet's sgd cell only (its computation fails)."""
    renamed = {"mlp": "refnet", "cnn": "refcnn"}
    cells = {(renamed[model], optimizer, lr): values for (model, optimizer, lr), values in CELLS.items()}
    store = Store(tmp_path / "res")
    for record in records(cells):
        store.write(record)
    plugin = tmp_path / "refplugin.py"
    plugin.write_text(PLUGIN)
    return store.root, plugin


def test_report_stats_normalises_by_the_plugins_references(shipped, capsys):
    root, plugin = shipped
    assert main(["report", str(root), "--stats", "--plugins", str(plugin)]) == 0
    captured = capsys.readouterr()
    # the table needs the sgd cell's reference (and it fails); the iris one matches no cell: never computed
    assert "Sgd only 2021' could not be computed" in captured.err and "computed although" not in captured.err
    normalisation = captured.out.split("Normalisation of each workload")[1]
    lines = {line.split()[0]: line for line in normalisation.splitlines() if line.startswith("ref")}
    assert lines["refnet"].endswith("reference 0.95 (Whole 2020)")
    assert lines["refcnn"].endswith("reference 0.8 (Computed 2021 v1)")
    scores = captured.out.split("Across workloads (after rliable")[1].split("Probability of improvement")[0]
    adam = next(line for line in scores.splitlines() if line.startswith("adam"))
    # adam's runs: refnet 0.93..0.95 against 0.95, refcnn 0.83..0.85 against 0.8; IQM = mean of the middle 4 of 6
    scored = [1 + (v - 0.95) / 0.95 for v in (0.93, 0.94, 0.95)] + [1 + (v - 0.8) / 0.8 for v in (0.83, 0.84, 0.85)]
    assert adam.split()[3] == f"{math.fsum(sorted(scored)[1:5]) / 4:.3f}"


def test_csv_statistics_compute_only_the_references_that_cover_a_workload(shipped):
    import harness.api as api
    from harness.registry import load_registry

    root, plugin = shipped
    problems = []
    text = api.report(root, "csv", stats=True, registry=load_registry([plugin]), on_reference_problem=problems.append)
    assert problems == []  # no summary table: the sgd cell's reference is not needed, so not computed
    block = text.split("# Normalisation of each workload")[1].split("\n", 1)[1]
    rows = [line.split(",") for line in block.splitlines()[1:]]
    assert {row[0]: row[3:5] + row[6:7] for row in rows} == {
        "refnet on digits": ["reference", "0.95", "Whole 2020"],
        "refcnn on digits": ["reference", "0.8", "Computed 2021 v1"],
    }
