"""Sequence-to-sequence translation: an attentional LSTM encoder-decoder, date normalisation, Bible verses.

Registered through the ``harness`` entry-point group like any outside plugin.
Torch, babel and pysword are imported only when a run builds a model or
loads a dataset (``harness_translation.model``, ``.dates``, ``.bible``).
"""

from __future__ import annotations

import importlib.util

from harness import hookimpl
from harness.specs import DatasetSpec, ModelSpec, lazy


def _babel_missing() -> str | None:
    if importlib.util.find_spec("babel") is None:
        return "needs the babel package: pip install 'harness[translation]' (or pip install babel)"
    return None


def _bible_missing() -> str | None:
    from harness_translation.sword import missing_reason  # stdlib only: listing stays cheap

    return missing_reason()


@hookimpl
def harness_register_models():
    return [
        ModelSpec(
            name="seq2seq",
            build=lazy("harness_translation.model:build_seq2seq"),
            tasks=("seq2seq",),
            modalities=("tokens",),
            defaults={
                "embedding_dim": 128,
                "hidden_size": 256,
                "num_layers": 1,
                "bidirectional": True,
                "attention": "general",
                "input_feeding": True,
                "dropout": 0.2,
            },
            description="LSTM encoder-decoder with attention (Luong general + input feeding; dot, bahdanau), "
            "bidirectional encoder, teacher forcing, greedy decoding",
        ),
    ]


@hookimpl
def harness_register_datasets():
    return [
        DatasetSpec(
            name="dates",
            load=lazy("harness_translation.dates:load_dates"),
            task="seq2seq",
            modality="tokens",
            defaults={
                "num_examples": 20000,
                "first_year": 1900,
                "last_year": 2099,
                "data_seed": 0,
                "val_fraction": 0.1,
                "test_fraction": 0.1,
                "split_seed": 0,
            },
            description="Date normalisation: 20k dates written in 8 locales, CLDR and explicit formats (babel) -> "
            "YYYY-MM-DD, characters, exact match",
            check=_babel_missing,
        ),
        DatasetSpec(
            name="bible-en-es",
            load=lazy("harness_translation.bible:load_bible"),
            task="seq2seq",
            modality="tokens",
            defaults={
                "direction": "en-es",
                "max_length": 25,
                "min_freq": 2,
                "max_size": 10000,
                "val_fraction": 0.05,
                "test_fraction": 0.05,
                "split_seed": 0,
                "limit": None,
            },
            description="Bible verses, World English Bible <-> Reina-Valera 1909 (Debian SWORD modules), "
            "verses of <=25 tokens (~13k pairs), words, BLEU",
            check=_bible_missing,
        ),
    ]
