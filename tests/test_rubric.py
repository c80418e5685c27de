"""Rubric scoring on the built-in ECE 661 HW2 spec with hand-built results (grader/grading/rubric.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from grader import spec
from grader.errors import SpecError
from grader.results import CheckResult, EpochStats, ItemScore, ReferenceBand, TrainingResult
from grader.grading.retrain import chance_accuracy, reference_band, reference_seeds
from grader.grading.rubric import score, total
from grader.cli.terminal import evaluation_table
from tests.factories.specs import model_toml, spec_toml

HW2 = spec.load("ece661-hw2")
MODELS = ("simplenn", "simplenn-bn", "resnet20")
REFERENCE = {"simplenn": 0.695, "simplenn-bn": 0.722, "resnet20": 0.88}


def band(model: str, *accuracies: float, chance: float = 0.1) -> ReferenceBand:
    """The band reference_band makes from finished runs with these final accuracies."""
    runs = [run_of(model, a, seed) for seed, a in enumerate(accuracies)]
    return reference_band(model, model, runs, chance=chance, epochs=2)


def run_of(model: str, final: float, seed: int = 0, epochs: int = 2) -> TrainingResult:
    from grader.results import Scores
    history = [EpochStats(epoch=e, train_loss=2.0 / e, train_accuracy=final * e / epochs,
                          val_accuracy=final * e / epochs, lr=0.05) for e in
               range(1, epochs + 1)]
    return TrainingResult(model=model, ok=True, history=history, seed=seed,
                          scores=Scores(accuracy=final, per_class=[final] * 10,
                                        confusion=[[0] * 10 for _ in range(10)]))


def bands(accuracies: dict[str, float | None]) -> dict[str, ReferenceBand]:
    return {k: band(k, v) for k, v in accuracies.items() if v is not None}


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
                  reference=bands(dict(REFERENCE) if reference is None else reference),
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


# ---- the reference's band: several seeds, and a reference that stays at chance ------------------

def test_multi_seed_reference_uses_mean_and_spread():
    three = band("simplenn", 0.57, 0.60, 0.63)
    assert three.mean == pytest.approx(0.60) and three.spread == pytest.approx(0.03)
    assert three.accuracies == [0.57, 0.60, 0.63] and three.seeds == [0, 1, 2]
    assert three.learned and three.note == ""
    # 0.54 alone is 90% of the mean, but 0.54 + the spread 0.03 is 95% of it: full points
    items = score(HW2, checks=all_checks(), accuracy=dict(REFERENCE, simplenn=0.54),
                  reference={**bands(REFERENCE), "simplenn": three}, predictions_accuracy=0.93)
    item = next(i for i in items if i.id == "lab1-accuracy")
    assert (item.earned, item.possible, item.reasons) == (10.0, 10.0, [])
    # below the band: (0.48 + 0.03) / 0.60 = 0.85 -> (0.85 - 0.5) / 0.45 * 10 = 7.78 points
    items = score(HW2, checks=all_checks(), accuracy=dict(REFERENCE, simplenn=0.48),
                  reference={**bands(REFERENCE), "simplenn": three}, predictions_accuracy=0.93)
    item = next(i for i in items if i.id == "lab1-accuracy")
    assert item.earned == 7.78
    assert item.reasons == ["SimpleNN (Lab 1) reached 48% after retraining; the reference "
                            "reached 60% ± 3% over 3 seeds, so yours counts as 85% of its mean "
                            "(your accuracy plus its spread; full points at 95%, none at or "
                            "below 50%)"]
    # the same student against one seed at 0.60 gets (0.8 - 0.5) / 0.45 * 10 = 6.67
    single = run(accuracy=dict(REFERENCE, simplenn=0.48),
                 reference=dict(REFERENCE, simplenn=0.60))["lab1-accuracy"]
    assert single.earned == 6.67


def test_band_per_epoch_is_mean_plus_minus_spread():
    b = band("simplenn", 0.50, 0.60, 0.70)
    # per epoch the runs are at final * epoch / 2: (0.25, 0.30, 0.35), then (0.5, 0.6, 0.7)
    assert b.epoch_low == pytest.approx([0.25, 0.5])
    assert b.epoch_high == pytest.approx([0.35, 0.7])


@pytest.mark.parametrize("accuracies, learned", [
    ((0.106,), False),                  # the 1-epoch SimpleNN of a real class
    ((0.172,), False),                  # the README's old demo: 17.2% against chance 10%
    ((0.189,), False),                  # just short of chance + 10% of the way to 100% (19%)
    ((0.19,), True),
    ((0.15, 0.25, 0.35), False),        # mean 25%, but one spread (10%) below it is 15%
    ((0.54, 0.55, 0.56), True)])
def test_reference_clearly_beating_chance(accuracies, learned):
    b = band("simplenn", *accuracies)
    assert b.learned is learned and b.chance == 0.1 and b.threshold == pytest.approx(0.19)
    assert (b.note == "") is learned


def test_reference_at_chance_makes_its_items_not_gradable_for_everyone():
    at_chance = band("simplenn", 0.106)
    assert at_chance.note == (
        "The reference simplenn reached only 10.6% after 2 epochs, with chance at 10.0%: under "
        "this training budget it does not clearly beat chance (it needs 19.0%), so its accuracy "
        "says nothing about the students' models. Accuracy points relative to it are not "
        "awarded and are left out of the total; raise [training] epochs (or --epochs) and "
        "grade again.")
    reference = {**bands(REFERENCE), "simplenn": at_chance}
    for accuracy in (0.9, 0.1, None):   # a good model, a model at chance, a crashed one: alike
        items = {i.id: i for i in score(HW2, checks=all_checks(),
                                        accuracy=dict(REFERENCE, simplenn=accuracy),
                                        reference=reference, predictions_accuracy=0.93)}
        item = items["lab1-accuracy"]
        assert (item.earned, item.possible, item.gradable) == (0.0, 0.0, False)
        assert item.reasons == ["not gradable under this budget (10 points left out of the "
                                "total, for every student): " + at_chance.note]
        # the other items are untouched, and the total is out of 90
        assert items["lab2-accuracy"].gradable and items["lab2-accuracy"].possible == 10
        assert total(list(items.values()))[1] == 90.0
    # an absolute item does not depend on the reference, so it stays gradable
    absolute = with_item("lab1-accuracy", basis="absolute", full=0.65, zero=0.45)
    items = {i.id: i for i in score(absolute, checks=all_checks(),
                                    accuracy=dict(REFERENCE, simplenn=0.6), reference=reference,
                                    predictions_accuracy=0.93)}
    assert items["lab1-accuracy"].gradable and items["lab1-accuracy"].earned == 7.5


def test_chance_is_the_most_common_held_out_class():
    assert chance_accuracy(np.arange(1000) % 10, 10) == 0.1
    assert chance_accuracy(np.array([0, 0, 0, 1]), 10) == 0.75
    # 3 of 4 held-out images in one class: 76% is no better than always guessing it
    b = reference_band("m", "M", [run_of("m", 0.76)], chance=0.75, epochs=1)
    assert not b.learned and b.threshold == pytest.approx(0.775)
    assert "with chance at 75.0%" in b.note and "after 1 epoch," in b.note
    assert reference_band("m", "M", [run_of("m", 0.8)], chance=0.75, epochs=1).learned


def test_no_finished_reference_run_gives_no_band():
    failed = TrainingResult(model="m", ok=False, error="training diverged")
    assert reference_band("m", "M", [failed], chance=0.1, epochs=2) is None
    b = reference_band("m", "M", [failed, run_of("m", 0.5, seed=1)], chance=0.1, epochs=2)
    assert b.accuracies == [0.5] and b.seeds == [1] and b.spread == 0.0


def test_terminal_table_warns_and_keeps_columns_when_the_first_student_crashed():
    from tests.factories.results import crashed_result, good_result
    at_chance = band("simplenn", 0.106)
    reference = [at_chance, band("simplenn-bn", 0.55, 0.56, 0.57), band("resnet20", 0.8)]
    first = dataclasses.replace(crashed_result("aaron"), reference_bands=reference)
    second = dataclasses.replace(good_result("bea"), reference_bands=reference)
    table = evaluation_table([first, second])
    header = table.splitlines()[0]
    assert all(k in header for k in ("simplenn", "simplenn-bn", "resnet20", "predictions"))
    bea = next(line for line in table.splitlines() if line.startswith("bea"))
    assert bea.count("%") == 4                       # three models and predictions.csv
    assert "(reference)" in table and "3 seeds" in table and "±1.0%" in table
    assert "(chance)" in table and "10.0%" in table
    assert "WARNING: " + at_chance.note in table


# ---- [training] reference_seeds in the spec ------------------------------------------------------

# a template for str.format: {line} is line 8, where the errors below point
SPEC = spec_toml(model_toml("net", names=["Net"], reference="simplenn"), course="C", title="T",
                 tables="\n[training]\nseed = {seed}\n{line}\n")


@pytest.mark.parametrize("seed, line, seeds, ordered", [
    (0, "", (), [0]),
    (0, "reference_seeds = 3", (0, 1, 2), [0, 1, 2]),
    (5, "reference_seeds = 2", (5, 6), [5, 6]),
    (1, "reference_seeds = [4, 1, 9]", (4, 1, 9), [1, 4, 9]),    # the students' seed first
    (0, "reference_seeds = [7, 8]", (7, 8), [7, 8])])
def test_reference_seeds_in_the_spec(tmp_path, seed, line, seeds, ordered):
    path = tmp_path / "hw.toml"
    path.write_text(SPEC.format(seed=seed, line=line))
    assignment = spec.load(str(path))
    assert assignment.training.reference_seeds == (seeds or (seed,))
    assert reference_seeds(assignment, {"seed": seed}) == ordered


@pytest.mark.parametrize("line", ["reference_seeds = 0", "reference_seeds = 21",
                                  "reference_seeds = [1, 1]", "reference_seeds = []",
                                  "reference_seeds = 'three'", "reference_seeds = [1.5]"])
def test_bad_reference_seeds_name_the_key_and_line(tmp_path, line):
    path = tmp_path / "hw.toml"
    path.write_text(SPEC.format(seed=0, line=line))
    with pytest.raises(SpecError) as err:
        spec.load(str(path))
    assert "training.reference_seeds" in str(err.value) and ":8:" in str(err.value)
    assert "a number of seeds (1 to 20) or a list of distinct integer seeds" in str(err.value)


def test_hw2_trains_its_reference_under_three_seeds():
    assert HW2.training.reference_seeds == (0, 1, 2)
    assert HW2.training.eval_images == 2000


def test_eval_images_in_the_spec(tmp_path):
    from grader.grading.retrain import train_config
    path = tmp_path / "hw.toml"
    path.write_text(SPEC.format(seed=0, line="eval_images = 500"))
    assert train_config(spec.load(str(path)), None)["eval_images"] == 500
    path.write_text(SPEC.format(seed=0, line=""))
    assert spec.load(str(path)).training.eval_images == 0                 # all of them
    path.write_text(SPEC.format(seed=0, line="eval_images = -1"))
    with pytest.raises(SpecError, match=r":8: key 'training.eval_images': expected 0 \(all"):
        spec.load(str(path))


# ---- what the reports say ------------------------------------------------------------------------

def escape(text: str) -> str:
    from markupsafe import escape as html_escape
    return str(html_escape(text))


def with_bands(result, bands_):
    rubric_ = [dataclasses.replace(i, earned=0.0, possible=0.0, gradable=False,
                                   reasons=["not gradable under this budget: ..."])
               if i.id == "lab1-accuracy" and not bands_[0].learned else i for i in result.rubric]
    return dataclasses.replace(result, reference_bands=bands_, rubric=rubric_)


def test_student_report_shows_one_figure_per_model_and_the_warning():
    from grader.report import render as report
    from tests.factories.results import good_result
    at_chance = band("simplenn", 0.106)
    three = band("simplenn-bn", 0.55, 0.56, 0.57)
    result = with_bands(good_result("bea"), [at_chance, three, band("resnet20", 0.66)])
    html = report.render_student_html(result)
    # the warning, loudly, at the top and on the model
    assert "Warning: not gradable under this budget:</strong> " + escape(at_chance.note) in html
    assert "reference at chance (10.0%): not gradable" in html
    assert "not gradable</td>" in html                        # the rubric row
    # one figure per model: the scored accuracy on the whole split (the factory's last epoch
    # on a subset differs from it), and the split named once
    simplenn_bn = next(t for t in result.training if t.model == "simplenn-bn")
    last_epoch = simplenn_bn.history[-1].val_accuracy
    assert simplenn_bn.scores.accuracy != last_epoch
    assert f"<strong>{100 * simplenn_bn.scores.accuracy:.1f}%</strong>, reference 56.0% ± 1.0% " \
           "over 3 seeds" in html
    assert html.count("every accuracy in this section, per epoch and final, is on the same "
                      "10,000 held-out images") == 1
    # the band is drawn on the multi-seed model's curves
    assert "reference, mean ± spread of 3 seeds" in _decoded_charts(html)


def _decoded_charts(html: str) -> str:
    import base64
    import re
    return "".join(base64.b64decode(m).decode() for m in
                   re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", html))


def test_class_summary_shows_the_warning_and_the_item_as_not_gradable():
    from grader.report import render as report
    from tests.factories.results import failing_result, good_result
    at_chance = band("simplenn", 0.106)
    results = [with_bands(make(), [at_chance]) for make in (good_result, failing_result)]
    html = report.render_summary_html(results, [])
    assert "Warning: not gradable under this budget:</strong> " + escape(at_chance.note) in html
    assert html.count(escape(at_chance.note)) == 1                    # once for the class
    assert "not gradable</span> <span class=\"muted\">(2 of 2: reference at chance)" in html


# ---------------------------------------------------------------- the student's own weights

def pruning_spec(tmp_path, *items: str) -> spec.Assignment:
    """ECE 661 HW4 as a spec: a ResNet-20 graded from the student's pruned checkpoint."""
    from tests.factories.specs import rubric_item

    path = tmp_path / "hw4.toml"
    path.write_text(spec_toml(model_toml("resnet20", title="ResNet-20", names=["ResNetCIFAR"],
                                         reference="resnet20-a", train=False,
                                         weights="*prun*.pt"),
                              *(rubric_item(f"item{i}", kind, **keys)
                                for i, (kind, keys) in enumerate(items))), encoding="utf-8")
    return spec.load(str(path))


