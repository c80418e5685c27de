"""Models the student's code builds without a class of its own, found statically.

- a module-level name bound to a module, with the attribute surgery that follows it:
  `model = models.resnet18(pretrained=True)` then `model.fc = nn.Linear(model.fc.in_features,
  200)`, `model.classifier[6] = ...`, `model.maxpool = nn.Identity()`, `net.add_module(...)`;
  `net = nn.Sequential(...)` (an `OrderedDict` too);
- a function of any name that returns a module (`get_model()`, `build_model(num_classes)`).

A binding is built in the sandbox by a generated function that runs only its statements: the
constructing call (without `.to(device)` or `.cuda()`), the surgery, and the assignments the
surgery reads (`num_ftrs = model.fc.in_features`), never a training loop or the body of
`if __name__ == "__main__":`. Nothing is evaluated here.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass

from grader.inputs import offline
from grader.inputs.discovery import (
    BUILD,
    Definition,
    ModelSource,
    Namespace,
    Slicer,
    module_classes,
)
from grader.inputs.library import library_path

CHAINED = {"to", "cuda", "cpu", "float", "double", "half", "train", "eval", "requires_grad_",
           "share_memory"}          # calls that give the same module back
ADDING = {"add_module", "append", "extend", "insert", "register_module"}
NOT_SURGERY = {"requires_grad", "training"}     # freezing is training, not architecture
TRAINING = {"backward", "step", "zero_grad", "fit", "train_model"}


@dataclass(frozen=True, eq=False)
class Binding:
    """A module-level name bound to a module the code builds, with the surgery after it."""

    name: str                       # the variable: "model"
    root: ast.stmt                  # `model = models.resnet18(...)`
    statements: tuple[tuple[int, ast.stmt], ...]   # (order, statement): root first, then the
    #                                 helper assignments and surgery, in namespace order
    unit_of: tuple                  # per statement, its Unit
    namespace: Namespace
    constructor: str                # "models.resnet18()": the call, weights and .to() left out
    changes: tuple[str, ...]        # "fc replaced", "a layer added"

    @property
    def unit(self):
        return self.unit_of[0]

    @property
    def line(self) -> int:
        return self.root.lineno

    @property
    def order(self) -> int:
        return self.statements[0][0]

    @property
    def description(self) -> str:
        """"models.resnet18() with fc replaced"."""
        return self.constructor + (f" with {', '.join(self.changes)}" if self.changes else "")


def _strip_chain(expr: ast.expr) -> ast.expr:
    """`models.resnet18(...).to(device)` -> `models.resnet18(...)`."""
    while (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute)
           and expr.func.attr in CHAINED and isinstance(expr.func.value, ast.Call)):
        expr = expr.func.value
    return expr


def _dotted(expr: ast.expr) -> str | None:
    parts = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    return ".".join([expr.id] + parts[::-1])


def _root_name(expr: ast.expr) -> str | None:
    """The variable an attribute or subscript target hangs off: `model.classifier[6]` -> model."""
    while isinstance(expr, (ast.Attribute, ast.Subscript)):
        expr = expr.value
    return expr.id if isinstance(expr, ast.Name) else None


class Builders:
    """What counts as building a module in one submission: library constructors (torch.nn,
    torchvision.models, timm), the student's nn.Module classes, and functions of any name that
    return a module."""

    def __init__(self, nss: list[Namespace]) -> None:
        self.nss = nss
        self.classes = {d.node.name for _, d in module_classes(nss)}
        self.factories: dict[str, tuple[Namespace, Definition]] = {}
        functions = [(ns, d) for ns in nss for d in ns.defs
                     if isinstance(d.node, ast.FunctionDef)]
        grew = True
        while grew:                 # a factory may call another factory
            grew = False
            for ns, d in functions:
                if d.node.name not in self.factories and self._returns_module(d.node):
                    self.factories[d.node.name] = (ns, d)
                    grew = True

    def library(self, call: ast.Call) -> str | None:
        """The library constructor's path ("torchvision.models.resnet18") of a call."""
        text = _dotted(call.func)
        return library_path(self.nss, text) if text else None

    def makes_module(self, expr: ast.expr | None) -> bool:
        expr = _strip_chain(expr) if expr is not None else None
        if not isinstance(expr, ast.Call):
            return False
        text = _dotted(expr.func)
        if text is None:
            return False
        if text in self.classes or text in self.factories:
            return True
        full = library_path(self.nss, text)
        if full is None:
            return False
        for short, long in (("nn.", "torch.nn."), ("models.", "torchvision.models."),
                            ("tvm.", "torchvision.models.")):
            if full.startswith(short):      # judged by its text: not imported at module level
                full = long + full[len(short):]
        last = full.rsplit(".", 1)[-1]
        if full.startswith("torch.nn."):
            return last[:1].isupper() and last not in {"Parameter", "ParameterList",
                                                      "ParameterDict", "CrossEntropyLoss"} \
                and not last.endswith("Loss")
        if full.startswith("timm."):
            return last == "create_model"
        return not last.endswith(("Weights", "_weights", "list_models")) and \
            last not in {"get_weight", "get_model_weights", "list_models"}

    def _returns_module(self, fn: ast.FunctionDef) -> bool:
        if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr in TRAINING for n in ast.walk(fn)):
            return False            # it trains: never run it to build a model
        assigned: set[str] = set()
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and self.makes_module(node.value):
                assigned |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        for node in _own_returns(fn):
            value = _strip_chain(node.value) if node.value is not None else None
            if self.makes_module(value) or (isinstance(value, ast.Name)
                                            and value.id in assigned):
                return True
        return False


