"""Declared interfaces: reference/interface.py and the localization and sequence reference
models in-process, the probe's new report fields as the trusted side parses them, and the
inspect_models harness probing such models in the real sandbox (marked `sandbox`).

The interfaces are the built-in specs' shapes (ECE 60146 HW5 2023: image in, (cls, bbox) out;
ECE 60146 HW8: (x [T, 1, 300], h) in, (LogSoftmax [1, 2], h) out; ECE 661 HW3 LabRNN:
(ids [B, T], length [B]) in, [B, 2] out), each passed through TensorSpec.to_job and JSON as the
probe job carries it."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
from torch import nn

from grader.grading.probe import count, param_shapes
from grader.sandbox.bwrap import Sandbox
from grader.sandbox.limits import Limits
from grader.sandbox.reports import ForwardHead, parse_probes
from grader.spec.types import InterfaceSpec, LimitsSpec, TensorSpec
from reference import build
from reference.interface import (
    Interface,
    InterfaceError,
    activation,
    class_loss,
    is_log_softmax,
)

HW5 = InterfaceSpec(
    inputs=(TensorSpec("x", "image", ("B", 3, 64, 64), range=(0.0, 1.0)),),
    outputs=(TensorSpec("label", "label", ("B", 3)),
             TensorSpec("box", "box", ("B", 4), range=(0.0, 1.0))), declared=True)
HW8 = InterfaceSpec(
    inputs=(TensorSpec("x", "embeddings", ("T", 1, 300)),
            TensorSpec("h", "hidden", (1, 1, 100), init="init_hidden")),
    outputs=(TensorSpec("label", "label", (1, 2)), TensorSpec("h", "hidden", ())), declared=True)
LABRNN = InterfaceSpec(
    inputs=(TensorSpec("ids", "ids", ("B", "T"), dtype="int64", range=(1, 500)),
            TensorSpec("length", "lengths", ("B",), dtype="int64")),
    outputs=(TensorSpec("label", "label", ("B", 2)),), declared=True)


def declared(spec: InterfaceSpec) -> Interface:
    """The interface as the sandbox reads it from the job's JSON."""
    return Interface.from_job(json.loads(json.dumps(spec.to_job())))


# ------------------------------------------------------------------ heads: what forward returned

LABEL, BOX, EXTRA = torch.zeros(2, 3), torch.ones(2, 4), torch.full((2, 8), 2.0)


@pytest.mark.parametrize("returned, expected", [
    ((LABEL, BOX), {"label": LABEL, "box": BOX}),
    ([LABEL, BOX], {"label": LABEL, "box": BOX}),
    ({"box": BOX, "label": LABEL}, {"label": LABEL, "box": BOX}),   # a dict, by name
    ({"cls": LABEL, "bbox": BOX}, {"label": LABEL, "box": BOX}),    # other names: in order
    ((LABEL, BOX, EXTRA), {"label": LABEL, "box": BOX}),            # features returned too
], ids=["tuple", "list", "dict-by-name", "dict-own-names", "extra-item"])
def test_heads_name_what_forward_returned(returned, expected):
    heads = declared(HW5).heads(returned)
    assert list(heads) == ["label", "box"]
    assert all(heads[name] is expected[name] for name in expected)


@pytest.mark.parametrize("returned, message", [
    (LABEL, "forward returned one tensor; expected 2 outputs (label, box)"),
    ((LABEL,), "forward returned 1 values; expected 2 (label, box)"),
    ({"cls": LABEL}, "forward returned a dict with keys ['cls']; expected ['label', 'box']"),
    (None, "forward returned NoneType; expected 2 outputs (label, box)"),
], ids=["classifier-only", "short-tuple", "dict-missing-box", "none"])
def test_heads_that_do_not_fit_say_what_was_declared(returned, message):
    with pytest.raises(InterfaceError) as caught:
        declared(HW5).heads(returned)
    assert str(caught.value) == message


def test_a_lone_tensor_is_the_label_when_the_rest_is_hidden_state():
    scores = torch.zeros(1, 2)
    assert declared(HW8).heads(scores) == {"label": scores}
    h = torch.zeros(1, 1, 100)
    assert declared(HW8).heads((scores, h)) == {"label": scores, "h": h}


# ------------------------------------------------------------------ inputs: what forward is given