def own_weights(sparsity=0.7, bits=9, accuracy=0.88, **changes):
    from grader.results import LayerWeights, Sparsity, WeightsReport

    layers = [LayerWeights("conv1", "Conv2d", 432, sparsity, 2 ** bits, bits),
              LayerWeights("linear", "Linear", 640, sparsity, 16, 4)]
    return WeightsReport(file="resnet20_pruned.pt", loaded=True, format="state_dict",
                         sparsity=Sparsity(overall=sparsity, conv=sparsity, linear=sparsity),
                         layers=layers, bits=bits, accuracy=accuracy, **changes)


def weights_items(assignment, w, reference=None):
    items = score(assignment, checks=[], accuracy={}, predictions_accuracy=None,
                  reference={"resnet20": band("resnet20", 0.9)} if reference is None
                  else reference, weights={"resnet20": w})
    return items


@pytest.mark.parametrize("sparsity, accuracy, earned, reason", [
    (0.7, 0.88, 10.0, None),
    (0.5, 0.88, 5.0, "own weights (resnet20_pruned.pt) have 50% zeros among their conv and "
                     "linear weights (full points at 70%, none at or below 30%)"),
    (0.2, 0.88, 0.0, "have 20% zeros"),
    # 70% zeros bought with the accuracy: below the floor, nothing
    (0.7, 0.40, 0.0, "own weights (resnet20_pruned.pt) reached 40% on the held-out images: "
                     "below the floor of 80% the sparsity earns nothing"),
    (0.7, None, 0.0, "have no held-out accuracy, so the accuracy floor of 80% cannot be "
                     "checked; the item earns nothing"),
])
def test_sparsity_is_linear_and_needs_the_accuracy_floor(tmp_path, sparsity, accuracy, earned,
                                                         reason):
    hw4 = pruning_spec(tmp_path, ("sparsity", dict(model="resnet20", full=0.7, zero=0.3,
                                                   floor=0.8, points=10)))
    (item,) = weights_items(hw4, own_weights(sparsity=sparsity, accuracy=accuracy))
    assert (item.earned, item.possible) == (earned, 10.0)
    if reason is None:
        assert item.reasons == []
    else:
        assert len(item.reasons) == 1 and reason in item.reasons[0]


