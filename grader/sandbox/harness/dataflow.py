"""Sandboxed: record the operations a forward pass runs and which feeds which.

One forward pass is run under `Recorder`: every leaf module call (through pre/post forward
hooks) and every torch function called outside a leaf module (F.relu, torch.relu, x.relu(),
F.max_pool2d, x.view, ...; through a TorchFunctionMode) becomes one op
`[kind, name, inputs]`: kind "module" (name: the module's path) or "function" (name:
"F.relu", "torch.relu", "Tensor.relu", ...), inputs the indexes of the ops that produced its
tensor arguments. The grader reads the ops to judge the order operations run in, e.g. whether a
BatchNorm follows each convolution directly or only after an activation, whatever order the
modules were registered in.

Wrapper layers that call a layer function on an inner module's weight instead of calling the
module (ECE 661 HW4's `FP_Conv`: `F.conv2d(x, STE.apply(self.conv.weight, bits), ...)`, the
inner `nn.Conv2d` never runs) have that call stand for the inner module. A call of a layer
function (LAYER_FUNCTIONS: F.conv*d, F.linear, F.batch_norm, ...) made outside any leaf module
is owned by a leaf module when, among its arguments other than the input:
1. a tensor is one of the leaf's parameters or buffers (identity), or else
2. a tensor was computed from one by torch functions outside any leaf module (the recorder
   follows `quantize(self.conv.weight)`, `w * mask`, `STE.apply(w, bits)`'s arithmetic, `.data`,
   ...; a layer function's output is never followed, so activations stay nobody's), or else
3. the weight's shape equals that of a direct leaf child of the innermost non-leaf module whose
   forward is running (for weights that leave torch: numpy round trips, `torch.tensor(list)`);
   of several such children the first not yet claimed in that forward.
Only leaves that never ran as modules in the pass keep their calls (`resolve`): the call's op
becomes that module's op, so an FP_Conv's conv is judged like an nn.Conv2d (a BatchNorm right
after it, or not), and the layer table (harness.inspect_models) puts it where the call ran.

Standard library and torch only (this runs next to student code, never imports grader).
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

MAX_OPS = 5000         # a ResNet-20 forward runs about 80 ops, a ResNet-152 about 520; the cap
#                        keeps result.json far below the sandbox's 8 MiB with several candidates

# Layer functions a wrapper module may call on an inner module's weight (see the docstring).
LAYER_FUNCTIONS = {"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                   "conv_transpose3d", "linear", "bilinear", "batch_norm", "instance_norm",
                   "layer_norm", "group_norm", "embedding", "prelu"}

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
        self._owner: dict[int, str] = {}        # id(leaf parameter or buffer) -> leaf name
        self._derived: dict[int, str] = {}      # id(tensor computed from one) -> leaf name
        self._shape: dict[str, tuple] = {}      # leaf name -> its weight's shape
        self._scopes: list[list] = []           # running non-leaf modules: [children, claimed]
        self.ran: set[str] = set()              # leaf modules whose forward ran
        self.calls: list[tuple[int | None, str]] = []   # (op index, owning leaf) per owned call
        self.on_call = None                     # on_call(leaf name, output) when one is made

    # -- module hooks
    def attach(self, modules, register_pre, register_post, parents=()) -> list:
        """Hook each (name, leaf module) and each (non-leaf module, [names of its leaf
        children]) in `parents`; returns the handles to remove."""
        handles = []
        for name, module in modules:
            handles.append(register_pre(module, self._pre))
            handles.append(register_post(module, lambda mod, inputs, output, name=name:
                                         self._post(name, output)))
            for tensor in list(module._parameters.values()) + list(module._buffers.values()):
                if isinstance(tensor, torch.Tensor):
                    self._owner.setdefault(id(tensor), name)
            weight = module._parameters.get("weight")
            if isinstance(weight, torch.Tensor):
                self._shape[name] = tuple(weight.shape)
        for module, children in parents:
            children = [c for c in children if c in self._shape]
            if not children:
                continue
            handles.append(register_pre(module, lambda mod, inputs, children=children:
                                        self._enter(children)))
            handles.append(register_post(module, self._leave))
        return handles

    def _enter(self, children: list[str]) -> None:     # hooks must return None: a value
        self._scopes.append([children, set()])          # would replace the input or output

    def _leave(self, module, inputs, output) -> None:
        if self._scopes:
            self._scopes.pop()

    def _pre(self, module, inputs) -> None:
        self._depth += 1
        self._pending.append(self._inputs(inputs))

    def _post(self, name: str, output) -> None:
        self._depth = max(0, self._depth - 1)
        inputs = self._pending.pop() if self._pending else []
        self.ran.add(name)
        self._record("module", name, inputs, output)

    # -- layer functions called on a leaf module's weight
    def _owner_of(self, args, kwargs) -> str | None:
        """The leaf module a layer function call stands for, by the docstring's rules."""
        given = [t for t in _tensors(args[1:])] + \
            [t for key, value in kwargs.items() if key != "input" for t in _tensors(value)]
        for table in (self._owner, self._derived):
            for tensor in given:
                if id(tensor) in table:
                    return table[id(tensor)]
        if not given or not self._scopes:
            return None
        children, claimed = self._scopes[-1]
        shape = tuple(given[0].shape)
        matching = [c for c in children if self._shape[c] == shape]
        free = [c for c in matching if c not in claimed]
        owner = (free or matching or [None])[0]
        if owner is not None:
            claimed.add(owner)
        return owner

    def _derive(self, args, kwargs, result) -> None:
        """Marks `result` as computed from a leaf's parameter when an argument is one."""
        if not self._owner:
            return
        for tensor in _tensors((args, kwargs)):
            owner = self._owner.get(id(tensor)) or self._derived.get(id(tensor))
            if owner is not None:
                for out in _tensors(result):
                    if id(out) not in self._owner:
                        self._derived[id(out)] = owner
                        self._alive.append(out)
                return

    def resolve(self) -> set[str]:
        """After the pass: the owned calls of leaves that never ran become those leaves' ops;
        returns those leaves' names."""
        owners = set()
        for index, name in self.calls:
            if name in self.ran:
                continue
            owners.add(name)
            if index is not None:
                self.ops[index] = ["module", name[:200], self.ops[index][2]]
        return owners

    # -- functions
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self._depth:
            return func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if name in _IGNORED:
            result = func(*args, **kwargs)
            self._derive(args, kwargs, result)     # self.conv.weight.data
            return result
        inputs = self._inputs((args, kwargs))      # before an in-place op changes producers
        owner = self._owner_of(args, kwargs) if name in LAYER_FUNCTIONS else None
        result = func(*args, **kwargs)
        if owner is None and name not in LAYER_FUNCTIONS:
            self._derive(args, kwargs, result)
        index = None
        if any(True for _ in _tensors(result)):
            index = self._record("function", _function_name(func), inputs, result)
        if owner is not None:
            self.calls.append((index, owner))
            if self.on_call is not None:
                self.on_call(owner, result)
        return result

    # -- bookkeeping
    def _inputs(self, value) -> list[int]:
        seen = []
        for tensor in _tensors(value):
            op = self._producer.get(id(tensor))
            if op is not None and op not in seen:
                seen.append(op)
        return seen

    def _record(self, kind: str, name: str, inputs: list[int], output) -> int | None:
        if len(self.ops) >= MAX_OPS:
            self.truncated = True
            return None
        index = len(self.ops)
        self.ops.append([kind, name[:200], inputs])
        for tensor in _tensors(output):
            self._producer[id(tensor)] = index      # an in-place op makes it the producer
            self._alive.append(tensor)
        return index