def _own_returns(fn: ast.FunctionDef):
    """The function's return statements, not those of functions or classes inside it."""
    stack = list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return):
            yield node
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                   ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def _change(target: ast.expr, name: str) -> str | None:
    """"fc replaced" for `model.fc = ...`; None for what is not architecture."""
    if isinstance(target, ast.Attribute) and target.attr in NOT_SURGERY:
        return None
    text = ast.unparse(target)
    return text[len(name) + 1:] + " replaced" if text.startswith(name + ".") else (
        text[len(name):] + " replaced")


def bindings(nss: list[Namespace], builders: Builders) -> list[Binding]:
    """Every module-level name bound to a module the code builds (library constructors; a
    student class or factory only when surgery follows: otherwise it is that class's own
    candidate), with its surgery, in namespace order. Code too odd to read (nesting past the
    recursion limit) gives none."""
    try:
        return _bindings(nss, builders)
    except (RecursionError, ValueError, TypeError, MemoryError):
        return []


def _bindings(nss: list[Namespace], builders: Builders) -> list[Binding]:
    found: list[Binding] = []
    for ns in nss:
        open_: dict[str, dict] = {}        # name -> the binding being collected
        helpers: list[tuple[int, ast.stmt, object]] = []    # assignments reading a binding

        def close(name: str) -> None:
            b = open_.pop(name, None)
            if b is None:
                return
            library = builders.library(b["call"]) is not None and not (
                _dotted(b["call"].func) in builders.classes | set(builders.factories))
            if not library and not b["changes"]:
                return
            read = set()
            for _, stmt, _ in b["body"][1:]:
                read |= {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
            used = [h for h in helpers if h[0] > b["body"][0][0]
                    and any(t in read for t in _targets(h[1]))
                    and name in {n.id for n in ast.walk(h[1]) if isinstance(n, ast.Name)}
                    and h[0] < b["body"][-1][0]]
            body = sorted(b["body"] + used, key=lambda t: t[0])
            call = ast.Call(func=b["call"].func, args=b["call"].args, keywords=[
                k for k in b["call"].keywords
                if k.arg not in {"pretrained", "weights", "pretrained_backbone",
                                 "weights_backbone", "progress"}])
            found.append(Binding(name, body[0][1], tuple((o, s) for o, s, _ in body),
                                 tuple(u for _, _, u in body), ns, ast.unparse(call),
                                 tuple(dict.fromkeys(b["changes"]))))

        for order, unit, stmt in ns.file.statements():
            _scan(stmt, order, unit, builders, open_, helpers, close)
        for name in list(open_):
            close(name)
    return found


def _targets(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, ast.Assign):
        return {t.id for t in stmt.targets if isinstance(t, ast.Name)}
    return set()


def _scan(stmt, order, unit, builders: Builders, open_: dict, helpers: list, close) -> None:
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if len(targets) == 1 and isinstance(targets[0], ast.Name):
            name = targets[0].id
            value = _strip_chain(stmt.value)
            if isinstance(value, ast.Name) and value.id == name:
                return                      # model = model.to(device)
            if builders.makes_module(stmt.value):      # `model: nn.Module = ...` too
                if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(value)):
                    return                  # model = nn.DataParallel(model): the same one
                close(name)
                open_[name] = {"call": value, "body": [(order, stmt, unit)], "changes": []}
                return
            close(name)                     # rebound to something else
            if any(isinstance(n, ast.Name) and n.id in open_ for n in ast.walk(stmt.value)):
                helpers.append((order, stmt, unit))
            return
        for target in targets:
            name = _root_name(target)
            if name in open_ and not isinstance(target, ast.Name):
                change = _change(target, name)
                if change:
                    open_[name]["body"].append((order, stmt, unit))
                    open_[name]["changes"].append(change)
        return
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        func = stmt.value.func
        if isinstance(func, ast.Attribute) and func.attr in ADDING:
            name = _root_name(func.value)
            if name in open_:
                open_[name]["body"].append((order, stmt, unit))
                open_[name]["changes"].append("a layer added" if func.attr != "add_module"
                                              else f"{_first_arg(stmt.value)} added")
        elif isinstance(func, ast.Name) and func.id == "setattr" and stmt.value.args:
            name = _root_name(stmt.value.args[0])
            if name in open_:
                open_[name]["body"].append((order, stmt, unit))
                open_[name]["changes"].append(f"{_first_arg(stmt.value, 1)} replaced")


