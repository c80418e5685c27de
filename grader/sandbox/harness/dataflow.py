"""Sandboxed: record the operations a forward pass runs and which feeds which.

One forward pass is run under `Recorder`: every leaf module call (through pre/post forward
hooks) and every torch function called outside a leaf module (F.relu, torch.relu, x.relu(),
F.max_pool2d, x.view, ...; through a TorchFunctionMode) becomes one op
`[kind, name, inputs]`: kind "module" (name: the module's path) or "function" (name:
"F.relu", "torch.relu", "Tensor.relu", ...), inputs the indexes of the ops that produced its
tensor arguments. The grader reads the ops to judge the order operations run in, e.g. whether a
BatchNorm follows each convolution directly or only after an activation, whatever order the
modules were registered in.

Standard library and torch only (this runs next to student code, never imports grader).
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

MAX_OPS = 5000         # a ResNet-20 forward runs about 80 ops, a ResNet-152 about 520; the cap
#                        keeps result.json far below the sandbox's 8 MiB with several candidates

_IGNORED = {"size", "dim", "numel", "is_contiguous", "__get__", "__len__", "__bool__", "item",
            "__format__", "__repr__", "tolist", "stride", "ndimension", "nelement"}


def _tensors(value, depth: int = 0):
    """The tensors in an argument (nested tuples, lists and dicts, a few levels deep)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif depth < 3 and isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item, depth + 1)
    elif depth < 3 and isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item, depth + 1)


def _function_name(func) -> str:
    """'F.relu', 'torch.relu', 'Tensor.relu', ... as a student would write the call."""
    name = getattr(func, "__name__", None) or type(func).__name__
    module = getattr(func, "__module__", None) or ""
    qualname = getattr(func, "__qualname__", "") or ""
    if module == "torch.nn.functional":
        return f"F.{name}"
    if qualname.startswith(("TensorBase.", "Tensor.")):
        return f"Tensor.{name}"
    if module.startswith("torch") or qualname.startswith("_VariableFunctionsClass."):
        return f"torch.{name}"
    return name


