"""Models that are built, not declared (issue 19), in hand-ins shaped like real ones.

Transfer-learning and intro courses build their models: a torchvision backbone with a new head,
`nn.Sequential` in a notebook cell, a `get_model()` helper. Each test writes one such hand-in
into tmp_path (notebooks with `!pip`, `drive.mount` and training cells, `.py` files exported
from Colab with `!` lines), grades it in the sandbox, and asserts the parameter count and the
message. The first checks that checks outrank names: the Lab 2 notebook that keeps the
template's `SimpleNN` beside the student's `BatchNormNN` is graded on `BatchNormNN`. Then the
transfer-learning shapes (Tiny ImageNet), nn.Sequential, what a binding's generated module
holds (fast), the example in submissions/, the template's syntax errors as notes (the
course's starter, from `[assignment] starter`, named as the template), the facts of how a model
was built as result fields, and a family of architectures accepted by reference.
"""

from __future__ import annotations

import pytest

from pathlib import Path

from grader.grading.checks import check_submission
from grader.grading.handin_checks import built_as_text, parse_note_text
from grader.spec import load
from tests.factories.handins import (COLAB, IMPORTS, LAB1_SIMPLENN, LAB2_SIMPLENN, TRAIN,
                                    hw2_three_notebooks, notebook)


def _by_id(report):
    return {c.id: c for c in report.checks}, {m.key: m for m in report.models}


@pytest.mark.sandbox
def test_a_bn_model_that_passes_every_check_beats_the_template_simplenn(tmp_path):
    """Lab 2's notebook keeps the template's SimpleNN (82,030, no BatchNorm) and adds the
    student's BatchNormNN (82,078, BatchNorm after each conv): BatchNormNN is graded."""
    root = hw2_three_notebooks(tmp_path / "student")
    batchnorm_nn = LAB2_SIMPLENN.replace("class SimpleNN(", "class BatchNormNN(").replace(
        "super(SimpleNN, self)", "super(BatchNormNN, self)")
    notebook(root / "simplenn-cifar10-dev.ipynb", [
        COLAB, IMPORTS, LAB1_SIMPLENN, batchnorm_nn, TRAIN.replace("SimpleNN()", "BatchNormNN()")])
    report = check_submission(root, load("ece661-hw2"))
    checks, models = _by_id(report)
    lab2 = models["simplenn-bn"]
    assert lab2.class_name == "BatchNormNN" and lab2.params == 82078
    assert lab2.source == "simplenn-cifar10-dev.ipynb cell 4"
    for step in ("found", "builds", "forward", "params", "layers", "batchnorm"):
        assert checks[f"simplenn-bn.{step}"].passed, checks[f"simplenn-bn.{step}"].message
    assert checks["simplenn-bn.found"].message.startswith("BatchNormNN (simplenn-cifar10-dev"
                                                         ".ipynb cell 4, line 2); best of ")
    assert ("chosen over SimpleNN (simplenn-cifar10-dev.ipynb cell 3, line 2), which has an "
            "accepted name but passes 3 of 5 checks (fails params, batchnorm)"
            ) in checks["simplenn-bn.found"].message
    lost = next(c for c in lab2.considered if c.source == "simplenn-cifar10-dev.ipynb cell 3")
    assert lost.params == 82030 and lost.reason == (
        "an accepted name, but passes 3 of 5 checks (fails params, batchnorm); BatchNormNN "
        "(not an accepted name, but it says BatchNorm) passes 5 of 5 checks, and checks "
        "outrank names")
    # Lab 1 is still its own notebook's SimpleNN
    assert models["simplenn"].source == "simplenn-cifar10.ipynb cell 3"
    assert models["simplenn"].params == 82030


# ------------------------------------------------------------------ transfer learning (Tiny ImageNet)

RESNET18_200 = 11_279_112           # torchvision's resnet18 with a 200-way head (FACTS.md)
RESNET18_200_3X3_STEM = RESNET18_200 - 64 * 3 * 7 * 7 + 64 * 3 * 3 * 3     # 11,271,432

TINY_COLAB = """\
!pip install -q torchsummary
from google.colab import drive
drive.mount('/content/drive')
!unzip -q /content/drive/MyDrive/tiny-imagenet-200.zip -d /content
"""

TINY_IMPORTS = """\
import torch
import torch.nn as nn
import torchvision
from torchvision import models, transforms
device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
"""

TINY_TRAIN = """\
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
train_set = torchvision.datasets.ImageFolder('/content/tiny-imagenet-200/train',
                                             transform=transforms.ToTensor())
for epoch in range(15):
    for x, y in torch.utils.data.DataLoader(train_set, batch_size=256, shuffle=True):
        optimizer.zero_grad()
        loss = criterion(model(x.to(device)), y.to(device))
        loss.backward()
        optimizer.step()
torch.save(model.state_dict(), 'resnet18_tiny.pth')
"""


