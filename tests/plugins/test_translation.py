"""The translation family: date normalisation, Bible verses and the attentional LSTM encoder-decoder."""

from __future__ import annotations

import datetime
import inspect
import re

import pytest
import torch
import torch.nn.functional as F

import harness
from harness.specs import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS

pytest.importorskip("babel")

from harness_translation import bible as bible_mod  # noqa: E402
from harness_translation.dates import FORMATS, LOCALES, generate_dates, load_dates  # noqa: E402
from harness_translation.model import ATTENTIONS, build_seq2seq  # noqa: E402
from harness_translation.sword import missing_reason  # noqa: E402

SMALL_DATES = {"num_examples": 600, "split_seed": 0}


@pytest.fixture(scope="module")
def small_dates():
    return load_dates(**SMALL_DATES)


def _decode(ids, itos) -> str:
    """The text of a framed or generated row, up to its <eos>."""
    out = []
    for token in ids.tolist():
        if token == EOS_ID:
            break
        if token not in (BOS_ID, PAD_ID):
            out.append(itos[token])
    return "".join(out)


# -- registration ---------------------------------------------------------------------------------


def test_specs_are_registered_with_every_parameter_declared(registry):
    model = registry.get("model", "seq2seq").spec
    assert model.tasks == ("seq2seq",) and model.modalities == ("tokens",)
    for kind, name in (("dataset", "dates"), ("dataset", "bible-en-es")):
        spec = registry.get(kind, name).spec
        assert spec.task == "seq2seq" and spec.modality == "tokens"
    from harness_translation.bible import load_bible
    from harness_translation.model import build_seq2seq as build

    pairs = ((model.defaults, build), (registry.get("dataset", "dates").spec.defaults, load_dates))
    pairs += ((registry.get("dataset", "bible-en-es").spec.defaults, load_bible),)
    for defaults, function in pairs:
        accepted = {p for p in inspect.signature(function).parameters if p != "info"}
        assert set(defaults) == accepted
        for name, value in defaults.items():  # the spec's defaults are the function's own
            assert inspect.signature(function).parameters[name].default == value


def test_bible_check_says_how_to_install(monkeypatch, tmp_path):
    (tmp_path / "mods.d").mkdir()
    monkeypatch.setenv("SWORD_PATH", str(tmp_path))
    reason = missing_reason()
    assert "engWEB2015eb" in reason and "apt-get install sword-text-web sword-text-sparv" in reason
    with pytest.raises(FileNotFoundError, match="apt-get install"):
        bible_mod.load_bible()


# -- dates ----------------------------------------------------------------------------------------


def test_dates_are_deterministic_and_depend_on_the_data_seed():
    first, again = generate_dates(300, seed=3), generate_dates(300, seed=3)
    assert first == again
    assert generate_dates(300, seed=4) != first
    a, b = load_dates(num_examples=300), load_dates(num_examples=300)
    for split_a, split_b in zip((a.train, a.val, a.test), (b.train, b.val, b.test), strict=True):
        assert all(torch.equal(x, y) for x, y in zip(split_a, split_b, strict=True))


def test_dates_are_valid_unambiguous_and_varied():
    examples = generate_dates(3000, seed=0)
    answers: dict[str, str] = {}
    for text, iso, locale, pattern in examples:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso)
        date = datetime.date.fromisoformat(iso)
        assert 1900 <= date.year <= 2099
        assert str(date.year) in text  # every rendering carries the four-digit year
        assert not re.search(r"(?<!\d)\d{2}$", text)  # never ends in a two-digit year
        assert pattern in FORMATS[locale]
        assert answers.setdefault(text, iso) == iso  # a text has exactly one answer
    assert len(answers) == len(examples)  # distinct texts: no example repeats across splits
    assert {locale for *_, locale, _ in examples} == set(LOCALES)
    assert len({pattern for *_, pattern in examples}) >= 8
    texts = " ".join(text for text, *_ in examples)
    for word in ("January", "Januar", "janvier", "enero", "gennaio", "janeiro", "januari"):
        assert word in texts


