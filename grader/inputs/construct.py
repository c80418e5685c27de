"""How the student builds a model: their own call, found statically, for classes with
required constructor arguments (`ResNetCIFAR(BasicBlock, [3, 3, 3])`, `HW4Net(task)`).

Nothing is evaluated here. A call is usable when every name its arguments read is bound at
module level (a class, a function, an import, a constant) or can be replaced by a literal: a
constant assigned at module level or in the enclosing function (`task = 1`), or the variable
of an enclosing `for` over a literal list or range (one construction per value). The call
text becomes `def __grader_build__(): return <call>` in the generated module, which only the
sandbox runs, so a hostile argument expression harms nothing outside it.
"""

from __future__ import annotations

import ast
import copy
import itertools
from dataclasses import dataclass

from grader.inputs.discovery import BUILTINS, Definition, Namespace, free_names
from grader.inputs.library import library_path
from grader.inputs.sources import Unit

MAX_PER_CLASS = 6           # distinct constructions kept per class (HW4Net(1), (2), (3) ...)
MAX_LOOP_VALUES = 8         # values taken from one `for x in [...]`


@dataclass(frozen=True, eq=False)
class Construction:
    """One call of a model class in the student's code, with literals inlined."""

    text: str                       # "HW4Net(1)": what the generated module calls
    unit: Unit                      # the file or cell where the student makes that call
    line: int                       # its line there
    order: int                      # position of its top-level statement in the namespace
    namespace: Namespace            # the namespace the call's names are looked up in
    note: str = ""                  # values inlined, e.g. "task = 1"

    @property
    def where(self) -> str:
        return f"{self.unit.where}, line {self.line}"


def required_args(nss: list[Namespace], d: Definition, depth: int = 0) -> list[str]:
    """Constructor (or factory) parameters without a default, `self` excluded."""
    node = d.node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return _required(node.args, skip=0)
    if not isinstance(node, ast.ClassDef):
        return []
    init = next((n for n in node.body if isinstance(n, ast.FunctionDef)
                 and n.name == "__init__"), None)
    if init is not None:
        return _required(init.args, skip=1)
    if depth < 5:
        for base in node.bases:
            name = ast.unparse(base).split(".")[-1]
            parent = next((c for ns in nss for c in ns.classes if c.node.name == name), None)
            if parent is not None and parent.node is not node:
                return required_args(nss, parent, depth + 1)
    return []


def takes(nss: list[Namespace], d: Definition, args: dict) -> bool | None:
    """Whether d (a class or a function) accepts the spec's keyword arguments: True, False, or
    None for a class whose constructor is a library class's (`class Net(models.ResNet)`
    without an __init__ of its own), which the student's own call then says how to build."""
    node, seen = d.node, 0
    while isinstance(node, ast.ClassDef) and seen < 6:
        seen += 1
        init = next((n for n in node.body if isinstance(n, ast.FunctionDef)
                     and n.name == "__init__"), None)
        if init is not None:
            node = init
            break
        parent = None
        for base in node.bases:
            text = ast.unparse(base)
            if library_path(nss, text) and not text.endswith("Module"):
                return None
            name = text.split(".")[-1]
            parent = next((c.node for ns in nss for c in ns.classes
                           if c.node.name == name and c.node is not node), None) or parent
        if parent is None:
            return not args         # nn.Module's own __init__ takes no arguments
        node = parent
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return not args
    a = node.args
    if a.kwarg is not None:
        return True
    names = {x.arg for x in a.args + a.kwonlyargs}
    return all(k in names for k in args)


def _required(args: ast.arguments, skip: int) -> list[str]:
    positional = args.posonlyargs + args.args
    count = len(positional) - len(args.defaults)
    names = [a.arg for a in positional[skip:max(skip, count)]]
    return names + [a.arg for a, default in zip(args.kwonlyargs, args.kw_defaults)
                    if default is None]


def constructions(nss: list[Namespace], d: Definition) -> list[Construction]:
    """The student's usable calls of d's class or function, in file order, deduplicated."""
    name, found, seen = d.node.name, [], set()
    for ns in nss:
        for order, unit, stmt in ns.file.statements():
            for call, chain in _calls(stmt, name, []):
                if unit is d.unit and d.node.lineno <= call.lineno <= d.node.end_lineno:
                    continue                # the class calling itself
                for c in _usable(call, chain, ns, unit, order, name):
                    if c.text not in seen and len(found) < MAX_PER_CLASS:
                        seen.add(c.text)
                        found.append(c)
    return found


