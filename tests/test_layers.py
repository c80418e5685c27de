"""Layer tables and the BatchNorm rule judged from the order forward runs operations
(grader/grading/layers.py, grader/sandbox/harness/dataflow.py, the harness's layer_table).

The models are written as students write them (template names reused, functional calls in
forward, layers registered in whatever order came to mind). Most tests run the harness's
layer_table in this process, which is fast; one runs `grader check` end to end in the sandbox.
"""

from __future__ import annotations

import dataclasses
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import grader
import reference
from grader.grading.checks import check_submission
from grader.grading.choose import Choice
from grader.grading.layers import batchnorm_gaps, differences, differences_text, rows
from grader.grading.probe import Measurement
from grader.sandbox.reports import ProbeReport, parse_probes
from grader.spec import ModelSpec, load
from tests.factories.models import LAB1_SIMPLENN, RESNET_CIFAR
from tests.factories.specs import model_toml, spec_toml

sys.path.insert(0, str(Path(grader.__file__).parent / "sandbox"))  # the harness package, as in the sandbox
from harness import inspect_models  # noqa: E402

HEADER = """
import torch
import torch.nn as nn
import torch.nn.functional as F
"""

# Lab 2 as a student wrote it: the template's Lab 1 SimpleNN with BatchNorm, every layer
# registered before the BatchNorms, and the BatchNorm applied after the ReLU.
RELU_BEFORE_BN = HEADER + "\n" + (
    LAB1_SIMPLENN
    .replace("# Lab 1 (a): the model of Table 1", "# Lab 2 (c): Table 1's model with BatchNorm")
    .replace("        self.fc3   = nn.Linear(84, 10)\n",
             "        self.fc3   = nn.Linear(84, 10)\n"
             "        # Lab 2: batch normalization\n"
             "        self.bn1 = nn.BatchNorm2d(8)\n"
             "        self.bn2 = nn.BatchNorm2d(16)\n")
    .replace("        out = F.relu(self.conv1(x))\n",
             "        out = F.relu(self.conv1(x))\n        out = self.bn1(out)\n")
    .replace("        out = F.relu(self.conv2(out))\n",
             "        out = F.relu(self.conv2(out))\n        out = self.bn2(out)\n"))

# The same network done right, still registered convolutions first and BatchNorms after.
CONVS_FIRST = HEADER + """
class SimpleNN(nn.Module):
    def __init__(self):
        super(SimpleNN, self).__init__()
        self.conv1 = nn.Conv2d(3, 8, 5)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.bn1 = nn.BatchNorm2d(8)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(576, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.pool(F.relu(self.bn2(self.conv2(x))))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x
"""

# Names that say nothing (nn.Sequential indexes), all convolutions in one list and all
# BatchNorms in another, the order of use decided in forward.
LISTS = HEADER + """
class SimpleNN(nn.Module):
    def __init__(self, channels=(3, 8, 16), kernels=(5, 3)):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(channels[i], channels[i + 1], kernels[i])
                                    for i in range(2)])
        self.norms = nn.ModuleList([nn.BatchNorm2d(c) for c in channels[1:]])
        self.classifier = nn.Sequential(nn.Linear(576, 120), nn.ReLU(), nn.Linear(120, 84),
                                        nn.ReLU(), nn.Linear(84, 10))

    def forward(self, x):
        for conv, bn in zip(self.convs, self.norms):
            x = F.max_pool2d(torch.relu(bn(conv(x))), 2)
        return self.classifier(x.flatten(1))
"""


def build(source: str, name: str = "SimpleNN", **kwargs) -> torch.nn.Module:
    namespace: dict = {}
    exec(compile(textwrap.dedent(source), "simplenn-cifar10-dev.ipynb", "exec"), namespace)
    torch.manual_seed(0)
    return namespace[name](**kwargs).eval()


def parsed(entry: dict) -> ProbeReport:
    """A harness entry as the grader reads it (grader.sandbox.reports)."""
    return parse_probes({"models": [dict(entry, key="m")]})["m"]


def report_of(model: torch.nn.Module) -> tuple[ProbeReport, dict]:
    """The harness's layer table for one image, and the parameter shapes."""
    report = parsed(inspect_models.layer_table(model, [3, 32, 32]))
    shapes = {n: list(p.shape) for n, p in model.named_parameters() if p.requires_grad}
    return report, shapes