def _student_html(report) -> str:
    """The student report's HTML for a result whose check is this report."""
    import dataclasses

    from grader.report import render
    from tests.factories.results import good_result

    return render.render_student_html(dataclasses.replace(good_result(), check=report))


def _tiny(root, report_key="resnet18"):
    report = check_submission(root, load("tiny-imagenet"))
    checks, models = _by_id(report)
    return checks, models[report_key]


def _passes_model_checks(checks, key="resnet18"):
    for step in ("found", "builds", "forward", "params", "layers"):
        assert checks[f"{key}.{step}"].passed, checks[f"{key}.{step}"].message


@pytest.mark.sandbox
def test_head_swap_at_module_level_in_a_colab_export(tmp_path):
    """A .py file exported from Colab: `!` lines, the head replaced after the constructor,
    `.to(device)` chained, a training loop after it that the grader never runs."""
    root = tmp_path / "student"
    root.mkdir()
    (root / "tiny_imagenet.py").write_text(
        "# -*- coding: utf-8 -*-\n\"\"\"Automatically generated by Colab.\"\"\"\n\n"
        + TINY_COLAB + TINY_IMPORTS
        + "model = models.resnet18().to(device)\n"
          "model.fc = nn.Linear(model.fc.in_features, 200)\n"
        + TINY_TRAIN, encoding="utf-8")
    checks, model = _tiny(root)
    _passes_model_checks(checks)
    assert model.params == RESNET18_200 and model.class_name == "model"
    assert model.call == "models.resnet18() with fc replaced"
    assert model.built_from == "tiny_imagenet.py, lines 13-14"
    assert checks["resnet18.found"].message == (
        "no class named ResNet18 or resnet18 or ResNet; used model (tiny_imagenet.py, line 13) "
        "instead; built as the student builds it: models.resnet18() with fc replaced "
        "(tiny_imagenet.py, lines 13-14)")
    assert checks["resnet18.builds"].message == (
        "models.resnet18() with fc replaced built (as in tiny_imagenet.py, lines 13-14)")


@pytest.mark.sandbox
def test_head_swap_in_a_factory_of_any_name(tmp_path):
    """`get_model(n_classes)` in a notebook (not the spec's `num_classes`): built as the
    student calls it, with the constant put in."""
    notebook(tmp_path / "s" / "transfer.ipynb", [
        TINY_COLAB, TINY_IMPORTS,
        "def get_model(n_classes):\n"
        "    net = torchvision.models.resnet18()\n"
        "    net.fc = nn.Linear(512, n_classes)\n"
        "    return net\n",
        "NUM_CLASSES = 200\nmodel = get_model(NUM_CLASSES).to(device)\n",
        TINY_TRAIN])
    checks, model = _tiny(tmp_path / "s")
    _passes_model_checks(checks)
    assert model.params == RESNET18_200 and model.class_name == "get_model"
    assert model.call == "get_model(200) (torchvision.models.resnet18() with fc replaced)"
    assert model.built_from == "transfer.ipynb cell 4, line 2"
    assert "built as the student builds it: get_model(200) (torchvision.models.resnet18() " \
           "with fc replaced) (transfer.ipynb cell 4, line 2)" in checks["resnet18.found"].message


@pytest.mark.sandbox
def test_a_pretrained_backbone_is_built_offline(tmp_path):
    """`weights=ResNet18_Weights.DEFAULT` in a factory: the same architecture with
    weights=None (the sandbox has no network), and the report says so."""
    notebook(tmp_path / "s" / "transfer.ipynb", [
        TINY_COLAB, TINY_IMPORTS + "from torchvision.models import ResNet18_Weights\n",
        "def build_model():\n"
        "    backbone = models.resnet18(weights=ResNet18_Weights.DEFAULT)\n"
        "    backbone.fc = nn.Linear(backbone.fc.in_features, 200)\n"
        "    return backbone\n",
        "model = build_model()\nmodel = model.to(device)\n", TINY_TRAIN])
    checks, model = _tiny(tmp_path / "s")
    _passes_model_checks(checks)
    assert model.params == RESNET18_200 and model.class_name == "build_model"
    assert ("pretrained weights not downloaded: built with weights=None instead of "
            "weights=ResNet18_Weights.DEFAULT (transfer.ipynb cell 3, line 2)"
            ) in checks["resnet18.found"].message
    # the same facts as fields of the model's result, not only inside the message
    assert model.built_kind == "function" and not model.frozen_params
    assert model.offline_weights == ["weights=ResNet18_Weights.DEFAULT (transfer.ipynb cell 3, "
                                     "line 2)"]
    assert built_as_text(model) == (
        "build_model() (models.resnet18() with fc replaced), as in transfer.ipynb cell 4, "
        "line 1; "
        "pretrained weights not downloaded: built with weights=None instead of "
        "weights=ResNet18_Weights.DEFAULT (transfer.ipynb cell 3, line 2)")


