"""Purdue ECE 60146 Homework 4 (2023) networks for COCO, 5 classes, 64x64 images.

The handout gives one template, HW4Net, and asks for three variants:
    Net1: conv1 Conv2d(3, 16, 3) -> relu -> pool 2; conv2 Conv2d(16, 32, 3) -> relu -> pool 2;
          fc1 Linear(32 * 14 * 14, 64) -> relu -> fc2 Linear(64, 5)          406,885 parameters
    Net2: the same with padding=1 in both convolutions (16x16 maps, fc1 Linear(8192, 64))
                                                                              529,765 parameters
Both counts are the ones public hand-ins report (pinned in tests/test_handins_hw4.py by
building these classes). Net3 is the student's own deeper network: it has no reference of its
own; the built-in spec trains it beside Net2's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class HW4Net(nn.Module):
    def __init__(self, padding: int = 0, num_classes: int = 5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=padding)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=padding)
        side = 16 if padding else 14
        self.fc1 = nn.Linear(32 * side * side, 64)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.flatten(1)
        return self.fc2(F.relu(self.fc1(x)))


def hw4_net1(num_classes: int = 5) -> HW4Net:
    return HW4Net(padding=0, num_classes=num_classes)


def hw4_net2(num_classes: int = 5) -> HW4Net:
    return HW4Net(padding=1, num_classes=num_classes)