def probe_of(model: torch.nn.Module, reference_id: str) -> Choice:
    report, shapes = report_of(model)
    ref_report, ref_shapes = report_of(reference.build(reference_id).eval())
    spec = ModelSpec(key="simplenn-bn", title="SimpleNN with BatchNorm", names=("SimpleNN",),
                     reference=reference_id, batchnorm_after_conv=True)
    return Choice(spec, measured=Measurement(report, shapes),
                  reference=Measurement(ref_report, ref_shapes))


# ------------------------------------------------------------------ order of operations

def test_relu_between_conv_and_batchnorm_is_a_gap():
    report, _ = report_of(build(RELU_BEFORE_BN))
    gaps = batchnorm_gaps(report)
    assert [str(g) for g in gaps] == [
        "conv1 -> F.relu -> bn1 (BatchNorm2d), BatchNorm after the activation",
        "conv2 -> F.relu -> bn2 (BatchNorm2d), BatchNorm after the activation"]
    assert all(g.activation and g.batchnorm_later for g in gaps)


@pytest.mark.parametrize("call", ["torch.relu(self.conv1(x))", "self.conv1(x).relu()",
                                  "F.relu(self.conv1(x), inplace=True)",
                                  "self.act(self.conv1(x))", "F.leaky_relu(self.conv1(x), 0.1)"])
def test_every_way_of_calling_the_activation_is_seen(call):
    source = HEADER + f"""
class Lab2Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.act = nn.ReLU(inplace=True)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.bn1({call})
        return self.fc(x.mean((2, 3)))
"""
    gaps = batchnorm_gaps(report_of(build(source, "Lab2Net"))[0])
    assert len(gaps) == 1 and gaps[0].conv == "conv1" and gaps[0].activation, gaps
    assert gaps[0].path[-1] == "bn1 (BatchNorm2d)"


@pytest.mark.parametrize("source", [CONVS_FIRST, LISTS], ids=["convs first", "module lists"])
def test_registration_order_does_not_matter(source):
    report, _ = report_of(build(source))
    assert batchnorm_gaps(report) == []


def test_pooling_instead_of_batchnorm_is_named():
    source = CONVS_FIRST.replace("self.pool(F.relu(self.bn2(self.conv2(x))))",
                                 "F.relu(self.pool(self.conv2(x)))")
    gaps = batchnorm_gaps(report_of(build(source))[0])
    assert [str(g) for g in gaps] == ["conv2 -> pool (MaxPool2d), no BatchNorm"]
    assert not gaps[0].activation


def test_sequential_with_inplace_relu_before_batchnorm():
    source = HEADER + """
class SimpleNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 5), nn.ReLU(inplace=True), nn.BatchNorm2d(8), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3), nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.fc = nn.Linear(576, 10)

    def forward(self, x):
        return self.fc(self.features(x).view(x.size(0), -1))
"""
    gaps = batchnorm_gaps(report_of(build(source))[0])
    assert [str(g) for g in gaps] == [
        "features.0 -> features.1 (ReLU) -> features.2 (BatchNorm2d), "
        "BatchNorm after the activation"]


def test_without_recorded_ops_the_module_order_is_used():
    report, _ = report_of(build(RELU_BEFORE_BN))
    report = dataclasses.replace(report, ops=())
    # the modules alone run conv1, bn1, conv2, bn2: F.relu is invisible without the ops
    assert batchnorm_gaps(report) == []
    report, _ = report_of(build(CONVS_FIRST.replace("self.bn2(self.conv2(x))", "self.conv2(x)")))
    assert [g.conv for g in batchnorm_gaps(dataclasses.replace(report, ops=()))] == ["conv2"]


def test_forward_error_keeps_the_ops_before_it():
    source = CONVS_FIRST.replace("nn.Linear(576, 120)", "nn.Linear(400, 120)")
    report, _ = report_of(build(source))
    assert report.layers_error and "400x120" in report.layers_error.message
    assert [op.name for op in report.ops if op.kind == "module"][:4] == [
        "conv1", "bn1", "pool", "conv2"]


# ------------------------------------------------------------------ tables and differences

def test_table_follows_forward_and_agrees_with_the_count():
    """Registered conv1, conv2, bn1, bn2: listed as they run, every layer paired with the
    reference's, none red, while the count matches."""
    probe = probe_of(build(CONVS_FIRST), "simplenn-bn")
    table = rows(probe)
    assert [r.name for r in table if r.params] == ["conv1", "bn1", "conv2", "bn2", "fc1",
                                                   "fc2", "fc3"]
    assert probe.params == probe.reference_params == 82078
    assert not any(r.differs for r in table)
    assert all(r.expected_params == r.params for r in table if r.params)
    assert differences(probe) == []


