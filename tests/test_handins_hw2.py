"""ECE 661 HW2 hand-ins shaped like real ones, checked end to end in the sandbox.

Each test reproduces a pattern that made the grader grade the wrong class, or none, on real
hand-ins (issue 9) and asserts the verdict and the message.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from grader.grading.checks import check_submission
from grader.cli import main
from grader.spec import load
from tests.factories.handins import (COLAB, IMPORTS, LAB1_SIMPLENN, LAB2_SIMPLENN, RESNET_CIFAR,
                                    RESNET_IMPORTS, TRAIN, hw2_three_notebooks, notebook,
                                    predictions)


def _by_id(report):
    return {c.id: c for c in report.checks}, {m.key: m for m in report.models}


@pytest.fixture(scope="module")
def three_notebooks(tmp_path_factory):
    """Lab 2's notebook renamed with a space (`simplenn-cifar10 -dev.ipynb`), which sorts
    before Lab 1's: the first-file-wins rule graded Lab 1 on the BatchNorm model."""
    root = hw2_three_notebooks(tmp_path_factory.mktemp("hw2") / "student",
                               lab2_name="simplenn-cifar10 -dev.ipynb")
    return check_submission(root, load("ece661-hw2"))


@pytest.mark.sandbox
def test_same_class_name_in_lab1_and_lab2_notebooks(three_notebooks):
    checks, models = _by_id(three_notebooks)
    assert models["simplenn"].source == "simplenn-cifar10.ipynb cell 3"
    assert models["simplenn-bn"].source == "simplenn-cifar10 -dev.ipynb cell 3"
    assert models["simplenn"].params == 82030 and models["simplenn-bn"].params == 82078
    for key in ("simplenn", "simplenn-bn"):
        for step in ("found", "builds", "forward", "params", "layers"):
            assert checks[f"{key}.{step}"].passed, checks[f"{key}.{step}"].message
    assert checks["simplenn-bn.batchnorm"].passed
    # every candidate is reported with the reason it won or lost
    lab1 = models["simplenn"].considered
    assert [(c.source, c.status) for c in lab1] == [
        ("simplenn-cifar10.ipynb cell 3", "chosen"), ("simplenn-cifar10 -dev.ipynb cell 3", "lost")]
    assert "the file the assignment names for SimpleNN with BatchNorm (Lab 2)" in lab1[1].reason
    assert lab1[1].params == 82078
    lab2 = models["simplenn-bn"].considered
    assert lab2[0].chosen and lab2[1].reason == "already graded as SimpleNN (Lab 1)"
    assert checks["simplenn.found"].message == (
        "SimpleNN (simplenn-cifar10.ipynb cell 3, line 2); best of 2 candidates: an "
        "accepted name, in simplenn-cifar10.ipynb, the file the assignment names for it, "
        "passes 4 of 4 checks")


@pytest.mark.sandbox
def test_class_with_required_args_is_built_as_the_student_builds_it(three_notebooks):
    """`ResNetCIFAR(BasicBlock, num_blocks)` in a later cell, `num_blocks = [3, 3, 3]` in the
    cell before; forward is annotated `-> torch.Tensor` and torch is used nowhere else."""
    checks, models = _by_id(three_notebooks)
    resnet = models["resnet20"]
    assert resnet.class_name == "ResNetCIFAR" and resnet.params == 272474
    assert resnet.call == "ResNetCIFAR(BasicBlock, [3, 3, 3])"
    assert resnet.built_from == "resnet_cifar10.ipynb cell 5, line 1"
    assert checks["resnet20.builds"].passed
    assert checks["resnet20.builds"].message == (
        "ResNetCIFAR(BasicBlock, [3, 3, 3]) built (as in resnet_cifar10.ipynb cell 5, line 1)")
    assert "built as the student builds it" in checks["resnet20.found"].message
    assert checks["resnet20.layers"].passed and checks["resnet20.params"].passed
    assert three_notebooks.passed, [c.message for c in three_notebooks.checks if not c.passed]


