"""The per-layer table and the layer-by-layer comparison with the reference model.

Parameter figures come from the trusted recount (exported tensors); names, types and output
shapes from the harness. Student layers are matched to the reference's by module name when the
names mostly agree, else by position among the layers that hold parameters.
"""

from __future__ import annotations

import difflib
import re

from grader.discovery import translate_traceback
from grader.probe import Probe
from grader.results import LayerRow

WEIGHTED = ("Conv1d", "Conv2d", "Conv3d", "Linear", "LazyLinear", "LazyConv2d")
BATCHNORMS = ("BatchNorm2d", "SyncBatchNorm")


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


def _param_rows(report: dict | None, shapes: dict | None) -> list[dict]:
    rows = []
    for row in (report or {}).get("layers") or []:
        row = dict(row, params=owned(shapes, row["name"]))
        rows.append(row)
    return rows


def _pairs(student: list[dict], reference: list[dict]) -> dict[str, dict]:
    """Student layer name -> the reference layer it corresponds to: by name when the names
    mostly agree, else by aligning the two sequences of (type, weight shape) so that an extra
    or missing layer (a projection shortcut, say) does not shift every pair after it."""
    s_with = [r for r in student if r["params"]]
    r_with = [r for r in reference if r["params"]]
    ref_names = {r["name"]: r for r in r_with}
    by_name = {r["name"]: ref_names[r["name"]] for r in s_with if r["name"] in ref_names}
    if len(by_name) >= max(1, len(r_with) // 2):
        return by_name

    def sig(row: dict) -> tuple:
        return row["type"], tuple(row.get("weight_shape") or ())

    matcher = difflib.SequenceMatcher(None, [sig(r) for r in s_with], [sig(r) for r in r_with],
                                      autojunk=False)
    pairs = {}
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
            for s, r in zip(s_with[i1:i2], r_with[j1:j2]):
                same_kind = s["type"] == r["type"] and (s.get("weight_shape") or [])[2:] == (
                    r.get("weight_shape") or [])[2:]
                if op == "equal" or same_kind:
                    pairs[s["name"]] = r
    return pairs


def rows(probe: Probe) -> list[LayerRow]:
    student = _param_rows(probe.report, probe.shapes)
    reference = _param_rows(probe.reference_report, probe.reference_shapes)
    pairs = _pairs(student, reference) if reference else {}
    out = []
    for r in student:
        ref = pairs.get(r["name"])
        expected = ref["params"] if ref else None
        out.append(LayerRow(name=r["name"], type=r["type"], output_shape=r.get("output_shape"),
                            weight_shape=r.get("weight_shape"), params=r["params"],
                            expected_params=expected,
                            differs=expected is not None and expected != r["params"]))
    return out


def differences(probe: Probe) -> list[str]:
    """"fc1: 60,240 expected 69,240" for each layer that differs from the reference."""
    student = _param_rows(probe.report, probe.shapes)
    reference = _param_rows(probe.reference_report, probe.reference_shapes)
    if not reference:
        return []
    pairs = _pairs(student, reference)
    diffs = [f"{s['name']}: {s['params']:,} expected {pairs[s['name']]['params']:,}"
             for s in student if s["name"] in pairs and s["params"] != pairs[s["name"]]["params"]]
    paired = {id(r) for r in pairs.values()}
    extra = [s for s in student if s["params"] and s["name"] not in pairs]
    missing = [r for r in reference if r["params"] and id(r) not in paired]
    diffs += _unmatched(extra, "extra layer", "not in the reference")
    diffs += _unmatched(missing, "reference layer", "missing")
    return diffs


def _kind(row: dict) -> str:
    kernel = (row.get("weight_shape") or [])[2:]
    return f"{row['type']} {'x'.join(map(str, kernel))}" if kernel else row["type"]


def _unmatched(rows: list[dict], noun: str, verb: str) -> list[str]:
    """One line per layer, or a summary when there are many (e.g. projection shortcuts)."""
    if len(rows) <= 2:
        return [f"{noun} {r['name']} ({_kind(r)}, {r['params']:,}) {verb}" for r in rows]
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[_kind(r)] = kinds.get(_kind(r), 0) + 1
    parts = ", ".join(f"{n} {k}" for k, n in kinds.items())
    total = sum(r["params"] for r in rows)
    return [f"{len(rows)} {noun}s {verb} ({parts}; {total:,} parameters), the first "
            f"{rows[0]['name']}"]


def weighted_count(layers: list[dict]) -> int:
    """Convolutions larger than 1x1 plus fully connected layers (how ResNet-20 gets its 20)."""
    count = 0
    for row in layers:
        if row["type"] not in WEIGHTED:
            continue
        kernel = row.get("kernel") or []
        if row["type"].startswith(("Conv", "LazyConv")) and kernel and all(k == 1 for k in kernel):
            continue
        count += 1
    return count


def convs_without_batchnorm(layers: list[dict], order: list[str]) -> list[str]:
    types = {row["name"]: row["type"] for row in layers}
    missing = []
    for i, name in enumerate(order):
        if not types.get(name, "").startswith("Conv"):
            continue
        following = types.get(order[i + 1]) if i + 1 < len(order) else None
        if following not in BATCHNORMS and name not in {m.split(" ")[0] for m in missing}:
            missing.append(f"{name} (next: {following or 'nothing'})")
    return missing


_VIEW = re.compile(r"shape '\[([^\]]*)\]' is invalid for input of size (\d+)")
_MATMUL = re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)")


def explain_forward_error(probe: Probe, error: dict) -> str:
    """A hint a student can act on for the usual forward-pass mistakes."""
    message = error.get("message", "")
    match = _MATMUL.search(message)
    layers = (probe.report or {}).get("layers") or []
    if match:
        got, expected = int(match[2]), int(match[3])
        linear = next((r for r in layers if r["type"] == "Linear"
                       and len(r.get("weight_shape") or []) == 2
                       and r["weight_shape"][1] == expected and r.get("output_shape") is None),
                      None)
        before = _feature_map(probe)
        name = f"{linear['name']} = Linear({expected}, {linear['weight_shape'][0]})" \
            if linear else f"a Linear layer with in_features={expected}"
        return (f"{name} expects {expected:,} inputs per image but receives {got:,}{before}. "
                f"Set in_features to {got:,} (or fix the layers before it).")
    match = _VIEW.search(message)
    if match:
        return (f"x.view({match[1]}) cannot reshape {int(match[2]):,} values per image"
                f"{_feature_map(probe)}. Flatten with x.flatten(1) (or x.view(x.size(0), -1)) "
                "and make the next Linear layer's in_features match.")
    if error.get("type") == "NameError":
        return "The model uses a name its code never defines: " + message
    trace = error.get("traceback", "")
    if probe.source is not None:
        trace = translate_traceback(trace, probe.source)
    return "The forward pass raised an error on random input of the assignment's shape:\n" + \
        trace[-1200:]


def _feature_map(probe: Probe) -> str:
    """"; the feature map before it is 16x6x6 = 576 values" from the last 4-D output seen."""
    trace = (probe.report or {}).get("trace") or []
    maps = [shape for _, shape in trace if len(shape) == 4]
    if not maps:
        return ""
    c, h, w = maps[-1][1:]
    return f"; the feature map before it is {c}x{h}x{w} = {c * h * w:,} values"
