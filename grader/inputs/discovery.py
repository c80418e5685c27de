"""Finding model classes statically and cutting out the code that defines them.

Nothing is executed here. For each required model we find an accepted class or factory name
(nested classes included: `class Custom(DLStudio.ExperimentsWithCIFAR): class Net3(nn.Module)`),
then build a small module from the definitions it needs: its classes, functions, constants and
the imports that bind the names it uses, following names across notebook cells and into the
submission's own .py modules. Training loops, `drive.mount(...)`, downloads and unrelated
imports are left out, so an unrelated import that fails does not stop the model from loading.
"""

from __future__ import annotations

import ast
import builtins
import re
import textwrap
from dataclasses import dataclass, field

from grader.inputs import offline
from grader.inputs.library import library_class
from grader.inputs.sources import SourceFile, Unit

BUILTINS = set(dir(builtins)) | {"__file__", "__name__"}
BINDERS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.Assign, ast.AnnAssign,
           ast.AugAssign, ast.Import, ast.ImportFrom, ast.If, ast.Try)


@dataclass(frozen=True)
class Definition:
    """A top-level statement that binds names, or a class nested in a class."""

    names: frozenset[str]           # names it binds at module level
    node: ast.stmt
    unit: Unit
    order: int                      # position in the file's namespace (cells in order)
    qualname: str = ""              # classes: "Outer.Net3"; others: ""
    outer: str | None = None        # for a nested class: the enclosing top-level class
    in_function: str | None = None  # a class defined inside a function: that function
    synthetic: bool = False         # made by grader (an alias), rendered with ast.unparse

    @property
    def line(self) -> int:
        return self.node.lineno


@dataclass(frozen=True)
class ModelSource:
    """The code to build one model, ready to be written to a file in the sandbox."""

    object_name: str                # what to call in the generated module
    qualname: str                   # as the student wrote it ("CustomExperimentsWithCIFAR.Net3")
    kind: str                       # class | function | binding (grader.inputs.built)
    where: str                      # "models.py" or "hw.ipynb cell 4"
    line: int
    code: str                       # the generated module's text
    substituted: bool = False       # not an accepted name: the closest nn.Module class
    included: list[str] = field(default_factory=list)   # what the module was built from
    line_map: list[tuple[int, str, int]] = field(default_factory=list)  # generated line ->
    #   (where, original line): each part's first generated line and its first original line
    call: str = ""                  # how it is built, as text: "ResNetCIFAR(BasicBlock,
    #                                 [3, 3, 3])", "models.resnet18() with fc replaced"
    built_from: str = ""            # where the student builds it that way ("hw.ipynb cell 9,
    #                                 line 2"); empty when the grader calls it with the spec's args
    offline: tuple[str, ...] = ()   # weights asked for and not downloaded: "pretrained=True
    #                                 (train.py, line 12)"; built with pretrained=False/weights=None
    unfrozen: bool = False          # its code freezes parameters (requires_grad = False): they
    #                                 are made trainable again, since freezing is training, not
    #                                 architecture (every parameter is counted and retrained)

    @property
    def ident(self) -> str:
        """Identical builds share this: the definition and the call."""
        return f"{self.where}:{self.line}:{self.qualname}:{self.call}"


@dataclass
class Namespace:
    """One file's module-level namespace (a notebook's cells share one)."""

    file: SourceFile
    defs: list[Definition] = field(default_factory=list)
    classes: list[Definition] = field(default_factory=list)   # every class, nested included

    def bindings(self, name: str) -> list[Definition]:
        return [d for d in self.defs if name in d.names]

    def lookup(self, name: str, order: int) -> Definition | None:
        found = self.bindings(name)
        before = [d for d in found if d.order < order]
        if before:
            return before[-1]
        return found[0] if found else None


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        if any(a.name == "*" for a in node.names):
            return {"*"}
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
        elif isinstance(sub, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in sub.names if a.name != "*"}
    return names


def build_namespace(file: SourceFile) -> Namespace:
    ns = Namespace(file)
    for order, unit, node in file.statements():
        if isinstance(node, BINDERS):
            names = _bound_names(node)
            if isinstance(node, ast.If) and _is_main_guard(node):
                continue
            ns.defs.append(Definition(frozenset(names), node, unit, order,
                                      getattr(node, "name", "")))
        _collect_classes(ns, node, unit, order, prefix="", outer=None, function=None)
    return ns


def _is_main_guard(node: ast.If) -> bool:
    return "__main__" in ast.unparse(node.test)


def _collect_classes(ns: Namespace, node: ast.AST, unit: Unit, order: int, prefix: str,
                     outer: str | None, function: str | None) -> None:
    if isinstance(node, ast.ClassDef):
        qual = f"{prefix}{node.name}"
        if prefix or function:
            ns.classes.append(Definition(frozenset({node.name}), node, unit, order, qual,
                                         outer=outer, in_function=function))
        else:
            ns.classes.append(Definition(frozenset({node.name}), node, unit, order, qual))
        for child in node.body:
            _collect_classes(ns, child, unit, order, qual + ".", outer or node.name, function)
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for child in ast.walk(node):
            if isinstance(child, ast.ClassDef) and child is not node:
                ns.classes.append(Definition(frozenset({child.name}), child, unit, order,
                                             f"{prefix}{node.name}.{child.name}", outer=outer,
                                             in_function=f"{prefix}{node.name}"))


