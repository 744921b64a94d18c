"""A dataset without a validation split (``val_fraction=0``): runs train and test; no validation field is made up."""

import pytest

import harness
from harness.api import load_registry
from harness.errors import ConfigError
from harness.train.runner import VALIDATION_RESULTS
from tests import FIXTURES
from tests.plugin_factory import write_module

NO_VALIDATION = """
import torch

from harness import hookimpl
from harness.specs import DatasetInfo, DatasetSpec, DatasetSplits


def _load():
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(96, 64, generator=generator)
    targets = (inputs[:, 0] > 0).long()
    info = DatasetInfo(task="classification", modality="tabular", input_shape=(64,), num_classes=2)
    return DatasetSplits(train=(inputs[:64], targets[:64]), val=None, test=(inputs[64:], targets[64:]), info=info)


@hookimpl
def harness_register_datasets():
    return [DatasetSpec(name="noval", load=_load, task="classification", modality="tabular")]
"""

SETTINGS = {"datasets": "noval", "optimizers": "sgd", "seeds": 1, "max_epochs": 2, "batch_size": 16}


@pytest.fixture(scope="module")
def no_validation(tmp_path_factory):
    path = write_module(tmp_path_factory.mktemp("plugins") / "noval_data.py", NO_VALIDATION)
    return load_registry(plugins=[FIXTURES / "test_models.py", path])


@pytest.mark.parametrize("model, engine", [("logreg", "fabric"), ("ownloop", "trainer")])
def test_a_run_without_validation_has_no_validation_results(tmp_path, no_validation, model, engine):
    result = harness.run(launcher="inline", output=tmp_path, registry=no_validation, models=model, **SETTINGS)
    (record,) = result.records
    assert record["status"] == "ok", record["traceback"]
    results = record["results"]
    assert results["engine"] == engine
    assert not set(VALIDATION_RESULTS) & set(results), "validation-only fields must be absent, not zero"
    assert results["steps"] == 2 * 4 and len(results["train_losses"]) == 2
    assert results["test_metric"] is not None and results["samples_per_s"] > 0
    assert "noval" in result.table()  # the tables read a record without them


@pytest.mark.parametrize("setting", [{"early_stopping": 2}, {"target": 0.5}])
def test_early_stopping_and_a_target_need_a_validation_split(tmp_path, no_validation, setting):
    try:
        result = harness.run(
            launcher="inline", output=tmp_path, registry=no_validation, models="logreg", **SETTINGS, **setting
        )
    except ConfigError as exc:  # refused while the grid is built, where the split is known
        assert "validation" in str(exc)
        return
    (record,) = result.records
    assert record["status"] == "failed"
    assert "no validation split" in record["reason"] and "val_fraction=0" in record["reason"]
