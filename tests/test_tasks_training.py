"""The canonical routines of the other task kinds: reference.localization (a class and a box
per image, ECE 60146 HW5) and reference.sequence (token sequences, batched with lengths as ECE
661 HW3's LabRNN, or one at a time with a hidden state as ECE 60146 HW8's GRU), and
harness.train_models dispatching to them and writing their files.

Run in-process on tiny data made here (milliseconds per epoch); one test runs train_models in
the real sandbox."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.ops import box_iou

import grader
from grader.sandbox.reports import parse_training
from reference import interface as interface_module
from reference import localization, sequence
from reference.interface import Interface, InterfaceError
from reference.train import TrainConfig

HARNESS = Path(grader.__file__).parent / "sandbox"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Other jobs share this 2-core machine: one thread runs these tiny models fastest."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- data and models

def boxes_data(n: int, seed: int, size: int = 32):
    """Dark noise with one bright square per image: the class is its colour channel, the box
    its extent (x1, y1, x2, y2 scaled to 0..1), as the HW5 stand-in's one object per image."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 40, (n, size, size, 3), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 3, (n,), generator=g)
    boxes = torch.zeros(n, 4)
    for i in range(n):
        w, h = torch.randint(size // 4, size * 5 // 8, (2,), generator=g).tolist()
        x = int(torch.randint(0, size - w + 1, (1,), generator=g))
        y = int(torch.randint(0, size - h + 1, (1,), generator=g))
        images[i, y:y + h, x:x + w, int(labels[i])] = 230
        boxes[i] = torch.tensor([x, y, x + w, y + h]) / size
    return images, labels, boxes


class BoxNet(nn.Module):
    """A small HW5-style net: conv features, a class head and a sigmoid box head; forward
    returns (cls, bbox) as the handout's skeleton does."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(input_nc, ngf, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(2),
            nn.Conv2d(ngf, 2 * ngf, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(2),
            nn.Flatten())
        self.cls_head = nn.Linear(2 * ngf * 64, output_nc)
        self.bbox_head = nn.Sequential(nn.Linear(2 * ngf * 64, 4), nn.Sigmoid())

    def forward(self, x):
        z = self.features(x)
        return self.cls_head(z), self.bbox_head(z)


# as grader.spec's InterfaceSpec.to_job writes them into the plan
HW5_INTERFACE_JOB = {
    "inputs": [{"name": "x", "role": "image", "shape": ["B", 3, 32, 32], "dtype": "float32",
                "range": None, "init": "zeros", "activation": "auto"}],
    "outputs": [{"name": "cls", "role": "label", "shape": ["B", 3], "dtype": "float32",
                 "range": None, "init": "zeros", "activation": "auto"},
                {"name": "bbox", "role": "box", "shape": ["B", 4], "dtype": "float32",
                 "range": [0, 1], "init": "zeros", "activation": "auto"}]}
HW5_INTERFACE = Interface.from_job(HW5_INTERFACE_JOB)

VOCAB = 20


def sequences(n: int, seed: int, longest: int = 12):
    """Token ids padded with 0 after each length; label 1 when token 1 occurs (the rule an
    RNN must carry to the end of the sequence), else 0."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, longest + 1, (n,), generator=g)
    ids = torch.randint(2, VOCAB, (n, longest), generator=g)
    labels = torch.randint(0, 2, (n,), generator=g)
    for i in range(n):
        if labels[i]:
            ids[i, int(torch.randint(0, int(lengths[i]), (1,), generator=g))] = 1
        ids[i, int(lengths[i]):] = 0
    return ids, lengths, labels


class LabRNN(nn.Module):
    """ECE 661 HW3's LabRNN shape: forward(x, length) on padded ids [B, T], packed with the
    default enforce_sorted=True (so the batch must come longest first)."""

    def __init__(self, vocab_size: int = VOCAB, cell: type = nn.LSTM):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, 16, padding_idx=0)
        self.rnn = cell(16, 32, batch_first=True)
        self.fc = nn.Linear(32, 2)

    def forward(self, x, length):
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(x), length, batch_first=True)
        _, hidden = self.rnn(packed)
        if isinstance(hidden, tuple):
            hidden = hidden[0]
        return self.fc(hidden[-1])


