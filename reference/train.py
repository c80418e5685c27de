"""The canonical training routine: every model of an assignment, students' and reference, is
retrained by `train` under the same budget, so their accuracies can be compared.

This file runs inside the sandbox next to student code: it imports only torch, numpy and the
standard library, and never sees the held-out labels. Given `eval_images` it returns predicted
labels per epoch; the trusted side scores them.

Images are uint8, N x H x W x C (as CIFAR-10 files and grader.inputs.data store them), numpy arrays or
tensors; labels are int64 class indices. The whole training set is moved to the device once as
one uint8 tensor and each batch is gathered, augmented (random crop with zero padding, horizontal
flip) and normalised there with a few tensor operations: no DataLoader, no PIL, no per-image
Python. Inputs are channels_last (on CUDA the model too, under bfloat16 autocast) unless a
forward probe shows the model cannot take them (`x.view` after a convolution), then contiguous.
Each of these speed choices is a TrainConfig switch (`resident`, `channels_last`, `bf16`,
`cudnn_benchmark`), on by default, so benchmarks/bench_gpu_train.py can time it on and off.

Deterministic on CPU: the same seed gives the same weights after training (the global RNG is
seeded inside and restored afterwards, so the caller's random state is left alone).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SCHEDULES = ("none", "step", "cosine", "onecycle")
OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 2                 # passes over the training set; a grading budget, not a paper's
    batch_size: int = 128           # ECE 661 HW2's batch size
    lr: float = 0.01                # base learning rate (onecycle: the peak); HW2 Lab 1 uses 0.01
    momentum: float = 0.9           # SGD momentum; every course set-up in reference/README.md uses 0.9
    weight_decay: float = 1e-4      # L2 on all parameters, as torch.optim.SGD applies it (HW2)
    optimizer: str = "sgd"          # sgd (lr, momentum, weight_decay) | adam (lr, weight_decay;
                                    # default betas): DLStudio's RNN and detection loops use Adam
    schedule: str = "none"          # none | step (per epoch, x gamma at each milestone) |
                                    # cosine (per step, lr -> 0) | onecycle (per step, as
                                    # torch's OneCycleLR: lr/25 -> lr in 30% of steps -> lr/25e4)
    milestones: tuple[int, ...] = ()  # step: 0-based epochs from which lr is multiplied by gamma
                                    # once more, as MultiStepLR stepped per epoch (HW2: 90, 140)
    gamma: float = 0.1              # step: factor at each milestone; He et al. divide by 10
    augment: bool = True            # RandomCrop(H, padding=4) + RandomHorizontalFlip, batch-wise
    seed: int = 0                   # shuffling, augmentation and in-model randomness (dropout)
    mean: tuple[float, ...] | None = None  # per-channel mean in [0, 1] for normalisation;
                                    # None: computed from the training images
    std: tuple[float, ...] | None = None   # per-channel std in [0, 1]; None: computed likewise
    eval_batch_size: int = 500      # prediction batch: large for speed, small enough for
                                    # ResNet-18 on 64x64 images in a 4-6 GB sandbox on CPU
    # Speed switches, all on by default (the grader never sets them). Each is kept only where
    # benchmarks/bench_gpu_train.py shows it faster at equal accuracy; off, for measuring:
    resident: bool = True           # the whole uint8 training set on the device once, each
                                    # batch gathered and cropped/flipped there; False: kept on
                                    # the host, each batch gathered and augmented there and
                                    # copied over (the usual pipeline's data path, no workers)
    channels_last: bool = True      # channels_last inputs (on CUDA the model too) when the
                                    # model takes them; False: contiguous NCHW
    bf16: bool = True               # bfloat16 autocast on CUDA when the model allows it;
                                    # False: float32 (on the CPU always float32)
    cudnn_benchmark: bool = True    # cuDNN's autotuner on CUDA (torch.backends.cudnn.benchmark):
                                    # tries every algorithm per new convolution shape

    def __post_init__(self) -> None:
        for name in ("milestones", "mean", "std"):          # JSON gives lists
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name}: expected a positive integer, "
                                 f"got {getattr(self, name)!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer: expected one of {', '.join(OPTIMIZERS)}, "
                             f"got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"TrainConfig.schedule: expected one of {', '.join(SCHEDULES)}, "
                             f"got {self.schedule!r}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr: expected a positive number, got {self.lr!r}")
        if self.std is not None and not all(s > 0 for s in self.std):
            raise ValueError(f"TrainConfig.std: expected positive numbers, got {self.std!r}")


@dataclass(frozen=True)
class EpochLog:
    epoch: int                      # 1-based
    train_loss: float               # mean cross-entropy over the epoch's (augmented) images
    train_accuracy: float           # fraction 0..1 of them classified correctly while training
    lr: float                       # learning rate of the epoch's first step
    seconds: float                  # training time of the epoch, evaluation excluded
    images_per_second: float        # training images processed per second in this epoch
    eval_predictions: torch.Tensor | None = None  # int64 label per eval image after the epoch
    eval_boxes: torch.Tensor | None = None  # localization: float32 [N, 4] box per eval image
    train_iou: float | None = None  # localization: mean IoU of the training boxes while training


@dataclass
class History:
    epochs: list[EpochLog] = field(default_factory=list)
    mean: tuple[float, ...] = ()    # the normalisation used: pass it to `predict`
    std: tuple[float, ...] = ()
    device: str = "cpu"
    diverged: bool = False          # stopped early: the epoch's loss was NaN or infinite
    channels_last: bool = False     # inputs (and on CUDA the model) ran channels_last
    bf16: bool = False              # bfloat16 autocast (CUDA only, when the model allows it)

    @property
    def train_loss(self) -> list[float]:
        return [e.train_loss for e in self.epochs]

    @property
    def train_accuracy(self) -> list[float]:
        return [e.train_accuracy for e in self.epochs]

    @property
    def lr(self) -> list[float]:
        return [e.lr for e in self.epochs]

    @property
    def eval_predictions(self) -> list[torch.Tensor | None]:
        return [e.eval_predictions for e in self.epochs]

    @property
    def final_predictions(self) -> torch.Tensor | None:
        return self.epochs[-1].eval_predictions if self.epochs else None

    @property
    def eval_boxes(self) -> list[torch.Tensor | None]:
        return [e.eval_boxes for e in self.epochs]

    @property
    def seconds(self) -> float:
        return sum(e.seconds for e in self.epochs)

    @property
    def images_per_second(self) -> float:
        images = sum(e.images_per_second * e.seconds for e in self.epochs)
        return images / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        """Plain JSON-ready data (predictions as lists of ints, non-finite numbers as None),
        for handing the history out of the sandbox without pickles."""
        def num(x: float) -> float | None:
            return x if math.isfinite(x) else None
        return {
            "epochs": [{"epoch": e.epoch, "train_loss": num(e.train_loss),
                        "train_accuracy": e.train_accuracy, "lr": e.lr, "seconds": e.seconds,
                        "images_per_second": e.images_per_second,
                        "eval_predictions": (None if e.eval_predictions is None
                                             else e.eval_predictions.tolist()),
                        # localization only: classification's dict stays as it was
                        **({} if e.train_iou is None else {"train_iou": num(e.train_iou)}),
                        **({} if e.eval_boxes is None else
                           {"eval_boxes": e.eval_boxes.tolist()})}
                       for e in self.epochs],
            "mean": list(self.mean), "std": list(self.std), "device": self.device,
            "diverged": self.diverged, "channels_last": self.channels_last, "bf16": self.bf16,
            "seconds": self.seconds,
            "images_per_second": self.images_per_second,
        }


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """The config's optimizer over `params`: SGD with momentum and weight decay (as every
    classification set-up), or Adam with weight decay. The learning rate is set per step."""
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                           weight_decay=config.weight_decay)


def learning_rate(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate of optimiser step `step` (0-based over the whole run)."""
    total = config.epochs * steps_per_epoch
    if config.schedule == "step":
        epoch = step // steps_per_epoch
        return config.lr * config.gamma ** sum(1 for m in config.milestones if m <= epoch)
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
    if config.schedule == "onecycle":      # torch.optim.lr_scheduler.OneCycleLR's defaults
        start, peak = config.lr / 25.0, config.lr
        end = start / 1e4
        warm_end = 0.3 * total - 1     # the last warm-up step, as OneCycleLR counts it
        if warm_end > 0 and step <= warm_end:
            lo, hi, pct = start, peak, step / warm_end
        else:
            span = (total - 1) - max(warm_end, 0.0)
            lo, hi, pct = peak, end, (step - max(warm_end, 0.0)) / span if span > 0 else 1.0
        return hi + (lo - hi) / 2.0 * (math.cos(math.pi * pct) + 1.0)
    return config.lr


