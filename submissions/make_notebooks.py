"""Write the example submissions' Jupyter notebooks and the notebooks the tests read.

    .venv/bin/python submissions/make_notebooks.py

The .ipynb files are committed; this script is how they were made, so a change to a notebook
is a change here followed by a re-run. Output is byte-for-byte reproducible: cell ids are
derived from the file name and cell position (nbformat would otherwise draw random ones).
Code cells carry the execution counts and a few outputs a student's saved notebook would have;
a count of None is a cell the student never ran.
"""
from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent

KERNEL = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "version": "3.10.12"},
}
COLAB = {**KERNEL, "accelerator": "GPU", "colab": {"gpuType": "T4", "provenance": []}}


def md(text: str):
    return new_markdown_cell(dedent(text).strip())


def code(text: str, count: int | None = None, out: str | None = None):
    outputs = [new_output("stream", name="stdout", text=dedent(out).lstrip("\n"))] if out else []
    return new_code_cell(dedent(text).strip(), execution_count=count, outputs=outputs)


def write(relpath: str, cells: list, metadata: dict = KERNEL) -> Path:
    nb = new_notebook(cells=cells, metadata=metadata)
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", Path(relpath).stem)   # "simplenn-cifar10 -dev"
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{stem}-{i:02d}"[-64:]
    nbformat.validate(nb)
    path = ROOT / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return path


# --- pieces shared by the ECE 661 notebooks ------------------------------------------------

TRAIN_LOOP = """
    best_val_acc = 0
    print("==> Training starts!")
    print("=" * 50)
    for i in range(0, EPOCHS):
        net.train()
        print("Epoch %d:" % i)
        total_examples, correct_examples, train_loss = 0, 0, 0
        for batch_idx, (inputs, targets) in enumerate(train_loader):
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = net(inputs)
            loss = criterion(outputs, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            train_loss += loss.item()
            _, predicted = outputs.max(1)
            total_examples += targets.size(0)
            correct_examples += (predicted == targets).sum().item()
        print("Training loss: %.4f, Training accuracy: %.4f"
              % (train_loss / len(train_loader), correct_examples / total_examples))
        scheduler.step()

        net.eval()
        total_examples, correct_examples, val_loss = 0, 0, 0
        with torch.no_grad():
            for batch_idx, (inputs, targets) in enumerate(val_loader):
                inputs, targets = inputs.to(device), targets.to(device)
                outputs = net(inputs)
                val_loss += criterion(outputs, targets).item()
                _, predicted = outputs.max(1)
                total_examples += targets.size(0)
                correct_examples += (predicted == targets).sum().item()
        avg_acc = correct_examples / total_examples
        print("Validation loss: %.4f, Validation accuracy: %.4f" % (val_loss / len(val_loader), avg_acc))
        if avg_acc > best_val_acc:
            best_val_acc = avg_acc
            os.makedirs(CHECKPOINT_FOLDER, exist_ok=True)
            state = {"state_dict": net.state_dict(), "epoch": i, "lr": scheduler.get_last_lr()[0]}
            torch.save(state, os.path.join(CHECKPOINT_FOLDER, "resnet20.pth"))
    print("=" * 50)
    print(f"==> Optimization finished! Best validation accuracy: {best_val_acc:.4f}")
"""

DATA_CELL = """
    transform_train = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    ])
    transform_val = transforms.Compose([
        transforms.ToTensor(),
        transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    ])
    train_set = CIFAR10(root=DATA_ROOT, mode='train', download=True, transform=transform_train)
    val_set = CIFAR10(root=DATA_ROOT, mode='val', download=True, transform=transform_val)
    train_loader = DataLoader(train_set, batch_size=TRAIN_BATCH_SIZE, shuffle=True, num_workers=2)
    val_loader = DataLoader(val_set, batch_size=VAL_BATCH_SIZE, shuffle=False, num_workers=2)
"""


