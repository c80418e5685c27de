"""`grader evaluate` end to end on tiny synthetic data: retraining, scoring, points, crashes."""

from __future__ import annotations

import ast
import json
import re
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from grader import results as results_mod
from grader.cli import main
from grader.inputs.data import load_dataset
from grader.inputs.handins import find_submissions
from grader.run.evaluate import Options, evaluate
from grader.spec import load
from tests.factories.models import SIMPLENN, simplenn
from tests.factories.specs import simplenn_spec

SPEC = simplenn_spec("""
[assignment]
course = "Test course"
title = "Tiny evaluate"
required_files = ["*.py", "predictions.csv"]

[dataset]
synthetic_train = 2000
synthetic_test = 300

[training]
epochs = 2
batch_size = 32
lr = 0.05
schedule = "cosine"

[limits]
wall_seconds = 15
train_wall_seconds = 120

[predictions]
rows = 300

""")

# SimpleNN looking for the held-out labels whenever it is built (LABELS: the labels file)
SNOOP = simplenn(head='''
    import os
    import sys

    DATA = "/sandbox/data"

    PYTHON = {sys.prefix, sys.base_prefix}   # the installation (under /root here): not walked


    def walk(*tops):
        found = []
        for top in tops:
            for folder, subfolders, files in os.walk(top):
                subfolders[:] = [s for s in subfolders if os.path.join(folder, s) not in PYTHON]
                found += [os.path.join(folder, f) for f in files]
        return found
''', init='''
    # on every build: probed (before the data is given), then trained (after)
    for path in walk("/sandbox", "/tmp", "/root", "/home"):
        if ("label" in path or "held_out" in path) and not path.endswith(
                "train_labels.npy"):
            raise RuntimeError("found held-out labels at " + path)
    try:
        open(LABELS).read()
        raise RuntimeError("read the instructor's labels file")
    except OSError:
        pass
    data = sorted(os.listdir(DATA))
    if data:                         # empty while probed; given the data only to train
        raise RuntimeError("SNOOP data folder: " + repr(data))
''')


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    spec_path = root / "tiny.toml"
    spec_path.write_text(SPEC)
    assignment = load(str(spec_path))
    cache = root / "cache"
    dataset = load_dataset(assignment.dataset, None, cache_dir=cache / "data")
    labels = np.asarray(dataset.test_labels)
    labels_file = root / "instructor" / "labels.csv"
    labels_file.parent.mkdir()
    labels_file.write_text("id,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels)))
    klass = root / "class"

    def student(name, files):
        for rel, text in files.items():
            (klass / name / rel).parent.mkdir(parents=True, exist_ok=True)
            (klass / name / rel).write_text(textwrap.dedent(text))

    perfect = "id,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels))
    half = "id,label\n" + "".join(f"{i},{v if i % 2 else (v + 1) % 10}\n"
                                  for i, v in enumerate(labels))
    student("ann", {"models.py": SIMPLENN, "predictions.csv": perfect})
    student("ben", {"models.py": SIMPLENN.replace("16 * 6 * 6, 120", "16 * 5 * 5, 120"),
                    "predictions.csv": half})
    student("cat", {"models.py": "raise SystemExit(0)\n" + SIMPLENN.replace(   # the first
        "super().__init__()", "super().__init__()\n        import os\n        os._exit(0)")})
    # line never runs (it is not part of the model); os._exit(0) in __init__ does
    student("dan", {"models.py": SNOOP.replace("LABELS", repr(str(labels_file))),
                    "predictions.csv": "id,label\n0,1\n"})
    student("eve", {"models.py": simplenn(init="while True:\n    pass")})
    out = root / "grades"
    options = Options(cache_dir=cache, timeout=None)
    results = evaluate(klass, assignment, out, options)
    return {r.student: r for r in results}, out, assignment, root


@pytest.mark.sandbox
@pytest.mark.train
def test_every_student_gets_a_result_file(graded):
    by_name, out, _, _ = graded
    assert sorted(by_name) == ["ann", "ben", "cat", "dan", "eve"]
    for name in by_name:
        loaded = results_mod.load(out / f"{name}.json")
        assert loaded.student == name and loaded.possible == 30
    assert not list(out.glob(".*.tmp"))           # atomic writes leave no temporaries


@pytest.mark.sandbox
@pytest.mark.train
def test_correct_student_trains_beside_the_reference(graded):
    by_name, _, _, _ = graded
    ann = by_name["ann"]
    (trained,) = ann.training
    (ref,) = ann.reference
    assert trained.ok and ref.ok and len(trained.history) == 2
    assert trained.scores.accuracy > 0.15     # above chance (10%) after 2 short epochs of 2,000
    assert sum(map(sum, trained.scores.confusion)) == 300
    # same architecture, same seed, same routine: training is deterministic, so ann's SimpleNN
    # and the reference end with the same predictions
    assert trained.scores == ref.scores
    assert ann.predictions.accuracy == 1.0
    points = {i.id: i.earned for i in ann.rubric}
    assert points["model"] == 10 and points["predictions"] == 10


@pytest.mark.sandbox
@pytest.mark.train
def test_failing_student_loses_points_with_reasons(graded):
    by_name, _, _, _ = graded
    ben = by_name["ben"]
    items = {i.id: i for i in ben.rubric}
    assert items["model"].earned < 10 and any("fc1" in r for r in items["model"].reasons)
    assert items["accuracy"].earned == 0 and items["accuracy"].reasons
    assert ben.predictions.accuracy == pytest.approx(0.5)
    assert items["predictions"].earned == 0
    assert ben.status == "failed"


@pytest.mark.sandbox
@pytest.mark.train
def test_exit_while_loading_and_infinite_loop_do_not_stop_the_class(graded):
    by_name, _, _, _ = graded
    cat, eve = by_name["cat"], by_name["eve"]
    assert cat.total == 0 and not cat.check.passed
    assert cat.check.sandbox.status == "crashed"
    assert "exited with status 0 before the grader's harness finished" in cat.error
    assert eve.total == 0 and eve.check.sandbox.status == "timeout"
    assert "building SimpleNN" in eve.check.sandbox.reason
    assert by_name["ann"].total > 0               # graded after them all the same


@pytest.mark.sandbox
@pytest.mark.train
def test_held_out_labels_never_reach_the_sandbox(graded):
    by_name, _, _, _ = graded
    dan = by_name["dan"]
    (trained,) = dan.training
    # it built when probed (no data, no labels anywhere), then, given the data to train, found
    # no labels either and reported exactly the files of its data folder
    assert not trained.ok and dan.check.sandbox.status == "ok"
    seen = re.search(r"SNOOP data folder: (\[.*?\])", trained.error or "")
    assert seen, trained.error
    seen = ast.literal_eval(seen.group(1))
    assert seen == ["test_images.npy", "train_images.npy", "train_labels.npy"]
    assert not {"test_labels.npy", "held_out.npy", "labels.csv"} & set(seen)
    predictions = {i.id: i for i in dan.rubric}["predictions"]
    assert predictions.earned == 0 and "malformed" in predictions.reasons[0]


@pytest.mark.sandbox
@pytest.mark.train
def test_find_submissions_and_cli(tmp_path, graded):
    _, out, _, _ = graded
    with pytest.raises(Exception, match="no submissions found"):
        find_submissions(tmp_path)
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "missing"), "-a", "ece661-hw2"])
    assert result.exit_code == 2 and "not found" in result.output


