"""scikit-learn's MLPs as computed references: trained on the harness's own splits, cached, shown beside its runs."""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn")

from harness_tabular import sklearn_baseline as diabetes_baseline  # noqa: E402
from harness_vision import sklearn_baseline as digits_baseline  # noqa: E402


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """A cache of this test's own: what it computes is what it reads back."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))


def test_the_digits_baseline_trains_on_the_harness_split_and_is_accurate():
    from harness_vision.digits import load_digits

    splits = load_digits(**digits_baseline.SPLIT)
    assert len(splits.train[0]) == 1077  # the split the baseline trains on is the one every run trains on
    (accuracy,) = digits_baseline.train_scores((0,))
    assert accuracy > 0.9


def test_the_diabetes_baseline_lands_where_the_harness_mlp_regressor_does():
    (rmse,) = diabetes_baseline.train_scores((0,))
    assert 50 < rmse < 75  # harness mlp_regressor with sgd, the same settings: 59.7 ± 2.7 over 3 seeds


def test_the_computed_reference_is_cached_and_names_scikit_learn(monkeypatch):
    monkeypatch.setattr(digits_baseline, "SEEDS", (0, 1))
    reference = digits_baseline.REFERENCE.resolve()
    assert reference.value > 0.9 and reference.spread >= 0 and reference.compute is None
    assert reference.source.startswith(f"scikit-learn {digits_baseline.sklearn_version()} MLPClassifier(")
    assert reference.model == "mlp" and reference.settings == digits_baseline.SETTINGS  # the declared scope stays
    assert digits_baseline.cache_path((0, 1)).exists()

    def trained_again(seeds):
        raise AssertionError("a second report must read the cache, not train")

    monkeypatch.setattr(digits_baseline, "train_scores", trained_again)
    assert digits_baseline.REFERENCE.resolve() == reference


def test_the_built_in_datasets_ship_the_computed_references():
    from harness.registry import load_registry

    registry = load_registry()
    digits = registry.get("dataset", "digits").spec.references
    diabetes = registry.get("dataset", "diabetes").spec.references
    assert digits_baseline.REFERENCE in digits and diabetes_baseline.REFERENCE in diabetes
    assert digits_baseline.REFERENCE.value is None  # computed only when a report has a matching cell


@pytest.mark.slow
def test_a_report_of_harness_runs_of_mlp_on_digits_shows_the_scikit_learn_reference(tmp_path, monkeypatch):
    import harness.api as api

    monkeypatch.setattr(digits_baseline, "SEEDS", (0, 1))
    out = tmp_path / "res"
    settings = {"models": "mlp", "datasets": "digits", "optimizers": "sgd", "max_epochs": 40, "batch_size": 64}
    api.run(output=out, launcher="inline", seeds=3, **settings)
    table = api.report(out, "github")
    header, _, row = table.splitlines()[:3]
    cells = dict(zip([h.strip() for h in header.split("|")], [c.strip() for c in row.split("|")], strict=True))
    assert cells["reference"].endswith(f"(scikit-learn {digits_baseline.sklearn_version()} MLPClassifier)")
    assert cells["agrees"] == "yes"
    rows = {row["spec"]: row for row in api.references(out).rows}
    assert rows["dataset digits"]["status"] == "agrees" and rows["dataset digits"]["runs"].endswith("(3 seeds)")
    assert rows["dataset diabetes"]["status"] == "no matching runs"  # and it was not computed
    assert rows["dataset diabetes"]["reference"] == "computed when a run matches"
