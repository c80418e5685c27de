"""The example hand-ins of the localization and sequence built-ins (submissions/ece60146-hw5-2023,
ece60146-hw8, ece661-hw3-rnn; written by submissions/make_tasks.py, see submissions/README.md):
`grader check` gives each the verdicts and messages the README promises.

ECE 60146 HW5 (2023): priya right (HW5Net, 68 parameter tensors, CIoU), quinn with a
background class in the class head, 48 parameter tensors and boxes as x, y, width, height.
ECE 60146 HW8: ravi right (GRUnetWithEmbeddings, forward(x, h) -> (LogSoftmax, h)), sara's
forward(x) with its own hidden state. ECE 661 HW3: tom right (forward(x, length), pack_padded),
uma's LSTM ignoring the lengths and her GRU's single BCE logit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.grading.boxes import box_scores
from grader.grading.checks import check_submission
from grader.grading.predictions import validate_predictions
from grader.inputs.data import load_dataset
from grader.spec import load

EXAMPLES = Path(__file__).parent.parent / "submissions"


def _checked(assignment_id: str, students: tuple[str, ...]) -> dict:
    """student -> (report, checks by id, models by key), each hand-in checked once."""
    assignment = load(assignment_id)
    out = {}
    for student in students:
        report = check_submission(EXAMPLES / assignment_id / student, assignment)
        out[student] = (report, {c.id: c for c in report.checks},
                        {m.key: m for m in report.models})
    return out


def _failed(report) -> list[str]:
    return [c.id for c in report.checks if not c.passed]


@pytest.fixture(scope="module")
def hw5():
    return _checked("ece60146-hw5-2023", ("priya", "quinn"))


@pytest.fixture(scope="module")
def hw8():
    return _checked("ece60146-hw8", ("ravi", "sara"))


@pytest.fixture(scope="module")
def hw3():
    return _checked("ece661-hw3-rnn", ("tom", "uma"))


# --- ECE 60146 HW5 (2023): localization -------------------------------------------------------

@pytest.mark.sandbox
def test_priya_passes_every_check_with_both_heads(hw5):
    report, checks, models = hw5["priya"]
    assert report.passed, [(c.id, c.message) for c in report.checks if not c.passed]
    net = models["net"]
    assert (net.class_name, net.source) == ("HW5Net", "hw5_priya.py")
    # the class takes the spec's input_nc and output_nc: built with them, not her own call
    assert checks["net.builds"].message == "HW5Net(input_nc=3, output_nc=3) built"
    assert checks["net.forward"].message == (
        "forward(x) gives cls (B, 3), bbox (B, 4) for batch sizes 1, 2, 7")
    assert [(h.name, h.role, h.shape) for h in net.heads] == [
        ("cls", "label", [1, 3]), ("bbox", "box", [1, 4])]
    assert net.param_tensors == 68
    assert checks["net.param_tensors"].message == (
        "68 learnable layers (len(list(net.parameters()))), at least 50")
    assert report.predictions.valid and report.predictions.rows == 160
    assert len(report.predictions.boxes) == 160


@pytest.mark.sandbox
def test_quinn_background_class_shallow_net_and_xywh_boxes(hw5):
    report, checks, models = hw5["quinn"]
    assert _failed(report) == ["net.forward", "net.param_tensors", "predictions.format"]
    net = models["net"]
    assert (net.class_name, net.call) == ("Net", "Net(input_nc=3)")    # her own call, cell 6
    assert net.built_from == "hw5.ipynb cell 6, line 1"
    forward = checks["net.forward"]
    assert forward.message == "cls: a batch of 1 image gave (1, 4); expected (1, 3)"
    assert "one score per class (3)" in forward.hint
    assert [(h.name, h.shape, h.expected) for h in net.heads] == [
        ("cls", [1, 4], "(B, 3)"), ("bbox", [1, 4], "(B, 4)")]
    assert net.param_tensors == 48
    assert checks["net.param_tensors"].message == (
        "48 learnable layers (len(list(net.parameters()))); the assignment asks for at least 50")
    assert "deeper" in checks["net.param_tensors"].hint
    assert checks["net.params"].passed            # 847,624: the count alone is in range
    fmt = checks["predictions.format"]
    assert "x2 < x1 or y2 < y1: these look like x, y, width, height" in fmt.message
    assert "x1, y1, x2, y2 scaled to 0..1" in fmt.message
    assert not report.predictions.valid


# --- ECE 60146 HW8: (x, h) -> (LogSoftmax, h) -------------------------------------------------

@pytest.mark.sandbox
def test_ravi_takes_x_and_h_and_returns_log_probabilities(hw8):
    report, checks, models = hw8["ravi"]
    assert report.passed, [(c.id, c.message) for c in report.checks if not c.passed]
    net = models["net"]
    assert net.class_name in ("GRUnetWithEmbeddings", "BiGRUnetWithEmbeddings")
    # his own call says num_layers=2; the spec's arguments (num_layers=1) win
    assert checks["net.builds"].message == (
        f"{net.class_name}(input_size=300, hidden_size=100, output_size=2, num_layers=1) built")
    assert checks["net.forward"].message == (
        "forward(x, h) gives out (1, 2) and the new h for sequences of 5, 12 steps; the class "
        "scores are log-probabilities (LogSoftmax): retrained with NLLLoss")
    out = net.heads[0]
    assert (out.name, out.role, out.shape) == ("out", "label", [1, 2])
    # MyGRU (his task 1 GRU, also forward(x, h)) is not an accepted name: never graded
    assert all(c.name != "MyGRU" for c in net.considered)
    assert report.predictions.valid and report.predictions.rows == 400


@pytest.mark.sandbox
def test_ravi_is_graded_on_the_unidirectional_gru(hw8):
    # both accepted classes fit the spec's range alike: the spec's first name wins the tie
    _, _, models = hw8["ravi"]
    assert (models["net"].class_name, models["net"].params) == ("GRUnetWithEmbeddings", 120802)
    bi = next(c for c in models["net"].considered if c.name == "BiGRUnetWithEmbeddings")
    assert bi.status == "lost" and "prefers the name GRUnetWithEmbeddings" in bi.reason


@pytest.mark.sandbox
def test_sara_forward_without_the_hidden_state(hw8):
    report, checks, _ = hw8["sara"]
    assert _failed(report) == ["net.forward"]
    assert checks["net.builds"].passed
    forward = checks["net.forward"]
    assert forward.message == (
        "forward(x, h) on one sequence of 5 steps failed: TypeError: HW8Net.forward() takes "
        "2 positional arguments but 3 were given")
    assert forward.hint.startswith("The course calls forward(x, h); this forward takes 1 input.")
    assert "return (out, h)" in forward.hint and "init_hidden()" in forward.hint
    assert report.predictions.valid           # mediocre, but well formed


# --- ECE 661 HW3: (ids, length) -> [B, 2] ------------------------------------------------------

@pytest.mark.sandbox
def test_tom_lstm_and_gru_take_ids_and_lengths(hw3):
    report, checks, models = hw3["tom"]
    assert report.passed, [(c.id, c.message) for c in report.checks if not c.passed]
    for key, name in (("lstm", "LSTMModel"), ("gru", "GRUModel")):
        model = models[key]
        assert (model.class_name, model.source) == (name, "LabRNN.ipynb cell 6")
        # his call passes vocab_size=len(vocab), which only IMDB can say: the spec's
        # vocab_size = 1000 builds it (the other arguments keep their defaults)
        assert checks[f"{key}.builds"].message == f"{name}(vocab_size=1000) built"
        assert checks[f"{key}.forward"].message == (
            "forward(ids, length) gives logits (B, 2) for batch sizes 1, 2, 7")
        assert [(h.name, h.shape) for h in model.heads] == [("logits", [1, 2])]
    assert report.predictions.valid and report.predictions.rows == 500


@pytest.mark.sandbox
def test_uma_lstm_ignores_lengths_and_gru_has_one_logit(hw3):
    report, checks, models = hw3["uma"]
    assert _failed(report) == ["lstm.forward", "gru.forward"]
    lstm = checks["lstm.forward"]
    assert lstm.message == (
        "forward(ids, length) on a batch of 1 sequence failed: TypeError: "
        "LSTMModel.forward() takes 2 positional arguments but 3 were given")
    assert lstm.hint == ("The course calls forward(ids, length); this forward takes 1 input. "
                         "Give forward the signature forward(ids, length).")
    gru = checks["gru.forward"]
    assert gru.message == "logits: a batch of 1 sequence gave (1, 1); expected (1, 2)"
    assert "one score per class (2)" in gru.hint and "single logit" in gru.hint
    assert [(h.name, h.shape) for h in models["gru"].heads] == [("logits", [1, 1])]
    assert models["lstm"].heads == []          # its forward failed: nothing was returned


# --- predictions.csv against the stand-ins' held-out split (no sandbox) ------------------------

@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """assignment id -> (spec, the synthetic stand-in), built in a fresh cache."""
    cache = tmp_path_factory.mktemp("cache")
    out = {}
    for assignment_id in ("ece60146-hw5-2023", "ece60146-hw8", "ece661-hw3-rnn"):
        spec = load(assignment_id)
        out[assignment_id] = spec, load_dataset(spec.dataset, None, cache_dir=cache,
                                                task=spec.task.kind)
    return out


# (assignment, student) -> (lowest, highest) share of labels right, as submissions/README.md says
LABELS_RIGHT = {
    ("ece60146-hw5-2023", "priya"): (0.80, 0.90),
    ("ece60146-hw5-2023", "quinn"): (0.70, 0.82),
    ("ece60146-hw8", "ravi"): (0.85, 0.95),
    ("ece60146-hw8", "sara"): (0.65, 0.75),
    ("ece661-hw3-rnn", "tom"): (0.84, 0.92),
    ("ece661-hw3-rnn", "uma"): (0.70, 0.80),
}


def _read(spec, student: str, assignment_id: str):
    path = EXAMPLES / assignment_id / student / "predictions.csv"
    return validate_predictions(path, spec.predictions, spec.dataset.class_names)


@pytest.mark.slow    # over 0.25 s: the fast tier stays under a minute
@pytest.mark.parametrize("assignment_id, student", sorted(LABELS_RIGHT))
def test_predictions_files_fit_the_stand_in(held_out, assignment_id, student):
    """Made by make_tasks.py from the current stand-in: rerun it when the stand-in changes."""
    spec, data = held_out[assignment_id]
    if student == "quinn":          # refused as a whole: read her labels without the boxes
        lines = (EXAMPLES / assignment_id / student / "predictions.csv").read_text().split()
        labels = np.array([int(line.split(",")[1]) for line in lines[1:]])
    else:
        report = _read(spec, student, assignment_id)
        assert report.valid, report.errors
        labels = np.asarray(report.labels)
    assert len(labels) == len(data.test_labels) == spec.predictions.rows
    low, high = LABELS_RIGHT[assignment_id, student]
    assert low <= (labels == np.asarray(data.test_labels)).mean() <= high


@pytest.mark.slow    # builds the 256x256 stand-in and imports torch: about 6 s
def test_priya_boxes_are_near_the_truth_and_quinn_s_are_widths(held_out):
    spec, data = held_out["ece60146-hw5-2023"]
    truth = np.asarray(data.test_boxes)
    priya = box_scores(np.asarray(_read(spec, "priya", "ece60146-hw5-2023").boxes), truth, 0.5)
    assert priya.mean_iou > 0.75 and priya.hits > 0.95
    rows = (EXAMPLES / "ece60146-hw5-2023" / "quinn" / "predictions.csv").read_text().split()
    quinn = np.array([[float(v) for v in line.split(",")[2:]] for line in rows[1:]])
    flipped = (quinn[:, 2] < quinn[:, 0]) | (quinn[:, 3] < quinn[:, 1])
    assert 0.3 < flipped.mean() < 0.8          # the rest pass for x1, y1, x2, y2 by chance
    as_corners = np.concatenate([quinn[:, :2], quinn[:, :2] + quinn[:, 2:]], 1)
    assert box_scores(np.clip(as_corners, 0, 1), truth, 0.5).mean_iou > 0.6   # x, y, w, h
