"""A reader for the IDX format of MNIST-like datasets, with numpy and nothing else.

An IDX file is two zero bytes, a type code, the number of dimensions, each
dimension as a big-endian 32-bit integer, then the values in C order, big-endian.
Files may be gzipped (recognised by their magic bytes, not their name).
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np

#: IDX type code -> the numpy dtype of its values (big-endian where it matters).
IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IdxError(ValueError):
    """A file that is not a well-formed IDX file of the expected shape."""


def read_bytes(path: Path) -> bytes:
    """The file's contents, gunzipped when it starts with the gzip magic bytes."""
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise IdxError(f"{path}: corrupt gzip data ({exc})") from exc
    return data


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """The array stored in IDX ``data``, in native byte order; raises :class:`IdxError` on a bad header or size."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        start = data[:4].hex() or "nothing"
        raise IdxError(f"{source}: not an IDX file (the first two bytes must be zero, it starts with {start})")
    type_code, ndim = data[2], data[3]
    if type_code not in IDX_TYPES:
        raise IdxError(f"{source}: unknown IDX type code 0x{type_code:02x}")
    if ndim == 0:
        raise IdxError(f"{source}: IDX header declares zero dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{source}: truncated IDX header ({len(data)} bytes, {ndim} dimensions need {header})")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[type_code]
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise IdxError(
            f"{source}: IDX header says shape {shape} of {dtype.name} ({expected} bytes), but the file has {len(data)}"
        )
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def read_idx(path: Path) -> np.ndarray:
    return parse_idx(read_bytes(path), str(path))


def read_images_and_labels(images_path: Path, labels_path: Path, num_classes: int = 10):
    """uint8 images ``[N, H, W]`` and int64 labels ``[N]`` from a matching pair of IDX files, validated."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise IdxError(f"{images_path}: expected uint8 images [N, rows, cols], got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise IdxError(f"{labels_path}: expected uint8 labels [N], got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise IdxError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    if len(labels) and int(labels.max()) >= num_classes:
        raise IdxError(f"{labels_path}: label {int(labels.max())} is out of range for {num_classes} classes")
    return images, labels.astype(np.int64)
