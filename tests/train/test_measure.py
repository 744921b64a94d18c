"""The meters measure what they claim: warm-up and evaluation excluded, memory growth seen."""

import time

import pytest
import torch

from harness.train.batches import TensorBatches, batch_size_of
from harness.train.measure import MemoryMeter, ThroughputMeter


class _Trainer:
    sanity_checking = False


def _step(meter, seconds, batch_size=10):
    time.sleep(seconds)
    meter.on_train_batch_end(_Trainer(), None, None, (torch.zeros(batch_size, 1),), 0)


def test_throughput_excludes_warmup_and_validation():
    meter = ThroughputMeter(warmup_steps=2)
    meter.on_train_epoch_start(_Trainer(), None)
    _step(meter, 0.2)  # slow warm-up steps (compilation, caches)
    _step(meter, 0.2)
    for _ in range(4):
        _step(meter, 0.01)
    meter.on_validation_start(_Trainer(), None)
    time.sleep(0.3)  # validation: must not count
    meter.on_validation_end(_Trainer(), None)
    meter.on_train_epoch_end(_Trainer(), None)
    meter.on_train_epoch_start(_Trainer(), None)
    for _ in range(2):
        _step(meter, 0.01)
    meter.on_train_end(_Trainer(), None)

    summary = meter.summary()
    assert summary["steps"] == 8 and summary["warmup_steps"] == 2 and summary["measured_steps"] == 6
    assert summary["step_time_median_ms"] == pytest.approx(10, abs=8)
    assert summary["samples_per_s"] == pytest.approx(1000, rel=0.6)  # 10 samples / ~10 ms
    assert summary["train_time_s"] < 0.4 + 0.06 + 0.15  # the 0.3 s of validation is not in it


def test_memory_meter_sees_allocation_growth():
    small, large = MemoryMeter(torch.device("cpu")), MemoryMeter(torch.device("cpu"))
    small.start()
    a = torch.ones(1 << 18)  # 1 MiB
    small_peak = small.stop()["peak_memory_mb"]
    del a
    large.start()
    b = torch.ones(64 << 18)  # 64 MiB
    large_result = large.stop()
    del b
    assert large_result["memory_kind"] == "cpu_rss_growth"
    assert large_result["peak_memory_mb"] >= 60
    assert large_result["peak_memory_mb"] > small_peak


def test_tensor_batches_cover_every_sample_and_shuffle_reproducibly():
    x = torch.arange(10).float()[:, None]
    y = torch.arange(10)
    batches = TensorBatches((x, y), batch_size=4, shuffle=True, seed=3)
    assert len(batches) == 3
    epoch1 = [b[1].tolist() for b in batches]
    epoch2 = [b[1].tolist() for b in batches]
    assert [len(b) for b in epoch1] == [4, 4, 2]
    assert sorted(sum(epoch1, [])) == list(range(10))
    assert epoch1 != epoch2  # a new order every epoch
    again = TensorBatches((x, y), batch_size=4, shuffle=True, seed=3)
    assert [b[1].tolist() for b in again] == epoch1  # the same seed gives the same orders
    for bx, by in TensorBatches((x, y), batch_size=4, shuffle=True, seed=3):
        assert torch.equal(bx[:, 0].long(), by)  # inputs and targets stay paired


def test_batch_size_of_common_shapes():
    assert batch_size_of(torch.zeros(7, 3)) == 7
    assert batch_size_of((torch.zeros(5, 2), torch.zeros(5))) == 5
    assert batch_size_of({"input_ids": torch.zeros(3, 8)}) == 3
