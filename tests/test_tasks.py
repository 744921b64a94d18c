"""Task modules score every model the same way; schedules shape the learning rate as documented."""

import pytest
import torch

import harness
from harness.schedules import SCHEDULES, build_schedule
from harness.specs import BOS_ID, EOS_ID, PAD_ID, DatasetInfo
from harness.train.tasks import Seq2SeqTask

TINY = {"seeds": 1, "max_epochs": 3}


def _lrs(name, params, total=100, lr=1.0):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)
    scheduler = build_schedule(optimizer, name, {**SCHEDULES[name].defaults, **params}, total)
    seen = []
    for _ in range(total):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen


def test_schedule_shapes():
    assert set(_lrs("constant", {})) == {1.0}
    step = _lrs("step", {})
    assert step[49] == 1.0 and step[50] == pytest.approx(0.1) and step[75] == pytest.approx(0.01)
    cosine = _lrs("cosine", {})
    assert cosine[0] == 1.0 and cosine[50] == pytest.approx(0.5, abs=0.02) and cosine[-1] < 0.01
    warm = _lrs("warmup_cosine", {"warmup": 0.1})
    assert warm[0] == pytest.approx(0.1) and warm[9] == pytest.approx(1.0) and warm[-1] < 0.01
    assert all(a < b for a, b in zip(warm[:9], warm[1:10], strict=True))
    cycle = _lrs("onecycle", {})
    peak = max(range(100), key=cycle.__getitem__)
    assert 25 <= peak <= 35 and cycle[peak] == pytest.approx(1.0, rel=0.02) and cycle[-1] < 0.01


def test_schedule_is_applied_in_a_run(tmp_path, registry):
    common = {"models": "logreg", "datasets": "digits", "optimizers": "sgd", "registry": registry, **TINY}
    constant = harness.run(launcher="inline", output=tmp_path / "a", **common).records[0]
    frozen = harness.run(
        launcher="inline", output=tmp_path / "b", schedules="step[milestones=[0.0],gamma=0.0]", **common
    ).records[0]
    assert constant["results"]["test_metric"] > 0.8
    assert frozen["results"]["test_metric"] < 0.3  # lr is 0 from the first step: nothing is learned
    assert frozen["config"]["optimizer_label"] == "sgd/step[gamma=0.0,milestones=[0.0]]"


def test_regression_reports_errors_in_original_units(tmp_path, registry):
    result = harness.run(
        launcher="inline",
        output=tmp_path,
        models="mlp_regressor",
        datasets="diabetes",
        optimizers="adam",
        registry=registry,
        seeds=1,
        max_epochs=60,
        batch_size=32,
    )
    record = result.records[0]
    assert record["status"] == "ok" and record["metric"] == "rmse" and record["metric_mode"] == "min"
    metrics = record["results"]["test_metrics"]
    # the target (disease progression) has a std of ~77: a model that learned something beats it
    assert 30 < metrics["rmse"] < 75 and 20 < metrics["mae"] < metrics["rmse"]
    assert metrics["r2"] > 0.2
    assert record["results"]["best_val_metric"] == min(p["val_metric"] for p in record["results"]["val_curve"])


def test_classification_reports_top5(tmp_path, registry):
    record = harness.run(
        launcher="inline",
        output=tmp_path,
        models="logreg",
        datasets="digits",
        optimizers="adam",
        registry=registry,
        **TINY,
    ).records[0]
    metrics = record["results"]["test_metrics"]
    assert metrics["top5_accuracy"] >= metrics["accuracy"] > 0.5 and metrics["top5_accuracy"] > 0.9


def test_synthetic_data_is_marked_in_tables(tmp_path, registry):
    result = harness.run(
        launcher="inline",
        output=tmp_path,
        models="mlp",
        datasets="synthetic-image[shape=[1,8,8]]",
        optimizers="sgd",
        registry=registry,
        seeds=1,
        max_steps=5,
    )
    assert result.records[0]["synthetic"] is True
    assert "synthetic" in result.table()


class _Oracle(torch.nn.Module):
    """A seq2seq 'model' whose greedy output is fixed, to check the scoring alone."""

    def __init__(self, output, vocab):
        super().__init__()
        self.output, self.vocab = output, vocab

    def forward(self, source, target_in):
        return torch.zeros(*target_in.shape, self.vocab)

    def generate(self, source, max_length):
        return self.output[:, :max_length]


VOCAB = ["<pad>", "<bos>", "<eos>", "<unk>", "the", "cat", "sat", "on", "mat"]


def _seq2seq(output):
    info = DatasetInfo(
        task="seq2seq",
        modality="tokens",
        input_shape=(3,),
        vocab_size=9,
        target_vocab_size=9,
        max_target_length=8,
        metric="bleu",
        extra={"target_vocab": VOCAB, "joiner": " "},
    )
    return Seq2SeqTask(_Oracle(output, len(VOCAB)), info)


def _score(task, target):
    task.evaluate(task.val_metrics, (torch.zeros(len(target), 3, dtype=torch.long), target))
    scores = {**task.val_metrics.compute(), **task.val_text.compute()}
    return {k.removeprefix("val_"): float(v) for k, v in scores.items()}


def _pad(rows, width):
    return torch.tensor([row + [PAD_ID] * (width - len(row)) for row in rows])


def test_seq2seq_scoring():
    the_cat_sat_on_the_mat, the_cat_sat_on_mat = [4, 5, 6, 7, 4, 8], [4, 5, 6, 7, 8]
    target = _pad([[BOS_ID, *the_cat_sat_on_the_mat, EOS_ID], [BOS_ID, *the_cat_sat_on_mat, EOS_ID]], 8)
    perfect = _score(_seq2seq(target[:, 1:]), target)
    assert perfect == {
        "token_accuracy": 1.0,
        "exact_match": 1.0,
        "bleu": pytest.approx(1.0),
        "chrf": pytest.approx(1.0),
    }
    # garbage after <eos> is not scored
    after_eos = _pad([[*the_cat_sat_on_the_mat, EOS_ID], [*the_cat_sat_on_mat, EOS_ID, 4]], 7)
    assert _score(_seq2seq(after_eos), target)["exact_match"] == 1.0
    # a wrong token is: 12 of 13 reference tokens (with <eos>) right, one sentence exact
    one_wrong = _pad([[4, 5, 5, 7, 4, 8, EOS_ID], [*the_cat_sat_on_mat, EOS_ID]], 7)
    scores = _score(_seq2seq(one_wrong), target)
    assert scores["token_accuracy"] == pytest.approx(12 / 13) and scores["exact_match"] == 0.5
    assert 0 < scores["bleu"] < 1 and 0 < scores["chrf"] < 1
    # stopping early counts the missing tokens as wrong: 2 + 6 of 13
    early = _pad([[4, 5, EOS_ID], [*the_cat_sat_on_mat, EOS_ID]], 7)
    assert _score(_seq2seq(early), target)["token_accuracy"] == pytest.approx(8 / 13)
