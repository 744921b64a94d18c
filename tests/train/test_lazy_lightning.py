"""What the train room takes from Lightning without importing it does what Lightning's own does."""

import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from harness.specs import DatasetInfo
from harness.train.lazy_lightning import (
    hooks,
    import_lightning,
    is_lightning_callback,
    is_lightning_module,
    lightning_callbacks,
    seed_everything,
)
from harness.train.measure import LossWatch, ThroughputMeter
from harness.train.tasks import wrap

INFO = DatasetInfo(task="classification", modality="tabular", input_shape=(4,), num_classes=3)


def _draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1])
def test_seeding_is_lightnings(monkeypatch, seed):
    for name in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    import_lightning().seed_everything(seed, workers=True, verbose=False)
    theirs = _draws(), os.environ["PL_GLOBAL_SEED"], os.environ["PL_SEED_WORKERS"]
    for name in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS"):
        monkeypatch.delenv(name)
    assert seed_everything(seed) == seed
    assert (_draws(), os.environ["PL_GLOBAL_SEED"], os.environ["PL_SEED_WORKERS"]) == theirs


def test_a_seed_out_of_bounds_is_refused_as_lightning_refuses_it():
    with pytest.raises(ValueError, match="not in bounds"):
        seed_everything(2**32)


def test_a_trainer_calls_the_harness_callbacks_own_hooks():
    pl = import_lightning()
    meter, losses = ThroughputMeter(0), LossWatch()
    own = pl.Callback()
    wrapped = lightning_callbacks([meter, own, losses])
    assert wrapped[1] is own and all(is_lightning_callback(cb) for cb in wrapped)
    assert [cb.state_key for cb in (wrapped[0], wrapped[2])] == ["ThroughputMeter", "LossWatch"]
    assert wrapped[0].on_train_batch_end == meter.on_train_batch_end  # the meter's own bound hook, nothing between
    assert type(wrapped[2]).on_validation_start is pl.Callback.on_validation_start  # a hook it lacks: Lightning's no-op


def test_the_loop_calls_only_hooks_that_do_something():
    pl = import_lightning()

    class Counting(pl.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            pass

    meter, counting, bare = ThroughputMeter(0), Counting(), pl.Callback()
    assert hooks([meter, counting, bare], "on_train_epoch_end") == [
        meter.on_train_epoch_end,
        counting.on_train_epoch_end,
    ]
    assert hooks([meter, counting, bare], "on_validation_start") == [meter.on_validation_start]


def test_task_modules_are_plain_and_their_twins_lightning_modules():
    plain, twin = wrap(nn.Linear(4, 3), INFO), wrap(nn.Linear(4, 3), INFO, lightning=True)
    assert not is_lightning_module(plain) and is_lightning_module(twin)
    assert type(twin).__name__ == type(plain).__name__ and isinstance(twin, type(plain))
    batch = (torch.randn(8, 4), torch.randint(0, 3, (8,)))
    twin.load_state_dict(plain.state_dict())
    assert torch.equal(plain.training_step(batch, 0), twin.training_step(batch, 0))
    for module in (plain, twin):
        module.validation_step(batch, 0)
    assert plain.stage_results("val").keys() == twin.stage_results("val").keys() == {"val_accuracy", "val_loss"}
