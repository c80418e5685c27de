"""The student's own weights (a model's `weights` checkpoint): found and refused on the trusted
side, loaded only in the sandbox, every figure computed from the harness's .npz here, and in
`grader evaluate` scored on the held-out images and compared with predictions.csv.

The checkpoints are made here with torch, as a student's notebook saves them (state_dict,
a checkpoint dict, nn.DataParallel, torch.nn.utils.prune, a whole pickled model); only the
sandbox ever loads them.
"""

from __future__ import annotations

import builtins
import io
import json
import pickle
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grader import spec
from grader.grading import weights as checkpoints
from grader.results import CheckReport, ModelReport, SandboxReport, WeightsReport
from grader.sandbox.reports import (
    MAX_WEIGHT_LAYERS,
    WeightLayer,
    WeightsLoad,
    parse_probes,
)
from tests.factories.models import LAB1_SIMPLENN, RESNET_CIFAR, RESNET_IMPORTS, SIMPLENN
from tests.factories.notebooks import predictions_rows, write_notebook
from tests.factories.specs import model_toml, rubric_item, spec_toml, table_toml

ROOT = Path(__file__).resolve().parents[1]
RESNET20 = 269722


def load_spec(tmp_path: Path, text: str) -> spec.Assignment:
    path = tmp_path / "hw4.toml"
    path.write_text(text, encoding="utf-8")
    return spec.load(str(path))


def pruning_spec(tmp_path: Path, *, glob: str = "*prun*.pt", names=("ResNetCIFAR",),
                 params: int | None = 272474, tables: str = "", extra: str = "",
                 reference: str | None = None) -> spec.Assignment:
    """ECE 661 HW4's ResNet-20, graded from the student's checkpoint (not retrained)."""
    return load_spec(tmp_path, spec_toml(
        model_toml("resnet20", title="ResNet-20", names=list(names), params=params,
                   reference=reference, train=False, weights=glob),
        rubric_item("model", "check", checks=["resnet20.*"], points=10),
        limits={"wall_seconds": 90, "memory_mb": 3072}, tables=tables) + extra)


def simplenn_spec(tmp_path: Path, glob: str, *, tables: str = "", extra: str = ""):
    return load_spec(tmp_path, spec_toml(
        model_toml("simplenn", title="SimpleNN", names=["SimpleNN"], params=82030,
                   train=False, weights=glob),
        rubric_item("model", "check", checks=["simplenn.*"], points=10),
        limits={"wall_seconds": 90, "memory_mb": 3072}, tables=tables) + extra)


def student_class(source: str, name: str, module: str = "student_notebook"):
    """The class a student's code defines, built here to save its checkpoint (the test's own
    process writes the file; only the sandbox loads it)."""
    namespace = {"__name__": module}
    exec(compile(textwrap.dedent(source), f"<{module}>", "exec"), namespace)
    return namespace[name]


# ---------------------------------------------------------------- trusted side: find

def test_the_glob_is_matched_by_name_in_any_folder_without_regard_to_case(tmp_path):
    hw4 = pruning_spec(tmp_path)
    root = tmp_path / "student"
    (root / "hw4" / "checkpoints").mkdir(parents=True)
    (root / "hw4" / "checkpoints" / "ResNet20_Pruned.PT").write_bytes(b"x" * 10)
    (root / "hw4" / "resnet20_dense.pt").write_bytes(b"x")
    found = checkpoints.find(root, hw4.model("resnet20"), hw4.weights)
    assert (found.file, found.bytes, found.refused) == (
        "hw4/checkpoints/ResNet20_Pruned.PT", 10, None)


def test_of_several_matches_the_top_most_then_the_last_in_natural_order_is_graded(tmp_path):
    hw4 = pruning_spec(tmp_path)
    root = tmp_path / "student"
    (root / "old").mkdir(parents=True)
    for name in ("resnet20_pruned_0.3.pt", "resnet20_pruned_0.5.pt", "resnet20_pruned_0.7.pt",
                 "old/resnet20_pruned_0.9.pt", "prune_epoch9.pt", "prune_epoch10.pt"):
        (root / name).write_bytes(b"x")
    found = checkpoints.find(root, hw4.model("resnet20"), hw4.weights)
    assert found.file == "resnet20_pruned_0.7.pt"
    assert found.notes == ("6 files match '*prun*.pt': resnet20_pruned_0.7.pt was graded (the "
                           "one nearest the top folder, then the last in natural order); not "
                           "graded: old/resnet20_pruned_0.9.pt, prune_epoch9.pt, "
                           "prune_epoch10.pt, resnet20_pruned_0.3.pt, resnet20_pruned_0.5.pt",)


