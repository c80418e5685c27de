"""A generated class for the integrity tests and benchmark, with every kind of copy planted.

The class looks like ECE 60146 HW5 hand-ins: a Colab notebook built from the course's starter
template (`!pip install`, `drive.mount`, DLStudio's Net given, TODO cells), each student's own
Net3 and training code, predictions.csv with the course's `Id,Label` header (some with CRLF).
Honest students write their own code from many small independent choices, as real students do;
their predictions come from one latent model of image hardness (hard images are hard for
everyone, and wrong answers go mostly to one look-alike class), so honest pairs share errors as
real ~85% models do.

Planted: a renamed and reformatted copy of another student's code; code copied from a public
source; two identical Net3s; predictions copied with 5% noise; predictions made in the public
order under a secret permutation.
"""

from __future__ import annotations

import random
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader.results import (CheckReport, EvaluationResult, LayerRow, ModelReport,
                            SandboxReport, Scores)
from tests.factories.models import LAB1_SIMPLENN
from tests.factories.notebooks import write_notebook

CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGES = 10000

SPEC = """\
[assignment]
course = "ECE 60146: Deep Learning"
title = "Homework 5: CIFAR-10 with DLStudio's Net and your own Net3"
required_files = ["*.ipynb|*.py", "predictions.csv"]

[dataset]
name = "cifar10"
class_names = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

[predictions]
file = "predictions.csv"
id_column = "Id"
label_column = "Label"
rows = 10000
labels = "either"

[[models]]
key = "net"
title = "DLStudio Net"
names = ["Net"]
params = 62006
reference = "dlstudio-net"

[[models]]
key = "net3"
title = "Your own Net3"
names = ["Net3"]
params = { min = 10000, max = 50000000 }
"""

STARTER_CELLS = [
    "!pip install DLStudio==2.5.3\n%matplotlib inline",
    "from google.colab import drive\ndrive.mount('/content/drive')",
    """\
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision
    import torchvision.transforms as tvt
    import numpy as np
    import matplotlib.pyplot as plt
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    """,
    """\
    # ---- provided: do not change ----
    transform = tvt.Compose([tvt.ToTensor(), tvt.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    train_data_loc = torchvision.datasets.CIFAR10(root='./data', train=True, download=True,
                                                  transform=transform)
    train_data_loader = torch.utils.data.DataLoader(train_data_loc, batch_size=4, shuffle=True,
                                                    num_workers=2)
    classes = ('plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')
    """,
    """\
    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(3, 128, 5)
            self.conv2 = nn.Conv2d(128, 128, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.fc1 = nn.Linear(128 * 5 * 5, 1000)
            self.fc2 = nn.Linear(1000, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = x.view(-1, 128 * 5 * 5)
            x = F.relu(self.fc1(x))
            x = self.fc2(x)
            return x
    """,
    """\
    def save_test_predictions(net, test_loader, path='predictions.csv'):
        net.eval()
        rows = []
        with torch.no_grad():
            for images, ids in test_loader:
                outputs = net(images.to(device))
                _, predicted = torch.max(outputs, 1)
                rows += list(zip(ids.tolist(), predicted.tolist()))
        with open(path, 'w') as f:
            f.write('Id,Label\\n')
            for i, label in rows:
                f.write(f'{i},{label}\\n')
    """,
    "# TODO: write run_code_for_training(net) and train Net\n",
    "# TODO: define your own Net3, deeper than Net2, and train it\n",
]

# A public implementation a student might copy (written for the tests, in the style of the
# training utilities on GitHub).
PUBLIC_SOURCE = """\
import time
import torch
import torch.nn as nn


class AverageMeter(object):
    \"\"\"Computes and stores the average and current value\"\"\"
    def __init__(self):
        self.reset()

    def reset(self):
        self.val = 0
        self.avg = 0
        self.sum = 0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count


def accuracy(output, target, topk=(1,)):
    maxk = max(topk)
    batch_size = target.size(0)
    _, pred = output.topk(maxk, 1, True, True)
    pred = pred.t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))
    res = []
    for k in topk:
        correct_k = correct[:k].reshape(-1).float().sum(0)
        res.append(correct_k.mul_(100.0 / batch_size))
    return res


def train_one_epoch(train_loader, model, criterion, optimizer, epoch, print_freq=50):
    batch_time = AverageMeter()
    losses = AverageMeter()
    top1 = AverageMeter()
    model.train()
    end = time.time()
    for i, (input, target) in enumerate(train_loader):
        target = target.cuda()
        input_var = input.cuda()
        output = model(input_var)
        loss = criterion(output, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        prec1 = accuracy(output.data, target)[0]
        losses.update(loss.item(), input.size(0))
        top1.update(prec1.item(), input.size(0))
        batch_time.update(time.time() - end)
        end = time.time()
        if i % print_freq == 0:
            print('Epoch: [{0}][{1}/{2}]\\t'
                  'Time {batch_time.val:.3f} ({batch_time.avg:.3f})\\t'
                  'Loss {loss.val:.4f} ({loss.avg:.4f})\\t'
                  'Prec@1 {top1.val:.3f} ({top1.avg:.3f})'.format(
                      epoch, i, len(train_loader), batch_time=batch_time,
                      loss=losses, top1=top1))
    return top1.avg


def adjust_learning_rate(optimizer, epoch, base_lr, milestones=(100, 150)):
    lr = base_lr
    for milestone in milestones:
        if epoch >= milestone:
            lr *= 0.1
    for param_group in optimizer.param_groups:
        param_group['lr'] = lr
    return lr
"""