def bob() -> list:
    """Correct models in a Colab notebook full of things the grader must not run."""
    return [
        md("""
            # ECE 661 HW2 Lab 3: ResNet-20 on CIFAR-10
            Bob Gupta (bg142). Started from simplenn-cifar10-dev.ipynb, so Labs 1-2 models are here too.
        """),
        code("""
            !pip install -q torchsummary
            !nvidia-smi -L
        """, 1, out="GPU 0: Tesla T4 (UUID: GPU-5a3c2f0e-8d41-7b9e-2c61-0f4a9d7e3b12)\n"),
        code("%matplotlib inline", 2),
        code("""
            from google.colab import drive
            drive.mount('/content/drive')
            import sys
            sys.path.append('/content/drive/MyDrive/ECE661/HW2')
        """, 3, out="Mounted at /content/drive\n"),
        code("""
            import os
            import numpy as np
            import pandas as pd
            import matplotlib.pyplot as plt
            import torch
            import torch.nn as nn
            import torch.nn.functional as F
            import torch.optim as optim
            import torchvision
            import torchvision.transforms as transforms
            from torch.utils.data import DataLoader
            from torchsummary import summary
            from tools.dataset import CIFAR10
        """, 4),
        code("""
            # a few arguments, do NOT change these
            DATA_ROOT = "./data"
            TRAIN_BATCH_SIZE = 128
            VAL_BATCH_SIZE = 100
            NUM_CLASSES = 10
            IN_CHANNELS = 3
        """, 5),
        md("## Step 0: models"),
        code("""
            class SimpleNN(nn.Module):
                def __init__(self, in_channels=IN_CHANNELS, num_classes=NUM_CLASSES):
                    super(SimpleNN, self).__init__()
                    self.conv1 = nn.Conv2d(in_channels, 8, 5)
                    self.conv2 = nn.Conv2d(8, 16, 3)
                    self.fc1 = nn.Linear(16 * 6 * 6, 120)
                    self.fc2 = nn.Linear(120, 84)
                    self.fc3 = nn.Linear(84, num_classes)

                def forward(self, x):
                    out = F.max_pool2d(F.relu(self.conv1(x)), 2)
                    out = F.max_pool2d(F.relu(self.conv2(out)), 2)
                    out = out.view(out.size(0), -1)
                    out = F.relu(self.fc1(out))
                    out = F.relu(self.fc2(out))
                    return self.fc3(out)


            class SimpleNN_BN(nn.Module):
                def __init__(self, in_channels=IN_CHANNELS, num_classes=NUM_CLASSES):
                    super(SimpleNN_BN, self).__init__()
                    self.conv1 = nn.Conv2d(in_channels, 8, 5)
                    self.bn1 = nn.BatchNorm2d(8)
                    self.conv2 = nn.Conv2d(8, 16, 3)
                    self.bn2 = nn.BatchNorm2d(16)
                    self.fc1 = nn.Linear(16 * 6 * 6, 120)
                    self.fc2 = nn.Linear(120, 84)
                    self.fc3 = nn.Linear(84, num_classes)

                def forward(self, x):
                    out = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
                    out = F.max_pool2d(F.relu(self.bn2(self.conv2(out))), 2)
                    out = out.view(out.size(0), -1)
                    out = F.relu(self.fc1(out))
                    out = F.relu(self.fc2(out))
                    return self.fc3(out)
        """, 6),
        md("""
            ### ResNet-20 (Sec. 4.2)
            3 stages of 3 residual blocks (16, 32, 64 filters), global average pooling, fc.
            Where the shape changes the shortcut is a 1x1 convolution + BN (option B).
        """),
        code("""
            class ResidualBlock(nn.Module):
                def __init__(self, in_channels, out_channels, stride=1):
                    super(ResidualBlock, self).__init__()
                    self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
                    self.bn1 = nn.BatchNorm2d(out_channels)
                    self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
                    self.bn2 = nn.BatchNorm2d(out_channels)
                    self.shortcut = nn.Sequential()
                    if stride != 1 or in_channels != out_channels:
                        self.shortcut = nn.Sequential(
                            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                            nn.BatchNorm2d(out_channels)
                        )

                def forward(self, x):
                    out = F.relu(self.bn1(self.conv1(x)))
                    out = self.bn2(self.conv2(out))
                    out += self.shortcut(x)
                    return F.relu(out)


            class ResNet20(nn.Module):
                def __init__(self, num_classes=NUM_CLASSES):
                    super(ResNet20, self).__init__()
                    self.in_channels = 16
                    self.conv1 = nn.Conv2d(IN_CHANNELS, 16, kernel_size=3, stride=1, padding=1, bias=False)
                    self.bn1 = nn.BatchNorm2d(16)
                    self.layer1 = self._make_layer(16, 3, stride=1)
                    self.layer2 = self._make_layer(32, 3, stride=2)
                    self.layer3 = self._make_layer(64, 3, stride=2)
                    self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))  # "ends with a global average pooling"
                    self.fc = nn.Linear(64, num_classes)

                def _make_layer(self, out_channels, blocks, stride):
                    layers = [ResidualBlock(self.in_channels, out_channels, stride)]
                    self.in_channels = out_channels
                    for _ in range(1, blocks):
                        layers.append(ResidualBlock(out_channels, out_channels))
                    return nn.Sequential(*layers)

                def forward(self, x):
                    out = F.relu(self.bn1(self.conv1(x)))
                    out = self.layer3(self.layer2(self.layer1(out)))
                    out = self.avg_pool(out)
                    out = out.view(out.size(0), -1)
                    return self.fc(out)
        """, 7),
        code("""
            # sanity check: output shape and number of parameters
            for model_cls in [SimpleNN, SimpleNN_BN, ResNet20]:
                m = model_cls()
                out = m(torch.randn(2, 3, 32, 32))
                print(model_cls.__name__, tuple(out.shape), sum(p.numel() for p in m.parameters()))
        """, 8, out="""
            SimpleNN (2, 10) 82030
            SimpleNN_BN (2, 10) 82078
            ResNet20 (2, 10) 272474
        """),
        md("## Step 1-2: data"),
        code(DATA_CELL, 9),
        md("## Step 3-4: device, loss, optimizer"),
        code("""
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
            net = ResNet20().to(device)
            INITIAL_LR = 0.1
            MOMENTUM = 0.9
            REG = 1e-4
            EPOCHS = 200
            CHECKPOINT_FOLDER = "./saved_model"
            criterion = nn.CrossEntropyLoss()
            optimizer = optim.SGD(net.parameters(), lr=INITIAL_LR, momentum=MOMENTUM, weight_decay=REG)
            # divide by 10 at epochs 90 and 140 (32k and 48k iterations in the paper)
            scheduler = optim.lr_scheduler.MultiStepLR(optimizer, milestones=[90, 140], gamma=0.1)
        """, 10),
        md("## Step 5: training (200 epochs, about 2.5 hours on the T4)"),
        code(TRAIN_LOOP, 11, out="""
            ==> Training starts!
            ==================================================
            Epoch 0:
            Training loss: 1.6412, Training accuracy: 0.3967
            Validation loss: 1.3270, Validation accuracy: 0.5212
            Epoch 1:
            Training loss: 1.1045, Training accuracy: 0.6031
            Validation loss: 1.0198, Validation accuracy: 0.6448
            Epoch 199:
            Training loss: 0.0164, Training accuracy: 0.9981
            Validation loss: 0.2803, Validation accuracy: 0.9196
            ==================================================
            ==> Optimization finished! Best validation accuracy: 0.9212
        """),
        md("## Save test predictions (from save_test_predictions.ipynb)"),
        code("""
            state = torch.load(os.path.join(CHECKPOINT_FOLDER, "resnet20.pth"))
            net.load_state_dict(state["state_dict"])
            net.eval()
            test_set = CIFAR10(root=DATA_ROOT, mode='test', download=True, transform=transform_val)
            test_loader = DataLoader(test_set, batch_size=VAL_BATCH_SIZE, shuffle=False)
            preds = []
            with torch.no_grad():
                for inputs, _ in test_loader:  # the test split's labels are all -1
                    preds.append(net(inputs.to(device)).argmax(1).cpu())
            preds = torch.cat(preds).numpy()
            pd.DataFrame({"id": np.arange(len(preds)), "label": preds}).to_csv("predictions.csv", index=False)
            print(len(preds), "predictions written")
        """, 12, out="10000 predictions written\n"),
    ]


