"""ECE 661 HW4 (pruning) example hand-ins, graded end to end from their own checkpoints
(submissions/ece661-hw4-prune, made by submissions/make_checkpoints.py): nothing is retrained;
each checkpoint is loaded in the sandbox and predicts the held-out split.

- kira: pruned globally to 70% and fine-tuned; predictions.csv from those weights;
- leo: the masks were computed but never applied: no zeros; a checkpoint dict;
- mona: pruned to 70%, but predictions.csv came from the pretrained model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.integrity import IntegrityOptions, find_integrity
from grader.report.render import render_student_html
from grader.run.evaluate import Options, evaluate
from grader.spec import load

pytestmark = [pytest.mark.sandbox, pytest.mark.train]   # grader evaluate: its train sandbox

EXAMPLES = Path(__file__).parent.parent / "submissions" / "ece661-hw4-prune"
CHECKPOINT = "net_after_global_iterative_prune.pt"
NOTE = "does not match the predictions of the weights you handed in"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hw4-prune")
    assignment = load("ece661-hw4-prune")
    results = evaluate(EXAMPLES, assignment, root / "grades",
                       Options(cache_dir=root / "cache", timeout=None))
    return {r.student: r for r in results}, assignment, root


def _weights(result):
    (model,) = result.check.models
    assert model.weights is not None
    return model.weights


def _items(result):
    return {item.id: item for item in result.rubric}


def test_nothing_is_retrained(graded):
    by_name, _, _ = graded
    assert sorted(by_name) == ["kira", "leo", "mona"]
    for result in by_name.values():
        assert result.status == "ok", (result.student, result.error)
        assert result.training == [] and result.reference == []


def test_kira_pruned_to_70_percent_and_keeps_her_accuracy(graded):
    by_name, _, _ = graded
    kira = by_name["kira"]
    w = _weights(kira)
    assert (w.file, w.format, w.loaded) == (CHECKPOINT, "state_dict", True)
    assert w.sparsity.overall == pytest.approx(0.70, abs=0.005)
    assert w.sparsity.conv == pytest.approx(0.70, abs=0.01)
    assert len(w.layers) == 22                  # 19 3x3 convs, 2 1x1 shortcuts, 1 linear
    assert w.accuracy > 0.6                     # clearly above chance (10 classes)
    assert w.agreement > 0.99 and w.compared == 10000
    assert kira.total == kira.possible
    assert not any(NOTE in n for n in w.notes)


def test_leo_never_applied_his_masks(graded):
    by_name, _, _ = graded
    leo = by_name["leo"]
    w = _weights(leo)
    assert (w.file, w.format, w.loaded) == ("resnet20_global_prune_0.7.pth", "checkpoint", True)
    assert w.sparsity.overall < 0.01 and w.nonzero > 0.99 * sum(l.params for l in w.layers)
    items = _items(leo)
    assert items["sparsity"].earned == 0
    assert any("0% zeros" in r or "0.0%" in r for r in items["sparsity"].reasons), \
        items["sparsity"].reasons
    assert items["accuracy"].earned == items["accuracy"].possible   # the weights still work
    assert w.agreement > 0.99                   # his predictions.csv is from these weights


def test_mona_s_predictions_came_from_other_weights(graded):
    by_name, assignment, _ = graded
    mona = by_name["mona"]
    w = _weights(mona)
    assert w.file == CHECKPOINT                 # not the course's pretrained_model.pt beside it
    assert w.sparsity.overall == pytest.approx(0.70, abs=0.005)
    assert 0.5 < w.agreement < assignment.weights.agreement
    assert any(NOTE in n for n in w.notes)
    # a neutral note: no points are taken for it. Her predictions.csv is the pretrained model's,
    # scored like anyone's on its own accuracy; every other item earns all its points
    items = _items(mona)
    assert all(i.earned == i.possible for k, i in items.items() if k != "predictions-accuracy")
    assert not any("weights" in r for r in items["predictions-accuracy"].reasons)
    html = render_student_html(mona)
    assert (f"Your predictions.csv {NOTE} (agreement {100 * w.agreement:.1f}% on 10,000 "
            "held-out images).") in html


def test_integrity_names_mona_alone(graded):
    from grader.cli.integrity import task_starter

    _, assignment, root = graded
    report = find_integrity(EXAMPLES, assignment, IntegrityOptions(
        results=root / "grades", starter=task_starter(assignment), jobs=1))
    assert [(s.student, [f.kind for f in s.flags]) for s in report.students_flagged] == \
        [("mona", ["weights"])]
    assert report.flagged == ()                 # the course's files are starter, not copying
