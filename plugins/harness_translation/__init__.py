"""Sequence-to-sequence translation: an attentional LSTM encoder-decoder, date normalisation, Bible verses.

Registered through the ``harness`` entry-point group like any outside plugin.
Torch, babel and pysword are imported only when a run builds a model or
loads a dataset (``harness_translation.model``, ``.dates``, ``.bible``).
"""

from __future__ import annotations

import importlib.util

from harness import hookimpl
from harness.data import split_problem
from harness.specs import DatasetSpec, ModelSpec, lazy


def _babel_missing() -> str | None:
    if importlib.util.find_spec("babel") is None:
        return "needs the babel package: pip install 'harness[translation]' (or pip install babel)"
    return None


def _bible_missing() -> str | None:
    from harness_translation.sword import missing_reason  # stdlib only: listing stays cheap

    return missing_reason()


def _positive(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= 1


def seq2seq_problem(params) -> str | None:
    """Why the encoder-decoder's parameters cannot build (checked before anything trains), or None."""
    for key in ("embedding_dim", "hidden_size", "num_layers"):
        if not _positive(params[key]):
            return f"{key} must be a positive whole number, got {params[key]!r}"
    if params["attention"] not in ("bahdanau", "dot", "general"):
        return f"attention must be one of bahdanau, dot, general; got {params['attention']!r}"
    return None if 0 <= params["dropout"] < 1 else f"dropout must be in [0, 1), got {params['dropout']!r}"


def dates_problem(params) -> str | None:
    """Why the dates' parameters cannot be used, or None; ``val_fraction=0`` keeps no validation split."""
    if not 1000 <= params["first_year"] <= params["last_year"] <= 9999:
        return "first_year and last_year must be four-digit years with first_year <= last_year"
    if not _positive(params["num_examples"]):
        return f"num_examples must be a positive whole number, got {params['num_examples']!r}"
    return split_problem(params)


def bible_problem(params) -> str | None:
    """Why the verses' parameters cannot be used, or None."""
    if params["direction"] not in ("en-es", "es-en"):
        return f"direction must be en-es or es-en, got {params['direction']!r}"
    for key in ("max_length", "min_freq"):
        if not _positive(params[key]):
            return f"{key} must be a positive whole number, got {params[key]!r}"
    for key in ("max_size", "limit"):
        if params[key] is not None and not _positive(params[key]):
            return f"{key} must be a positive whole number or none, got {params[key]!r}"
    return split_problem(params)


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
            validate=seq2seq_problem,
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
            validate=dates_problem,
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
            validate=bible_problem,
        ),
    ]