def test_image_inputs_have_the_declared_shape_and_range():
    interface = declared(HW5)
    assert not interface.stepped
    (x,) = interface.example(nn.Identity(), batch=7)
    assert x.shape == (7, 3, 64, 64) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_ids_are_padded_past_each_length_sorted_longest_first():
    interface = declared(LABRNN)
    assert not interface.stepped
    ids, length = interface.example(nn.Identity(), batch=7, length=12,
                                    generator=torch.Generator().manual_seed(3))
    assert ids.shape == (7, 12) and ids.dtype == torch.int64 and length.dtype == torch.int64
    assert length.tolist() == sorted(length.tolist(), reverse=True)
    assert length.max() == 12 and length.min() >= 1 and len(set(length.tolist())) > 1
    for row, n in zip(ids, length.tolist()):
        assert ((1 <= row[:n]) & (row[:n] < 500)).all()     # words: 1..vocab-1, 0 pads
        assert (row[n:] == 0).all()


def test_sequence_first_ids_are_padded_along_t():
    spec = InterfaceSpec(inputs=(TensorSpec("ids", "ids", ("T", "B"), dtype="int64",
                                            range=(1, 50)),
                                 TensorSpec("length", "lengths", ("B",), dtype="int64")),
                         outputs=LABRNN.outputs, declared=True)
    ids, length = declared(spec).example(nn.Identity(), batch=7, length=12)
    assert ids.shape == (12, 7)
    assert (ids != 0).sum(0).tolist() == length.tolist()       # words up to each length


class Hidden(nn.Module):
    """A HW8 net's init_hidden, in the signatures students give it."""

    def __init__(self, init) -> None:
        super().__init__()
        self.fc = nn.Linear(300, 2)
        self.init = init

    def init_hidden(self, *args):
        return self.init(*args)


def test_stepped_inputs_take_the_models_init_hidden():
    interface = declared(HW8)
    assert interface.stepped
    start = torch.full((1, 1, 100), 0.5)
    x, h = interface.example(Hidden(lambda: start), batch=1, length=5)
    assert x.shape == (5, 1, 300) and h is start


def test_init_hidden_with_a_batch_size_and_an_lstms_pair():
    def with_batch(batch_size):                 # def init_hidden(self, batch_size)
        return torch.ones(1, batch_size, 100)

    _, h = declared(HW8).example(Hidden(with_batch), batch=1, length=5)
    assert h.shape == (1, 1, 100) and (h == 1).all()
    pair = (torch.ones(1, 1, 100), torch.full((1, 1, 100), 2.0))
    _, hc = declared(HW8).example(Hidden(lambda: pair), batch=1, length=5)
    assert isinstance(hc, tuple) and torch.equal(hc[1], pair[1])


def test_without_init_hidden_the_hidden_state_is_zeros_of_the_declared_shape():
    _, h = declared(HW8).example(nn.Linear(300, 2), batch=1, length=5)
    assert h.shape == (1, 1, 100) and not h.any()


# ------------------------------------------------------------------ log-softmax and the loss

def test_log_softmax_is_detected_and_logits_and_probabilities_are_not():
    logits = torch.randn(6, 2, generator=torch.Generator().manual_seed(0)) * 3
    assert is_log_softmax(nn.LogSoftmax(dim=1)(logits))
    assert not is_log_softmax(logits)
    assert not is_log_softmax(logits.softmax(1))                # probabilities: positive
    assert not is_log_softmax(torch.zeros(4, 1))                # one column: no classes
    assert not is_log_softmax(torch.full((2, 2), float("nan")))
    log_probs = logits.log_softmax(1)
    assert activation(None, log_probs) == "log_softmax" and activation(None, logits) == "logits"
    assert activation(declared(HW8).output("label"), log_probs) == "log_softmax"
    told = Interface.from_job({"outputs": [{"name": "label", "role": "label",
                                            "activation": "logits"}]}).output("label")
    assert activation(told, log_probs) == "logits"              # declared beats detected


def test_class_loss_is_nll_on_log_probabilities_and_cross_entropy_on_logits():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.25], [-3.0, 1.0]])
    target = torch.tensor([0, 1, 1])
    log_probs = logits.log_softmax(1)
    assert torch.isclose(class_loss(log_probs, target, "log_softmax"),
                         -log_probs[torch.arange(3), target].mean())
    assert torch.isclose(class_loss(logits, target, "logits"),
                         nn.functional.cross_entropy(logits, target))


