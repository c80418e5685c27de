"""The example hand-ins shaped like real ones (submissions/ece661-hw2/gina and hugo): the course
template's three notebooks, renamed, `SimpleNN` in both Lab 1 and Lab 2, the ResNet built with
arguments in a later cell, Colab cells, `Id,Label` with CRLF. `grader check` must give each model
from its own notebook and the verdicts submissions/README.md promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.grading.checks import check_submission
from grader.spec import load

pytestmark = pytest.mark.sandbox

EXAMPLES = Path(__file__).parent.parent / "submissions" / "ece661-hw2"


@pytest.fixture(scope="module")
def checked():
    assignment = load("ece661-hw2")
    out = {}
    for student in ("gina", "hugo"):
        report = check_submission(EXAMPLES / student, assignment)
        out[student] = (report, {c.id: c for c in report.checks},
                        {m.key: m for m in report.models})
    return out


@pytest.mark.parametrize("student, lab2", [("gina", "simplenn-cifar10 -dev.ipynb"),
                                           ("hugo", "simplenn-cifar10-dev1.ipynb")])
def test_each_model_comes_from_its_own_notebook(checked, student, lab2):
    _, _, models = checked[student]
    assert (models["simplenn"].class_name, models["simplenn"].params) == ("SimpleNN", 82030)
    assert models["simplenn"].source.startswith("simplenn-cifar10.ipynb")
    assert (models["simplenn-bn"].class_name, models["simplenn-bn"].params) == ("SimpleNN", 82078)
    assert models["simplenn-bn"].source.startswith(lab2)
    assert models["resnet20"].class_name == "ResNetCIFAR"


def test_gina_passes_every_check(checked):
    report, checks, models = checked["gina"]
    assert report.passed, [c.message for c in report.checks if not c.passed]
    assert checks["resnet20.builds"].message.startswith("ResNetCIFAR(BasicBlock, [3, 3, 3])")
    assert report.predictions.valid and report.predictions.rows == 10_000
    for model in models.values():             # convolutions declared before BatchNorms: no red
        assert not any(row.differs for row in model.layers), model.key


def test_hugo_fails_only_the_batchnorm_order(checked):
    report, checks, models = checked["hugo"]
    assert [c.id for c in report.checks if not c.passed] == ["simplenn-bn.batchnorm"]
    bn = checks["simplenn-bn.batchnorm"]
    assert bn.message == ("BatchNorm does not directly follow every convolution in forward: "
                          "conv1 -> F.relu -> bn1 (BatchNorm2d), BatchNorm after the activation; "
                          "conv2 -> F.relu -> bn2 (BatchNorm2d), BatchNorm after the activation")
    assert "before the activation" in bn.hint
    resnet = models["resnet20"]                   # option B against the option A reference
    assert resnet.params == 272474 and checks["resnet20.params"].passed
    assert not any(row.differs for row in resnet.layers)
    assert [r.name for r in resnet.layers if r.params and r.expected_params is None] == [
        "layer2.0.shortcut.0", "layer2.0.shortcut.1", "layer3.0.shortcut.0",
        "layer3.0.shortcut.1"]
    assert report.predictions.valid          # Id,Label with CRLF and a byte-order mark
    assert (EXAMPLES / "hugo" / "predictions.csv").read_bytes().startswith(
        b"\xef\xbb\xbfId,Label\r\n")