# ---------------------------------------------------------------- honest code

def _pick(rng: random.Random, options: list[str]) -> str:
    return textwrap.dedent(rng.choice(options))


@dataclass(frozen=True)
class Design:
    """A Net3: conv channels (3x3, padding 1, max pooling after every second) and a head."""

    channels: tuple[int, ...]
    hidden: int
    batchnorm: bool

    def layers(self) -> list[LayerRow]:
        rows, c_in, size = [], 3, 32
        for k, c in enumerate(self.channels):
            rows.append(LayerRow(f"conv{k}", "Conv2d", [1, c, size, size], [c, c_in, 3, 3],
                                 c * c_in * 9 + c))
            if self.batchnorm:
                rows.append(LayerRow(f"bn{k}", "BatchNorm2d", [1, c, size, size], [c], 2 * c))
            rows.append(LayerRow(f"relu{k}", "ReLU", [1, c, size, size], None, 0))
            if k % 2 == 1 or k == len(self.channels) - 1:
                size //= 2
                rows.append(LayerRow(f"pool{k}", "MaxPool2d", [1, c, size, size], None, 0))
            c_in = c
        flat = c_in * size * size
        rows.append(LayerRow("fc1", "Linear", [1, self.hidden], [self.hidden, flat],
                             self.hidden * flat + self.hidden))
        rows.append(LayerRow("fc2", "Linear", [1, 10], [10, self.hidden], 10 * self.hidden + 10))
        return rows

    @property
    def params(self) -> int:
        return sum(r.params for r in self.layers())


def random_design(rng: random.Random) -> Design:
    depth = rng.choice([3, 4, 5, 6, 7])
    channels = tuple(rng.choice([16, 24, 32, 48, 64, 96, 128, 192, 256]) for _ in range(depth))
    return Design(channels, rng.choice(range(64, 1025, 32)), rng.random() < 0.5)


def net3_code(design: Design, rng: random.Random, name: str = "Net3") -> str:
    """The student's own Net3 in one of several styles (explicit layers, lists, Sequential)."""
    style = rng.choice(["explicit", "modulelist", "sequential"])
    act = rng.choice(["F.relu(", "torch.relu("])
    lines = [f"class {name}(nn.Module):", "    def __init__(self):",
             f"        super({name}, self).__init__()" if rng.random() < 0.5 else
             "        super().__init__()"]
    c_in, size, body = 3, 32, []
    if style == "sequential":
        lines.append("        self.features = nn.Sequential(")
        for k, c in enumerate(design.channels):
            lines.append(f"            nn.Conv2d({c_in}, {c}, kernel_size=3, padding=1),")
            if design.batchnorm:
                lines.append(f"            nn.BatchNorm2d({c}),")
            lines.append("            nn.ReLU(inplace=True),")
            if k % 2 == 1 or k == len(design.channels) - 1:
                lines.append("            nn.MaxPool2d(2),")
                size //= 2
            c_in = c
        lines.append("        )")
        flat = c_in * size * size
        lines += [f"        self.fc1 = nn.Linear({flat}, {design.hidden})",
                  f"        self.fc2 = nn.Linear({design.hidden}, 10)", "",
                  "    def forward(self, x):", "        x = self.features(x)",
                  "        x = torch.flatten(x, 1)" if rng.random() < 0.5 else
                  "        x = x.view(x.size(0), -1)",
                  f"        x = {act}self.fc1(x))", "        return self.fc2(x)"]
        return "\n".join(lines) + "\n"
    for k, c in enumerate(design.channels):
        lines.append(f"        self.conv{k + 1} = nn.Conv2d({c_in}, {c}, 3, padding=1)")
        if design.batchnorm:
            lines.append(f"        self.bn{k + 1} = nn.BatchNorm2d({c})")
        call = f"self.bn{k + 1}(self.conv{k + 1}(x))" if design.batchnorm else \
            f"self.conv{k + 1}(x)"
        body.append(f"        x = {act}{call})")
        if k % 2 == 1 or k == len(design.channels) - 1:
            body.append("        x = self.pool(x)")
            size //= 2
        c_in = c
    flat = c_in * size * size
    lines += ["        self.pool = nn.MaxPool2d(2, 2)",
              f"        self.fc1 = nn.Linear({flat}, {design.hidden})",
              f"        self.fc2 = nn.Linear({design.hidden}, 10)", "",
              "    def forward(self, x):", *body,
              f"        x = x.view(-1, {flat})", f"        x = {act}self.fc1(x))",
              "        x = self.fc2(x)", "        return x"]
    return "\n".join(lines) + "\n"