# ------------------------------------------------------------------ the reference models

def test_hw5_reference_returns_a_class_and_a_box_in_0_1():
    model = build("hw5-net").eval()
    assert len(list(model.parameters())) >= 50                  # the handout's 50 "layers"
    interface = declared(HW5)
    with torch.no_grad():
        heads = interface.call(model, interface.example(model, batch=2))
    assert heads["label"].shape == (2, 3) and heads["box"].shape == (2, 4)
    assert 0.0 <= heads["box"].min() and heads["box"].max() <= 1.0
    assert not is_log_softmax(heads["label"])
    with torch.no_grad():
        cls, bbox = model(torch.rand(1, 3, 256, 256))           # the course's image size
    assert cls.shape == (1, 3) and bbox.shape == (1, 4)


def test_hw8_reference_steps_one_sequence_from_init_hidden():
    model = build("hw8-gru").eval()
    interface = declared(HW8)
    x, h = interface.example(model, batch=1, length=9)
    assert torch.equal(h, torch.zeros(1, 1, 100))
    with torch.no_grad():
        heads = interface.call(model, [x, h])
    assert heads["label"].shape == (1, 2) and heads["h"].shape == (1, 1, 100)
    assert is_log_softmax(heads["label"])                       # LogSoftmax(dim=1): NLLLoss


@pytest.mark.parametrize("model_id", ["hw3-lstm", "hw3-gru"])
def test_hw3_reference_ignores_padding_and_batch_order(model_id):
    torch.manual_seed(0)
    model = build(model_id, vocab_size=500).eval()
    interface = declared(LABRNN)
    ids, length = interface.example(model, batch=7, length=12)
    with torch.no_grad():
        scores = interface.call(model, [ids, length])["label"]
        assert scores.shape == (7, 2)
        noisy = ids.clone()
        noisy[noisy == 0] = 7                                   # junk past each length
        assert torch.allclose(model(noisy, length), scores, atol=1e-6)
        order = torch.tensor([3, 0, 6, 1, 5, 2, 4])             # not sorted by length
        assert torch.allclose(model(ids[order], length[order]), scores[order], atol=1e-6)


# ------------------------------------------------------------------ the report, parsed

def probe_entry(**fields) -> dict:
    return {"models": [{"key": "b0", "ok": True, "stage": "done", **fields}]}


def test_heads_length_and_parameter_tensors_are_parsed():
    reports = parse_probes(probe_entry(param_tensors=58, outputs=[{
        "batch": 2, "length": 12, "shape": [2, 3], "dtype": "float32", "finite": True,
        "heads": [{"name": "label", "shape": [2, 3], "dtype": "float32", "finite": True,
                   "log_softmax": False},
                  {"name": "box", "shape": [2, 4], "dtype": "float32", "finite": True}]}]))
    report = reports["b0"]
    assert report.param_tensors == 58
    (output,) = report.outputs
    assert output.length == 12 and output.shape == (2, 3)
    assert output.heads == (ForwardHead("label", (2, 3), "float32", True, False),
                            ForwardHead("box", (2, 4), "float32", True, False))


def test_classification_reports_have_no_heads():
    report = parse_probes(probe_entry(outputs=[{"batch": 1, "shape": [1, 10]}]))["b0"]
    assert report.outputs[0].heads == () and report.outputs[0].length is None
    assert report.param_tensors is None


HEAD = {"name": "label", "shape": [1, 2]}


@pytest.mark.parametrize("fields", [
    {"param_tensors": -1},
    {"param_tensors": "58"},
    {"param_tensors": True},
    {"outputs": [{"batch": 1, "length": -5}]},
    {"outputs": [{"batch": 1, "heads": {"label": [1, 2]}}]},
    {"outputs": [{"batch": 1, "heads": [{"name": "label"}]}]},                  # no shape
    {"outputs": [{"batch": 1, "heads": [{"shape": [1, 2]}]}]},                  # no name
    {"outputs": [{"batch": 1, "heads": [{"name": "label", "shape": ["B", 2]}]}]},
    {"outputs": [{"batch": 1, "heads": [{"name": "x", "shape": [1] * 9}]}]},
    {"outputs": [{"batch": 1, "heads": [{"name": "label", "shape": [1, -2]}]}]},
    {"outputs": [{"batch": 1, "heads": [HEAD] * 17}]},
], ids=["negative-count", "count-string", "count-bool", "negative-length", "heads-dict",
        "head-no-shape", "head-no-name", "symbolic-shape", "nine-dims", "negative-size", "seventeen-heads"])