def dave() -> list:
    """SimpleNN flattens with the PyTorch tutorial's 16 * 5 * 5; ResNet-20 is fine."""
    return [
        md("# HW2 (all labs) - Dave Kim"),
        code("""
            import os
            import torch
            import torch.nn as nn
            import torch.nn.functional as F
            import torch.optim as optim
            import torchvision.transforms as transforms
            from torch.utils.data import DataLoader
            from tools.dataset import CIFAR10

            DATA_ROOT = "./data"
            TRAIN_BATCH_SIZE = 100
            VAL_BATCH_SIZE = 100
        """, 1),
        md("## Lab 1: SimpleNN"),
        code("""
            class SimpleNN(nn.Module):
                def __init__(self):
                    super(SimpleNN, self).__init__()
                    self.conv1 = nn.Conv2d(3, 8, 5)
                    self.pool = nn.MaxPool2d(2, 2)
                    self.conv2 = nn.Conv2d(8, 16, 3)
                    self.fc1 = nn.Linear(16 * 5 * 5, 120)
                    self.fc2 = nn.Linear(120, 84)
                    self.fc3 = nn.Linear(84, 10)

                def forward(self, x):
                    x = self.pool(F.relu(self.conv1(x)))
                    x = self.pool(F.relu(self.conv2(x)))
                    x = x.view(-1, 16 * 5 * 5)
                    x = F.relu(self.fc1(x))
                    x = F.relu(self.fc2(x))
                    x = self.fc3(x)
                    return x

            net = SimpleNN()
            print(sum(p.numel() for p in net.parameters()))
        """, 2, out="60910\n"),
        code(DATA_CELL, 3),
        md("## Lab 2: with batch norm"),
        code("""
            class SimpleNN_BN(nn.Module):
                def __init__(self):
                    super(SimpleNN_BN, self).__init__()
                    self.features = nn.Sequential(
                        nn.Conv2d(3, 8, 5), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2, 2),
                        nn.Conv2d(8, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2, 2),
                    )
                    self.classifier = nn.Sequential(
                        nn.Flatten(),
                        nn.Linear(16 * 6 * 6, 120), nn.ReLU(),
                        nn.Linear(120, 84), nn.ReLU(),
                        nn.Linear(84, 10),
                    )

                def forward(self, x):
                    return self.classifier(self.features(x))
        """, 4),
        md("## Lab 3: ResNet-20"),
        code("""
            class Block(nn.Module):
                def __init__(self, cin, cout, stride=1):
                    super(Block, self).__init__()
                    self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
                    self.bn1 = nn.BatchNorm2d(cout)
                    self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
                    self.bn2 = nn.BatchNorm2d(cout)
                    self.down = None
                    if stride != 1 or cin != cout:
                        self.down = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

                def forward(self, x):
                    identity = x if self.down is None else self.down(x)
                    out = F.relu(self.bn1(self.conv1(x)))
                    out = self.bn2(self.conv2(out))
                    return F.relu(out + identity)


            class ResNet20(nn.Module):
                def __init__(self):
                    super(ResNet20, self).__init__()
                    self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
                    self.bn = nn.BatchNorm2d(16)
                    layers = []
                    cin = 16
                    for cout in [16, 32, 64]:
                        for b in range(3):
                            stride = 2 if (b == 0 and cout != 16) else 1
                            layers.append(Block(cin, cout, stride))
                            cin = cout
                    self.layers = nn.Sequential(*layers)
                    self.fc = nn.Linear(64, 10)

                def forward(self, x):
                    x = F.relu(self.bn(self.conv(x)))
                    x = self.layers(x)
                    x = F.adaptive_avg_pool2d(x, 1).view(x.size(0), -1)
                    return self.fc(x)
        """, 5),
        code("""
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
            net = ResNet20().to(device)
            EPOCHS = 200
            CHECKPOINT_FOLDER = "./saved_model"
            criterion = nn.CrossEntropyLoss()
            optimizer = optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
            scheduler = optim.lr_scheduler.MultiStepLR(optimizer, milestones=[100, 150], gamma=0.1)
        """, 6),
        code(TRAIN_LOOP, 7, out="""
            ==> Training starts!
            ==================================================
            Epoch 0:
            Training loss: 1.7208, Training accuracy: 0.3691
            Validation loss: 1.4460, Validation accuracy: 0.4730
            Epoch 199:
            Training loss: 0.0297, Training accuracy: 0.9942
            Validation loss: 0.3318, Validation accuracy: 0.9071
            ==================================================
            ==> Optimization finished! Best validation accuracy: 0.9093
        """),
    ]


