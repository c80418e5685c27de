"""Copied models: architecture fingerprints of the free-design models, compared pairwise.

A fingerprint is the model's layer sequence as `grader check` computed it in the sandbox (the
layer tables in the result files `grader evaluate` writes): per leaf module its type, weight
shape, output shape and parameter count. Module names are left out, so renaming `conv1` to
`c1` changes nothing. Student code is never run here.

Only models the spec leaves free are compared (DLStudio's Net3: a parameter range or nothing,
not an exact count or a reference's): a required architecture that everyone must match is
identical by design. A design shared by more than `common_max` students (the lecture's
example) is reported as common rather than flagged.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from grader.errors import InputError
from grader.results import EvaluationResult, LayerRow, load
from grader.spec import Assignment, ModelSpec

NEAR = 0.9                  # layer sequences this similar (difflib ratio) are "nearly identical"
NEAR_PARAMS = 0.02          # ... when their parameter counts also differ by at most 2%


@dataclass(frozen=True)
class Architecture:
    """One student's model as the checks saw it."""

    student: str
    model: str                      # the spec's model key
    title: str
    class_name: str | None
    params: int | None
    layers: tuple[LayerRow, ...]

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(f"{row.type}|{row.weight_shape}|{row.output_shape}|{row.params}"
                     for row in self.layers)


@dataclass(frozen=True)
class ModelMatch:
    a: str
    b: str
    model: str                      # model key
    title: str
    similarity: float               # difflib ratio of the two layer sequences (1.0: same)
    identical: bool                 # same layers, shapes and parameter counts, in order
    params_a: int | None
    params_b: int | None
    layers_a: tuple[LayerRow, ...]
    layers_b: tuple[LayerRow, ...]
    group: int                      # students whose fingerprint is exactly this one


FIXED_RANGE = 1.1          # a parameter range this narrow pins the architecture (ResNet-20's
#                            options A and B: 269,722 to 272,474)


def free_models(assignment: Assignment) -> list[ModelSpec]:
    """The models whose architecture is the student's own: the spec's `[integrity]
    free_models`, else those with no exact or reference count, no weighted_layers and no
    narrow parameter range (DLStudio's Net3; not ResNet-20, whose range only admits its two
    shortcut options)."""
    chosen = assignment.integrity.free_models
    if chosen is not None:
        return [m for m in assignment.models if m.key in chosen]
    return [m for m in assignment.models if m.weighted_layers is None and _loose(m.params)]


def _loose(params) -> bool:
    if params is None:
        return True
    if params.exact is not None or params.reference is not None:
        return False
    return params.min is None or params.max is None or params.max > FIXED_RANGE * params.min


@dataclass(frozen=True)
class OwnWeights:
    """A student's own checkpoint for one model, against their predictions.csv, as `grader
    evaluate` measured it (WeightsReport.agreement): the weights' labels on the held-out
    images, compared with the file's."""

    student: str
    model: str                              # the spec's model key
    title: str
    file: str                               # the checkpoint, as in the submission
    agreement: float | None                 # fraction of images with the same label
    compared: int                           # images compared


@dataclass(frozen=True)
class ResultSummary:
    """What integrity needs from one result file of `grader evaluate`."""

    student: str
    assignment: str
    models: tuple[Architecture, ...]        # every model found with a layer table
    accuracy: float | None                  # predictions.csv's held-out accuracy, if scored
    weights: tuple[OwnWeights, ...] = ()    # checkpoints compared with predictions.csv


def _summarise(path: Path) -> ResultSummary | str:
    try:
        result: EvaluationResult = load(path)
    except InputError as exc:
        return f"{exc}; not used"
    models = ()
    if result.check is not None:
        models = tuple(Architecture(result.student, r.key, r.title, r.class_name, r.params,
                                    tuple(r.layers))
                       for r in result.check.models if r.found and r.layers)
    accuracy = result.predictions.accuracy if result.predictions is not None else None
    weights = tuple(OwnWeights(result.student, r.key, r.title, r.weights.file,
                               r.weights.agreement, r.weights.compared)
                    for r in (result.check.models if result.check else [])
                    if r.weights is not None and r.weights.agreement is not None)
    return ResultSummary(result.student, result.assignment, models, accuracy, weights)


def read_results(results_dir: Path, students: list[str], assignment: Assignment, *,
                 jobs: int = 1) -> tuple[dict[str, ResultSummary], list[str]]:
    """The class's result files (this assignment's, these students'), and notes on the rest."""
    from grader.integrity.parallel import parallel_map

    paths = sorted(Path(results_dir).glob("*.json"))
    notes: list[str] = []
    found: dict[str, ResultSummary] = {}
    for item in parallel_map(_summarise, paths, jobs=jobs):
        if isinstance(item, str):
            notes.append(item)
        elif item.assignment == assignment.id and item.student in students:
            found[item.student] = item
    missing = [s for s in students if s not in found]
    if missing:
        notes.append(f"no result file for {len(missing)} of {len(students)} students in "
                     f"{results_dir} ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})"
                     ": their models were not compared")
    return found, notes


def free_architectures(results: dict[str, ResultSummary], assignment: Assignment
                       ) -> list[Architecture]:
    wanted = {m.key for m in free_models(assignment)}
    return [a for summary in results.values() for a in summary.models if a.model in wanted]


def compare_architectures(archs: list[Architecture], *, common_max: int
                          ) -> tuple[list[ModelMatch], list[str]]:
    """Pairs of the same free model that are identical or nearly so, and notes on designs
    shared too widely to flag."""
    matches: list[ModelMatch] = []
    notes: list[str] = []
    by_model: dict[str, list[Architecture]] = {}
    for arch in archs:
        by_model.setdefault(arch.model, []).append(arch)
    for key, group in by_model.items():
        tokens = [a.tokens for a in group]
        sizes: dict[tuple[str, ...], int] = {}
        for t in tokens:
            sizes[t] = sizes.get(t, 0) + 1
        common = {t for t, size in sizes.items() if size > common_max}
        for t in common:
            notes.append(f"{group[0].title}: {sizes[t]} students share one design "
                         f"({len(t)} layers, {_params(group, t)} parameters): common, "
                         "not flagged")
        for i in range(len(group)):
            for j in range(i + 1, len(group)):
                a, b = group[i], group[j]
                if tokens[i] in common and tokens[i] == tokens[j]:
                    continue
                identical = tokens[i] == tokens[j]
                if identical:
                    ratio = 1.0
                else:
                    matcher = difflib.SequenceMatcher(None, tokens[i], tokens[j], autojunk=False)
                    if matcher.real_quick_ratio() < NEAR or matcher.quick_ratio() < NEAR:
                        continue
                    ratio = matcher.ratio()
                    if ratio < NEAR or not _close(a.params, b.params):
                        continue
                matches.append(ModelMatch(a.student, b.student, key, a.title, ratio, identical,
                                          a.params, b.params, a.layers, b.layers,
                                          sizes[tokens[i]] if identical else 1))
    return matches, notes


def _close(x: int | None, y: int | None) -> bool:
    if x is None or y is None:
        return False
    return abs(x - y) <= NEAR_PARAMS * max(x, y, 1)


def _params(group: list[Architecture], tokens: tuple[str, ...]) -> str:
    arch = next(a for a in group if a.tokens == tokens)
    return f"{arch.params:,}" if arch.params is not None else "?"
