"""The sequence family: MNIST-1D generated offline and cached, the 1-D CNN and the GRU classifier."""

from __future__ import annotations

import importlib.util
import inspect
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from harness_sequence import mnist1d_data
from harness_sequence.mnist1d_data import load_mnist1d
from harness_sequence.models import CNN1d, GRUClassifier, build_cnn1d, build_gru

import harness
from harness.specs import DatasetInfo

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("mnist1d") is None, reason="mnist1d is not installed"),
    pytest.mark.usefixtures("mnist1d_cache_env", "one_thread"),  # tests/plugins/conftest.py
]


@pytest.fixture(scope="session")
def mnist1d(mnist1d_cache):
    """The default MNIST-1D, loaded once per session (generated into the shared cache on first use)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_CACHE_DIR", str(mnist1d_cache))
        return load_mnist1d()


def _info(channels=1, length=40, classes=10):
    return DatasetInfo(task="classification", modality="sequence", input_shape=(channels, length), num_classes=classes)


# -- registration ---------------------------------------------------------------------------------


def test_specs_are_registered_with_every_parameter_declared(registry):
    pairs = (("model", "cnn1d", build_cnn1d), ("model", "gru", build_gru), ("dataset", "mnist1d", load_mnist1d))
    for kind, name, function in pairs:
        entry = registry.get(kind, name)
        assert entry.plugin == "harness_sequence"
        spec = entry.spec
        if kind == "model":
            assert spec.modalities == ("sequence",) and spec.tasks == ("classification",)
        else:
            assert spec.modality == "sequence" and spec.task == "classification"
        parameters = inspect.signature(function).parameters
        assert set(spec.defaults) == {p for p in parameters if p != "info"}
        for key, value in spec.defaults.items():  # the spec's defaults are the function's own
            default = parameters[key].default
            assert (list(default) if isinstance(default, tuple) else default) == value
        assert spec.description
    mnist = registry.get("dataset", "mnist1d").spec
    for model in ("cnn1d", "gru", "mlp"):
        assert registry.get("model", model).spec.incompatibility(mnist) is None
    assert registry.get("model", "cnn1d").spec.incompatibility(registry.get("dataset", "digits").spec)


def test_listing_imports_no_torch_numpy_or_mnist1d():
    code = "import sys, harness_sequence; print(sorted({'torch', 'numpy', 'mnist1d'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_check_says_how_to_install_mnist1d(monkeypatch, registry):
    spec = registry.get("dataset", "mnist1d").spec
    assert spec.check() is None
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mnist1d" else real(name, *a))
    assert "pip install mnist1d" in spec.check()
    with pytest.raises(ModuleNotFoundError, match="pip install mnist1d"):
        load_mnist1d()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "scipy" else real(name, *a))
    assert "pip install scipy" in spec.check()


# -- the dataset ----------------------------------------------------------------------------------


def test_generates_once_then_reads_the_cache(tmp_path, monkeypatch):
    import mnist1d.data

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    real = mnist1d.data.make_dataset
    monkeypatch.setattr(mnist1d.data, "make_dataset", lambda args: calls.append(vars(args).copy()) or real(args))
    monkeypatch.setattr(mnist1d.data, "get_dataset", lambda *a, **k: pytest.fail("get_dataset downloads"))

    random.seed(7)
    np.random.seed(7)
    expected_py, expected_np = random.random(), np.random.rand()
    random.seed(7)
    np.random.seed(7)
    first = load_mnist1d(num_samples=200)
    assert (random.random(), np.random.rand()) == (expected_py, expected_np)  # global RNGs left as they were
    assert len(calls) == 1 and calls[0]["num_samples"] == 200 and calls[0]["seed"] == 42
    files = list((tmp_path / "cache" / "mnist1d").glob("*.npz"))
    assert len(files) == 1 and "200" in files[0].name
    assert not list((tmp_path / "cache" / "mnist1d").glob("*.tmp*"))

    monkeypatch.setattr(mnist1d.data, "make_dataset", lambda args: pytest.fail("the cache was not used"))
    again = load_mnist1d(num_samples=200)
    for a, b in zip((first.train, first.val, first.test), (again.train, again.val, again.test), strict=True):
        assert a[0].dtype == b[0].dtype == torch.float32 and a[1].dtype == b[1].dtype == torch.int64
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])

    # other generation arguments are another file, and other data
    monkeypatch.setattr(mnist1d.data, "make_dataset", real)
    other = load_mnist1d(num_samples=200, generation_seed=1)
    assert len(list((tmp_path / "cache" / "mnist1d").glob("*.npz"))) == 2
    assert not torch.equal(other.test[0], first.test[0])


def test_a_damaged_cache_file_is_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    args = mnist1d_data.generation_args(num_samples=100)
    path = mnist1d_data.cache_path(args)
    path.write_bytes(b"not an npz")
    arrays = mnist1d_data.cached_arrays(args)
    assert arrays["x"].shape == (80, 40)
    with np.load(path) as stored:
        assert np.array_equal(stored["x"], arrays["x"])


def test_default_splits_shapes_and_classes(mnist1d):
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = mnist1d.train, mnist1d.val, mnist1d.test
    assert train_x.shape == (3600, 1, 40) and val_x.shape == (400, 1, 40) and test_x.shape == (1000, 1, 40)
    assert train_x.dtype == torch.float32 and train_y.dtype == torch.int64
    info = mnist1d.info
    assert (info.task, info.modality, info.input_shape, info.num_classes) == ("classification", "sequence", (1, 40), 10)
    assert info.output_dim is None and info.vocab_size is None and not info.synthetic
    assert info.extra["generation_args"]["num_samples"] == 5000
    for labels in (train_y, val_y, test_y):
        assert set(labels.tolist()) == set(range(10))
    # the validation hold-out is stratified: 10% of each class of the package's training part
    train_counts, val_counts = torch.bincount(train_y, minlength=10), torch.bincount(val_y, minlength=10)
    assert torch.all((val_counts - 0.1 * (train_counts + val_counts)).abs() <= 1)
    # the generator standardises the whole set
    everything = torch.cat([train_x, val_x, test_x])
    assert abs(everything.mean().item()) < 1e-3 and abs(everything.std().item() - 1) < 1e-2
    # train and validation are disjoint samples of the package's training part
    train_rows = {tuple(row) for row in train_x[:, 0].tolist()}
    assert not any(tuple(row) in train_rows for row in val_x[:, 0].tolist())


def test_test_split_is_the_packages_and_validation_depends_on_split_seed_only(mnist1d):
    from mnist1d.data import get_dataset_args, make_dataset

    reference = make_dataset(get_dataset_args())
    assert np.allclose(mnist1d.test[0][:, 0].numpy(), reference["x_test"], atol=1e-6)
    assert np.array_equal(mnist1d.test[1].numpy(), reference["y_test"])
    torch.manual_seed(123)  # a run's seed must not move the split
    np.random.seed(123)
    same = load_mnist1d()
    assert torch.equal(same.val[0], mnist1d.val[0]) and torch.equal(same.train[1], mnist1d.train[1])
    other = load_mnist1d(split_seed=1, val_fraction=0.2)
    assert len(other.val[1]) == 800 and not torch.equal(other.val[0][:400], mnist1d.val[0])
    with pytest.raises(ValueError, match="val_fraction"):
        load_mnist1d(val_fraction=1.0)


def test_shuffle_seq_permutes_positions_the_same_way_for_every_signal():
    plain, shuffled = load_mnist1d(num_samples=200), load_mnist1d(num_samples=200, shuffle_seq=True)
    x, xs = plain.train[0][:, 0], shuffled.train[0][:, 0]
    assert torch.equal(plain.train[1], shuffled.train[1])
    assert not torch.allclose(x, xs)
    # one permutation of the 40 positions maps every plain signal onto its shuffled one
    order = [int((x[:, None, :] - xs[:, :, None]).abs().sum(0).argmin(1)[j]) for j in range(40)]
    assert sorted(order) == list(range(40))
    assert torch.allclose(x[:, order], xs, atol=1e-5)


# -- the models -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"head": "flatten", "batch_norm": False},
        {"head": "max", "pool": "none", "channels": [8]},
        {"pool": "avg", "kernel_size": 4, "dropout": 0.2, "channels": 16},
    ],
)
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_cnn1d_builds_and_gives_logits(params):
    for info in (_info(), _info(channels=3, length=17, classes=4)):
        net = build_cnn1d(info, **params)
        assert isinstance(net, CNN1d)
        assert net(torch.randn(5, *info.input_shape)).shape == (5, info.num_classes)


def test_cnn1d_global_head_is_length_independent_and_flatten_is_not():
    net = build_cnn1d(_info())
    assert net(torch.randn(2, 1, 64)).shape == (2, 10)
    assert sum(isinstance(m, torch.nn.Conv1d) for m in net.modules()) == 3
    flat = build_cnn1d(_info(), head="flatten")
    assert flat.classifier.in_features == 64 * 5  # 40 -> 20 -> 10 -> 5 positions of 64 channels
    with pytest.raises(RuntimeError):
        flat(torch.randn(2, 1, 64))
    with pytest.raises(ValueError, match="head"):
        build_cnn1d(_info(), head="mean")
    with pytest.raises(ValueError, match="too short"):
        build_cnn1d(_info(length=4), channels=[4, 4, 4, 4])
    with pytest.raises(ValueError, match="channels, length"):
        build_cnn1d(DatasetInfo(task="classification", modality="image", input_shape=(1, 8, 8), num_classes=10))


@pytest.mark.parametrize("params", [{}, {"bidirectional": True, "num_layers": 2, "hidden_size": 16, "dropout": 0.1}])
def test_gru_builds_and_gives_logits(params):
    for info in (_info(), _info(channels=3, length=17, classes=4)):
        net = build_gru(info, **params)
        assert isinstance(net, GRUClassifier)
        assert net.gru.input_size == info.input_shape[0]
        assert net(torch.randn(5, *info.input_shape)).shape == (5, info.num_classes)


def test_gru_reads_the_length_dimension_and_both_directions():
    torch.manual_seed(0)
    net = build_gru(_info(channels=2, length=6, classes=3), hidden_size=8, bidirectional=True).eval()
    assert net.classifier.in_features == 16
    x = torch.randn(1, 2, 6)
    # the last step changes the forward state, the first one the backward state: both reach the logits
    for position in (0, 5):
        changed = x.clone()
        changed[0, :, position] += 1.0
        assert not torch.allclose(net(x), net(changed))
    weight_hh = net.gru.weight_hh_l0.detach()
    for gate in weight_hh.chunk(3, 0):  # orthogonal recurrent init, gate by gate
        assert torch.allclose(gate @ gate.T, torch.eye(8), atol=1e-5)
    assert torch.count_nonzero(net.gru.bias_ih_l0) == 0


@pytest.mark.parametrize("builder", [build_cnn1d, build_gru])
def test_models_overfit_a_tiny_batch(builder, mnist1d):
    torch.manual_seed(0)
    x, y = mnist1d.train[0][:16], mnist1d.train[1][:16]
    net = builder(mnist1d.info)
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-3)
    first = F.cross_entropy(net(x), y).item()
    for _ in range(40):
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        logits = net(x)
    assert F.cross_entropy(logits, y).item() < 0.2 * first
    assert (logits.argmax(1) == y).float().mean() > 0.8


# -- end to end -----------------------------------------------------------------------------------


def test_cnn1d_learns_mnist1d_end_to_end(tmp_path, registry, mnist1d):
    result = harness.run(
        launcher="inline",
        output=tmp_path,
        registry=registry,
        models="cnn1d",
        datasets="mnist1d",
        optimizers="adam",
        seeds=1,
        max_epochs=3,
    )
    (record,) = result.records
    assert record["status"] == "ok", record.get("reason")
    assert record["metric"] == "accuracy"
    assert record["results"]["test_metric"] > 0.6  # chance is 0.1
