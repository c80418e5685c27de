"""Hand-ins shaped like real ones (ECE 661 HW2, ECE 60146 HW4), written into tmp_path.

They copy what public student repositories look like: the course template's notebook names
(renamed a little), `SimpleNN` kept in both the Lab 1 and the Lab 2 notebook, Colab cells
(`!pip`, `drive.mount`, `%matplotlib`), models built in a later cell with arguments, forward
methods with type annotations, `.py` files exported from Colab with `!wget ... \\` lines, and
`Id,Label` predictions with CRLF line ends.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

COLAB = """\
!pip install torchsummary
from google.colab import drive
drive.mount('/content/drive')
%cd /content/drive/MyDrive/ECE661/HW2
"""

IMPORTS = """\
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms as transforms
%matplotlib inline
import matplotlib.pyplot as plt
device = 'cuda' if torch.cuda.is_available() else 'cpu'
"""

LAB1_SIMPLENN = """\
# Lab 1 (a): the model of Table 1
class SimpleNN(nn.Module):
    def __init__(self):
        super(SimpleNN, self).__init__()
        self.conv1 = nn.Conv2d(3, 8, 5)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.fc1   = nn.Linear(16*6*6, 120)
        self.fc2   = nn.Linear(120, 84)
        self.fc3   = nn.Linear(84, 10)

    def forward(self, x):
        out = F.relu(self.conv1(x))
        out = F.max_pool2d(out, 2)
        out = F.relu(self.conv2(out))
        out = F.max_pool2d(out, 2)
        out = out.view(out.size(0), -1)
        out = F.relu(self.fc1(out))
        out = F.relu(self.fc2(out))
        out = self.fc3(out)
        return out
"""

LAB2_SIMPLENN = """\
# Lab 2 (c): batch normalization after every convolution
class SimpleNN(nn.Module):
    def __init__(self):
        super(SimpleNN, self).__init__()
        self.conv1 = nn.Conv2d(3, 8, 5)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc1   = nn.Linear(16*6*6, 120)
        self.fc2   = nn.Linear(120, 84)
        self.fc3   = nn.Linear(84, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.max_pool2d(out, 2)
        out = F.relu(self.bn2(self.conv2(out)))
        out = F.max_pool2d(out, 2)
        out = out.view(out.size(0), -1)
        out = F.relu(self.fc1(out))
        out = F.relu(self.fc2(out))
        out = self.fc3(out)
        return out
"""

TRAIN = """\
net = SimpleNN().to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
trainset = torchvision.datasets.CIFAR10(root='./data', train=True, download=True,
                                        transform=transforms.ToTensor())
for epoch in range(30):
    for x, y in torch.utils.data.DataLoader(trainset, batch_size=128):
        optimizer.zero_grad()
        loss = criterion(net(x.to(device)), y.to(device))
        loss.backward()
        optimizer.step()
"""

# A ResNet-20 (option B shortcuts) built from a block class and a list of blocks per stage,
# with annotated forward methods: `torch` is used only in the annotations.
RESNET_CIFAR = """\
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetCIFAR(nn.Module):
    def __init__(self, block, num_blocks, num_classes=10):
        super().__init__()
        self.in_planes = 16
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(block, 16, num_blocks[0], 1)
        self.layer2 = self._make_layer(block, 32, num_blocks[1], 2)
        self.layer3 = self._make_layer(block, 64, num_blocks[2], 2)
        self.linear = nn.Linear(64, num_classes)

    def _make_layer(self, block, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)
"""

RESNET_IMPORTS = """\
import torch
import torch.nn as nn
import torch.nn.functional as F
"""


def notebook(path: Path, cells: list[str]) -> Path:
    """A real nbformat v4 notebook: a markdown title, then the code cells."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# ECE 661 Homework 2"))
    nb.cells += [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def predictions(path: Path, rows: int = 10000) -> Path:
    """The course's format: `Id,Label`, CRLF line ends."""
    lines = ["Id,Label"] + [f"{i},{i % 10}" for i in range(rows)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


def hw2_three_notebooks(root: Path, *, lab2_name: str = "simplenn-cifar10-dev.ipynb",
                        lab3_name: str = "resnet_cifar10.ipynb") -> Path:
    """Three notebooks named after the template, SimpleNN in Lab 1 and again (with
    BatchNorm) in Lab 2, ResNetCIFAR(BasicBlock, [3, 3, 3]) built in a later cell."""
    notebook(root / "simplenn-cifar10.ipynb", [COLAB, IMPORTS, LAB1_SIMPLENN, TRAIN])
    notebook(root / lab2_name, [COLAB, IMPORTS, LAB2_SIMPLENN, TRAIN])
    notebook(root / lab3_name, [
        COLAB, RESNET_IMPORTS, RESNET_CIFAR,
        "num_blocks = [3, 3, 3]\n",
        "model = ResNetCIFAR(BasicBlock, num_blocks).to(device)\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n",
        "for epoch in range(200):\n    train(model, optimizer)\n",
    ])
    predictions(root / "predictions.csv")
    return root
