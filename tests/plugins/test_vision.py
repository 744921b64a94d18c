"""The vision family: IDX and CIFAR readers on files in their real formats, the checks, the CNN and the ResNet."""

import dataclasses
import gzip
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from harness_vision import cifar, files
from harness_vision.datasets import load_cifar10, load_fashion_mnist, load_mnist
from harness_vision.idx import IdxError, parse_idx, read_idx
from harness_vision.models import CifarResNet, build_cnn, build_resnet

import harness
from harness.specs import DatasetInfo, unavailable_reason
from harness.train.tasks import wrap

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(root))
    return root


@pytest.fixture
def no_torchvision(monkeypatch):
    """Make ``import torchvision`` fail, so the plugin's own CIFAR reader runs even where torchvision is installed."""
    monkeypatch.setitem(sys.modules, "torchvision", None)


# -- writing files in the real formats --------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: 0, 0, type 0x08, ndim, big-endian dims, values."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def class_images(labels: np.ndarray, size: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """uint8 images [N, C, size, size] whose class is a bright horizontal band at row ``2 * label``, plus noise."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(len(labels), channels, size, size))
    for i, label in enumerate(labels):
        images[i, :, 2 * label : 2 * label + 2, :] = 250
    return images.astype(np.uint8)


def write_idx_dataset(folder: Path, n_train: int, n_test: int, gz: bool) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    train_y, test_y = np.arange(n_train) % 10, np.arange(n_test) % 10
    arrays = {
        "train-images-idx3-ubyte": class_images(train_y, 28)[:, 0],
        "train-labels-idx1-ubyte": train_y.astype(np.uint8),
        "t10k-images-idx3-ubyte": class_images(test_y, 28, seed=1)[:, 0],
        "t10k-labels-idx1-ubyte": test_y.astype(np.uint8),
    }
    for name, array in arrays.items():
        data = idx_bytes(array)
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(data) if gz else data)
    return arrays


def write_cifar(root: Path, per_batch: int = 20, n_test: int = 30, protocol: int = 2) -> Path:
    """A ``cifar-10-batches-py`` folder like the real one: dicts with bytes keys, uint8 data [N, 3072], label lists."""
    folder = root / files.CIFAR10_FOLDER
    folder.mkdir(parents=True)
    for i, name in enumerate((*files.CIFAR10_TRAIN, files.CIFAR10_TEST)):
        n = n_test if name == files.CIFAR10_TEST else per_batch
        labels = (np.arange(n) + i) % 10
        images = class_images(labels, 32, channels=3, seed=i)
        images[:, 2] //= 2  # the blue channel is darker, so per-channel statistics differ
        batch = {b"batch_label": name.encode(), b"labels": labels.tolist(), b"data": images.reshape(n, 3072)}
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=protocol)
    return folder


# -- IDX ----------------------------------------------------------------------------------------------


def test_idx_round_trip_of_every_type_and_gzip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(parse_idx(idx_bytes(images)), images)
    wide = np.array([[1, -2], [300, -40000]], dtype=">i4")
    data = bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 2, 2) + wide.tobytes()
    parsed = parse_idx(data)
    assert parsed.dtype == np.int32 and parsed.dtype.isnative and parsed.tolist() == [[1, -2], [300, -40000]]
    (tmp_path / "x.gz").write_bytes(gzip.compress(idx_bytes(images)))  # recognised by content, not name
    (tmp_path / "y").write_bytes(gzip.compress(idx_bytes(images)))
    assert np.array_equal(read_idx(tmp_path / "x.gz"), images) and np.array_equal(read_idx(tmp_path / "y"), images)
    assert read_idx(tmp_path / "y").flags.writeable


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x08\x03\x00\x00", "not an IDX file"),
        (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]), "unknown IDX type code 0x07"),
        (bytes([0, 0, 0x08, 3, 0, 0, 0, 2]), "truncated IDX header"),
        (bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 1, 2]), r"shape \(3,\) of uint8 \(11 bytes\), but the file has 10"),
        (bytes([0, 0, 0x08, 1, 0, 0, 0, 1, 1, 2]), "but the file has 10"),
    ],
)
def test_idx_rejects_bad_headers_and_sizes(data, message):
    with pytest.raises(IdxError, match=message):
        parse_idx(data)


def test_idx_pairs_are_validated(data_root):
    folder = data_root / "mnist"
    write_idx_dataset(folder, 20, 10, gz=False)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(9, np.uint8)))
    with pytest.raises(IdxError, match="holds 10 images but .* holds 9 labels"):
        load_mnist(val_size=5)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(10, 12, np.uint8)))
    with pytest.raises(IdxError, match="label 12 is out of range"):
        load_mnist(val_size=5)