def training_code(rng: random.Random) -> list[str]:
    """A student's own training, evaluation and plotting cells, from independent choices."""
    opt = rng.choice([
        "optimizer = torch.optim.SGD(net.parameters(), lr={lr}, momentum=0.9)",
        "optimizer = torch.optim.Adam(net.parameters(), lr={lr})",
        "optimizer = torch.optim.SGD(net.parameters(), lr={lr}, momentum=0.9, weight_decay=5e-4)",
        "opt = torch.optim.AdamW(net.parameters(), lr={lr}, weight_decay=0.01)\n    optimizer = opt",
    ]).format(lr=rng.choice(["1e-3", "0.01", "0.005", "1e-4", "0.002"]))
    loss_name = rng.choice(["criterion", "loss_fn", "lossf", "ce"])
    epochs = rng.choice([5, 10, 15, 20, 25])
    log = rng.choice([
        "if (i + 1) % {k} == 0:\n                print('[epoch:%d, batch:%5d] loss: %.3f' % (epoch + 1, i + 1, running_loss / {k}))\n                losses.append(running_loss / {k})\n                running_loss = 0.0",
        "if i % {k} == {km}:\n                print(f'epoch {{epoch}} iter {{i}} loss {{running_loss / {k}:.4f}}')\n                running_loss = 0.0",
        "running_losses.append(loss.item())",
        "if i and i % {k} == 0:\n                avg = running_loss / {k}\n                history.append(avg)\n                running_loss = 0",
    ]).format(k=(k := rng.choice([100, 200, 500, 1000, 2000])), km=k - 1)
    step = rng.choice([
        "optimizer.zero_grad()\n            outputs = net(inputs)\n            loss = {L}(outputs, labels)\n            loss.backward()\n            optimizer.step()",
        "outputs = net(inputs)\n            loss = {L}(outputs, labels)\n            optimizer.zero_grad()\n            loss.backward()\n            optimizer.step()",
        "optimizer.zero_grad(set_to_none=True)\n            loss = {L}(net(inputs), labels)\n            loss.backward()\n            optimizer.step()",
    ]).format(L=loss_name)
    unpack = rng.choice(["inputs, labels = data", "inputs, labels = data[0], data[1]",
                         "(inputs, labels) = data"])
    move = rng.choice(["inputs = inputs.to(device)\n            labels = labels.to(device)",
                       "inputs, labels = inputs.to(device), labels.to(device)", ""])
    loader = rng.choice(["train_data_loader", "trainloader", "train_loader"])
    train = f"""\
def run_code_for_training(net, epochs={epochs}):
    net = net.to(device)
    {loss_name} = torch.nn.CrossEntropyLoss()
    {opt}
    losses, running_losses, history = [], [], []
    for epoch in range(epochs):
        running_loss = 0.0
        for i, data in enumerate({loader}):
            {unpack}
            {move}
            {step}
            running_loss += loss.item()
            {log}
    return losses or running_losses or history
"""
    if loader != "train_data_loader":
        train = f"{loader} = train_data_loader\n" + train
    evaluate = rng.choice([
        """\
        def confusion(net, loader):
            matrix = torch.zeros(10, 10, dtype=torch.int64)
            net.eval()
            with torch.no_grad():
                for images, labels in loader:
                    preds = net(images.to(device)).argmax(dim=1).cpu()
                    for t, p in zip(labels, preds):
                        matrix[t, p] += 1
            acc = matrix.diag().sum().item() / matrix.sum().item()
            print('accuracy: %.2f%%' % (100 * acc))
            return matrix
        """,
        """\
        def test_accuracy(model, dataloader):
            correct, total = 0, 0
            class_correct = [0] * 10
            class_total = [0] * 10
            model.eval()
            for batch in dataloader:
                x, y = batch
                with torch.no_grad():
                    out = model(x.to(device))
                _, yhat = torch.max(out.data, 1)
                total += y.size(0)
                correct += (yhat.cpu() == y).sum().item()
                for label, guess in zip(y, yhat.cpu()):
                    class_correct[label] += int(label == guess)
                    class_total[label] += 1
            for c in range(10):
                print(f'{classes[c]:>6s}: {100 * class_correct[c] / class_total[c]:5.1f}%')
            return correct / total
        """,
        """\
        from sklearn.metrics import confusion_matrix, ConfusionMatrixDisplay
        def evaluate(net, data_loader):
            y_true, y_pred = [], []
            net.eval()
            with torch.no_grad():
                for imgs, lbls in data_loader:
                    y_pred.extend(net(imgs.to(device)).argmax(1).tolist())
                    y_true.extend(lbls.tolist())
            cm = confusion_matrix(y_true, y_pred)
            ConfusionMatrixDisplay(cm, display_labels=classes).plot(cmap='Blues')
            plt.show()
            return np.trace(cm) / np.sum(cm)
        """,
    ])
    plot = rng.choice([
        "plt.figure(figsize=(10, 5))\nplt.title('Training loss')\nplt.plot(loss_net, label='Net')\nplt.plot(loss_net3, label='Net3')\nplt.xlabel('iterations')\nplt.ylabel('loss')\nplt.legend()\nplt.show()",
        "fig, ax = plt.subplots()\nax.plot(loss_net, 'r', label='Net')\nax.plot(loss_net3, 'b', label='Net3')\nax.set_xlabel('Iterations (x%d)' % 100)\nax.legend(loc='upper right')\nfig.savefig('/content/drive/MyDrive/hw5_loss.png')",
        "for name, curve in [('Net', loss_net), ('Net3', loss_net3)]:\n    plt.plot(np.convolve(curve, np.ones(5) / 5, mode='valid'), label=name)\nplt.legend(); plt.grid(True); plt.show()",
    ])
    extra = rng.choice([
        "torch.manual_seed(0)\nnp.random.seed(0)",
        "seed = 60146\ntorch.manual_seed(seed)\nrandom_seed = seed",
        "print(sum(p.numel() for p in Net3().parameters() if p.requires_grad))",
        "for name, p in Net3().named_parameters():\n    print(name, tuple(p.shape))",
        "",
    ])
    return [train, textwrap.dedent(evaluate), extra,
            "net = Net()\nloss_net = run_code_for_training(net)",
            "net3 = Net3()\nloss_net3 = run_code_for_training(net3)", plot]


