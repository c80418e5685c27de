"""The "Your weights" part of a student's report: each model's own checkpoint as handed in
(ModelReport.weights), as plain data for student.html.j2, and the neutral note when the
weights' own predictions do not match predictions.csv.

Whether they match is judged against the spec's `[weights] agreement`: the spec given
(`grader report --assignment`), else the built-in spec of the result's assignment id. A result
file does not carry the threshold, but `grader evaluate` leaves its verdict as a note on the
weights (it starts with MISMATCH, the issue's own words); for a spec the report does not know,
that note decides. Charts come back as SVG text; grader.report.context embeds them like every
other chart.
"""

from __future__ import annotations

import functools

from grader.errors import GraderError
from grader.report import charts
from grader.results import EvaluationResult, ModelReport, WeightsReport
from grader.spec import Assignment, WeightsSpec, builtin_ids, load

LINEAR = "Linear"
MISMATCH = "your predictions.csv does not match the predictions of the weights you handed in"


def agreement_threshold(result: EvaluationResult,
                        assignment: Assignment | None = None) -> float | None:
    """The fraction of held-out images on which the weights and predictions.csv must agree;
    None when the result's spec is not known here."""
    if assignment is not None and assignment.id == result.assignment:
        return assignment.weights.agreement
    spec = _builtin_weights(result.assignment)
    return spec.agreement if spec is not None else None


@functools.lru_cache(maxsize=None)
def _builtin_weights(assignment_id: str) -> WeightsSpec | None:
    if assignment_id in builtin_ids():
        try:
            return load(assignment_id).weights
        except GraderError:
            pass
    return None


def _noted(weights: WeightsReport) -> bool:
    return any(note.lower().startswith(MISMATCH) for note in weights.notes)


def mismatch(weights: WeightsReport, threshold: float | None) -> bool:
    """The weights' own predictions and predictions.csv disagree more than the spec allows
    (threshold None: as `grader evaluate` judged it, by its note)."""
    if weights.agreement is None or weights.compared <= 0:
        return False
    if threshold is None:
        return _noted(weights)
    return weights.agreement < threshold


def mismatch_note(weights: WeightsReport) -> str:
    """The neutral sentence: what was compared and what was found, no more."""
    return (f"Y{MISMATCH[1:]} "
            f"(agreement {100 * weights.agreement:.1f}% on {weights.compared:,} held-out "
            "images).")


def weight_models(result: EvaluationResult) -> list[ModelReport]:
    """The models graded with a checkpoint the student handed in."""
    return [m for m in (result.check.models if result.check else []) if m.weights is not None]


def alerts(result: EvaluationResult, threshold: float | None) -> list[dict]:
    """A note per model whose weights disagree with predictions.csv (the report's top)."""
    out = []
    for model in weight_models(result):
        if mismatch(model.weights, threshold):
            out.append({"level": "note", "text": f"{model.title}: " + mismatch_note(model.weights)})
    return out


def section(model: ModelReport, threshold: float | None, *, prefix: str,
            fmt: str = "svg") -> dict:
    """One model's weights for the template: the report, its notes (less evaluate's own
    agreement note, which the mismatch note words), the mismatch note, the numbers the template
    words, and the per-layer sparsity chart as SVG (None when no layer was measured)."""
    w = model.weights
    assert w is not None
    svg = None
    if w.layers:
        svg = charts.sparsity_bars(
            [layer.name for layer in w.layers], [layer.sparsity for layer in w.layers],
            linear=[LINEAR in layer.type for layer in w.layers],
            overall=w.sparsity.overall if w.sparsity else None, prefix=prefix, fmt=fmt)
    weights_total = sum(layer.params for layer in w.layers)
    widest = max(w.layers, key=lambda layer: (layer.bits, layer.distinct_values), default=None)
    return {
        "m": model, "w": w,
        "notes": [note for note in w.notes if not note.lower().startswith(MISMATCH)],
        "total": weights_total or None,
        "widest": widest,
        "note": mismatch_note(w) if mismatch(w, threshold) else None,
        "agrees": w.agreement is not None and not mismatch(w, threshold),
        "svg": svg,
    }
