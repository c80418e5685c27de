"""ECE 661 HW2, Labs 1 and 2: SimpleNN (Table 1) and SimpleNN with BatchNorm.

Alice Chen (ac771)
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class SimpleNN(nn.Module):
    """Table 1: conv5x5(8) - pool - conv3x3(16) - pool - fc120 - fc84 - fc10, no padding."""

    def __init__(self):
        super(SimpleNN, self).__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=5)    # 32 -> 28, pool -> 14
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3)   # 14 -> 12, pool -> 6
        self.fc1 = nn.Linear(16 * 6 * 6, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        out = F.max_pool2d(F.relu(self.conv1(x)), 2)
        out = F.max_pool2d(F.relu(self.conv2(out)), 2)
        out = out.view(out.size(0), -1)
        out = F.relu(self.fc1(out))
        out = F.relu(self.fc2(out))
        return self.fc3(out)


class SimpleNN_BN(nn.Module):
    """Lab 2 (b)(i): same as SimpleNN with a BatchNorm layer after each convolution."""

    def __init__(self):
        super(SimpleNN_BN, self).__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=5)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(16 * 6 * 6, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        out = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        out = F.max_pool2d(F.relu(self.bn2(self.conv2(out))), 2)
        out = torch.flatten(out, 1)
        out = F.relu(self.fc1(out))
        out = F.relu(self.fc2(out))
        return self.fc3(out)