def _calls(node: ast.AST, name: str, chain: list[ast.AST]):
    """(call, enclosing for-loops and functions, outermost first) for each call of `name`."""
    if isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Name) and node.func.id == name)
            or (isinstance(node.func, ast.Attribute) and node.func.attr == name)):
        yield node, chain
    inner = chain + [node] if isinstance(node, (ast.For, ast.FunctionDef,
                                                ast.AsyncFunctionDef)) else chain
    for child in ast.iter_child_nodes(node):
        yield from _calls(child, name, inner)


def _literal(node: ast.AST | None):
    """(True, value) when node is a literal Python can evaluate without running code."""
    if node is None:
        return False, None
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _loop_values(loop: ast.For) -> list | None:
    """At most MAX_LOOP_VALUES values of a `for` over a literal list or a literal range;
    None when they are not known (a range that Python would reject, too)."""
    ok, value = _literal(loop.iter)
    if ok and isinstance(value, (list, tuple)):
        return list(value)[:MAX_LOOP_VALUES]
    it = loop.iter
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
        bounds = [_literal(a) for a in it.args]
        if bounds and all(ok and isinstance(v, int) for ok, v in bounds):
            try:        # range(10**9) never built in full; range(1, 2, 3, 4) is no loop
                return list(itertools.islice(range(*[v for _, v in bounds]), MAX_LOOP_VALUES))
            except (TypeError, ValueError, OverflowError):
                return None
    return None


def _local_literal(function: ast.AST, name: str, before: int):
    """The literal last assigned to `name` in the function before line `before`, if any."""
    hit = (False, None)
    for sub in ast.walk(function):
        if (isinstance(sub, ast.Assign) and len(sub.targets) == 1
                and isinstance(sub.targets[0], ast.Name) and sub.targets[0].id == name
                and sub.lineno < before):
            hit = _literal(sub.value)
    return hit


def _usable(call: ast.Call, chain: list[ast.AST], ns: Namespace, unit: Unit, order: int,
            name: str) -> list[Construction]:
    names, _ = free_names(ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=call.args,
                                   keywords=call.keywords))
    names -= BUILTINS | {name}
    fixed: dict[str, object] = {}
    looped: dict[str, list] = {}
    functions = [n for n in chain if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for n in sorted(names):
        loop = next((f for f in reversed(chain) if isinstance(f, ast.For)
                     and isinstance(f.target, ast.Name) and f.target.id == n), None)
        if loop is not None:
            values = _loop_values(loop)
            if not values:
                return []
            looped[n] = values
            continue
        if functions:
            ok, value = _local_literal(functions[-1], n, call.lineno)
            if ok:
                fixed[n] = value
                continue
            if n in {a.arg for a in ast.walk(functions[-1].args) if isinstance(a, ast.arg)}:
                return []               # a parameter: its value is not known statically
        binding = ns.lookup(n, order)
        if binding is None:
            if not ns.bindings("*"):
                return []
            continue
        node = binding.node
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name):
            ok, value = _literal(node.value)
            if ok:
                fixed[n] = value
    results = []
    keys = sorted(looped)
    for combo in itertools.islice(itertools.product(*(looped[k] for k in keys)),
                                  MAX_PER_CLASS):
        values = {**fixed, **dict(zip(keys, combo))}
        text = ast.unparse(_inline(call, name, values))
        note = ", ".join(f"{k} = {v!r}" for k, v in values.items())
        results.append(Construction(text, unit, call.lineno, order, ns, note))
    return results


def _inline(call: ast.Call, name: str, values: dict[str, object]) -> ast.Call:
    """A copy of the call with `name(...)` as its function and the values put in."""

    class Put(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            if isinstance(node.ctx, ast.Load) and node.id in values:
                return ast.parse(repr(values[node.id]), mode="eval").body
            return node

    new = copy.deepcopy(call)
    new.func = ast.Name(id=name, ctx=ast.Load())
    new.args = [Put().visit(a) for a in new.args]
    new.keywords = [Put().visit(k) for k in new.keywords]
    return ast.fix_missing_locations(new)
