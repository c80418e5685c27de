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

The student's own weights (a model's `weights` checkpoint, grader.grading.weights): `weights`
items score their held-out accuracy as `accuracy` items score a retrained model's (absolute,
or relative to the reference's band); `sparsity` items the fraction of zero conv and linear
weights, linear between `zero` and `full`; `bits` items the bit width of the widest layer,
full points at or below `full` bits, none at or above `zero`. A `floor` on a sparsity or bits
item is an accuracy the weights must keep (absolute, or a fraction of the reference's), or the
item earns nothing: zeros bought with the accuracy are not a compression.

Under the spec's [held_out] public/private split (score_results), the held-out items (kinds
accuracy and predictions) are scored twice: on the private part, which decides the points, and
on the public part (ItemScore.public_earned), which students see before the due date; a
relative item's public score compares with the reference's public accuracies.

Localization: an accuracy or predictions item with `metric = "iou"` scores the boxes' mean IoU
(Scores.boxes.mean_iou: the retrained model's, or predictions.csv's), and `metric = "hits"` the
share of boxes with IoU at or above [task] iou_threshold; `full` and `zero` are in those units.
With basis "reference" the figure plus the reference's spread over seeds is divided by the mean
of the reference's per-seed figures (ReferenceBand.ious or .hits), as accuracy is; the public
part of a split compares with those same (private) reference figures. A model or file without
box scores earns nothing, with the reason.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import replace
from fnmatch import fnmatchcase

from grader.results import (
    BoxScores,
    CheckResult,
    ItemScore,
    ReferenceBand,
    Scores,
    TrainingResult,
    WeightsReport,
)
from grader.spec import Assignment, RubricItem

TOLERANCE = 1e-9    # 0.479465 / 0.5047 must reach a `full` of 0.95, not fall 2e-16 short
HELD_OUT_KINDS = ("accuracy", "predictions", "weights")   # items scored on the held-out images


def held_out(item: RubricItem) -> bool:
    """Whether the item's points depend on the held-out labels: the accuracy, predictions and
    weights kinds, and a sparsity or bits item with an accuracy `floor` (whether the weights
    kept it is a held-out figure too). Split into public and private parts, withheld beyond
    Gradescope's daily cap."""
    return item.kind in HELD_OUT_KINDS or (item.kind in ("sparsity", "bits")
                                           and item.floor is not None)


def score(assignment: Assignment, *, checks: list[CheckResult],
          accuracy: dict[str, float | None], reference: dict[str, ReferenceBand],
          predictions_accuracy: float | None, predictions_problem: str = "",
          part: str = "", weights: dict[str, WeightsReport | None] | None = None,
          boxes: dict[str, BoxScores | None] | None = None,
          predictions_boxes: BoxScores | None = None) -> list[ItemScore]:
    """One ItemScore per rubric item, in the rubric's order.

    accuracy maps model keys to retrained held-out accuracy (fractions 0..1; None or absent
    when the model crashed or was not trained); reference maps them to the reference's band
    (absent when no reference run finished). predictions_accuracy is predictions.csv's
    held-out accuracy, None when it is missing or invalid, in which case predictions_problem
    says why. `part` names the part of a split held-out set the figures are on ("the
    private 70%"), for the reasons; empty: all of it. weights maps the keys of models with
    a checkpoint to its report (None: the model was not found or did not build). boxes maps
    model keys to their retrained box scores and predictions_boxes is predictions.csv's, for
    the items with metric "iou" or "hits" (None or absent: not scored).
    """
    items = []
    for item in assignment.rubric:
        if item.kind == "check":
            items.append(_check_item(item, checks))
        elif item.kind in ("accuracy", "predictions") and item.metric != "accuracy":
            items.append(_box_item(item, assignment, boxes or {}, predictions_boxes,
                                   predictions_problem, reference, part))
        elif item.kind == "accuracy":
            items.append(_accuracy_item(item, assignment, accuracy, reference, part))
        elif item.kind in ("weights", "sparsity", "bits"):
            items.append(_weights_item(item, assignment, (weights or {}).get(item.model),
                                       reference.get(item.model)))
        else:
            items.append(_predictions_item(item, predictions_accuracy, predictions_problem,
                                           part))
    return items