def test_a_forged_probe_field_drops_the_entry(fields):
    assert parse_probes(probe_entry(**fields)) == {}


# ------------------------------------------------------------------ the probe, in the sandbox

LIMITS = Limits(wall_seconds=90, memory_mb=2048, processes=64, file_size_mb=64,
                cpu_seconds=240)


def run_probe(source: str, objects: list[str], spec: InterfaceSpec, *,
              references: dict[str, dict] | None = None, limits: Limits = LIMITS,
              input_shape=(3, 64, 64)):
    """Probe the classes `objects` of the student module `source` (and reference models:
    {registry id: constructor arguments}) with inspect_models in the sandbox, under the
    declared interface; gives the parsed reports and the parameter counts recounted from
    the exported shapes (the trusted side's figure), by entry key."""
    with Sandbox(limits) as box:
        path = box.add_job_file("model_b0.py", textwrap.dedent(source))
        entries = [{"key": name, "module": path, "label": f"{name}()", "object": name,
                    "args": {}} for name in objects]
        entries += [{"key": f"reference:{ref}", "reference": ref, "args": args}
                    for ref, args in (references or {}).items()]
        job = {"models": entries, "input_shape": list(input_shape), "batch_sizes": [1, 2, 7],
               "seed": 0, "entry_seconds": 0, "interface": spec.to_job()}
        outcome = box.run("inspect_models", job)
        assert outcome.status == "ok", (outcome.reason, outcome.output[-3000:])
        reports = parse_probes(outcome.result)
        counts = {key: count(param_shapes(outcome.out_dir, r.param_file))
                  for key, r in reports.items() if r.param_file}
        sizes = {key: (outcome.out_dir / r.param_file).stat().st_size
                 for key, r in reports.items() if r.param_file}
    return reports, counts, sizes


def heads(output) -> list[tuple[str, tuple[int, ...]]]:
    return [(h.name, h.shape) for h in output.heads]


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# The HW5 handout's skeleton as students complete it (heads of their own, an own ResnetBlock),
# at 64x64 here; ClassifierOnly forgot the box, WrongHead's box head has 3 outputs.
HW5_HANDIN = '''
import torch
import torch.nn as nn


class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super(ResnetBlock, self).__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3), nn.BatchNorm2d(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3), nn.BatchNorm2d(dim))

    def forward(self, x):
        out = x + self.conv_block(x)  # add skip connections
        return out


class HW5Net(nn.Module):
    """ Resnet-based encoder that consists of a few downsampling + several Resnet blocks as
    the backbone and two prediction heads. """

    def __init__(self, input_nc=3, output_nc=3, ngf=8, n_blocks=4, box_out=4):
        assert (n_blocks >= 0)
        super(HW5Net, self).__init__()
        # The first conv layer
        model = [nn.ReflectionPad2d(3),
                 nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0),
                 nn.BatchNorm2d(ngf),
                 nn.ReLU(True)]
        # Add downsampling layers
        n_downsampling = 4
        for i in range(n_downsampling):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1),
                      nn.BatchNorm2d(ngf * mult * 2),
                      nn.ReLU(True)]
        # Add your own ResNet blocks
        mult = 2 ** n_downsampling
        for i in range(n_blocks):
            model += [ResnetBlock(ngf * mult)]
        self.model = nn.Sequential(*model)
        # The classification head
        class_head = [nn.Flatten(), nn.Linear(ngf * mult * 4 * 4, 256), nn.ReLU(True),
                      nn.Linear(256, output_nc)]
        self.class_head = nn.Sequential(*class_head)
        # The bounding box regression head
        bbox_head = [nn.Flatten(), nn.Linear(ngf * mult * 4 * 4, 256), nn.ReLU(True),
                     nn.Linear(256, box_out), nn.Sigmoid()]
        self.bbox_head = nn.Sequential(*bbox_head)

    def forward(self, x):
        ft = self.model(x)
        cls = self.class_head(ft)
        bbox = self.bbox_head(ft)
        return cls, bbox


class WrongHead(HW5Net):
    def __init__(self):
        super().__init__(box_out=3)


class ClassifierOnly(HW5Net):
    def forward(self, x):
        return self.class_head(self.model(x))
'''