@pytest.mark.sandbox
def test_terminal_and_json_show_the_candidates(three_notebooks):
    from grader.results import to_dict
    from grader.cli.terminal import check_summary

    text = check_summary(three_notebooks)
    assert "built as ResNetCIFAR(BasicBlock, [3, 3, 3]), as in resnet_cifar10.ipynb cell 5" in text
    assert "not chosen: SimpleNN (simplenn-cifar10 -dev.ipynb cell 3, line 2, 82,078 params)" in text
    data = to_dict(three_notebooks)
    lab1 = next(m for m in data["models"] if m["key"] == "simplenn")
    assert lab1["expected_params"] == 82030 and lab1["expected_text"] == "82,030"
    resnet = next(m for m in data["models"] if m["key"] == "resnet20")
    assert resnet["expected_params"] is None and resnet["expected_range"] == [269722, 272474]
    assert {c["status"] for c in lab1["considered"]} == {"chosen", "lost"}
    json.dumps(data)


@pytest.mark.sandbox
def test_without_file_names_the_best_fit_wins(tmp_path):
    """Neither notebook has a template name, and the BatchNorm one sorts first: the fit
    (82,030 parameters for Lab 1, BatchNorm after each conv for Lab 2) decides."""
    root = tmp_path / "bob"
    notebook(root / "hw2_a_batchnorm.ipynb", [COLAB, IMPORTS, LAB2_SIMPLENN, TRAIN])
    notebook(root / "hw2_b_plain.ipynb", [COLAB, IMPORTS, LAB1_SIMPLENN, TRAIN])
    predictions(root / "predictions.csv")
    checks, models = _by_id(check_submission(root, load("ece661-hw2")))
    assert models["simplenn"].source == "hw2_b_plain.ipynb cell 3"
    assert models["simplenn-bn"].source == "hw2_a_batchnorm.ipynb cell 3"
    lost = next(c for c in models["simplenn"].considered if c.status == "lost")
    assert lost.source == "hw2_a_batchnorm.ipynb cell 3"
    assert "fits the spec less well" in lost.reason and "fails params" in lost.reason
    assert checks["simplenn.params"].passed and checks["simplenn-bn.params"].passed
    assert not checks["resnet20.found"].passed


@pytest.mark.sandbox
def test_a_name_that_says_otherwise_is_never_graded(tmp_path):
    """The Lab 2 notebook keeps SimpleNN_nobn beside its BatchNormNN: the name rules the
    first out, and BatchNormNN is found although no accepted name resembles it."""
    root = tmp_path / "carol"
    notebook(root / "simplenn-cifar10.ipynb", [COLAB, IMPORTS, LAB1_SIMPLENN, TRAIN])
    nobn = LAB1_SIMPLENN.replace("SimpleNN", "SimpleNN_nobn")
    bn = LAB2_SIMPLENN.replace("SimpleNN", "BatchNormNN")
    notebook(root / "simplenn-cifar10-dev1.ipynb", [COLAB, IMPORTS, nobn, bn,
                                                    TRAIN.replace("SimpleNN", "BatchNormNN")])
    predictions(root / "predictions.csv")
    checks, models = _by_id(check_submission(root, load("ece661-hw2")))
    bn_model = models["simplenn-bn"]
    assert bn_model.class_name == "BatchNormNN" and bn_model.substituted
    assert bn_model.source == "simplenn-cifar10-dev1.ipynb cell 4"
    assert checks["simplenn-bn.found"].passed and checks["simplenn-bn.batchnorm"].passed
    assert "used BatchNormNN (simplenn-cifar10-dev1.ipynb cell 4, line 2) instead" in (
        checks["simplenn-bn.found"].message)
    ruled_out = next(c for c in bn_model.considered if c.name == "SimpleNN_nobn")
    assert ruled_out.status == "excluded" and ruled_out.reason == "its name says it has no BatchNorm"
    assert models["simplenn"].class_name == "SimpleNN"
    assert models["simplenn"].source == "simplenn-cifar10.ipynb cell 3"


COLAB_EXPORT = '''\
# -*- coding: utf-8 -*-
"""simplenn-cifar10.ipynb

Automatically generated by Colaboratory.
"""

!wget https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz \\
    -O cifar-10-python.tar.gz
!tar -xzf cifar-10-python.tar.gz
%matplotlib inline

''' + IMPORTS.replace("%matplotlib inline\n", "") + "\n" + LAB1_SIMPLENN + "\n" + TRAIN

BROKEN_RESNET = RESNET_IMPORTS + "\n" + RESNET_CIFAR.replace(
    "        self.in_planes = 16\n", "        self.in_planes = 16\n        self.depth = [3, 3, 3\n") + '''

def resnet20():
    return ResNetCIFAR(BasicBlock, [3, 3, 3])

for epoch in range(200):
    print("epoch", epoch
'''