def test_sparsity_floor_relative_to_the_dense_reference(tmp_path):
    hw4 = pruning_spec(tmp_path, ("sparsity", dict(model="resnet20", full=0.7, floor=0.95,
                                                   basis="reference", points=10)))
    (kept,) = weights_items(hw4, own_weights(accuracy=0.86))         # 95.6% of 90%
    (lost,) = weights_items(hw4, own_weights(accuracy=0.80))         # 88.9%
    assert kept.earned == 10.0 and lost.earned == 0.0
    assert lost.reasons == ["ResNet-20's own weights (resnet20_pruned.pt) reached 80% on the "
                            "held-out images, 88.9% of the reference's 90% (your accuracy): "
                            "below the floor of 95% the sparsity earns nothing"]
    # a reference that did not beat chance cannot set a relative floor: left out for everyone
    (item,) = weights_items(hw4, own_weights(), reference={"resnet20": band("resnet20", 0.105)})
    assert (item.earned, item.possible, item.gradable) == (0.0, 0.0, False)


@pytest.mark.parametrize("bits, earned", [(3, 5.0), (4, 5.0), (6, 2.5), (8, 0.0), (14, 0.0)])
def test_bits_full_at_or_below_full_none_at_zero(tmp_path, bits, earned):
    hw4 = pruning_spec(tmp_path, ("bits", dict(model="resnet20", full=4, zero=8, points=5)))
    (item,) = weights_items(hw4, own_weights(bits=bits))
    assert item.earned == earned
    if earned < 5:
        assert item.reasons == [f"ResNet-20's own weights (resnet20_pruned.pt) need {bits} bits "
                                f"(conv1 has {2 ** bits:,} distinct values); full points at 4 "
                                "bits or fewer, none at 8 or more"]


