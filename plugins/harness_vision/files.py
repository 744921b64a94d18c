"""Where the image datasets' files live, why they are missing, and how to fetch them.

Standard library only: the availability checks run while ``harness list``
builds its table, so they must not import numpy or torch themselves. Downloads happen
only when a user asks (``download=true`` or ``python -m harness_vision.download``),
from the datasets' canonical mirrors, and are verified against the published
MD5 sums before they are kept.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def data_root() -> Path:
    """The harness's data root (``--data-root``/$HARNESS_DATA_ROOT), read where it is defined.

    Imported on call: ``harness.data`` imports torch today, and this module
    should stay importable without it.
    """
    from harness.data import data_root as root

    return root()


#: The four IDX files of MNIST-like datasets, each present as-is or gzipped.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class IdxSource:
    """An MNIST-like dataset: where its IDX files may be, and where to download them from."""

    name: str
    folders: tuple[str, ...]  # relative to the data root; the first is where downloads go
    mirrors: tuple[str, ...]
    md5: dict = field(default_factory=dict)  # of the published .gz files
    system_folders: tuple[str, ...] = ()  # absolute, e.g. where a distribution package installs it
    hint: str = ""

    def candidates(self) -> list[Path]:
        root = data_root()
        return [root / folder for folder in self.folders] + [Path(folder) for folder in self.system_folders]

    def find(self) -> dict[str, Path] | None:
        """The four files from the first folder that holds all of them (uncompressed preferred), or None."""
        for folder in self.candidates():
            found = {}
            for key, stem in IDX_FILES.items():
                path = next((p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()), None)
                if path is None:
                    break
                found[key] = path
            else:
                return found
        return None

    def missing_reason(self, download: bool = False, **_params) -> str | None:
        """None when the files are here (or will be downloaded), else where they were looked for and how to get them."""
        if download or self.find() is not None:
            return None
        places = ", ".join(str(p) for p in self.candidates())
        names = ", ".join(f"{stem}[.gz]" for stem in IDX_FILES.values())
        how = f"{self.hint}; or " if self.hint else ""
        return (
            f"{self.name} IDX files ({names}) not found in {places}; "
            f"{how}download them (from {self.mirrors[0]}, MD5-checked) with "
            f"`python -m harness_vision.download {self.name}` or the dataset option download=true, "
            f"or point --data-root/$HARNESS_DATA_ROOT at a folder that has them"
        )

    def download(self) -> dict[str, Path]:
        """Fetch the four .gz files into ``<data root>/<folders[0]>`` and return them as :meth:`find` does."""
        target = data_root() / self.folders[0]
        for stem in IDX_FILES.values():
            name = f"{stem}.gz"
            if not (target / name).is_file():
                fetch([mirror + name for mirror in self.mirrors], target / name, self.md5.get(name))
        found = self.find()
        if found is None:  # only if something removed them meanwhile
            raise OSError(f"downloaded {self.name} files are not in {target}")
        return found


MNIST = IdxSource(
    name="mnist",
    folders=("MNIST/raw", "mnist"),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
)

FASHION_MNIST = IdxSource(
    name="fashion-mnist",
    folders=("FashionMNIST/raw", "fashion-mnist"),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    md5={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    system_folders=("/usr/share/datasets/fashion-mnist",),
    hint="on Debian/Ubuntu `apt install dataset-fashion-mnist` puts them in /usr/share/datasets/fashion-mnist",
)


def idx_source(name: str) -> IdxSource:
    """The MNIST-like dataset called ``name`` (looked up on call, so tests can swap a source's mirrors)."""
    return {source.name: source for source in (MNIST, FASHION_MNIST)}[name]


# ---------------------------------------------------------------------------
# CIFAR-10, python version
# ---------------------------------------------------------------------------

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = "test_batch"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"


def cifar10_folder() -> Path:
    return data_root() / CIFAR10_FOLDER


def cifar10_missing(download: bool = False, **_params) -> str | None:
    """None when the six batches are under the data root (or will be downloaded), else where and how."""
    folder = cifar10_folder()
    missing = [name for name in (*CIFAR10_TRAIN, CIFAR10_TEST) if not (folder / name).is_file()]
    if download or not missing:
        return None
    return (
        f"CIFAR-10 python batches not found: {folder} lacks {', '.join(missing)}; "
        f"download them (from {CIFAR10_URL}, MD5-checked) with `python -m harness_vision.download cifar10` "
        f"or the dataset option download=true, or unpack that archive under --data-root/$HARNESS_DATA_ROOT"
    )


def download_cifar10() -> Path:
    """Fetch and verify the archive, then unpack only its regular files under ``cifar-10-batches-py/``."""
    root = data_root()
    archive = root / "cifar-10-python.tar.gz"
    if not archive.is_file():
        fetch([CIFAR10_URL], archive, CIFAR10_MD5)
    with tarfile.open(archive, "r:gz") as tar:
        inside = [m for m in tar.getmembers() if Path(m.name).parts[:1] == (CIFAR10_FOLDER,)]
        members = [m for m in inside if m.isfile() and ".." not in Path(m.name).parts]
        tar.extractall(root, members=members, filter="data")
    archive.unlink()
    return root / CIFAR10_FOLDER


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(urls: list[str], target: Path, md5: str | None) -> Path:
    """Download the first URL that answers into ``target``, atomically, checking ``md5`` when given."""
    target.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        handle, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, out)
            if md5 and md5_of(tmp) != md5:
                raise OSError(f"MD5 mismatch (expected {md5})")
            tmp.replace(target)
            return target
        except OSError as exc:  # URLError and HTTPError are OSErrors
            errors.append(f"{url}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise OSError(f"could not download {target.name}: " + "; ".join(errors))