SNIPPETS = [
    "mean = torch.tensor([{a}, {b}, {c}]).view(3, 1, 1)\nstd = torch.tensor([0.2470, 0.2435, 0.2616]).view(3, 1, 1)",
    "aug = tvt.Compose([tvt.RandomCrop(32, padding={p}), tvt.RandomHorizontalFlip(), tvt.ToTensor()])",
    "aug = tvt.Compose([tvt.ColorJitter(brightness=0.{p}, contrast=0.{q}), tvt.ToTensor(), tvt.Normalize((0.5,), (0.5,))])",
    "def count_params(m):\n    total = 0\n    for p in m.parameters():\n        if p.requires_grad:\n            total += p.numel()\n    return total",
    "scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size={p}, gamma=0.{q})",
    "def show_images(loader, n={p}):\n    imgs, lbls = next(iter(loader))\n    grid = torchvision.utils.make_grid(imgs[:n] / 2 + 0.5)\n    plt.imshow(np.transpose(grid.numpy(), (1, 2, 0)))\n    plt.title(' '.join(classes[l] for l in lbls[:n]))\n    plt.axis('off')",
    "torch.save(net3.state_dict(), '/content/drive/MyDrive/ece60146/net3_ep{p}.pth')\nprint('saved')",
    "if torch.cuda.is_available():\n    print(torch.cuda.get_device_name(0))\n    torch.backends.cudnn.benchmark = True",
    "best_acc = 0.0\npatience, wait = {p}, 0\nfor ep in range({q}):\n    acc = test_epoch(ep)\n    if acc > best_acc:\n        best_acc, wait = acc, 0\n    else:\n        wait += 1\n        if wait > patience:\n            break",
    "def smooth(values, weight=0.{p}):\n    out, last = [], values[0]\n    for v in values:\n        last = last * weight + (1 - weight) * v\n        out.append(last)\n    return out",
    "import time\nstart = time.time()\nelapsed = time.time() - start\nprint('training took %d min %d s' % (elapsed // 60, elapsed % 60))",
    "def per_class_table(correct, total):\n    rows = sorted(zip(classes, correct, total), key=lambda r: r[1] / max(r[2], 1))\n    for name, c, t in rows:\n        print('{{:>8}} {{:6.2f}}'.format(name, 100.0 * c / t))",
    "test_data_loc = torchvision.datasets.CIFAR10(root='./data', train=False, download=True, transform=transform)\ntest_data_loader = torch.utils.data.DataLoader(test_data_loc, batch_size={p}, shuffle=False)",
    "def init_weights(m):\n    if isinstance(m, (nn.Conv2d, nn.Linear)):\n        nn.init.kaiming_normal_(m.weight, mode='fan_out')\n        if m.bias is not None:\n            nn.init.zeros_(m.bias)",
    "print(net3)\nx = torch.randn({p}, 3, 32, 32)\nprint(net3(x).shape)",
    "grads = [p.grad.norm().item() for p in net3.parameters() if p.grad is not None]\nplt.hist(grads, bins={p})\nplt.show()",
]