def test_weights_accuracy_absolute_and_relative(tmp_path):
    hw4 = pruning_spec(tmp_path, ("weights", dict(model="resnet20", full=0.9, zero=0.5,
                                                  points=10)),
                       ("weights", dict(model="resnet20", basis="reference", full=0.95,
                                        zero=0.5, points=10)))
    absolute, relative = weights_items(hw4, own_weights(accuracy=0.7))
    assert absolute.earned == 5.0 and absolute.reasons == [
        "ResNet-20's own weights (resnet20_pruned.pt) reached 70% on the held-out images "
        "(full points at 90%, none at or below 50%)"]
    assert relative.earned == round(10 * (0.7 / 0.9 - 0.5) / 0.45, 2)
    assert "77.8% of the reference's 90%" in relative.reasons[0]


@pytest.mark.parametrize("w, reason", [
    (None, "ResNet-20 was not found or did not build, so its checkpoint could not be loaded"),
    ("missing", "no file matching '*prun*.pt' in the submission"),
    ("problems", "layer1.0.conv1.weight: checkpoint [16, 3, 3, 3], model [16, 16, 3, 3]"),
    ("failed run", "have no held-out accuracy (its held-out predictions failed"),
])
def test_weights_that_did_not_load_earn_nothing_with_the_reason(tmp_path, w, reason):
    from grader.results import WeightsReport

    hw4 = pruning_spec(tmp_path, ("weights", dict(model="resnet20", full=0.9, points=10)),
                       ("sparsity", dict(model="resnet20", full=0.7, points=10)),
                       ("bits", dict(model="resnet20", full=4, points=5)))
    report = {None: None,
              "missing": WeightsReport(file="", loaded=False, error="no file matching "
                                       "'*prun*.pt' in the submission (files handed in: hw4.py)"),
              "problems": WeightsReport(file="resnet20_pruned.pt", loaded=False, problems=[
                  "layer1.0.conv1.weight: checkpoint [16, 3, 3, 3], model [16, 16, 3, 3]"]),
              "failed run": own_weights(accuracy=None, error="its held-out predictions failed: "
                                        "predicting failed: RuntimeError: boom")}[w]
    items = weights_items(hw4, report)
    first = items[0] if w == "failed run" else None
    for item in ([first] if first else items):
        assert item.earned == 0.0 and item.possible == item.earned + {
            "item0": 10, "item1": 10, "item2": 5}[item.id]
        assert len(item.reasons) == 1 and reason in item.reasons[0], item.reasons


