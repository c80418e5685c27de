"""Rubric scoring on the built-in ECE 661 HW2 spec with hand-built results (grader/rubric.py)."""

from __future__ import annotations

import dataclasses

import pytest

from grader import spec
from grader.results import CheckResult, ItemScore
from grader.rubric import score, total

HW2 = spec.load("ece661-hw2")
MODELS = ("simplenn", "simplenn-bn", "resnet20")
REFERENCE = {"simplenn": 0.695, "simplenn-bn": 0.722, "resnet20": 0.88}


def all_checks(*failed: tuple[str, str]) -> list[CheckResult]:
    """Three passing checks per model plus predictions.format; `failed` = (id, message)."""
    messages = dict(failed)
    ids = [f"{m}.{c}" for m in MODELS for c in ("found", "params", "output")]
    ids.append("predictions.format")
    return [CheckResult(id=i, passed=i not in messages, message=messages.get(i, "ok"))
            for i in ids]


def run(assignment=HW2, *, checks=None, accuracy=None, reference=None,
        predictions=0.93, problem="") -> dict[str, ItemScore]:
    items = score(assignment, checks=all_checks() if checks is None else checks,
                  accuracy=dict(REFERENCE) if accuracy is None else accuracy,
                  reference_accuracy=dict(REFERENCE) if reference is None else reference,
                  predictions_accuracy=predictions, predictions_problem=problem)
    assert [i.id for i in items] == [r.id for r in assignment.rubric]
    return {i.id: i for i in items}


def with_item(item_id: str, **changes) -> spec.Assignment:
    rubric = tuple(dataclasses.replace(r, **changes) if r.id == item_id else r
                   for r in HW2.rubric)
    return dataclasses.replace(HW2, rubric=rubric)


def test_full_marks():
    items = run()
    assert total(list(items.values())) == (100.0, 100.0)
    assert all(i.earned == i.possible and i.reasons == [] for i in items.values())


def test_partial_credit_in_proportion_to_checks_passed():
    items = run(checks=all_checks(("simplenn.params",
                                   "fc1 has 60,240 parameters, expected 69,240")))
    assert items["lab1-model"].earned == 6.67          # 10 points * 2 of 3 checks
    assert items["lab1-model"].reasons == [
        "failed simplenn.params: fc1 has 60,240 parameters, expected 69,240"]
    # "simplenn.*" must not reach into "simplenn-bn.*"
    assert items["lab2-model"].earned == 10.0


def test_other_model_glob_not_confused():
    items = run(checks=all_checks(("simplenn-bn.output", "output shape [1, 12]")))
    assert items["lab1-model"].earned == 10.0
    assert items["lab2-model"].earned == 6.67


def test_all_or_nothing_check_item():
    items = run(checks=all_checks(("predictions.format", "line 3: id 'x' is not an integer")))
    assert items["predictions-format"].earned == 0.0
    assert items["predictions-format"].possible == 5.0
    assert items["predictions-format"].reasons == [
        "failed predictions.format: line 3: id 'x' is not an integer"]


# predictions item: full at 0.90, zero at 0.50, 25 points
@pytest.mark.parametrize("accuracy, points", [
    (0.95, 25.0), (0.90, 25.0), (0.80, 18.75), (0.70, 12.5), (0.60, 6.25), (0.52, 1.25),
    (0.50, 0.0), (0.10, 0.0)])
def test_linear_curve_between_zero_and_full(accuracy, points):
    item = run(predictions=accuracy)["predictions-accuracy"]
    assert item.earned == points
    if points < 25:
        assert item.reasons == [f"predictions.csv scored {accuracy * 100:g}% on the held-out "
                                "test set (full points at 90%, none at or below 50%)"]


def test_all_or_nothing_without_zero():
    assignment = with_item("predictions-accuracy", zero=None)
    assert run(assignment, predictions=0.90)["predictions-accuracy"].earned == 25.0
    item = run(assignment, predictions=0.899)["predictions-accuracy"]
    assert item.earned == 0.0
    assert item.reasons == ["predictions.csv scored 89.9% on the held-out test set "
                            "(all points at 90%, none below)"]


