"""Training throughput: the canonical routine (reference.train) against the usual course pipeline,
side by side on the same model and the same CIFAR-10-shaped data.

    (a) ours:  the whole uint8 training set on the device, crop + flip + normalise batch-wise
               with tensor ops (reference.train.train)
    (b) usual: a torchvision-style Dataset with per-image PIL transforms
               (RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize) through a
               DataLoader(shuffle=True, num_workers=2), and the loop students write
               (.to(device), zero_grad, forward, loss, backward, step, loss.item())

Each measurement is one epoch of --steps batches, timed end to end (worker start-up for (b);
moving the data to the device and the format probe for (a)), after an untimed warm-up of each
pipeline; measurements alternate (a), (b) --repeats times and the median is reported.

    python benchmarks/bench_training.py                    # CPU, SimpleNN and ResNet-20
    python benchmarks/bench_training.py --device cuda      # on a GPU
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader.inputs.data import load_cifar10, write_synthetic_cifar10  # noqa: E402
from reference import build  # noqa: E402
from reference.train import TrainConfig, channel_stats, train  # noqa: E402

DEFAULT_STEPS = {"simplenn": 40, "resnet20-a": 6}     # about 1 and 3 s a measurement on 2 cores


class CifarLike(torch.utils.data.Dataset):
    """What torchvision.datasets.CIFAR10 does per item: uint8 HWC -> PIL -> transforms."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def usual_epoch(model: nn.Module, loader, device: torch.device, lr: float) -> float:
    """One epoch the way the course notebooks write it; returns images per second."""
    model.train()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    start, seen, running_loss = time.perf_counter(), 0, 0.0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        seen += len(targets)
    return seen / (time.perf_counter() - start)


def ours_epoch(model: nn.Module, images: np.ndarray, labels: np.ndarray, device: str,
               batch_size: int, lr: float, mean, std) -> float:
    """One epoch of reference.train; images per second of the whole call (moving the data to
    the device and the format probe included, as the usual pipeline's worker start-up is)."""
    config = TrainConfig(epochs=1, batch_size=batch_size, lr=lr, augment=True, mean=mean,
                         std=std)
    start = time.perf_counter()
    train(model, images, labels, config, device=device)
    return len(images) / (time.perf_counter() - start)


def bench_model(model_id: str, images: np.ndarray, labels: np.ndarray, *, device: str,
                batch_size: int, workers: int, repeats: int) -> dict:
    from torchvision import transforms as T

    mean, std = channel_stats(images)
    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(mean, std)])
    loader = torch.utils.data.DataLoader(CifarLike(images, labels, transform),
                                         batch_size=batch_size, shuffle=True,
                                         num_workers=workers,
                                         pin_memory=device.startswith("cuda"))
    warm = slice(0, 2 * batch_size)
    warm_loader = torch.utils.data.DataLoader(CifarLike(images[warm], labels[warm], transform),
                                              batch_size=batch_size, num_workers=0)
    torch.manual_seed(0)
    initial = build(model_id)
    dev = torch.device(device)
    ours_epoch(copy.deepcopy(initial), images[warm], labels[warm], device, batch_size, 0.01,
               mean, std)
    usual_epoch(copy.deepcopy(initial).to(dev), warm_loader, dev, 0.01)
    ours, usual = [], []
    for _ in range(repeats):
        ours.append(ours_epoch(copy.deepcopy(initial), images, labels, device, batch_size, 0.01,
                               mean, std))
        usual.append(usual_epoch(copy.deepcopy(initial).to(dev), loader, dev, 0.01))
    return {"model": model_id, "images": len(images), "ours": ours, "usual": usual,
            "ratio": statistics.median(ours) / statistics.median(usual)}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_STEPS),
                        help="reference registry ids (default: simplenn resnet20-a)")
    parser.add_argument("--steps", type=int, default=None,
                        help="batches per measured epoch (default: 40 SimpleNN, 6 ResNet-20 on "
                             "CPU; 10x that on CUDA)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2,
                        help="DataLoader workers of the usual pipeline (the notebooks use 2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available on this machine")
    if args.threads:
        torch.set_num_threads(args.threads)
    scale = 10 if args.device.startswith("cuda") else 1
    steps = {m: args.steps or DEFAULT_STEPS.get(m, 10) * scale for m in args.models}
    n = max(steps.values()) * args.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        data = load_cifar10(write_synthetic_cifar10(tmp, seed=0, n_train=n, n_test=10))
    what = torch.cuda.get_device_name() if args.device.startswith("cuda") else \
        f"{_cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    print(f"device: {args.device} ({what}); torch {torch.__version__}; batch {args.batch_size}; "
          f"usual pipeline: DataLoader num_workers={args.workers}; median of {args.repeats}; "
          f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"{'model':<12} {'images':>7} {'ours img/s':>11} {'usual img/s':>12} {'ratio':>6}   "
          "range ours | usual")
    for model_id in args.models:
        count = steps[model_id] * args.batch_size
        r = bench_model(model_id, data.train_images[:count], data.train_labels[:count],
                        device=args.device, batch_size=args.batch_size, workers=args.workers,
                        repeats=args.repeats)
        print(f"{model_id:<12} {count:>7} {statistics.median(r['ours']):>11,.0f} "
              f"{statistics.median(r['usual']):>12,.0f} {r['ratio']:>5.1f}x   "
              f"{min(r['ours']):,.0f}-{max(r['ours']):,.0f} | "
              f"{min(r['usual']):,.0f}-{max(r['usual']):,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