def frank() -> list:
    """Purdue ECE 60146 HW5 as in seed 000: Net3 nested in a DLStudio subclass."""
    return [
        code("""
            # This is code from DLStudio-2.5.1
            import torch.nn as nn
            import torch.nn.functional as F


            class Net(nn.Module):
                def __init__(self):
                    super(Net, self).__init__()
                    self.conv1 = nn.Conv2d(3, 6, 5)
                    self.pool = nn.MaxPool2d(2, 2)
                    self.conv2 = nn.Conv2d(6, 16, 5)
                    self.fc1 = nn.Linear(16 * 5 * 5, 120)
                    self.fc2 = nn.Linear(120, 84)
                    self.fc3 = nn.Linear(84, 10)

                def forward(self, x):
                    x = self.pool(F.relu(self.conv1(x)))
                    x = self.pool(F.relu(self.conv2(x)))
                    x = x.view(-1, 16 * 5 * 5)
                    x = F.relu(self.fc1(x))
                    x = F.relu(self.fc2(x))
                    return self.fc3(x)


            class Net2(nn.Module):
                def __init__(self):
                    super(Net2, self).__init__()
                    self.relu = nn.ReLU()
                    self.conv1 = nn.Conv2d(3, 128, 5, padding=2)    # 32x32, pool -> 16x16
                    self.pool1 = nn.MaxPool2d(2, 2)
                    self.conv2 = nn.Conv2d(128, 128, 3, padding=1)  # 16x16, pool -> 8x8
                    self.pool2 = nn.MaxPool2d(2, 2)
                    self.conv3 = nn.Conv2d(128, 128, 2, padding=1)  # 8x8 -> 9x9, pool -> 8x8
                    self.pool3 = nn.MaxPool2d(2, 1)
                    self.in_size_for_fc = 128 * 8 * 8
                    self.fc1 = nn.Linear(self.in_size_for_fc, 150)
                    self.fc2 = nn.Linear(150, 100)
                    self.fc3 = nn.Linear(100, 10)

                def forward(self, x):
                    x = self.pool1(self.relu(self.conv1(x)))
                    x = self.pool2(self.relu(self.conv2(x)))
                    for _ in range(5):   # conv3 is applied repeatedly
                        x = self.pool3(self.relu(self.conv3(x)))
                    x = x.view(-1, self.in_size_for_fc)
                    x = self.relu(self.fc1(x))
                    x = self.relu(self.fc2(x))
                    return self.fc3(x)
        """),
        md("""
            ## 3. Net3
            By inheriting from `DLStudio.ExperimentsWithCIFAR` we can extend the class with a new
            model, Net3: eight convolutional layers with batch normalization and max pooling,
            then three fully connected layers.
        """),
        code("""
            import os
            import sys
            current_dir = os.getcwd()
            print("current_dir : %s" % current_dir)
            goal = os.path.join(os.path.dirname(current_dir), "HW4/DLStudio-2.5.1")
            sys.path.append(goal)
            print("Navigated to:", goal)
            from DLStudio import *
        """, 2, out="""
            current_dir : d:\\MS Purdue\\ECE60146\\HW5
            Navigated to: d:\\MS Purdue\\ECE60146\\HW4/DLStudio-2.5.1
        """),
        code("""
            # This code is mainly borrowed from HW5.pdf
            import random
            import numpy as np
            import torch
            import os

            # Set random seed for reproducibility
            seed = 0
            random.seed(seed)
            torch.manual_seed(seed)
            torch.cuda.manual_seed(seed)
            np.random.seed(seed)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmarks = False
            os.environ['PYTHONHASHSEED'] = str(seed)

            import torch.nn as nn
            import torch.nn.functional as F

            # Initialize DLStudio
            dls = DLStudio(
                dataroot="./data/CIFAR-10/",
                image_size=[32, 32],
                path_saved_model="./saved_model",
                momentum=0.9,
                learning_rate=1e-3,
                epochs=2,
                batch_size=4,
                classes=('plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'),
                use_gpu=False
            )

            # Define Custom Experiments With CIFAR class
            class CustomExperimentsWithCIFAR(DLStudio.ExperimentsWithCIFAR):
                # Define a new model Net3
                class Net3(nn.Module):
                    def __init__(self):
                        super(CustomExperimentsWithCIFAR.Net3, self).__init__()
                        self.model = nn.Sequential(
                            nn.Conv2d(3, 32, 3, padding=1),    # (32, 32, 32)
                            nn.BatchNorm2d(32),
                            nn.ReLU(),
                            nn.Conv2d(32, 32, 3, padding=1),
                            nn.BatchNorm2d(32),
                            nn.ReLU(),
                            nn.Conv2d(32, 32, 3, padding=1),
                            nn.BatchNorm2d(32),
                            nn.ReLU(),
                            nn.MaxPool2d(2, 2),                 # (32, 16, 16)
                            nn.Conv2d(32, 64, 3, padding=1),
                            nn.BatchNorm2d(64),
                            nn.ReLU(),
                            nn.Conv2d(64, 64, 3, padding=1),
                            nn.BatchNorm2d(64),
                            nn.ReLU(),
                            nn.Conv2d(64, 64, 3, padding=1),
                            nn.BatchNorm2d(64),
                            nn.ReLU(),
                            nn.MaxPool2d(2, 2),                 # (64, 8, 8)
                            nn.Conv2d(64, 128, 3, padding=1),
                            nn.BatchNorm2d(128),
                            nn.ReLU(),
                            nn.Conv2d(128, 128, 3, padding=1),
                            nn.BatchNorm2d(128),
                            nn.ReLU(),
                            nn.MaxPool2d(2, 2),                 # (128, 4, 4)
                            nn.Flatten(),                       # 128*4*4 = 2048
                            nn.Linear(2048, 512),
                            nn.BatchNorm1d(512),
                            nn.ReLU(),
                            nn.Linear(512, 128),
                            nn.BatchNorm1d(128),
                            nn.ReLU(),
                            nn.Linear(128, 10)                  # 10 classes
                        )

                    def forward(self, x):
                        return self.model(x)

            # Use the new class
            exp_cifar = CustomExperimentsWithCIFAR(dl_studio=dls)
            exp_cifar.load_cifar_10_dataset()

            # Instantiate the new model
            # model = exp_cifar.Net()
            # model = exp_cifar.Net2()
            model = exp_cifar.Net3()

            # Display network properties
            number_of_learnable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
            print("\\n\\nThe number of learnable parameters in the model: %d" % number_of_learnable_params)

            # Run training and testing
            exp_cifar.run_code_for_training(model, display_images=False)
            exp_cifar.run_code_for_testing(model, display_images=False)
        """, 3, out="""
            Files already downloaded and verified
            Files already downloaded and verified


            The number of learnable parameters in the model: 1451594

            [epoch:1  iter:2000  elapsed_time: 41 secs]    loss: 2.014
            [epoch:2  iter:12000  elapsed_time: 508 secs]    loss: 0.812

            Finished Training
        """),
    ]