class HW8Net(nn.Module):
    """ECE 60146 HW8's shape: forward(x, h) on [T, 1, D] word vectors, (LogSoftmax [1, 2], h)
    out, init_hidden() from the weights."""

    def __init__(self, input_size: int = 8, hidden_size: int = 16):
        super().__init__()
        self.hidden_size = hidden_size
        self.gru = nn.GRU(input_size, hidden_size)
        self.fc = nn.Linear(hidden_size, 2)
        self.relu = nn.ReLU()
        self.logsoftmax = nn.LogSoftmax(dim=1)

    def forward(self, x, h):
        out, h = self.gru(x, h)
        return self.logsoftmax(self.fc(self.relu(out[-1]))), h

    def init_hidden(self):
        weight = next(self.parameters()).data
        return weight.new(1, 1, self.hidden_size).zero_()


class LogitsNet(HW8Net):
    """The same GRU returning raw scores: the routine must use cross-entropy, not NLL."""

    def forward(self, x, h):
        out, h = self.gru(x, h)
        return self.fc(self.relu(out[-1])), h


class ForgotHidden(nn.Module):
    """The typical HW8 mistake: forward(x) where the course's loop calls forward(x, h)."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(8, 16)
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        out, _ = self.gru(x)
        return nn.functional.log_softmax(self.fc(out[-1]), dim=1)


LAB_RNN_INTERFACE = Interface.from_job({
    "inputs": [{"name": "x", "role": "ids", "shape": ["B", "T"], "dtype": "int64",
                "range": [1, VOCAB]},
               {"name": "length", "role": "lengths", "shape": ["B"], "dtype": "int64"}],
    "outputs": [{"name": "label", "role": "label", "shape": ["B", 2]}]})
HW8_INTERFACE_JOB = {
    "inputs": [{"name": "x", "role": "embeddings", "shape": ["T", 1, 8]},
               {"name": "h", "role": "hidden", "shape": [1, 1, 16], "init": "init_hidden"}],
    "outputs": [{"name": "out", "role": "label", "shape": [1, 2]},
                {"name": "h", "role": "hidden"}]}
HW8_INTERFACE = Interface.from_job(HW8_INTERFACE_JOB)


def word_vectors(seed: int = 0) -> torch.Tensor:
    vectors = torch.randn(VOCAB, 8, generator=torch.Generator().manual_seed(seed))
    vectors[0] = 0                              # padding
    return vectors


def mean_iou(pred: torch.Tensor, true: torch.Tensor) -> float:
    return float(box_iou(pred, true).diagonal().clamp(0, 1).mean())


# ---------------------------------------------------------------- localization

@pytest.mark.slow    # over 0.25 s: the fast tier stays under a minute
def test_a_localization_net_learns_boxes_better_than_the_mean_box():
    images, labels, boxes = boxes_data(64, seed=0)
    test_images, test_labels, test_boxes = boxes_data(64, seed=1)
    torch.manual_seed(0)
    model = BoxNet()
    config = TrainConfig(epochs=12, batch_size=16, lr=3e-3, optimizer="adam", augment=False)
    history = localization.train(model, images, labels, boxes, config,
                                 interface=HW5_INTERFACE, eval_images=test_images)
    final = history.epochs[-1].eval_boxes
    assert final.dtype == torch.float32 and final.shape == (64, 4)
    trivial = mean_iou(boxes.mean(0).expand(64, 4), test_boxes)     # the best constant guess
    assert mean_iou(final, test_boxes) > trivial + 0.15
    assert history.epochs[-1].train_iou > history.epochs[0].train_iou
    assert (history.final_predictions == test_labels).float().mean() > 0.9
    assert not history.diverged and not model.training
    labels_out, boxes_out = localization.predict(model, test_images, interface=HW5_INTERFACE,
                                                 mean=history.mean, std=history.std)
    assert torch.equal(labels_out, history.final_predictions)
    assert torch.allclose(boxes_out, final)


def test_localization_is_deterministic_given_the_seed():
    images, labels, boxes = boxes_data(40, seed=2)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = BoxNet()
        history = localization.train(model, images, labels, boxes,
                                     TrainConfig(epochs=2, batch_size=16, seed=3),
                                     interface=HW5_INTERFACE, eval_images=images[:8])
        runs.append(history)
    assert torch.equal(runs[0].epochs[-1].eval_boxes, runs[1].epochs[-1].eval_boxes)
    assert runs[0].train_loss == runs[1].train_loss


@pytest.mark.parametrize("box_loss", ["mse", "ciou", "mse+ciou"])
def test_each_box_loss_trains_and_its_loss_is_what_it_says(box_loss):
    images, labels, boxes = boxes_data(32, seed=4)
    torch.manual_seed(0)
    model = BoxNet()
    config = TrainConfig(epochs=2, batch_size=32, lr=1e-9, momentum=0.0, weight_decay=0.0)
    history = localization.train(model, images, labels, boxes, config,
                                 interface=HW5_INTERFACE, box_loss=box_loss, box_weight=2.0)
    # one batch, lr ~0: the first epoch's loss is the untrained model's, computed here
    torch.manual_seed(0)
    fresh = BoxNet()
    fresh.eval()
    mean = torch.tensor(history.mean).view(1, 3, 1, 1)
    std = torch.tensor(history.std).view(1, 3, 1, 1)
    with torch.no_grad():
        scores, pred = fresh((images.permute(0, 3, 1, 2).float() / 255 - mean) / std)
        from torchvision.ops import complete_box_iou_loss
        mse = nn.functional.mse_loss(pred, boxes)
        ciou = complete_box_iou_loss(pred, boxes, reduction="mean")
    box = {"mse": mse, "ciou": ciou, "mse+ciou": mse + ciou}[box_loss]
    expected = nn.functional.cross_entropy(scores, labels) + 2.0 * box
    assert history.train_loss[0] == pytest.approx(float(expected), rel=1e-4)
    assert all(np.isfinite(history.train_loss))


def test_ciou_stays_finite_for_a_box_head_that_outputs_zero_sized_boxes():
    """A ReLU box head that died outputs x1 = x2 = 0: torchvision's CIoU aspect term is then
    atan(0 / 0); the routine widens such a side a hair so the loss and gradients stay finite."""
    pred = torch.zeros(4, 4, requires_grad=True)
    target = torch.tensor([[0.1, 0.1, 0.5, 0.6]] * 4)
    loss = localization.box_term(pred, target, "ciou")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()


def test_localization_names_a_wrong_box_head():
    class WrongBox(BoxNet):
        def forward(self, x):
            cls, bbox = super().forward(x)
            return cls, bbox[:, :2]             # (cx, cy) only
    images, labels, boxes = boxes_data(8, seed=5)
    with pytest.raises(InterfaceError, match=r"bbox output has shape \[8, 2\]; expected \[8, 4\]"):
        localization.train(WrongBox(), images, labels, boxes, TrainConfig(epochs=1),
                           interface=HW5_INTERFACE)
    with pytest.raises(ValueError, match="train_boxes: expected 8 boxes"):
        localization.train(BoxNet(), images, labels, boxes[:, :3], TrainConfig(epochs=1),
                           interface=HW5_INTERFACE)


# ---------------------------------------------------------------- sequences

@pytest.mark.slow    # over 0.25 s: the fast tier stays under a minute
def test_a_batched_lstm_with_lengths_learns_the_rule():
    ids, lengths, labels = sequences(128, seed=0)
    test_ids, test_lengths, test_labels = sequences(128, seed=1)
    torch.manual_seed(0)
    model = LabRNN()        # enforce_sorted=True: fails unless each batch is longest first
    config = TrainConfig(epochs=6, batch_size=16, lr=1e-2, optimizer="adam")
    history = sequence.train(model, ids, lengths, labels, config, interface=LAB_RNN_INTERFACE,
                             eval_ids=test_ids, eval_lengths=test_lengths)
    accuracy = float((history.final_predictions == test_labels).float().mean())
    assert accuracy > 0.9                       # chance is about 0.5
    assert history.train_loss[-1] < history.train_loss[0]
    # prediction puts the sorted batches back in the sequences' order
    again = sequence.predict(model, test_ids, test_lengths, interface=LAB_RNN_INTERFACE,
                             batch_size=7)
    assert torch.equal(again, history.final_predictions)


@pytest.mark.slow           # one optimizer step per sequence: about 5 s on one thread
def test_a_stepped_gru_with_a_hidden_state_learns_the_rule():
    ids, lengths, labels = sequences(128, seed=2)
    test_ids, test_lengths, test_labels = sequences(128, seed=3)
    torch.manual_seed(0)
    config = TrainConfig(epochs=6, lr=3e-3, optimizer="adam")
    history = sequence.train(HW8Net(), ids, lengths, labels, config, interface=HW8_INTERFACE,
                             vectors=word_vectors(), eval_ids=test_ids,
                             eval_lengths=test_lengths)
    assert (history.final_predictions == test_labels).float().mean() > 0.9
    assert history.train_loss[-1] < history.train_loss[0]


def test_a_stepped_model_gets_one_sequence_per_step_a_fresh_hidden_state_and_nll(monkeypatch):
    class Counting(HW8Net):
        def __init__(self):
            super().__init__()
            self.inputs = []

        def forward(self, x, h):
            self.inputs.append((tuple(x.shape), float(h.abs().sum())))
            return super().forward(x, h)

    ids, lengths, labels = sequences(12, seed=2, longest=7)
    losses = []
    monkeypatch.setattr(sequence, "class_loss",
                        lambda scores, y, kind: losses.append((tuple(scores.shape), kind))
                        or interface_module.class_loss(scores, y, kind))
    torch.manual_seed(0)
    model = Counting()
    sequence.train(model, ids, lengths, labels, TrainConfig(epochs=2, lr=0.05),
                   interface=HW8_INTERFACE, vectors=word_vectors())
    assert losses == [((1, 2), "log_softmax")] * 24  # LogSoftmax detected: NLL, per sequence
    shapes = {shape for shape, _ in model.inputs}
    assert shapes == {(int(n), 1, 8) for n in lengths}  # [T, 1, D], cut to each length
    assert {h for _, h in model.inputs} == {0.0}        # init_hidden() every time, not carried


def test_a_model_returning_logits_gets_cross_entropy(monkeypatch):
    ids, lengths, labels = sequences(16, seed=4, longest=6)
    kinds = []
    monkeypatch.setattr(sequence, "class_loss",
                        lambda scores, y, kind: kinds.append(kind)
                        or interface_module.class_loss(scores, y, kind))
    torch.manual_seed(0)
    history = sequence.train(LogitsNet(), ids, lengths, labels,
                             TrainConfig(epochs=1, lr=1e-9, momentum=0.0, weight_decay=0.0),
                             interface=HW8_INTERFACE, vectors=word_vectors())
    assert set(kinds) == {"logits"}
    # cross-entropy of an untrained 2-class model is near log 2 (NLL on logits would be
    # minus the raw score: near 0 and of either sign)
    assert history.train_loss[0] == pytest.approx(np.log(2), abs=0.25)


def test_forward_x_where_the_interface_passes_x_and_h_is_a_clear_type_error():
    ids, lengths, labels = sequences(4, seed=5, longest=5)
    with pytest.raises(TypeError, match=r"ForgotHidden\.forward\(x\) cannot take the declared "
                                        r"inputs \(x, h\).*expected forward\(self, x, h\)"):
        sequence.train(ForgotHidden(), ids, lengths, labels, TrainConfig(epochs=1),
                       interface=HW8_INTERFACE, vectors=word_vectors())


def test_sequence_inputs_are_checked_against_the_interface():
    ids, lengths, labels = sequences(4, seed=6, longest=5)
    with pytest.raises(ValueError, match="no vectors were given"):
        sequence.train(HW8Net(), ids, lengths, labels, TrainConfig(epochs=1),
                       interface=HW8_INTERFACE)
    with pytest.raises(ValueError, match="16-dimensional.*8 per token"):
        sequence.train(HW8Net(), ids, lengths, labels, TrainConfig(epochs=1),
                       interface=HW8_INTERFACE, vectors=torch.zeros(VOCAB, 16))
    with pytest.raises(ValueError, match=r"lengths: expected lengths 1\.\.5"):
        sequence.train(LabRNN(), ids, lengths * 0, labels, TrainConfig(epochs=1),
                       interface=LAB_RNN_INTERFACE)


def test_the_optimizer_is_validated_and_adam_is_adam():
    with pytest.raises(ValueError, match="TrainConfig.optimizer: expected one of sgd, adam"):
        TrainConfig(optimizer="rmsprop")
    from reference.train import make_optimizer
    params = [nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer(params, TrainConfig(optimizer="adam")), torch.optim.Adam)
    sgd = make_optimizer(params, TrainConfig())
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9


@pytest.mark.gpu
def test_both_routines_run_on_cuda():
    """bf16 autocast and channels_last for the boxes (losses in float32); ids on the GPU with
    the lengths left on the CPU, as pack_padded_sequence requires."""
    images, labels, boxes = boxes_data(32, seed=14)
    torch.manual_seed(0)
    history = localization.train(BoxNet(), images, labels, boxes,
                                 TrainConfig(epochs=2, batch_size=16, optimizer="adam"),
                                 interface=HW5_INTERFACE, eval_images=images[:8], device="cuda")
    assert history.device.startswith("cuda") and not history.diverged
    assert history.epochs[-1].eval_boxes.shape == (8, 4)
    assert torch.isfinite(history.epochs[-1].eval_boxes).all()
    ids, lengths, y = sequences(32, seed=15)
    for model, iface, vectors in ((LabRNN(), LAB_RNN_INTERFACE, None),
                                  (HW8Net(), HW8_INTERFACE, word_vectors())):
        history = sequence.train(model, ids, lengths, y, TrainConfig(epochs=1, batch_size=8),
                                 interface=iface, vectors=vectors, eval_ids=ids[:8],
                                 eval_lengths=lengths[:8], device="cuda")
        assert history.final_predictions.shape == (8,) and not history.diverged


# ---------------------------------------------------------------- the harness's dispatch

@pytest.fixture
def harness(monkeypatch, tmp_path):
    """harness.train_models in this process (as the sandbox runs it), writing to tmp_path."""
    monkeypatch.syspath_prepend(str(HARNESS))
    from harness import common, train_models

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(common, "OUT", str(out))
    return train_models, out


def student_module(tmp_path: Path, name: str, source: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    sys.modules.pop(name, None)
    return str(path)


STUDENT_HW5 = '''\
import torch
import torch.nn as nn


class HW5Net(nn.Module):
    """Resnet-based encoder that consists of a few downsampling + several Resnet blocks as
    the backbone and two prediction heads."""

    def __init__(self, input_nc, output_nc, ngf=8, n_blocks=4):
        super(HW5Net, self).__init__()
        model = [nn.Conv2d(input_nc, ngf, kernel_size=3, padding=1), nn.BatchNorm2d(ngf),
                 nn.ReLU(True), nn.MaxPool2d(2)]
        for _ in range(n_blocks):
            model += [nn.Conv2d(ngf, ngf, kernel_size=3, padding=1), nn.BatchNorm2d(ngf),
                      nn.ReLU(True)]
        self.model = nn.Sequential(*model)
        self.cls_head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                      nn.Linear(ngf, output_nc))
        self.bbox_head = nn.Sequential(nn.Flatten(), nn.Linear(ngf * 16 * 16, 4), nn.Sigmoid())

    def forward(self, x):
        ft = self.model(x)
        cls = self.cls_head(ft)
        bbox = self.bbox_head(ft)
        return cls, bbox
'''


def localization_plan(images, labels, boxes, test_images) -> tuple[dict, dict]:
    data = {"train_images": images.numpy(), "train_labels": labels.numpy(),
            "train_boxes": boxes.numpy(), "test_images": test_images.numpy()}
    plan = {"config": {"epochs": 2, "batch_size": 8, "lr": 1e-3, "optimizer": "adam",
                       "augment": False, "seed": 0},
            "eval_subset": 6, "device": "cpu",
            "task": {"kind": "localization", "box_loss": "ciou", "box_weight": 1.0},
            "interface": HW5_INTERFACE_JOB}
    return plan, data



def test_train_models_writes_the_box_files_of_a_localization_plan(harness, tmp_path):
    train_models, out = harness
    images, labels, boxes = boxes_data(24, seed=7)
    test_images, _, _ = boxes_data(10, seed=8)
    plan, data = localization_plan(images, labels, boxes, test_images)
    entry = {"key": "net", "module": student_module(tmp_path, "hw5_student", STUDENT_HW5),
             "object": "HW5Net", "args": {"input_nc": 3, "output_nc": 3}}
    result = train_models.train_one(entry, plan, data)
    assert result["ok"], result
    assert result["box_files"] == ["epochs-boxes-net.npy", "final-boxes-net.npy"]
    per_epoch, final = (np.load(out / name) for name in result["box_files"])
    assert per_epoch.dtype == final.dtype == np.float32
    assert per_epoch.shape == (2, 6, 4) and np.array_equal(per_epoch[-1], final)
    assert np.load(out / "final-net.npy").shape == (6,)
    report = parse_training({"models": [result]})["net"]
    assert report.box_files == ("epochs-boxes-net.npy", "final-boxes-net.npy")
    assert all(0 <= e.train_iou <= 1 for e in report.history.epochs)
    assert "eval_boxes" not in result["history"]["epochs"][0]


def test_train_models_trains_a_sequence_plan_on_the_first_eval_subset(harness, tmp_path):
    train_models, out = harness
    ids, lengths, labels = sequences(20, seed=9, longest=6)
    test_ids, test_lengths, _ = sequences(9, seed=10, longest=6)
    data = {"train_images": ids.numpy(), "train_labels": labels.numpy(),
            "train_lengths": lengths.numpy(), "test_images": test_ids.numpy(),
            "test_lengths": test_lengths.numpy(), "vectors": word_vectors().numpy()}
    plan = {"config": {"epochs": 2, "lr": 1e-3, "optimizer": "adam"}, "eval_subset": 5,
            "task": {"kind": "sequence", "box_loss": "mse", "box_weight": 1.0},
            "interface": HW8_INTERFACE_JOB}
    source = "import torch\nfrom torch import nn\n\n\n" + _source(HW8Net)
    entry = {"key": "net", "module": student_module(tmp_path, "hw8_student", source),
             "object": "HW8Net"}
    result = train_models.train_one(entry, plan, data)
    assert result["ok"], result
    assert "box_files" not in result
    assert np.load(out / "epochs-net.npy").shape == (2, 5)
    assert "train_iou" not in result["history"]["epochs"][0]

    wrong = {"key": "bad", "module": student_module(tmp_path, "hw8_forgot", source.replace(
        "def forward(self, x, h):", "def forward(self, x):").replace(
        "self.gru(x, h)", "self.gru(x)")), "object": "HW8Net"}
    result = train_models.train_one(wrong, plan, data)
    assert not result["ok"] and result["stage"] == "train"
    assert result["error"]["type"] == "TypeError"
    assert "expected forward(self, x, h)" in result["error"]["message"]


def test_a_classification_plan_takes_the_classification_path_unchanged(harness, tmp_path):
    """No task in the plan: reference.train, label files only, and epochs without the
    localization fields, as before the other task kinds existed."""
    train_models, out = harness
    images, labels, _ = boxes_data(16, seed=11)
    plan = {"config": {"epochs": 1, "batch_size": 8}, "eval_subset": 4, "device": "cpu"}
    source = "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n" \
             "        super().__init__()\n        self.fc = nn.Linear(32 * 32 * 3, 3)\n\n" \
             "    def forward(self, x):\n        return self.fc(x.flatten(1))\n"
    entry = {"key": "net", "module": student_module(tmp_path, "plain_net", source),
             "object": "Net"}
    result = train_models.train_one(entry, plan, {"train_images": images.numpy(),
                                                  "train_labels": labels.numpy(),
                                                  "test_images": images.numpy()})
    assert result["ok"], result
    assert result["predictions_files"] == ["epochs-net.npy", "final-net.npy"]
    assert "box_files" not in result and not list(out.glob("*boxes*"))
    assert set(result["history"]["epochs"][0]) == {"epoch", "train_loss", "train_accuracy",
                                                   "lr", "seconds", "images_per_second"}


def _source(cls) -> str:
    import inspect
    import textwrap
    return textwrap.dedent(inspect.getsource(cls))


# ---------------------------------------------------------------- in the sandbox

@pytest.mark.sandbox
@pytest.mark.train
def test_a_localization_entry_trains_in_the_sandbox_and_its_box_files_parse(tmp_path,
                                                                           monkeypatch):
    from grader.sandbox.bwrap import Sandbox
    from grader.sandbox.limits import Limits

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    images, labels, boxes = boxes_data(24, seed=12)
    test_images, _, _ = boxes_data(10, seed=13)
    arrays = tmp_path / "arrays"
    arrays.mkdir()
    plan, data = localization_plan(images, labels, boxes, test_images)
    data["test_boxes"] = np.zeros((10, 4), np.float32)     # hidden: never linked in
    limits = Limits(wall_seconds=120, memory_mb=3072, processes=64, file_size_mb=64,
                    cpu_seconds=240)
    with Sandbox(limits) as box:
        paths = {}
        for name, array in data.items():
            np.save(arrays / f"{name}.npy", array, allow_pickle=False)
            if name != "test_boxes":
                paths[name] = box.add_data_file(f"{name}.npy", arrays / f"{name}.npy")
        module = box.add_job_file("train_net.py", STUDENT_HW5)
        job = dict(plan, data=paths, models=[{"key": "net", "module": module,
                                              "object": "HW5Net",
                                              "args": {"input_nc": 3, "output_nc": 3}}])
        outcome = box.run("train_models", job)
        report = parse_training(outcome.result).get("net")
        assert report is not None and report.ok, (outcome.reason, outcome.output[-2000:])
        assert report.box_files == ("epochs-boxes-net.npy", "final-boxes-net.npy")
        per_epoch = np.load(outcome.out_dir / report.box_files[0], allow_pickle=False)
        final = np.load(outcome.out_dir / report.box_files[1], allow_pickle=False)
    assert per_epoch.shape == (2, 6, 4) and final.shape == (6, 4)
    assert np.isfinite(final).all() and np.array_equal(per_epoch[-1], final)
    assert all(e.train_iou is not None for e in report.history.epochs)