@pytest.mark.sandbox
def test_a_torchvision_subclass_with_a_changed_stem(tmp_path):
    """`class TinyResNet18(models.ResNet)`: a 3x3 stem and no max-pool for 64x64 images."""
    notebook(tmp_path / "s" / "resnet18-tiny.ipynb", [
        TINY_COLAB, TINY_IMPORTS,
        "from torchvision.models.resnet import BasicBlock\n\n"
        "class TinyResNet18(models.ResNet):\n"
        "    def __init__(self, num_classes=200):\n"
        "        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)\n"
        "        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)\n"
        "        self.maxpool = nn.Identity()\n",
        "model = TinyResNet18().to(device)\n", TINY_TRAIN])
    checks, model = _tiny(tmp_path / "s")
    _passes_model_checks(checks)
    assert model.params == RESNET18_200_3X3_STEM and model.class_name == "TinyResNet18"
    assert checks["resnet18.found"].message.startswith(
        "no class named ResNet18 or resnet18 or ResNet; used TinyResNet18 "
        "(resnet18-tiny.ipynb cell 3, line 3) instead")
    conv1 = next(r for r in model.layers if r.name == "conv1")
    assert conv1.params == 1728


TEMPLATE_RESNET18 = """\
class ResNet18(nn.Module):
    def __init__(self, num_classes=200):
        super().__init__()
        # TODO: build ResNet-18 here (or fine-tune torchvision's)

    def forward(self, x):
        # TODO
        pass
"""


@pytest.mark.sandbox
def test_tiny_imagenet_hand_in_that_fine_tunes_a_pretrained_resnet18(tmp_path):
    """The usual transfer-learning notebook: the starter's `ResNet18` skeleton left unfinished,
    then `resnet18(pretrained=True)`, the backbone frozen by a loop (training, not
    architecture: not run), a new 200-way head, training cells. The built model passes every
    check and beats the skeleton's accepted name."""
    notebook(tmp_path / "s" / "TinyImageNet_Transfer.ipynb", [
        TINY_COLAB, TINY_IMPORTS, TEMPLATE_RESNET18,
        "model = models.resnet18(pretrained=True)\n"
        "for param in model.parameters():\n"
        "    param.requires_grad = False\n",
        "num_ftrs = model.fc.in_features\n"
        "model.fc = nn.Linear(num_ftrs, 200)\n"
        "model = model.to(device)\n",
        TINY_TRAIN,
        "with open('predictions.csv', 'w') as f:\n    f.write('id,label\\n')\n"])
    checks, model = _tiny(tmp_path / "s")
    _passes_model_checks(checks)
    assert model.params == RESNET18_200 and model.class_name == "model"
    assert model.call == "models.resnet18() with fc replaced"
    assert model.built_from == ("TinyImageNet_Transfer.ipynb cell 4, line 1 to "
                                "TinyImageNet_Transfer.ipynb cell 5, line 2")
    message = checks["resnet18.found"].message
    assert message.startswith("model (TinyImageNet_Transfer.ipynb cell 4, line 1); built as "
                              "the student builds it: models.resnet18() with fc replaced")
    assert ("pretrained weights not downloaded: built with weights=None instead of "
            "pretrained=True (TinyImageNet_Transfer.ipynb cell 4, line 1)") in message
    assert ("chosen over ResNet18 (TinyImageNet_Transfer.ipynb cell 3, line 1), which has an "
            "accepted name but passes 1 of 4 checks (fails forward, params, layers)") in message
    skeleton = next(c for c in model.considered if c.name == "ResNet18")
    assert skeleton.status == "lost" and skeleton.params == 0


# ------------------------------------------------------------------ nn.Sequential (intro courses)

SEQUENTIAL = """\
nn.Sequential(
    nn.Conv2d(3, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(16 * 6 * 6, 120), nn.ReLU(),
    nn.Linear(120, 84), nn.ReLU(),
    nn.Linear(84, 10))"""


@pytest.mark.sandbox
def test_sequential_as_a_notebook_variable(tmp_path, one_model_spec):
    notebook(tmp_path / "s" / "lab1.ipynb", [
        COLAB, IMPORTS, "simple = " + SEQUENTIAL + ".to(device)\n",
        TRAIN.replace("SimpleNN().to(device)", "simple")])
    report = check_submission(tmp_path / "s", load(str(one_model_spec())))
    checks, models = _by_id(report)
    _passes_model_checks(checks, "simplenn")
    assert models["simplenn"].params == 82030 and models["simplenn"].class_name == "simple"
    assert models["simplenn"].call.startswith("nn.Sequential(nn.Conv2d(3, 8, 5), nn.ReLU()")
    assert checks["simplenn.found"].message.startswith(
        "no class named SimpleNN; used simple (lab1.ipynb cell 3, line 1) instead; built as "
        "the student builds it: nn.Sequential(")