# --- gina and hugo: the course template's three notebooks, as students hand them in -------
# The template ships simplenn-cifar10.ipynb (Lab 1), simplenn-cifar10-dev.ipynb (Lab 2) and
# resnet-cifar10.ipynb (Lab 3). Students rename them, keep the class name SimpleNN in both
# SimpleNN notebooks (Lab 2's has BatchNorm), and build their ResNet with arguments in a later
# cell. Every notebook starts with the Colab set-up cells; none of the training runs when graded.

COLAB_SETUP = [
    ("""
        from google.colab import drive
        drive.mount('/content/drive')
    """, "Mounted at /content/drive\n"),
    ("""
        %cd /content/drive/MyDrive/ECE661/HW2
        !pip install -q torchsummary
        !ls
    """, "/content/drive/MyDrive/ECE661/HW2\n"
         "data  resnet-cifar10.ipynb  saved_model  simplenn-cifar10.ipynb  tools\n"),
]

TEMPLATE_IMPORTS = """
    # import necessary dependencies
    import argparse
    import os, sys
    import time
    import datetime
    from tqdm import tqdm_notebook as tqdm

    import numpy as np
    import pandas as pd
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim
    import torchvision.transforms as transforms
    from torch.utils.data import DataLoader
    from torchsummary import summary
    from tools.dataset import CIFAR10
"""

TEMPLATE_ARGS = """
    # a few arguments, do NOT change these
    DATA_ROOT = "./data"
    TRAIN_BATCH_SIZE = 128
    VAL_BATCH_SIZE = 100

    # Specify the device for computation
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    print(device)
"""

SAVE_PREDICTIONS = """
    # from save_test_predictions.ipynb: the test split's labels are hidden (-1)
    test_set = CIFAR10(root=DATA_ROOT, mode='test', download=True, transform=transform_val)
    test_loader = DataLoader(test_set, batch_size=VAL_BATCH_SIZE, shuffle=False, num_workers=2)
    net.eval()
    results = []
    with torch.no_grad():
        for inputs, _ in test_loader:
            results.append(net(inputs.to(device)).argmax(1).cpu().numpy())
    results = np.concatenate(results)
    submission = pd.DataFrame({"Id": np.arange(len(results)), "Label": results})
    submission.to_csv("predictions.csv", index=False)
"""


