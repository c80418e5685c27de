"""The canonical training routine for single-object localization (Purdue ECE 60146 HW5): one
class and one box per image, the model's forward returning class scores and a box.

Runs inside the sandbox next to student code: imports only torch, torchvision (its ops for the
CIoU loss and IoU), numpy and the standard library, and never sees the held-out labels or
boxes. Given `eval_images` it returns each epoch's predicted labels and boxes; the trusted side
scores them.

As reference/train.py: images are uint8 N x H x W x C, moved to the device once as one tensor;
each batch is gathered and normalised there with the training images' per-channel statistics
(no DataLoader, no PIL); deterministic on CPU given the seed; a NaN or infinite epoch loss stops
training (History.diverged); the model is left in eval mode. Unlike classification, nothing is
augmented: a flip or a crop would have to move the box too, and the course's loop does neither.
Boxes are x1, y1, x2, y2 scaled to 0..1 (float32 [N, 4]).

The model is called through the declared interface (reference.interface): one image input,
a `label` output (class scores: cross-entropy on logits, NLL on log-softmax, detected on the
first batch unless declared) and a `box` output [B, 4]. The loss is the class loss plus
box_weight times MSE, torchvision's complete_box_iou_loss (CIoU), or both.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reference.interface import Interface, InterfaceError, activation, class_loss
from reference.train import (
    EpochLog,
    History,
    TrainConfig,
    as_images,
    as_labels,
    channel_stats,
    choose_formats,
    learning_rate,
    make_optimizer,
    normaliser,
    to_input,
)

BOX_LOSSES = ("mse", "ciou", "mse+ciou")
# a predicted box of exactly zero width or height makes CIoU's aspect term atan(w / h) a 0/0
# (a ReLU box head that died outputs such boxes): that side is widened by this much first
ZERO_SIDE = 1e-6


def train(model: nn.Module, train_images: torch.Tensor | np.ndarray,
          train_labels: torch.Tensor | np.ndarray, train_boxes: torch.Tensor | np.ndarray,
          config: TrainConfig, *, interface: Interface,
          eval_images: torch.Tensor | np.ndarray | None = None, device: str = "cpu",
          box_loss: str = "mse", box_weight: float = 1.0,
          on_epoch: Callable[[int, EpochLog], None] | None = None) -> History:
    """Train `model` in place with the config's optimizer on class loss + box_weight * box
    loss. After every epoch, when `eval_images` is given, their predicted labels and boxes are
    stored in the epoch's log (eval_predictions, eval_boxes), and the epoch's mean IoU on the
    training batches in train_iou. The model is left on `device`, in eval mode."""
    if box_loss not in BOX_LOSSES:
        raise ValueError(f"box_loss: expected one of {', '.join(BOX_LOSSES)}, got {box_loss!r}")
    if not (isinstance(box_weight, (int, float)) and math.isfinite(box_weight)
            and box_weight >= 0):
        raise ValueError(f"box_weight: expected a finite number >= 0, got {box_weight!r}")
    heads = _head_names(interface)
    dev = torch.device(device)
    images = as_images(train_images, "train_images")
    if not len(images):
        raise ValueError("train_images: expected at least one image, got none")
    labels = as_labels(train_labels, len(images))
    boxes = as_boxes(train_boxes, len(images), "train_boxes")
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
        return _train(model, images, labels, boxes, config, interface, heads, held_out, dev,
                      (tuple(mean), tuple(std)), box_loss, float(box_weight), on_epoch)


def _train(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, boxes: torch.Tensor,
           config: TrainConfig, interface: Interface, heads: tuple[str, str],
           held_out: torch.Tensor | None, dev: torch.device,
           stats: tuple[tuple[float, ...], tuple[float, ...]], box_loss: str,
           box_weight: float, on_epoch: Callable[[int, EpochLog], None] | None) -> History:
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = config.cudnn_benchmark
    model.to(dev)
    data, targets, target_boxes = images.to(dev), labels.to(dev), boxes.to(dev)
    held_out = None if held_out is None else held_out.to(dev)
    generator = torch.Generator(device=dev)
    generator.manual_seed(config.seed)
    scale = normaliser(*stats, dev)
    # channels_last inputs where the model takes them, bf16 autocast on CUDA where it runs
    # (the same probe as classification); the losses are computed in float32 either way
    channels_last, bf16 = choose_formats(model, data[:2], scale,
                                         channels_last=config.channels_last, bf16=config.bf16)
    optimizer = make_optimizer(model.parameters(), config)
    label_spec = interface.output("label")
    kind = None                                 # logits | log_softmax, from the first batch
    n = len(data)
    batch_size = min(config.batch_size, n)
    steps = math.ceil(n / batch_size)
    if n > 1 and n % batch_size == 1:
        steps -= 1                              # a last batch of one image breaks BatchNorm
    history = History(mean=stats[0], std=stats[1], device=str(dev),
                      channels_last=channels_last, bf16=bf16)
    for epoch in range(config.epochs):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(n, generator=generator, device=dev)
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        iou_sum = torch.zeros((), dtype=torch.float64, device=dev)
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        seen = 0
        first_lr = learning_rate(config, epoch * steps, steps)
        for i in range(steps):
            index = order[i * batch_size:(i + 1) * batch_size]
            x = to_input(data[index], *scale, channels_last)
            y, t = targets[index], target_boxes[index]
            lr = learning_rate(config, epoch * steps + i, steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                scores, box = _outputs(interface.call(model, [x]), heads, len(index))
            box = box.float()
            if kind is None:
                kind = activation(label_spec, scores)
            loss = class_loss(scores, y, kind) + box_weight * box_term(box, t, box_loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(index)
            correct += (scores.detach().argmax(1) == y).sum()
            iou_sum += pair_iou(box.detach(), t).sum()
            seen += len(index)
        train_loss = loss_sum.item() / seen    # the one host sync of the epoch
        seconds = time.perf_counter() - start
        labels_out = boxes_out = None
        if held_out is not None:
            labels_out, boxes_out = _predict(model, interface, heads, held_out, dev,
                                             config.eval_batch_size, scale, channels_last,
                                             bf16)
        log = EpochLog(epoch=epoch + 1, train_loss=train_loss,
                       train_accuracy=correct.item() / seen, lr=first_lr, seconds=seconds,
                       images_per_second=seen / seconds if seconds > 0 else 0.0,
                       eval_predictions=labels_out, eval_boxes=boxes_out,
                       train_iou=iou_sum.item() / seen)
        history.epochs.append(log)
        if on_epoch is not None:
            on_epoch(epoch + 1, log)
        if not math.isfinite(train_loss):
            history.diverged = True
            break
    model.eval()
    return history


def box_term(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """The box loss, batch mean: F.mse_loss, torchvision's complete_box_iou_loss, or their
    sum. CIoU is what torchvision computes, degenerate boxes (x2 < x1) included, except that
    a side of exactly zero length is widened by ZERO_SIDE (else atan(0 / 0) makes it NaN)."""
    if kind == "mse":
        return F.mse_loss(pred, target)
    from torchvision.ops import complete_box_iou_loss

    w, h = pred[:, 2] - pred[:, 0], pred[:, 3] - pred[:, 1]
    zero = torch.zeros_like(w)
    widen = torch.stack([zero, zero, (w == 0).float(), (h == 0).float()], 1) * ZERO_SIDE
    ciou = complete_box_iou_loss(pred + widen.detach(), target, reduction="mean")
    return ciou if kind == "ciou" else ciou + F.mse_loss(pred, target)


def pair_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of each predicted box with its own target (torchvision.ops.box_iou's diagonal),
    0 for a degenerate predicted box."""
    from torchvision.ops import box_iou

    iou = box_iou(pred.float(), target.float()).diagonal()
    return torch.nan_to_num(iou, nan=0.0).clamp(0.0, 1.0)