def test_index_named_layers_pair_with_the_reference():
    probe = probe_of(build(LISTS), "simplenn-bn")
    table = rows(probe)
    assert [r.name for r in table if r.params][:4] == ["convs.0", "norms.0", "convs.1",
                                                       "norms.1"]
    assert not any(r.differs for r in table) and differences(probe) == []


def test_differences_largest_first_with_the_rest_totalled():
    """A Lab 2 model grown by hand: a huge classifier and small changes. The 5.9M extra
    parameters must lead the message, not hide behind "and 2 more"."""
    source = HEADER + """
class SimpleNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 5, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(576, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.big1 = nn.Linear(10, 2048)
        self.big2 = nn.Linear(2048, 2880)
        self.out = nn.Linear(2880, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))
        return self.out(F.relu(self.big2(F.relu(self.big1(self.fc3(x))))))
"""
    probe = probe_of(build(source), "simplenn-bn")
    extra = 10 * 2048 + 2048 + 2048 * 2880 + 2880 + 2880 * 10 + 10
    assert probe.params - probe.reference_params == extra - 24      # no conv biases (8 + 16)
    diffs = differences(probe)
    assert diffs[0] == (f"3 extra layers not in the reference (3 Linear; {extra:,} parameters), "
                        "the largest big2 (5,901,120)")
    assert diffs[1:] == ["conv2: 1,152 expected 1,168", "conv1: 600 expected 608"]
    assert differences_text(probe, shown=2) == (
        f"{diffs[0]}; conv2: 1,152 expected 1,168; and 1 smaller difference (-8 parameters)")
    table = {r.name: r for r in rows(probe)}
    assert table["conv1"].differs and table["conv1"].expected_params == 608
    assert not table["fc1"].differs and table["big2"].expected_params is None


# ------------------------------------------------------------------ end to end

LAB2 = {"params": 82078, "reference": "simplenn-bn", "weighted_layers": 5,
        "batchnorm_after_conv": True}
SPEC = spec_toml(
    model_toml("late", title="SimpleNN with BatchNorm (Lab 2)", names=["SimpleNN"], **LAB2),
    model_toml("ordered", title="SimpleNN with BatchNorm, second try", names=["SimpleNN_BN"],
               **LAB2),
    course="ECE 661", title="HW2 Lab 2", limits={"wall_seconds": 90})


@pytest.mark.sandbox
def test_check_judges_batchnorm_by_forward_order(tmp_path, make_notebook):
    """Lab 2 as handed in: the template's SimpleNN in a Colab notebook, BatchNorm after the
    ReLU; a second try in a .py file with the convolutions registered first."""
    root = tmp_path / "gina"
    make_notebook(root / "simplenn-cifar10 -dev.ipynb", [
        "from google.colab import drive\ndrive.mount('/content/drive')",
        "!pip install torchsummary\n%matplotlib inline",
        RELU_BEFORE_BN,
        "net = SimpleNN()\nfor epoch in range(30):\n    train(net, epoch)",
    ])
    (root / "lab2_v2.py").write_text(CONVS_FIRST.replace("SimpleNN", "SimpleNN_BN"))
    (tmp_path / "lab2.toml").write_text(SPEC)
    report = check_submission(root, load(str(tmp_path / "lab2.toml")))
    checks = {c.id: c for c in report.checks}
    late = checks["late.batchnorm"]
    assert not late.passed
    assert late.message == ("BatchNorm does not directly follow every convolution in forward: "
                            "conv1 -> F.relu -> bn1 (BatchNorm2d), BatchNorm after the "
                            "activation; conv2 -> F.relu -> bn2 (BatchNorm2d), BatchNorm after "
                            "the activation")
    assert "before the activation" in late.hint and "F.relu(self.bn1(self.conv1(x)))" in late.hint
    assert checks["late.params"].passed          # same parameters: only the order is wrong
    ordered = checks["ordered.batchnorm"]
    assert ordered.passed, ordered.message
    assert checks["ordered.params"].passed
    models = {m.key: m for m in report.models}
    for key in ("late", "ordered"):
        assert not any(r.differs for r in models[key].layers), models[key].layers
    assert [r.name for r in models["ordered"].layers if r.params] == [
        "conv1", "bn1", "conv2", "bn2", "fc1", "fc2", "fc3"]


