"""Torch modules for the dense family."""

from __future__ import annotations

import math

from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "silu": nn.SiLU}


def _flat_size(info) -> int:
    return math.prod(info.input_shape)


def build_mlp(info, hidden=(128, 64), dropout=0.0, activation="relu") -> nn.Module:
    """Flatten -> [Linear -> activation -> dropout] per hidden width -> Linear to the classes."""
    return _mlp(info, info.num_classes, hidden, dropout, activation)


def build_mlp_regressor(info, hidden=(50,), dropout=0.0, activation="relu") -> nn.Module:
    """The same stack ending in ``output_dim`` linear outputs (no activation) for regression."""
    return _mlp(info, info.output_dim or 1, hidden, dropout, activation)


def _mlp(info, outputs: int, hidden, dropout: float, activation: str) -> nn.Module:
    if isinstance(hidden, int):
        hidden = [hidden]
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation {activation!r} is not one of {', '.join(ACTIVATIONS)}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    layers: list[nn.Module] = [nn.Flatten()]
    width = _flat_size(info)
    for size in hidden:
        layers += [nn.Linear(width, int(size)), ACTIVATIONS[activation]()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = int(size)
    layers.append(nn.Linear(width, outputs))
    return nn.Sequential(*layers)


def build_logreg(info) -> nn.Module:
    """Flatten -> Linear: the logits of multinomial logistic regression (softmax is in the loss)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(_flat_size(info), info.num_classes))