def score_results(assignment: Assignment, *, checks: list[CheckResult],
                  training: list[TrainingResult], bands: list[ReferenceBand],
                  predictions: Scores | None, predictions_problem: str = "",
                  weights: dict[str, WeightsReport | None] | None = None) -> list[ItemScore]:
    """score() from the retrained models, the reference's bands and predictions.csv's scores
    (and the checkpoints' reports, `weights`, as score() takes them).
    Under the spec's [held_out] split the figures are the private part's and each held-out
    item also carries its public part's points and reasons (public_earned, public_reasons)."""
    fraction = assignment.held_out.public_fraction if assignment.held_out.split else 0.0

    def items(public: bool, part: str) -> list[ItemScore]:
        def figure(scores: Scores | None) -> float | None:
            if scores is None:
                return None
            return scores.public_accuracy if public else scores.accuracy

        def box_figures(scores: Scores | None) -> BoxScores | None:
            boxes = scores.boxes if scores is not None else None
            return public_boxes(boxes) if public and boxes is not None else boxes

        return score(assignment, checks=checks,
                     accuracy={t.model: figure(t.scores) if t.ok else None for t in training},
                     reference={b.model: public_band(b) if public else b for b in bands},
                     predictions_accuracy=figure(predictions),
                     predictions_problem=predictions_problem, part=part,
                     weights={k: public_weights(w) for k, w in (weights or {}).items()}
                     if public else weights,
                     boxes={t.model: box_figures(t.scores) if t.ok else None
                            for t in training},
                     predictions_boxes=box_figures(predictions))

    if not fraction:
        return items(False, "")
    private = items(False, f"the private {share(1 - fraction)}")
    public = items(True, f"the public {share(fraction)}")
    split = {i.id for i in assignment.rubric if held_out(i)}
    return [replace(p, public_earned=q.earned, public_reasons=q.reasons)
            if p.id in split else p for p, q in zip(private, public)]


def public_weights(w: WeightsReport | None) -> WeightsReport | None:
    """A checkpoint's report as the public part of a split held-out set sees it."""
    return None if w is None else replace(w, accuracy=w.public_accuracy)


def public_boxes(boxes: BoxScores) -> BoxScores | None:
    """Box scores as the public part of a split held-out set sees them (None: no public
    figure)."""
    if boxes.public_mean_iou is None:
        return None
    return replace(boxes, mean_iou=boxes.public_mean_iou,
                   hits=boxes.public_hits if boxes.public_hits is not None else 0.0)


def public_band(band: ReferenceBand) -> ReferenceBand:
    """The reference's band on the public part of a split held-out set (its seeds' public
    accuracies; whether it learned stays the private part's call); the band itself when it
    has no public figures."""
    accuracies = band.public_accuracies
    if not accuracies:
        return band
    return replace(band, accuracies=list(accuracies), mean=statistics.fmean(accuracies),
                   spread=statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0)


def share(fraction: float) -> str:
    """A part of a split held-out set as a percentage: 0.3 -> '30%', 0.125 -> '12.5%'."""
    return f"{100 * fraction:.1f}".removesuffix(".0") + "%"


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
                   reference: dict[str, ReferenceBand], part: str = "") -> ItemScore:
    name = assignment.model(item.model).title
    on = f", on {part} of the held-out images" if part else ""
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
        return _item(item, fraction, [f"{name} reached {_pct(value, item.full)} after "
                                      f"retraining{on} ({_thresholds(item)})"])
    if band is None or band.mean <= 0:
        got = "no accuracy" if band is None else f"an accuracy of {_pct(band.mean)}"
        return _item(item, 0.0, [f"{name} reached {_pct(value)} after retraining{on}, but the "
                                 f"reference model has {got} to compare it with (a grading "
                                 "problem, not yours: tell the instructor)"])
    if len(band.accuracies) < 2:
        ratio = value / band.mean
        return _item(item, curve(ratio, item.full, item.zero),
                     [f"{name} reached {_pct(value)} after retraining{on}, "
                      f"{_pct(ratio, item.full)} "
                      f"of the reference's {_pct(band.mean)} ({_thresholds(item)})"])
    ratio = (value + band.spread) / band.mean
    return _item(item, curve(ratio, item.full, item.zero),
                 [f"{name} reached {_pct(value)} after retraining{on}; the reference reached "
                  f"{_pct(band.mean)} ± {_pct(band.spread)} over {len(band.accuracies)} seeds, "
                  f"so yours counts as {_pct(ratio, item.full)} of its mean (your accuracy plus "
                  f"its spread; {_thresholds(item)})"])