@pytest.mark.sandbox
def test_sequential_from_a_factory_with_an_ordered_dict(tmp_path, one_model_spec):
    root = tmp_path / "s"
    root.mkdir()
    (root / "model.py").write_text(
        "from collections import OrderedDict\nimport torch.nn as nn\n\n\n"
        "def make_cnn():\n"
        "    return nn.Sequential(OrderedDict([\n"
        "        ('conv1', nn.Conv2d(3, 8, 5)), ('relu1', nn.ReLU()), ('pool1', nn.MaxPool2d(2)),\n"
        "        ('conv2', nn.Conv2d(8, 16, 3)), ('relu2', nn.ReLU()), ('pool2', nn.MaxPool2d(2)),\n"
        "        ('flat', nn.Flatten()), ('fc1', nn.Linear(576, 120)), ('relu3', nn.ReLU()),\n"
        "        ('fc2', nn.Linear(120, 84)), ('relu4', nn.ReLU()), ('fc3', nn.Linear(84, 10))]))\n"
        "\n\nif __name__ == '__main__':\n    net = make_cnn()\n    train(net)\n",
        encoding="utf-8")
    report = check_submission(root, load(str(one_model_spec())))
    checks, models = _by_id(report)
    _passes_model_checks(checks, "simplenn")
    assert models["simplenn"].params == 82030 and models["simplenn"].class_name == "make_cnn"
    assert [r.name for r in models["simplenn"].layers if r.params][:2] == ["conv1", "conv2"]
    assert checks["simplenn.found"].message.startswith(
        "no class named SimpleNN; used make_cnn (model.py, line 5) instead; built as "
        "make_cnn() (nn.Sequential(OrderedDict([")


# ------------------------------------------------------------------ static: what is sliced, what is said

def test_a_binding_is_built_from_its_statements_only(tmp_path):
    """The generated module holds the constructor (weights asked for as none, no .to()),
    the surgery and the assignment it reads; not the freezing loop, the training cell, the
    optimizer or the `__main__` body."""
    from grader.grading.probe import locate
    from grader.inputs.sources import read_sources

    notebook(tmp_path / "s" / "transfer.ipynb", [
        TINY_COLAB, TINY_IMPORTS,
        "model = models.resnet18(weights='IMAGENET1K_V1').cuda()\n"
        "for param in model.parameters():\n    param.requires_grad = False\n"
        "model.fc.weight.requires_grad = True\n",
        "num_ftrs = model.fc.in_features\nmodel.fc = nn.Linear(num_ftrs, 200)\n",
        TINY_TRAIN,
        "if __name__ == '__main__':\n    model.layer4 = nn.Identity()\n"])
    files, _ = read_sources(tmp_path / "s")
    (probe,) = locate(files, load("tiny-imagenet"))
    (candidate,) = probe.candidates
    code = candidate.source.code
    assert ("def __grader_build__(**_spec_args):\n"
            "    model = models.resnet18(weights=None)\n"
            "    num_ftrs = model.fc.in_features\n"
            "    model.fc = nn.Linear(num_ftrs, 200)\n"
            "    return model\n") in code
    for never in ("requires_grad", "optimizer", "backward", "layer4", "drive.mount", ".cuda()"):
        assert never not in code, never
    assert candidate.source.offline == (
        "weights='IMAGENET1K_V1' (transfer.ipynb cell 3, line 1)",)
    assert probe.built == ("model = models.resnet18() with fc replaced (transfer.ipynb "
                           "cell 3, line 1)",)


def _found(root, spec, shapes):
    """grader.grading.checks.found over real candidates, the probe stood in by shapes."""
    from grader.grading.checks import found
    from grader.grading.choose import choose
    from grader.grading.probe import Measurement, locate
    from grader.inputs.sources import read_sources
    from grader.results import CheckResult
    from grader.sandbox.reports import ProbeReport

    def checks(choice, assignment):
        ok = choice.measured.shapes is not None
        results = [CheckResult(f"{choice.spec.key}.builds", ok, "")]
        if ok and choice.spec.params is not None:
            results.append(CheckResult(f"{choice.spec.key}.params", choice.spec.params.accepts(
                choice.params or 0, choice.reference_params), ""))
        return results

    files, _ = read_sources(root)
    probes = locate(files, spec)
    for p in probes:
        for c in p.candidates:
            p.measured[c.source.ident] = Measurement(ProbeReport("x", ok=True), shapes)
    return {c.spec.key: found(c, spec) for c in choose(probes, spec, checks)}


@pytest.mark.parametrize("cell, says", [
    ("print('no model yet')\n", "nn.Module classes found: none."),
    ("model = nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))\n",
     "No nn.Module class of its own; models built: model = nn.Sequential(nn.Flatten(), "
     "nn.Linear(3072, 10)) (lab1.ipynb cell 3, line 1)."),
])
def test_none_only_when_the_code_builds_no_module(tmp_path, one_model_spec, cell, says):
    notebook(tmp_path / "s" / "lab1.ipynb", [COLAB, IMPORTS, cell])
    result = _found(tmp_path / "s", load(str(one_model_spec())), {"fc.weight": [10, 3072]})
    message = result["simplenn"].message
    assert not result["simplenn"].passed and says in message
    assert ("nn.Module classes found: none" in message) == cell.startswith("print")


