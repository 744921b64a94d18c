"""The four classifiers of the MNIST-1D paper (Greydanus 2020, "Scaling down deep learning").

Each is sized from the dataset's ``(channels, length)`` input and class count,
so the paper's default MNIST-1D (one channel, 40 positions, 10 classes) gives
exactly the paper's parameter counts: 410, 15,210, 5,210 and 5,134. Layers
keep PyTorch's default initialisation, as the paper's code does; the generic
``cnn1d`` and ``gru`` of this plugin are the place for better-tuned variants.
"""

from __future__ import annotations

import torch
from torch import nn

from harness_sequence.models import channels_and_length

#: (kernel, stride, padding) of the paper's three convolutions
CNN_LAYERS = ((5, 2, 1), (3, 2, 1), (3, 2, 1))


def build_logistic(info) -> nn.Module:
    """Logistic regression: the flattened signal -> one linear layer (410 parameters on MNIST-1D)."""
    channels, length = channels_and_length(info)
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * length, info.num_classes))


class ResidualMLP(nn.Module):
    """Two hidden ReLU layers with a skip around the second, as in the paper's MLP.

    The skip lets the second layer start as a near no-op, which is why the
    paper's 100-unit MLP trains at Adam's 1e-2 without tuning.
    """

    def __init__(self, features: int, num_classes: int, hidden: int = 100):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear1 = nn.Linear(features, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, num_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(self.linear1(self.flatten(inputs)))
        hidden = hidden + torch.relu(self.linear2(hidden))
        return self.linear3(hidden)


def build_mlp(info, hidden=100) -> nn.Module:
    """The paper's MLP over the flattened signal (15,210 parameters on MNIST-1D at hidden=100)."""
    channels, length = channels_and_length(info)
    return ResidualMLP(channels * length, info.num_classes, int(hidden))


def strided_length(length: int) -> int:
    """The length left after the paper's three strided convolutions (40 -> 19 -> 10 -> 5)."""
    for kernel, stride, padding in CNN_LAYERS:
        length = (length + 2 * padding - kernel) // stride + 1
    return length


class StridedCNN(nn.Module):
    """Three strided Conv1d-ReLU layers without pooling, flattened -> linear, as in the paper's CNN.

    Flattening keeps where each feature fired; the strides alone shrink the
    signal, so the head's size depends on the length (125 features at 40).
    """

    def __init__(self, in_channels: int, length: int, num_classes: int, channels: int = 25):
        super().__init__()
        out_length = strided_length(length)
        if out_length < 1:
            raise ValueError(f"mnist1d_cnn needs signals of length 3 or more, got {length}")
        layers: list[nn.Module] = []
        width = in_channels
        for kernel, stride, padding in CNN_LAYERS:
            layers += [nn.Conv1d(width, channels, kernel, stride=stride, padding=padding), nn.ReLU()]
            width = channels
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.classifier = nn.Linear(channels * out_length, num_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(inputs))


def build_cnn(info, channels=25) -> nn.Module:
    """The paper's CNN (5,210 parameters on MNIST-1D at channels=25)."""
    in_channels, length = channels_and_length(info)
    return StridedCNN(in_channels, length, info.num_classes, int(channels))


class FlatGRU(nn.Module):
    """A small GRU whose outputs at every position, not just the last, are flattened -> linear.

    That is the paper's GRU: with only 6 units per direction the classifier
    reads the whole output sequence, so the head (2 x 6 x 40 -> 10) holds
    most of the parameters and fixes the length the model accepts.
    """

    def __init__(self, in_channels: int, length: int, num_classes: int, hidden_size=6, bidirectional=True):
        super().__init__()
        self.gru = nn.GRU(in_channels, hidden_size, batch_first=True, bidirectional=bidirectional)
        directions = 2 if bidirectional else 1
        self.classifier = nn.Linear(directions * hidden_size * length, num_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.gru(inputs.transpose(1, 2))  # [B, C, L] -> [B, L, C]; outputs: [B, L, dirs * H]
        return self.classifier(outputs.flatten(1))


def build_gru(info, hidden_size=6, bidirectional=True) -> nn.Module:
    """The paper's bidirectional GRU (5,134 parameters on MNIST-1D at hidden_size=6)."""
    in_channels, length = channels_and_length(info)
    return FlatGRU(in_channels, length, info.num_classes, int(hidden_size), bool(bidirectional))
