"""Write one-off local plugin files for tests, the way a user would for ``--plugins PATH``.

The plugins written here never import torch: builds and loads are plain
callables, since listing and grid expansion never call them.

    path = write_plugin(tmp_path, "extra", models=["cnn", model("rnn", modalities=["sequence"])])
    registry = Registry(load_plugins(paths=[path]))
"""

from __future__ import annotations

import textwrap
from pathlib import Path

HEADER = """\
from harness import hookimpl
from harness.specs import DatasetSpec, ModelSpec, OptimizerSpec


def _build(*args, **kwargs):
    return None


def _load(**kwargs):
    return None

"""


def _call(cls: str, fields: dict) -> str:
    return f"{cls}(" + ", ".join(f"{key}={value}" for key, value in fields.items()) + ")"


def model(name: str, **fields) -> str:
    """Source of a ModelSpec expression; ``fields`` are Python values (repr'd), build is a no-op."""
    return _call("ModelSpec", {"name": repr(name), "build": "_build", **{k: repr(v) for k, v in fields.items()}})


def dataset(name: str, task: str = "classification", modality: str = "tabular", **fields) -> str:
    """Source of a DatasetSpec expression with a no-op ``load``."""
    values = {"name": repr(name), "load": "_load", "task": repr(task), "modality": repr(modality)}
    return _call("DatasetSpec", {**values, **{k: repr(v) for k, v in fields.items()}})


def optimizer(name: str, lr: float = 0.01, **fields) -> str:
    """Source of an OptimizerSpec expression whose defaults hold ``lr``."""
    defaults = {"lr": lr, **fields.pop("defaults", {})}
    values = {"name": repr(name), "build": "_build", "defaults": repr(defaults)}
    return _call("OptimizerSpec", {**values, **{k: repr(v) for k, v in fields.items()}})


def _hook(kind: str, items, make) -> str:
    specs = ",\n        ".join(item if "(" in item else make(item) for item in items)
    return f"\n@hookimpl\ndef harness_register_{kind}s():\n    return [\n        {specs},\n    ]\n"


def plugin_source(models=(), datasets=(), optimizers=(), body: str = "") -> str:
    """A plugin module: a discovery hook per non-empty list, then ``body`` (dedented) verbatim.

    List items are names (a default spec of that kind) or source from :func:`model` and friends.
    """
    source = HEADER
    if models:
        source += _hook("model", models, model)
    if datasets:
        source += _hook("dataset", datasets, dataset)
    if optimizers:
        source += _hook("optimizer", optimizers, optimizer)
    return source + textwrap.dedent(body)


def write_plugin(directory: Path, name: str, models=(), datasets=(), optimizers=(), body: str = "") -> Path:
    """Write ``directory/name.py`` from :func:`plugin_source` and return its path."""
    return write_module(directory / f"{name}.py", plugin_source(models, datasets, optimizers, body))


def write_module(path: Path, source: str) -> Path:
    """Write arbitrary (dedented) source to ``path``, creating folders; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path
