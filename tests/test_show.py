"""harness show NAME: a spec's plugin, parameters (type, default, search range) and what it pairs with here."""

import json

import pytest

from harness import cli
from harness.errors import UnknownNameError
from harness.showing import describe
from tests import FIXTURES


def _show(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(["show", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_model_shows_its_parameters_and_the_datasets_it_trains_on(capsys):
    code, out, _ = _show(capsys, "mlp")
    assert code == 0 and out.startswith("model mlp (plugin harness_dense, harness-dl ")
    assert "hidden       list    [128, 64]  -" in out and "dropout      float   0.0" in out
    assert "datasets it can train on here: digits," in out
    assert "  not diabetes: model mlp does classification, dataset diabetes is regression" in out


def test_an_optimizer_shows_what_a_tuning_searches(capsys):
    code, out, _ = _show(capsys, "adam")
    assert code == 0
    assert "lr               float     0.001         0.0001..0.1 log" in out
    assert "betas            list      [0.9, 0.999]  betas[0]: 1-x 0.001..0.5 log" in out
    assert "amsgrad          bool      false         -" in out


def test_a_dataset_shows_its_splits_references_and_models(capsys):
    code, out, _ = _show(capsys, "digits")
    assert code == 0 and "task: classification; modality: image" in out
    assert "val_fraction   float         0.2  -" in out
    assert "reference: accuracy computed when a report first needs it (scikit-learn MLPClassifier" in out
    assert "models that can train on it here: cnn, logreg, mlp, resnet" in out


def test_json_round_trips(capsys, registry):
    for name in ("mlp", "adam", "digits"):
        code, out, _ = _show(capsys, name, "--json")
        assert code == 0 and json.loads(out) == json.loads(json.dumps(describe(registry, name), default=str))
    listed = json.loads(cli.main(["list", "optimizers", "--json"]) == 0 and capsys.readouterr().out)
    sgd = next(row for row in listed["entries"] if row["name"] == "sgd")
    assert {"name": "weight_decay", "type": "float", "default": 0.0, "search": "1e-06..0.01 log"} in sgd["parameters"]


def test_an_unknown_name_is_a_one_line_error_with_close_names(capsys, registry):
    code, _, err = _show(capsys, "mlpp")
    assert code == 2 and err.strip().splitlines() == [
        "harness show: error: no model, dataset or optimizer is called 'mlpp' (did you mean: mlp, rmsprop?)"
    ]
    with pytest.raises(UnknownNameError, match="no dataset is called 'mlp'"):
        describe(registry, "mlp", "dataset")


def test_a_family_member_is_shown_too(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    code, out, _ = _show(capsys, "widths/mlp16", "--plugins", str(FIXTURES / "zoo_family.py"))
    assert code == 0 and out.startswith("model widths/mlp16 (plugin ") and "an MLP of width 16" in out