def test_a_missing_checkpoint_names_the_glob_and_the_files_seen(tmp_path):
    hw4 = pruning_spec(tmp_path)
    root = tmp_path / "student"
    (root / ".ipynb_checkpoints").mkdir(parents=True)
    (root / ".ipynb_checkpoints" / "resnet20_pruned.pt").write_bytes(b"x")   # a cache: skipped
    (root / "hw4.ipynb").write_text("{}")
    (root / "resnet20.pth").write_bytes(b"x")
    found = checkpoints.find(root, hw4.model("resnet20"), hw4.weights)
    assert found.file is None and found.refused.error == (
        "no file matching '*prun*.pt' in the submission (files handed in: hw4.ipynb, "
        "resnet20.pth)")
    check = checkpoints.check(hw4.model("resnet20"), found.refused)
    assert not check.passed and check.id == "resnet20.weights"
    assert "'*prun*.pt'" in check.message and "resnet20.pth" in check.message
    assert "torch.save(model.state_dict(), PATH)" in check.hint


def test_a_file_over_max_mb_is_refused_without_being_opened(tmp_path, monkeypatch):
    hw4 = pruning_spec(tmp_path, tables=table_toml("weights", max_mb=1))
    root = tmp_path / "student"
    root.mkdir()
    (root / "resnet20_pruned.pt").write_bytes(b"\0" * (3 * 1024 * 1024 // 2))

    def no_open(*args, **kwargs):
        raise AssertionError(f"the trusted side opened {args[0]!r}")

    monkeypatch.setattr(builtins, "open", no_open)
    monkeypatch.setattr(io, "open", no_open)
    found = checkpoints.find(root, hw4.model("resnet20"), hw4.weights)
    monkeypatch.undo()
    assert found.file is None            # nothing for the sandbox to load either
    assert found.refused == WeightsReport(
        file="resnet20_pruned.pt", loaded=False, bytes=3 * 1024 * 1024 // 2,
        error="resnet20_pruned.pt is 1.5 MB, over the assignment's limit of 1 MB "
              "([weights] max_mb): refused without being opened")
    check = checkpoints.check(hw4.model("resnet20"), found.refused)
    assert not check.passed and "not the optimizer" in check.hint


def test_a_link_out_of_the_submission_is_no_checkpoint(tmp_path):
    hw4 = pruning_spec(tmp_path)
    secret = tmp_path / "instructor" / "solution_pruned.pt"
    secret.parent.mkdir()
    secret.write_bytes(b"x")
    root = tmp_path / "student"
    root.mkdir()
    (root / "resnet20_pruned.pt").symlink_to(secret)
    found = checkpoints.find(root, hw4.model("resnet20"), hw4.weights)
    assert found.file is None and "no file matching" in found.refused.error


# ---------------------------------------------------------------- trusted side: figures

def exported(out: Path, arrays: dict[str, np.ndarray], *, save=np.savez) -> WeightsLoad:
    """What the harness reports after loading: the .npz of effective weights, members w0..,
    and the layers (module name and type) they belong to."""
    out.mkdir(exist_ok=True)
    members = {f"w{i}": a for i, a in enumerate(arrays.values())}
    save(out / "weights-b0.npz", **members)
    layers = tuple(WeightLayer(name, "Conv2d" if a.ndim == 4 else "Linear", f"w{i}")
                   for i, (name, a) in enumerate(arrays.items()))
    return WeightsLoad(file="resnet20_pruned.pt", loaded=True, format="state_dict",
                       export="weights-b0.npz", layers=layers)


def figures_of(tmp_path: Path, load: WeightsLoad) -> WeightsReport:
    found = checkpoints.Found("*prun*.pt", file="resnet20_pruned.pt", bytes=1234)
    return checkpoints.figures(tmp_path / "out", found, load, built=True,
                               settings=spec.WeightsSpec())


def test_figures_are_computed_here_from_the_exported_weights(tmp_path):
    rng = np.random.default_rng(0)
    conv = rng.normal(size=(16, 3, 3, 3)).astype(np.float32)
    conv.flat[:324] = 0.0                                  # 75% of 432 zeroed
    levels = np.array([-7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8], np.float32) / 8
    linear = np.concatenate([np.zeros(320, np.float32),    # a 4-bit layer, half of it pruned:
                             levels[np.arange(320) % 15]]).reshape(10, 64)   # 0 and 15 levels
    load = exported(tmp_path / "out", {"conv1": conv, "linear": linear})
    w = figures_of(tmp_path, load)
    assert w.loaded and w.error is None and w.bytes == 1234 and w.format == "state_dict"
    by_name = {layer.name: layer for layer in w.layers}
    assert by_name["conv1"].params == 432 and by_name["conv1"].sparsity == 0.75
    assert by_name["conv1"].distinct_values == 109 and by_name["conv1"].bits == 7
    assert (by_name["linear"].distinct_values, by_name["linear"].bits) == (16, 4)
    assert by_name["linear"].sparsity == 0.5 and by_name["linear"].type == "Linear"
    assert w.sparsity.conv == 0.75 and w.sparsity.linear == 0.5
    assert w.sparsity.overall == pytest.approx((324 + 320) / (432 + 640))
    assert w.bits == 7 and w.nonzero == 432 + 640 - 324 - 320
    assert checkpoints.describe(w) == ("resnet20_pruned.pt loaded, 60.1% zeros (conv 75.0%, "
                                       "linear 50.0%), 7 bits")


@pytest.mark.parametrize("fault", ["compressed", "float64", "pickled objects", "link",
                                   "member missing", "not a zip"])
def test_an_odd_export_is_not_trusted(tmp_path, fault):
    weight = np.zeros((4, 3, 3, 3), dtype=np.float32)
    if fault == "compressed":       # a deflated member could inflate far beyond its size
        load = exported(tmp_path / "out", {"conv1": weight}, save=np.savez_compressed)
    elif fault == "float64":
        load = exported(tmp_path / "out", {"conv1": weight.astype(np.float64)})
    elif fault == "pickled objects":
        load = exported(tmp_path / "out", {"conv1": np.array([{"a": 1}, None], dtype=object)
                                           .reshape(1, 2)})
    elif fault == "link":           # student code swapped the export for a link
        load = exported(tmp_path / "out", {"conv1": weight})
        real = tmp_path / "real.npz"
        (tmp_path / "out" / "weights-b0.npz").rename(real)
        (tmp_path / "out" / "weights-b0.npz").symlink_to(real)
    elif fault == "member missing":
        load = exported(tmp_path / "out", {"conv1": weight})
        load = WeightsLoad(**{**load.__dict__, "layers": load.layers + (
            WeightLayer("fc", "Linear", "w7"),)})
    else:
        load = exported(tmp_path / "out", {"conv1": weight})
        (tmp_path / "out" / "weights-b0.npz").write_bytes(b"PK not really")
    w = figures_of(tmp_path, load)
    assert w.loaded and w.sparsity is None and w.layers == [] and w.bits is None
    assert w.error == ("the weights the sandbox exported could not be read safely (refused), "
                       "so they were not measured")
    assert not checkpoints.check(pruning_spec(tmp_path).model("resnet20"), w).passed


def count_member_reads(monkeypatch) -> dict[str, int]:
    """How often the trusted side opens each member of a zip (zipfile.ZipFile.open)."""
    reads: dict[str, int] = {}
    real_open = zipfile.ZipFile.open

    def counted(self, name, *args, **kwargs):
        key = getattr(name, "filename", name)
        reads[key] = reads.get(key, 0) + 1
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", counted)
    return reads


def forged_probe(load: WeightsLoad, layers: list[dict]) -> WeightsLoad:
    """The probe report as student code, running beside the harness, could rewrite it."""
    raw = {"key": "b0", "stage": "done", "ok": True, "weights": {
        "file": load.file, "loaded": True, "format": "state_dict", "export": load.export,
        "layers": layers}}
    return parse_probes({"models": [raw]})["b0"].weights


def test_a_forged_report_listing_one_member_10000_times_is_refused_unread(tmp_path,
                                                                           monkeypatch):
    load = exported(tmp_path / "out", {"conv1": np.ones((64, 64, 3, 3), np.float32)})
    forged = forged_probe(load, [{"name": f"conv{i}", "type": "Conv2d", "member": "w0"}
                                 for i in range(10_000)])
    assert forged.export is None and forged.layers == ()
    assert forged.export_refused == ("the sandbox's report lists 10,000 layers, over the "
                                     f"{MAX_WEIGHT_LAYERS:,} measured")
    reads = count_member_reads(monkeypatch)
    w = figures_of(tmp_path, forged)
    assert reads == {} and w.layers == [] and w.sparsity is None
    assert w.error == ("the weights the sandbox exported were not measured: the sandbox's "
                       "report lists 10,000 layers, over the 4,096 measured (student code may "
                       "have rewritten the report)")
    assert not checkpoints.check(pruning_spec(tmp_path).model("resnet20"), w).passed
    # under the cap, a member named for two layers is refused just the same
    twice = forged_probe(load, [{"name": "conv1", "type": "Conv2d", "member": "w0"},
                                {"name": "conv2", "type": "Conv2d", "member": "w0"}])
    assert twice.export is None and twice.export_refused == (
        "the sandbox's report names the member 'w0' for several layers")
    assert "names the member 'w0' for several layers" in figures_of(tmp_path, twice).error
    # the harness's own report, one member per layer, is measured
    honest = forged_probe(load, [{"name": "conv1", "type": "Conv2d", "member": "w0"}])
    assert figures_of(tmp_path, honest).layers[0].params == 64 * 64 * 9


def test_a_member_listed_twice_past_the_parser_is_read_once_and_refused(tmp_path,
                                                                       monkeypatch):
    load = exported(tmp_path / "out", {"conv1": np.ones((64, 64, 3, 3), np.float32)})
    load = WeightsLoad(**{**load.__dict__, "layers": tuple(
        WeightLayer(f"conv{i}", "Conv2d", "w0") for i in range(10_000))})
    reads = count_member_reads(monkeypatch)
    w = figures_of(tmp_path, load)
    assert reads == {"w0.npy": 1}
    assert w.layers == [] and w.error == ("the weights the sandbox exported could not be read "
                                          "safely (refused), so they were not measured")


def test_what_did_not_load_is_reported_by_layer_and_shape(tmp_path):
    hw4 = pruning_spec(tmp_path)
    load = WeightsLoad(file="resnet20_pruned.pt", format="state_dict", problems=(
        "layer1.0.conv1.weight: checkpoint [16, 3, 3, 3], model [16, 16, 3, 3]",
        "missing from the checkpoint: linear.bias [10]"))
    w = figures_of(tmp_path, load)
    assert not w.loaded and w.problems == list(load.problems) and w.sparsity is None
    check = checkpoints.check(hw4.model("resnet20"), w, call="ResNetCIFAR(BasicBlock, [3, 3, 3])")
    assert not check.passed
    assert check.message == ("resnet20_pruned.pt does not fit ResNet-20: layer1.0.conv1.weight: "
                             "checkpoint [16, 3, 3, 3], model [16, 16, 3, 3]; missing from the "
                             "checkpoint: linear.bias [10]")
    assert check.hint.startswith("The checkpoint was saved from a different architecture than "
                                 "the one the grader builds (ResNetCIFAR(BasicBlock, [3, 3, 3]))")
    # the sandbox never said anything about the file: no figures, and why
    assert "no report on the checkpoint came back" in checkpoints.figures(
        tmp_path, checkpoints.Found("*", file="a.pt"), None, built=True,
        settings=spec.WeightsSpec()).error


def test_agreement_with_predictions_csv_and_the_note_below_the_threshold(tmp_path):
    hw4 = pruning_spec(tmp_path, tables=table_toml("weights", agreement=0.9))
    w = WeightsReport(file="resnet20_pruned.pt", loaded=True)
    report = CheckReport(submission="s", assignment="hw4", passed=True,
                         models=[ModelReport(key="resnet20", title="ResNet-20", found=True,
                                             weights=w)],
                         checks=[], predictions=None, sandbox=SandboxReport())
    csv = [i % 10 for i in range(1000)]
    same = np.asarray(csv[:500])
    other = same.copy()
    other[:100] = (other[:100] + 1) % 10                  # 80% the same
    runs = {"resnet20": checkpoints.WeightsRun("resnet20", predictions=same, accuracy=0.42)}
    agreed = checkpoints.with_runs(report, runs, csv, 1000, hw4.weights).models[0].weights
    assert (agreed.accuracy, agreed.agreement, agreed.compared) == (0.42, 1.0, 500)
    assert agreed.notes == ["compared with predictions.csv on the first 500 of the 1,000 "
                            "held-out images ([training] eval_images)"]
    runs["resnet20"] = checkpoints.WeightsRun("resnet20", predictions=other, accuracy=0.4)
    differs = checkpoints.with_runs(report, runs, csv, 500, hw4.weights).models[0].weights
    assert differs.agreement == pytest.approx(0.8) and differs.compared == 500
    assert differs.notes == ["your predictions.csv does not match the predictions of the "
                             "weights you handed in: they agree on 80.0% of the 500 held-out "
                             "images compared (expected at least 90.0%)"]
    # no predictions.csv: an accuracy, nothing compared
    alone = checkpoints.with_runs(report, runs, None, 500, hw4.weights).models[0].weights
    assert (alone.accuracy, alone.agreement, alone.compared) == (0.4, None, 0)
    failed = checkpoints.with_runs(report, {"resnet20": checkpoints.WeightsRun(
        "resnet20", error="loading the checkpoint failed: RuntimeError: x")}, csv, 500,
        hw4.weights).models[0].weights
    assert failed.accuracy is None and failed.error.startswith("its held-out predictions failed")


# ---------------------------------------------------------------- the harness: predicting

RECORDING_NET = """\
import torch
import torch.nn as nn

FORWARDS = []       # (input contiguous, autocast on) of every forward pass


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        FORWARDS.append((x.is_contiguous(), torch.is_autocast_enabled(x.device.type)))
        return self.fc(torch.relu(self.conv(x)).view(x.size(0), -1))
"""


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_the_students_weights_are_predicted_in_float32_on_contiguous_tensors(
        tmp_path, monkeypatch, device):
    """The same weights give the same answers: no bf16 autocast (GPU) and no channels_last
    inputs for the student's own checkpoint, which the retrained models' predictions use."""
    import torch

    import grader

    monkeypatch.syspath_prepend(str(Path(grader.__file__).parent / "sandbox"))
    from harness import common, train_models

    module = tmp_path / "recording_net.py"
    module.write_text(RECORDING_NET, encoding="utf-8")
    net = student_class(RECORDING_NET, "TinyNet")()
    torch.save(net.state_dict(), tmp_path / "tinynet_pruned.pt")
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(common, "OUT", str(out))
    monkeypatch.delitem(sys.modules, "recording_net", raising=False)
    images = np.random.default_rng(0).integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    plan = {"config": {"seed": 0, "mean": [0.5] * 3, "std": [0.25] * 3}, "device": device}
    entry = {"key": "weights:tinynet", "module": str(module), "object": "TinyNet",
             "weights": str(tmp_path / "tinynet_pruned.pt")}
    result = train_models.predict_weights(entry, plan, {"test_images": images})
    assert result["ok"], result
    forwards = sys.modules["recording_net"].FORWARDS
    assert forwards and set(forwards) == {(True, False)}        # contiguous, no autocast
    assert np.load(out / "weights-tinynet.npy").shape == (12,)
    # every other caller of predict keeps the fast formats: channels_last inputs on the CPU
    from reference.train import predict

    forwards.clear()
    predict(sys.modules["recording_net"].TinyNet(), images, mean=(0.5,) * 3, std=(0.25,) * 3)
    assert (False, False) in forwards


# ---------------------------------------------------------------- in the sandbox

COLAB = """\
!pip install torchsummary
from google.colab import drive
drive.mount('/content/drive')
%cd /content/drive/MyDrive/ECE661/HW4
"""


def check(folder: Path, assignment: spec.Assignment) -> tuple[CheckReport, ModelReport]:
    from grader.grading.checks import check_submission

    report = check_submission(folder, assignment)
    return report, report.models[0]


def result_of(report: CheckReport, check_id: str):
    return next(c for c in report.checks if c.id == check_id)


@pytest.mark.sandbox
def test_notebook_with_a_data_parallel_pruned_checkpoint_loads_in_a_later_cell(tmp_path):
    import torch
    from torch.nn.utils import prune

    root = tmp_path / "student"
    write_notebook(root / "resnet20_prune.ipynb", [
        COLAB, RESNET_IMPORTS + "import torch.nn.utils.prune as prune\n", RESNET_CIFAR,
        "device = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
        "model = ResNetCIFAR(BasicBlock, [3, 3, 3]).to(device)\n"
        "model = nn.DataParallel(model)\n",
        "for name, m in model.named_modules():\n"
        "    if isinstance(m, nn.Conv2d) and 'layer1' in name:\n"
        "        prune.l1_unstructured(m, 'weight', amount=0.5)\n"
        "finetune(model, epochs=20)\n"
        "torch.save(model.state_dict(), 'resnet20_pruned.pt')\n",
        # the analysis cell: loads the checkpoint from Drive; it must not run at check time
        "model.load_state_dict(torch.load('/content/drive/MyDrive/hw4/resnet20_pruned.pt'))\n"
        "test(model)\n",
    ], colab=True)
    torch.manual_seed(0)
    model = torch.nn.DataParallel(student_class(RESNET_IMPORTS + RESNET_CIFAR, "ResNetCIFAR")(
        student_class(RESNET_IMPORTS + RESNET_CIFAR, "BasicBlock"), [3, 3, 3]))
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d) and "layer1" in name:
            prune.l1_unstructured(m, "weight", amount=0.5)
    state = model.state_dict()
    assert "module.layer1.0.conv1.weight_orig" in state and "module.layer1.0.conv1.weight_mask" \
        in state
    torch.save(state, root / "resnet20_pruned.pt")

    report, resnet = check(root, pruning_spec(tmp_path))
    w = resnet.weights
    assert resnet.found and resnet.params == 272474          # built in its cell, not loaded
    assert w.loaded and w.file == "resnet20_pruned.pt" and w.format == "state_dict"
    assert w.problems == [] and w.error is None
    assert w.notes == [
        "keys start with 'module.' (saved from nn.DataParallel or DistributedDataParallel): the "
        "prefix was removed",
        "torch.nn.utils.prune's pairs were combined (layer1.0.conv1.weight, ... = weight_orig * "
        "weight_mask, 6 tensors)"]
    layers = {layer.name: layer for layer in w.layers}
    assert len(layers) == 19 + 2 + 1                         # 3x3 convs, projections, linear
    assert all(layers[f"layer1.{b}.conv{c}"].sparsity == 0.5 for b in range(3) for c in (1, 2))
    assert layers["layer2.0.conv1"].sparsity == 0.0 and layers["linear"].type == "Linear"
    zeros = 6 * 1152
    assert w.sparsity.overall == pytest.approx(zeros / (w.nonzero + zeros))
    assert w.sparsity.linear == 0.0 and w.sparsity.conv > w.sparsity.overall
    passed = result_of(report, "resnet20.weights")
    assert passed.passed and passed.message.startswith("resnet20_pruned.pt loaded, ")
    assert "keys start with 'module.'" in passed.message


@pytest.mark.sandbox
def test_one_class_serves_one_checkpoint_and_the_second_model_says_why(tmp_path):
    """HW4's pruned and quantized SimpleNN, both of one class: the first is graded from its
    checkpoint; the second loses the class with a reason that names the limit."""
    import torch

    root = tmp_path / "student"
    root.mkdir()
    (root / "models.py").write_text(SIMPLENN, encoding="utf-8")
    net = student_class(SIMPLENN, "SimpleNN")()
    torch.save(net.state_dict(), root / "simplenn_pruned.pth")
    torch.save(net.state_dict(), root / "simplenn_quantized.pth")
    both = load_spec(tmp_path, spec_toml(
        model_toml("pruned", title="SimpleNN (pruned)", names=["SimpleNN"], params=82030,
                   train=False, weights="*pruned.pth"),
        model_toml("quantized", title="SimpleNN (quantized)", names=["SimpleNN"],
                   params=82030, train=False, weights="*quantized.pth"),
        rubric_item("model", "check", checks=["pruned.*", "quantized.*"], points=10),
        limits={"wall_seconds": 90, "memory_mb": 3072}))
    report, _ = check(root, both)
    pruned, quantized = report.models
    assert pruned.weights.loaded and pruned.weights.file == "simplenn_pruned.pth"
    assert result_of(report, "pruned.weights").passed
    (lost,) = quantized.considered
    assert lost.reason == ("already graded as SimpleNN (pruned); a class is graded for one "
                           "model only, so SimpleNN (quantized)'s own checkpoint "
                           "('*quantized.pth') is not loaded into it (see Limits in "
                           "docs/weights.md)")
    assert not result_of(report, "quantized.weights").passed


@pytest.mark.sandbox
def test_a_checkpoint_of_another_architecture_names_each_layer_and_both_shapes(tmp_path):
    import torch

    root = tmp_path / "student"
    root.mkdir()
    (root / "models.py").write_text(SIMPLENN, encoding="utf-8")
    # saved before the student fixed fc1: 16 * 5 * 5 inputs, not 16 * 6 * 6
    old = student_class(SIMPLENN.replace("16 * 6 * 6", "16 * 5 * 5"), "SimpleNN")()
    torch.save(old.state_dict(), root / "simplenn_best.pth")

    report, simplenn = check(root, simplenn_spec(tmp_path, "*.pth"))
    w = simplenn.weights
    assert not w.loaded and w.sparsity is None and w.layers == []
    assert w.problems == ["fc1.weight: checkpoint [120, 400], model [120, 576]"]
    failed = result_of(report, "simplenn.weights")
    assert not failed.passed and failed.message == (
        "simplenn_best.pth does not fit SimpleNN: fc1.weight: checkpoint [120, 400], model "
        "[120, 576]")
    assert "different architecture" in failed.hint and "SimpleNN()" in failed.hint
    assert result_of(report, "simplenn.params").passed         # the code itself is right


@pytest.mark.sandbox
def test_a_whole_pickled_model_from_a_notebook_is_opened_in_the_sandbox_only(tmp_path,
                                                                             monkeypatch):
    import torch

    root = tmp_path / "student"
    imports = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
    write_notebook(root / "simplenn-cifar10.ipynb", [
        COLAB, imports, LAB1_SIMPLENN,
        "net = SimpleNN()\ntrain(net, epochs=30)\ntorch.save(net, 'simplenn_full.pth')\n"])
    # the notebook's class is __main__.SimpleNN, as Jupyter pickles it
    cls = student_class(imports + LAB1_SIMPLENN, "SimpleNN", module="__main__")
    monkeypatch.setattr(sys.modules["__main__"], "SimpleNN", cls, raising=False)
    torch.manual_seed(1)
    net = cls()
    torch.save(net, root / "simplenn_full.pth")
    monkeypatch.undo()

    def refuse(*args, **kwargs):
        raise AssertionError("the trusted side unpickled the student's file")

    # the grader's own process must never unpickle it (the sandbox is another process)
    for owner, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"),
                        (pickle, "Unpickler")):
        monkeypatch.setattr(owner, name, refuse)
    report, simplenn = check(root, simplenn_spec(tmp_path, "*.pth"))
    w = simplenn.weights
    assert w.loaded and w.format == "pickled model" and w.error is None, w
    assert w.notes[0].startswith("not a plain state_dict: opened as a pickle (torch.save of "
                                 "the model object) inside the sandbox")
    assert [layer.name for layer in w.layers] == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert w.layers[2].params == 120 * 576 and w.sparsity.overall == 0.0
    assert w.bits == 17                  # 69,120 distinct float values in fc1
    assert result_of(report, "simplenn.weights").passed