def test_weights_items_under_a_public_private_split_score_both_parts(tmp_path):
    """[held_out] split: the weights' accuracy decides the points on the private part, and the
    public part's figure is what Gradescope shows before the due date; a sparsity item with an
    accuracy floor depends on the held-out labels too, a bits item without one does not."""
    import dataclasses

    from grader.grading.rubric import held_out, score_results
    from grader.spec import HeldOutSpec

    hw4 = pruning_spec(tmp_path, ("weights", dict(model="resnet20", full=0.9, zero=0.5,
                                                  points=10)),
                       ("sparsity", dict(model="resnet20", full=0.7, floor=0.8, points=10)),
                       ("bits", dict(model="resnet20", full=4, zero=8, points=5)))
    hw4 = dataclasses.replace(hw4, held_out=HeldOutSpec(0.3, seed=0))
    assert [held_out(i) for i in hw4.rubric] == [True, True, False]
    w = own_weights(accuracy=0.7, public_accuracy=0.9, bits=6)
    accuracy, sparsity, bits = score_results(hw4, checks=[], training=[], bands=[],
                                             predictions=None, weights={"resnet20": w})
    assert (accuracy.earned, accuracy.public_earned) == (5.0, 10.0)
    assert "on the held-out images" in accuracy.reasons[0] and accuracy.public_reasons == []
    # 70% on the private part is below the floor, 90% on the public part is not
    assert (sparsity.earned, sparsity.public_earned) == (0.0, 10.0)
    assert (bits.earned, bits.public_earned) == (2.5, None)


