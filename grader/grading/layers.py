"""The per-layer table, the layer-by-layer comparison with the reference model, and the order
of operations in forward.

Parameter figures come from the trusted recount (exported tensors); names, types, output shapes,
the order modules run in and the ops of one forward pass (harness/dataflow.py) from the
harness. Layers are listed and compared in the order forward runs them, not the order they were
registered in: a student who registers every convolution first and every BatchNorm after has
the same network as the reference and is told so. Student layers are matched to the
reference's by aligning the two sequences of (type, weight shape), so an extra or missing layer
(a projection shortcut, say) does not shift every pair after it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from grader.grading.choose import Choice
from grader.grading.probe import Measurement
from grader.inputs.discovery import translate_traceback
from grader.results import LayerRow
from grader.sandbox.reports import HarnessError, Layer, ProbeReport

WEIGHTED = ("Conv1d", "Conv2d", "Conv3d", "Linear", "LazyLinear", "LazyConv2d")
BATCHNORMS = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LazyBatchNorm2d")
BATCHNORM_FUNCTIONS = ("batch_norm",)
# What an activation is, as a module type or a function name (F.relu, torch.relu, x.relu_()).
ACTIVATION_MODULES = ("ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU",
                      "GELU", "SiLU", "Mish", "Sigmoid", "Tanh", "Hardtanh", "Hardswish",
                      "Hardsigmoid", "Softplus", "Softsign", "LogSigmoid", "GLU", "Threshold")
ACTIVATIONS = ("relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "selu", "celu", "gelu",
               "silu", "mish", "sigmoid", "tanh", "hardtanh", "hardswish", "hardsigmoid",
               "softplus", "softsign", "logsigmoid", "glu", "threshold")
# Ops that only move or relabel data: looked through when asking what a convolution feeds.
PASS_THROUGH = ("contiguous", "clone", "to", "float", "double", "half", "type", "detach",
                "view", "reshape", "view_as", "reshape_as", "Identity")
SHOWN_DIFFERENCES = 4     # listed in a check message before "and N smaller differences"


def owned(shapes: dict[str, list[int]] | None, module: str) -> int:
    """Parameters held directly by `module` (not by its children)."""
    if not shapes:
        return 0
    total = 0
    prefix = f"{module}." if module else ""
    for name, shape in shapes.items():
        if name.startswith(prefix) and "." not in name[len(prefix):]:
            n = 1
            for s in shape:
                n *= s
            total += n
    return total


@dataclass(frozen=True, eq=False)
class _Row:
    """A leaf module with the parameters it owns directly, recounted."""

    layer: Layer
    params: int

    @property
    def name(self) -> str:
        return self.layer.name


def _param_rows(measured: Measurement) -> list[_Row]:
    """The leaf modules with their recounted parameters, in the order forward first ran them;
    modules that never ran (unused, or after an error) follow in registration order."""
    if measured.report is None:
        return []
    first_run: dict[str, int] = {}
    for position, name in enumerate(measured.report.order):
        first_run.setdefault(name, position)
    rows = [_Row(layer, owned(measured.shapes, layer.name)) for layer in measured.report.layers]
    never = len(first_run)
    return sorted(rows, key=lambda row: first_run.get(row.name, never))


def _sig(row: _Row) -> tuple:
    return row.layer.type, row.layer.weight_shape or ()


def _kind_of(row: _Row) -> tuple:
    """Type and kernel size: a layer can only be paired with one of the same kind."""
    return row.layer.type, (row.layer.weight_shape or ())[2:]


# Alignment scores: an identical layer is worth three paired ones of the same kind but another
# shape (fc1 with other in_features), so that alignment never trades an exact match away;
# equal names only break ties between equally good alignments (BN with bn1, not the previous
# block's bn2), and cannot add up to one pair.
_EXACT, _SAME_KIND, _SAME_NAME, _SAME_LEAF = 3000, 1000, 2, 1
_MAX_CELLS = 4_000_000          # larger tables fall back to difflib (thousands of layers)


def _pairs(student: list[_Row], reference: list[_Row]) -> dict[str, _Row]:
    """Student layer name -> the reference layer it corresponds to: the best alignment of the
    layers that hold parameters, each list in execution order (a longest common subsequence
    over (type, weight shape), layers of the same kind paired where shapes differ), so an extra
    or missing layer (a projection shortcut, say) does not shift every pair after it."""
    s_with = [r for r in student if r.params]
    r_with = [r for r in reference if r.params]
    n, m = len(s_with), len(r_with)
    if n * m > _MAX_CELLS:
        return _pairs_difflib(s_with, r_with)

    def gain(a: _Row, b: _Row) -> int:
        if _sig(a) == _sig(b):
            score = _EXACT
        elif _kind_of(a) == _kind_of(b):
            score = _SAME_KIND
        else:
            return 0
        if a.name == b.name:
            score += _SAME_NAME
        elif a.name.rsplit(".", 1)[-1] == b.name.rsplit(".", 1)[-1]:
            score += _SAME_LEAF
        return score

    best = [[0] * (m + 1) for _ in range(n + 1)]      # best[i][j]: s_with[i:] against r_with[j:]
    for i in range(n - 1, -1, -1):
        row, below = best[i], best[i + 1]
        for j in range(m - 1, -1, -1):
            g = gain(s_with[i], r_with[j])
            row[j] = max(below[j], row[j + 1], g + below[j + 1] if g else 0)
    pairs, i, j = {}, 0, 0
    while i < n and j < m:
        g = gain(s_with[i], r_with[j])
        if g and best[i][j] == g + best[i + 1][j + 1]:
            pairs[s_with[i].name] = r_with[j]
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def _pairs_difflib(s_with: list[_Row], r_with: list[_Row]) -> dict[str, _Row]:
    """A faster, greedier alignment for very large models."""
    matcher = difflib.SequenceMatcher(None, [_sig(r) for r in s_with],
                                      [_sig(r) for r in r_with], autojunk=False)
    pairs = {}
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
            for a, b in zip(s_with[i1:i2], r_with[j1:j2]):
                if op == "equal" or _kind_of(a) == _kind_of(b):
                    pairs[a.name] = b
    return pairs


def rows(choice: Choice) -> list[LayerRow]:
    """The student's layer table, in the order forward runs the layers."""
    student = _param_rows(choice.measured)
    reference = _param_rows(choice.reference)
    pairs = _pairs(student, reference) if reference else {}
    out = []
    for r in student:
        ref = pairs.get(r.name)
        expected = ref.params if ref else None
        out.append(LayerRow(name=r.name, type=r.layer.type,
                            output_shape=_listed(r.layer.output_shape),
                            weight_shape=_listed(r.layer.weight_shape), params=r.params,
                            expected_params=expected,
                            differs=expected is not None and expected != r.params))
    return out