def quantized(model, bits: int = 4) -> None:
    """Uniform asymmetric quantization of every conv and linear weight to 2**bits levels
    (per layer), as HW4's last part does before it saves."""
    import torch

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                lo, hi = m.weight.min(), m.weight.max()
                scale = (hi - lo) / (2 ** bits - 1)
                m.weight.copy_(torch.round((m.weight - lo) / scale) * scale + lo)


@pytest.mark.sandbox
def test_a_4_bit_checkpoint_dict_has_16_distinct_values_per_layer(tmp_path):
    import torch

    root = tmp_path / "student"
    root.mkdir()
    (root / "models.py").write_text(SIMPLENN, encoding="utf-8")
    torch.manual_seed(2)
    net = student_class(SIMPLENN, "SimpleNN")()
    quantized(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    torch.save({"epoch": 30, "model_state_dict": net.state_dict(),
                "optimizer_state_dict": optimizer.state_dict(), "best_acc": 66.3},
               root / "simplenn_4bit.pt")

    report, simplenn = check(root, simplenn_spec(tmp_path, "*bit*.pt"))
    w = simplenn.weights
    assert w.loaded and w.format == "checkpoint"
    assert w.notes == ["a checkpoint dict: the state_dict under 'model_state_dict' (the other "
                       "entries: epoch, optimizer_state_dict, best_acc)"]
    assert [(layer.name, layer.distinct_values, layer.bits) for layer in w.layers] == [
        (name, 16, 4) for name in ("conv1", "conv2", "fc1", "fc2", "fc3")]
    assert w.bits == 4
    assert result_of(report, "simplenn.weights").message.startswith(
        "simplenn_4bit.pt loaded, ")
    assert ", 4 bits (checkpoint); a checkpoint dict" in result_of(report,
                                                                  "simplenn.weights").message


@pytest.mark.sandbox
def test_grader_check_json_of_a_resnet20_pruned_to_70_percent(tmp_path):
    """The issue's done-when: 70% of the conv and linear weights zeroed -> sparsity 0.70."""
    import torch
    from click.testing import CliRunner

    from grader.cli import main

    source = (ROOT / "reference" / "resnet_cifar.py").read_text(encoding="utf-8")
    source = source[:source.index("def resnet20_a")] + (
        "def resnet20():\n    return CifarResNet(3)\n")        # akamaster's factory name
    root = tmp_path / "student"
    root.mkdir()
    (root / "resnet.py").write_text(source, encoding="utf-8")
    torch.manual_seed(3)
    model = student_class(source, "resnet20", module="resnet")()
    weights = [m.weight for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    magnitudes = torch.cat([w.detach().abs().flatten() for w in weights])
    threshold = magnitudes.kthvalue(int(0.7 * magnitudes.numel())).values   # global pruning
    with torch.no_grad():
        for w in weights:
            w[w.abs() <= threshold] = 0.0
    torch.save(model.state_dict(), root / "resnet20_pruned_global.pt")
    hw4 = tmp_path / "hw4.toml"
    hw4.write_text(spec_toml(model_toml("resnet20", title="ResNet-20", names=["resnet20"],
                                        params=RESNET20, reference="resnet20-a", train=False,
                                        weights="*prun*.pt"),
                             rubric_item("model", "check", checks=["resnet20.*"], points=10),
                             limits={"wall_seconds": 90}), encoding="utf-8")

    out = CliRunner().invoke(main, ["check", str(root), "--assignment", str(hw4), "--json"])
    assert out.exit_code == 0, out.output
    w = json.loads(out.output)["models"][0]["weights"]
    assert w["file"] == "resnet20_pruned_global.pt" and w["loaded"] is True
    assert round(w["sparsity"]["overall"], 2) == 0.70
    assert abs(w["sparsity"]["overall"] - 0.7) < 1 / RESNET20 * 2
    assert set(w["sparsity"]) == {"overall", "conv", "linear"}
    assert len(w["layers"]) == 20 and w["layers"][0]["name"] == "conv1"
    assert {"name", "sparsity", "distinct_values"} <= set(w["layers"][0])
    text = CliRunner().invoke(main, ["check", str(root), "--assignment", str(hw4)]).output
    line = next(x.strip() for x in text.splitlines() if x.strip().startswith("weights:"))
    conv, linear = w["sparsity"]["conv"], w["sparsity"]["linear"]
    assert line == (f"weights: resnet20_pruned_global.pt loaded, 70.0% zeros (conv "
                    f"{100 * conv:.1f}%, linear {100 * linear:.1f}%), {w['bits']} bits")


@pytest.mark.sandbox
def test_refused_and_missing_checkpoints_fail_the_check_with_the_reason(tmp_path):
    root = tmp_path / "student"
    root.mkdir()
    (root / "hw4.py").write_text(RESNET_IMPORTS + RESNET_CIFAR + "\n\nnet = ResNetCIFAR("
                                 "BasicBlock, [3, 3, 3])\n", encoding="utf-8")
    # garbage the sandbox would fail to read: the message shows it was never opened
    (root / "resnet20_pruned.pt").write_bytes(b"\x80not a checkpoint" * 200_000)
    hw4 = pruning_spec(tmp_path, tables=table_toml("weights", max_mb=1))
    report, resnet = check(root, hw4)
    assert resnet.found and resnet.params == 272474 and resnet.weights.error == (
        "resnet20_pruned.pt is 3.2 MB, over the assignment's limit of 1 MB ([weights] max_mb): "
        "refused without being opened")
    assert not result_of(report, "resnet20.weights").passed and not report.passed

    (root / "resnet20_pruned.pt").write_bytes(b"hello, I am not a checkpoint")   # under 1 MB
    report, resnet = check(root, hw4)
    assert not resnet.weights.loaded and resnet.weights.error.startswith(
        "resnet20_pruned.pt could not be read: torch.load cannot read it (")
    assert resnet.weights.error.endswith("): not a file written by torch.save")
    assert "weights_only=True) reads them back" in result_of(report, "resnet20.weights").hint

    (root / "resnet20_pruned.pt").unlink()
    (root / "resnet20_final.pth").write_bytes(b"x")
    report, resnet = check(root, hw4)
    failed = result_of(report, "resnet20.weights")
    assert not failed.passed and failed.message == (
        "no file matching '*prun*.pt' in the submission (files handed in: hw4.py, "
        "resnet20_final.pth)")
    assert resnet.weights.loaded is False and resnet.weights.file == ""


# ---------------------------------------------------------------- grader evaluate

@pytest.mark.sandbox
@pytest.mark.train
def test_evaluate_scores_the_weights_and_finds_predictions_that_came_from_other_weights(
        tmp_path):
    import torch

    from grader.inputs.data import load_dataset
    from grader.run.evaluate import Options, evaluate
    from reference.train import TrainConfig, channel_stats, predict, train

    text = spec_toml(
        model_toml("simplenn", title="SimpleNN", names=["SimpleNN"], params=82030, train=False,
                   weights="simplenn*.pt"),
        rubric_item("model", "check", checks=["simplenn.*"], points=10),
        rubric_item("accuracy", "weights", model="simplenn", full=0.9, zero=0.1, points=10),
        rubric_item("predictions", "predictions", full=0.9, zero=0.1, points=10),
        limits={"wall_seconds": 90, "train_wall_seconds": 300},
        tables=table_toml("dataset", synthetic_train=600, synthetic_test=300)
        + table_toml("training", epochs=1, batch_size=32) + table_toml("predictions", rows=300)
        + table_toml("weights", agreement=0.95))
    assignment = load_spec(tmp_path, text)
    cache = tmp_path / "cache"
    data = load_dataset(assignment.dataset, None, cache_dir=cache / "data")
    mean, std = channel_stats(data.train_images)

    def trained(seed: int):
        torch.manual_seed(seed)
        net = student_class(SIMPLENN, "SimpleNN")()
        train(net, data.train_images, data.train_labels, TrainConfig(epochs=2, batch_size=32,
                                                                     lr=0.05, seed=seed))
        return net, predict(net, data.test_images, mean=mean, std=std).numpy()

    ours, ours_preds = trained(0)
    theirs, their_preds = trained(1)                  # an earlier run's predictions.csv
    klass = tmp_path / "class"
    for student, preds in (("consistent", ours_preds), ("mismatched", their_preds)):
        (klass / student).mkdir(parents=True)
        (klass / student / "models.py").write_text(SIMPLENN, encoding="utf-8")
        torch.save(ours.state_dict(), klass / student / "simplenn_final.pt")
        (klass / student / "predictions.csv").write_bytes(predictions_rows(list(preds)))
    results = {r.student: r for r in evaluate(klass, assignment, tmp_path / "grades",
                                              Options(cache_dir=cache, timeout=None))}
    labels = np.asarray(data.test_labels)
    for student in ("consistent", "mismatched"):
        r = results[student]
        w = r.check.models[0].weights
        assert r.status == "ok" and r.training == [], (student, r.error, w)
        assert not any(c.id.endswith(".trains") for c in r.check.checks)
        assert w.loaded and w.compared == 300
        assert w.accuracy == pytest.approx(float(np.mean(ours_preds == labels)), abs=0.01)
        item = next(i for i in r.rubric if i.id == "accuracy")
        assert item.earned == round(10 * (w.accuracy - 0.1) / 0.8, 2)
    consistent = results["consistent"].check.models[0].weights
    mismatched = results["mismatched"].check.models[0].weights
    assert consistent.agreement >= 0.99 and consistent.notes == []
    expected = float(np.mean(their_preds == ours_preds))
    assert expected < 0.95 and mismatched.agreement == pytest.approx(expected, abs=0.01)
    assert mismatched.notes == [
        "your predictions.csv does not match the predictions of the weights you handed in: "
        f"they agree on {100 * mismatched.agreement:.1f}% of the 300 held-out images compared "
        "(expected at least 95.0%)"]
    stored = json.loads((tmp_path / "grades" / "mismatched.json").read_text())
    assert stored["check"]["models"][0]["weights"]["agreement"] == mismatched.agreement