def test_resnet_option_b_declaring_convs_first_against_option_a():
    """hugo's ResNet-20: option B shortcuts, each block declaring conv1, conv2 before bn1, bn2.
    Against the option A reference every shared layer pairs up; only the shortcuts are extra."""
    conv2 = "        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)\n"
    bn1 = "        self.bn1 = nn.BatchNorm2d(planes)\n"
    assert bn1 + conv2 in RESNET_CIFAR
    source = HEADER + RESNET_CIFAR.replace(bn1 + conv2, conv2 + bn1)   # conv1, conv2, bn1, bn2
    namespace: dict = {}
    exec(source, namespace)
    model = namespace["ResNetCIFAR"](namespace["BasicBlock"], [3, 3, 3]).eval()
    probe = probe_of(model, "resnet20-a")
    assert (probe.params, probe.reference_params) == (272474, 269722)
    table = rows(probe)
    assert not any(r.differs for r in table)
    assert [r.name for r in table if r.params and r.expected_params is None] == [
        "layer2.0.shortcut.0", "layer2.0.shortcut.1", "layer3.0.shortcut.0",
        "layer3.0.shortcut.1"]
    assert differences(probe) == [
        "4 extra layers not in the reference (2 Conv2d 1x1, 2 BatchNorm2d; 2,752 parameters), "
        "the largest layer3.0.shortcut.0 (2,048)"]
    assert batchnorm_gaps(report_of(model)[0]) == []


def test_projection_on_every_block_is_extra_layers_not_a_shifted_table():
    """carol's MyResNet: a 1x1 conv + BN shortcut on all nine blocks (283,962). Every layer of
    the reference pairs with hers; the table shows the 18 shortcut layers as extra and nothing
    else, instead of pairing a 1x1 shortcut with a 3x3 convolution."""
    source = (Path(__file__).parent.parent / "submissions" / "ece661-hw2" / "carol"
              / "resnet_cifar10.py").read_text()
    probe = probe_of(build(source, "MyResNet"), "resnet20-a")
    assert probe.params - probe.reference_params == 283962 - 269722
    assert differences(probe) == [
        "18 extra layers not in the reference (9 Conv2d 1x1, 9 BatchNorm2d; 14,240 "
        "parameters), the largest stage3.1.shortcut.0 (4,096)"]
    table = rows(probe)
    assert not any(r.differs for r in table)
    assert {r.name.split(".", 2)[-1] for r in table
            if r.params and r.expected_params is None} == {"shortcut.0", "shortcut.1"}


def test_very_large_models_fall_back_to_a_greedy_alignment(monkeypatch):
    import grader.grading.layers

    monkeypatch.setattr(grader.grading.layers, "_MAX_CELLS", 0)
    probe = probe_of(build(CONVS_FIRST.replace("nn.Linear(120, 84)", "nn.Linear(120, 80)")
                           .replace("nn.Linear(84, 10)", "nn.Linear(80, 10)")), "simplenn-bn")
    assert differences(probe) == ["fc2: 9,680 expected 10,164", "fc3: 810 expected 850"]


def test_a_forged_op_graph_is_read_in_linear_time():
    """The ops come back from the sandbox: a dense graph of pass-through ops (100^5 paths)
    must not hang the grader."""
    layers = [{"name": "conv1", "type": "Conv2d"}]
    ops = [["module", "conv1", []]]
    previous = [0]
    for _ in range(5):
        start = len(ops)
        ops += [["function", "Tensor.view", list(previous)] for _ in range(100)]
        previous = list(range(start, len(ops)))
    ops.append(["function", "F.relu", previous])
    import threading

    outcome: dict = {}

    def read() -> None:
        try:
            outcome["gaps"] = batchnorm_gaps(parsed({"layers": layers, "order": ["conv1"],
                                                     "ops": ops}))
        except BaseException as exc:  # re-raised below, in the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(timeout=60)           # a bound on a hang (100^5 paths), not a timing test
    assert not worker.is_alive(), "reading the forged op graph did not finish"
    if "error" in outcome:
        raise outcome["error"]
    assert [str(g) for g in outcome["gaps"]] == ["conv1 -> F.relu, no BatchNorm"]


# ------------------------------------------------------------------ wrapper layers (ECE 661 HW4)

FP_LAYERS = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
import math
import numpy as np

device = "cuda" if torch.cuda.is_available() else "cpu"

class STE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, bit):
        if bit is None:
            wq = w
        elif bit==0:
            wq = w*0
        else:
            # Lab3 (a), Your code here:
            alpha = torch.max(w) - torch.min(w)
            beta = torch.min(w)
            ws = (w - beta) / alpha
            step = 2 ** (bit)-1
            R = torch.round(ws * step) / step
            wq = R * alpha + beta
        return wq

    @staticmethod
    def backward(ctx, g):
        return g, None

