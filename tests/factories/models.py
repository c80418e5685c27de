"""Each model's source once, as students hand it in.

SIMPLENN is the whole models.py of ECE 661 HW2 Lab 1 (82,030 parameters, the reference
`simplenn`); tests derive variants with str.replace. LAB1_SIMPLENN and LAB2_SIMPLENN are the
course template's notebook cells (`super(SimpleNN, self).__init__()`, `out = ...`), Lab 2 with a
BatchNorm after each convolution. simplenn() is SIMPLENN with hostile code hooked into its
module, class body, __init__ and forward (the sandbox tests); lab1_simplenn() is the template's
cell with another fc1 input size (a hand-in whose fc1 does not fit 32x32 images).
SIMPLENN_STUB is a SimpleNN that is only a name, for tests that never build it (discovery,
choice with the probe stood in, content keys): its class statement is on line 2.
"""

from __future__ import annotations

import textwrap

SIMPLENN = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class SimpleNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 5)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.fc1 = nn.Linear(16 * 6 * 6, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)
'''

SIMPLENN_STUB = "import torch.nn as nn\nclass SimpleNN(nn.Module):\n    pass\n"


def _block(code: str, spaces: int) -> str:
    return textwrap.indent(textwrap.dedent(code).strip("\n"), " " * spaces) + "\n"


def simplenn(*, head: str = "", body: str = "", init: str = "", forward: str = "",
             fc1: int = 120) -> str:
    """SIMPLENN (82,030 parameters with fc1=120) that also runs `head` in the module, after its
    imports, `body` in its class body (at import), `init` in __init__ and `forward` in
    forward."""
    def insert(text: str, after: str, code: str, spaces: int) -> str:
        assert text.count(after) == 1, after
        return text.replace(after, after + _block(code, spaces)) if code else text

    source = SIMPLENN.lstrip("\n")
    if head:                        # module code between the imports and the class
        source = source.replace("\n\n\nclass SimpleNN",
                                "\n\n\n" + _block(head, 0) + "\n\nclass SimpleNN")
    source = insert(source, "class SimpleNN(nn.Module):\n", body, 4)
    source = insert(source, "        super().__init__()\n", init, 8)
    source = insert(source, "    def forward(self, x):\n", forward, 8)
    return source.replace("nn.Linear(16 * 6 * 6, 120)", f"nn.Linear(16 * 6 * 6, {fc1})") \
                 .replace("nn.Linear(120, 84)", f"nn.Linear({fc1}, 84)")


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

# Lab 1's cell with a BatchNorm registered after each convolution and applied before its ReLU
LAB2_SIMPLENN = (
    LAB1_SIMPLENN
    .replace("# Lab 1 (a): the model of Table 1",
             "# Lab 2 (c): batch normalization after every convolution")
    .replace("        self.conv1 = nn.Conv2d(3, 8, 5)\n",
             "        self.conv1 = nn.Conv2d(3, 8, 5)\n        self.bn1 = nn.BatchNorm2d(8)\n")
    .replace("        self.conv2 = nn.Conv2d(8, 16, 3)\n",
             "        self.conv2 = nn.Conv2d(8, 16, 3)\n        self.bn2 = nn.BatchNorm2d(16)\n")
    .replace("F.relu(self.conv1(x))", "F.relu(self.bn1(self.conv1(x)))")
    .replace("F.relu(self.conv2(out))", "F.relu(self.bn2(self.conv2(out)))"))


def lab1_simplenn(fc1_in: str = "16*6*6") -> str:
    """LAB1_SIMPLENN with fc1's input size written as fc1_in ("576", "16 * 4 * 4")."""
    return LAB1_SIMPLENN.replace("nn.Linear(16*6*6, 120)", f"nn.Linear({fc1_in}, 120)")


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