def test_dates_splits_vocabulary_and_info(small_dates):
    info = small_dates.info
    assert info.task == "seq2seq" and info.modality == "tokens" and info.metric == "exact_match"
    assert info.extra["joiner"] == "" and info.extra["text_metrics"] is False
    target_vocab = info.extra["target_vocab"]
    assert target_vocab[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert sorted(target_vocab[len(SPECIAL_TOKENS) :]) == sorted("-0123456789")
    assert info.target_vocab_size == len(target_vocab) == 15 and info.max_target_length == 12
    source_vocab = info.extra["source_vocab"]
    assert source_vocab[:4] == list(SPECIAL_TOKENS) and info.vocab_size == len(source_vocab) > 30
    sizes = [len(split[0]) for split in (small_dates.train, small_dates.val, small_dates.test)]
    assert sizes == [480, 60, 60]
    for source, target in (small_dates.train, small_dates.val, small_dates.test):
        assert source.dtype == target.dtype == torch.long
        assert source.shape[1] == info.input_shape[0] and target.shape[1] == 12
        assert (target[:, 0] == BOS_ID).all() and (target[:, -1] == EOS_ID).all()  # ISO dates: fixed length
        for row in target[:20]:
            datetime.date.fromisoformat(_decode(row, target_vocab))
    # the vocabularies come from the training split: every train token is known there
    assert (small_dates.train[0] != SPECIAL_TOKENS.index("<unk>")).all()


# -- bible ----------------------------------------------------------------------------------------

needs_bible = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))


def test_clean_osis_keeps_the_verse_and_drops_the_apparatus():
    raw = (
        '<title type="section">A heading</title><div type="x-p" sID="1"/><w lemma="strong:G1">In</w> '
        '<w>the</w> beginning, <w>God</w><note placement="foot"><reference>1:1 </reference>Hebrew: '
        '<catchWord>Elohim</catchWord></note><w>created</w> &amp; <l sID="2"/>“<w>made</w>”<l eID="2"/> '
        '<title canonical="true" type="psalm">A Psalm.</title><speaker>Beloved</speaker><transChange>it</transChange>.'
    )
    assert bible_mod.clean_osis(raw) == "In the beginning, God created & “made” A Psalm. it."


