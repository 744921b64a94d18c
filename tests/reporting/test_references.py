"""Reading cells against references: which apply to a cell, whether it agrees, and how tables and the listing show it.

Hand-made records (tests/records.py) and hand-made references: no plugin, no training, no torch.
"""

from __future__ import annotations

import pytest

from harness.reporting.cells import summary_frame
from harness.reporting.export import export, render
from harness.reporting.frames import runs_frame
from harness.reporting.references import (
    AGREES,
    DISAGREES,
    NO_RUNS,
    UNKNOWN,
    ReferenceEntry,
    agreement,
    cell_matches,
    listing,
    needed,
    reference_columns,
    render_listing,
    setting,
    short_source,
    with_references,
)
from harness.specs import Reference, SpecError
from tests.records import make_record


def seeds(values, **kwargs) -> list[dict]:
    """One cell: a run per value, seeds 0, 1, ..."""
    return [make_record(seed=seed, metric_value=value, **kwargs) for seed, value in enumerate(values)]


def ref(value=0.9, source="Paper 2020, Table 1", **fields) -> Reference:
    return Reference(value, source, **fields)


def matched(records, *entries) -> dict[str, list[int]]:
    """Model label of each matched cell -> the positions of its references."""
    runs = runs_frame(records)
    names = runs["model_label"] + "/" + runs["optimizer_label"] + "/lr=" + runs["optimizer_params.lr"].astype(str)
    labels = dict(zip(runs["cell"], names, strict=True))
    return {labels[cell]: positions for cell, positions in cell_matches(runs, list(entries)).items()}


GRID = [
    *seeds([0.9, 0.92]),  # mlp / digits / sgd, lr 0.1, 10 epochs, hidden 64
    *seeds([0.8, 0.82], model="cnn"),
    *seeds([0.85, 0.86], optimizer="adam", lr=0.001),
    *seeds([0.7, 0.71], lr=0.01),
]


# ---------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------


def test_a_reference_on_a_model_spec_applies_to_that_models_cells_only():
    assert matched(GRID, ReferenceEntry("model", "cnn", ref())) == {"cnn/sgd/lr=0.1": [0]}


def test_a_reference_on_a_dataset_spec_applies_to_its_dataset_and_the_model_it_names():
    found = matched(GRID, ("dataset", "digits", ref(model="cnn")), ("dataset", "mnist", ref()))
    assert found == {"cnn/sgd/lr=0.1": [0]}


def test_the_optimizer_and_metric_must_match():
    assert matched(GRID, ("dataset", "digits", ref(optimizer="adam"))) == {"mlp/adam/lr=0.001": [0]}
    assert matched(GRID, ("dataset", "digits", ref(metric="rmse"))) == {}
    assert len(matched(GRID, ("dataset", "digits", ref(metric="accuracy")))) == 4


def test_every_setting_must_match_the_cells_config():
    found = matched(GRID, ("model", "mlp", ref(settings={"lr": 0.1, "max_epochs": 10.0})))
    assert found == {"mlp/sgd/lr=0.1": [0]}  # 10 epochs and 10.0 are the same; lr 0.01 and adam's are not
    assert matched(GRID, ("model", "mlp", ref(settings={"hidden": 64, "optimizer": "sgd"}))).keys() == {
        "mlp/sgd/lr=0.1",
        "mlp/sgd/lr=0.01",
    }
    assert matched(GRID, ("model", "mlp", ref(settings={"optimizer.lr": 0.01}))) == {"mlp/sgd/lr=0.01": [0]}
    assert matched(GRID, ("model", "mlp", ref(settings={"no_such_key": 1}))) == {}
    assert matched(GRID, ("model", "mlp", ref(settings={"hidden": [64]}))) == {}  # a list is not a number