# ---------------------------------------------------------------- localization: iou and hits

# the built-in HW5 (2023) spec with its relative IoU item pinned at full 85%, none at 40%: the
# figures below do not move when the built-in's demo thresholds are tuned
HW5 = spec.load("ece60146-hw5-2023")
HW5 = dataclasses.replace(HW5, rubric=tuple(
    dataclasses.replace(r, full=0.85, zero=0.4) if r.id == "net-iou" else r for r in HW5.rubric))


def box_run(iou: float | None, hits: float = 0.6, accuracy: float = 0.8, ok: bool = True,
            public: tuple[float, float] | None = None) -> TrainingResult:
    """HW5Net retrained: its accuracy and (unless iou is None) box scores."""
    from grader.results import BoxScores, Scores

    boxes = None if iou is None else BoxScores(
        mean_iou=iou, hits=hits, threshold=0.5,
        public_mean_iou=public[0] if public else None, public_hits=public[1] if public else None)
    return TrainingResult(model="net", ok=ok, seed=0, history=[], scores=Scores(
        accuracy=accuracy, per_class=[accuracy] * 3, confusion=[[0] * 3] * 3, boxes=boxes))


def box_band(ious=(0.6, 0.62, 0.64), hits=(0.7, 0.7, 0.7), learned=True) -> ReferenceBand:
    return ReferenceBand("net", [0, 1, 2], [0.8, 0.8, 0.8], 0.8, 0.0, 0.34, 0.41, learned,
                         note="The reference HW5Net reached only ..." if not learned else "",
                         ious=list(ious), hits=list(hits))