def _predictions_item(item: RubricItem, value: float | None, problem: str,
                      part: str = "") -> ItemScore:
    value = _number(value)
    if value is None:
        return _item(item, 0.0, [problem or "predictions.csv was not scored (missing or "
                                            "invalid), so it earns no points"])
    on = f"{part} of " if part else ""
    return _item(item, curve(value, item.full, item.zero),
                 [f"predictions.csv scored {_pct(value, item.full)} on {on}the held-out test "
                  f"set ({_thresholds(item)})"])


def _box_item(item: RubricItem, assignment: Assignment, boxes: dict[str, BoxScores | None],
              predictions_boxes: BoxScores | None, problem: str,
              reference: dict[str, ReferenceBand], part: str) -> ItemScore:
    """An accuracy or predictions item on the boxes: their mean IoU (metric "iou") or the
    share at or above the IoU threshold ("hits"), absolute or relative to the reference."""
    retrained, iou = item.kind == "accuracy", item.metric == "iou"
    name = assignment.model(item.model).title if retrained else \
        (assignment.predictions.file if assignment.predictions else "predictions.csv")
    scores = boxes.get(item.model) if retrained else predictions_boxes
    band = reference.get(item.model) if retrained and item.basis == "reference" else None
    if band is not None and not band.learned:
        return ItemScore(id=item.id, title=item.title, earned=0.0, possible=0.0, gradable=False,
                         reasons=[f"not gradable under this budget ({round(item.points, 2):g} "
                                  "points left out of the total, for every student): "
                                  + band.note])
    value = None if scores is None else _number(scores.mean_iou if iou else scores.hits)
    if value is None:
        why = ("after retraining (it crashed, timed out, was not trained, or left no boxes)"
               if retrained else f"({problem})" if problem else
               "(no boxes were scored: the file has none, or there are no held-out boxes)")
        return _item(item, 0.0, [f"{name} has no box scores {why}, so it earns no points for "
                                 "its boxes"])

    def figure(v: float, below: float | None = None) -> str:
        return f"mean IoU {_decimal(v, below)}" if iou else \
            f"{_pct(v, below)} of the boxes at IoU >= {scores.threshold:g}"

    on = f"{part} of the held-out images" if part else "the held-out images"
    if not retrained or item.basis != "reference":
        zero = f", none at or below {_unit(item.zero, iou)}" if item.zero is not None else ""
        return _item(item, curve(value, item.full, item.zero),
                     [f"{name}: {figure(value, item.full)} on {on}, below the "
                      f"{_unit(item.full, iou)} for full points{zero}"])
    figures = (band.ious if iou else band.hits) if band is not None else []
    mean = statistics.fmean(figures) if figures else 0.0
    if mean <= 0:
        return _item(item, 0.0, [f"{name}: {figure(value)} on {on}, but the reference model has "
                                 "no box scores to compare it with (a grading problem, not "
                                 "yours: tell the instructor)"])
    spread = statistics.stdev(figures) if len(figures) > 1 else 0.0
    ratio = (value + spread) / mean
    over = f" ± {_unit(spread, iou)} over {len(figures)} seeds" if len(figures) > 1 else ""
    plus = " plus its spread" if len(figures) > 1 else ""
    return _item(item, curve(ratio, item.full, item.zero),
                 [f"{name}: {figure(value)} on {on}; the reference reached {_unit(mean, iou)}"
                  f"{over}, so yours{plus} counts as {_pct(ratio, item.full)} of it "
                  f"({_thresholds(item)})"])


def _unit(value: float, iou: bool) -> str:
    """An IoU as a decimal (0.60), a hit rate as a percentage."""
    return _decimal(value) if iou else _pct(value)


def _decimal(value: float, below: float | None = None) -> str:
    """0.6 -> '0.60'; with more decimals where rounding would make a value short of `below`
    look like it reached it (0.596 of a 0.60 target -> '0.596')."""
    for decimals in (2, 3, 4, 5):
        text = f"{value:.{decimals}f}"
        if below is None or value >= below - TOLERANCE or float(text) < below:
            return text
    return text