class FlopCounter(TorchFunctionMode):
    """Counts the multiply-accumulate work of one forward pass by FlopCounterMode's rules for
    convolutions, linear layers and matrix products (2 FLOPs per multiply-add; elementwise ops,
    pooling and biases not counted), from the torch functions the pass calls: F.conv*d and
    F.conv_transpose*d (nn.Conv*d), F.linear (nn.Linear), matmul / @ / mm / bmm / addmm /
    baddbmm / mv / dot, and einsum of two operands. Unlike FlopCounterMode it does not see
    inside other functions; attention layers count 0, as they do for FlopCounterMode on the
    CPU (torch's fused attention kernels have no rule there): the CNNs graded here are counted
    exactly. Recurrent layers (torch's fused lstm, gru, rnn_tanh and rnn_relu, which nn.LSTM,
    nn.GRU and nn.RNN call, packed or not) count their input and hidden matrix products at
    every step, 2 x rows x columns of each weight matrix per token, gates included, as
    FlopCounterMode counts them (tests/test_flops.py).
    FlopCounterMode is a TorchDispatchMode, and the first use of one imports torch._dynamo
    (about 1 s of every `grader check`); a TorchFunctionMode does not."""

    CONV = {"conv1d", "conv2d", "conv3d"}
    CONV_T = {"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"}
    MATMUL = {"matmul", "__matmul__", "__rmatmul__", "mm", "bmm", "mv", "dot", "addmm",
              "baddbmm", "addbmm", "addmv", "linear"}

    RNN = {"lstm", "gru", "rnn_tanh", "rnn_relu"}

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
            elif name in self.RNN:
                self.total += _rnn_flops(args)
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


def _rnn_flops(args) -> int:
    """A fused recurrent call's matrix work: torch's lstm/gru/rnn take the input (T x B x F,
    B x T x F, or a packed sequence's data, tokens x F) and the flat list of weights (w_ih,
    w_hh and biases per layer and direction); each 2-D weight multiplies every token once."""
    x = args[0]
    tokens = x.shape[0] * x.shape[1] if x.dim() == 3 else x.shape[0]
    weights = next(a for a in args if isinstance(a, (list, tuple)) and a   # not hx's (h, c)
                   and all(isinstance(w, torch.Tensor) for w in a)
                   and any(w.dim() == 2 for w in a))
    return sum(2 * tokens * w.shape[0] * w.shape[1] for w in weights if w.dim() == 2)
