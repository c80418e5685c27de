"""Nothing downloads: pretrained weights are asked for, the same architecture is built.

`models.resnet18(pretrained=True)`, `weights="IMAGENET1K_V1"`, `weights=ResNet18_Weights.DEFAULT`
and `timm.create_model(..., pretrained=True)` would fetch weights from the internet, which the
sandbox does not have (and a grader must not depend on a model hub). The code the grader runs
asks for none instead: `pretrained=False`, `weights=None` (torchvision builds the same
architecture either way), and the report says what was changed. Pure functions over the
syntax tree and the source text; nothing runs here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

PRETRAINED = {"pretrained", "pretrained_backbone"}      # -> False
WEIGHTS = {"weights", "weights_backbone"}               # -> None


@dataclass(frozen=True)
class Rewrite:
    """One keyword that would download weights, and what it becomes."""

    keyword: ast.keyword
    text: str                   # the replacement value: "False" or "None"
    was: str                    # as the student wrote it: "pretrained=True"


def _asks_for_weights(kw: ast.keyword) -> bool:
    value = kw.value
    if isinstance(value, ast.Constant):
        return value.value not in (None, False, 0, "")
    return True                 # a name or an attribute (ResNet18_Weights.DEFAULT, pretrained)


def rewrites(node: ast.AST) -> list[Rewrite]:
    """The keywords in node's calls that would download weights, in source order."""
    found = []
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        for kw in call.keywords:
            if kw.arg in PRETRAINED and _asks_for_weights(kw):
                found.append(Rewrite(kw, "False", f"{kw.arg}={ast.unparse(kw.value)}"))
            elif kw.arg in WEIGHTS and _asks_for_weights(kw) and _weights_value(kw.value):
                found.append(Rewrite(kw, "None", f"{kw.arg}={ast.unparse(kw.value)}"))
    return sorted(found, key=lambda r: (r.keyword.value.lineno, r.keyword.value.col_offset))


def _weights_value(value: ast.expr) -> bool:
    """A torchvision weights value: a string ("IMAGENET1K_V1", "DEFAULT"), an enum member
    (ResNet18_Weights.DEFAULT), or a name; not a tensor expression such as `w * 2`."""
    if isinstance(value, ast.Constant):
        return isinstance(value.value, str)
    return isinstance(value, (ast.Attribute, ast.Name))


def rewrite_text(lines: list[str], first_line: int, found: list[Rewrite]) -> list[str]:
    """lines (the source lines from first_line on) with each keyword's value replaced, right
    to left so earlier columns stay valid."""
    lines = list(lines)
    for r in sorted(found, key=lambda r: (r.keyword.value.lineno, r.keyword.value.col_offset),
                    reverse=True):
        v = r.keyword.value
        start, end = v.lineno - first_line, v.end_lineno - first_line
        if not (0 <= start <= end < len(lines)):
            continue
        head = _chars(lines[start], v.col_offset)
        tail = lines[end][len(_chars(lines[end], v.end_col_offset)):]
        lines[start:end + 1] = [head + r.text + tail]
    return lines


def _chars(line: str, offset: int) -> str:
    """The start of line up to ast's column offset, which counts UTF-8 bytes, not characters
    (a student's `name="é"` before the keyword)."""
    return line.encode("utf-8")[:offset].decode("utf-8", errors="ignore")


class _Rewriter(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        for kw in node.keywords:
            if kw.arg in PRETRAINED and _asks_for_weights(kw):
                kw.value = ast.Constant(False)
            elif kw.arg in WEIGHTS and _asks_for_weights(kw) and _weights_value(kw.value):
                kw.value = ast.Constant(None)
        return node


def rewrite_tree(node: ast.AST) -> ast.AST:
    """node (changed in place) with every such keyword's value replaced."""
    return ast.fix_missing_locations(_Rewriter().visit(node))


def describe(found: list[Rewrite], where: str) -> list[str]:
    """'pretrained=True (train.py, line 12)' for each rewrite."""
    return [f"{r.was} ({where}, line {r.keyword.value.lineno})" for r in found]