def predict(model: nn.Module, images: torch.Tensor | np.ndarray, *, interface: Interface,
            device: str = "cpu", batch_size: int = 500, mean: tuple[float, ...],
            std: tuple[float, ...], channels_last: bool = True, bf16: bool = True
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels int64 [N], boxes float32 [N, 4]), on the CPU, for uint8 N x H x W x C images:
    eval mode, no gradients, large batches; the model's train/eval mode is restored."""
    dev = torch.device(device)
    heads = _head_names(interface)
    x = as_images(images, "images")
    model.to(dev)
    scale = normaliser(mean, std, dev)
    channels_last, bf16 = choose_formats(model, x[:2].to(dev), scale,
                                         channels_last=channels_last, bf16=bf16)
    return _predict(model, interface, heads, x, dev, batch_size, scale, channels_last, bf16)


def _predict(model: nn.Module, interface: Interface, heads: tuple[str, str], x: torch.Tensor,
             dev: torch.device, batch_size: int, scale: tuple[torch.Tensor, torch.Tensor],
             channels_last: bool, bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
    was_training = model.training
    model.eval()
    labels, boxes = [], []
    try:
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            for part in x.split(batch_size):
                inputs = [to_input(part.to(dev, non_blocking=True), *scale, channels_last)]
                scores, box = _outputs(interface.call(model, inputs), heads, len(part))
                labels.append(scores.argmax(1).cpu())
                boxes.append(box.float().cpu())
    finally:
        model.train(was_training)
    if not labels:
        return torch.zeros(0, dtype=torch.int64), torch.zeros((0, 4), dtype=torch.float32)
    return torch.cat(labels), torch.cat(boxes)


def as_boxes(boxes: torch.Tensor | np.ndarray, n: int, name: str) -> torch.Tensor:
    """n finite boxes x1, y1, x2, y2 as float32 [n, 4], or a ValueError saying what came."""
    b = torch.as_tensor(np.asarray(boxes) if not isinstance(boxes, torch.Tensor) else boxes)
    if b.shape != (n, 4) or not b.is_floating_point():
        raise ValueError(f"{name}: expected {n} boxes as floats [{n}, 4] (x1, y1, x2, y2), "
                         f"got {b.dtype} {tuple(b.shape)}")
    b = b.float()
    if not torch.isfinite(b).all():
        raise ValueError(f"{name}: expected finite coordinates, got NaN or infinity")
    return b


def _head_names(interface: Interface) -> tuple[str, str]:
    """The names of the label and box outputs; the interface must have one image input."""
    label, box = interface.output("label"), interface.output("box")
    if label is None or box is None:
        raise ValueError("interface: localization needs a label output and a box output, got "
                         + (", ".join(f"{o.name} ({o.role})" for o in interface.outputs)
                            or "none"))
    if [i.role for i in interface.inputs] != ["image"]:
        raise ValueError("interface: localization takes one image input, got "
                         + (", ".join(f"{i.name} ({i.role})" for i in interface.inputs)
                            or "none"))
    return label.name, box.name


def _outputs(out: dict, heads: tuple[str, str], n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(class scores [n, C], boxes [n, 4]) from the named outputs, or an InterfaceError that
    says which output is wrong and how."""
    label, box = heads
    scores, boxes = out.get(label), out.get(box)
    for name, value in ((label, scores), (box, boxes)):
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            got = str(value.dtype) if isinstance(value, torch.Tensor) else type(value).__name__
            raise InterfaceError(f"the {name} output is {got}; expected a float tensor")
    if scores.dim() != 2 or scores.shape[0] != n:
        raise InterfaceError(f"the {label} output has shape {list(scores.shape)}; expected "
                             f"[{n}, number of classes] for a batch of {n}")
    if tuple(boxes.shape) != (n, 4):
        raise InterfaceError(f"the {box} output has shape {list(boxes.shape)}; expected "
                             f"[{n}, 4] (x1, y1, x2, y2) for a batch of {n}")
    return scores, boxes