# -- MNIST and Fashion-MNIST ----------------------------------------------------------------------


def test_mnist_loads_the_torchvision_layout_uncompressed(data_root):
    arrays = write_idx_dataset(data_root / "MNIST" / "raw", 60, 20, gz=False)
    data = load_mnist(val_size=12)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = data.train, data.val, data.test
    assert train_x.shape == (48, 1, 28, 28) and val_x.shape == (12, 1, 28, 28) and test_x.shape == (20, 1, 28, 28)
    assert train_x.dtype == torch.float32 and train_y.dtype == torch.long
    assert data.info == DatasetInfo(
        task="classification",
        modality="image",
        input_shape=(1, 28, 28),
        num_classes=10,
        extra=data.info.extra,
    )
    assert data.info.extra["classes"] == [str(i) for i in range(10)]
    # the official test set, in order, is the test split
    assert test_y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    # validation is held out of the official training set: together they are all 60 images, once each
    assert sorted(torch.cat([train_y, val_y]).tolist()) == sorted(arrays["train-labels-idx1-ubyte"].tolist())
    # standardised with the training split's statistics; the mapping is (pixel / 255 - mean) / std
    assert abs(float(train_x.mean())) < 1e-4 and abs(float(train_x.std()) - 1) < 1e-2
    mean, std = data.info.extra["mean"][0], data.info.extra["std"][0]
    expected = (torch.from_numpy(arrays["t10k-images-idx3-ubyte"][0]).float() / 255 - mean) / std
    assert torch.allclose(test_x[0, 0], expected, atol=1e-5)


def test_splits_are_fixed_by_split_seed_and_limit_caps_training(data_root):
    write_idx_dataset(data_root / "mnist", 60, 20, gz=True)  # the flat layout, gzipped
    first, again, other = load_mnist(val_size=12), load_mnist(val_size=12), load_mnist(val_size=12, split_seed=1)
    assert torch.equal(first.val[0], again.val[0]) and torch.equal(first.train[1], again.train[1])
    assert not torch.equal(first.val[0], other.val[0])
    limited = load_mnist(val_size=12, limit=10)
    assert len(limited.train[0]) == 10 and torch.equal(limited.train[0], first.train[0][:10])
    assert torch.equal(limited.val[0], first.val[0]) and len(limited.test[0]) == 20
    with pytest.raises(ValueError, match="val_size"):
        load_mnist(val_size=60)
    with pytest.raises(ValueError, match="limit"):
        load_mnist(val_size=12, limit=0)


def test_fashion_mnist_reads_the_flat_folder_under_the_data_root_first(data_root):
    write_idx_dataset(data_root / "fashion-mnist", 40, 10, gz=True)
    data = load_fashion_mnist(val_size=8)
    assert (len(data.train[0]), len(data.val[0]), len(data.test[0])) == (32, 8, 10)
    assert data.info.extra["classes"][0] == "T-shirt/top" and data.info.extra["classes"][9] == "Ankle boot"


def test_checks_say_where_files_were_looked_for_and_how_to_get_them(data_root, registry, monkeypatch):
    nowhere = str(data_root / "no-system-copy")
    monkeypatch.setattr(files, "FASHION_MNIST", dataclasses.replace(files.FASHION_MNIST, system_folders=(nowhere,)))
    mnist = registry.get("dataset", "mnist").spec
    reason = unavailable_reason(mnist)
    assert str(data_root / "MNIST" / "raw") in reason and str(data_root / "mnist") in reason
    assert "train-images-idx3-ubyte[.gz]" in reason
    assert "download=true" in reason and "python -m harness_vision.download mnist" in reason
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/" in reason
    assert mnist.check(download=True) is None  # asked to download, the files need not be here yet

    reason = unavailable_reason(registry.get("dataset", "fashion-mnist").spec)
    assert str(data_root / "FashionMNIST" / "raw") in reason and nowhere in reason
    assert "apt install dataset-fashion-mnist" in reason and "download=true" in reason

    reason = unavailable_reason(registry.get("dataset", "cifar10").spec)
    assert str(data_root / "cifar-10-batches-py") in reason and "data_batch_1" in reason
    assert files.CIFAR10_URL in reason and "download=true" in reason
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_cifar10()
    with pytest.raises(FileNotFoundError, match="MNIST/raw"):
        load_mnist()

    write_idx_dataset(data_root / "MNIST" / "raw", 20, 10, gz=True)
    assert unavailable_reason(mnist) is None


