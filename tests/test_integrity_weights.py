"""grader integrity: a student's own checkpoint that does not give their predictions.csv.

`grader evaluate` runs each student's weights on the held-out images and records how often
their labels equal predictions.csv (WeightsReport.agreement); integrity reads that from the
result files and, below the spec's `[weights] agreement`, names the student. The result files
here are built by tests/factories/results.py (pruned_result), the hand-ins written in tmp_path.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from grader import spec
from grader.integrity import IntegrityOptions, find_integrity, write_outputs
from grader.integrity import findings as F
from grader.integrity.models import OwnWeights
from grader.integrity.output import to_json
from grader.results import save
from tests.factories.results import pruned_result

# student -> how often their weights' labels equal their predictions.csv
AGREEMENT = {"kira": 0.9991, "leo": 0.9987, "mona": 0.861, "nils": 0.104}


def _handin(folder, seed: int) -> None:
    """A Colab export pasting the course's model, and predictions.csv in the course format."""
    folder.mkdir(parents=True)
    (folder / "ece661_hw4.py").write_text(textwrap.dedent(f"""\
        # -*- coding: utf-8 -*-
        \"\"\"ECE661_HW4.ipynb\"\"\"
        !pip install torchsummary
        import numpy as np
        import torch
        import torch.nn as nn

        def prune_by_percentage(layer, q={30 + 10 * seed}.0):
            np_weight = layer.weight.data.cpu().numpy()
            thres = np.percentile(np.abs(np_weight), q)
            mask = torch.tensor(np.abs(np_weight) > thres, dtype=torch.float32)
            layer.weight.data = layer.weight.data * mask
        """))
    labels = np.random.default_rng(seed).integers(0, 10, 10000)
    (folder / "predictions.csv").write_text(
        "Id,Label\n" + "".join(f"{i},{p}\n" for i, p in enumerate(labels)))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hw4-integrity")
    klass, grades = root / "class", root / "grades"
    grades.mkdir()
    for seed, (student, agreement) in enumerate(AGREEMENT.items()):
        _handin(klass / student, seed)
        save(pruned_result(student, agreement=agreement), grades / f"{student}.json")
    task = spec.load("ece661-hw4-prune")
    report = find_integrity(klass, task, IntegrityOptions(results=grades, jobs=1))
    return root, task, report


def test_students_whose_weights_do_not_give_their_file_are_found(graded):
    _, task, report = graded
    assert task.weights.agreement == 0.95
    found = {s.student: s for s in report.students_flagged}
    assert sorted(found) == ["mona", "nils"]                 # kira and leo agree (>= 95%)
    mona = found["mona"]
    assert mona.public is None
    (weights,) = mona.weights
    assert (weights.model, weights.file) == ("resnet20", "net_after_global_iterative_prune.pt")
    assert weights.agreement == pytest.approx(0.861) and weights.compared == 10000
    (flag,) = mona.flags
    assert (flag.kind, flag.strength) == ("weights", "moderate")
    assert "86.1% of the images" in flag.evidence and "95%" in flag.evidence
    assert "net_after_global_iterative_prune.pt" in flag.compared
    assert found["nils"].flags[0].strength == "strong"       # 10%: at chance, other weights
    assert any(line.startswith("Weights: 4 students' own checkpoints") for line in
               report.compared)


def test_the_finding_is_in_integrity_json(graded):
    _, _, report = graded
    data = to_json(report)
    mona = next(s for s in data["flagged_students"] if s["student"] == "mona")
    assert mona["public_order"] is None
    assert mona["weights"][0]["agreement"] == pytest.approx(0.861)
    assert mona["flags"][0]["kind"] == "weights"


def test_weights_flag_follows_the_threshold():
    stat = OwnWeights("mona", "resnet20", "ResNet-20, pruned", "net.pt", 0.9, 2000)
    assert F.weights_flag(stat, 0.95).kind == "weights"
    assert F.weights_flag(stat, 0.9) is None                 # at the threshold: agrees
    assert F.weights_flag(OwnWeights("x", "m", "M", "w.pt", None, 0), 0.95) is None
    assert F.weights_flag(OwnWeights("x", "m", "M", "w.pt", 0.0, 0), 0.95) is None  # none compared
    two = F.weights_findings([stat, OwnWeights("mona", "lenet", "LeNet", "l.pt", 0.2, 2000)],
                             0.95)
    assert len(two) == 1 and [w.model for w in two[0].weights] == ["resnet20", "lenet"]


def test_results_without_agreement_say_so_and_flag_nobody(tmp_path):
    import dataclasses

    klass, grades = tmp_path / "class", tmp_path / "grades"
    grades.mkdir()
    for seed, student in enumerate(["kira", "leo"]):
        _handin(klass / student, seed)
        result = pruned_result(student)
        model = result.check.models[0]
        model = dataclasses.replace(model, weights=dataclasses.replace(
            model.weights, agreement=None, compared=0))        # no predictions.csv compared
        save(dataclasses.replace(result, check=dataclasses.replace(result.check,
                                                                   models=[model])),
             grades / f"{student}.json")
    report = find_integrity(klass, spec.load("ece661-hw4-prune"),
                            IntegrityOptions(results=grades, jobs=1))
    assert report.students_flagged == ()
    assert any(n.startswith("Weights: no result file compares") for n in report.notes)


@pytest.mark.pdf
def test_pdf_and_cli_name_the_student(graded, tmp_path):
    import pypdf

    from grader.cli import main

    root, _, report = graded
    outputs = write_outputs(report, tmp_path / "out")
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(outputs.pdf).pages)
    text = " ".join(text.split())
    assert "Weights that do not give their predictions.csv" in text
    assert "mona" in text and "86.1%" in text and "10.4%" in text
    assert "net_after_global_iterative_prune.pt" in text.replace(" ", "")   # a narrow column
    run = CliRunner().invoke(main, ["integrity", str(root / "class"), "--assignment",
                                    "ece661-hw4-prune", "--results", str(root / "grades"),
                                    "--out", str(tmp_path / "cli")])
    assert run.exit_code == 0, run.output
    assert "mona  weights (moderate)" in run.output
    assert "nils  weights (strong)" in run.output
