"""Hand-ins shaped like real ones (ECE 661 HW2, ECE 60146 HW4), written into tmp_path.

They copy what public student repositories look like: the course template's notebook names
(renamed a little), `SimpleNN` kept in both the Lab 1 and the Lab 2 notebook, Colab cells
(`!pip`, `drive.mount`, `%matplotlib`), models built in a later cell with arguments, forward
methods with type annotations, `.py` files exported from Colab with `!wget ... \\` lines, and
`Id,Label` predictions with CRLF line ends. The model sources are in models.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.factories.models import (LAB1_SIMPLENN, LAB2_SIMPLENN, RESNET_CIFAR,  # noqa: F401
                                    RESNET_IMPORTS)
from tests.factories.notebooks import predictions, write_notebook  # noqa: F401

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

def notebook(path: Path, cells: list[str]) -> Path:
    """A real nbformat v4 notebook: a markdown title, then the code cells."""
    return write_notebook(path, cells, title="# ECE 661 Homework 2")


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