def augment(images: torch.Tensor, generator: torch.Generator | None = None,
            padding: int = 4) -> torch.Tensor:
    """RandomCrop(H, padding) + RandomHorizontalFlip on a uint8 N x H x W x C batch, on its
    device: pad once, then one gather with per-image row and (possibly reversed) column indices.

    The offsets and flips are drawn on the generator's device (the default generator's: the
    CPU) and moved to the images' device, so a CPU generator gives the same crops on every
    device; training draws them on a generator of its own device (no copy per batch)."""
    n, h, w, _ = images.shape
    dev = images.device
    drawn = generator.device if generator is not None else torch.device("cpu")
    padded = F.pad(images, (0, 0, padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=drawn).to(dev)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=drawn).to(dev)
    flip = torch.randint(0, 2, (n, 1), generator=generator, device=drawn).bool().to(dev)
    rows = dy + torch.arange(h, device=dev)
    cols = dx + torch.arange(w, device=dev)
    cols = torch.where(flip, cols.flip(1), cols)
    batch = torch.arange(n, device=dev)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]]


def channel_stats(images: torch.Tensor | np.ndarray) -> tuple[tuple[float, ...],
                                                              tuple[float, ...]]:
    """Per-channel mean and std in [0, 1] of uint8 N x H x W x C images (float64 sums)."""
    x = as_images(images, "images")
    c = x.shape[-1]
    total = torch.zeros(c, dtype=torch.float64, device=x.device)
    squares = torch.zeros(c, dtype=torch.float64, device=x.device)
    chunk = max(1, (1 << 21) // max(1, x[0].numel()))
    for part in x.split(chunk):
        f = part.reshape(-1, c).double()
        total += f.sum(0)
        squares += (f * f).sum(0)
    count = x.numel() // c
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(1e-6).sqrt()
    return tuple((mean / 255).tolist()), tuple((std / 255).tolist())


def predict(model: nn.Module, images: torch.Tensor | np.ndarray, *, device: str = "cpu",
            batch_size: int = 500, mean: tuple[float, ...], std: tuple[float, ...],
            channels_last: bool = True, bf16: bool = True) -> torch.Tensor:
    """Predicted labels (int64, on the CPU) for uint8 N x H x W x C images: eval mode, no
    gradients, large batches. The model is moved to `device`; its train/eval mode is restored.
    channels_last=False and bf16=False (a student's own weights: the same weights give the
    same answers) predict in float32 on contiguous tensors, as the student's notebook did."""
    dev = torch.device(device)
    x = as_images(images, "images")
    model.to(dev)
    scale = normaliser(mean, std, dev)
    channels_last, bf16 = choose_formats(model, x[:2].to(dev), scale,
                                         channels_last=channels_last, bf16=bf16)
    return _predict(model, x, dev, batch_size, scale, channels_last, bf16)


def _predict(model: nn.Module, x: torch.Tensor, dev: torch.device, batch_size: int,
             scale: tuple[torch.Tensor, torch.Tensor], channels_last: bool, bf16: bool
             ) -> torch.Tensor:
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            for part in x.split(batch_size):
                logits = model(to_input(part.to(dev, non_blocking=True), *scale, channels_last))
                out.append(logits.argmax(1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)


def choose_formats(model: nn.Module, sample: torch.Tensor,
                   scale: tuple[torch.Tensor, torch.Tensor], *, channels_last: bool = True,
                   bf16: bool = True) -> tuple[bool, bool]:
    """(channels_last, bf16) for this model: the fastest set-up under which a forward pass on
    `sample` works. Student code often does `x.view(n, -1)` after a convolution, which fails on
    channels_last tensors, and some ops fail under autocast: those models fall back to
    contiguous tensors, then to float32. Probed in eval mode (BatchNorm statistics untouched).
    channels_last=False or bf16=False (TrainConfig's switches) leave those set-ups out."""
    cuda = sample.device.type == "cuda"
    candidates = [(True, True), (False, True), (False, False)] if cuda else [(True, False),
                                                                             (False, False)]
    candidates = [(c, b) for c, b in candidates[:-1] if (channels_last or not c)
                  and (bf16 or not b)] + candidates[-1:]
    was_training = model.training
    model.eval()
    try:
        for last, half in candidates[:-1]:
            model.to(memory_format=torch.channels_last if last and cuda
                     else torch.contiguous_format)
            try:
                with torch.no_grad(), torch.autocast(sample.device.type, dtype=torch.bfloat16,
                                                     enabled=half):
                    model(to_input(sample, *scale, last))
                return last, half
            except Exception:       # noqa: BLE001 - any failure means "try the safer set-up"
                continue
        model.to(memory_format=torch.contiguous_format)
        return candidates[-1]
    finally:
        model.train(was_training)


def train(model: nn.Module, train_images: torch.Tensor | np.ndarray,
          train_labels: torch.Tensor | np.ndarray, config: TrainConfig, *,
          eval_images: torch.Tensor | np.ndarray | None = None, device: str = "cpu",
          on_epoch: Callable[[int, EpochLog], None] | None = None) -> History:
    """Train `model` in place with SGD (momentum, weight decay) and cross-entropy.

    After every epoch, when `eval_images` is given, their predicted labels are stored in the
    epoch's log. `on_epoch(epoch, log)` is called after each epoch (1-based). A NaN or infinite
    epoch loss stops training (History.diverged). The model is left on `device`, in eval mode.
    """
    dev = torch.device(device)
    images = as_images(train_images, "train_images")
    if not len(images):
        raise ValueError("train_images: expected at least one image, got none")
    labels = as_labels(train_labels, len(images))
    held_out = None if eval_images is None else as_images(eval_images, "eval_images")
    if held_out is not None and held_out.shape[1:] != images.shape[1:]:
        raise ValueError(f"eval_images: expected images shaped like train_images "
                         f"{tuple(images.shape[1:])}, got {tuple(held_out.shape[1:])}")
    mean, std = config.mean, config.std
    if mean is None or std is None:
        computed = channel_stats(images)
        mean, std = mean or computed[0], std or computed[1]
    cuda_devices = [dev.index if dev.index is not None else torch.cuda.current_device()] \
        if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(config.seed)
        return _train(model, images, labels, config, held_out, dev, tuple(mean), tuple(std),
                      on_epoch)


def _train(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig,
           held_out: torch.Tensor | None, dev: torch.device, mean: tuple[float, ...],
           std: tuple[float, ...], on_epoch: Callable[[int, EpochLog], None] | None) -> History:
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = config.cudnn_benchmark
    model.to(dev)
    # the whole training set, uint8, on the device once (or, resident=False, kept on the host:
    # batches are gathered and augmented there, with a host generator, and copied over)
    host = not config.resident and dev.type != "cpu"
    data = images if host else images.to(dev)
    targets = labels if host else labels.to(dev)
    held_out = None if held_out is None else held_out.to(dev)
    generator = torch.Generator(device="cpu" if host else dev)
    generator.manual_seed(config.seed)
    scale = normaliser(mean, std, dev)
    channels_last, bf16 = choose_formats(model, data[:2].to(dev), scale,
                                         channels_last=config.channels_last, bf16=config.bf16)
    optimizer = make_optimizer(model.parameters(), config)
    n = len(data)
    batch_size = min(config.batch_size, n)
    steps = math.ceil(n / batch_size)
    if n > 1 and n % batch_size == 1:
        steps -= 1                              # a last batch of one image breaks BatchNorm
    history = History(mean=mean, std=std, device=str(dev), channels_last=channels_last,
                      bf16=bf16)
    for epoch in range(config.epochs):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(n, generator=generator, device=generator.device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        seen = 0
        first_lr = learning_rate(config, epoch * steps, steps)
        for i in range(steps):
            index = order[i * batch_size:(i + 1) * batch_size]
            batch = data[index]
            if config.augment:
                batch = augment(batch, generator)
            y = targets[index]
            if host:
                batch, y = batch.to(dev), y.to(dev)
            x = to_input(batch, *scale, channels_last)
            lr = learning_rate(config, epoch * steps + i, steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(index)
            correct += (logits.argmax(1) == y).sum()
            seen += len(index)
        train_loss = loss_sum.item() / seen    # the one host sync of the epoch
        seconds = time.perf_counter() - start
        predictions = None
        if held_out is not None:
            predictions = _predict(model, held_out, dev, config.eval_batch_size, scale,
                                   channels_last, bf16)
        log = EpochLog(epoch=epoch + 1, train_loss=train_loss,
                       train_accuracy=correct.item() / seen, lr=first_lr, seconds=seconds,
                       images_per_second=seen / seconds if seconds > 0 else 0.0,
                       eval_predictions=predictions)
        history.epochs.append(log)
        if on_epoch is not None:
            on_epoch(epoch + 1, log)
        if not math.isfinite(train_loss):
            history.diverged = True
            break
    model.eval()
    return history


def normaliser(mean: tuple[float, ...], std: tuple[float, ...],
               dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(offset, factor) so that normalised = uint8 * factor - offset, per channel."""
    m = torch.tensor(mean, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
    return m / s, 1.0 / (255.0 * s)


def to_input(batch: torch.Tensor, offset: torch.Tensor, factor: torch.Tensor,
             channels_last: bool) -> torch.Tensor:
    """uint8 N x H x W x C -> normalised float32 N x C x H x W, channels_last or contiguous."""
    x = batch.permute(0, 3, 1, 2).float()      # keeps NHWC memory: channels_last already
    x = x * factor - offset
    return x if channels_last else x.contiguous()


def as_images(images: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """uint8 N x H x W x C images as a tensor (no copy), or a ValueError naming `name`."""
    x = torch.from_numpy(np.ascontiguousarray(images)) if isinstance(images, np.ndarray) \
        else images
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.dim() != 4:
        got = f"{type(images).__name__} {getattr(images, 'dtype', '')} " \
              f"{tuple(getattr(images, 'shape', ()))}"
        raise ValueError(f"{name}: expected uint8 images N x H x W x C, got {got}")
    if x.shape[3] not in (1, 3, 4) and x.shape[1] in (1, 3, 4):
        raise ValueError(f"{name}: expected N x H x W x C (channels last), got shape "
                         f"{tuple(x.shape)}, which looks like N x C x H x W")
    return x


def as_labels(labels: torch.Tensor | np.ndarray, n: int) -> torch.Tensor:
    """n class indices as int64, or a ValueError saying what came."""
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if y.dim() != 1 or len(y) != n or y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"train_labels: expected {n} integer class indices, got "
                         f"{y.dtype} {tuple(y.shape)}")
    if n and int(y.min()) < 0:
        raise ValueError(f"train_labels: expected class indices >= 0, got {int(y.min())}")
    return y.long()