def test_gpu_flag_fails_clearly_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "m.py").write_text("x = 1\n")
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "s"), "-a", "ece661-hw2",
                                       "--gpu", "--out", str(tmp_path / "o")])
    assert result.exit_code == 4 and "CUDA is not available" in result.output


@pytest.mark.sandbox
@pytest.mark.train
def test_results_json_round_trip(graded):
    by_name, out, _, _ = graded
    data = json.loads((out / "ann.json").read_text())
    assert data["schema"] == results_mod.SCHEMA_VERSION
    assert results_mod.from_dict(results_mod.EvaluationResult, data) == by_name["ann"]


@pytest.mark.sandbox
@pytest.mark.train
def test_gradescope_autograder_writes_results_json(graded, tmp_path):
    from grader.run.gradescope import run_autograder

    _, _, assignment, root = graded
    target = tmp_path / "results" / "results.json"
    result = run_autograder(assignment, submission=root / "class" / "ann", results=target,
                            options=Options(cache_dir=root / "cache"))
    data = json.loads(target.read_text())
    assert data["score"] == result.total > 0
    assert result.student == "student" and result.predictions.accuracy == 1.0
    assert [t["max_score"] for t in data["tests"]] == [10, 10, 10]
    assert sum(t["score"] for t in data["tests"]) == pytest.approx(data["score"])
    assert all(t["visibility"] == "visible" for t in data["tests"])


@pytest.mark.sandbox
@pytest.mark.train
def test_unreadable_submission_becomes_a_zero_result_with_the_reason(graded, tmp_path):
    _, _, assignment, root = graded
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "zed.zip").write_bytes(b"PK\x03\x04 not really a zip")
    (result,) = evaluate(klass, assignment, tmp_path / "out", Options(cache_dir=root / "cache"))
    assert result.status == "crashed" and result.total == 0 and result.possible == 30
    assert "not a readable zip" in result.error
    assert all(item.earned == 0 and "zed.zip" in item.reasons[0] for item in result.rubric)
    assert results_mod.load(tmp_path / "out" / "zed.json") == result