class _FreeNames(ast.NodeVisitor):
    """Names a statement reads from module scope (function locals and arguments excluded)."""

    def __init__(self) -> None:
        self.free: set[str] = set()
        self.attrs: set[tuple[str, str]] = set()   # (name, attribute) pairs like Outer.Net3
        self.scopes: list[set[str]] = []

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and not any(node.id in s for s in self.scopes):
            self.free.add(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name):
            self.attrs.add((node.value.id, node.attr))
        self.generic_visit(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        args = node.args
        for default in args.defaults + [d for d in args.kw_defaults if d is not None]:
            self.visit(default)
        every = args.posonlyargs + args.args + args.kwonlyargs + [
            a for a in (args.vararg, args.kwarg) if a is not None]
        if not isinstance(node, ast.Lambda):
            # decorators and annotations are evaluated where the function is defined
            for expr in node.decorator_list + [a.annotation for a in every] + [node.returns]:
                if expr is not None:
                    self.visit(expr)
        names = {a.arg for a in every}
        body = node.body if isinstance(node.body, list) else [node.body]
        for stmt in body:
            for sub in ast.walk(stmt):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
                elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                    names |= {(a.asname or a.name).split(".")[0] for a in sub.names}
                elif isinstance(sub, (ast.FunctionDef, ast.ClassDef)):
                    names.add(sub.name)
        self.scopes.append(names)
        for stmt in body:
            self.visit(stmt)
        self.scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in node.bases + node.keywords + node.decorator_list:
            self.visit(expr)
        for stmt in node.body:
            self.visit(stmt)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self.generic_visit(node)


def free_names(node: ast.AST) -> tuple[set[str], set[tuple[str, str]]]:
    visitor = _FreeNames()
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return set(), set()
    if isinstance(node, ast.ClassDef):
        visitor.visit_ClassDef(node)
        # names the class body binds (methods, class attributes) are not module names
        body = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        return visitor.free - body, visitor.attrs
    visitor.visit(node)
    return visitor.free, visitor.attrs


def is_module_class(ns_list: list[Namespace], cls: ast.ClassDef, seen: set[str] | None = None
                    ) -> bool:
    """An nn.Module subclass, directly, through a library model class (torchvision's ResNet,
    nn.Sequential) or through another class of the submission."""
    seen = seen or set()
    for base in cls.bases:
        text = ast.unparse(base)
        if text == "Module" or text.endswith("nn.Module") or text.endswith(".Module"):
            return True
        if library_class(ns_list, text):
            return True
        name = text.split(".")[-1]
        if name in seen:
            continue
        seen.add(name)
        for ns in ns_list:
            for d in ns.classes:
                if d.node.name == name and is_module_class(ns_list, d.node, seen):
                    return True
    return False


def _first_line(node: ast.stmt) -> int:
    return min([node.lineno] + [x.lineno for x in getattr(node, "decorator_list", [])])


def _segment(d: Definition, notes: list[str] | None = None) -> str:
    """d's source text, with any weights it would download asked for as none (notes gets what
    was changed)."""
    node = d.node
    start = _first_line(node)
    lines = d.unit.source.splitlines()[start - 1:node.end_lineno]
    found = offline.rewrites(node)
    if found:
        lines = offline.rewrite_text(lines, start, found)
        if notes is not None:
            notes += offline.describe(found, d.unit.where)
    return textwrap.dedent("\n".join(lines))


class Slicer:
    """Collects the statements a target needs, across a notebook's cells and local modules."""

    def __init__(self, namespaces: list[Namespace]) -> None:
        self.namespaces = namespaces
        self.by_module = {ns.file.module_name: ns for ns in namespaces if ns.file.module_name}
        self.chosen: list[tuple[int, int, Definition]] = []   # (module rank, order, def)
        self.seen: set[int] = set()
        self.holders: dict[str, set[str]] = {}    # enclosing class name -> nested names emitted
        self.offline: list[str] = []              # weights asked for, not downloaded

    def add(self, d: Definition, ns: Namespace, rank: int) -> None:
        if id(d.node) in self.seen:
            return
        self.seen.add(id(d.node))
        self.chosen.append((rank, d.order, d))
        names, attrs = free_names(d.node)
        for holder, attr in attrs:
            if holder in self.holders or holder == d.outer:
                nested = next((c for c in ns.classes
                               if c.outer == holder and c.qualname == f"{holder}.{attr}"), None)
                if nested is not None:
                    self.holders.setdefault(holder, set()).add(attr)
                    self.add(nested, ns, rank)
        for name in sorted(names - BUILTINS):
            if name in self.holders or name == d.outer:
                continue
            binding = ns.lookup(name, d.order)
            if binding is None:
                for star in ns.bindings("*"):
                    self.add(star, ns, rank)
                continue
            if isinstance(binding.node, ast.ImportFrom) and binding.node.level == 0 and (
                    binding.node.module in self.by_module):
                other = self.by_module[binding.node.module]
                imported = next((a for a in binding.node.names if (a.asname or a.name) == name))
                target = other.lookup(imported.name, 10**9)
                if target is not None and other is not ns:
                    self.add(target, other, rank - 1)
                    if imported.asname and imported.asname != imported.name:
                        alias = ast.parse(f"{imported.asname} = {imported.name}").body[0]
                        self.chosen.append((rank, binding.order, Definition(
                            frozenset({imported.asname}), alias, binding.unit, binding.order,
                            synthetic=True)))
                    continue
            self.add(binding, ns, rank)

    def render(self) -> tuple[str, list[str], list[tuple[int, str, int]]]:
        parts, included = [], []
        spans: list[tuple[str, int]] = []     # per part: (where, first original line)
        for _, _, d in sorted(self.chosen, key=lambda t: (t[0], t[1], t[2].line)):
            if d.synthetic:
                self.offline += offline.describe(offline.rewrites(d.node), d.unit.where)
                text = ast.unparse(offline.rewrite_tree(d.node))
            else:
                text = _segment(d, self.offline)
            if d.qualname and d.outer:
                label = f"class {d.qualname}"
            elif isinstance(d.node, (ast.ClassDef, ast.FunctionDef)):
                label = f"{type(d.node).__name__.replace('Def', '').lower()} {d.node.name}"
            else:
                label = ", ".join(sorted(d.names)) or "statement"
            included.append(f"{label} ({d.unit.where}, line {d.line})")
            parts.append(f"# --- from {d.unit.where}, line {d.line}\n{text}")
            spans.append((d.unit.where, _first_line(d.node)))
        for holder, names in self.holders.items():
            body = "\n".join(f"    {n} = {n}" for n in sorted(names))
            parts.append(f"# --- stands in for the enclosing class {holder}\n"
                         f"class {holder}:\n{body}")
        line_map, line = [], 1
        for part, (where, first) in zip(parts, spans):
            line_map.append((line + 1, where, first))     # + 1: the "# --- from" comment
            line += part.count("\n") + 2                  # + 2: the blank line between parts
        return "\n\n".join(parts) + "\n", included, line_map


def namespaces(files: list[SourceFile]) -> list[Namespace]:
    return [build_namespace(f) for f in files]


def module_classes(nss: list[Namespace]) -> list[tuple[Namespace, Definition]]:
    """Every nn.Module subclass in the submission, nested ones included."""
    return [(ns, d) for ns in nss for d in ns.classes if is_module_class(nss, d.node)]


BUILD = "__grader_build__"           # the generated function that builds a model as the student does
def model_source(nss: list[Namespace], ns: Namespace, d: Definition, substituted: bool,
                 *, args: dict | None = None, construction=None) -> ModelSource:
    """The module for one model. With a construction (the student's own call, found by
    grader.inputs.construct), the module ends with `def __grader_build__(): return <that call>`,
    evaluated only in the sandbox, and the names the call uses are sliced in too. The build
    function takes (and ignores) the spec's arguments: the student's call already says how."""
    slicer = Slicer(nss)
    if d.outer:
        slicer.holders[d.outer] = {d.node.name}
    slicer.add(d, ns, rank=0)
    object_name, call, built_from = d.node.name, "", ""
    if construction is not None:
        call, built_from = construction.text, construction.where
        node = ast.parse(f"def {BUILD}(**_spec_args):\n    return {call}").body[0]
        ast.increment_lineno(node, construction.line - 1)   # reported at the student's line
        slicer.add(Definition(frozenset({BUILD}), node, construction.unit, construction.order,
                              synthetic=True), construction.namespace, rank=1)
        object_name = BUILD
    else:
        call = f"{d.node.name}({', '.join(f'{k}={v!r}' for k, v in (args or {}).items())})"
    code, included, line_map = slicer.render()
    header = ("# Built by grader from the submission: only the definitions this model needs.\n"
              "# Nothing else from the student's files (training loops, downloads) is run.\n\n")
    offset = header.count("\n")
    return ModelSource(object_name=object_name, qualname=d.qualname or d.node.name,
                       kind="function" if isinstance(d.node, ast.FunctionDef) else "class",
                       where=d.unit.where, line=d.line, code=header + code,
                       substituted=substituted, included=included,
                       line_map=[(g + offset, w, o) for g, w, o in line_map],
                       call=call, built_from=built_from, offline=tuple(slicer.offline))


def original_line(source: ModelSource, line: int) -> tuple[str, int] | None:
    """Where a line of the generated module came from: (file or cell, line)."""
    best = None
    for start, where, first in source.line_map:
        if start <= line:
            best = (where, first + line - start)
    return best


def translate_traceback(text: str, source: ModelSource) -> str:
    """Point a traceback's frames in the generated module at the student's own file/cell."""
    def repl(match: re.Match) -> str:
        found = original_line(source, int(match[2]))
        return f'File "{found[0]}", line {found[1]}' if found else match[0]
    return re.sub(r'File "([^"]*/model_[\w]+\.py)", line (\d+)', repl, text)