class Recorder(TorchFunctionMode):
    """Records ops while active; attach() installs the module hooks first."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[list] = []
        self.truncated = False
        self._producer: dict[int, int] = {}     # id(tensor) -> index of the op that made it
        self._alive: list[torch.Tensor] = []    # keeps those ids from being reused
        self._depth = 0                         # > 0 inside a leaf module's forward
        self._pending: list[list[int]] = []     # inputs of the leaf modules being run

    # -- module hooks
    def attach(self, modules, register_pre, register_post) -> list:
        """Hook each (name, leaf module); returns the handles to remove."""
        handles = []
        for name, module in modules:
            handles.append(register_pre(module, self._pre))
            handles.append(register_post(module, lambda mod, inputs, output, name=name:
                                         self._post(name, output)))
        return handles

    def _pre(self, module, inputs) -> None:
        self._depth += 1
        self._pending.append(self._inputs(inputs))

    def _post(self, name: str, output) -> None:
        self._depth = max(0, self._depth - 1)
        inputs = self._pending.pop() if self._pending else []
        self._record("module", name, inputs, output)

    # -- functions
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self._depth or getattr(func, "__name__", "") in _IGNORED:
            return func(*args, **kwargs)
        inputs = self._inputs((args, kwargs))      # before an in-place op changes producers
        result = func(*args, **kwargs)
        if any(True for _ in _tensors(result)):
            self._record("function", _function_name(func), inputs, result)
        return result

    # -- bookkeeping
    def _inputs(self, value) -> list[int]:
        seen = []
        for tensor in _tensors(value):
            op = self._producer.get(id(tensor))
            if op is not None and op not in seen:
                seen.append(op)
        return seen

    def _record(self, kind: str, name: str, inputs: list[int], output) -> None:
        if len(self.ops) >= MAX_OPS:
            self.truncated = True
            return
        index = len(self.ops)
        self.ops.append([kind, name[:200], inputs])
        for tensor in _tensors(output):
            self._producer[id(tensor)] = index      # an in-place op makes it the producer
            self._alive.append(tensor)


class FlopCounter(TorchFunctionMode):
    """Counts the multiply-accumulate work of one forward pass by FlopCounterMode's rules for
    convolutions, linear layers and matrix products (2 FLOPs per multiply-add; elementwise ops,
    pooling and biases not counted), from the torch functions the pass calls: F.conv*d and
    F.conv_transpose*d (nn.Conv*d), F.linear (nn.Linear), matmul / @ / mm / bmm / addmm /
    baddbmm / mv / dot, and einsum of two operands. Unlike FlopCounterMode it does not see
    inside other functions; attention and RNN layers count 0, as they do for FlopCounterMode
    on the CPU (torch's fused attention and LSTM kernels have no rule there): the CNNs graded
    here are counted exactly.
    FlopCounterMode is a TorchDispatchMode, and the first use of one imports torch._dynamo
    (about 1 s of every `grader check`); a TorchFunctionMode does not."""

    CONV = {"conv1d", "conv2d", "conv3d"}
    CONV_T = {"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"}
    MATMUL = {"matmul", "__matmul__", "__rmatmul__", "mm", "bmm", "mv", "dot", "addmm",
              "baddbmm", "addbmm", "addmv", "linear"}

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        try:
            if name in self.CONV | self.CONV_T | self.MATMUL or name == "einsum":
                self.total += self._flops(name, args, kwargs, result)
        except (TypeError, IndexError, ValueError, AttributeError):
            pass                                    # an unusual call: left uncounted
        return result

    def _flops(self, name: str, args, kwargs, out) -> int:
        if name == "einsum":
            return _einsum_flops(args)
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if name in self.CONV or name in self.CONV_T:
            x = args[0] if args else kwargs["input"]
            w = args[1] if len(args) > 1 else kwargs["weight"]
            spatial = x.shape[2:] if name in self.CONV_T else out.shape[2:]
            batch = x.shape[0] if x.dim() == w.dim() else 1
            return 2 * batch * _prod(w.shape) * _prod(spatial)
        if name == "linear":
            x = args[0] if args else kwargs["input"]
            return 2 * _prod(out.shape) * x.shape[-1]
        if name in ("addmm", "baddbmm", "addbmm", "addmv"):
            a = tensors[1]                          # (input, mat1, mat2)
            batches = tensors[1].shape[0] if name == "addbmm" else 1
            return 2 * _prod(out.shape) * batches * a.shape[-1]
        a = tensors[0]
        return 2 * max(1, _prod(out.shape)) * a.shape[-1]


def _einsum_flops(args) -> int:
    """torch.einsum of two operands, as torch runs it and FlopCounterMode counts it: one
    batched matrix product, 2 x the product of the labels' sizes, less the labels only one
    operand has and the output lacks (summed out first); 0 when no label is summed over both
    (an elementwise product). Other forms (one operand, three or more, "...") count 0."""
    equation, *operands = args
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    equation = equation.replace(" ", "")
    if len(operands) != 2 or "." in equation:
        return 0
    inputs, _, output = equation.partition("->")
    a, b = inputs.split(",")
    if "->" not in equation:        # implicit output: the labels seen once, in order
        output = "".join(sorted(c for c in set(a + b) if (a + b).count(c) == 1))
    sizes = {}
    for labels, tensor in ((a, operands[0]), (b, operands[1])):
        if len(labels) != tensor.dim():
            return 0
        sizes.update(zip(labels, (int(n) for n in tensor.shape)))
    if not any(label in b and label not in output for label in a):
        return 0                    # nothing summed over both: an elementwise product
    return 2 * _prod(n for label, n in sizes.items()
                     if (label in a and label in b) or label in output)


def _prod(values) -> int:
    total = 1
    for v in values:
        total *= int(v)
    return total