@pytest.fixture(scope="module")
def bible_pairs(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_CACHE_DIR", str(cache))
        pairs = bible_mod.load_pairs()
    return cache, pairs


@needs_bible
def test_bible_verses_align_and_are_cached(bible_pairs, monkeypatch):
    cache, pairs = bible_pairs
    assert 30_000 <= len(pairs) <= 31_102  # the KJV canon has 31,102 verses; misaligned chapters dropped
    verses = {(book, chapter, verse): (en, es) for book, chapter, verse, en, es in pairs}
    english, spanish = verses[("John", 3, 16)]
    assert english.startswith("For God so loved the world, that he gave his only born Son")
    assert spanish.startswith("Porque de tal manera amó Dios al mundo")
    assert verses[("Gen", 1, 1)][1] == "EN el principio crió Dios los cielos y la tierra."
    assert not any("<" in en or "<" in es for *_, en, es in pairs)
    assert verses[("Rev", 22, 21)][0].endswith("Amen.")  # the WEB's glossary after it is not part of the verse
    assert ("Tob", 1, 1) not in verses  # the deuterocanon has no Spanish side
    assert ("Num", 13, 2) not in verses  # a chapter the two modules number differently
    files = list((cache / "bible").glob("*.json"))
    assert len(files) == 1
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    monkeypatch.setattr(bible_mod, "extract_pairs", lambda path=None: pytest.fail("the cache was not used"))
    assert bible_mod.load_pairs() == pairs


@needs_bible
def test_bible_dataset_splits_and_info(bible_pairs, monkeypatch):
    cache, _ = bible_pairs
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    data = bible_mod.load_bible(max_length=20, limit=400, min_freq=1)
    info = data.info
    assert info.metric == "bleu" and info.extra["joiner"] == " " and info.extra["text_metrics"] is True
    assert [len(split[0]) for split in (data.train, data.val, data.test)] == [360, 20, 20]
    assert info.input_shape[0] <= 20 and info.max_target_length <= 22
    assert info.extra["source_vocab"][:4] == list(SPECIAL_TOKENS) == info.extra["target_vocab"][:4]
    assert info.vocab_size == len(info.extra["source_vocab"]) and info.target_vocab_size > 300
    assert len(info.extra["test_verses"]) == 20
    english_words = set(info.extra["source_vocab"])
    assert {"the", "and", "god"} <= english_words and "dios" in info.extra["target_vocab"]
    reverse = bible_mod.load_bible(direction="es-en", max_length=20, limit=400, min_freq=1)
    assert reverse.info.extra["source_vocab"] == info.extra["target_vocab"]  # same pairs, swapped
    assert reverse.info.extra["target_vocab"] == info.extra["source_vocab"]
    assert reverse.info.extra["test_verses"] == info.extra["test_verses"]
    with pytest.raises(ValueError, match="direction"):
        bible_mod.load_bible(direction="en-fr")


# -- the model ------------------------------------------------------------------------------------


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_model_shapes_and_padding_invariance(small_dates, attention, bidirectional):
    torch.manual_seed(0)
    model = build_seq2seq(
        small_dates.info,
        embedding_dim=16,
        hidden_size=24,
        num_layers=2,
        bidirectional=bidirectional,
        attention=attention,
    ).eval()
    source, target = (t[:8] for t in small_dates.val)
    vocab = small_dates.info.target_vocab_size
    logits = model(source, target[:, :-1])
    assert logits.shape == (8, target.shape[1] - 1, vocab)
    generated = model.generate(source, 11)
    assert generated.shape[0] == 8 and 1 <= generated.shape[1] <= 11 and generated.dtype == torch.long
    padded = F.pad(source, (0, 7), value=PAD_ID)  # more padding must change nothing
    assert torch.allclose(model(padded, target[:, :-1]), logits, atol=1e-5)
    assert torch.equal(model.generate(padded, 11), generated)
    # each row alone (no batch-mates, its own length) reads the same as in the batch
    row = source[3:4, : int((source[3] != PAD_ID).sum())]
    assert torch.allclose(model(row, target[3:4, :-1]), logits[3:4], atol=1e-5)


def test_parallel_teacher_forcing_matches_stepwise_decoding(small_dates):
    torch.manual_seed(0)
    model = build_seq2seq(small_dates.info, embedding_dim=16, hidden_size=24, input_feeding=False).eval()
    source, target = (t[:6] for t in small_dates.val)
    parallel = model(source, target[:, :-1])
    memory, state, mask = model.encode(source)
    keys = model.attention.keys(memory)
    feed, steps = None, []
    for t in range(target.shape[1] - 1):
        logits, state, feed = model._step(target[:, t : t + 1], state, feed, keys, memory, mask)
        steps.append(logits)
    assert torch.allclose(parallel, torch.cat(steps, 1), atol=1e-5)


def test_generate_stops_when_every_row_has_ended(small_dates):
    model = build_seq2seq(small_dates.info, embedding_dim=8, hidden_size=8).eval()
    source = small_dates.val[0][:5]
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.fill_(0.0)
        model.output.bias[EOS_ID] = 10.0
    assert torch.equal(model.generate(source, 11), torch.full((5, 1), EOS_ID))
    with torch.no_grad():
        model.output.bias[EOS_ID] = 0.0
        model.output.bias[5] = 10.0
    assert torch.equal(model.generate(source, 11), torch.full((5, 11), 5))  # never ends: capped at max_length
    assert model.generate(source, 0).shape == (5, 0)


def test_model_overfits_a_tiny_batch_of_dates(small_dates):
    torch.manual_seed(0)
    model = build_seq2seq(small_dates.info, embedding_dim=32, hidden_size=64, dropout=0.0)
    source, target = (t[:16] for t in small_dates.train)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        logits = model(source, target[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target[:, 1:].reshape(-1), ignore_index=PAD_ID)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0], losses


def test_build_rejects_odd_bidirectional_width_and_unknown_attention(small_dates):
    with pytest.raises(ValueError, match="even"):
        build_seq2seq(small_dates.info, hidden_size=25, bidirectional=True)
    with pytest.raises(ValueError, match="attention"):
        build_seq2seq(small_dates.info, attention="multihead")


# -- end to end -----------------------------------------------------------------------------------


def test_seq2seq_learns_dates_end_to_end(registry, tmp_path):
    result = harness.run(
        launcher="inline",
        output=tmp_path,
        registry=registry,
        models="seq2seq[embedding_dim=32,hidden_size=64]",
        datasets="dates[num_examples=2000]",
        optimizers="adam[lr=0.003]",
        seeds=1,
        max_epochs=6,
    )
    (record,) = result.records
    assert record["status"] == "ok", record["reason"]
    assert record["task"] == "seq2seq" and record["metric"] == "exact_match"
    metrics = record["results"]["test_metrics"]
    # chance per character is about 1/11; getting the format right ("19..-..-..<eos>") but no date, about 0.4
    assert metrics["token_accuracy"] > 0.8
    assert metrics["exact_match"] > 0.4  # whole dates right, not just the format
    assert metrics["exact_match"] == record["results"]["test_metric"]
    assert "bleu" not in metrics  # the characters of a date are not scored as text