@pytest.mark.sandbox
def test_localization_heads_are_probed_per_batch_size():
    reports, counts, _ = run_probe(HW5_HANDIN, ["HW5Net", "WrongHead", "ClassifierOnly"], HW5,
                                   references={"hw5-net": {"num_classes": 3}})
    namespace: dict = {}
    exec(HW5_HANDIN, namespace)
    net = namespace["HW5Net"]()
    good = reports["HW5Net"]
    assert good.ok and good.param_tensors == len(list(net.parameters())) >= 50
    assert counts["HW5Net"] == trainable(net)
    assert [(o.batch, o.length) for o in good.outputs] == [(1, 12), (2, 12), (7, 12)]
    for output in good.outputs:
        b = output.batch
        assert heads(output) == [("label", (b, 3)), ("box", (b, 4))] and output.error is None
        assert output.shape == (b, 3) and output.finite          # the first head's
        assert not any(h.log_softmax for h in output.heads)
    layers = {layer.name: layer.output_shape for layer in good.layers}
    assert layers["class_head.3"] == (1, 3) and layers["bbox_head.3"] == (1, 4)
    assert layers["model.0"] == (1, 3, 70, 70) and good.flops and good.flops > 0

    assert [heads(o)[1] for o in reports["WrongHead"].outputs] == \
        [("box", (1, 3)), ("box", (2, 3)), ("box", (7, 3))]
    lone = reports["ClassifierOnly"]
    assert lone.ok and all(o.heads == () for o in lone.outputs)
    errors = {(o.error.type, o.error.message) for o in lone.outputs}
    assert errors == {("InterfaceError",
                       "forward returned one tensor; expected 2 outputs (label, box)")}

    reference = reports["reference:hw5-net"]
    assert reference.ok and reference.param_tensors == 58
    assert counts["reference:hw5-net"] == 1_305_495
    assert heads(reference.outputs[2]) == [("label", (7, 3)), ("box", (7, 4))]


# ECE 60146 HW8 hand-ins: DLStudio's GRU with nn.GRU, an LSTM whose hidden state is a pair, and
# a net whose forward takes only x (the typical mistake).
HW8_HANDIN = '''
import torch
import torch.nn as nn


class HW8Net(nn.Module):
    def __init__(self, input_size=300, hidden_size=100, output_size=2, num_layers=1):
        super(HW8Net, self).__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.gru = nn.GRU(input_size, hidden_size, num_layers)
        self.fc = nn.Linear(hidden_size, output_size)
        self.relu = nn.ReLU()
        self.logsoftmax = nn.LogSoftmax(dim=1)

    def forward(self, x, h):
        out, h = self.gru(x, h)
        out = self.fc(self.relu(out[-1]))
        out = self.logsoftmax(out)
        return out, h

    def init_hidden(self):
        weight = next(self.parameters()).data
        hidden = weight.new(self.num_layers, 1, self.hidden_size).zero_()
        return hidden


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(300, 100)
        self.fc = nn.Linear(100, 2)

    def forward(self, x, hc):
        out, (h, c) = self.lstm(x, hc)
        return nn.functional.log_softmax(self.fc(out[-1]), dim=1), (h, c)

    def init_hidden(self):
        return (torch.zeros(1, 1, 100), torch.zeros(1, 1, 100))


class NoHidden(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(300, 100)
        self.fc = nn.Linear(100, 2)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.fc(out[-1])
'''