@pytest.mark.sandbox
def test_colab_export_and_a_real_syntax_error(tmp_path):
    """A .py exported from Colab keeps `!wget ... \\` and `%matplotlib`; the ResNet file has an
    unclosed bracket inside the class and another in the training loop."""
    root = tmp_path / "dave"
    (root).mkdir()
    (root / "simplenn_cifar10.py").write_text(COLAB_EXPORT, encoding="utf-8")
    (root / "resnet_cifar10.py").write_text(BROKEN_RESNET, encoding="utf-8")
    predictions(root / "predictions.csv")
    report = check_submission(root, load("ece661-hw2"))
    checks, models = _by_id(report)
    assert checks["simplenn.found"].passed and checks["simplenn.params"].passed
    assert models["simplenn"].source == "simplenn_cifar10.py"
    syntax = checks["files.syntax"]
    assert not syntax.passed and syntax.message.startswith("2 part(s) of the code do not parse")
    assert "resnet_cifar10.py, line 29: invalid syntax" in syntax.message       # the file,
    assert ": self.depth = [3, 3, 3;" in syntax.message                        # line and text
    assert "resnet_cifar10.py, line 55: '(' was never closed" in syntax.message
    # the class with the error is not read; the factory that calls it cannot build
    assert not checks["resnet20.builds"].passed
    assert "ResNetCIFAR" in checks["resnet20.builds"].message
    assert not report.passed
    # the JSON carries the same check
    runner = CliRunner()
    out = runner.invoke(main, ["check", str(root), "-a", "ece661-hw2", "--json"])
    assert out.exit_code == 1
    data = json.loads(out.output)
    assert any(c["id"] == "files.syntax" and "line 29" in c["message"] for c in data["checks"])


def test_syntax_error_inside_the_only_model_is_named_in_found(tmp_path):
    root = tmp_path / "erin"
    root.mkdir()
    broken = RESNET_IMPORTS + RESNET_CIFAR.replace("ResNetCIFAR", "ResNet20").replace(
        "def __init__(self, block, num_blocks, num_classes=10):",
        "def __init__(self, block=BasicBlock, num_blocks=(3, 3, 3), num_classes=10)")
    (root / "resnet_cifar10.py").write_text(broken, encoding="utf-8")
    spec = load("ece661-hw2")
    checks, _ = _by_id(check_submission(root, spec))
    found = checks["resnet20.found"]
    assert not found.passed
    assert ("Code that does not parse (skipped): resnet_cifar10.py, line 25: expected ':': "
            "def __init__(self, block=BasicBlock") in found.message
    assert found.message.startswith("ResNet-20 (Lab 3): no class or factory function named "
                                    "ResNet20 or resnet20 or ResNet_20 or ResNet was found. "
                                    "nn.Module classes found: BasicBlock (resnet_cifar10.py")
    assert "Fix the syntax errors" in found.hint


@pytest.mark.sandbox
def test_student_report_shows_candidates_and_construction(three_notebooks):
    import dataclasses

    from grader.report import render as report
    from tests.factories.results import good_result

    result = dataclasses.replace(good_result(), check=three_notebooks)
    html = report.render_student_html(result)
    assert "<th>Built as</th><td><code>ResNetCIFAR(BasicBlock, [3, 3, 3])</code>, as your code " \
           "builds it (resnet_cifar10.ipynb cell 5, line 1)" in html
    assert "<th>Candidates</th>" in html
    assert "already graded as SimpleNN (Lab 1)" in html
    assert "the only other nn.Module" not in html


@pytest.mark.sandbox
def test_syntax_error_reaches_the_student_report(tmp_path):
    import dataclasses

    from grader.report import render as report
    from tests.factories.results import good_result

    root = tmp_path / "frank"
    root.mkdir()
    (root / "resnet_cifar10.py").write_text(BROKEN_RESNET, encoding="utf-8")
    check = check_submission(root, load("ece661-hw2"))
    html = report.render_student_html(dataclasses.replace(good_result(), check=check))
    fix = html.split("What to fix", 1)[1]
    assert "files.syntax" in fix and "resnet_cifar10.py, line 29: invalid syntax" in fix
