"""Task modules score every model the same way: errors in original units, top-5, seq2seq text; synthetic is marked."""

import pytest
import torch

import harness
from harness.specs import BOS_ID, EOS_ID, PAD_ID, DatasetInfo
from harness.train.tasks import Seq2SeqTask

TINY = {"seeds": 1, "max_epochs": 3}


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