def _weights_item(item: RubricItem, assignment: Assignment, w: WeightsReport | None,
                  band: ReferenceBand | None) -> ItemScore:
    """A weights, sparsity or bits item from the model's checkpoint report."""
    title = assignment.model(item.model).title
    own = f"{title}'s own weights" + (f" ({w.file})" if w is not None and w.file else "")
    if w is None:
        return _item(item, 0.0, [f"{title} was not found or did not build, so its checkpoint "
                                 "could not be loaded; the item earns nothing"])
    if not w.loaded:
        why = w.error or "; ".join(w.problems[:3]) or "it was not loaded"
        return _item(item, 0.0, [f"{own} could not be used ({why}); the item earns nothing"])
    relative = item.basis == "reference" and (item.kind == "weights" or item.floor is not None)
    if relative and band is not None and not band.learned:
        return ItemScore(id=item.id, title=item.title, earned=0.0, possible=0.0, gradable=False,
                         reasons=[f"not gradable under this budget ({round(item.points, 2):g} "
                                  "points left out of the total, for every student): "
                                  + band.note])
    accuracy = _number(w.accuracy)
    if item.kind == "weights":
        if accuracy is None:
            why = w.error or "they were not run on the held-out images"
            return _item(item, 0.0, [f"{own} have no held-out accuracy ({why}), so the item "
                                     "earns nothing"])
        ratio, text = _kept(item, own, accuracy, band)
        if ratio is None:
            return _item(item, 0.0, [text])
        return _item(item, curve(ratio, item.full, item.zero), [text])
    if item.floor is not None:
        if accuracy is None:
            return _item(item, 0.0, [f"{own} have no held-out accuracy, so the accuracy floor "
                                     f"of {_pct(item.floor)} cannot be checked; the item earns "
                                     "nothing"])
        ratio, text = _kept(item, own, accuracy, band)
        if ratio is None:
            return _item(item, 0.0, [f"{text}; the item earns nothing"])
        if ratio < item.floor - TOLERANCE:
            return _item(item, 0.0, [f"{text}: below the floor of {_pct(item.floor)} the "
                                     f"{item.kind} earns nothing"])
    if item.kind == "sparsity":
        if w.sparsity is None:
            return _item(item, 0.0, [f"{own} have no conv or linear weights measured"])
        value = w.sparsity.overall
        return _item(item, curve(value, item.full, item.zero),
                     [f"{own} have {_pct(value, item.full)} zeros among their conv and linear "
                      f"weights ({_thresholds(item)})"])
    if w.bits is None:
        return _item(item, 0.0, [f"{own} have no conv or linear weights measured"])
    fraction = 1.0 if w.bits <= item.full else 0.0
    if item.zero is not None and item.full < w.bits < item.zero:
        fraction = (item.zero - w.bits) / (item.zero - item.full)
    widest = max(w.layers, key=lambda layer: layer.bits, default=None)
    values = f" ({widest.name} has {widest.distinct_values:,} distinct values)" if widest else ""
    limit = (f"full points at {item.full:g} bits or fewer, none at {item.zero:g} or more"
             if item.zero is not None else f"all points at {item.full:g} bits or fewer")
    return _item(item, fraction, [f"{own} need {w.bits} bits{values}; {limit}"])


def _kept(item: RubricItem, own: str, accuracy: float, band: ReferenceBand | None
          ) -> tuple[float | None, str]:
    """The accuracy figure an item compares (the accuracy itself, or with basis "reference"
    the fraction of the reference band's mean it counts as) and the sentence that says so;
    None when there is no reference to compare with."""
    target = item.floor if item.kind != "weights" else item.full
    rules = f" ({_thresholds(item)})" if item.kind == "weights" else ""
    if item.basis == "absolute":
        return accuracy, f"{own} reached {_pct(accuracy, target)} on the held-out images{rules}"
    if band is None or band.mean <= 0:
        got = "no accuracy" if band is None else f"an accuracy of {_pct(band.mean)}"
        return None, (f"{own} reached {_pct(accuracy)} on the held-out images, but the "
                      f"reference model has {got} to compare it with (a grading problem, not "
                      "yours: tell the instructor)")
    spread = band.spread if len(band.accuracies) > 1 else 0.0
    ratio = (accuracy + spread) / band.mean
    plus = " plus its spread over seeds" if spread else ""
    return ratio, (f"{own} reached {_pct(accuracy)} on the held-out images, "
                   f"{_pct(ratio, target)} of the reference's {_pct(band.mean)} (your accuracy"
                   f"{plus}){rules}")


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
