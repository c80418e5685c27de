"""Which classes could serve each required model, before anything runs.

A candidate for a model is a module the student's code builds, built one way (the spec's
arguments, or a call the student's code makes), that may be that model: its name does not say
it is something else. Modules are built by nn.Module classes (torchvision subclasses too), by
functions of any name that return one, and by module-level names bound to one with the
attribute surgery that follows (grader.inputs.built: `model = models.resnet18()` then
`model.fc = nn.Linear(512, 200)`, `net = nn.Sequential(...)`). Candidates are ranked statically by three kinds of evidence,
then by how well they fit the spec once probed (grader.grading.choose):

- the file: a spec can name the files each model is expected in (`files = [...]`); names are
  matched tolerantly (case, spaces, `-`/`_`, prefixes and suffixes such as `-dev1`,
  `-enhanced`, ` (1)`), and a file belongs to the model whose pattern it matches most
  specifically, so `simplenn-cifar10-dev.ipynb` is Lab 2's, not Lab 1's;
- the name: an accepted name, else a name that points at the model (MyResNet for ResNet20,
  BatchNormNN for a BatchNorm model), else nothing (taken only if it fits the spec);
- what the name excludes: `SimpleNN_nobn` is never the BatchNorm model, `SimpleNN_BN` never
  the plain one when the spec has a BatchNorm model too, `ResNet18` never ResNet-20, and a
  class named for another model stays with that model.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from grader.inputs import built, construct, discovery
from grader.inputs.discovery import ModelSource, Namespace
from grader.spec import Assignment, ModelSpec

MAX_BUILDS = 16             # candidate builds probed in one sandbox run, best ranked first
_NEGATED_BN = re.compile(r"(no|without|wo|non|minus)(bn|batchnorm)")
_BN = re.compile(r"bn|batchnorm")
_NOT_A_NUMBER_OF_THE_MODEL = re.compile(r"cifar\d*|imagenet\d*|coco\d*|hw\d+|lab\d+")


@dataclass(frozen=True)
class Candidate:
    """A class, factory function or module-level binding that may be one of the spec's
    models, built one way."""

    source: ModelSource     # the generated module that builds it, and the call
    file_rank: int          # 1: in a file the spec names for this model; 0: in a file named
    #                         for no model (or the spec names none); -1: another model's file
    file_exact: bool        # that file's name is the spec's exactly (after normalising)
    name_tier: int          # 2: an accepted name; 1: the name points at the model;
    #                         0: nothing in the name (taken only if it fits the spec)
    order: int              # where it is in the submission (file, then statement): the last
    #                         tie-breaker, a later one replacing an earlier one
    file_note: str = ""     # "in simplenn-cifar10-dev.ipynb, named for SimpleNN with BatchNorm"
    name_note: str = ""     # "an accepted name", "the name points at this model", ...


@dataclass(frozen=True)
class Exclusion:
    """A class not considered for a model, and why (shown in the report)."""

    name: str
    where: str
    line: int
    reason: str
    close: bool = False     # the name resembles the model's: worth showing why it was left out


def _compact(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def file_tokens(path: str) -> list[str]:
    stem = PurePosixPath(path).name.rsplit(".", 1)[0]
    return [t for t in re.split(r"[^a-z0-9]+", stem.lower()) if t]


def file_match(path: str, pattern: str) -> tuple[int, bool] | None:
    """(tokens of the pattern matched, exact) when the file's name contains the pattern's
    tokens in a row; a token may carry a trailing number ("dev" matches "dev1")."""
    want, got = file_tokens(pattern), file_tokens(path)
    if not want:
        return None
    for start in range(len(got) - len(want) + 1):
        if all(g == w or (g.startswith(w) and g[len(w):].isdigit())
               for g, w in zip(got[start:], want)):
            return len(want), got == want
    return None


def file_owners(path: str, assignment: Assignment) -> dict[str, bool]:
    """Model key -> exact, for the models whose `files` this file matches most specifically."""
    best, owners = 0, {}
    for spec in assignment.models:
        for pattern in spec.files:
            hit = file_match(path, pattern)
            if hit is None:
                continue
            if hit[0] > best:
                best, owners = hit[0], {}
            if hit[0] == best:
                owners[spec.key] = owners.get(spec.key, False) or hit[1]
    return owners


def _numbers(name: str) -> set[str]:
    return set(re.findall(r"\d+", _NOT_A_NUMBER_OF_THE_MODEL.sub("", _compact(name))))


def says_batchnorm(name: str) -> bool | None:
    """True when a class name says BatchNorm, False when it says none, None when silent."""
    compact = _compact(name)
    if _NEGATED_BN.search(compact):
        return False
    return True if _BN.search(compact) else None


def resembles(name: str, spec: ModelSpec) -> bool:
    """The name is close to an accepted name or the key (ratio 0.75, or contains one)."""
    wanted = [w for w in [_compact(n) for n in spec.names] + [_compact(spec.key)]
              if len(w) >= 5]         # "Net" resembles too much (LeNet, MyNet) to count
    return any(difflib.SequenceMatcher(None, _compact(name), w).ratio() >= 0.75
               or w in _compact(name) for w in wanted)


def name_tier(name: str, spec: ModelSpec, assignment: Assignment) -> tuple[int | None, str]:
    """(tier, note); tier None means the name says the class is something else."""
    lowered = name.lower()
    if name in spec.names or lowered in {n.lower() for n in spec.names}:
        return 2, "an accepted name"
    for other in assignment.models:
        if other.key != spec.key and lowered in {n.lower() for n in other.names}:
            return None, f"its name is accepted for {other.title}"
    bn = says_batchnorm(name)
    if spec.batchnorm_after_conv and bn is False:
        return None, "its name says it has no BatchNorm"
    siblings_bn = any(m.batchnorm_after_conv for m in assignment.models if m.key != spec.key)
    if not spec.batchnorm_after_conv and bn and siblings_bn:
        return None, "its name says it has BatchNorm (another model of the assignment does)"
    wanted_numbers = set().union(*(_numbers(n) for n in spec.names + (spec.key,)))
    if _numbers(name) and wanted_numbers and not _numbers(name) & wanted_numbers:
        return None, (f"the number in its name ({', '.join(sorted(_numbers(name)))}) is not "
                      f"the model's ({', '.join(sorted(wanted_numbers))})")
    if resembles(name, spec):
        return 1, "not an accepted name, but close to one"
    if spec.batchnorm_after_conv and bn:
        return 1, "not an accepted name, but it says BatchNorm"
    return 0, "nothing in its name points at this model"


def _components(nss: list[Namespace]) -> dict[str, str]:
    """Classes other nn.Module classes instantiate (blocks, layers), or that are handed to
    one as an argument (`ResNetCIFAR(BasicBlock, [3, 3, 3])`) -> one user."""
    modules = discovery.module_classes(nss)
    classes = {d.node.name for _, d in modules}
    used: dict[str, str] = {}
    for _, d in modules:
        names, _ = discovery.free_names(d.node)
        for n in names - {d.node.name}:
            used.setdefault(n, d.node.name)
    for ns in nss:
        for unit in ns.file.units:
            for call in ast.walk(unit.tree) if unit.tree is not None else ():
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and (
                        call.func.id in classes):
                    for arg in call.args + [k.value for k in call.keywords]:
                        if isinstance(arg, ast.Name) and arg.id in classes - {call.func.id}:
                            used.setdefault(arg.id, call.func.id)
    return used


def find(nss: list[Namespace], spec: ModelSpec, assignment: Assignment
         ) -> tuple[list[Candidate], list[Exclusion]]:
    """Every candidate for one model (class or accepted factory, each way it is built), best
    statically ranked first, and the classes excluded with the reason."""
    builders = built.Builders(nss)
    defs = [(ns, d) for ns, d in discovery.module_classes(nss)]
    accepted = {n.lower() for n in spec.names}
    defs += [(ns, d) for ns in nss for d in ns.defs      # factories: accepted names or any
             if isinstance(d.node, ast.FunctionDef)      # name that returns a module
             and (d.node.name.lower() in accepted or d.node.name in builders.factories)]
    components = _components(nss)
    any_files = any(m.files for m in assignment.models)
    found, exclusions = [], []
    rank_of = {id(ns): i for i, ns in enumerate(nss)}

    def position(ns: Namespace, order: int, index: int) -> int:
        """Where it is in the submission (file, then statement): a later one replaces an
        earlier one on a tie."""
        return (rank_of[id(ns)] * 10**6 + order) * 1000 + min(index, 999)

    for binding in built.bindings(nss, builders):
        tier, note = name_tier(binding.name, spec, assignment)
        if tier is None:
            exclusions.append(Exclusion(binding.name, binding.unit.where, binding.line, note,
                                        close=resembles(binding.name, spec)))
            continue
        rank, exact, file_note = _file_rank(binding.unit.file, spec, assignment, any_files)
        try:                        # code too odd to write out again (nesting past the
            source = built.binding_source(nss, binding, tier < 2)     # recursion limit)
        except (RecursionError, ValueError, TypeError, MemoryError):
            continue
        found.append(Candidate(source, rank, exact, tier,
                               position(binding.namespace, binding.order, 999), file_note, note))
    for index, (ns, d) in enumerate(defs):
        name = d.node.name
        tier, note = name_tier(name, spec, assignment)
        if tier is not None and tier < 2 and name in components:
            tier, note = None, f"a building block used by {components[name]}"
        if tier is not None and tier < 2 and d.in_function:
            tier, note = None, f"defined inside the function {d.in_function}"
        if tier is not None and tier < 2 and not spec.args and (
                required := construct.required_args(nss, d)) and not _constructions(nss, d):
            tier, note = None, (f"it needs arguments ({', '.join(required)}) and the code "
                                "never builds it")
        if tier is None:
            exclusions.append(Exclusion(d.qualname or name, d.unit.where, d.line, note,
                                        close=resembles(name, spec)))
            continue
        rank, exact, file_note = _file_rank(d.unit.file, spec, assignment, any_files)
        for source in _sources(nss, ns, d, spec, tier < 2, builders):
            found.append(Candidate(source, rank, exact, tier, position(ns, d.order, index),
                                   file_note, note))
    found.sort(key=lambda c: (-c.file_rank, -c.name_tier, c.order))
    return found, exclusions


def _file_rank(file: str, spec: ModelSpec, assignment: Assignment, any_files: bool
               ) -> tuple[int, bool, str]:
    owners = file_owners(file, assignment) if any_files else {}
    if spec.key in owners:
        return 1, owners[spec.key], f"in {file}, the file the assignment names for it"
    if owners:
        titles = ", ".join(assignment.model(k).title for k in owners)
        return -1, False, f"in {file}, the file the assignment names for {titles}"
    return 0, False, f"in {file}"


def _sources(nss, ns, d, spec: ModelSpec, substituted: bool,
             builders: built.Builders) -> list[ModelSource]:
    """The spec's arguments win when the class or function takes them; else it is built each
    way the student builds it (required arguments, a torchvision base class without its own
    __init__, a factory that takes no spec arguments); else it is called without arguments."""
    required = construct.required_args(nss, d)
    takes = construct.takes(nss, d, spec.args)
    if spec.args and takes:
        sources = [discovery.model_source(nss, ns, d, substituted, args=spec.args)]
    elif required or takes is None or (spec.args and takes is False):
        made = _constructions(nss, d)
        if made:
            sources = [discovery.model_source(nss, ns, d, substituted, construction=c)
                       for c in made]
        elif spec.args and takes is False and not required:
            bare = construct.Construction(f"{d.node.name}()", d.unit, d.line, d.order, ns)
            source = discovery.model_source(nss, ns, d, substituted, construction=bare)
            sources = [dataclasses.replace(source, built_from="")]
        else:
            sources = [discovery.model_source(nss, ns, d, substituted, args=spec.args)]
    else:
        sources = [discovery.model_source(nss, ns, d, substituted, args=spec.args)]
    if d.node.name in builders.factories:
        try:
            how = built.factory_description(builders, d.node)
        except (RecursionError, ValueError, TypeError, MemoryError):
            how = ""
        sources = [dataclasses.replace(s, call=f"{s.call} ({how})") if how else s
                   for s in sources]
    if built.freezes(d.node):       # freezing is training: every parameter is counted
        sources = [built.unfreeze(s) for s in sources]
    return sources


def _constructions(nss, d) -> list:
    """The student's calls; code too odd to read statically (nesting past the recursion
    limit, say) counts as none: the class is then called as the spec says."""
    try:
        return construct.constructions(nss, d)
    except (RecursionError, ValueError, TypeError, OverflowError, SyntaxError, MemoryError):
        return []


def prune(per_model: list[list[Candidate]]) -> list[list[Candidate]]:
    """Keep what is worth probing: every candidate, since checks outrank names (a nameless
    `model = models.resnet18()` that passes every check beats the template's broken `ResNet18`,
    so it must be probed too); at most MAX_BUILDS distinct builds, the best ranked of each
    model first (named ones before nameless ones)."""
    allowed = {c.source.ident for c in probe_order(per_model)[:MAX_BUILDS]}
    return [[c for c in ranked if c.source.ident in allowed] for ranked in per_model]


def probe_order(per_model: list[list[Candidate]]) -> list[Candidate]:
    """Distinct builds, round-robin over the models in rank order: every model's best
    candidate is probed before any model's second (a hung one then costs the least)."""
    seen, order = set(), []
    for rank in range(max((len(ranked) for ranked in per_model), default=0)):
        for ranked in per_model:
            if rank < len(ranked) and ranked[rank].source.ident not in seen:
                seen.add(ranked[rank].source.ident)
                order.append(ranked[rank])
    return order