def own_snippets(rng: random.Random) -> str:
    """A few of the small extras every student writes differently, with their own numbers."""
    picks = rng.sample(SNIPPETS, 6)
    return "\n\n".join(p.format(a=rng.randint(40, 52) / 100, b=rng.randint(40, 52) / 100,
                                 c=rng.randint(40, 52) / 100, p=rng.randint(2, 9),
                                 q=rng.randint(3, 30)) for p in picks) + "\n"


def honest_cells(rng: random.Random, design: Design) -> list[str]:
    return [textwrap.dedent(c) for c in STARTER_CELLS[:6]] + training_code(rng) + [
        own_snippets(rng), net3_code(design, rng)]


# ---------------------------------------------------------------- planted code copies

def disguise(cells: list[str], rng: random.Random) -> list[str]:
    """What a student does to hide a copy: rename variables and functions, change comments,
    reformat (spacing, blank lines, line breaks), merge cells and move functions around."""
    renames = {"run_code_for_training": "train_model", "running_loss": "total_loss",
               "optimizer": "optim", "inputs": "imgs", "labels": "targets", "outputs": "logits",
               "criterion": "loss_function", "loss_fn": "loss_function", "epoch": "ep",
               "net3": "my_model", "confusion": "conf_mat", "test_accuracy": "check_accuracy",
               "evaluate": "eval_model", "data": "batch_data", "matrix": "mat",
               "x": "h", "model": "network", "history": "hist", "losses": "loss_list"}
    import re

    out = []
    for cell in cells:
        for old, new in renames.items():
            cell = re.sub(rf"\b{old}\b", new, cell)
        cell = cell.replace(", ", ",  ").replace(" = ", "=").replace("(self, ", "( self, ")
        cell = re.sub(r"#.*", "# my code", cell)
        cell = cell.replace("\n\n", "\n\n\n")
        out.append(cell)
    student_part = out[6:]
    rng.shuffle(student_part)
    return out[:6] + ["\n\n".join(student_part[:2])] + student_part[2:]


# ---------------------------------------------------------------- predictions

def latent_predictions(labels: np.ndarray, hardness: np.ndarray, lookalike: np.ndarray,
                       skill: float, rng: np.random.Generator) -> np.ndarray:
    """A model's answers: image i is wrong with probability sigmoid(hardness_i - skill), and a
    wrong answer is the image's look-alike class 60% of the time, else any other class."""
    wrong = rng.random(len(labels)) < 1 / (1 + np.exp(skill - hardness))
    other = (labels + rng.integers(1, 10, len(labels))) % 10
    guess = np.where(rng.random(len(labels)) < 0.6, lookalike, other)
    return np.where(wrong, guess, labels)


def write_predictions(path: Path, preds: np.ndarray, *, crlf: bool, names: bool) -> None:
    end = "\r\n" if crlf else "\n"
    values = [CLASSES[p] for p in preds] if names else [str(p) for p in preds]
    path.write_bytes(("Id,Label" + end + "".join(f"{i},{v}{end}" for i, v in
                                                 enumerate(values))).encode("utf-8"))


def write_labels(path: Path, labels: np.ndarray) -> None:
    """As `grader data split` writes labels.csv."""
    path.write_text("id,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels)),
                    encoding="utf-8")


