"""The MNIST-1D paper's four models, their published accuracies and the suite that reproduces them."""

from __future__ import annotations

import importlib.util
import inspect

import pytest
import torch

import harness
from harness.config import default_suite_path, expand, resolve_suite
from harness.specs import DatasetInfo, Reference

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("mnist1d") is None, reason="mnist1d is not installed"),
    pytest.mark.usefixtures("mnist1d_cache_env", "one_thread"),  # tests/plugins/conftest.py
]

#: the paper's parameter counts on the default MNIST-1D (40 positions, 10 classes) and its test accuracies
PAPER = {
    "mnist1d_logistic": (410, 0.32),
    "mnist1d_mlp": (15_210, 0.68),
    "mnist1d_cnn": (5_210, 0.94),
    "mnist1d_gru": (5_134, 0.91),
}
SUITE = default_suite_path().parent / "mnist1d-paper.toml"


@pytest.fixture(scope="module")
def mnist1d(mnist1d_cache):
    """The paper's MNIST-1D: all 4,000 training signals, nothing held out."""
    from harness_sequence.mnist1d_data import load_mnist1d

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_CACHE_DIR", str(mnist1d_cache))
        return load_mnist1d(val_fraction=0)


def _info(channels=1, length=40, classes=10):
    return DatasetInfo(task="classification", modality="sequence", input_shape=(channels, length), num_classes=classes)


def _build(registry, name, info, **overrides):
    spec = registry.get("model", name).spec
    return spec.build(info, **{**spec.defaults, **overrides})


def _count(net) -> int:
    return sum(p.numel() for p in net.parameters())


# -- the models -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PAPER))
def test_the_paper_models_have_the_papers_parameter_counts(registry, name):
    assert _count(_build(registry, name, _info())) == PAPER[name][0]


def test_the_paper_models_are_registered_with_every_parameter_declared(registry):
    from harness_sequence import paper_models

    mnist = registry.get("dataset", "mnist1d").spec
    for name in PAPER:
        entry = registry.get("model", name)
        spec = entry.spec
        assert entry.plugin == "harness_sequence"
        assert spec.tasks == ("classification",) and spec.modalities == ("sequence",)
        assert "Greydanus 2020" in spec.description and f"{PAPER[name][1]:.0%}" in spec.description
        parameters = inspect.signature(getattr(paper_models, spec.build.__name__)).parameters
        assert {key: parameters[key].default for key in parameters if key != "info"} == spec.defaults
        assert spec.incompatibility(mnist) is None
        assert spec.incompatibility(registry.get("dataset", "digits").spec)  # images: not what they read


@pytest.mark.parametrize("name", list(PAPER))
def test_each_model_classifies_a_batch_of_the_real_data(registry, mnist1d, name):
    torch.manual_seed(0)
    net = _build(registry, name, mnist1d.info)
    x, y = mnist1d.train[0][:100], mnist1d.train[1][:100]
    assert x.shape == (100, 1, 40)
    logits = net(x)
    assert logits.shape == (100, 10) and torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, y).backward()
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("name", list(PAPER))
def test_sizes_come_from_the_dataset_so_another_shape_still_builds(registry, name):
    info = _info(channels=3, length=57, classes=4)
    net = _build(registry, name, info)
    assert net(torch.randn(5, 3, 57)).shape == (5, 4)


def test_what_cannot_build_is_refused_with_the_reason(registry):
    with pytest.raises(ValueError, match="length 3 or more"):
        _build(registry, "mnist1d_cnn", _info(length=2))
    with pytest.raises(ValueError, match="channels, length"):
        _build(registry, "mnist1d_mlp", DatasetInfo(task="classification", modality="image", input_shape=(1, 8, 8)))
    for name, key in (("mnist1d_mlp", "hidden"), ("mnist1d_cnn", "channels"), ("mnist1d_gru", "hidden_size")):
        spec = registry.get("model", name).spec
        assert spec.validate(spec.defaults) is None
        for bad in (0, True, 2.5):
            assert key in spec.validate({**spec.defaults, key: bad})