def _first_arg(call: ast.Call, index: int = 0) -> str:
    if len(call.args) > index and isinstance(call.args[index], ast.Constant):
        return str(call.args[index].value)
    return "a layer"


def binding_source(nss: list[Namespace], b: Binding, substituted: bool) -> ModelSource:
    """The module that builds a binding: `def __grader_build__(**_spec_args):` with the root
    call (no `.to(device)`), the surgery and the assignments it reads, then `return name`;
    the names these read are sliced in as for a class."""
    body = []
    for (_, stmt), unit in zip(b.statements, b.unit_of):
        stmt = ast.parse(ast.unparse(stmt)).body[0]      # a copy
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [
            getattr(stmt, "target", None)]
        if len(targets) == 1 and isinstance(targets[0], ast.Name) and (
                targets[0].id == b.name and getattr(stmt, "value", None) is not None):
            stmt.value = _strip_chain(stmt.value)
        body.append(stmt)
    notes = [note for (_, stmt), unit in zip(b.statements, b.unit_of)
             for note in offline.describe(offline.rewrites(stmt), unit.where)]
    fn = ast.parse(f"def {BUILD}(**_spec_args):\n    pass").body[0]
    fn.body = body + [ast.Return(ast.Name(b.name, ast.Load()))]
    offline.rewrite_tree(fn)        # before slicing: ResNet18_Weights is then not needed
    ast.increment_lineno(fn, b.line - 1)        # reported at the student's line
    last_order = b.statements[-1][0]
    slicer = Slicer(nss)
    slicer.add(Definition(frozenset({BUILD}), fn, b.unit, last_order + 1, synthetic=True),
               b.namespace, rank=1)
    code, included, line_map = slicer.render()
    header = ("# Built by grader from the submission: only the statements this model needs.\n"
              "# Nothing else from the student's files (training loops, downloads) is run.\n\n")
    offset = header.count("\n")
    where = b.unit.where
    last_unit = b.unit_of[-1]
    last = b.statements[-1][1].lineno
    if last_unit is not b.unit:
        built_from = f"{where}, line {b.line} to {last_unit.where}, line {last}"
    elif last != b.line:
        built_from = f"{where}, lines {b.line}-{last}"
    else:
        built_from = f"{where}, line {b.line}"
    return ModelSource(object_name=BUILD, qualname=b.name, kind="binding", where=where,
                       line=b.line, code=header + code, substituted=substituted,
                       included=included,
                       line_map=[(g + offset, w, o) for g, w, o in line_map],
                       call=b.description, built_from=built_from,
                       offline=tuple(notes + slicer.offline))


def factory_description(builders: Builders, fn: ast.FunctionDef) -> str:
    """What a factory returns, when it says so plainly: "models.resnet18() with fc replaced"."""
    open_: dict[str, dict] = {}
    seen: dict[str, dict] = {}

    def close(name: str) -> None:
        if name in open_:
            seen[name] = open_.pop(name)

    for order, stmt in enumerate(fn.body):
        _scan(stmt, order, None, builders, open_, [], close)
    seen.update(open_)
    for ret in _own_returns(fn):
        value = _strip_chain(ret.value) if ret.value is not None else None
        if isinstance(value, ast.Name) and value.id in seen:
            b = seen[value.id]
        elif isinstance(value, ast.Call) and builders.makes_module(value):
            b = {"call": value, "changes": []}
        else:
            continue
        call = b["call"]
        shown = ast.Call(func=call.func, args=call.args, keywords=[
            k for k in call.keywords if k.arg not in {"pretrained", "weights", "progress",
                                                      "pretrained_backbone",
                                                      "weights_backbone"}])
        changes = list(dict.fromkeys(b["changes"]))
        return ast.unparse(shown) + (f" with {', '.join(changes)}" if changes else "")
    return ""


UNFROZEN = "__grader_unfrozen__"     # the generated function that makes frozen parameters trainable


def freezes(node: ast.AST) -> bool:
    """The code sets requires_grad = False or calls requires_grad_(False) somewhere."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assign) and any(isinstance(t, ast.Attribute)
                                               and t.attr == "requires_grad"
                                               for t in sub.targets):
            return True
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and (
                sub.func.attr == "requires_grad_"):
            return True
    return False


def unfreeze(source: ModelSource) -> ModelSource:
    """source, built through a function that makes every parameter trainable again."""
    code = source.code + (f"\n\ndef {UNFROZEN}(**_spec_args):\n"
                          f"    model = {source.object_name}(**_spec_args)\n"
                          "    for parameter in model.parameters():\n"
                          "        parameter.requires_grad_(True)\n"
                          "    return model\n")
    return dataclasses.replace(source, code=code, object_name=UNFROZEN, unfrozen=True)