# ---------------------------------------------------------------- the class

@dataclass
class GeneratedClass:
    root: Path                      # one folder per student
    spec: Path
    starter: Path                   # the template notebook's folder
    sources: Path                   # known public implementations
    labels: Path                    # secret order (labels.csv)
    public_labels: Path             # the same images in the public order
    results: Path                   # result files (layer tables) as grader evaluate writes them
    students: list[str]
    planted: dict[str, tuple[str, str]] = field(default_factory=dict)  # kind -> pair
    public_order_student: str = ""


def _notebook(path: Path, cells: list[str]) -> None:
    marked: list = []
    for k, cell in enumerate(cells):
        marked.append(("code", cell))
        if k == 6:
            marked.append(("md", "## Task 2: your own Net3"))
    write_notebook(path, marked, title="# ECE 60146 HW5\nName: ...")


def _result(student: str, design: Design, accuracy: float) -> EvaluationResult:
    net_layers = [LayerRow("conv1", "Conv2d", [1, 128, 28, 28], [128, 3, 5, 5], 9728),
                  LayerRow("pool", "MaxPool2d", [1, 128, 14, 14], None, 0),
                  LayerRow("conv2", "Conv2d", [1, 128, 10, 10], [128, 128, 5, 5], 409728),
                  LayerRow("fc1", "Linear", [1, 1000], [1000, 3200], 3201000),
                  LayerRow("fc2", "Linear", [1, 10], [10, 1000], 10010)]
    models = [ModelReport("net", "DLStudio Net", True, "Net", "hw5.ipynb cell 5", 1,
                          params=sum(r.params for r in net_layers), layers=net_layers),
              ModelReport("net3", "Your own Net3", True, "Net3", "hw5.ipynb cell 14", 1,
                          params=design.params, layers=design.layers())]
    check = CheckReport(student, "hw5", True, models, [], None, SandboxReport())
    return EvaluationResult(
        student=student, assignment="hw5", course="ECE 60146: Deep Learning", title="HW5",
        grader_version="test", created="2026-11-30T09:00:00+00:00", status="ok", error=None,
        check=check, training=[], reference=[],
        predictions=Scores(accuracy=accuracy, per_class=[accuracy] * 10,
                           confusion=[[0] * 10 for _ in range(10)]),
        rubric=[], total=80.0, possible=100.0, class_names=list(CLASSES), dataset="cifar10",
        device="cpu")