def test_download_fetches_verifies_and_keeps_the_torchvision_layout(data_root, tmp_path, monkeypatch):
    """Downloads go through urllib, so a file:// mirror stands in for the real one."""
    mirror = tmp_path / "mirror"
    write_idx_dataset(mirror, 30, 10, gz=True)
    sums = {p.name: files.md5_of(p) for p in mirror.iterdir()}
    source = dataclasses.replace(files.MNIST, mirrors=("file:///nonexistent/", mirror.as_uri() + "/"), md5=sums)
    monkeypatch.setattr(files, "MNIST", source)
    data = load_mnist(download=True, val_size=5)  # the first mirror fails, the second answers
    assert len(data.train[0]) == 25 and len(data.test[0]) == 10
    assert sorted(p.name for p in (data_root / "MNIST" / "raw").iterdir()) == sorted(sums)

    from harness_vision.download import main

    other = tmp_path / "other-root"
    assert main(["mnist", "--data-root", str(other)]) == 0
    assert (other / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").is_file()

    bad = dataclasses.replace(source, md5={**sums, "train-images-idx3-ubyte.gz": "0" * 32})
    monkeypatch.setattr(files, "MNIST", bad)
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(tmp_path / "third-root"))
    with pytest.raises(OSError, match="MD5 mismatch"):
        load_mnist(download=True, val_size=5)
    assert not (tmp_path / "third-root" / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").exists()


def test_cifar10_download_unpacks_only_the_batches(data_root, tmp_path, monkeypatch, no_torchvision):
    import tarfile

    source = tmp_path / "source"
    write_cifar(source, per_batch=10, n_test=10)
    (source / "evil.txt").write_text("outside the batches folder")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / files.CIFAR10_FOLDER, arcname=files.CIFAR10_FOLDER)
        tar.add(source / "evil.txt", arcname="evil.txt")
    monkeypatch.setattr(files, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(files, "CIFAR10_MD5", files.md5_of(archive))
    data = load_cifar10(download=True, val_size=10)
    assert len(data.train[0]) == 40 and len(data.test[0]) == 10
    assert sorted(p.name for p in data_root.iterdir()) == [files.CIFAR10_FOLDER]  # no archive, no stray files


@pytest.mark.parametrize(
    "kind, name",
    [("dataset", "mnist"), ("dataset", "fashion-mnist"), ("dataset", "cifar10"), ("model", "cnn"), ("model", "resnet")],
)
def test_every_parameter_is_declared_in_the_spec_defaults(registry, kind, name):
    import importlib
    import inspect

    spec = registry.get(kind, name).spec
    module, _, attr = (spec.load if kind == "dataset" else spec.build).target.partition(":")
    function = getattr(importlib.import_module(module), attr)
    accepted = set(inspect.signature(function).parameters) - {"info"}
    assert accepted == set(spec.defaults)
    assert {k: v.default for k, v in inspect.signature(function).parameters.items() if k != "info"} == {
        k: tuple(v) if isinstance(v, list) else v for k, v in spec.defaults.items()
    }


@pytest.mark.skipif(not SYSTEM_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_the_debian_package(data_root):
    data = load_fashion_mnist()  # the empty data root falls through to /usr/share/datasets/fashion-mnist
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = data.train, data.val, data.test
    assert len(train_x) + len(val_x) == 60_000 and len(val_x) == 5_000 and len(test_x) == 10_000
    assert train_x.shape[1:] == (1, 28, 28) and data.info.num_classes == 10
    assert torch.bincount(test_y).tolist() == [1000] * 10  # the official test set is balanced
    assert torch.bincount(torch.cat([train_y, val_y])).tolist() == [6000] * 10
    assert abs(data.info.extra["mean"][0] - 0.286) < 0.001 and abs(data.info.extra["std"][0] - 0.353) < 0.001


# -- CIFAR-10 -------------------------------------------------------------------------------------


def test_cifar10_python_batches_load_with_the_safe_reader(data_root, no_torchvision):
    write_cifar(data_root)
    data = load_cifar10(val_size=10)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = data.train, data.val, data.test
    assert train_x.shape == (90, 3, 32, 32) and val_x.shape == (10, 3, 32, 32) and test_x.shape == (30, 3, 32, 32)
    assert data.info.input_shape == (3, 32, 32) and data.info.num_classes == 10
    assert data.info.extra["classes"][0] == "airplane" and len(data.info.extra["classes"]) == 10
    assert test_y.tolist() == [(i + 5) % 10 for i in range(30)]
    assert torch.bincount(torch.cat([train_y, val_y])).tolist() == [10] * 10  # all five batches, once each
    # per-channel standardisation: every channel of the training split has mean 0 and std 1
    assert torch.allclose(train_x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(train_x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-2)
    mean, std = data.info.extra["mean"], data.info.extra["std"]
    assert mean[2] < mean[0] * 0.6 and std[2] < std[0]
    assert len(load_cifar10(val_size=10, limit=7).train[0]) == 7


def test_cifar10_reader_accepts_numpy_pickles_of_any_protocol(tmp_path):
    folder = write_cifar(tmp_path, per_batch=4, n_test=4, protocol=5)
    images, labels = cifar.load_batch(folder / "test_batch")
    assert images.shape == (4, 3, 32, 32) and images.dtype == np.uint8 and labels.tolist() == [5, 6, 7, 8]


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_cifar10_reader_refuses_anything_but_arrays(tmp_path):
    bad = tmp_path / "data_batch_1"
    bad.write_bytes(pickle.dumps({b"data": _Exploit(), b"labels": [0]}, protocol=2))
    with pytest.raises(ValueError, match="refusing to load (posix|nt).system"):
        cifar.load_batch(bad)
    bad.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ValueError, match=r"expected uint8 data \[N, 3072\]"):
        cifar.load_batch(bad)
    bad.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}))
    with pytest.raises(ValueError, match="labels must be in 0..9"):
        cifar.load_batch(bad)