def test_setting_lookup():
    config = {"max_steps": 8000, "model_params": {"hidden": [128, 64]}, "optimizer_params": {"lr": 0.1}}
    assert setting(config, "max_steps") == 8000
    assert setting(config, "hidden") == [128, 64]
    assert setting(config, "optimizer_params.lr") == setting(config, "optimizer.lr") == 0.1
    assert setting(config, "strategy") not in ("auto", None)  # what the config lacks matches nothing
    assert setting(config, "model.lr") not in (0.1, None)


def test_several_references_apply_to_one_cell_and_each_is_shown():
    entries = [ReferenceEntry("model", "mlp", ref(0.91, "A 2020", spread=0.01)), ("model", "mlp", ref(0.5, "B 2021"))]
    runs = runs_frame(seeds([0.9, 0.92]))
    summary = summary_frame(runs)
    columns = reference_columns(summary, runs, entries)
    assert columns == {"reference": ["0.910 ± 0.010 (A 2020); 0.500 (B 2021)"], "agrees": ["yes; unknown"]}


# ---------------------------------------------------------------------------
# Agreement
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference, mean, ci95, n, expected",
    [
        (ref(0.95, spread=0.02), 0.90, 0.04, 3, AGREES),  # [0.86, 0.94] meets [0.93, 0.97]
        (ref(0.95, spread=0.02), 0.90, 0.02, 3, DISAGREES),  # [0.88, 0.92] stops short of 0.93
        (ref(0.95, spread=0.0), 0.95, float("nan"), 1, AGREES),  # one seed: its mean is the interval
        (ref(0.925, tolerance=0.025), 0.90, 0.1, 3, AGREES),  # within the tolerance, rounding aside
        (ref(0.925, tolerance=0.02), 0.90, 0.1, 3, DISAGREES),  # the CI does not count without a spread
        (ref(0.90, spread=0.01, tolerance=0.5), 0.70, 0.01, 3, DISAGREES),  # the spread decides when given
        (ref(0.90), 0.90, 0.01, 3, UNKNOWN),  # neither spread nor tolerance
        (ref(0.90, tolerance=0.1), float("nan"), float("nan"), 0, UNKNOWN),  # no finite test metric
        (ref(0.90, tolerance=0.1), None, None, 0, UNKNOWN),
    ],
)
def test_agreement(reference, mean, ci95, n, expected):
    assert agreement(reference, mean, ci95, n) == expected


def test_a_cell_without_a_finite_metric_is_unknown_in_the_table():
    records = [make_record(seed=s, status="failed") for s in range(2)]
    runs = runs_frame(records)
    columns = reference_columns(summary_frame(runs), runs, [("model", "mlp", ref(tolerance=0.1))])
    assert columns["agrees"] == ["unknown"]


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["simple", "github", "latex", "plain"])
def test_the_table_is_unchanged_byte_for_byte_when_no_reference_matches(fmt):
    entries = [("model", "resnet", ref()), ("dataset", "digits", ref(settings={"lr": 0.5}))]
    assert export(GRID, fmt, references=entries) == export(GRID, fmt)
    summary = summary_frame(runs_frame(GRID))
    assert with_references(summary, runs_frame(GRID), entries) is summary


def test_a_matching_reference_adds_its_columns_after_seeds():
    entries = [("model", "cnn", ref(0.95, "Zhang et al. 2019 (ICML), Table 2", spread=0.01))]
    lines = export(GRID, "simple", references=entries).splitlines()
    header = lines[0].split()
    assert header[header.index("seeds") + 1 : header.index("seeds") + 3] == ["reference", "agrees"]
    cnn = next(line for line in lines if line.startswith("cnn"))
    assert "0.950 ± 0.010 (Zhang et al. 2019)" in cnn and " no " in cnn
    mlp = next(line for line in lines if line.startswith("mlp"))
    assert "Zhang" not in mlp