def predicted(iou: float | None, hits: float = 0.6):
    from grader.results import BoxScores, Scores

    return Scores(accuracy=0.8, per_class=[0.8] * 3, confusion=[[0] * 3] * 3,
                  boxes=None if iou is None else BoxScores(iou, hits, 0.5))


def hw5_items(run=None, band=None, predictions=None, problem="", assignment=HW5):
    from grader.grading.rubric import score_results

    items = score_results(assignment, checks=[], training=[run or box_run(0.63)],
                          bands=[band or box_band()],
                          predictions=predictions or predicted(0.65),
                          predictions_problem=problem)
    return {i.id: i for i in items}


def with_hw5_item(item_id: str, **changes) -> spec.Assignment:
    return dataclasses.replace(HW5, rubric=tuple(
        dataclasses.replace(r, **changes) if r.id == item_id else r for r in HW5.rubric))


def test_hw5_boxes_at_the_references_level_earn_full_points():
    items = hw5_items()
    for item_id in ("net-accuracy", "net-iou", "predictions"):
        assert items[item_id].earned == items[item_id].possible and not items[item_id].reasons


def test_predictions_iou_below_full_earns_in_proportion_and_says_so():
    item = hw5_items(predictions=predicted(0.41))["predictions"]
    assert item.earned == round(25 * (0.41 - 0.2) / (0.6 - 0.2), 2)
    assert item.reasons == ["predictions.csv: mean IoU 0.41 on the held-out images, below the "
                            "0.60 for full points, none at or below 0.20"]


def test_a_mean_iou_just_short_of_full_is_not_printed_as_reaching_it():
    item = hw5_items(predictions=predicted(0.5999))["predictions"]
    assert item.earned < item.possible and "mean IoU 0.5999 on" in item.reasons[0]


def test_retrained_iou_relative_to_the_references_band():
    """(0.40 + the band's spread 0.02) / its mean 0.62: 67.7%, between the item's 40% and 85%;
    the accuracy item beside it is scored on the accuracy as before."""
    items = hw5_items(run=box_run(0.40))
    ratio = (0.40 + 0.02) / 0.62
    assert items["net-iou"].earned == round(25 * (ratio - 0.4) / (0.85 - 0.4), 2)
    assert items["net-iou"].reasons == [
        "HW5Net (ResNet-based localization network): mean IoU 0.40 on the held-out images; the "
        "reference reached 0.62 ± 0.02 over 3 seeds, so yours plus its spread counts as 67.7% "
        "of it (full points at 85%, none at or below 40%)"]
    assert items["net-accuracy"].earned == items["net-accuracy"].possible


