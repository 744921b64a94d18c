"""What the train room takes from Lightning, without importing it until a run needs it.

Importing ``pytorch_lightning`` costs a pool worker about 4 s on a 2-core
machine, three times torch's own import: Lightning imports ``torch._dynamo``
and all of torchmetrics, which imports scipy.signal and (where installed)
transformers. Most runs need none of it: a plain model trained by the
harness's own loop at 32-bit precision on one device. So the harness's
measuring callbacks are plain classes, its task modules plain ``nn.Module``\\ s,
seeding is done here as Lightning does it, and Lightning is imported only by
a run that uses it: a model's own ``LightningModule``, a multi-device run
(the ``Trainer``), another precision (Fabric's precision plugins), a GPU's
peak FLOP/s (MFU).

Whether an object is Lightning's is answered from ``sys.modules``: an object
of a Lightning class exists only once its module has been imported. A run
that needs Lightning imports it through :func:`import_lightning`, which keeps
Lightning's loggers to errors (its import sets them to INFO, and it would
announce its precision and devices on every run).
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import random
import sys

import torch

#: The harness's callback hooks: what the Fabric loop calls, with its :class:`~harness.train.engine.LoopState` as
#: ``trainer``, and what :func:`lightning_callbacks` passes on from a ``Trainer``.
HOOKS = (
    "on_train_start",
    "on_train_epoch_start",
    "on_train_batch_end",
    "on_validation_start",
    "on_validation_end",
    "on_train_epoch_end",
    "on_train_end",
)

#: Lightning's bounds for a seed (numpy's): 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1
#: Lightning's loggers: the harness measures instead, so only their errors are shown.
LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning.fabric", "lightning_fabric")


def quiet() -> None:
    """Lightning's loggers to errors only (again: importing Lightning sets them to INFO)."""
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def import_lightning(name: str = "pytorch_lightning"):
    """The Lightning module ``name``, imported now by a run that needs it, with Lightning's loggers kept quiet."""
    module = importlib.import_module(name)
    quiet()  # after the import, and after any import a plugin made meanwhile
    return module


def loaded():
    """The ``pytorch_lightning`` module if this process has imported it, else None (it is never imported here)."""
    return sys.modules.get("pytorch_lightning")


def seed_everything(seed: int) -> int:
    """Lightning's ``seed_everything(seed, workers=True, verbose=False)``, without importing Lightning.

    The same effects: ``PL_GLOBAL_SEED`` and ``PL_SEED_WORKERS=1`` in the
    environment (a ``Trainer`` seeds its DataLoader workers from them), then
    Python's, numpy's and torch's generators (torch's on every device).
    """
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{seed} is not in bounds, numpy accepts from 0 to {MAX_SEED}")
    os.environ["PL_GLOBAL_SEED"] = str(seed)
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with the harness's dependencies
        pass
    else:
        np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PL_SEED_WORKERS"] = "1"
    return seed


def is_lightning_module(obj) -> bool:
    """Whether ``obj`` is a ``pytorch_lightning.LightningModule`` (a model plugin's own training loop)."""
    pl = loaded()
    return pl is not None and isinstance(obj, pl.LightningModule)


def is_lightning_callback(obj) -> bool:
    """Whether ``obj`` is a ``pytorch_lightning.Callback``."""
    pl = loaded()
    return pl is not None and isinstance(obj, pl.Callback)


def hooks(callbacks, name: str) -> list:
    """The bound ``name`` hooks of ``callbacks`` that do something (Lightning's no-op base hooks left out)."""
    pl = loaded()
    noop = getattr(pl.Callback, name) if pl is not None else None
    return [getattr(cb, name) for cb in callbacks if getattr(type(cb), name, noop) is not noop]


def lightning_callbacks(callbacks) -> list:
    """``callbacks`` as a ``Trainer`` takes them: Lightning's as they are, the harness's plain ones wrapped."""
    forwarding = _forwarding_class()
    return [cb if is_lightning_callback(cb) else forwarding(cb) for cb in callbacks]


@functools.cache
def _forwarding_class():
    pl = import_lightning()

    class Forwarding(pl.Callback):
        """A harness callback (a plain class) inside a ``Trainer``: the Trainer calls its :data:`HOOKS` themselves.

        Each hook the callback has is bound on this object, so the Trainer's call
        reaches it with no wrapper in between (Lightning's no-ops stand for the rest).
        """

        def __init__(self, inner):
            self.inner = inner
            self._key = type(inner).__qualname__  # the key the callback had as a Lightning Callback itself
            for name in HOOKS:
                if (hook := getattr(inner, name, None)) is not None:
                    setattr(self, name, hook)

        @property
        def state_key(self) -> str:  # read on every hook call (the Trainer's profiler names it): kept cheap
            return self._key

    return Forwarding


@functools.cache
def lightning_twin(cls: type) -> type:
    """``cls`` (a harness task module, a plain ``nn.Module``) as a ``LightningModule``, for the ``Trainer``.

    The twin subclasses both: ``cls``'s steps and hooks override Lightning's
    defaults, and ``LightningModule`` brings what a ``Trainer`` needs
    (``log``, ``trainer``, ``device``).
    """
    pl = import_lightning()
    return type(cls.__name__, (cls, pl.LightningModule), {"__module__": cls.__module__, "__doc__": cls.__doc__})


quiet()  # a plugin may have imported Lightning already

__all__ = [
    "HOOKS",
    "LOGGERS",
    "hooks",
    "import_lightning",
    "is_lightning_callback",
    "is_lightning_module",
    "lightning_callbacks",
    "lightning_twin",
    "loaded",
    "quiet",
    "seed_everything",
]