def make_class(root: Path, *, honest: int = 10, seed: int = 0, planted: bool = True,
               starter_only: bool = False) -> GeneratedClass:
    """Write a class under root (see the module docstring). starter_only: every student only
    fills in the template's two TODO cells, briefly, and keeps DLStudio's Net."""
    from grader.results import save

    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    root = Path(root)
    klass, results = root / "class", root / "grades"
    (root / "starter").mkdir(parents=True, exist_ok=True)
    _notebook(root / "starter" / "hw5_template.ipynb",
              [textwrap.dedent(c) for c in STARTER_CELLS])
    (root / "sources").mkdir(parents=True, exist_ok=True)
    (root / "sources" / "pytorch_cifar_utils.py").write_text(PUBLIC_SOURCE, encoding="utf-8")
    spec = root / "hw5.toml"
    spec.write_text(SPEC, encoding="utf-8")

    public = nrng.integers(0, 10, IMAGES)
    hardness = nrng.normal(-2.2, 1.6, IMAGES)
    lookalike = (public + np.where(public % 2 == 0, 1, -1)) % 10
    order = np.random.default_rng(seed + 12345).permutation(IMAGES)   # the secret permutation
    secret = public[order]
    write_labels(root / "labels.csv", secret)
    write_labels(root / "public_labels.csv", public)

    names = [f"{rng.choice(['a', 'b', 'c', 'd', 'j', 'k', 'm', 's'])}{rng.choice(['li', 'wang', 'patel', 'kim', 'smith', 'garcia', 'chen', 'nguyen'])}{k:02d}"
             for k in range(honest)]
    gen = GeneratedClass(klass, spec, root / "starter", root / "sources", root / "labels.csv",
                         root / "public_labels.csv", results, [])
    cells: dict[str, list[str]] = {}
    designs: dict[str, Design] = {}
    preds: dict[str, np.ndarray] = {}
    for k, name in enumerate(names):
        design = random_design(rng)
        designs[name] = design
        if starter_only:
            cells[name] = [textwrap.dedent(c) for c in STARTER_CELLS[:6]] + [
                "def run_code_for_training(net):\n    pass  # see lecture\n",
                "Net3 = Net\n"]
            designs[name] = Design((16,), 64, False)
        else:
            cells[name] = honest_cells(rng, design)
        skill = rng.uniform(0.3, 1.6)
        preds[name] = latent_predictions(secret, hardness[order], lookalike[order], skill, nrng)

    if planted:
        # renamed and reformatted copy of names[0]'s code
        cells["copier"] = disguise(cells[names[0]], rng)
        designs["copier"] = random_design(rng)
        preds["copier"] = latent_predictions(secret, hardness[order], lookalike[order], 1.0, nrng)
        gen.planted["code"] = (names[0], "copier")
        # code from a public source, names changed
        own = honest_cells(rng, random_design(rng))
        copied = PUBLIC_SOURCE.replace("AverageMeter", "Meter").replace("train_one_epoch",
                                                                         "train_epoch")
        cells["web_copy"] = own[:7] + [copied] + own[8:]
        designs["web_copy"] = random_design(rng)
        preds["web_copy"] = latent_predictions(secret, hardness[order], lookalike[order], 0.8,
                                               nrng)
        gen.planted["source"] = ("web_copy", "source: pytorch_cifar_utils.py")
        # identical Net3s written in different styles by two otherwise honest students
        twin = random_design(rng)
        for name in ("twin_a", "twin_b"):
            designs[name] = twin
            cells[name] = honest_cells(rng, twin)
            preds[name] = latent_predictions(secret, hardness[order], lookalike[order],
                                             rng.uniform(0.5, 1.4), nrng)
        gen.planted["model"] = ("twin_a", "twin_b")
        # predictions copied from names[1] with 5% noise
        cells["pred_copy"] = honest_cells(rng, design := random_design(rng))
        designs["pred_copy"] = design
        noisy = preds[names[1]].copy()
        flip = nrng.random(IMAGES) < 0.05
        noisy[flip] = nrng.integers(0, 10, int(flip.sum()))
        preds["pred_copy"] = noisy
        gen.planted["predictions"] = tuple(sorted((names[1], "pred_copy")))
        # predictions made on the public test set, in the public order
        cells["public_order"] = honest_cells(rng, design := random_design(rng))
        designs["public_order"] = design
        preds["public_order"] = latent_predictions(public, hardness, lookalike, 1.5, nrng)
        gen.public_order_student = "public_order"

    for k, (name, student_cells) in enumerate(sorted(cells.items())):
        folder = klass / name
        notebook = ["hw5.ipynb", "HW5_Net3.ipynb", f"{name}_hw5.ipynb"][k % 3]
        _notebook(folder / notebook, student_cells)
        write_predictions(folder / "predictions.csv", preds[name], crlf=k % 3 == 1,
                          names=k % 4 == 2)
        accuracy = float((preds[name] == secret).mean())
        save(_result(name, designs[name], accuracy), results / f"{name}.json")
        gen.students.append(name)
    return gen


# ---------------------------------------------------------------- a copy across three cells

def write_colab_notebook(path: Path, cells: list[tuple[str, str]]) -> Path:
    """A notebook as Colab saves it: ("md", text) and ("code", source) cells, code cells with
    execution counts and a stream output where given as ("code", source, output)."""
    return write_notebook(path, cells, title=None, colab=True)


COLAB_SETUP = [
    ("md", "# ECE 661 HW2: SimpleNN on CIFAR-10\nRuntime > Change runtime type > GPU."),
    ("code", "!pip install torchinfo\n!nvidia-smi"),
    ("code", "from google.colab import drive\ndrive.mount('/content/drive')",
     "Mounted at /content/drive\n"),
    ("code", ("import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
              "import torchvision\nimport torchvision.transforms as transforms\n"
              "device = 'cuda' if torch.cuda.is_available() else 'cpu'")),
]

TEMPLATE_CELLS = COLAB_SETUP + [
    ("md", "## Part 1: data and the SimpleNN model"),
    ("code", ("class SimpleNN(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
              "        # TODO: two conv layers and three linear layers\n\n"
              "    def forward(self, x):\n        # TODO\n        pass")),
    ("md", "## Part 2: train SimpleNN for 10 epochs"),
    ("code", "# TODO: your training loop\n"),
]

# alice's SimpleNN: the template's Lab 1 cell without its heading comment, `=` not aligned;
# bob's: hers with every name changed and a comment of his own on top
ALICE_SIMPLENN = LAB1_SIMPLENN.split("\n", 1)[1].replace("   = ", " = ")
BOB_NAMES = {"conv1": "c1", "conv2": "c2", "fc1": "l1", "fc2": "l2", "fc3": "l3", "out": "h",
             "x": "inp"}
