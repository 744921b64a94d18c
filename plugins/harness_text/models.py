"""Text classifiers over padded token ids: an LSTM and a small Transformer encoder.

Both read ``[B, L]`` id tensors padded on the right with ``<pad>`` (id 0, per
:data:`harness.specs.SPECIAL_TOKENS`) and return class logits ``[B, C]``.
Neither lets padding change its answer: the LSTM packs each sentence to its
true length and the Transformer masks padded keys and pools over real tokens
only, so a sentence scores the same however much padding a batch gives it.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from harness.specs import PAD_ID


def _vocab_size(info) -> int:
    if not info.vocab_size:
        raise ValueError("a text model needs a token dataset: DatasetInfo.vocab_size is not set")
    return int(info.vocab_size)


def _check_dropout(dropout: float) -> float:
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return float(dropout)


class LSTMClassifier(nn.Module):
    """Embedding -> (bi)LSTM over each sentence's real tokens -> final hidden state(s) -> linear.

    The sentence vector is the last layer's final hidden state: after the last
    real token for the forward direction, after the first token for the
    backward one (packed sequences make both exact), concatenated when
    bidirectional. Dropout applies to the embeddings, between LSTM layers and
    before the classifier.
    """

    def __init__(
        self, vocab_size, num_classes, embedding_dim=128, hidden_size=128, num_layers=1, bidirectional=True, dropout=0.3
    ):
        super().__init__()
        if int(num_layers) < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        dropout = _check_dropout(dropout)
        self.directions = 2 if bidirectional else 1
        self.embedding = nn.Embedding(vocab_size, int(embedding_dim), padding_idx=PAD_ID)
        self.lstm = nn.LSTM(
            int(embedding_dim),
            int(hidden_size),
            int(num_layers),
            batch_first=True,
            bidirectional=bool(bidirectional),
            dropout=dropout if int(num_layers) > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(int(hidden_size) * self.directions, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        # an all-padding row still gets one step (of the <pad> embedding, which is zero)
        lengths = (ids != PAD_ID).sum(1).clamp(min=1)
        embedded = self.dropout(self.embedding(ids))
        # packing needs the lengths on the CPU; it hands the final states back in batch order
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)
        last = hidden[-self.directions :].transpose(0, 1).reshape(len(ids), -1)  # [B, H * directions]
        return self.head(self.dropout(last))


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """The fixed encoding of "Attention Is All You Need": sin on even, cos on odd features."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


class TransformerClassifier(nn.Module):
    """Token embedding + positions -> pre-LN Transformer encoder (padding masked) -> pooled -> linear.

    Pre-layer-norm blocks (``norm_first``, plus a final LayerNorm) train
    stably with a plain constant learning rate, which a small model trained
    from scratch in a benchmark grid needs. ``pooling="mean"`` averages the
    encoder outputs over real tokens; ``"cls"`` prepends a learned token and
    classifies its output, as BERT does.
    """

    def __init__(
        self,
        vocab_size,
        num_classes,
        max_length,
        d_model=64,
        num_heads=4,
        num_layers=2,
        dim_feedforward=128,
        dropout=0.1,
        positions="sinusoidal",
        pooling="mean",
    ):
        super().__init__()
        if positions not in ("sinusoidal", "learned"):
            raise ValueError(f"positions must be 'sinusoidal' or 'learned', got {positions!r}")
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        d_model, num_heads = int(d_model), int(num_heads)
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        dropout = _check_dropout(dropout)
        self.pooling = pooling
        self.max_positions = int(max_length) + (pooling == "cls")
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=PAD_ID)
        self.cls = nn.Parameter(torch.randn(1, 1, d_model)) if pooling == "cls" else None
        if positions == "learned":
            self.learned_positions = nn.Embedding(self.max_positions, d_model)
        else:
            self.learned_positions = None
            self.register_buffer("fixed_positions", sinusoidal_positions(self.max_positions, d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, int(dim_feedforward), dropout, batch_first=True, norm_first=True
        )
        # nested tensors are a fast path for post-LN inference only; say so instead of letting torch warn
        self.encoder = nn.TransformerEncoder(
            layer, int(num_layers), norm=nn.LayerNorm(d_model), enable_nested_tensor=False
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        padding = ids == PAD_ID
        x = self.embedding(ids)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(len(ids), -1, -1), x], dim=1)
            padding = torch.cat([padding.new_zeros(len(ids), 1), padding], dim=1)
        else:
            # a row of padding only would mask every key (NaN attention); let it attend to position 0
            padding[:, 0] = False
        length = x.shape[1]
        if length > self.max_positions:
            raise ValueError(f"inputs of {ids.shape[1]} tokens exceed the {self.max_positions} positions built")
        if self.learned_positions is not None:
            x = x + self.learned_positions.weight[:length]
        else:
            x = x + self.fixed_positions[:length]
        x = self.encoder(self.dropout(x), src_key_padding_mask=padding)
        if self.pooling == "cls":
            pooled = x[:, 0]
        else:
            real = (~padding).unsqueeze(-1).to(x.dtype)
            pooled = (x * real).sum(1) / real.sum(1)
        return self.head(self.dropout(pooled))


def build_lstm(info, embedding_dim=128, hidden_size=128, num_layers=1, bidirectional=True, dropout=0.3) -> nn.Module:
    """An :class:`LSTMClassifier` sized for the dataset's vocabulary and classes."""
    return LSTMClassifier(
        _vocab_size(info), info.num_classes, embedding_dim, hidden_size, num_layers, bidirectional, dropout
    )


def build_transformer(
    info,
    d_model=64,
    num_heads=4,
    num_layers=2,
    dim_feedforward=128,
    dropout=0.1,
    positions="sinusoidal",
    pooling="mean",
) -> nn.Module:
    """A :class:`TransformerClassifier` with positions for the dataset's padded length."""
    return TransformerClassifier(
        _vocab_size(info),
        info.num_classes,
        info.input_shape[0],
        d_model,
        num_heads,
        num_layers,
        dim_feedforward,
        dropout,
        positions,
        pooling,
    )
