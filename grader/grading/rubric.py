"""Turn check results, retrained accuracies and the predictions score into rubric points.

The semantics are RubricItem's (grader/spec/types.py). Every lost point carries a reason a student
understands; a rubric glob that matches no check earns nothing ("no check matched ..."), since
a spec bug must never look like full marks. Points are rounded to 2 decimals.

Accuracy relative to the reference (basis = "reference") compares with the reference's band
(grader.results.ReferenceBand): the student's accuracy plus the band's spread (the reference's
standard deviation over its seeds, 0 with one seed) as a fraction of the band's mean, so a model
that lands within the reference's own seed-to-seed noise counts as training as well as it.
When the reference did not clearly beat chance under the budget (band.learned is False) such an
item is NOT GRADABLE: it earns nothing and is left out of the points possible
(ItemScore.gradable False, possible 0), for every student alike, with the reason. Awarding the
points neutrally would hand out marks for a comparison that was never made; withholding them
would fine every student for the grading budget. The instructor raises the budget and grades
again to get the item back.
"""

from __future__ import annotations

import math
from fnmatch import fnmatchcase

from grader.results import CheckResult, ItemScore, ReferenceBand
from grader.spec import Assignment, RubricItem

TOLERANCE = 1e-9    # 0.479465 / 0.5047 must reach a `full` of 0.95, not fall 2e-16 short


def score(assignment: Assignment, *, checks: list[CheckResult],
          accuracy: dict[str, float | None], reference: dict[str, ReferenceBand],
          predictions_accuracy: float | None, predictions_problem: str = "") -> list[ItemScore]:
    """One ItemScore per rubric item, in the rubric's order.

    accuracy maps model keys to retrained held-out accuracy (fractions 0..1; None or absent
    when the model crashed or was not trained); reference maps them to the reference's band
    (absent when no reference run finished). predictions_accuracy is predictions.csv's
    held-out accuracy, None when it is missing or invalid, in which case predictions_problem
    says why.
    """
    items = []
    for item in assignment.rubric:
        if item.kind == "check":
            items.append(_check_item(item, checks))
        elif item.kind == "accuracy":
            items.append(_accuracy_item(item, assignment, accuracy, reference))
        else:
            items.append(_predictions_item(item, predictions_accuracy, predictions_problem))
    return items


def total(items: list[ItemScore]) -> tuple[float, float]:
    """(points earned, points possible), rounded to 2 decimals."""
    return (round(sum(i.earned for i in items), 2), round(sum(i.possible for i in items), 2))


def curve(value: float, full: float, zero: float | None) -> float:
    """Fraction of the points for a value: 1 at >= full, 0 at <= zero, linear in between;
    all-or-nothing at full when zero is None."""
    if value >= full - TOLERANCE:
        return 1.0
    if zero is None or value <= zero:
        return 0.0
    return (value - zero) / (full - zero)


def _item(item: RubricItem, fraction: float, reasons: list[str]) -> ItemScore:
    earned = round(item.points * fraction, 2)
    return ItemScore(id=item.id, title=item.title, earned=earned, possible=round(item.points, 2),
                     reasons=reasons if earned < item.points else [])


def _check_item(item: RubricItem, checks: list[CheckResult]) -> ItemScore:
    matched = [c for c in checks if any(fnmatchcase(c.id, glob) for glob in item.checks)]
    unmatched = [g for g in item.checks if not any(fnmatchcase(c.id, g) for c in checks)]
    if not matched:
        return _item(item, 0.0, [f"no check matched {_globs(item.checks)} (a rubric problem: "
                                 "tell the instructor)"])
    failed = [c for c in matched if not c.passed]
    # A glob that matches nothing counts as one requirement not met.
    reasons = [f"failed {c.id}: {c.message}" for c in failed]
    reasons += [f"no check matched '{g}' (a rubric problem: tell the instructor)"
                for g in unmatched]
    required = len(matched) + len(unmatched)
    met = len(matched) - len(failed)
    if item.partial:
        fraction = met / required
    else:
        fraction = 1.0 if met == required else 0.0
    return _item(item, fraction, reasons)


def _accuracy_item(item: RubricItem, assignment: Assignment, accuracy: dict[str, float | None],
                   reference: dict[str, ReferenceBand]) -> ItemScore:
    name = assignment.model(item.model).title
    value = _number(accuracy.get(item.model))
    band = reference.get(item.model)
    if item.basis == "reference" and band is not None and not band.learned:
        return ItemScore(id=item.id, title=item.title, earned=0.0, possible=0.0, gradable=False,
                         reasons=[f"not gradable under this budget ({round(item.points, 2):g} "
                                  "points left out of the total, for every student): "
                                  + band.note])
    if value is None:
        return _item(item, 0.0, [f"{name} has no accuracy after retraining (it crashed, timed "
                                 "out or was not trained), so it earns no accuracy points"])
    if item.basis == "absolute":
        fraction = curve(value, item.full, item.zero)
        return _item(item, fraction, [f"{name} reached {_pct(value, item.full)} after retraining "
                                      f"({_thresholds(item)})"])
    if band is None or band.mean <= 0:
        got = "no accuracy" if band is None else f"an accuracy of {_pct(band.mean)}"
        return _item(item, 0.0, [f"{name} reached {_pct(value)} after retraining, but the "
                                 f"reference model has {got} to compare it with (a grading "
                                 "problem, not yours: tell the instructor)"])
    if len(band.accuracies) < 2:
        ratio = value / band.mean
        return _item(item, curve(ratio, item.full, item.zero),
                     [f"{name} reached {_pct(value)} after retraining, {_pct(ratio, item.full)} "
                      f"of the reference's {_pct(band.mean)} ({_thresholds(item)})"])
    ratio = (value + band.spread) / band.mean
    return _item(item, curve(ratio, item.full, item.zero),
                 [f"{name} reached {_pct(value)} after retraining; the reference reached "
                  f"{_pct(band.mean)} ± {_pct(band.spread)} over {len(band.accuracies)} seeds, "
                  f"so yours counts as {_pct(ratio, item.full)} of its mean (your accuracy plus "
                  f"its spread; {_thresholds(item)})"])


def _predictions_item(item: RubricItem, value: float | None, problem: str) -> ItemScore:
    value = _number(value)
    if value is None:
        return _item(item, 0.0, [problem or "predictions.csv was not scored (missing or "
                                            "invalid), so it earns no points"])
    return _item(item, curve(value, item.full, item.zero),
                 [f"predictions.csv scored {_pct(value, item.full)} on the held-out test set "
                  f"({_thresholds(item)})"])


def _number(value: float | None) -> float | None:
    """None for a missing or NaN accuracy (a diverged run is not a score)."""
    if value is None or math.isnan(value):
        return None
    return float(value)


def _thresholds(item: RubricItem) -> str:
    if item.zero is None:
        return f"all points at {_pct(item.full)}, none below"
    return f"full points at {_pct(item.full)}, none at or below {_pct(item.zero)}"


def _pct(fraction: float, below: float | None = None) -> str:
    """0.95 -> '95%', 0.6123 -> '61.2%'; with more decimals where rounding would make a value
    short of `below` look like it reached it (0.9496 of a 0.95 target -> '94.96%')."""
    for decimals in (1, 2, 3, 4):
        text = f"{100 * fraction:.{decimals}f}"
        if below is None or fraction >= below - TOLERANCE or float(text) < 100 * below:
            break
    if decimals == 1 and text.endswith(".0"):
        text = text[:-2]
    return text + "%"


def _globs(globs: tuple[str, ...]) -> str:
    return ", ".join(f"'{g}'" for g in globs)
