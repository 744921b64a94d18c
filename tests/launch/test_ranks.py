"""One run over several devices: DDP over two CPU processes trains, shards the data, counts the global batch,
and never leaves a rank behind; the launchers refuse what cannot work."""

import os
from types import SimpleNamespace

import psutil
import pytest
import torch

import harness
from harness.config import RunConfig, make_suite
from harness.errors import ConfigError
from harness.launch.machine import threads_per_worker
from harness.launch.ranks import rank_threads
from harness.train.batches import TensorBatches
from harness.train.measure import ThroughputMeter

TRAIN_SAMPLES = 1077  # digits' training split
DDP = {"accelerator": "cpu", "devices": 2, "strategy": "ddp", "datasets": "digits", "seeds": 1}


def _children() -> list[psutil.Process]:
    """Processes this one started with multiprocessing's spawn (pool workers, rank processes)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            pass
    return found


# ---------------------------------------------------------------------------
# The pieces
# ---------------------------------------------------------------------------


def _samples(batches) -> list[int]:
    return [int(i) for batch in batches for i in batch[0]]


def test_training_shards_are_equal_disjoint_where_possible_and_cover_every_sample():
    data = (torch.arange(11), torch.zeros(11))
    ranks = [TensorBatches(data, 4, shuffle=True, seed=3, shard=(r, 2), even=True) for r in range(2)]
    epochs = [[_samples(b) for b in ranks] for _ in range(2)]
    for first, second in epochs:
        assert len(first) == len(second) == 6  # ceil(11 / 2): every rank takes as many steps
        assert set(first) | set(second) == set(range(11))
        assert len(set(first) & set(second)) == 1  # one sample padded in, as a DistributedSampler does
    assert epochs[0] != epochs[1]  # reshuffled every epoch, identically on both ranks
    assert len(ranks[0]) == len(ranks[1]) == 2


def test_evaluation_shards_count_every_sample_once():
    data = (torch.arange(11), torch.zeros(11))
    ranks = [TensorBatches(data, 4, shard=(r, 2)) for r in range(2)]
    first, second = (_samples(b) for b in ranks)
    assert sorted(first + second) == list(range(11))
    assert [len(b) for b in ranks] == [2, 2] and [b.num_samples for b in ranks] == [6, 5]


def test_a_single_process_sees_the_whole_split_in_the_same_order_as_before():
    data = (torch.arange(11), torch.zeros(11))
    generator = torch.Generator().manual_seed(3)
    assert _samples(TensorBatches(data, 4, shuffle=True, seed=3)) == torch.randperm(11, generator=generator).tolist()
    assert _samples(TensorBatches(data, 4)) == list(range(11))


def test_throughput_counts_the_batches_of_every_rank():
    meter = ThroughputMeter(warmup_steps=0)
    meter.on_train_start(SimpleNamespace(world_size=2), None)
    meter.on_train_epoch_start(None, None)
    for _ in range(3):
        meter.on_train_batch_end(None, None, None, (torch.zeros(8, 4),), 0)
    meter.on_train_end(None, None)
    assert meter.samples == [16, 16, 16]
    assert meter.summary()["samples_per_s"] == pytest.approx(48 / meter.train_time_s)


# ---------------------------------------------------------------------------
# The setting, and what the launchers accept
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, message",
    [
        ({"strategy": "ddp"}, "spreads one run over several devices: give devices N > 1"),
        ({"strategy": "fsdp", "devices": 2, "accelerator": "cpu"}, "needs GPUs"),
        ({"strategy": "horovod", "devices": 2}, "'horovod' is not one of auto, ddp, fsdp, deepspeed"),
    ],
)
def test_strategies_that_cannot_work_are_config_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        make_suite(values)


def test_the_default_strategy_leaves_record_keys_as_they_were():
    config = RunConfig(model="mlp", dataset="digits", optimizer="sgd", seed=0)
    assert "strategy" not in config.as_dict()  # records written before the setting existed keep their keys
    assert RunConfig.from_dict(config.as_dict()) == config
    ddp = RunConfig(model="mlp", dataset="digits", optimizer="sgd", seed=0, devices=2, strategy="ddp")
    assert ddp.as_dict()["strategy"] == "ddp" and RunConfig.from_dict(ddp.as_dict()) == ddp


def test_runs_over_several_devices_refuse_a_pool_of_several_and_ray(tmp_path, registry):
    with pytest.raises(ConfigError, match=r"devices=2\) use every device they are given.*-j 1"):
        harness.run(output=tmp_path, registry=registry, models="logreg", optimizers="sgd", jobs=2, **DDP)
    with pytest.raises(ConfigError, match=r"devices=2\) start a process per device on one machine"):
        harness.run(output=tmp_path, registry=registry, models="logreg", optimizers="sgd", launcher="ray", **DDP)


# ---------------------------------------------------------------------------
# Real runs over two CPU processes
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_ddp_over_two_cpu_processes_trains_and_counts_the_global_batch(tmp_path, registry):
    result = harness.run(
        output=tmp_path, registry=registry, models="logreg", optimizers="sgd,sgd[lr=1e-12]", max_epochs=2,
        warmup_steps=0, **DDP,
    )  # fmt: skip  # the default local launcher: one worker, which starts each run's two ranks
    by_optimizer = {r["config"]["optimizer_label"]: r for r in result.records}
    record = by_optimizer["sgd"]
    assert record["status"] == "ok", record["reason"]
    assert record["config"]["strategy"] == "ddp"
    results = record["results"]
    assert results["engine"] == "trainer" and results["world_size"] == 2
    assert results["test_metric"] > 0.4  # chance is 0.1
    per_rank = -(-TRAIN_SAMPLES // 2)  # each rank trains on its half, padded to equal halves
    assert results["steps"] == 2 * -(-per_rank // 64)  # half the steps of one process
    trained = results["samples_per_s"] * results["train_time_s"]  # no warm-up steps: every step is measured
    assert trained == pytest.approx(2 * 2 * per_rank)  # both ranks' samples, both epochs
    assert [point["epoch"] for point in results["val_curve"]] == [0, 1]
    assert record["provenance"]["pid"] != os.getpid()
    # the worker's share of the cores is split between its two ranks (a count the user set is kept per rank)
    expected = rank_threads(threads_per_worker(1), 2)
    assert (record["provenance"]["threads"], record["provenance"]["threads_from"]) == expected
    assert not _children()

    # a model that does not move scores the same over two ranks as in one process: every sample counted once
    still = by_optimizer["sgd[lr=1e-12]"]["results"]
    settings = {k: v for k, v in DDP.items() if k not in ("devices", "strategy")}
    (alone,) = harness.run(
        output=tmp_path / "one", registry=registry, launcher="inline", models="logreg", optimizers="sgd[lr=1e-12]",
        max_epochs=2, **settings,
    ).records  # fmt: skip
    assert still["test_metrics"] == pytest.approx(alone["results"]["test_metrics"], rel=1e-5)
    for theirs, mine in zip(alone["results"]["val_curve"], still["val_curve"], strict=True):
        assert (mine["val_metric"], mine["val_loss"]) == pytest.approx((theirs["val_metric"], theirs["val_loss"]))


def test_a_rank_that_dies_gives_a_crashed_record_and_the_other_is_stopped(tmp_path, test_registry):
    marker = tmp_path / "killed-once"  # the first rank to build the model dies; the other would wait for it forever
    result = harness.run(
        output=tmp_path, registry=test_registry, launcher="inline", models=f"killed[marker={marker}]",
        optimizers="sgd", max_epochs=1, **DDP,
    )  # fmt: skip
    (record,) = result.records
    assert record["status"] == "crashed"
    assert record["reason"] in {f"rank {r} of 2 died (signal SIGKILL) while running this cell" for r in (0, 1)}
    assert record["provenance"]["pid"] != os.getpid()
    assert not _children()