@pytest.mark.sandbox
def test_the_tiny_imagenet_example_in_submissions_passes():
    """submissions/tiny-imagenet/ivan: the README's transfer-learning example."""
    from pathlib import Path

    root = Path(__file__).parents[1] / "submissions" / "tiny-imagenet" / "ivan"
    report = check_submission(root, load("tiny-imagenet"))
    checks, models = _by_id(report)
    assert report.passed, [c.message for c in report.checks if not c.passed]
    assert models["resnet18"].params == RESNET18_200
    assert checks["resnet18.found"].message.endswith(
        "pretrained weights not downloaded: built with weights=None instead of pretrained=True "
        "(tiny_imagenet_resnet18.py, line 38)")
    model = models["resnet18"]
    assert model.built_kind == "binding" and model.built_from == (
        "tiny_imagenet_resnet18.py, lines 38-42")
    assert model.offline_weights == ["pretrained=True (tiny_imagenet_resnet18.py, line 38)"]
    assert not model.frozen_params      # the freezing loop is training: never in the build
    # the terminal's line and the PDF's "Built as" row
    from grader.cli.terminal import check_summary

    assert ("      built as models.resnet18() with fc replaced, as in tiny_imagenet_resnet18.py, "
            "lines 38-42; pretrained weights not downloaded: built with weights=None instead "
            "of pretrained=True (tiny_imagenet_resnet18.py, line 38)\n") in check_summary(report)
    assert ("<th>Built as</th><td><code>models.resnet18() with fc replaced</code>, as your code "
            "builds it (tiny_imagenet_resnet18.py, lines 38-42); pretrained weights not "
            "downloaded: built with weights=None instead of pretrained=True "
            "(tiny_imagenet_resnet18.py, line 38)</td>") in _student_html(report)


@pytest.mark.parametrize("code, call, built", [
    ("model = models.vgg11(weights=models.VGG11_Weights.IMAGENET1K_V1)\n"
     "model.classifier[6] = nn.Linear(4096, 200)\n",
     "models.vgg11() with classifier[6] replaced",
     "    model = models.vgg11(weights=None)\n    model.classifier[6] = nn.Linear(4096, 200)\n"),
    ("net = models.resnet18(num_classes=200)\n"
     "net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)\nnet.maxpool = nn.Identity()\n"
     "net = nn.DataParallel(net)\n",
     "models.resnet18(num_classes=200) with conv1 replaced, maxpool replaced",
     "    net.maxpool = nn.Identity()\n    return net\n"),
    ("seq = nn.Sequential()\nseq.add_module('conv', nn.Conv2d(3, 8, 3))\n"
     "seq.append(nn.Flatten())\n",
     "nn.Sequential() with conv added, a layer added",
     "    seq.append(nn.Flatten())\n    return seq\n"),
])
def test_binding_shapes(tmp_path, code, call, built):
    """Surgery after the constructor, as transfer-learning hand-ins write it; a wrapper that
    gives the same module back (nn.DataParallel) is not a new model."""
    from grader.grading.probe import locate
    from grader.inputs.sources import read_sources

    root = tmp_path / "s"
    root.mkdir()
    (root / "train.py").write_text("!nvidia-smi\n" + TINY_IMPORTS + code + TINY_TRAIN)
    files, _ = read_sources(root)
    (probe,) = locate(files, load("tiny-imagenet"))
    (candidate,) = probe.candidates
    assert candidate.source.call == call
    assert built in candidate.source.code
    assert "DataParallel" not in candidate.source.code


# ------------------------------------------------------------------ the template is not the student's fault

SAVE_TEST_PREDICTIONS = """\
import torch

def save_test_predictions(model, loader, path='predictions.csv'):
    model.eval()
    with open(path, 'w') as f:
        f.write('Id,Label\\n')
        for images, ids in loader:
            # TODO: write one line per image
"""


