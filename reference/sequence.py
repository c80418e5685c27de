"""The canonical training routine for sequence classification: one label per token sequence
(Duke ECE 661 HW3's LabRNN, Purdue ECE 60146 HW8's GRU sentiment).

Runs inside the sandbox next to student code: imports only torch, numpy and the standard
library, and never sees the held-out labels. Given `eval_ids` it returns each epoch's predicted
labels; the trusted side scores them.

Sequences are token ids, int64 [N, Tmax], 0 = padding after each sequence's length (int64
[N], 1..Tmax). The model is called through the declared interface (reference.interface), with
its inputs built by role in the declared order, in one of two modes (`interface.stepped`):

- batched (an input has the batch symbol B; ECE 661 HW3's forward(ids, length)): each step
  takes batch_size shuffled sequences, cut to the batch's longest length and sorted longest
  first (pack_padded_sequence's default enforce_sorted=True needs that); the lengths stay on
  the CPU (pack_padded_sequence requires it), the ids go to the device;
- stepped (no input has B; ECE 60146 HW8's forward(x, h) on [T, 1, 300] word vectors): one
  sequence per optimizer step, as the course's loop does with batch size 1; an embeddings
  input is vectors[ids[:length]] shaped as declared, and a hidden input is a fresh state from
  the model's init_hidden() (or zeros) for every sequence.

The loss is cross-entropy on logits or NLL on log-softmax scores (declared, or detected on the
first batch); the optimizer is the config's (SGD with momentum, or Adam), with the gradients
clipped to norm GRAD_CLIP. Float32 throughout (no autocast: recurrent models are small and
their long products are where bf16 loses most). Deterministic on CPU given the seed; a NaN or
infinite epoch loss stops training (History.diverged); the model is left in eval mode.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from reference.interface import (
    Interface,
    InterfaceError,
    Tensor,
    activation,
    class_loss,
)
from reference.train import (
    EpochLog,
    History,
    TrainConfig,
    as_labels,
    learning_rate,
    make_optimizer,
)

# RNNs trained from scratch on long sequences blow up without it (exploding gradients through
# time; LSTM and GRU course code clips too): every step's gradients are scaled to this norm
GRAD_CLIP = 5.0


def train(model: nn.Module, ids: torch.Tensor | np.ndarray, lengths: torch.Tensor | np.ndarray,
          labels: torch.Tensor | np.ndarray, config: TrainConfig, *, interface: Interface,
          vectors: torch.Tensor | np.ndarray | None = None,
          eval_ids: torch.Tensor | np.ndarray | None = None,
          eval_lengths: torch.Tensor | np.ndarray | None = None, device: str = "cpu",
          on_epoch: Callable[[int, EpochLog], None] | None = None) -> History:
    """Train `model` in place. After every epoch, when `eval_ids` (and `eval_lengths`) are
    given, their predicted labels are stored in the epoch's log. `vectors` (float [V, D], row
    0 for padding) is needed when the interface has an embeddings input."""
    dev = torch.device(device)
    check_forward(model, interface)
    label = interface.output("label")
    if label is None:
        raise ValueError("interface: a sequence model needs a label output, got "
                         + (", ".join(f"{o.name} ({o.role})" for o in interface.outputs)
                            or "none"))
    tokens, lens = as_ids(ids, "ids"), as_lengths(lengths, "lengths", ids)
    if not len(tokens):
        raise ValueError("ids: expected at least one sequence, got none")
    targets = as_labels(labels, len(tokens))
    held_out = None
    if eval_ids is not None:
        if eval_lengths is None:
            raise ValueError("eval_lengths: expected the eval sequences' lengths, got None")
        held_out = (as_ids(eval_ids, "eval_ids"), as_lengths(eval_lengths, "eval_lengths",
                                                              eval_ids))
    table = _vectors(vectors, interface, tokens, held_out)
    cuda_devices = [dev.index if dev.index is not None else torch.cuda.current_device()] \
        if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(config.seed)
        run = _Run(model, interface, label, config, dev,
                   None if table is None else table.to(dev))
        return run.train(tokens, lens, targets, held_out, on_epoch)


def predict(model: nn.Module, ids: torch.Tensor | np.ndarray,
            lengths: torch.Tensor | np.ndarray, *, interface: Interface,
            vectors: torch.Tensor | np.ndarray | None = None, device: str = "cpu",
            batch_size: int = 500) -> torch.Tensor:
    """Predicted labels (int64, on the CPU) for the sequences: eval mode, no gradients;
    the model's train/eval mode is restored."""
    dev = torch.device(device)
    check_forward(model, interface)
    label = interface.output("label")
    if label is None:
        raise ValueError("interface: a sequence model needs a label output")
    tokens, lens = as_ids(ids, "ids"), as_lengths(lengths, "lengths", ids)
    table = _vectors(vectors, interface, tokens, None)
    model.to(dev)
    run = _Run(model, interface, label, TrainConfig(eval_batch_size=batch_size), dev,
               None if table is None else table.to(dev))
    return run.predict(tokens, lens)


