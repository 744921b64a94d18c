"""Fetch the image datasets' files into the data root: ``python -m harness_vision.download mnist cifar10``.

The same downloads a run does with ``download=true``, for machines that
prepare data ahead of time (or before going offline).
"""

from __future__ import annotations

import argparse
import sys

from harness_vision import files

DATASETS = ("mnist", "fashion-mnist", "cifar10")


def download(name: str):
    """Download ``name``'s files unless they are already found; returns where they are."""
    if name == "cifar10":
        return files.cifar10_folder() if files.cifar10_missing() is None else files.download_cifar10()
    source = files.idx_source(name)
    found = source.find() or source.download()
    return found["train_images"].parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness_vision.download", description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", choices=DATASETS)
    parser.add_argument("--data-root", help="where to put them (default: $HARNESS_DATA_ROOT or ~/.cache/harness/data)")
    args = parser.parse_args(argv)
    if args.data_root:
        import os

        from harness.data import DATA_ROOT_ENV

        os.environ[DATA_ROOT_ENV] = args.data_root
    status = 0
    for name in args.datasets:
        try:
            print(f"{name}: {download(name)}")
        except OSError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
