"""Convolutional networks for small images: the classic two-layer CNN and a CIFAR-style ResNet.

Both read images ``[C, H, W]`` of any small size (8x8 digits, 28x28 MNIST,
32x32 CIFAR): the CNN computes its flatten size from the input shape and the
ResNet ends in global average pooling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _image_shape(info) -> tuple[int, int, int]:
    if len(info.input_shape) != 3:
        raise ValueError(f"image models need inputs [channels, height, width], got shape {info.input_shape}")
    channels, height, width = info.input_shape
    return channels, height, width


def build_cnn(info, channels=(32, 64), hidden=128, dropout=0.25) -> nn.Module:
    """[3x3 conv (padding 1) -> ReLU -> 2x2 max-pool] per entry of ``channels``, then Dense ``hidden`` -> Dense classes.

    With the defaults this is the textbook Conv32-Pool-Conv64-Pool-Dense128-Dense10;
    ``dropout`` is applied to the hidden dense layer.
    """
    if isinstance(channels, int):
        channels = [channels]
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    in_channels, height, width = _image_shape(info)
    layers: list[nn.Module] = []
    for out_channels in channels:
        if min(height, width) < 2:
            raise ValueError(f"a {info.input_shape} image is too small for {len(channels)} 2x2 pooling stages")
        layers += [nn.Conv2d(in_channels, int(out_channels), 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        in_channels, height, width = int(out_channels), height // 2, width // 2
    layers += [nn.Flatten(), nn.Linear(in_channels * height * width, int(hidden)), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(int(hidden), info.num_classes))
    return nn.Sequential(*layers)


class PadShortcut(nn.Module):
    """He et al.'s option A: subsample spatially and append zero channels; adds no parameters."""

    def __init__(self, extra_channels: int, stride: int):
        super().__init__()
        self.extra_channels, self.stride = extra_channels, stride

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with ReLU, plus the input (through a shortcut when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, shortcut: str):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        elif shortcut == "pad":
            self.shortcut = PadShortcut(out_channels - in_channels, stride)
        else:  # option B: a learned 1x1 projection
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """The ResNet of He et al. (2016) section 4.2: a 3x3 stem, three stages of n basic blocks, global pooling.

    Stages have ``width``, 2x and 4x channels, the last two halving the resolution;
    depth = 6n + 2 counts the stem, the 6n convolutions and the classifier.
    """

    def __init__(self, in_channels: int, num_classes: int, depth: int = 20, width: int = 16, shortcut: str = "pad"):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got {depth}")
        if shortcut not in ("pad", "conv"):
            raise ValueError(f"shortcut must be 'pad' (option A) or 'conv' (option B), got {shortcut!r}")
        blocks = (depth - 2) // 6
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        layers, channels = [], width
        for stage in range(3):
            out_channels = width * 2**stage
            for index in range(blocks):
                stride = 2 if stage > 0 and index == 0 else 1
                layers.append(BasicBlock(channels, out_channels, stride, shortcut))
                channels = out_channels
        self.stages = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def build_resnet(info, depth=20, width=16, shortcut="pad") -> nn.Module:
    """CIFAR-style ResNet-``depth`` for the dataset's channels and classes."""
    in_channels, _, _ = _image_shape(info)
    return CifarResNet(in_channels, info.num_classes, int(depth), int(width), shortcut)
