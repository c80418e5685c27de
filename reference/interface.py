"""A model's declared interface, inside the sandbox: build its inputs, call it, name its outputs.

The spec's [interface] (grader.spec.InterfaceSpec.to_job) arrives as plain JSON:
{"inputs": [{"name", "role", "shape", "dtype", "range", "init", "activation"}, ...],
 "outputs": [...]}. Shapes hold sizes and the symbols "B" (batch) and "T" (sequence length).
Inputs are passed to forward positionally, in the declared order; what forward returns is
matched to the declared outputs: a tuple or list by position, a dict by name, a single tensor
as the first output. Probing (harness.inspect_models) and the canonical training routines
(reference.localization, reference.sequence) share this file, so a model is called the same
way in both.

Imports only torch and the standard library: it runs next to student code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

DTYPES = {"float32": torch.float32, "int64": torch.int64}


class InterfaceError(Exception):
    """The model does not fit the declared interface (an output missing, not a tensor); the
    message says what was declared and what came back."""


@dataclass(frozen=True)
class Tensor:
    name: str
    role: str
    shape: tuple
    dtype: str = "float32"
    range: tuple | None = None
    init: str = "zeros"
    activation: str = "auto"

    @classmethod
    def from_job(cls, raw: dict) -> "Tensor":
        return cls(name=str(raw["name"]), role=str(raw["role"]), shape=tuple(raw.get("shape")
                                                                              or ()),
                   dtype=str(raw.get("dtype") or "float32"),
                   range=tuple(raw["range"]) if raw.get("range") else None,
                   init=str(raw.get("init") or "zeros"),
                   activation=str(raw.get("activation") or "auto"))

    def concrete(self, batch: int, length: int) -> tuple[int, ...]:
        """The shape with B and T replaced."""
        return tuple(batch if s == "B" else length if s == "T" else int(s) for s in self.shape)


@dataclass(frozen=True)
class Interface:
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    @classmethod
    def from_job(cls, raw: dict) -> "Interface":
        return cls(tuple(Tensor.from_job(t) for t in raw.get("inputs") or ()),
                   tuple(Tensor.from_job(t) for t in raw.get("outputs") or ()))

    @classmethod
    def image(cls, input_shape, num_classes: int | None = None) -> "Interface":
        """Classification's: one image batch in, class scores out."""
        return cls((Tensor("x", "image", ("B", *input_shape)),),
                   (Tensor("label", "label", ("B", num_classes) if num_classes else ()),))

    @property
    def stepped(self) -> bool:
        """No input has a batch dimension: one sequence per call (ECE 60146 HW8)."""
        return not any("B" in t.shape for t in self.inputs)

    def input(self, role: str) -> Tensor | None:
        return next((t for t in self.inputs if t.role == role), None)

    def output(self, role: str) -> Tensor | None:
        return next((t for t in self.outputs if t.role == role), None)

    # ------------------------------------------------------------------ inputs

    def hidden(self, model: nn.Module, spec: Tensor, batch: int, device="cpu") -> torch.Tensor:
        """A hidden-state input: the model's init_hidden() (or init_hidden(batch)) when the
        spec says so and the model has one, else zeros of the declared shape."""
        init = getattr(model, "init_hidden", None)
        if spec.init == "init_hidden" and callable(init):
            # a batched interface asks for the batch's state first (init_hidden(self,
            # batch_size=1) would give a batch of one); DLStudio's takes no argument
            for args in (((), (batch,)) if self.stepped else ((batch,), ())):
                try:
                    h = init(*args)
                except TypeError:
                    continue
                if isinstance(h, torch.Tensor):
                    return h.to(device)
                if isinstance(h, tuple) and all(isinstance(x, torch.Tensor) for x in h):
                    return tuple(x.to(device) for x in h)          # an LSTM's (h, c)
        return torch.zeros(spec.concrete(batch, 1), device=device)

    def example(self, model: nn.Module, batch: int = 1, length: int = 12,
                generator: torch.Generator | None = None, device="cpu") -> list:
        """Random inputs of the declared shapes, dtypes and ranges: images uniform (or
        standard normal without a range), ids uniform integers in range, lengths from
        `length` down (sorted longest first, as pack_padded_sequence wants by default), a
        hidden state from the model. Ids beyond an entry's length are 0 (padding)."""
        values = []
        lengths = None
        if self.input("lengths") is not None:
            lengths = torch.tensor([max(1, length - (i % max(1, length // 2)))
                                    for i in range(batch)], dtype=torch.int64)
            lengths = lengths.sort(descending=True).values
        for spec in self.inputs:
            shape = spec.concrete(batch, length)
            if spec.role == "hidden":
                values.append(self.hidden(model, spec, batch, device))
            elif spec.role == "lengths":
                values.append(lengths.reshape(shape) if shape else lengths)
            elif spec.dtype == "int64":
                lo, hi = (int(spec.range[0]), int(spec.range[1])) if spec.range else (0, 2)
                ids = torch.randint(max(lo, 1) if lengths is not None else lo, max(hi, lo + 1),
                                    shape, generator=generator)
                if lengths is not None and spec.shape[:2] in (("B", "T"), ("T", "B")):
                    pad = torch.arange(length)[None, :] >= lengths[:, None]    # [B, T]
                    ids[pad if spec.shape[0] == "B" else pad.T] = 0    # padded past each length
                values.append(ids.to(device))
            elif spec.range:
                lo, hi = float(spec.range[0]), float(spec.range[1])
                values.append((lo + (hi - lo) * torch.rand(shape, generator=generator))
                              .to(device))
            else:
                values.append(torch.randn(shape, generator=generator).to(device))
        return values

    # ------------------------------------------------------------------ outputs

    def heads(self, out) -> dict[str, torch.Tensor]:
        """forward's return value as {declared output name: tensor}. A hidden output may be
        a tuple (an LSTM's (h, c)); it is kept as returned."""
        names = [o.name for o in self.outputs]
        if isinstance(out, dict):
            missing = [n for n in names if n not in out]
            if missing and len(out) == len(names):     # other names: take them in order
                return dict(zip(names, out.values()))
            if missing:
                raise InterfaceError(f"forward returned a dict with keys "
                                     f"{sorted(map(str, out))[:8]}; expected {names}")
            return {n: out[n] for n in names}
        if isinstance(out, (tuple, list)):
            if len(out) < len(names):
                raise InterfaceError(f"forward returned {len(out)} values; expected "
                                     f"{len(names)} ({', '.join(names)})")
            return dict(zip(names, out))
        if isinstance(out, torch.Tensor):
            if len(names) > 1 and not all(o.role == "hidden" for o in self.outputs[1:]):
                raise InterfaceError(f"forward returned one tensor; expected {len(names)} "
                                     f"outputs ({', '.join(names)})")
            return {names[0]: out} if names else {}
        raise InterfaceError(f"forward returned {type(out).__name__}; expected "
                             + (f"a tensor ({names[0]})" if len(names) == 1 else
                                f"{len(names)} outputs ({', '.join(names)})"))

    def call(self, model: nn.Module, inputs: list) -> dict[str, torch.Tensor]:
        return self.heads(model(*inputs))


def is_log_softmax(scores: torch.Tensor) -> bool:
    """Whether class scores look like log-probabilities: every row's exp sums to 1 (and no
    score is positive). Logits of an untrained model almost never do."""
    if not isinstance(scores, torch.Tensor) or not scores.is_floating_point() or \
            scores.dim() < 1 or scores.shape[-1] < 2:
        return False
    s = scores.detach().float()
    if not torch.isfinite(s).all() or (s > 1e-4).any():
        return False
    sums = s.exp().sum(-1)
    return bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-3))


def activation(spec: Tensor | None, scores: torch.Tensor) -> str:
    """"log_softmax" or "logits": declared, or detected from `scores` (auto). Called on the
    first batch: class scores of another size than the declared one stop training with a
    message that says so (rather than cross-entropy's "Target 1 is out of bounds")."""
    classes = spec.shape[-1] if spec is not None and spec.shape else None
    if isinstance(classes, int) and isinstance(scores, torch.Tensor) and scores.dim() and \
            scores.shape[-1] != classes:
        single = " (a single logit, as for BCEWithLogitsLoss, does not fit)" \
            if scores.shape[-1] == 1 else ""
        raise InterfaceError(f"the {spec.name} output gives {scores.shape[-1]} score"
                             f"{'s' if scores.shape[-1] != 1 else ''} per example; the task "
                             f"has {classes} classes, and the canonical routine trains "
                             f"{classes} class scores with cross-entropy or NLLLoss{single}")
    if spec is not None and spec.activation in ("logits", "log_softmax"):
        return spec.activation
    return "log_softmax" if is_log_softmax(scores) else "logits"


def class_loss(scores: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Cross-entropy on logits, NLL on log-softmax outputs (what the course pairs them with:
    nn.CrossEntropyLoss, or nn.NLLLoss after nn.LogSoftmax)."""
    scores = scores.float().reshape(-1, scores.shape[-1])
    if kind == "log_softmax":
        return nn.functional.nll_loss(scores, target)
    return nn.functional.cross_entropy(scores, target)


def finite_number(x: float) -> float | None:
    return x if math.isfinite(x) else None