def test_csv_and_latex_summaries_carry_the_columns():
    runs = runs_frame(GRID)
    entries = [("model", "cnn", ref(0.81, "A & B 2020", tolerance=0.02))]
    summary = with_references(summary_frame(runs), runs, entries)
    csv = render(summary, "csv").splitlines()
    assert csv[0].endswith(",reference,agrees")
    assert any(line.startswith("cnn,") and line.endswith(",0.810 (tol 0.02) (A & B 2020),yes") for line in csv)
    latex = render(summary, "latex").splitlines()
    columns = latex[0][len(r"\begin{tabular}{") : -1]
    header = latex[2].removesuffix(r" \\").split(" & ")
    assert len(columns) == len(header) and header[header.index("seeds") + 1] == "reference"
    rows = [line.removesuffix(r" \\").split(" & ") for line in latex[4:] if line.endswith(r" \\")]
    assert all(len(row) == len(header) for row in rows)
    assert r"0.810 (tol 0.02) (A \& B 2020)" in latex[4 + [r[0] for r in rows].index("cnn")]


def test_short_source():
    assert short_source("Greydanus 2020, Scaling down deep learning") == "Greydanus 2020"
    assert (
        short_source("scikit-learn 1.9.1 MLPClassifier(hidden_layer_sizes=(128, 64))")
        == "scikit-learn 1.9.1 MLPClassifier"
    )
    assert short_source("x" * 60).endswith("...") and len(short_source("x" * 60)) == 40


# ---------------------------------------------------------------------------
# The listing, and references computed on demand
# ---------------------------------------------------------------------------


def test_the_listing_gives_every_reference_its_status():
    runs = runs_frame(GRID)
    entries = [
        ("model", "cnn", ref(0.81, spread=0.01)),
        ("model", "mlp", ref(0.5, spread=0.01, settings={"lr": 0.1})),
        ("model", "mlp", ref(0.5)),
        ("model", "resnet", ref(0.9, tolerance=0.01, protocol="200 epochs")),
        ("dataset", "digits", ref(None, "Computed", compute=lambda: ref())),
    ]
    rows = listing(summary_frame(runs), runs, entries, failures={4: "RuntimeError: no scikit-learn"})
    assert [row["status"] for row in rows] == [
        AGREES,
        DISAGREES,
        "unknown (3 cells)",
        NO_RUNS,
        "failed: RuntimeError: no scikit-learn",
    ]
    assert rows[0]["runs"] == "0.810 ± 0.127 (2 seeds)" and rows[3]["model"] == "resnet"
    assert rows[4]["spec"] == "dataset digits" and rows[4]["model"] == "any"
    text = render_listing(rows)
    assert "#4 model resnet: source: Paper 2020, Table 1; protocol: 200 epochs" in text
    assert "#2 model mlp: source: Paper 2020, Table 1; settings: lr=0.1" in text
    assert render_listing(rows, "csv").splitlines()[0].startswith("#,spec,model,dataset,optimizer,metric,reference")
    assert "no matching runs" in {row["status"] for row in listing(None, None, entries[:1])}


def test_a_computed_reference_is_needed_only_when_a_cell_matches_it():
    calls = []
    computed = ref(None, "Computed", compute=lambda: calls.append(1) or ref(0.5, "Computed 1.0"), settings={"lr": 0.5})
    runs = runs_frame(GRID)
    assert needed(runs, [("model", "mlp", computed), ("model", "cnn", ref())]) == {1}
    assert calls == []  # matching reads its scope, never its value
    resolved = computed.resolve()
    assert (resolved.value, resolved.source, resolved.settings, resolved.compute) == (
        0.5,
        "Computed 1.0",
        {"lr": 0.5},
        None,
    )


def test_the_contract_of_a_computed_reference():
    with pytest.raises(SpecError, match="give a value, or value=None and compute"):
        Reference(None, "Nothing")
    with pytest.raises(SpecError, match="not both"):
        Reference(0.5, "Both", compute=lambda: None)
    with pytest.raises(SpecError, match="compute must be callable"):
        Reference(None, "Not callable", compute=3)
    with pytest.raises(SpecError, match="compute must return a Reference with a value"):
        Reference(None, "Wrong", compute=lambda: 0.5).resolve()
