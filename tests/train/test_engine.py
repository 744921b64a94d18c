"""The Fabric training loop and what it measures: warm-up and evaluation excluded, FLOPs, tokens, memory."""

import math

import pytest
import torch
from torch import nn

import harness
from harness.specs import PAD_ID, DatasetInfo
from harness.train.batches import TensorBatches
from harness.train.engine import FabricLoop, planned_steps
from harness.train.measure import ThroughputMeter, flops_summary, token_counter, training_flops
from harness.train.tasks import wrap

DIGITS = {"datasets": "digits", "seeds": 1}
DIGITS_TRAIN, DIGITS_STEPS = 1077, math.ceil(1077 / 64)


def _run(tmp_path, registry, **settings):
    result = harness.run(
        launcher="inline", output=tmp_path, registry=registry, **{**DIGITS, "optimizers": "sgd", **settings}
    )
    (record,) = result.records
    return record


# ---------------------------------------------------------------------------
# Throughput: warm-up and evaluation are not training time
# ---------------------------------------------------------------------------


def test_meter_excludes_warmup_and_evaluation_of_a_real_run(tmp_path, test_registry):
    # the first 3 steps sleep 200 ms (warm-up), later ones 20 ms; every evaluation batch sleeps 50 ms
    # (4 slow calls: the harness's FLOP count runs one training forward pass before training starts)
    model = "sleepy[slow_steps=4,slow=0.2,fast=0.02]"
    record = _run(tmp_path, test_registry, models=model, max_epochs=2, warmup_steps=3)
    assert record["status"] == "ok", record["reason"]
    results = record["results"]
    steps = 2 * DIGITS_STEPS
    assert results["steps"] == steps and results["measured_steps"] == steps - 3
    assert 20 <= results["step_time_median_ms"] < 30
    ideal = 64 / 0.02  # samples/s if a step took exactly its sleep; warm-up included would give about half
    assert 0.7 * ideal < results["samples_per_s"] <= ideal
    validation_batches = math.ceil(360 / 64)
    assert results["eval_time_s"] >= 2 * validation_batches * 0.05
    training_sleep = 3 * 0.2 + (steps - 3) * 0.02
    assert training_sleep <= results["train_time_s"] < training_sleep + validation_batches * 0.05
    assert results["engine"] == "fabric"


def test_a_models_own_lightning_module_keeps_the_trainer(tmp_path, test_registry):
    record = _run(tmp_path, test_registry, models="ownloop", max_epochs=2)
    assert record["status"] == "ok", record["reason"]
    assert record["results"]["engine"] == "trainer"
    assert record["results"]["test_metric"] > 0.3 and record["results"]["samples_per_s"] > 0


def test_max_steps_stops_inside_an_epoch(tmp_path, registry):
    record = _run(tmp_path, registry, models="logreg", max_epochs=5, max_steps=7, warmup_steps=2)
    results = record["results"]
    assert results["steps"] == 7 and results["epochs"] == 1 and len(results["val_curve"]) == 1


# ---------------------------------------------------------------------------
# FLOPs
# ---------------------------------------------------------------------------


def test_flops_of_linear_layers_match_the_closed_form():
    batch, a, b, c = 8, 5, 7, 3
    x, y = torch.randn(batch, a), torch.randint(0, c, (batch,))
    single = nn.Linear(a, c)
    # forward 2*B*a*c, weight gradient 2*B*a*c; no input gradient (the input needs none)
    flops = training_flops(single, lambda: nn.functional.cross_entropy(single(x), y), torch.device("cpu"))
    assert flops == 4 * batch * a * c
    two = nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, c))
    flops = training_flops(two, lambda: nn.functional.cross_entropy(two(x), y), torch.device("cpu"))
    assert flops == 4 * batch * a * b + 6 * batch * b * c  # the second layer also passes a gradient back


def test_counting_flops_leaves_the_run_untouched():
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Dropout(0.5), nn.Linear(6, 2))
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    assert training_flops(model, lambda: nn.functional.cross_entropy(model(x), y), torch.device("cpu")) > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BatchNorm statistics too
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)  # dropout drew from a forked generator


def test_a_run_records_flops_per_sample_and_achieved_flops(tmp_path, registry):
    record = _run(tmp_path, registry, models="mlp", max_epochs=1)
    results = record["results"]
    # 64 -> 128 -> 64 -> 10: 4*B*in*out for the first layer, 6*B*in*out for the others, per sample
    assert results["flops_per_sample"] == 4 * 64 * 128 + 6 * 128 * 64 + 6 * 64 * 10
    assert results["achieved_flops_per_s"] == pytest.approx(results["flops_per_sample"] * results["samples_per_s"])
    assert results["mfu"] is None  # no known peak for a CPU: absent, not zero


def test_flops_summary_leaves_unknowns_absent():
    unknown = {"flops_per_sample": None, "achieved_flops_per_s": None, "mfu": None}
    assert flops_summary(None, 64, 1000.0, None) == unknown
    summary = flops_summary(6400, 64, 1000.0, 1e9)
    assert summary == {"flops_per_sample": 100, "achieved_flops_per_s": 1e5, "mfu": 1e-4}


# ---------------------------------------------------------------------------
# Tokens per second
# ---------------------------------------------------------------------------