def _listed(shape: tuple[int, ...] | None) -> list[int] | None:
    return list(shape) if shape is not None else None


@dataclass(frozen=True)
class Difference:
    """One way the student's layers differ from the reference's."""

    text: str                       # "fc1: 48,120 expected 69,240"
    delta: int                      # the student's parameters minus the reference's


def _differences(choice: Choice) -> list[Difference]:
    """Every difference, largest (in parameters) first."""
    student = _param_rows(choice.measured)
    reference = _param_rows(choice.reference)
    if not reference:
        return []
    pairs = _pairs(student, reference)
    diffs = [Difference(f"{s.name}: {s.params:,} expected {pairs[s.name].params:,}",
                        s.params - pairs[s.name].params)
             for s in student if s.name in pairs and s.params != pairs[s.name].params]
    paired = {id(r) for r in pairs.values()}
    extra = [s for s in student if s.params and s.name not in pairs]
    missing = [r for r in reference if r.params and id(r) not in paired]
    diffs += _unmatched(extra, "extra layer", "not in the reference", 1)
    diffs += _unmatched(missing, "reference layer", "missing", -1)
    return sorted(diffs, key=lambda d: -abs(d.delta))     # stable: ties keep layer order


def differences(choice: Choice) -> list[str]:
    """"fc1: 60,240 expected 69,240" for each way the layers differ, largest first."""
    return [d.text for d in _differences(choice)]


