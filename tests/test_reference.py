"""Reference models: parameter counts pinned to reference/README.md, per-layer figures, output
shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reference import MODELS, build


def trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


PARAMS = {                          # reference/README.md, "Architectures and parameter counts"
    "simplenn": 82_030,
    "simplenn-bn": 82_078,
    "resnet20-a": 269_722,
    "resnet20-b": 272_474,
    "resnet32-a": 464_154,
    "resnet56-a": 853_018,
    "dlstudio-net": 62_006,
    "dlstudio-net2": 1_468_036,
    "resnet18": 11_173_962,
    "hw4-net1": 406_885,
    "hw4-net2": 529_765,
}
# (image side, classes) a model is built for by default; the others take 32x32 and 10 classes
INPUT = {"hw4-net1": (64, 5), "hw4-net2": (64, 5)}
# models with a declared [interface] (not one image batch in, logits out): their counts with
# the factory's defaults (reference/README.md, "Localization and sequence models"); their
# forward passes are tested in tests/test_interface_probe.py
INTERFACE_PARAMS = {
    "hw5-net": 1_305_495,           # HW5Net(3, 3): 58 parameter tensors
    "hw8-gru": 120_802,             # GRUnetWithEmbeddings(300, 100, 2): GRU 120,600, fc 202
    "hw3-lstm": 673_410,            # vocab 10,000 x 64 embedding 640,000, LSTM 33,280, fc 130
    "hw3-gru": 665_090,             # the same with a GRU: 24,960
}


def test_every_registered_model_has_a_pinned_count():
    assert set(MODELS) == set(PARAMS) | set(INTERFACE_PARAMS)
    assert not set(PARAMS) & set(INTERFACE_PARAMS)


@pytest.mark.parametrize("model_id", sorted(INTERFACE_PARAMS))
def test_interface_model_parameter_count(model_id):
    assert trainable(build(model_id)) == INTERFACE_PARAMS[model_id]


def test_hw5_net_per_part_figures():
    model = build("hw5-net")
    assert len(list(model.parameters())) == 58     # the handout asks for at least 50
    parts = {name: trainable(m) for name, m in model.named_children()}
    # trunk: stem 1,184 + 16, downsamplings 99,840 in all, 4 ResNet blocks of 295,680
    assert parts == {"model": 1_282_560, "class_head": 387, "bbox_head": 22_548}
    assert trainable(build("hw5-net", num_classes=5)) == INTERFACE_PARAMS["hw5-net"] + 2 * 129


def test_sequence_model_figures_follow_the_vocabulary_and_classes():
    gru = build("hw8-gru")
    assert (gru.gru.input_size, gru.gru.hidden_size, gru.fc.out_features) == (300, 100, 2)
    assert trainable(build("hw8-gru", embedding_dim=50)) == 3 * (50 * 100 + 100 * 100 + 200) + 202
    for model_id, cell in (("hw3-lstm", nn.LSTM), ("hw3-gru", nn.GRU)):
        model = build(model_id, vocab_size=500, num_classes=3)
        assert isinstance(model.rnn, cell) and model.embedding.padding_idx == 0
        gates = 4 if cell is nn.LSTM else 3
        assert trainable(model) == 500 * 64 + gates * (64 * 64 * 2 + 128) + 65 * 3


@pytest.mark.parametrize("model_id", sorted(PARAMS))
def test_parameter_count_and_output_shape(model_id):
    torch.manual_seed(0)
    model = build(model_id)
    assert trainable(model) == PARAMS[model_id]
    side, classes = INPUT.get(model_id, (32, 10))
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, side, side)).shape == (2, classes)


@pytest.mark.parametrize("model_id", sorted(PARAMS))
def test_num_classes_keyword_changes_only_the_last_layer(model_id):
    model = build(model_id, num_classes=7)
    side, classes = INPUT.get(model_id, (32, 10))
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, side, side)).shape == (1, 7)
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    # 10 -> 7 classes removes 3 rows of weights and 3 biases (5 -> 7 adds 2 of each)
    assert trainable(model) == PARAMS[model_id] - (classes - 7) * (last.in_features + 1)


def test_simplenn_layers_match_table_1():
    model = build("simplenn")
    assert [name for name, _ in model.named_children()] == \
        ["conv1", "pool", "conv2", "fc1", "fc2", "fc3"]
    per_layer = {name: trainable(m) for name, m in model.named_children() if trainable(m)}
    assert per_layer == {"conv1": 608, "conv2": 1_168, "fc1": 69_240, "fc2": 10_164, "fc3": 850}
    assert model.conv1.kernel_size == (5, 5) and model.conv1.padding == (0, 0)
    assert model.conv2.kernel_size == (3, 3) and model.fc1.in_features == 576


def test_simplenn_bn_adds_batchnorm_after_each_conv():
    model = build("simplenn-bn")
    assert isinstance(model.bn1, nn.BatchNorm2d) and model.bn1.num_features == 8
    assert isinstance(model.bn2, nn.BatchNorm2d) and model.bn2.num_features == 16
    assert trainable(model) - trainable(build("simplenn")) == 48


def test_resnet20_option_a_stage_figures():
    model = build("resnet20-a")
    stages = {name: trainable(getattr(model, name))
              for name in ("conv1", "bn1", "layer1", "layer2", "layer3", "linear")}
    assert stages == {"conv1": 432, "bn1": 32, "layer1": 14_016, "layer2": 51_072,
                      "layer3": 203_520, "linear": 650}


@pytest.mark.parametrize("model_id", ["resnet20-a", "resnet20-b"])
def test_resnet20_has_20_weighted_layers(model_id):
    model = build(model_id)
    convs3 = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert (len(convs3), len(linears)) == (19, 1)
    projections = [m for m in model.modules() if isinstance(m, nn.Conv2d)
                   and m.kernel_size == (1, 1)]
    assert len(projections) == (0 if model_id == "resnet20-a" else 2)


def test_resnet20_option_a_shortcut_zero_pads_channels():
    block = build("resnet20-a").layer2[0]
    x = torch.randn(1, 16, 32, 32)
    out = block.shortcut(x)
    assert out.shape == (1, 32, 16, 16)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2])
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0


@pytest.mark.slow                   # an 11M-parameter model at 64x64
def test_resnet18_tiny_imagenet_shape():
    model = build("resnet18", num_classes=200)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 200)
    assert trainable(model) == PARAMS["resnet18"] + 190 * 513


def test_dlstudio_net2_spatial_sizes():
    model = build("dlstudio-net2")
    x = torch.randn(1, 3, 32, 32)
    x = model.pool1(model.conv1(x))
    assert x.shape[-1] == 16
    x = model.pool2(model.conv2(x))
    assert x.shape[-1] == 8
    x = model.conv3(x)
    assert x.shape[-1] == 9
    assert model.pool3(x).shape == (1, 128, 8, 8)


def test_model_files_import_only_torch():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "reference"
    for name in ("simplenn", "resnet_cifar", "dlstudio", "resnet18", "hw5", "rnn"):
        tree = ast.parse((root / f"{name}.py").read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert imported <= {"torch", "__future__"}, (name, imported)


def test_reference_readme_pins_the_same_counts():
    """reference/README.md (the pinned facts, in the repository) states every count above."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[1] / "reference" / "README.md").read_text(encoding="utf-8")
    rows = {}
    header: list[str] = []          # the current table's header: only "params" tables count
    for line in text.splitlines():
        if not line.startswith("|"):
            header = []
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not header:
            header = cells
            continue
        if len(header) < 4 or header[3] != "params":
            continue
        ids = re.findall(r"`([a-z0-9-]+)`", cells[0]) if len(cells) >= 4 else []
        counts = [int(n.replace(",", "")) for n in re.findall(r"\d{1,3}(?:,\d{3})+", cells[3])] \
            if ids else []
        rows.update(zip(ids, counts))
    assert rows == PARAMS | INTERFACE_PARAMS