def template_cells(title: str, model_cell: str, build_cell: str, epochs: int,
                   optimizer: str, counts: int, out_best: str, extra: list | None = None) -> list:
    """The course template's cells around a model: Colab set-up, Steps 0 to 5."""
    n = iter(range(1, 100))
    cells = [md(title)]
    cells += [code(src, next(n), out=out) for src, out in COLAB_SETUP]
    cells += [code("%matplotlib inline", next(n)), code(TEMPLATE_IMPORTS, next(n)),
              md("## Step 0: Set up the model\n\nWe recommend you to use the model you built "
                 "in the previous step as a starting point."),
              code(model_cell, next(n)),
              md("## Step 1: Set up preprocessing functions"),
              code(TEMPLATE_ARGS, next(n), out="cuda\n"),
              md("## Step 2: Set up dataset"),
              code(DATA_CELL, next(n), out="Files already downloaded and verified\n" * 2),
              md("## Step 3: Instantiate your model and deploy it to GPU devices"),
              code(build_cell, next(n), out=f"{counts:,} parameters\n"),
              md("## Step 4: Set up the loss function and optimizer"),
              code(f"""
                  CHECKPOINT_FOLDER = "./saved_model"
                  EPOCHS = {epochs}
                  criterion = nn.CrossEntropyLoss()
                  {optimizer}
              """, next(n)),
              md("## Step 5: Start the training process."),
              code(TRAIN_LOOP, next(n), out=f"""
                  ==> Training starts!
                  ==================================================
                  Epoch 0:
                  Training loss: 2.0214, Training accuracy: 0.2468
                  Validation loss: 1.7622, Validation accuracy: 0.3581
                  ==================================================
                  ==> Optimization finished! Best validation accuracy: {out_best}
              """)]
    return cells + (extra or [])


GINA_SIMPLENN = """
    class SimpleNN(nn.Module):
        def __init__(self):
            super(SimpleNN, self).__init__()
            # <your code here>
            self.conv1 = nn.Conv2d(3, 8, 5)
            self.conv2 = nn.Conv2d(8, 16, 3)
            self.fc1 = nn.Linear(16*6*6, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            # <your code here>
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


def gina_lab1() -> list:
    """Lab 1 as the template asks: SimpleNN, plain SGD."""
    return template_cells(
        "# ECE 661 HW2 Lab 1: SimpleNN on CIFAR-10\nGina Rossi (gr118)", GINA_SIMPLENN, """
            # GPU check
            net = SimpleNN()
            net = net.to(device)
            summary(net, (3, 32, 32))
            print(f"{sum(p.numel() for p in net.parameters()):,} parameters")
        """, 30, "optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)",
        82030, "0.6694")


def gina_lab2() -> list:
    """Lab 2 in the template's -dev notebook, class name kept: SimpleNN, now with BatchNorm
    (conv -> BN -> ReLU), the convolutions declared first and the BatchNorms after them."""
    model = """
        class SimpleNN(nn.Module):
            def __init__(self):
                super(SimpleNN, self).__init__()
                self.conv1 = nn.Conv2d(3, 8, 5)
                self.conv2 = nn.Conv2d(8, 16, 3)
                # Lab 2 (b): batch normalization after each conv layer
                self.bn1 = nn.BatchNorm2d(8)
                self.bn2 = nn.BatchNorm2d(16)
                self.fc1 = nn.Linear(16*6*6, 120)
                self.fc2 = nn.Linear(120, 84)
                self.fc3 = nn.Linear(84, 10)

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
    return template_cells(
        "# ECE 661 HW2 Lab 2: data augmentation, normalization, batch norm\nGina Rossi (gr118)",
        model, """
            net = SimpleNN()
            net = net.to(device)
            print(f"{sum(p.numel() for p in net.parameters()):,} parameters")
        """, 30, "optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)",
        82078, "0.7241", extra=[
            md("### (c) learning-rate sweep"),
            code("""
                for lr in [1.0, 0.1, 0.05, 0.01, 0.005, 0.001]:
                    net = SimpleNN().to(device)
                    optimizer = optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
                    train(net, optimizer, EPOCHS)
            """)])


RESNET_OPTION_A = """
    class LambdaLayer(nn.Module):
        def __init__(self, lambd):
            super(LambdaLayer, self).__init__()
            self.lambd = lambd

        def forward(self, x):
            return self.lambd(x)


    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, in_planes, planes, stride=1, option='A'):
            super(BasicBlock, self).__init__()
            self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)

            self.shortcut = nn.Sequential()
            if stride != 1 or in_planes != planes:
                if option == 'A':
                    # "identity shortcuts, zero-padding for increasing dimensions" (Sec. 4.2)
                    self.shortcut = LambdaLayer(lambda x: F.pad(x[:, :, ::2, ::2],
                                                (0, 0, 0, 0, planes//4, planes//4), "constant", 0))
                elif option == 'B':
                    self.shortcut = nn.Sequential(
                         nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride, bias=False),
                         nn.BatchNorm2d(self.expansion * planes)
                    )

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += self.shortcut(x)
            out = F.relu(out)
            return out


    class ResNetCIFAR(nn.Module):
        def __init__(self, block, num_blocks, num_classes=10):
            super(ResNetCIFAR, self).__init__()
            self.in_planes = 16
            self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.layer1 = self._make_layer(block, 16, num_blocks[0], stride=1)
            self.layer2 = self._make_layer(block, 32, num_blocks[1], stride=2)
            self.layer3 = self._make_layer(block, 64, num_blocks[2], stride=2)
            self.linear = nn.Linear(64, num_classes)

        def _make_layer(self, block, planes, num_blocks, stride):
            strides = [stride] + [1]*(num_blocks-1)
            layers = []
            for stride in strides:
                layers.append(block(self.in_planes, planes, stride))
                self.in_planes = planes * block.expansion
            return nn.Sequential(*layers)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.layer1(out)
            out = self.layer2(out)
            out = self.layer3(out)
            out = F.avg_pool2d(out, out.size()[3])
            out = out.view(out.size(0), -1)
            out = self.linear(out)
            return out
"""