def check_forward(model: nn.Module, interface: Interface) -> None:
    """A TypeError that names the declared inputs when the model's forward cannot take them
    (forward(x) where the interface passes (x, h)), before any training."""
    names = [i.name for i in interface.inputs]
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):             # no signature to read: the call will tell
        return
    try:
        signature.bind(*names)
    except TypeError as exc:
        raise TypeError(f"{type(model).__name__}.forward{signature} cannot take the "
                        f"declared inputs ({', '.join(names)}): {exc}; expected "
                        f"forward(self, {', '.join(names)})") from None


class _Run:
    """One training run's fixed parts: the model, how its inputs are built, the optimizer."""

    def __init__(self, model: nn.Module, interface: Interface, label: Tensor,
                 config: TrainConfig, dev: torch.device, vectors: torch.Tensor | None):
        self.model, self.interface, self.label = model, interface, label
        self.config, self.dev, self.vectors = config, dev, vectors
        self.kind: str | None = None            # logits | log_softmax, from the first batch

    def train(self, ids: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor,
              held_out: tuple[torch.Tensor, torch.Tensor] | None,
              on_epoch: Callable[[int, EpochLog], None] | None) -> History:
        config, dev, model = self.config, self.dev, self.model
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = config.cudnn_benchmark
        model.to(dev)
        optimizer = make_optimizer(model.parameters(), config)
        generator = torch.Generator().manual_seed(config.seed)
        n = len(ids)
        batch_size = 1 if self.interface.stepped else min(config.batch_size, n)
        steps = math.ceil(n / batch_size)
        if n > 1 and n % batch_size == 1:
            steps -= 1                          # a last batch of one breaks BatchNorm
        history = History(device=str(dev))
        for epoch in range(config.epochs):
            model.train()
            start = time.perf_counter()
            order = torch.randperm(n, generator=generator)
            loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
            correct = torch.zeros((), dtype=torch.int64, device=dev)
            seen = 0
            first_lr = learning_rate(config, epoch * steps, steps)
            for i in range(steps):
                index = order[i * batch_size:(i + 1) * batch_size]
                index = index[lengths[index].sort(descending=True, stable=True).indices]
                y = labels[index].to(dev)
                lr = learning_rate(config, epoch * steps + i, steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                scores = self.scores(ids[index], lengths[index])
                if self.kind is None:
                    self.kind = activation(self.label, scores)
                loss = class_loss(scores, y, self.kind)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
                optimizer.step()
                loss_sum += loss.detach() * len(index)
                correct += (scores.detach().argmax(1) == y).sum()
                seen += len(index)
            train_loss = loss_sum.item() / seen    # the one host sync of the epoch
            seconds = time.perf_counter() - start
            predictions = None if held_out is None else self.predict(*held_out)
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

    def predict(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Labels for all sequences: sorted longest first, in batches (one at a time when
        stepped), put back in their order."""
        model = self.model
        was_training = model.training
        model.eval()
        order = lengths.sort(descending=True, stable=True).indices
        size = 1 if self.interface.stepped else self.config.eval_batch_size
        out = torch.zeros(len(ids), dtype=torch.int64)
        try:
            with torch.no_grad():
                for index in order.split(size):
                    out[index] = self.scores(ids[index], lengths[index]).argmax(1).cpu()
        finally:
            model.train(was_training)
        return out

    def scores(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Class scores [B, C] for B sequences sorted longest first (ids on the CPU)."""
        batch, length = len(ids), int(lengths[0])
        tokens = ids[:, :length].to(self.dev, non_blocking=True)
        inputs = [self._input(spec, tokens, lengths, batch, length)
                  for spec in self.interface.inputs]
        scores = self.interface.call(self.model, inputs).get(self.label.name)
        if not isinstance(scores, torch.Tensor) or not scores.is_floating_point() or \
                scores.dim() < 1 or scores.reshape(-1, scores.shape[-1]).shape[0] != batch:
            got = (f"shape {list(scores.shape)}" if isinstance(scores, torch.Tensor)
                   else type(scores).__name__)
            raise InterfaceError(f"the {self.label.name} output is {got}; expected class "
                                 f"scores [{batch}, number of classes] for {batch} "
                                 f"sequence{'s' if batch > 1 else ''}")
        return scores.reshape(batch, -1)

    def _input(self, spec: Tensor, tokens: torch.Tensor, lengths: torch.Tensor, batch: int,
               length: int):
        """One declared input for the batch: ids [B, T] (or as declared), their word vectors,
        the lengths (int64, on the CPU), or a hidden state."""
        if spec.role == "hidden":
            return self.interface.hidden(self.model, spec, batch, self.dev)
        if spec.role == "lengths":
            return lengths.reshape(spec.concrete(batch, length)) if spec.shape else lengths
        if spec.role == "ids":
            value = tokens
        elif spec.role == "embeddings":
            value = self.vectors[tokens]        # [B, T, D]
        else:
            raise ValueError(f"interface: a sequence model takes ids, lengths, embeddings "
                             f"and hidden inputs; {spec.name} is {spec.role}")
        if "B" in spec.shape and "T" in spec.shape and \
                spec.shape.index("T") < spec.shape.index("B"):
            value = value.transpose(0, 1)       # sequence-first, as nn.RNN's default
        return value.reshape(spec.concrete(batch, length)) if spec.shape else value


def as_ids(ids: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """Token ids as int64 [N, T] (ids >= 0; 0 pads), or a ValueError saying what came."""
    x = torch.as_tensor(np.asarray(ids) if not isinstance(ids, torch.Tensor) else ids)
    if x.dim() != 2 or x.is_floating_point() or x.dtype == torch.bool or x.shape[1] < 1:
        raise ValueError(f"{name}: expected integer token ids [N, T], got {x.dtype} "
                         f"{tuple(x.shape)}")
    if x.numel() and int(x.min()) < 0:
        raise ValueError(f"{name}: expected token ids >= 0, got {int(x.min())}")
    return x.long().cpu()


def as_lengths(lengths: torch.Tensor | np.ndarray, name: str, ids) -> torch.Tensor:
    """Sequence lengths as int64 [N] on the CPU, each 1..T of `ids` [N, T]."""
    n, t = tuple(getattr(ids, "shape", (0, 0)))[:2]
    x = torch.as_tensor(np.asarray(lengths) if not isinstance(lengths, torch.Tensor)
                        else lengths)
    if x.dim() != 1 or len(x) != n or x.is_floating_point() or x.dtype == torch.bool:
        raise ValueError(f"{name}: expected {n} integer lengths, got {x.dtype} "
                         f"{tuple(x.shape)}")
    if n and (int(x.min()) < 1 or int(x.max()) > t):
        raise ValueError(f"{name}: expected lengths 1..{t} (the ids' width), got "
                         f"{int(x.min())}..{int(x.max())}")
    return x.long().cpu()


def _vectors(vectors, interface: Interface, ids: torch.Tensor,
             held_out: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor | None:
    """The word-vector table as float32 [V, D] when the interface has an embeddings input
    (checked against the declared size and the largest id), else None."""
    spec = interface.input("embeddings")
    if spec is None:
        return None
    if vectors is None:
        raise ValueError(f"vectors: the interface's {spec.name} input is word vectors, and "
                         f"no vectors were given")
    table = torch.as_tensor(np.asarray(vectors) if not isinstance(vectors, torch.Tensor)
                            else vectors)
    if table.dim() != 2 or not table.is_floating_point():
        raise ValueError(f"vectors: expected floats [V, D], got {table.dtype} "
                         f"{tuple(table.shape)}")
    size = spec.shape[-1] if spec.shape else None
    if isinstance(size, int) and size != table.shape[1]:
        raise ValueError(f"vectors: {table.shape[1]}-dimensional, but the interface's "
                         f"{spec.name} input is {spec.shape} ({size} per token)")
    top = max((int(x.max()) for x in (ids, *(held_out[:1] if held_out else ())) if x.numel()),
              default=0)
    if top >= len(table):
        raise ValueError(f"vectors: {len(table)} rows, but a token id is {top}")
    return table.float()
