"""grader.grading.choose without a sandbox: real candidates from real-looking notebooks, with the
probe results stood in by parameter shapes, so each rule of the choice is tested on its own."""

from __future__ import annotations

from grader.grading.choose import choose
from grader.grading.probe import Measurement, locate
from grader.results import CheckResult
from grader.sandbox.reports import ProbeReport
from grader.inputs.sources import read_sources
from grader.spec import load
from tests.factories.models import SIMPLENN_STUB

PLAIN = {"fc.weight": [10, 8203]}                   # 82,030 parameters
WITH_BN = {"fc.weight": [10, 8203], "bn.weight": [24], "bn.bias": [24]}   # 82,078


def _checks(choice, assignment):
    """Stands in for the sandbox-backed checks: builds when shapes exist, params by count."""
    key = choice.spec.key
    built = choice.measured.shapes is not None
    results = [CheckResult(f"{key}.builds", built, "")]
    if choice.spec.params is not None and built:
        ok = choice.spec.params.accepts(choice.params or 0, choice.reference_params)
        results.append(CheckResult(f"{key}.params", ok, ""))
    return results


def _choose(root, spec, shapes_by_line):
    files, _ = read_sources(root)
    probes = locate(files, spec)
    for probe in probes:
        for candidate in probe.candidates:
            shapes = shapes_by_line.get((candidate.source.where, candidate.source.line),
                                        shapes_by_line.get(candidate.source.call))
            probe.measured[candidate.source.ident] = Measurement(ProbeReport("x", ok=True), shapes)
    return {c.spec.key: c for c in choose(probes, spec, _checks)}


def test_a_notebook_that_defines_simplenn_twice_is_graded_on_the_later_one(tmp_path,
                                                                           make_notebook):
    make_notebook(tmp_path / "s" / "simplenn-cifar10.ipynb",
                  [SIMPLENN_STUB, "net = SimpleNN()", SIMPLENN_STUB])
    probes = _choose(tmp_path / "s", load("ece661-hw2"), {
        ("simplenn-cifar10.ipynb cell 1", 2): PLAIN, ("simplenn-cifar10.ipynb cell 3", 2): PLAIN})
    lab1 = probes["simplenn"]
    assert lab1.source.where == "simplenn-cifar10.ipynb cell 3"
    lost = lab1.considered[1]
    assert lost.source == "simplenn-cifar10.ipynb cell 1"
    assert lost.reason == ("a tie; SimpleNN (simplenn-cifar10.ipynb cell 3, line 2) is defined "
                           "later, as a rerun cell or file would replace it")


def test_a_build_that_fits_a_later_model_is_left_to_it(tmp_path, make_notebook):
    """Lab 1 comes first; its only candidate has Lab 2's count, so Lab 1 is not found."""
    make_notebook(tmp_path / "s" / "hw2.ipynb", [SIMPLENN_STUB])
    probes = _choose(tmp_path / "s", load("ece661-hw2"), {("hw2.ipynb cell 1", 2): WITH_BN})
    assert probes["simplenn"].source is None
    assert "its parameter count fits SimpleNN with BatchNorm (Lab 2), not this model" in (
        probes["simplenn"].not_found)
    assert probes["simplenn-bn"].source.where == "hw2.ipynb cell 1"


def test_an_unnamed_class_is_used_only_when_its_count_fits(tmp_path, make_notebook):
    make_notebook(tmp_path / "s" / "hw2.ipynb", [
        "import torch.nn as nn\nclass LeNet(nn.Module):\n    pass\n"
        "class Other(nn.Module):\n    pass\n"])
    probes = _choose(tmp_path / "s", load("ece661-hw2"), {
        ("hw2.ipynb cell 1", 2): {"w": [5]}, ("hw2.ipynb cell 1", 4): PLAIN})
    lab1 = probes["simplenn"]
    assert lab1.source.qualname == "Other" and lab1.source.substituted
    assert lab1.considered[0].reason == (
        "the only candidate: nothing in its name points at this model, in hw2.ipynb, passes 2 "
        "of 2 checks")
    assert [c.name for c in lab1.considered] == ["Other"]