# -- models ---------------------------------------------------------------------------------------


def _info(shape, classes=10):
    return DatasetInfo(task="classification", modality="image", input_shape=shape, num_classes=classes)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_cnn_and_resnet_fit_digits_mnist_and_cifar_shapes(shape):
    x = torch.randn(2, *shape)
    cnn = build_cnn(_info(shape))
    assert cnn(x).shape == (2, 10)
    flatten_in = next(m for m in cnn if isinstance(m, torch.nn.Linear)).in_features
    assert flatten_in == 64 * (shape[1] // 4) * (shape[2] // 4)
    assert build_resnet(_info(shape, 7))(x).shape == (2, 7)


def test_resnet20_is_the_paper_architecture():
    net = build_resnet(_info((3, 32, 32)))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 19 and sum(isinstance(m, torch.nn.Linear) for m in net.modules()) == 1  # 20 weight layers
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(0.27e6, rel=0.02)  # Table 6 of He et al.
    features = net.stages(net.stem(torch.randn(1, 3, 32, 32)))
    assert features.shape == (1, 64, 8, 8)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in CifarResNet(3, 10, depth=56).modules()) == 55
    projected = CifarResNet(1, 10, depth=8, shortcut="conv")
    assert projected(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="6n\\+2"):
        build_resnet(_info((3, 32, 32)), depth=21)
    with pytest.raises(ValueError, match="shortcut"):
        build_resnet(_info((3, 32, 32)), shortcut="dense")
    with pytest.raises(ValueError, match="channels, height, width"):
        build_cnn(_info((784,)))


@pytest.mark.parametrize("build", [build_cnn, build_resnet], ids=["cnn", "resnet"])
def test_models_overfit_a_tiny_batch(build):
    torch.manual_seed(0)
    labels = torch.arange(16) % 10
    images = torch.from_numpy(class_images(labels.numpy(), 20)).float() / 255  # 20x20 keeps ResNet-20 quick on CPU
    module = wrap(build(_info((1, 20, 20))), _info((1, 20, 20)))
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    module.train()
    losses = []
    for step in range(20):
        loss = module.training_step((images, labels), step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.2 * losses[0], losses


# -- end to end -----------------------------------------------------------------------------------


def test_cnn_learns_digits_end_to_end(tmp_path, registry):
    result = harness.run(
        launcher="inline",
        output=tmp_path,
        registry=registry,
        models="cnn",
        datasets="digits",
        optimizers="adam",
        seeds=1,
        max_epochs=3,
        batch_size=32,
    )
    (record,) = result.records
    assert record["status"] == "ok", record["reason"]
    assert record["task"] == "classification" and record["metric"] == "accuracy"
    assert record["config"]["model_params"] == {"channels": [32, 64], "hidden": 128, "dropout": 0.25}
    # chance is 0.1; three epochs over 1,078 images reach about 0.9
    assert record["results"]["test_metric"] > 0.7


def test_cnn_learns_a_tiny_fashion_mnist_end_to_end(tmp_path, registry, monkeypatch):
    """Through the registry and the data root, as a user's `--datasets fashion-mnist[limit=...]` run goes."""
    root = tmp_path / "data"
    write_idx_dataset(root / "fashion-mnist", 300, 100, gz=True)
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(root))
    result = harness.run(
        launcher="inline",
        output=tmp_path / "results",
        registry=registry,
        models="cnn",
        datasets="fashion-mnist[val_size=50,limit=200]",
        optimizers="adam",
        seeds=1,
        max_epochs=3,
        batch_size=32,
    )
    (record,) = result.records
    assert record["status"] == "ok", record["reason"]
    assert record["results"]["test_metric"] > 0.5  # chance is 0.1