def test_token_counter_counts_real_tokens_only():
    classify = DatasetInfo(task="classification", modality="tokens", input_shape=(4,), num_classes=2, vocab_size=9)
    ids = torch.tensor([[5, 6, PAD_ID, PAD_ID], [7, 8, 5, 6]])
    assert int(token_counter(classify)((ids, torch.tensor([0, 1])))) == 6
    translate = DatasetInfo(
        task="seq2seq",
        modality="tokens",
        input_shape=(4,),
        vocab_size=9,
        target_vocab_size=9,
        max_target_length=4,
    )
    target = torch.tensor([[1, 5, 2, PAD_ID], [1, 6, 7, 2]])  # <bos> ... <eos>: the <bos> is not predicted
    assert int(token_counter(translate)((ids, target))) == 6 + 5
    image = DatasetInfo(task="classification", modality="image", input_shape=(1, 2, 2), num_classes=2)
    assert token_counter(image) is None


def test_token_data_reports_tokens_per_second(tmp_path, registry):
    result = harness.run(
        launcher="inline",
        output=tmp_path,
        registry=registry,
        models="lstm[embedding_dim=16,hidden_size=16]",
        datasets="synthetic-tokens[length=12,train_size=256,val_size=32,test_size=32]",
        optimizers="adam",
        seeds=1,
        max_epochs=1,
        batch_size=32,
        warmup_steps=2,
    )
    results = result.records[0]["results"]
    # synthetic token rows have no padding, so every sample is exactly 12 tokens
    assert results["tokens_per_s"] == pytest.approx(12 * results["samples_per_s"])


# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------


def test_cpu_memory_grows_when_the_model_allocates_more(tmp_path, test_registry):
    peaks = {}
    for megabytes in (0, 96):
        record = _run(tmp_path / str(megabytes), test_registry, models=f"hungry[megabytes={megabytes}]", max_steps=3)
        assert record["results"]["memory_kind"] == "cpu_rss_growth"
        peaks[megabytes] = record["results"]["peak_memory_mb"]
    assert peaks[96] >= peaks[0] + 80


# ---------------------------------------------------------------------------
# The loop itself
# ---------------------------------------------------------------------------


def _tiny_task():
    info = DatasetInfo(task="classification", modality="tabular", input_shape=(4,), num_classes=2)
    data = (torch.randn(40, 4), torch.randint(0, 2, (40,)))
    return wrap(nn.Linear(4, 2), info), data


def test_schedule_steps_once_per_optimizer_step_over_the_planned_total():
    module, data = _tiny_task()
    seen = {}

    def make_optimizer(total):
        optimizer = torch.optim.SGD(module.parameters(), lr=1.0)
        seen["total"] = total
        seen["optimizer"] = optimizer
        return optimizer, torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.0, total_iters=total)

    meter = ThroughputMeter(0)
    loop = FabricLoop(torch.device("cpu"), "32-true", max_epochs=3, max_steps=-1, callbacks=[meter])
    loop.fit(module, make_optimizer, TensorBatches(data, 8, shuffle=True), TensorBatches(data, 8))
    assert seen["total"] == planned_steps(3, -1, 5) == 15 == loop.state.global_step == len(meter.intervals)
    assert seen["optimizer"].param_groups[0]["lr"] == pytest.approx(0.0)
    assert planned_steps(3, 7, 5) == 7


def test_bf16_mixed_precision_trains(tmp_path, registry):
    record = _run(tmp_path, registry, models="mlp", optimizers="adam", max_epochs=3, precision="bf16-mixed")
    assert record["status"] == "ok", record["reason"]
    assert record["results"]["test_metric"] > 0.6


def test_channels_last_runs_a_cnn(tmp_path, registry):
    record = _run(
        tmp_path,
        registry,
        models="cnn[channels=[4,8],hidden=16]",
        datasets="synthetic-image[shape=[3,16,16],train_size=64,val_size=16,test_size=16]",
        max_epochs=1,
        channels_last=True,
    )
    assert record["status"] == "ok", record["reason"]
    assert record["results"]["samples_per_s"] > 0


def test_compile_time_is_reported_apart_from_training(tmp_path, registry):
    record = _run(tmp_path, registry, models="logreg", max_epochs=2, compile=True, warmup_steps=0)
    assert record["status"] == "ok", record["reason"]
    results = record["results"]
    assert results["compile_time_s"] > 0.5  # compilation takes seconds; a step of logreg well under 50 ms
    assert results["step_time_p90_ms"] < 50 and max(results["step_time_median_ms"], 0) < 50
    assert results["test_metric"] > 0.5


def test_compile_is_refused_for_a_models_own_lightning_module(tmp_path, test_registry):
    record = _run(tmp_path, test_registry, models="ownloop", max_epochs=1, compile=True)
    assert record["status"] == "failed"
    assert "compile and channels_last apply to the harness's own training loop" in record["reason"]


def test_the_fabric_loop_trains_without_validation_but_will_not_early_stop_without_it():
    from harness.train.engine import EarlyStop

    info = DatasetInfo(task="classification", modality="tabular", input_shape=(4,), num_classes=2)
    data = (torch.randn(32, 4), torch.randint(0, 2, (32,)))
    module = wrap(nn.Linear(4, 2), info)

    def optimizer(steps):
        return torch.optim.SGD(module.parameters(), lr=0.1), None

    meter = ThroughputMeter(0)
    loop = FabricLoop(torch.device("cpu"), "32-true", max_epochs=2, max_steps=-1, callbacks=[meter])
    loop.fit(module, optimizer, TensorBatches(data, 8, shuffle=True), None)
    assert len(meter.intervals) == 2 * 4 and meter.eval_time_s == 0.0  # trained both epochs, never validated
    stopping = FabricLoop(
        torch.device("cpu"), "32-true", max_epochs=2, max_steps=-1, early_stop=EarlyStop("val_accuracy", "max", 1)
    )
    with pytest.raises(ValueError, match="no validation split"):
        stopping.fit(module, optimizer, TensorBatches(data, 8, shuffle=True), None)
