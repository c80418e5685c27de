"""`grader check` end to end: real sandbox, real notebooks, the CLI's JSON and exit codes."""

from __future__ import annotations

import json
import textwrap
import zipfile

import pytest
from click.testing import CliRunner

from grader.grading.checks import check_submission
from grader.cli import main
from grader.spec import load
from tests.factories.models import SIMPLENN
from tests.factories.specs import model_toml, simplenn_model, spec_toml

pytestmark = pytest.mark.sandbox

# SimpleNN (tests/factories/models.py) renamed, with the mistake its comment names
WRONG_FC = SIMPLENN[SIMPLENN.index("class SimpleNN"):].replace(
    "class SimpleNN(nn.Module):",
    "class WrongFC(nn.Module):         # fc1 forgot there is no padding: 16*5*5 instead of 16*6*6",
).replace("16 * 6 * 6", "16 * 5 * 5")

MISTAKES = '''
import torch.nn as nn
import torch.nn.functional as F
import wandb                      # not installed; only NeedsWandb uses it


''' + WRONG_FC + '''

class Batchy(nn.Module):          # x.view(-1, 288) makes two rows per image
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 5)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.fc1 = nn.Linear(288, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv2(self.pool(F.relu(self.conv1(x))))))
        return self.fc1(x.view(-1, 288))


class NeedsWandb(nn.Module):
    def __init__(self):
        super().__init__()
        wandb.init(project="hw2")
        self.fc = nn.Linear(3, 10)


class HalfBN(nn.Module):          # BatchNorm after conv1 only
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.conv2(x))
        return self.fc(x.mean((2, 3)))


class Unrelated(nn.Module):
    pass
'''

SPEC = spec_toml(
    simplenn_model(title=None, weighted_layers=5),
    simplenn_model("wrongfc", title=None, names=["WrongFC"]),
    model_toml("batchy", names=["Batchy"]),
    model_toml("wandb", names=["NeedsWandb"]),
    model_toml("halfbn", names=["HalfBN"], batchnorm_after_conv=True),
    model_toml("resnet20", names=["ResNet20"]),
    course="Test", title="Mistakes", limits={"wall_seconds": 90})


@pytest.fixture(scope="module")
def mistakes_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("mistakes")
    (root / "good.py").write_text(SIMPLENN)
    (root / "mistakes.py").write_text(MISTAKES)
    spec_path = root.parent / "mistakes.toml"
    spec_path.write_text(SPEC)
    report = check_submission(root, load(str(spec_path)))
    return report, {c.id: c for c in report.checks}, {m.key: m for m in report.models}


def test_correct_model_passes_every_check(mistakes_report):
    report, checks, models = mistakes_report
    for step in ("found", "builds", "forward", "params", "layers"):
        assert checks[f"simplenn.{step}"].passed, checks[f"simplenn.{step}"].message
    simplenn = models["simplenn"]
    assert simplenn.params == 82030 and simplenn.output_shape == [1, 10]
    assert [r.params for r in simplenn.layers if r.params] == [608, 1168, 69240, 10164, 850]
    assert simplenn.layers[0].output_shape == [1, 8, 28, 28]
    assert simplenn.flops and simplenn.flops > 1_000_000
    assert not report.passed        # the other models fail


def test_wrong_in_features_gets_an_actionable_hint(mistakes_report):
    _, checks, models = mistakes_report
    forward = checks["wrongfc.forward"]
    assert not forward.passed and "1x576 and 400x120" in forward.message
    assert "fc1 = Linear(400, 120) expects 400 inputs" in forward.hint
    assert "16x6x6 = 576" in forward.hint and "Set in_features to 576" in forward.hint
    params = checks["wrongfc.params"]
    assert not params.passed and "fc1: 48,120 expected 69,240" in params.message
    fc1 = next(r for r in models["wrongfc"].layers if r.name == "fc1")
    assert fc1.differs and fc1.expected_params == 69240


def test_batch_size_change_is_named(mistakes_report):
    _, checks, _ = mistakes_report
    forward = checks["batchy.forward"]
    assert not forward.passed
    assert "batch size changed" in forward.message and "(2, 10)" in forward.message
    assert "x.flatten(1)" in forward.hint


def test_missing_module_is_named(mistakes_report):
    _, checks, _ = mistakes_report
    builds = checks["wandb.builds"]
    assert not builds.passed and "'wandb'" in builds.message and "import wandb" in builds.hint
    assert checks["wrongfc.builds"].passed       # the unrelated import did not stop others


def test_batchnorm_after_every_conv(mistakes_report):
    _, checks, _ = mistakes_report
    bn = checks["halfbn.batchnorm"]
    assert not bn.passed and "conv2" in bn.message and "conv1" not in bn.message


def test_not_found_lists_the_module_classes(mistakes_report):
    _, checks, models = mistakes_report
    found = checks["resnet20.found"]
    assert not found.passed and "ResNet20" in found.hint
    assert "Unrelated (mistakes.py" in found.message and "WrongFC" in found.message
    assert not models["resnet20"].found


