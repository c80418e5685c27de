"""Boxes on the trusted side: IoU and box scores (grader/grading/boxes.py), a localization
model's box files and predictions.csv's boxes scored against the held-out boxes
(grader/grading/localization.py), and what retraining sends and keeps for the other task kinds
(grader/grading/retrain.py). Hand-computed boxes throughout; nothing here starts a sandbox."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from grader import spec
from grader.grading import retrain
from grader.grading.boxes import CHUNK, box_problem, box_scores, pair_iou, valid_as_xywh
from grader.grading.localization import box_truth, load_boxes, with_boxes, with_predicted_boxes
from grader.results import EpochStats, PredictionsReport, Scores, TrainingResult
from grader.sandbox.bwrap import RunOutcome
from grader.sandbox.reports import EpochReport, TrainHistory, TrainReport

HW2 = spec.load("ece661-hw2")
HW5 = spec.load("ece60146-hw5-2023")

# what, predicted box, true box, IoU by hand
PAIRS = [
    ("identical", [0.1, 0.2, 0.6, 0.8], [0.1, 0.2, 0.6, 0.8], 1.0),
    ("disjoint", [0.0, 0.0, 0.4, 0.4], [0.5, 0.5, 1.0, 1.0], 0.0),
    ("touching edges", [0.0, 0.0, 0.5, 1.0], [0.5, 0.0, 1.0, 1.0], 0.0),
    ("half overlap: 1/3", [0.0, 0.0, 0.5, 1.0], [0.25, 0.0, 0.75, 1.0], 1 / 3),
    ("inside: area ratio", [0.25, 0.25, 0.75, 0.75], [0.0, 0.0, 1.0, 1.0], 0.25),
    ("x2 < x1: 0, not NaN", [0.6, 0.1, 0.2, 0.9], [0.0, 0.0, 1.0, 1.0], 0.0),
    ("both corners swapped", [0.9, 0.9, 0.1, 0.1], [0.1, 0.1, 0.9, 0.9], 0.0),
    ("no area on both sides", [0.3, 0.3, 0.3, 0.3], [0.3, 0.3, 0.3, 0.3], 0.0),
]


@pytest.mark.parametrize("what, pred, true, iou", PAIRS, ids=[p[0] for p in PAIRS])
def test_pair_iou_by_hand(what, pred, true, iou):
    got = pair_iou(np.array([pred]), np.array([true]))
    assert got.dtype == np.float64 and got.shape == (1,)
    assert got[0] == pytest.approx(iou, abs=1e-6) and np.isfinite(got).all()


def _by_hand(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    w = np.clip(np.minimum(pred[:, 2], true[:, 2]) - np.maximum(pred[:, 0], true[:, 0]), 0, None)
    h = np.clip(np.minimum(pred[:, 3], true[:, 3]) - np.maximum(pred[:, 1], true[:, 1]), 0, None)
    def area(b):
        return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return w * h / (area(pred) + area(true) - w * h)


def test_pair_iou_pairs_row_by_row_across_chunks():
    """Each box is compared with its own true box only, in every chunk (not the first row's
    box with all of them): a reversed order scores differently."""
    rng = np.random.default_rng(0)
    n = 2 * CHUNK + 7
    corner = rng.uniform(0, 0.5, (n, 2))
    true = np.hstack([corner, corner + rng.uniform(0.1, 0.5, (n, 2))])
    pred = np.clip(true + rng.normal(0, 0.08, (n, 4)), 0, 1)
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 0.01)
    got = pair_iou(pred, true)
    assert got == pytest.approx(_by_hand(pred, true), abs=1e-6)
    assert not np.allclose(got, pair_iou(pred[::-1], true))


# argument, value, message expected (substring)
BAD_ARGUMENTS = [
    ("pred", np.zeros((3, 5)), "pred must be boxes of shape [N, 4] (x1, y1, x2, y2); got shape "
                               "(3, 5)"),
    ("pred", np.zeros(4), "pred must be boxes of shape [N, 4]"),
    ("true", np.zeros((2, 4)), "pred and true must hold the same number of boxes; got 3 and 2"),
    ("true", np.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, np.nan, 1]]),
     "true must hold finite numbers; got nan at box 2, coordinate 2"),
    ("pred", np.array([["a", "b", "c", "d"]] * 3), "pred must hold numbers; got dtype <U1"),
]


@pytest.mark.parametrize("argument, value, message", BAD_ARGUMENTS,
                         ids=[f"{b[0]}: {b[2][:30]}" for b in BAD_ARGUMENTS])
def test_pair_iou_names_the_bad_argument(argument, value, message):
    good = np.array([[0, 0, 1, 1]] * 3, dtype=float)
    args = {"pred": good, "true": good, argument: value}
    with pytest.raises(ValueError) as caught:
        pair_iou(args["pred"], args["true"])
    assert message in str(caught.value)


def _five():
    """Five boxes with IoUs 1, 1/3, 0.25, 0.5 and 0 against the unit-ish true boxes."""
    true = np.array([[0.0, 0.0, 1.0, 1.0], [0.25, 0.0, 0.75, 1.0], [0.0, 0.0, 1.0, 1.0],
                     [0.0, 0.0, 1.0, 1.0], [0.5, 0.5, 1.0, 1.0]])
    pred = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.5, 1.0], [0.25, 0.25, 0.75, 0.75],
                     [0.0, 0.0, 0.5, 1.0], [0.0, 0.0, 0.4, 0.4]])
    return pred, true, [1.0, 1 / 3, 0.25, 0.5, 0.0]


def test_box_scores_mean_hits_and_examples_from_best_to_worst():
    pred, true, ious = _five()
    images = np.stack([np.full((200, 100, 3), 40 * i, np.uint8) for i in range(6)])
    labels, predicted = np.array([0, 1, 2, 0, 1, 2]), np.array([0, 1, 1, 0, 2, 2])
    s = box_scores(pred, true, 0.5, images=images, labels=labels, predicted=predicted,
                   examples=3)
    assert s.mean_iou == pytest.approx(np.mean(ious))
    assert s.hits == pytest.approx(2 / 5)             # IoU 0.5 exactly is a hit
    assert s.threshold == 0.5 and s.ious == pytest.approx(ious, abs=1e-4)
    assert s.public_mean_iou is None and s.public_hits is None
    assert [e.index for e in s.examples] == [0, 1, 4]      # best, median, worst
    worst = s.examples[-1]
    assert (worst.label, worst.predicted, worst.iou) == (1, 2, 0.0)
    assert worst.box == [0.5, 0.5, 1.0, 1.0] and worst.predicted_box == [0.0, 0.0, 0.4, 0.4]
    picture = Image.open(io.BytesIO(base64.b64decode(worst.thumbnail)))
    assert picture.format == "PNG" and picture.size == (64, 128)   # aspect kept, <= 128
    assert picture.getpixel((10, 10))[:3] == (160, 160, 160)       # image 4, not another
    again = box_scores(pred, true, 0.5, images=images, labels=labels, predicted=predicted,
                       examples=3)
    assert again == s                                               # deterministic


def test_box_scores_without_images_has_no_thumbnails_and_unknown_classes():
    pred, true, _ = _five()
    s = box_scores(pred, true, 0.3, examples=10)
    assert s.hits == pytest.approx(3 / 5)
    assert sorted(e.index for e in s.examples) == [0, 1, 2, 3, 4]   # all of them, once
    assert all(e.thumbnail == "" and e.label == e.predicted == -1 for e in s.examples)
    assert box_scores(pred, true, 0.3, examples=0).examples == []


def test_box_scores_under_a_split_are_the_private_parts():
    pred, true, _ = _five()
    public = np.array([True, False, False, True, False])
    s = box_scores(pred, true, 0.5, public=public)
    assert s.mean_iou == pytest.approx((1 / 3 + 0.25 + 0.0) / 3)
    assert s.hits == 0.0 and len(s.ious) == 3
    assert s.public_mean_iou == pytest.approx(0.75) and s.public_hits == 1.0
    assert {e.index for e in s.examples} <= {1, 2, 4}              # private images only
    with pytest.raises(ValueError, match="public must be a boolean mask of 5 boxes"):
        box_scores(pred, true, 0.5, public=[1, 0, 0, 1, 0])
    with pytest.raises(ValueError, match="all of them public"):
        box_scores(pred, true, 0.5, public=np.ones(5, bool))


@pytest.mark.parametrize("threshold", [-0.1, 1.5, "0.5", True])
def test_box_scores_refuses_a_threshold_outside_0_to_1(threshold):
    pred, true, _ = _five()
    with pytest.raises(ValueError, match="threshold must be a number 0 to 1"):
        box_scores(pred, true, threshold)


# values, fault (None: a valid box), valid read as x, y, width, height
WRITTEN = [
    ([0.1, 0.2, 0.5, 0.6], None, True),
    ([0.5, 0.5, 0.9, 0.9], None, False),
    ([0.3, 0.3, 0.3, 0.3], None, True),
    ([1.0000004, 0.0, 1.0, 1.0], "box corners out of order", False),
    ([0.0, 0.0, 1.0000004, 1.0], None, True),
    ([12.0, 30.0, 200.0, 180.0], "x1 12 is outside 0..1; expected x1, y1, x2, y2 scaled to 0..1 "
                                 "(pixels? divide by the image's width and height)", False),
    ([0.4, 0.5, 0.3, 0.2], "box has x2 0.3 < x1 0.4 and y2 0.2 < y1 0.5; expected x1, y1, x2, "
                           "y2 scaled to 0..1 with x1 <= x2 and y1 <= y2", True),
    ([0.6, 0.5, 0.7, 0.2], "box has y2 0.2 < y1 0.5", False),
]


@pytest.mark.parametrize("values, fault, xywh", WRITTEN, ids=[str(w[0]) for w in WRITTEN])
def test_box_problem_and_the_xywh_reading(values, fault, xywh):
    problem = box_problem(values)
    assert (problem is None) == (fault is None)
    if fault is not None:
        assert fault in problem[0] + ": " + problem[1]
    assert valid_as_xywh(values) == xywh


# ---------------------------------------------------------------- a retrained model's boxes

def _trained(tmp_path, epochs_boxes, final_boxes, labels=(0, 1, 2, 0), files=None):
    """A finished localization run: label files and box files in out/, its report, and the
    TrainingResult retrain.score_training made of the labels."""
    np.save(tmp_path / "epochs-net.npy", np.array([labels] * len(epochs_boxes), np.int16))
    np.save(tmp_path / "final-net.npy", np.array(labels, np.int16))
    np.save(tmp_path / "epochs-boxes-net.npy", np.asarray(epochs_boxes, np.float32))
    np.save(tmp_path / "final-boxes-net.npy", np.asarray(final_boxes, np.float32))
    report = TrainReport(key="net", ok=True, stage="done",
                         predictions_files=("epochs-net.npy", "final-net.npy"),
                         box_files=files if files is not None else
                         ("epochs-boxes-net.npy", "final-boxes-net.npy"),
                         history=TrainHistory(epochs=tuple(EpochReport(epoch=i + 1) for i in
                                                           range(len(epochs_boxes)))))
    outcome = RunOutcome(status="ok", reason="", exit_code=0, seconds=1.0, output="",
                         result={"models": [{"key": "net", "ok": True, "stage": "done",
                                             "predictions_files": list(
                                                 report.predictions_files),
                                             "box_files": list(report.box_files),
                                             "history": {"epochs": [
                                                 {"epoch": i + 1} for i in
                                                 range(len(epochs_boxes))]}}]},
                         out_dir=tmp_path)
    return report, outcome


TRUE = np.array([[0.0, 0.0, 1.0, 1.0], [0.25, 0.0, 0.75, 1.0], [0.0, 0.0, 0.5, 0.5],
                 [0.5, 0.5, 1.0, 1.0]])
GOOD = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.5, 1.0], [0.0, 0.0, 0.5, 0.5],
                 [0.0, 0.0, 0.4, 0.4]])          # IoUs 1, 1/3, 1, 0
BAD = np.array([[0.5, 0.5, 1.0, 1.0]] * 4)       # IoUs 0.25, 0, 0, 1


def _data(tmp_path, boxes=TRUE, images=True):
    folder = tmp_path / "prepared"
    folder.mkdir(parents=True, exist_ok=True)
    if images:
        np.save(folder / "test_images.npy", np.zeros((6, 32, 32, 3), np.uint8))
    return SimpleNamespace(folder=folder, boxes=boxes, labels=np.array([0, 1, 2, 0, 1, 2]),
                           held_out=np.array([0, 1, 2, 0]), num_classes=3, fingerprint="f")


def test_a_retrained_models_boxes_are_scored_per_epoch_and_final(tmp_path):
    _, outcome = _trained(tmp_path, [BAD, GOOD], GOOD)
    labels = np.array([0, 1, 2, 1])
    config = {**retrain.train_config(HW5, None), "eval_images": 4}
    result = retrain._scored([{"key": "net"}], outcome, labels, 3, None,
                             retrain._truth(_data(tmp_path), config, labels))["net"]
    assert result.ok, result.error
    assert result.scores.accuracy == 0.75                     # the labels, as before
    assert [e.val_iou for e in result.history] == pytest.approx(
        [_by_hand(BAD, TRUE).mean(), (1 + 1 / 3 + 1 + 0) / 4])
    boxes = result.scores.boxes
    assert boxes.mean_iou == pytest.approx(result.history[-1].val_iou)
    assert boxes.hits == 0.5 and boxes.threshold == HW5.task.iou_threshold
    worst = boxes.examples[-1]
    assert (worst.index, worst.label, worst.predicted, worst.iou) == (3, 1, 0, 0.0)
    assert worst.thumbnail                                    # the held-out image came along


def test_classification_runs_get_no_box_scores(tmp_path):
    _, outcome = _trained(tmp_path, [GOOD], GOOD)
    config = retrain.train_config(HW2, None)
    labels = np.array([0, 1, 2, 1])
    assert retrain._truth(_data(tmp_path), config, labels) is None
    result = retrain._scored([{"key": "net"}], outcome, labels, 3)["net"]
    assert result.ok and result.scores.boxes is None
    assert all(e.val_iou is None for e in result.history)


# fault, how the files are spoiled, message expected
SPOILED = [
    ("no box files listed", lambda d: (), "training produced no valid boxes"),
    ("a box file missing", lambda d: ("epochs-boxes-net.npy", "gone.npy"),
     "training produced no valid boxes for the held-out images (the box head's output must "
     "be 4 x 4 finite numbers)"),
    ("wrong shape", lambda d: (np.save(d / "final-boxes-net.npy", np.zeros((4, 2), np.float32)),
                               None)[1], "no valid boxes"),
    ("integer boxes", lambda d: (np.save(d / "final-boxes-net.npy", np.ones((4, 4), int)),
                                 None)[1], "no valid boxes"),
    ("a pickle", lambda d: (np.save(d / "final-boxes-net.npy",
                                    np.array([{"x": 1}] * 4, dtype=object),
                                    allow_pickle=True), None)[1], "no valid boxes"),
    ("a link to the held-out boxes", lambda d: ((d / "final-boxes-net.npy").unlink(),
                                                (d / "final-boxes-net.npy").symlink_to(
                                                    d / "prepared" / "test_images.npy"),
                                                None)[2], "no valid boxes"),
]


@pytest.mark.parametrize("fault, spoil, message", SPOILED, ids=[s[0] for s in SPOILED])
def test_spoiled_box_files_fail_the_model(tmp_path, fault, spoil, message):
    data = _data(tmp_path)
    report, outcome = _trained(tmp_path, [GOOD], GOOD)
    files = spoil(tmp_path)
    if files is not None:
        report = dataclasses.replace(report, box_files=files)
    labels = np.array([0, 1, 2, 0])
    truth = box_truth(data, labels, 0.5)
    first = retrain.score_training("net", report, outcome, labels, 3)
    assert first.ok                                             # the labels were fine
    result = with_boxes(first, report, tmp_path, truth)
    assert not result.ok and result.scores is None and message in result.error


def test_a_non_finite_box_scores_zero_for_its_image_only(tmp_path):
    data = _data(tmp_path)
    report, outcome = _trained(tmp_path, [GOOD], GOOD)
    spoiled = GOOD.astype(np.float64).copy()
    spoiled[1, 2] = np.nan                     # one image's box, from an unbounded head
    np.save(tmp_path / "final-boxes-net.npy", spoiled)
    labels = np.array([0, 1, 2, 0])
    first = retrain.score_training("net", report, outcome, labels, 3)
    result = with_boxes(first, report, tmp_path, box_truth(data, labels, 0.5))
    assert result.ok and result.scores.accuracy == first.scores.accuracy
    ious = result.scores.boxes.ious
    assert ious[1] == 0.0 and sum(ious) > 0


def test_an_npz_under_a_npy_name_is_no_box_file(tmp_path):
    np.savez(tmp_path / "b.npy", boxes=GOOD)          # a zip: np.load gives an NpzFile
    (tmp_path / "b.npy.npz").rename(tmp_path / "b.npy")
    assert load_boxes(tmp_path, "b.npy", (4, 4)) is None


def test_load_boxes_refuses_an_oversized_file(tmp_path, monkeypatch):
    from grader.grading import localization

    np.save(tmp_path / "b.npy", GOOD.astype(np.float32))
    assert load_boxes(tmp_path, "b.npy", (4, 4)) is not None
    monkeypatch.setattr(localization, "MAX_BYTES", 64)
    assert load_boxes(tmp_path, "b.npy", (4, 4)) is None


def test_box_truth_is_cut_to_the_scored_images_and_none_without_boxes(tmp_path):
    labels = np.array([0, 1])
    truth = box_truth(_data(tmp_path), labels, 0.5)
    assert truth.boxes.tolist() == TRUE[:2].tolist() and truth.images.shape[0] == 6
    assert box_truth(_data(tmp_path, boxes=None), labels, 0.5) is None
    bare = box_truth(_data(tmp_path / "bare", images=False), labels, 0.5)
    assert bare.images is None and bare.boxes.shape == (2, 4)      # scored, no thumbnails


# ---------------------------------------------------------------- predictions.csv's boxes

def test_predictions_boxes_are_scored_against_the_held_out_boxes(tmp_path):
    data = _data(tmp_path)
    scores = Scores(accuracy=0.75, per_class=[1.0, 1.0, 0.5], confusion=[[2, 0, 0], [0, 1, 0],
                                                                          [0, 1, 0]])
    report = PredictionsReport(present=True, valid=True, rows=4, labels=[0, 1, 1, 0],
                               boxes=GOOD.tolist())
    got = with_predicted_boxes(scores, report, data, HW5)
    assert got.accuracy == 0.75 and got.boxes.mean_iou == pytest.approx((1 + 1 / 3 + 1) / 4)
    assert got.boxes.hits == 0.5
    assert {e.index: (e.label, e.predicted) for e in got.boxes.examples}[3] == (0, 0)
    # nothing to score: the scores as they were
    assert with_predicted_boxes(scores, dataclasses.replace(report, boxes=None), data,
                                HW5) == scores
    assert with_predicted_boxes(scores, report, _data(tmp_path, boxes=None), HW5) == scores
    assert with_predicted_boxes(scores, dataclasses.replace(report, boxes=GOOD[:3].tolist()),
                                data, HW5) == scores
    assert with_predicted_boxes(None, report, data, HW5) is None


def test_predictions_boxes_under_a_split(tmp_path):
    from grader.grading.predictions import public_mask
    from grader.spec import HeldOutSpec

    split = dataclasses.replace(HW5, held_out=HeldOutSpec(0.5, seed=1))
    mask = public_mask(4, 0.5, 1)
    report = PredictionsReport(present=True, valid=True, rows=4, labels=[0, 1, 2, 0],
                               boxes=GOOD.tolist())
    got = with_predicted_boxes(Scores(0.5, [], []), report, _data(tmp_path), split).boxes
    ious = np.array([1.0, 1 / 3, 1.0, 0.0])
    assert got.mean_iou == pytest.approx(ious[~mask].mean())
    assert got.public_mean_iou == pytest.approx(ious[mask].mean())


# ---------------------------------------------------------------- what retraining sends

def test_the_training_config_and_job_of_classification_are_as_they_were():
    config = retrain.train_config(HW2, None)
    assert set(config) == {"epochs", "batch_size", "lr", "momentum", "weight_decay",
                           "schedule", "milestones", "gamma", "augment", "seed", "eval_images"}
    job, _ = retrain._training_job(_Box(), [{"key": "m"}], _Data(), config)
    assert set(job) == {"models", "data", "config", "eval_subset", "device"}
    assert retrain.reference_args(HW2) == {"num_classes": 10}


class _Box:
    gpu = False

    def add_data_file(self, name, path):
        return f"/data/{name}"


class _Data:
    labels = np.zeros(8, np.int64)
    files = {"train_images": "x", "train_boxes": "y"}


def test_a_localization_job_carries_the_task_and_the_interface_at_its_top_level():
    config = retrain.train_config(HW5, None)
    assert config["task"] == {"kind": "localization", "box_loss": "mse", "box_weight": 10.0}
    assert config["optimizer"] == "adam" and config["iou_threshold"] == 0.5
    job, _ = retrain._training_job(_Box(), [{"key": "net"}], _Data(), config)
    assert job["task"] == config["task"]
    assert job["interface"] == HW5.interface.to_job()
    assert [o["role"] for o in job["interface"]["outputs"]] == ["label", "box"]
    assert not {"task", "interface", "iou_threshold", "eval_images"} & set(job["config"])
    assert job["config"]["optimizer"] == "adam"
    json.dumps(job)                                     # plain JSON for the harness


def test_reference_args_give_a_sequence_model_its_vocabulary():
    rnn = spec.load("ece661-hw3-rnn")
    assert retrain.reference_args(rnn) == {"num_classes": 2,
                                           "vocab_size": rnn.dataset.vocab_size}
    hw8 = dataclasses.replace(rnn, dataset=dataclasses.replace(rnn.dataset, embedding_dim=300))
    assert retrain.reference_args(hw8)["embedding_dim"] == 300
    assert retrain.reference_args(HW5) == {"num_classes": 3}      # not a sequence task


def test_a_classification_reference_cache_entry_keeps_its_key(tmp_path):
    """Reference runs cached before issue 20 are found under the same key (nothing retrains):
    the key holds the class count, as it always did, for classification."""
    config = retrain.train_config(HW2, None)
    data = SimpleNamespace(fingerprint="data-key", labels=np.arange(10) % 10, num_classes=10)
    models = [m for m in HW2.models if m.train and m.reference]
    for seed in retrain.reference_seeds(HW2, config):
        seeded = {**config, "seed": seed}
        for model in models:
            key = hashlib.sha256(json.dumps([retrain.CACHE_VERSION, model.reference, 10,
                                             seeded, "data-key", False, 2],
                                            sort_keys=True).encode()).hexdigest()[:20]
            run = TrainingResult(model=model.key, ok=True, seed=seed,
                                 history=[EpochStats(1, 1.0, 0.5, 0.6, 0.01)],
                                 scores=Scores(0.6, [0.6] * 10, [[0] * 10] * 10))
            (tmp_path / f"reference-{model.reference}-{key}.json").write_text(
                json.dumps(dataclasses.asdict(run)))
    refs = retrain.reference_results(HW2, data, config, None, cache_dir=tmp_path,
                                     sandboxed=True, gpu=False, threads=2, cached_only=True)
    assert refs is not None and set(refs.runs) == {m.key for m in models}


def test_the_reference_band_keeps_each_seeds_boxes():
    from tests.factories.results import box_scores as made

    def run(seed, accuracy, iou):
        return TrainingResult(model="net", ok=True, seed=seed,
                              history=[EpochStats(1, 1.0, accuracy, accuracy, 0.01)],
                              scores=Scores(accuracy, [accuracy] * 3, [[0] * 3] * 3,
                                            boxes=made(iou, seed=seed, examples=0)))
    runs = [run(0, 0.8, 0.6), run(1, 0.82, 0.66)]
    band = retrain.reference_band("net", "HW5Net", runs, chance=0.34, epochs=3)
    assert band.ious == [r.scores.boxes.mean_iou for r in runs]
    assert band.hits == [r.scores.boxes.hits for r in runs]
    plain = [dataclasses.replace(r, scores=dataclasses.replace(r.scores, boxes=None))
             for r in runs]
    assert retrain.reference_band("net", "n", plain, chance=0.34, epochs=3).ious == []
