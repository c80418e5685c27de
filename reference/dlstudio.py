"""DLStudio 2.5.x `ExperimentsWithCIFAR.Net` and `Net2` (Purdue ECE 60146), as the course
ships them.

Net (62,006 parameters), the PyTorch tutorial's LeNet for CIFAR-10:
    conv1 Conv2d(3, 6, 5) -> pool -> conv2 Conv2d(6, 16, 5) -> pool -> fc 400-120-84-10

Net2 (1,468,036 parameters):
    conv1 Conv2d(3, 128, 5, padding=2)   32x32, pool1 MaxPool2d(2, 2) -> 16x16
    conv2 Conv2d(128, 128, 3, padding=1) 16x16, pool2 MaxPool2d(2, 2) ->  8x8
    conv3 Conv2d(128, 128, 2, padding=1)  9x9,  pool3 MaxPool2d(2, 1) ->  8x8
    fc1 Linear(8192, 150) -> fc2 Linear(150, 100) -> fc3 Linear(100, 10)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class Net2(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 128, 5, padding=2)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(128, 128, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2, 2)
        self.conv3 = nn.Conv2d(128, 128, 2, padding=1)
        self.pool3 = nn.MaxPool2d(2, 1)
        self.fc1 = nn.Linear(128 * 8 * 8, 150)
        self.fc2 = nn.Linear(150, 100)
        self.fc3 = nn.Linear(100, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        x = self.pool3(F.relu(self.conv3(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def net(num_classes: int = 10) -> Net:
    return Net(num_classes=num_classes)


def net2(num_classes: int = 10) -> Net2:
    return Net2(num_classes=num_classes)