@pytest.mark.sandbox
def test_syntax_errors_no_model_needs_are_a_note(tmp_path):
    """The course's untouched save_test_predictions.ipynb (an unfinished function) and a Lab 1
    cell left as `criterion =`: every model builds without them, so they are notes, not a
    check: a list in the JSON, shown once in the terminal and once in the PDF."""
    import dataclasses

    from grader import results
    from grader.cli.terminal import check_summary
    from grader.report import render as report_render
    from tests.factories.results import good_result

    root = hw2_three_notebooks(tmp_path / "student")
    notebook(root / "simplenn-cifar10.ipynb", [COLAB, IMPORTS, LAB1_SIMPLENN,
                                               "criterion =\noptimizer =\n", TRAIN])
    notebook(root / "save_test_predictions.ipynb", [SAVE_TEST_PREDICTIONS])
    report = check_submission(root, load("ece661-hw2"))
    checks, models = _by_id(report)
    assert models["simplenn"].params == 82030 and models["simplenn-bn"].params == 82078
    assert "files.syntax" not in checks                   # not a passing check any more
    assert report.passed, [c.message for c in report.checks if not c.passed]
    assert [(n.file, n.cell, n.line, n.template) for n in report.parse_notes] == [
        ("save_test_predictions.ipynb", 1, 8, False),     # no starter in the spec: the
        ("simplenn-cifar10.ipynb", 4, 1, False),          # student's own, all three
        ("simplenn-cifar10.ipynb", 4, 2, False)]
    first = report.parse_notes[0]
    assert first.message == "expected an indented block after 'for' statement on line 7"
    assert first.text == "# TODO: write one line per image"
    # the JSON: a list, read back as it was
    data = results.to_dict(report)
    assert [n["line"] for n in data["parse_notes"]] == [8, 1, 2]
    assert results.from_dict(results.CheckReport, data).parse_notes == report.parse_notes
    # once in the terminal, once in the PDF's HTML
    text = ("simplenn-cifar10.ipynb cell 4, line 1: invalid syntax: criterion =; does not parse "
            "and was skipped (no required model needs it)")
    assert check_summary(report).count(text) == 1
    assert "[NOTE] " + text in check_summary(report)
    html = report_render.render_student_html(dataclasses.replace(good_result(), check=report))
    assert html.count(text) == 1 and html.count("line 8: expected an indented block") == 1
    assert "Notes: code that does not parse, not graded" in html


def test_an_old_result_without_notes_or_built_facts_still_loads():
    """A result written before parse_notes and the model's built facts existed loads, with
    no notes and nothing built otherwise than by calling the class."""
    from grader import results
    from tests.factories.results import good_result

    data = results.to_dict(good_result())
    del data["check"]["parse_notes"]
    for model in data["check"]["models"]:
        for key in ("built_kind", "offline_weights", "frozen_params"):
            del model[key]
    loaded = results.from_dict(results.EvaluationResult, data)
    assert loaded.check.parse_notes == []
    assert all(m.offline_weights == [] and not m.frozen_params and m.built_kind is None
               for m in loaded.check.models)


@pytest.mark.sandbox
def test_timm_is_reported_missing_like_any_package(tmp_path):
    """`timm.create_model(..., pretrained=True)` where timm is not installed: the built model
    is listed, and the reason it was not graded names the missing module."""
    import importlib.util

    if importlib.util.find_spec("timm") is not None:
        pytest.skip("timm is installed here")
    root = tmp_path / "s"
    root.mkdir()
    (root / "train.py").write_text(
        "!pip install timm\nimport timm\nimport torch\n\n"
        "model = timm.create_model('resnet18', pretrained=True, num_classes=200)\n" + TINY_TRAIN)
    checks, model = _tiny(root)
    found = checks["resnet18.found"]
    assert not found.passed and model.params is None
    assert ("model: nothing in its name points at this model and it did not build: it needs "
            "the module 'timm', which is not installed in the grading environment") in found.message
    assert found.message.endswith("No nn.Module class of its own; models built: model = "
                                  "timm.create_model('resnet18', num_classes=200) (train.py, "
                                  "line 5).")


def test_the_starter_unchanged_never_fails_files_syntax(tmp_path):
    """The spec names the course's starter ([integrity] starter); the hand-in keeps its
    save_test_predictions.ipynb unchanged and has no SimpleNN at all: the model is not found,
    but the starter's broken function is the template's, not the student's: a note that
    names it so."""
    from tests.factories.specs import one_model_toml

    starter = notebook(tmp_path / "starter" / "save_test_predictions.ipynb",
                       [SAVE_TEST_PREDICTIONS])
    spec = tmp_path / "one-model.toml"
    spec.write_text(one_model_toml('[integrity]\nstarter = ["starter"]\n'))
    root = tmp_path / "s"
    (root).mkdir()
    (root / "save_test_predictions.ipynb").write_bytes(starter.read_bytes())
    notebook(root / "lab1.ipynb", [COLAB, IMPORTS, "print('model to come')\n"])
    report = check_submission(root, load(str(spec)))
    checks, _ = _by_id(report)
    assert not checks["simplenn.found"].passed
    assert "files.syntax" not in checks
    (note,) = report.parse_notes
    assert note.template and parse_note_text(note) == (
        "save_test_predictions.ipynb cell 1 is the course template's unfinished code; not "
        "graded (line 8: expected an indented block after 'for' statement on line 7)")
    # the same notebook changed by the student is theirs: the model was not found, so it fails
    notebook(root / "save_test_predictions.ipynb", [SAVE_TEST_PREDICTIONS + "    # mine\n"])
    report = check_submission(root, load(str(spec)))
    checks, _ = _by_id(report)
    assert not checks["files.syntax"].passed and not report.parse_notes
    assert checks["files.syntax"].message == (
        "1 part(s) of the code do not parse and were skipped: save_test_predictions.ipynb "
        "cell 1, line 9: expected an indented block after 'for' statement on line 7: # mine")


