"""CIFAR ResNets of He et al. 2016, Sec. 4.2: ResNet-(6n+2), 16-32-64 channels, n blocks a stage.

Layout and names follow akamaster/pytorch_resnet_cifar10: conv1/bn1 stem, layer1..layer3 of
BasicBlocks (conv1, bn1, conv2, bn2, shortcut), global average pooling, `linear`.

Shortcuts where the stage changes width and resolution:
    option A: identity on a stride-2 subsample, the new channels zero-padded (no parameters);
              the paper's CIFAR choice. ResNet-20: 269,722 parameters.
    option B: a 1x1 stride-2 convolution + BatchNorm projection, only where dims change;
              identity elsewhere. ResNet-20: 272,474 parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PadShortcut(nn.Module):
    """Option A: take every other pixel and zero-pad the channels up to `out_channels`."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.pad = out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int, option: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut: nn.Module = nn.Sequential()          # identity
        if stride != 1 or in_channels != channels:
            if option == "A":
                self.shortcut = PadShortcut(in_channels, channels, stride)
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, blocks_per_stage: int, num_classes: int = 10, option: str = "A") -> None:
        super().__init__()
        if option not in ("A", "B"):
            raise ValueError(f"option: expected 'A' or 'B', got {option!r}")
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.in_channels = 16
        self.layer1 = self._stage(16, blocks_per_stage, 1, option)
        self.layer2 = self._stage(32, blocks_per_stage, 2, option)
        self.layer3 = self._stage(64, blocks_per_stage, 2, option)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def _stage(self, channels: int, blocks: int, stride: int, option: str) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(BasicBlock(self.in_channels, channels, s, option))
            self.in_channels = channels
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(torch.flatten(self.avgpool(out), 1))


def resnet20_a(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(3, num_classes, option="A")


def resnet20_b(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(3, num_classes, option="B")


def resnet32_a(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(5, num_classes, option="A")


def resnet56_a(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(9, num_classes, option="A")