def differences_text(choice: Choice, shown: int = SHOWN_DIFFERENCES) -> str:
    """The largest differences and, for the rest, how many and how many parameters they
    add up to, so a short message cannot hide millions of extra parameters."""
    diffs = _differences(choice)
    text = "; ".join(d.text for d in diffs[:shown])
    rest = diffs[shown:]
    if rest:
        net = sum(d.delta for d in rest)
        text += (f"; and {len(rest)} smaller difference{'s' if len(rest) > 1 else ''} "
                 f"({net:+,} parameters)")
    return text


def _kind(row: _Row) -> str:
    kernel = (row.layer.weight_shape or ())[2:]
    return f"{row.layer.type} {'x'.join(map(str, kernel))}" if kernel else row.layer.type


def _unmatched(rows: list[_Row], noun: str, verb: str, sign: int) -> list[Difference]:
    """One difference per layer, or one summary when there are many (projection shortcuts)."""
    if len(rows) <= 2:
        return [Difference(f"{noun} {r.name} ({_kind(r)}, {r.params:,}) {verb}",
                           sign * r.params) for r in rows]
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[_kind(r)] = kinds.get(_kind(r), 0) + 1
    parts = ", ".join(f"{n} {k}" for k, n in kinds.items())
    total = sum(r.params for r in rows)
    largest = max(rows, key=lambda r: r.params)
    return [Difference(f"{len(rows)} {noun}s {verb} ({parts}; {total:,} parameters), the "
                       f"largest {largest.name} ({largest.params:,})", sign * total)]


def weighted_count(layers: tuple[Layer, ...]) -> int:
    """Convolutions larger than 1x1 plus fully connected layers (how ResNet-20 gets its 20)."""
    count = 0
    for layer in layers:
        if layer.type not in WEIGHTED:
            continue
        kernel = layer.kernel or ()
        if layer.type.startswith(("Conv", "LazyConv")) and kernel and all(k == 1 for k in kernel):
            continue
        count += 1
    return count


# ------------------------------------------------------------------ BatchNorm after each conv

@dataclass(frozen=True)
class BatchNormGap:
    """A convolution whose output does not go straight into a BatchNorm."""

    conv: str                       # the convolution's module name
    path: tuple[str, ...]           # what runs on its output: ("F.relu", "bn1 (BatchNorm2d)")
    activation: bool                # an activation runs first (BatchNorm after it, or none)
    batchnorm_later: bool           # a BatchNorm does follow, after that activation

    def __str__(self) -> str:
        text = " -> ".join((self.conv,) + (self.path or ("nothing",)))
        if self.batchnorm_later:
            return text + ", BatchNorm after the activation"
        return text + ", no BatchNorm"


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def batchnorm_gaps(report: ProbeReport) -> list[BatchNormGap]:
    """The convolutions not directly followed by a BatchNorm, judged from the ops forward ran
    (functional calls included) and which op fed which; from the module order alone when
    the harness recorded no ops."""
    types = {layer.name: layer.type for layer in report.layers}
    ops = report.ops
    if not ops:
        return _gaps_from_order(types, report.order)
    consumers: list[list[int]] = [[] for _ in ops]
    for index, op in enumerate(ops):
        for source in op.inputs:
            if 0 <= source < index:
                consumers[source].append(index)

    def label(index: int) -> str:
        name = ops[index].name
        return f"{name} ({types[name]})" if ops[index].kind == "module" and name in types \
            else name

    def what(index: int) -> str:
        kind, name = ops[index].kind, ops[index].name
        if kind == "module":
            kind_name = types.get(name, "")
            return ("batchnorm" if kind_name in BATCHNORMS else "activation"
                    if kind_name in ACTIVATION_MODULES else "pass" if kind_name in PASS_THROUGH
                    else "other")
        short = _short(name).rstrip("_")
        return ("batchnorm" if short in BATCHNORM_FUNCTIONS else "activation"
                if short in ACTIVATIONS else "pass" if short in PASS_THROUGH else "other")

    def next_ops(index: int) -> list[int]:
        """The ops that use index's output, looking through PASS_THROUGH ops (each op visited
        once: the ops come from the sandbox, and a forged graph must not explode here)."""
        found, todo, seen = [], list(consumers[index]), set()
        while todo:
            c = todo.pop(0)
            if c in seen:
                continue
            seen.add(c)
            if what(c) == "pass" and consumers[c]:
                todo += consumers[c]
            else:
                found.append(c)
        return found

    gaps: dict[str, BatchNormGap] = {}
    for index, op in enumerate(ops):
        name = op.name
        if op.kind != "module" or not types.get(name, "").startswith(("Conv", "LazyConv")):
            continue
        after = next_ops(index)
        if name in gaps or any(what(c) == "batchnorm" for c in after):
            continue
        if not after:
            gaps[name] = BatchNormGap(name, (), False, False)
            continue
        first = min(after)
        later = next((c for c in next_ops(first) if what(c) == "batchnorm"), None) \
            if what(first) == "activation" else None
        path = (label(first),) + ((label(later),) if later is not None else ())
        gaps[name] = BatchNormGap(name, path, what(first) == "activation", later is not None)
    return list(gaps.values())


