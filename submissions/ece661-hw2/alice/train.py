"""Train SimpleNN / SimpleNN_BN / ResNet20 on CIFAR-10 and write predictions.csv.

    python train.py --model resnet20 --epochs 200 --lr 0.1
"""
import argparse
import os

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.optim as optim
import torchvision.transforms as transforms
from torch.utils.data import DataLoader

from models import SimpleNN, SimpleNN_BN
from resnet import ResNet20
from tools.dataset import CIFAR10

DATA_ROOT = "./data"
CHECKPOINT_FOLDER = "./saved_model"
MODELS = {"simplenn": SimpleNN, "simplenn_bn": SimpleNN_BN, "resnet20": ResNet20}

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)


def get_loaders(batch_size):
    transform_train = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(CIFAR_MEAN, CIFAR_STD),
    ])
    transform_val = transforms.Compose([
        transforms.ToTensor(),
        transforms.Normalize(CIFAR_MEAN, CIFAR_STD),
    ])
    train_set = CIFAR10(root=DATA_ROOT, mode="train", download=True, transform=transform_train)
    val_set = CIFAR10(root=DATA_ROOT, mode="val", download=True, transform=transform_val)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, num_workers=4)
    val_loader = DataLoader(val_set, batch_size=100, shuffle=False, num_workers=4)
    return train_loader, val_loader, transform_val


def run_epoch(net, loader, criterion, device, optimizer=None):
    training = optimizer is not None
    net.train(training)
    total, correct, running_loss = 0, 0, 0.0
    with torch.set_grad_enabled(training):
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = net(inputs)
            loss = criterion(outputs, targets)
            if training:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            running_loss += loss.item() * targets.size(0)
            correct += (outputs.argmax(1) == targets).sum().item()
            total += targets.size(0)
    return running_loss / total, correct / total


def write_predictions(net, transform, device, path="predictions.csv"):
    # test images from save_test_predictions.ipynb: N x 32 x 32 x 3 uint8, no labels
    images = np.load(os.path.join(DATA_ROOT, "cifar10_test_F22.npy"))
    net.eval()
    preds = []
    with torch.no_grad():
        for start in range(0, len(images), 500):
            batch = torch.stack([transform(img) for img in images[start:start + 500]])
            preds.append(net(batch.to(device)).argmax(1).cpu())
    labels = torch.cat(preds).numpy()
    pd.DataFrame({"id": np.arange(len(labels)), "label": labels}).to_csv(path, index=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=sorted(MODELS), default="resnet20")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--reg", type=float, default=1e-4)
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    net = MODELS[args.model]().to(device)
    print("params:", sum(p.numel() for p in net.parameters() if p.requires_grad))

    train_loader, val_loader, transform_val = get_loaders(args.batch_size)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.reg)
    # lr / 10 at epochs 90 and 140 (32k and 48k iterations in the paper)
    scheduler = optim.lr_scheduler.MultiStepLR(optimizer, milestones=[90, 140], gamma=0.1)

    os.makedirs(CHECKPOINT_FOLDER, exist_ok=True)
    best_val_acc = 0.0
    for epoch in range(args.epochs):
        train_loss, train_acc = run_epoch(net, train_loader, criterion, device, optimizer)
        val_loss, val_acc = run_epoch(net, val_loader, criterion, device)
        scheduler.step()
        print(f"epoch {epoch}: train {train_loss:.4f}/{train_acc:.4f} val {val_loss:.4f}/{val_acc:.4f}")
        if val_acc > best_val_acc:
            best_val_acc = val_acc
            torch.save(net.state_dict(), os.path.join(CHECKPOINT_FOLDER, f"{args.model}.pth"))
    print(f"best validation accuracy: {best_val_acc:.4f}")

    if args.model == "resnet20":
        net.load_state_dict(torch.load(os.path.join(CHECKPOINT_FOLDER, "resnet20.pth")))
        write_predictions(net, transform_val, device)