@pytest.mark.sandbox
def test_stepped_sequence_models_are_probed_at_two_lengths():
    reports, counts, _ = run_probe(HW8_HANDIN, ["HW8Net", "LSTMNet", "NoHidden"], HW8,
                                   references={"hw8-gru": {"num_classes": 2}},
                                   input_shape=(3, 32, 32))      # not used: the interface is
    for key in ("HW8Net", "LSTMNet", "reference:hw8-gru"):
        report = reports[key]
        assert report.ok, report.error
        assert [(o.batch, o.length) for o in report.outputs] == [(1, 5), (1, 12)]
        for output in report.outputs:
            assert heads(output) == [("label", (1, 2)), ("h", (1, 1, 100))], output.error
            assert output.heads[0].log_softmax and not output.heads[1].log_softmax
    gru = {layer.name: layer.output_shape for layer in reports["HW8Net"].layers}
    assert gru["gru"] == (12, 1, 100) and gru["fc"] == (1, 2)      # (out, h): out's shape
    assert {layer.name: layer.output_shape for layer in reports["LSTMNet"].layers}["lstm"] == \
        (12, 1, 100)
    assert reports["HW8Net"].param_tensors == 6 and counts["HW8Net"] == 120_802
    assert counts["reference:hw8-gru"] == 120_802

    wrong = reports["NoHidden"]
    assert wrong.ok and all(o.heads == () for o in wrong.outputs)
    for output in wrong.outputs:
        assert output.error.type == "TypeError"
        assert output.error.message.endswith(
            "forward() takes 2 positional arguments but 3 were given")


LABRNN_HANDIN = '''
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence


class LSTMModel(nn.Module):
    def __init__(self, vocab_size=500, embedding_dim=64, hidden_size=64, num_classes=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x, length):
        x = self.embedding(x)
        x = pack_padded_sequence(x, length.cpu(), batch_first=True, enforce_sorted=False)
        _, (h_n, c_n) = self.lstm(x)
        return self.fc(h_n[-1])
'''


@pytest.mark.sandbox
def test_ids_and_lengths_models_are_probed_per_batch_size():
    reports, counts, _ = run_probe(LABRNN_HANDIN, ["LSTMModel"], LABRNN,
                                   references={"hw3-gru": {"num_classes": 2,
                                                           "vocab_size": 500}})
    for key in ("LSTMModel", "reference:hw3-gru"):
        report = reports[key]
        assert report.ok, report.error
        assert [(o.batch, o.length) for o in report.outputs] == [(1, 12), (2, 12), (7, 12)]
        assert [heads(o) for o in report.outputs] == [[("label", (b, 2))] for b in (1, 2, 7)]
        assert not any(o.heads[0].log_softmax for o in report.outputs)
    layers = {layer.name: layer.output_shape for layer in reports["LSTMModel"].layers}
    assert layers["embedding"] == (1, 12, 64)
    assert layers["lstm"] == (12, 64)          # the packed output's data: 12 steps of one
    assert counts["LSTMModel"] == 500 * 64 + 4 * (64 * 64 * 2 + 128) + 130
    assert counts["reference:hw3-gru"] == 500 * 64 + 3 * (64 * 64 * 2 + 128) + 130


# A real-sized HW5 net (77.6M parameters, mostly in Linear(128 * 16 * 16, ...) heads at
# 256x256), as the largest public hand-ins have: its float32 parameters alone are 310 MB.
BIG_HW5 = HW5_HANDIN.replace("4 * 4, 256), nn.ReLU(True),\n                      nn.Linear(256,",
                             "16 * 16, 2048), nn.ReLU(True),\n                      nn.Linear(2048,"
                             ).replace("4 * 4, 256), nn.ReLU(True),\n                     "
                                       "nn.Linear(256, box_out)",
                                       "16 * 16, 280), nn.ReLU(True),\n                     "
                                       "nn.Linear(280, box_out)")


@pytest.mark.sandbox
def test_a_77m_parameter_net_probes_within_the_default_limits():
    assert BIG_HW5.count("16 * 16") == 2
    spec = InterfaceSpec(
        inputs=(TensorSpec("x", "image", ("B", 3, 256, 256), range=(0.0, 1.0)),),
        outputs=HW5.outputs, declared=True)
    reports, counts, sizes = run_probe(BIG_HW5, ["HW5Net"], spec, input_shape=(3, 256, 256),
                                       limits=Limits.from_spec(LimitsSpec()))
    report = reports["HW5Net"]
    assert report.ok, report.error
    expected = 1_282_560 + (32_768 * 2048 + 2048 + 2049 * 3) + (32_768 * 280 + 280 + 281 * 4)
    assert expected == 77_576_063
    assert counts["HW5Net"] == expected
    assert report.param_tensors == 60
    assert sizes["HW5Net"] < 64 * 1024         # shapes only: no 310 MB of weights
    assert [heads(o) for o in report.outputs] == [
        [("label", (b, 3)), ("box", (b, 4))] for b in (1, 2, 7)]