BOB_SIMPLENN = "# my SimpleNN\n" + re.sub(r"\b(%s)\b" % "|".join(BOB_NAMES),
                                          lambda m: BOB_NAMES[m[1]], ALICE_SIMPLENN)

# alice's own code, then the code bob copies (lines 5-12 of her cell 4, all of cell 5, lines
# 1-15 of cell 6), then her own again
ALICE_CELLS = COLAB_SETUP + [
    ("md", "## Part 1: data and the SimpleNN model"),
    ("code", """\
# load CIFAR-10 from my Drive (downloaded once)
DATA_DIR = '/content/drive/MyDrive/ece661/data'
%ls $DATA_DIR

transform_train = transforms.Compose([
    transforms.RandomCrop(32, padding=4),
    transforms.RandomHorizontalFlip(),
    transforms.ToTensor(),
    transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
])
trainset = torchvision.datasets.CIFAR10(root='./data', train=True, download=True, transform=transform_train)
trainloader = torch.utils.data.DataLoader(trainset, batch_size=128, shuffle=True, num_workers=2)
""", "Files already downloaded and verified\n"),
    ("md", "The model: two 5x5/3x3 convolutions, then three linear layers."),
    ("code", ALICE_SIMPLENN),
    ("md", "## Part 2: train SimpleNN for 10 epochs"),
    ("code", """\
net = SimpleNN().to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
for epoch in range(10):
    net.train()
    running_loss = 0.0
    for i, (inputs, targets) in enumerate(trainloader):
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    print('epoch %d loss %.3f' % (epoch + 1, running_loss / len(trainloader)))
torch.save(net.state_dict(), DATA_DIR + '/../simplenn_alice.pth')
""", "epoch 1 loss 1.912\nepoch 2 loss 1.604\n"),
    ("code", ("import matplotlib.pyplot as plt\nimages, _ = next(iter(trainloader))\n"
              "plt.imshow(torchvision.utils.make_grid(images[:16]).permute(1, 2, 0) / 2 + 0.5)\n"
              "plt.axis('off')")),
]

# bob's copy: names changed, comments changed, reformatted, one cell more before it, his own
# code around it (lines 5-12 of his cell 5, lines 2-20 of cell 6, lines 1-15 of cell 7)
BOB_CELLS = COLAB_SETUP + [
    ("code", "import os\nos.makedirs('/content/drive/MyDrive/ece661/ckpt', exist_ok=True)"),
    ("md", "## Part 1"),
    ("code", """\
# CIFAR-10, with the augmentation from lecture 5
SEED = 661
torch.manual_seed(SEED)

tf = transforms.Compose([
        transforms.RandomCrop(32, padding = 4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
])
train_ds = torchvision.datasets.CIFAR10(root = './data', train = True, download = True, transform = tf)
train_dl = torch.utils.data.DataLoader(train_ds, batch_size = 128, shuffle = True, num_workers = 2)
"""),
    ("md", "### SimpleNN"),
    ("code", BOB_SIMPLENN),
    ("md", "## Part 2"),
    ("code", """\
model = SimpleNN().to(device)
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
for ep in range(10):
    model.train()
    total = 0.0
    for j, (x, y) in enumerate(train_dl):
        x, y = x.to(device), y.to(device)
        opt.zero_grad()
        logits = model(x)
        loss = loss_fn(logits, y)
        loss.backward()
        opt.step()
        total += loss.item()
    print('epoch %d loss %.3f' % (ep + 1, total / len(train_dl)))
print("Finished Training")
""", "epoch 1 loss 1.897\n"),
    ("md", "Test accuracy below."),
    ("code", ("correct = 0\nwith torch.no_grad():\n    for x, y in train_dl:\n"
              "        correct += (model(x.to(device)).argmax(1).cpu() == y).sum().item()\n"
              "print(correct / 50000)")),
]


def make_three_cell_copy(root: Path) -> tuple[Path, Path]:
    """A class of two Colab hand-ins, bob's code copied from alice's across three consecutive
    code cells, and the course's template notebook: (class folder, template folder)."""
    root = Path(root)
    write_colab_notebook(root / "template" / "hw2_template.ipynb", TEMPLATE_CELLS)
    write_colab_notebook(root / "class" / "alice" / "SimpleNN_CIFAR10.ipynb", ALICE_CELLS)
    write_colab_notebook(root / "class" / "bob" / "hw2 (1).ipynb", BOB_CELLS)
    return root / "class", root / "template"
