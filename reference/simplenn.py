"""SimpleNN of ECE 661 HW2 (Table 1), and the Lab 2 variant with BatchNorm after each conv.

    conv1  Conv2d(3, 8, 5)            32x32 -> 28x28      608 parameters
    pool   MaxPool2d(2)               28x28 -> 14x14
    conv2  Conv2d(8, 16, 3)           14x14 -> 12x12    1,168
    pool   MaxPool2d(2)               12x12 ->  6x6
    fc1    Linear(576, 120)                            69,240
    fc2    Linear(120, 84)                             10,164
    fc3    Linear(84, 10)                                 850
                                                       82,030 (82,078 with bn1 and bn2)

No padding; ReLU after every layer but the last. The input must be 32x32 (fc1 is 16*6*6 wide).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SimpleNN(nn.Module):
    """Lab 1: Table 1 as printed."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=5)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3)
        self.fc1 = nn.Linear(16 * 6 * 6, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class SimpleNNBN(nn.Module):
    """Lab 2: BatchNorm2d after conv1 and conv2, before the ReLU (+48 parameters)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=5)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(16 * 6 * 6, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.pool(F.relu(self.bn2(self.conv2(x))))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def simplenn(num_classes: int = 10) -> SimpleNN:
    """Lab 1: Table 1 as printed (82,030 parameters)."""
    return SimpleNN(num_classes=num_classes)


def simplenn_bn(num_classes: int = 10) -> SimpleNNBN:
    """Lab 2: BatchNorm after each convolution (82,078 parameters)."""
    return SimpleNNBN(num_classes=num_classes)