def gina_lab3() -> list:
    """Lab 3: a general ResNetCIFAR(block, num_blocks), built as ResNet-20 in Step 3."""
    return template_cells(
        "# ECE 661 HW2 Lab 3: ResNet-20\nGina Rossi (gr118)", RESNET_OPTION_A, """
            # ResNet-20: 3 stages of 3 basic blocks (6n+2 with n = 3)
            net = ResNetCIFAR(BasicBlock, [3, 3, 3])
            net = net.to(device)
            print(f"{sum(p.numel() for p in net.parameters()):,} parameters")
        """, 200, """optimizer = optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
                  scheduler = optim.lr_scheduler.MultiStepLR(optimizer, milestones=[90, 140], gamma=0.1)""",
        269722, "0.9187", extra=[md("## Save the test predictions"),
                                 code(SAVE_PREDICTIONS, 12)])


def hugo_lab1() -> list:
    """Lab 1 right; the notebook keeps its debugging print of the feature map."""
    model = GINA_SIMPLENN.replace("out = out.view(out.size(0), -1)",
                                  "# print(out.shape)  # torch.Size([128, 16, 6, 6])\n"
                                  "            out = out.view(out.size(0), -1)")
    return template_cells(
        "# HW2 Lab 1\nHugo Lindqvist", model, """
            net = SimpleNN().to(device)
            print(f"{sum(p.numel() for p in net.parameters()):,} parameters")
        """, 30, "optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)", 82030, "0.6562")


def hugo_lab2() -> list:
    """Lab 2: the Lab 1 model kept as SimpleNN_nobn for comparison; SimpleNN gets BatchNorm
    layers declared at the end of __init__ and applied after the ReLU (conv -> F.relu -> BN)."""
    models = """
        class SimpleNN_nobn(nn.Module):
            # Lab 1 model, kept for the comparison in (b)
            def __init__(self):
                super(SimpleNN_nobn, self).__init__()
                self.conv1 = nn.Conv2d(3, 8, 5)
                self.conv2 = nn.Conv2d(8, 16, 3)
                self.fc1 = nn.Linear(16*6*6, 120)
                self.fc2 = nn.Linear(120, 84)
                self.fc3 = nn.Linear(84, 10)

            def forward(self, x):
                out = F.max_pool2d(F.relu(self.conv1(x)), 2)
                out = F.max_pool2d(F.relu(self.conv2(out)), 2)
                out = out.view(out.size(0), -1)
                out = F.relu(self.fc1(out))
                out = F.relu(self.fc2(out))
                return self.fc3(out)


        class SimpleNN(nn.Module):
            def __init__(self):
                super(SimpleNN, self).__init__()
                self.conv1 = nn.Conv2d(3, 8, 5)
                self.conv2 = nn.Conv2d(8, 16, 3)
                self.fc1 = nn.Linear(16*6*6, 120)
                self.fc2 = nn.Linear(120, 84)
                self.fc3 = nn.Linear(84, 10)
                # (b) batch norm
                self.bn1 = nn.BatchNorm2d(8)
                self.bn2 = nn.BatchNorm2d(16)

            def forward(self, x):
                out = F.relu(self.conv1(x))
                out = self.bn1(out)
                out = F.max_pool2d(out, 2)
                out = F.relu(self.conv2(out))
                out = self.bn2(out)
                out = F.max_pool2d(out, 2)
                out = out.view(out.size(0), -1)
                out = F.relu(self.fc1(out))
                out = F.relu(self.fc2(out))
                out = self.fc3(out)
                return out
    """
    return template_cells(
        "# HW2 Lab 2 (a)-(c)\nHugo Lindqvist", models, """
            net = SimpleNN().to(device)
            print(f"{sum(p.numel() for p in net.parameters()):,} parameters")
        """, 30, "optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)",
        82078, "0.7015")


def hugo_lab3() -> list:
    """Lab 3: option B shortcuts (1x1 conv + BN where the shape changes), each block declaring
    both convolutions before both BatchNorms; ResNetCIFAR(BasicBlock, [3, 3, 3]) in Step 3."""
    model = RESNET_OPTION_A.replace(
        """            self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
""", """            self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
            self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.bn2 = nn.BatchNorm2d(planes)
""").replace("def __init__(self, in_planes, planes, stride=1, option='A'):",
             "def __init__(self, in_planes, planes, stride=1, option='B'):")
    assert model != RESNET_OPTION_A
    return template_cells(
        "# HW2 Lab 3: ResNet-20\nHugo Lindqvist", model, """
            net = ResNetCIFAR(BasicBlock, [3, 3, 3]).to(device)
            print(f"{sum(p.numel() for p in net.parameters()):,} parameters")
        """, 200, """optimizer = optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
                  scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)""",
        272474, "0.8873", extra=[md("## Save the test predictions"),
                                 code(SAVE_PREDICTIONS, 12)])


# --- small notebooks for tests/ -------------------------------------------------------------