def test_hits_items_score_the_share_at_the_iou_threshold():
    absolute = with_hw5_item("predictions", metric="hits", full=0.8, zero=0.2)
    item = hw5_items(predictions=predicted(0.9, hits=0.5), assignment=absolute)["predictions"]
    assert item.earned == 12.5
    assert item.reasons == ["predictions.csv: 50% of the boxes at IoU >= 0.5 on the held-out "
                            "images, below the 80% for full points, none at or below 20%"]
    relative = with_hw5_item("net-iou", metric="hits")
    item = hw5_items(run=box_run(0.9, hits=0.35), band=box_band(hits=(0.7, 0.7, 0.7)),
                     assignment=relative)["net-iou"]
    assert item.earned == round(25 * (0.5 - 0.4) / (0.85 - 0.4), 2)     # 0.35 / 0.70
    assert "35% of the boxes at IoU >= 0.5" in item.reasons[0]
    assert ("the reference reached 70% ± 0% over 3 seeds, so yours plus its spread counts as "
            "50% of it") in item.reasons[0]


# what is missing, the run, the band, predictions, problem, item, reason expected (substring)
NO_BOXES = [
    ("the run has no box scores", box_run(None), box_band(), predicted(0.65), "", "net-iou",
     "HW5Net (ResNet-based localization network) has no box scores after retraining (it "
     "crashed, timed out, was not trained, or left no boxes), so it earns no points for its "
     "boxes"),
    ("the run failed", box_run(0.63, ok=False), box_band(), predicted(0.65), "", "net-iou",
     "has no box scores after retraining"),
    ("the reference has no boxes", box_run(0.63), box_band(ious=(), hits=()), predicted(0.65),
     "", "net-iou", "mean IoU 0.63 on the held-out images, but the reference model has no box "
                    "scores to compare it with (a grading problem, not yours: tell the "
                    "instructor)"),
    ("predictions.csv malformed", box_run(0.63), box_band(), None,
     "predictions.csv is malformed (x2 0.3 < x1 0.7)", "predictions",
     "predictions.csv has no box scores (predictions.csv is malformed (x2 0.3 < x1 0.7)), so it "
     "earns no points for its boxes"),
    ("no held-out boxes", box_run(0.63), box_band(), predicted(None), "", "predictions",
     "predictions.csv has no box scores (no boxes were scored"),
]


@pytest.mark.parametrize("what, run, band_, preds, problem, item_id, reason", NO_BOXES,
                         ids=[n[0] for n in NO_BOXES])
def test_without_box_scores_an_item_earns_nothing_and_says_why(what, run, band_, preds, problem,
                                                               item_id, reason):
    from grader.grading.rubric import score_results

    items = score_results(HW5, checks=[], training=[run], bands=[band_], predictions=preds,
                          predictions_problem=problem)
    item = next(i for i in items if i.id == item_id)
    assert item.earned == 0.0 and item.possible == 25.0
    assert any(reason in r for r in item.reasons), item.reasons


def test_a_relative_iou_item_is_not_gradable_when_the_reference_learned_nothing():
    item = hw5_items(band=box_band(learned=False))["net-iou"]
    assert (item.earned, item.possible, item.gradable) == (0.0, 0.0, False)
    assert "not gradable under this budget (25 points left out" in item.reasons[0]


def test_iou_items_under_a_split_score_the_public_part_beside():
    from grader.results import BoxScores
    from grader.spec import HeldOutSpec

    split = dataclasses.replace(HW5, held_out=HeldOutSpec(0.3, seed=0))
    run = box_run(0.2, public=(0.7, 0.9))       # (0.2 + 0.02) / 0.62 is below the 40%
    preds = predicted(0.41)
    preds = dataclasses.replace(preds, boxes=BoxScores(0.41, 0.3, 0.5, public_mean_iou=0.6,
                                                       public_hits=0.7))
    items = hw5_items(run=run, predictions=preds, assignment=split)
    assert items["predictions"].earned < 25.0 and items["predictions"].public_earned == 25.0
    assert "on the private 70% of the held-out images" in items["predictions"].reasons[0]
    assert items["net-iou"].earned == 0.0 and items["net-iou"].public_earned == 25.0