def _gaps_from_order(types: dict[str, str], order: tuple[str, ...]) -> list[BatchNormGap]:
    """Without recorded ops: the module that runs next after each convolution."""
    gaps: dict[str, BatchNormGap] = {}
    for i, name in enumerate(order):
        if not types.get(name, "").startswith("Conv") or name in gaps:
            continue
        following = order[i + 1] if i + 1 < len(order) else None
        kind = types.get(following or "", "")
        if kind not in BATCHNORMS:
            path = (f"{following} ({kind})",) if following else ()
            gaps[name] = BatchNormGap(name, path, kind in ACTIVATION_MODULES, False)
    return list(gaps.values())


_VIEW = re.compile(r"shape '\[([^\]]*)\]' is invalid for input of size (\d+)")
_MATMUL = re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)")


def explain_forward_error(choice: Choice, error: HarnessError) -> str:
    """A hint a student can act on for the usual forward-pass mistakes."""
    message = error.message
    match = _MATMUL.search(message)
    layers = choice.report.layers if choice.report is not None else ()
    if match:
        got, expected = int(match[2]), int(match[3])
        linear = next((layer for layer in layers if layer.type == "Linear"
                       and len(layer.weight_shape or ()) == 2
                       and layer.weight_shape[1] == expected and layer.output_shape is None),
                      None)
        before = _feature_map(choice)
        name = f"{linear.name} = Linear({expected}, {linear.weight_shape[0]})" \
            if linear else f"a Linear layer with in_features={expected}"
        return (f"{name} expects {expected:,} inputs per image but receives {got:,}{before}. "
                f"Set in_features to {got:,} (or fix the layers before it).")
    match = _VIEW.search(message)
    if match:
        return (f"x.view({match[1]}) cannot reshape {int(match[2]):,} values per image"
                f"{_feature_map(choice)}. Flatten with x.flatten(1) (or x.view(x.size(0), -1)) "
                "and make the next Linear layer's in_features match.")
    if error.type == "NameError":
        return "The model uses a name its code never defines: " + message
    trace = error.traceback
    if choice.source is not None:
        trace = translate_traceback(trace, choice.source)
    return "The forward pass raised an error on random input of the assignment's shape:\n" + \
        trace[-1200:]


def _feature_map(choice: Choice) -> str:
    """"; the feature map before it is 16x6x6 = 576 values" from the last 4-D output seen."""
    trace = choice.report.trace if choice.report is not None else ()
    maps = [shape for _, shape in trace if len(shape) == 4]
    if not maps:
        return ""
    c, h, w = maps[-1][1:]
    return f"; the feature map before it is {c}x{h}x{w} = {c * h * w:,} values"