SIMPLENN = """
    class SimpleNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 5)
            self.conv2 = nn.Conv2d(8, 16, 3)
            self.fc1 = nn.Linear(16 * 6 * 6, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)
"""


def magics_in_class_cell() -> list:
    """IPython syntax (line magics, shell escapes, `x = !cmd`, `obj?`) in the class's cell."""
    return [
        code("\n\n".join(dedent(part).strip() for part in ["""
            %matplotlib inline
            %load_ext autoreload
            %autoreload 2
            !pip install -q torchsummary
            import torch
            import torch.nn as nn
            import torch.nn.functional as F
            gpu_info = !nvidia-smi -L
            print(gpu_info)
        """, SIMPLENN, """
            !mkdir -p saved_model
            nn.Conv2d?
        """]), 1),
        code("""
            %%bash
            ls -la saved_model
            echo "class NotAModel(nn.Module): pass"
        """, 2),
        code("""
            %%time
            class SimpleNN_BN(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Conv2d(3, 8, 5)
                    self.bn1 = nn.BatchNorm2d(8)
                    self.conv2 = nn.Conv2d(8, 16, 3)
                    self.bn2 = nn.BatchNorm2d(16)
                    self.fc1 = nn.Linear(16 * 6 * 6, 120)
                    self.fc2 = nn.Linear(120, 84)
                    self.fc3 = nn.Linear(84, 10)

                def forward(self, x):
                    x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
                    x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
                    x = torch.flatten(x, 1)
                    return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))
        """, 3),
    ]


def syntax_error_cell() -> list:
    """A half-written cell that does not parse; the model cells are fine."""
    return [
        code("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F
        """, 1),
        code(SIMPLENN, 2),
        md("Learning-rate sweep (unfinished)"),
        code("""
            for lr in [1.0, 0.1, 0.05, 0.01, 0.005, 0.001
                print("lr =", lr)
        """),
        code("""
            net = SimpleNN()
            print(sum(p.numel() for p in net.parameters()))
        """, 3, out="82030\n"),
    ]


def split_across_cells() -> list:
    """SimpleNN needs a constant from an earlier cell and a helper from a later one."""
    return [
        code("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F
        """, 1),
        code("""
            # Table 1
            NUM_CLASSES = 10
            CONV_CHANNELS = (8, 16)
            FC_UNITS = (120, 84)
        """, 2),
        code("""
            class SimpleNN(nn.Module):
                def __init__(self, num_classes=NUM_CLASSES):
                    super().__init__()
                    c1, c2 = CONV_CHANNELS
                    self.conv1 = nn.Conv2d(3, c1, 5)
                    self.conv2 = nn.Conv2d(c1, c2, 3)
                    side = conv_pool_size(conv_pool_size(32, 5), 3)   # 32 -> 14 -> 6
                    self.fc1 = nn.Linear(c2 * side * side, FC_UNITS[0])
                    self.fc2 = nn.Linear(FC_UNITS[0], FC_UNITS[1])
                    self.fc3 = nn.Linear(FC_UNITS[1], num_classes)

                def forward(self, x):
                    x = F.max_pool2d(F.relu(self.conv1(x)), 2)
                    x = F.max_pool2d(F.relu(self.conv2(x)), 2)
                    x = x.view(x.size(0), -1)
                    x = F.relu(self.fc1(x))
                    x = F.relu(self.fc2(x))
                    return self.fc3(x)
        """, 3),
        md("Helper for the flattened size (no padding, stride 1, then 2x2 max pooling):"),
        code("""
            def conv_pool_size(size, kernel, pool=2):
                return (size - kernel + 1) // pool
        """, 4),
        code("""
            net = SimpleNN()
            optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
            for epoch in range(30):
                for inputs, targets in train_loader:
                    optimizer.zero_grad()
                    loss = F.cross_entropy(net(inputs), targets)
                    loss.backward()
                    optimizer.step()
        """, 5),
    ]


NOTEBOOKS = {
    "submissions/ece661-hw2/bob/resnet-cifar10.ipynb": (bob, COLAB),
    "submissions/ece661-hw2/dave/hw2.ipynb": (dave, KERNEL),
    "submissions/ece661-hw2/gina/simplenn-cifar10.ipynb": (gina_lab1, COLAB),
    "submissions/ece661-hw2/gina/simplenn-cifar10 -dev.ipynb": (gina_lab2, COLAB),
    "submissions/ece661-hw2/gina/resnet_cifar10.ipynb": (gina_lab3, COLAB),
    "submissions/ece661-hw2/hugo/simplenn-cifar10.ipynb": (hugo_lab1, COLAB),
    "submissions/ece661-hw2/hugo/simplenn-cifar10-dev1.ipynb": (hugo_lab2, COLAB),
    "submissions/ece661-hw2/hugo/resnet-cifar10.ipynb": (hugo_lab3, COLAB),
    "submissions/ece60146-hw5/frank/hw5.ipynb": (frank, KERNEL),
    "tests/files/notebooks/magics_in_class_cell.ipynb": (magics_in_class_cell, KERNEL),
    "tests/files/notebooks/syntax_error_cell.ipynb": (syntax_error_cell, KERNEL),
    "tests/files/notebooks/split_across_cells.ipynb": (split_across_cells, KERNEL),
}


def main() -> None:
    for relpath, (cells, metadata) in NOTEBOOKS.items():
        path = write(relpath, cells(), metadata)
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
