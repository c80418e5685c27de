"""`grader evaluate` end to end on the three issue-20 built-ins and their example hand-ins
(submissions/), under a small budget: each hand-in's retraining verdict and message, the box
scores of the localization task, and the predictions files scored on the held-out split."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from grader import spec
from grader.run.evaluate import evaluate
from grader.run.options import Options

EXAMPLES = Path(__file__).resolve().parents[1] / "submissions"

pytestmark = [pytest.mark.sandbox, pytest.mark.train]


def graded(tmp_path_factory, assignment, epochs: int = 1) -> dict:
    out = tmp_path_factory.mktemp(assignment.id)
    options = Options(cache_dir=out / "cache", epochs=epochs, timeout=None)
    return {r.student: r for r in evaluate(EXAMPLES / assignment.id, assignment, out / "grades",
                                           options)}


@pytest.fixture(scope="module")
def hw3(tmp_path_factory):
    return graded(tmp_path_factory, spec.load("ece661-hw3-rnn"))


@pytest.fixture(scope="module")
def hw8(tmp_path_factory):
    return graded(tmp_path_factory, spec.load("ece60146-hw8"))


@pytest.fixture(scope="module")
def hw5(tmp_path_factory):
    # a smaller training set: the held-out split (and so the predictions files) is the same,
    # since the stand-in draws its splits from separate streams
    a = spec.load("ece60146-hw5-2023")
    a = dataclasses.replace(a, dataset=dataclasses.replace(a.dataset, synthetic_train=32),
                            training=dataclasses.replace(a.training, eval_images=40))
    return graded(tmp_path_factory, a)


def test_labrnn_tom_retrains_and_uma_s_models_say_why_not(hw3):
    tom, uma = hw3["tom"], hw3["uma"]
    assert tom.task == "sequence" and tom.status == "ok"
    assert [(t.model, t.ok) for t in tom.training] == [("lstm", True), ("gru", True)]
    assert all(t.scores.accuracy > 0.5 for t in tom.training)    # above chance after 1 epoch
    assert tom.predictions.accuracy == pytest.approx(0.88)
    errors = {t.model: t.error for t in uma.training}
    assert "cannot take the declared inputs (ids, length)" in errors["lstm"]
    assert "gives 1 score per example; the task has 2 classes" in errors["gru"]
    assert "single logit" in errors["gru"]
    assert uma.predictions.accuracy == pytest.approx(0.75)
    points = {i.id: i.earned for i in uma.rubric}
    assert points["lstm-accuracy"] == 0 and points["gru-accuracy"] == 0


def test_hw8_steps_one_review_at_a_time_with_the_hidden_state(hw8):
    ravi, sara = hw8["ravi"], hw8["sara"]
    (net,) = ravi.training
    assert net.ok and net.scores.accuracy > 0.6 and len(net.history) == 1
    assert ravi.check.models[0].class_name == "GRUnetWithEmbeddings"
    (net,) = sara.training
    assert not net.ok and "cannot take the declared inputs (x, h)" in net.error


def test_hw5_boxes_are_scored_for_the_retrained_net_and_the_predictions(hw5):
    priya, quinn = hw5["priya"], hw5["quinn"]
    assert priya.task == "localization"
    (net,) = priya.training
    boxes = net.scores.boxes
    assert net.ok and boxes is not None and len(boxes.ious) == 40
    assert 0.0 <= boxes.mean_iou <= 1.0 and net.history[-1].val_iou == pytest.approx(
        boxes.mean_iou)
    assert boxes.examples and all(e.thumbnail for e in boxes.examples)
    assert priya.predictions.boxes.mean_iou == pytest.approx(0.793, abs=0.001)
    (ref,) = priya.reference
    assert ref.scores.boxes is not None
    (net,) = quinn.training
    assert not net.ok and "the cls output gives 4 scores per example" in net.error
    reasons = {i.id: " ".join(i.reasons) for i in quinn.rubric}
    assert "x, y, width, height" in reasons["predictions"]