def test_relative_to_reference():
    accuracy = dict(REFERENCE, simplenn=0.612)
    item = run(accuracy=accuracy)["lab1-accuracy"]
    # 0.612 / 0.695 = 0.8806 of the reference; (0.8806 - 0.5) / (0.95 - 0.5) * 10 points
    assert item.earned == 8.46
    assert item.reasons == ["SimpleNN (Lab 1) reached 61.2% after retraining, 88.1% of the "
                            "reference's 69.5% (full points at 95%, none at or below 50%)"]


def test_reaching_the_full_ratio_exactly_earns_full_points():
    # 0.479465 / 0.5047 is 0.95 in decimal but 0.9499999999999998 in floating point
    assert 0.479465 / 0.5047 < 0.95
    # (it matters where there is no linear part to round it up: all or nothing)
    item = run(with_item("lab1-accuracy", zero=None), accuracy=dict(REFERENCE, simplenn=0.479465),
               reference=dict(REFERENCE, simplenn=0.5047))["lab1-accuracy"]
    assert item.earned == 10.0 and item.reasons == []


def test_just_short_of_full_ratio_is_not_shown_as_reaching_it():
    item = run(accuracy=dict(REFERENCE, simplenn=0.695 * 0.9496))["lab1-accuracy"]
    assert item.earned == 9.99
    assert "94.96% of the reference's 69.5% (full points at 95%" in item.reasons[0]


def test_absolute_basis():
    assignment = with_item("lab1-accuracy", basis="absolute", full=0.65, zero=0.45)
    item = run(assignment, accuracy=dict(REFERENCE, simplenn=0.6))["lab1-accuracy"]
    assert item.earned == 7.5
    assert item.reasons == ["SimpleNN (Lab 1) reached 60% after retraining (full points at 65%, "
                            "none at or below 45%)"]


@pytest.mark.parametrize("accuracy", [dict(REFERENCE, resnet20=None),
                                      {"simplenn": 0.7, "simplenn-bn": 0.7},
                                      dict(REFERENCE, resnet20=float("nan"))],
                         ids=["None", "absent", "NaN"])
def test_missing_accuracy_earns_zero_with_reason(accuracy):
    item = run(accuracy=accuracy)["lab3-accuracy"]
    assert (item.earned, item.possible) == (0.0, 15.0)
    assert item.reasons == ["ResNet-20 (Lab 3) has no accuracy after retraining (it crashed, "
                            "timed out or was not trained), so it earns no accuracy points"]


def test_missing_reference_accuracy_is_named_a_grading_problem():
    item = run(reference=dict(REFERENCE, resnet20=None))["lab3-accuracy"]
    assert item.earned == 0.0
    assert "the reference model has no accuracy to compare it with (a grading problem" \
        in item.reasons[0]


def test_invalid_predictions_earn_zero_with_the_problem():
    problem = "predictions.csv line 3: id 'x' is not an integer; expected an integer 0 to 9999"
    item = run(predictions=None, problem=problem)["predictions-accuracy"]
    assert (item.earned, item.reasons) == (0.0, [problem])
    item = run(predictions=None)["predictions-accuracy"]
    assert item.earned == 0.0 and "predictions.csv was not scored" in item.reasons[0]


def test_glob_matching_no_check_earns_zero():
    assignment = with_item("lab1-model", checks=("simplenet.*",))
    item = run(assignment)["lab1-model"]
    assert item.earned == 0.0
    assert item.reasons == ["no check matched 'simplenet.*' (a rubric problem: tell the "
                            "instructor)"]


def test_one_unmatched_glob_counts_as_a_requirement_not_met():
    assignment = with_item("lab1-model", checks=("simplenn.*", "simplenn.flops"))
    item = run(assignment)["lab1-model"]
    assert item.earned == 7.5                          # 3 of 4 requirements
    assert item.reasons == ["no check matched 'simplenn.flops' (a rubric problem: tell the "
                            "instructor)"]
    item = run(with_item("lab1-model", checks=("simplenn.*", "simplenn.flops"),
                         partial=False))["lab1-model"]
    assert item.earned == 0.0


def test_no_checks_at_all_never_gives_check_points():
    items = run(checks=[])
    assert all(items[i].earned == 0.0 for i in ("lab1-model", "lab2-model", "lab3-model",
                                                "predictions-format"))


def test_total_rounds_to_two_decimals():
    items = [ItemScore("a", "A", 6.67, 10.0), ItemScore("b", "B", 3.33, 10.0),
             ItemScore("c", "C", 0.1, 0.2)]
    assert total(items) == (10.1, 20.2)
    assert total([]) == (0.0, 0.0)