def test_cli_json_output_and_exit_codes(make_submission, one_model_spec, simplenn_source):
    runner = CliRunner()
    good = make_submission({"models.py": simplenn_source})
    result = runner.invoke(main, ["check", str(good), "-a", str(one_model_spec()), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["passed"] is True and data["predictions"] is None
    model = data["models"][0]
    assert {"key", "found", "params", "expected_params", "output_shape", "layers"} <= set(model)
    assert model["params"] == 82030 and model["found"] is True
    assert all({"id", "passed", "message"} <= set(c) for c in data["checks"])
    bad = runner.invoke(main, ["check", str(good), "-a", str(one_model_spec(params=1000))])
    assert bad.exit_code == 1 and "[FAIL] simplenn.params" in bad.output


def test_notebook_with_magics_and_training_cells(tmp_path, make_notebook, one_model_spec,
                                                 simplenn_source):
    root = tmp_path / "nb"
    make_notebook(root / "simplenn-cifar10.ipynb", [
        "!pip install torchsummary\n%matplotlib inline\nfrom google.colab import drive\n"
        "drive.mount('/content/drive')",
        simplenn_source,
        "import torchvision\ntrainset = torchvision.datasets.CIFAR10('./data', download=True)\n"
        "for epoch in range(200):\n    train(net)",
    ])
    report = check_submission(root, load(str(one_model_spec())))
    assert report.passed, [c.message for c in report.checks if not c.passed]
    assert report.models[0].source == "simplenn-cifar10.ipynb cell 2"
    assert "download" not in report.sandbox.output


def test_zip_submission_and_refused_member(tmp_path, one_model_spec, simplenn_source,
                                           monkeypatch):
    import tempfile
    from pathlib import Path

    from grader.inputs import sources

    good = tmp_path / "alice.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("alice/models.py", textwrap.dedent(simplenn_source))
    assert check_submission(good, load(str(one_model_spec()))).passed
    bad = tmp_path / "mallory.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("models.py", "x = 1\n")
        zf.writestr("../../outside.py", "x = 1\n")
    # unpacking happens in a folder of the system's temporary folder: make that one ours, so
    # "../../outside.py" from the unpack folder would land in tmp_path, where it is looked for
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    unpacked_into = []
    real_unpack = sources.unpack_zip
    monkeypatch.setattr(sources, "unpack_zip", lambda archive, dest: (
        unpacked_into.append(Path(dest)), real_unpack(archive, dest))[1])
    spec = str(one_model_spec())
    before = sorted(tmp_path.iterdir())
    result = CliRunner().invoke(main, ["check", str(bad), "-a", spec])
    assert result.exit_code == 2
    assert "mallory.zip" in result.output and "outside the submission folder" in result.output
    assert [p.parent for p in unpacked_into] == [system_tmp]
    assert list(system_tmp.iterdir()) == []               # the unpack folder is gone
    assert sorted(tmp_path.iterdir()) == before           # and nothing was written beside it
    assert not (tmp_path / "outside.py").exists()


def test_forward_that_never_ends_is_not_called_a_build_failure(make_submission, tmp_path,
                                                              simplenn_source):
    """The hung model gets its share of the time limit; the other model's report survives."""
    root = make_submission({"good.py": simplenn_source, "slow.py": """
        import torch.nn as nn

        class Looper(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(3, 10)

            def forward(self, x):
                while True:
                    try:
                        x = x + 0
                    except Exception:
                        pass
    """})
    spec_path = tmp_path / "two.toml"
    spec_path.write_text(spec_toml(model_toml("looper", names=["Looper"]),
                                   simplenn_model(title=None, reference=None),
                                   course="T", title="T", limits={"wall_seconds": 30}))
    report = check_submission(root, load(str(spec_path)))
    checks = {c.id: c for c in report.checks}
    assert checks["looper.builds"].passed and checks["looper.builds"].message == "Looper() built"
    forward = checks["looper.forward"]
    assert not forward.passed
    assert forward.message == ("Looper() built, but its forward pass on a batch of 3x32x32 "
                               "images did not finish within 10 s")
    assert checks["simplenn.params"].passed and checks["simplenn.forward"].passed


def test_a_run_stopped_by_the_wall_clock_keeps_the_reports_it_has(make_submission, tmp_path,
                                                                  simplenn_source):
    """Student code blocks the harness's alarm and never returns: the sandbox stops the run;
    the model built before it keeps its verdicts, the stuck one is named with its stage."""
    root = make_submission({"good.py": simplenn_source, "stuck.py": """
        import signal
        import torch.nn as nn

        class Stuck(nn.Module):
            def __init__(self):
                super().__init__()
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
                while True:
                    pass
    """})
    spec_path = tmp_path / "two.toml"
    spec_path.write_text(spec_toml(simplenn_model(title=None, reference=None),
                                   model_toml("stuck", names=["Stuck"]),
                                   course="T", title="T", limits={"wall_seconds": 20}))
    report = check_submission(root, load(str(spec_path)))
    checks = {c.id: c for c in report.checks}
    assert checks["simplenn.params"].passed and checks["simplenn.forward"].passed
    assert checks["stuck.builds"].message == ("Stuck() did not finish building: the process was "
                                              "stopped (see sandbox.limits)")
    assert report.sandbox.status == "timeout"
    assert checks["sandbox.limits"].message == ("wall-clock limit of 20 s exceeded while "
                                                "building Stuck")
