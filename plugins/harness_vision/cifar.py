"""CIFAR-10's "python version": pickled batches read without trusting pickle.

Each batch file is a pickled dict (written by Python 2) with ``b"data"``, a
uint8 array ``[N, 3072]`` (1024 red, 1024 green, 1024 blue values, row-major
32x32), and ``b"labels"``, a list of N class ids. Pickle can run arbitrary
code, so batches are read with an Unpickler that resolves only what numpy
needs to rebuild an array; anything else in a file is refused. When
torchvision is installed its CIFAR10 reads the batches instead (it checks
each file's published MD5 before unpickling it).
"""

from __future__ import annotations

import codecs
import importlib
import pickle
from pathlib import Path

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _numpy_attr(private: str, legacy: str, name: str):
    """``numpy._core.<x>.name`` (numpy 2) or ``numpy.core.<x>.name`` (numpy 1), whichever this numpy has."""
    for module in (private, legacy):
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"this numpy has no {legacy}.{name}")


def _latin1(text, encoding="latin1"):
    """What Python 3 pickles ``bytes`` as under protocol 2: ``_codecs.encode(text, "latin1")``, and nothing else."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


#: (module, name) a batch may reference -> how to get it. Array reconstruction only.
_ALLOWED = {
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("_codecs", "encode"): lambda: _latin1,
}
for _legacy, _private, _name in (
    ("numpy.core.multiarray", "numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "numpy._core.numeric", "_frombuffer"),
):
    for _module in (_legacy, _private):
        _ALLOWED[(_module, _name)] = lambda p=_private, legacy=_legacy, n=_name: _numpy_attr(p, legacy, n)


class SafeUnpickler(pickle.Unpickler):
    """Loads plain containers and numpy arrays; refuses every other global (classes, functions)."""

    def find_class(self, module, name):
        resolve = _ALLOWED.get((module, name))
        if resolve is None:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a CIFAR batch holds only numpy arrays, lists and bytes"
            )
        return resolve()


def load_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 3, 32, 32]`` uint8 and labels ``[N]`` int64 from one batch file, validated."""
    with open(path, "rb") as handle:
        try:
            batch = SafeUnpickler(handle, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: not a CIFAR-10 python batch ({exc})") from exc
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(batch).__name__}")

    def field(key: str):
        value = batch.get(key.encode(), batch.get(key))
        if value is None:
            raise ValueError(f"{path}: the batch has no {key!r} entry (keys: {sorted(map(str, batch))})")
        return value

    data, labels = np.asarray(field("data")), np.asarray(field("labels"), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: expected uint8 data [N, 3072], got {data.dtype} {data.shape}")
    if labels.shape != (len(data),):
        raise ValueError(f"{path}: {len(data)} images but labels of shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise ValueError(f"{path}: labels must be in 0..{len(CLASSES) - 1}")
    return data.reshape(-1, 3, 32, 32), labels


def read_folder(folder: Path, train_names, test_name: str):
    """(train images, train labels, test images, test labels) of a ``cifar-10-batches-py`` folder."""
    reader = _torchvision_reader(folder)
    if reader is not None:
        return reader
    train = [load_batch(folder / name) for name in train_names]
    test_x, test_y = load_batch(folder / test_name)
    return np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), test_x, test_y


def _torchvision_reader(folder: Path):
    """torchvision's reading of the same folder when it imports, else None (then our own reader runs)."""
    try:
        from torchvision.datasets import CIFAR10
    except ImportError:
        return None
    train, test = CIFAR10(str(folder.parent), train=True), CIFAR10(str(folder.parent), train=False)

    def arrays(dataset):  # torchvision keeps HWC images
        return np.ascontiguousarray(dataset.data.transpose(0, 3, 1, 2)), np.asarray(dataset.targets, dtype=np.int64)

    return (*arrays(train), *arrays(test))