SAVE_TEST_PREDICTIONS_TEMPLATE = [     # the course's notebook, as it hands it out
    ("md", "# Save your test predictions\nRun this notebook after training your ResNet-20; "
           "upload `predictions.csv` to Gradescope."),
    "from google.colab import drive\ndrive.mount('/content/drive')\n",
    "import torch\nimport numpy as np\nimport torchvision.transforms as transforms\n"
    "from tools.dataset import CIFAR10\n",
    ("md", "## Your code\nFinish `save_test_predictions` below."),
    "def save_test_predictions(model, test_loader, path='predictions.csv'):\n"
    "    model.eval()\n"
    "    with open(path, 'w') as f:\n"
    "        f.write('Id,Label\\n')\n"
    "        with torch.no_grad():\n"
    "            for batch_idx, (inputs, ids) in enumerate(test_loader):\n"
    "                # TODO: predict, then write one line per image\n",
    "save_test_predictions(net, test_loader)\n",
]


@pytest.mark.sandbox
def test_assignment_starter_names_the_template_notebook(tmp_path):
    """`[assignment] starter` (relative to the spec file) feeds the one starter list: the
    course's save_test_predictions.ipynb, handed in untouched (re-saved by Colab, with
    execution counts), is named as the template in its note; the student's own `criterion =`
    cell is the student's. Neither fails a check."""
    from tests.factories.notebooks import write_notebook

    course = tmp_path / "course"
    write_notebook(course / "hw2-template" / "save_test_predictions.ipynb",
                   SAVE_TEST_PREDICTIONS_TEMPLATE, title=None)
    builtin = Path(__file__).parents[1] / "grader" / "spec" / "assignments" / "ece661-hw2.toml"
    text = builtin.read_text(encoding="utf-8")
    assert text.count("[assignment]\n") == 1
    (course / "hw2.toml").write_text(text.replace(
        "[assignment]\n", '[assignment]\nstarter = ["hw2-template/"]\n'), encoding="utf-8")
    spec = load(str(course / "hw2.toml"))
    assert spec.integrity.starter == (str(course / "hw2-template"),)   # one list: integrity too

    root = hw2_three_notebooks(tmp_path / "student")
    notebook(root / "simplenn-cifar10.ipynb", [COLAB, IMPORTS, LAB1_SIMPLENN,
                                               "criterion =\n", TRAIN])
    write_notebook(root / "save_test_predictions.ipynb", SAVE_TEST_PREDICTIONS_TEMPLATE,
                   title=None, colab=True)
    report = check_submission(root, spec)
    checks, _ = _by_id(report)
    assert "files.syntax" not in checks and report.passed
    texts = [parse_note_text(n) for n in report.parse_notes]
    assert texts == [
        "save_test_predictions.ipynb cell 3 is the course template's unfinished code; not "
        "graded (line 7: expected an indented block after 'for' statement on line 6)",
        "simplenn-cifar10.ipynb cell 4, line 1: invalid syntax: criterion =; does not parse and "
        "was skipped (no required model needs it)"]
    assert [n.template for n in report.parse_notes] == [True, False]


@pytest.mark.sandbox
def test_a_frozen_pretrained_backbone_in_a_class_counts_every_parameter(tmp_path):
    """`self.backbone = models.resnet18(pretrained=True)` frozen in __init__, a new head:
    the weights are not downloaded, and the frozen parameters are counted (freezing is
    training, not architecture)."""
    notebook(tmp_path / "s" / "transfer.ipynb", [
        TINY_COLAB, TINY_IMPORTS,
        "class TransferNet(nn.Module):\n"
        "    def __init__(self, num_classes=200):\n"
        "        super().__init__()\n"
        "        self.backbone = models.resnet18(pretrained=True)\n"
        "        for p in self.backbone.parameters():\n"
        "            p.requires_grad = False\n"
        "        self.backbone.fc = nn.Linear(512, num_classes)\n\n"
        "    def forward(self, x):\n"
        "        return self.backbone(x)\n",
        "model = TransferNet().to(device)\n", TINY_TRAIN])
    report = check_submission(tmp_path / "s", load("tiny-imagenet"))
    checks, models = _by_id(report)
    model = models["resnet18"]
    _passes_model_checks(checks)
    assert model.params == RESNET18_200 and model.class_name == "TransferNet"
    message = checks["resnet18.found"].message
    assert ("pretrained weights not downloaded: built with weights=None instead of "
            "pretrained=True (transfer.ipynb cell 3, line 4)") in message
    assert ("the parameters it freezes (requires_grad = False) are counted and trained: "
            "freezing is training, not architecture") in message
    assert model.built_kind == "class" and model.frozen_params and model.built_from is None
    assert model.offline_weights == ["pretrained=True (transfer.ipynb cell 3, line 4)"]
    # a class built with the spec's arguments still gets a "Built as" row: what was changed
    html = _student_html(report)
    assert ("<th>Built as</th><td><code>TransferNet(num_classes=200)</code>; pretrained "
            "weights not downloaded: built with weights=None instead of pretrained=True "
            "(transfer.ipynb cell 3, line 4); frozen parameters counted and trained: freezing "
            "is training, not architecture</td>") in html