class FP_Linear(nn.Module):
    def __init__(self, in_features, out_features, Nbits=None):
        super(FP_Linear, self).__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.Nbits = Nbits

    def forward(self, x):
        return F.linear(x, STE.apply(self.linear.weight, self.Nbits), self.linear.bias)

class FP_Conv(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=False, Nbits=None):
        super(FP_Conv, self).__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self.Nbits = Nbits

    def forward(self, x):
        return F.conv2d(x, STE.apply(self.conv.weight, self.Nbits), self.conv.bias, self.conv.stride, self.conv.padding, self.conv.dilation, self.conv.groups)

class NumpyConv(FP_Conv):
    # quantized through numpy: the weight passed to F.conv2d is no longer traceable
    def forward(self, x):
        w = torch.from_numpy(np.round(self.conv.weight.detach().numpy() * 8) / 8)
        return F.conv2d(x, w, None, self.conv.stride, self.conv.padding)

class ResNet_Block(nn.Module):
    def __init__(self, in_chs, out_chs, strides, Nbits=None, late_bn=False):
        super(ResNet_Block, self).__init__()
        self.conv1 = nn.Sequential(
            FP_Conv(in_channels=in_chs, out_channels=out_chs,
                      stride=strides, padding=1, kernel_size=3, bias=False, Nbits=Nbits),
            nn.BatchNorm2d(out_chs),
            nn.ReLU(True))
        self.conv2 = NumpyConv(out_chs, out_chs, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(out_chs)
        self.late_bn = late_bn

    def forward(self, x):
        out = self.conv1(x)
        out = self.conv2(out)
        if self.late_bn:
            out = F.relu(out)
        return F.relu(self.bn2(out))

class SmallResNet(nn.Module):
    def __init__(self, Nbits=4, late_bn=False):
        super(SmallResNet, self).__init__()
        self.head_conv = nn.Sequential(
            FP_Conv(in_channels=3, out_channels=16, stride=1, padding=1, kernel_size=3, bias=False, Nbits=None),
            nn.BatchNorm2d(16),
            nn.ReLU(True))
        self.body_op = nn.Sequential(ResNet_Block(16, 32, 2, Nbits=Nbits, late_bn=late_bn))
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.final_fc = FP_Linear(32, 10, Nbits=Nbits)

    def forward(self, x):
        out = self.body_op(self.head_conv(x))
        return self.final_fc(self.avg_pool(out).view(x.size(0), -1))
'''


@pytest.mark.parametrize("bits", [None, 4])
def test_wrapper_layers_take_the_place_of_their_function_calls(bits):
    """FP_Conv/FP_Linear (the course's FP_layers.py) call F.conv2d/F.linear on the inner
    module's (quantized) weight and never call the module: the inner conv and linear are
    listed where the calls ran, with the calls' output shapes, and judged as convolutions."""
    report, _ = report_of(build(FP_LAYERS, "SmallResNet", Nbits=bits))
    assert report.layers_error is None
    order = [name for name in report.order if not name.endswith(("avg_pool",))]
    assert order == ["head_conv.0.conv", "head_conv.1", "head_conv.2",
                     "body_op.0.conv1.0.conv", "body_op.0.conv1.1", "body_op.0.conv1.2",
                     "body_op.0.conv2.conv", "body_op.0.bn2", "final_fc.linear"]
    layers = {layer.name: layer for layer in report.layers}
    assert layers["head_conv.0.conv"].output_shape == (1, 16, 32, 32)
    assert layers["body_op.0.conv1.0.conv"].output_shape == (1, 32, 16, 16)
    assert layers["body_op.0.conv2.conv"].output_shape == (1, 32, 16, 16)
    assert layers["final_fc.linear"].output_shape == (1, 10)
    assert batchnorm_gaps(report) == []          # each FP_Conv feeds its BatchNorm directly
    table = rows(probe_of(build(FP_LAYERS, "SmallResNet", Nbits=bits), "simplenn-bn"))
    assert [r.name for r in table if r.params][:3] == [
        "head_conv.0.conv", "head_conv.1", "body_op.0.conv1.0.conv"]
    assert all(r.output_shape is not None for r in table)


def test_wrapper_conv_with_relu_before_batchnorm_is_a_gap():
    report, _ = report_of(build(FP_LAYERS, "SmallResNet", late_bn=True))
    assert [str(g) for g in batchnorm_gaps(report)] == [
        ("body_op.0.conv2.conv -> F.relu -> body_op.0.bn2 (BatchNorm2d), BatchNorm after the "
         "activation")]