def test_the_mlp_adds_its_second_layer_to_its_first(registry):
    torch.manual_seed(0)
    net = _build(registry, "mnist1d_mlp", _info())
    x = torch.randn(4, 1, 40)
    first = torch.relu(net.linear1(x.flatten(1)))
    expected = net.linear3(first + torch.relu(net.linear2(first)))
    assert torch.allclose(net(x), expected)


def test_the_cnn_shrinks_40_positions_to_5_by_strides_alone(registry):
    net = _build(registry, "mnist1d_cnn", _info())
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [(c.kernel_size[0], c.stride[0], c.padding[0], c.out_channels) for c in convs] == [
        (5, 2, 1, 25),
        (3, 2, 1, 25),
        (3, 2, 1, 25),
    ]
    assert not any(isinstance(m, (torch.nn.MaxPool1d, torch.nn.BatchNorm1d)) for m in net.modules())
    assert net.classifier.in_features == 125


def test_the_gru_reads_every_positions_output(registry):
    torch.manual_seed(0)
    net = _build(registry, "mnist1d_gru", _info()).eval()
    assert net.gru.bidirectional and net.gru.hidden_size == 6 and net.gru.input_size == 1
    assert net.classifier.in_features == 480
    x = torch.randn(1, 1, 40)
    for position in (0, 20, 39):
        changed = x.clone()
        changed[0, 0, position] += 1.0
        assert not torch.allclose(net(x), net(changed))


# -- the published figures ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PAPER))
def test_each_model_carries_the_papers_accuracy(registry, name):
    (reference,) = registry.get("model", name).spec.references
    assert isinstance(reference, Reference)
    assert reference.value == PAPER[name][1]
    assert reference.dataset == "mnist1d" and reference.optimizer == "adam" and reference.metric == "accuracy"
    assert reference.tolerance == 0.025 and reference.spread is None
    assert "Greydanus 2020" in reference.source and "Comparing MNIST and MNIST-1D" in reference.source
    assert "8,000 steps" in reference.protocol
    settings = dict(reference.settings)
    expected = {"optimizer": "adam", "lr": 0.01, "batch_size": 100, "max_steps": 8000, "val_fraction": 0}
    assert expected.items() <= settings.items()


# -- the suite ------------------------------------------------------------------------------------


def _lookup(config: dict, key: str):
    """A setting as a record's config holds it: a run config key, or one of its model, dataset or optimizer params."""
    for place in (config, config["model_params"], config["dataset_params"], config["optimizer_params"]):
        if key in place:
            return place[key]
    raise KeyError(key)


def test_the_suite_expands_to_the_four_models_under_the_papers_protocol(registry):
    suite = resolve_suite(SUITE)
    assert suite.name == "mnist1d-paper" and suite.threads == 1
    runs, skipped = expand(suite, registry)
    assert not skipped
    assert sorted({run.model for run in runs}) == sorted(PAPER)
    assert len(runs) == len(PAPER) * len(suite.seeds)
    for run in runs:
        config = run.as_dict()
        assert (config["dataset"], config["optimizer"], config["batch_size"]) == ("mnist1d", "adam", 100)
        assert config["max_steps"] == 8000 and config["max_epochs"] * 40 >= 8000  # the step limit stops the run
        assert config["dataset_params"]["val_fraction"] == 0 and config["optimizer_params"]["lr"] == 0.01
        (reference,) = registry.get("model", run.model).spec.references
        for key, value in reference.settings.items():  # every run of the suite is comparable with the paper
            assert _lookup(config, key) == value, key


def test_a_paper_model_trains_end_to_end_without_a_validation_split(tmp_path, registry, mnist1d):
    from harness.train.runner import VALIDATION_RESULTS

    result = harness.run(
        SUITE,
        launcher="inline",
        output=tmp_path,
        registry=registry,
        models="mnist1d_mlp",
        seeds=1,
        max_steps=80,
    )
    (record,) = result.records
    assert record["status"] == "ok", record.get("traceback")
    assert record["config"]["dataset_params"]["val_fraction"] == 0 and record["config"]["batch_size"] == 100
    results = record["results"]
    assert results["steps"] == 80 and results["params"] == 15_210
    assert not set(VALIDATION_RESULTS) & set(results)
    assert results["test_metric"] > 0.2  # chance is 0.1