def test_weights_are_rewritten_by_character_not_byte_columns():
    """ast's columns count UTF-8 bytes: a non-ASCII string before `pretrained=` on the line
    (a French or Chinese comment, a name) must not shift the rewrite."""
    import ast

    from grader.inputs import offline

    line = 'net = models.resnet18(name="réseau", pretrained=True)  # modèle pré-entraîné'
    rewritten = offline.rewrite_text([line], 1, offline.rewrites(ast.parse(line)))
    assert rewritten == ['net = models.resnet18(name="réseau", pretrained=False)'
                         '  # modèle pré-entraîné']


# ------------------------------------------------------------------ a family by reference

def _family_spec(tmp_path, within) -> Path:
    """tiny-imagenet with `params = {reference = "resnet18", within = ...}`: the CIFAR
    ResNet-18 reference's count (11,271,432 for 200 classes) give or take `within`."""
    builtin = Path(__file__).parents[1] / "grader" / "spec" / "assignments" / "tiny-imagenet.toml"
    text = builtin.read_text(encoding="utf-8")
    old = "params = { min = 11000000, max = 11400000 }\n"
    assert text.count(old) == 1
    path = tmp_path / "tiny-family.toml"
    new = f'params = {{ reference = "resnet18", within = {within} }}\n'
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_a_family_by_reference_is_read_from_the_spec(tmp_path):
    from grader.errors import GraderError

    expectation = load(str(_family_spec(tmp_path, 0.01))).model("resnet18").params
    assert (expectation.reference, expectation.within) == ("resnet18", 0.01)
    assert expectation.accepts(RESNET18_200, RESNET18_200_3X3_STEM)        # the 7x7 stem
    assert expectation.accepts(RESNET18_200_3X3_STEM, RESNET18_200_3X3_STEM)
    assert not expectation.accepts(21_387_912, RESNET18_200_3X3_STEM)      # a ResNet-34
    exact = load(str(_family_spec(tmp_path, 0))).model("resnet18").params
    assert not exact.accepts(RESNET18_200, RESNET18_200_3X3_STEM)   # the reference alone: exact
    with pytest.raises(GraderError, match=r"models\[0\]\.params\.within.*a fraction"):
        load(str(_family_spec(tmp_path, 2)))


@pytest.mark.sandbox
def test_a_family_by_reference_accepts_resnet18_with_any_stem(tmp_path):
    """`params = {reference = "resnet18", within = 0.01}`: torchvision's ResNet-18 (7x7 stem
    and max-pool) with a new head and a CIFAR-style ResNet-18 (3x3 stem) both pass, each
    measured against the reference's count; a ResNet-34 with the same head does not."""
    spec = load(str(_family_spec(tmp_path, 0.01)))
    hands_in = {
        "torchvision": "model = models.resnet18(pretrained=True)\n"
                       "model.fc = nn.Linear(model.fc.in_features, 200)\n",
        "cifar-stem": "model = models.resnet18(num_classes=200)\n"
                      "model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, "
                      "bias=False)\n"
                      "model.maxpool = nn.Identity()\n",
        "resnet34": "model = models.resnet34()\n"
                    "model.fc = nn.Linear(512, 200)\n",
    }
    expected = "11,158,718 to 11,384,146 (reference resnet18's 11,271,432 ± 1%)"
    found = {}
    for name, code in hands_in.items():
        notebook(tmp_path / name / "transfer.ipynb", [TINY_COLAB, TINY_IMPORTS, code, TINY_TRAIN])
        report = check_submission(tmp_path / name, spec)
        checks, models = _by_id(report)
        found[name] = (models["resnet18"], checks)
        assert models["resnet18"].expected_text == expected
    for name, count in (("torchvision", RESNET18_200), ("cifar-stem", RESNET18_200_3X3_STEM)):
        model, checks = found[name]
        assert model.params == count and model.expected_range == [11_158_718, 11_384_146]
        assert checks["resnet18.params"].passed and checks["resnet18.params"].message == (
            f"{count:,} trainable parameters (expected {expected})")
    # a module with no name of its own is taken only when its count fits: ResNet-34 does not
    model, checks = found["resnet34"]
    assert not model.found and not checks["resnet18.found"].passed
    assert ("model: nothing in its name points at this model and its parameter count does not "
            "fit the spec") in checks["resnet18.found"].message
