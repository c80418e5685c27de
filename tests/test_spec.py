"""Assignment specs: built-ins load; malformed specs name the file, key and line (exit 2)."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from grader import spec
from grader.cli import main
from grader.errors import SpecError


def test_builtin_assignments_load():
    ids = spec.builtin_ids()
    assert {"ece661-hw2", "ece60146-hw5", "tiny-imagenet"} <= set(ids)
    hw2 = spec.load("ece661-hw2")
    assert [m.key for m in hw2.models] == ["simplenn", "simplenn-bn", "resnet20"]
    assert hw2.model("simplenn").params.exact == 82030
    assert hw2.model("resnet20").params.accepts(272474) and not hw2.model("resnet20").params.accepts(283962)
    assert hw2.predictions.rows == 10000 and hw2.total_points == 100
    tiny = spec.load("tiny-imagenet")
    assert tiny.dataset.input_shape == (3, 64, 64) and tiny.dataset.num_classes == 200


def test_assignments_command_lists_builtins():
    out = CliRunner().invoke(main, ["assignments"])
    assert out.exit_code == 0
    assert "ece661-hw2" in out.output and "ResNet-20 (Lab 3)" in out.output


GOOD = """
[assignment]
course = "C"
title = "T"

[[models]]
key = "net"
names = ["Net"]
params = 100
"""


@pytest.mark.parametrize("fault, text, expected", [
    ("TOML syntax", GOOD.replace('title = "T"', 'title = "T'), "invalid TOML"),
    ("unknown section", GOOD + "\n[extras]\nx = 1\n", "key 'extras'"),
    ("unknown model key", GOOD + 'colour = "red"\n', "key 'models[0].colour'"),
    ("wrong type", GOOD.replace("params = 100", 'params = "many"'), "models[0].params"),
    ("no models", GOOD.split("[[models]]")[0], "at least one [[models]]"),
    ("bad reference", GOOD + 'reference = "resnet99"\n', "models[0].reference"),
    ("bad schedule", GOOD + '\n[training]\nschedule = "sometimes"\n', "training.schedule"),
    ("negative limit", GOOD + "\n[limits]\nmemory_mb = -1\n", "limits.memory_mb"),
    ("rubric model unknown", GOOD + '\n[[rubric]]\nid = "a"\nkind = "accuracy"\nmodel = "x"\n',
     "rubric[0].model"),
    ("predictions item without section", GOOD + '\n[[rubric]]\nid = "p"\nkind = "predictions"\n',
     "[predictions] section"),
    ("zero above full", GOOD + '\n[[rubric]]\nid = "a"\nkind = "accuracy"\nmodel = "net"\n'
     "full = 0.5\nzero = 0.9\n", "rubric[0].zero"),
])
def test_malformed_spec_names_file_key_and_line(tmp_path, fault, text, expected):
    path = tmp_path / "hw.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        spec.load(str(path))
    message = str(info.value)
    assert message.startswith(str(path)), fault
    assert expected in message, fault


def test_spec_error_reports_line_number(tmp_path):
    path = tmp_path / "hw.toml"
    path.write_text(GOOD.replace("params = 100", 'params = "many"'), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        spec.load(str(path))
    line = GOOD.splitlines().index("params = 100") + 1
    assert info.value.line == line and f"hw.toml:{line}:" in str(info.value)


def test_cli_spec_error_is_clean_with_exit_code_2(tmp_path):
    path = tmp_path / "hw.toml"
    path.write_text("[assignment\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(tmp_path), "--assignment", str(path)])
    assert result.exit_code == 2
    assert "hw.toml:1" in result.output and "Traceback" not in result.output


def test_unknown_assignment_id(tmp_path):
    result = CliRunner().invoke(main, ["check", str(tmp_path), "--assignment", "ece999"])
    assert result.exit_code == 2 and "unknown assignment 'ece999'" in result.output


def test_fault_in_a_later_model_points_at_its_own_line(tmp_path):
    text = GOOD + '\n[[models]]\nkey = "net2"\nnames = ["Net2"]\nparams = "many"\n'
    path = tmp_path / "hw.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        spec.load(str(path))
    lines = text.splitlines()
    assert info.value.line == len(lines) and lines[info.value.line - 1] == 'params = "many"'
    assert "key 'models[1].params'" in str(info.value)


def test_model_files_are_read_and_checked(tmp_path):
    hw2 = spec.load("ece661-hw2")
    assert hw2.model("simplenn").files == ("simplenn-cifar10.ipynb",)
    assert hw2.model("simplenn-bn").files == ("simplenn-cifar10-dev.ipynb",)
    assert "SimpleNN" in hw2.model("simplenn-bn").names       # the template's name in Lab 2
    path = tmp_path / "hw.toml"
    path.write_text(GOOD + "files = [1]\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        spec.load(str(path))
    assert "key 'models[0].files': expected a list of file names" in str(info.value)
    text = (GOOD + "files = [1]\n").splitlines()
    assert text[info.value.line - 1] == "files = [1]"
    assert "ece60146-hw4" in spec.builtin_ids()


def test_spec_names_other_modules_import_stay_importable_from_grader_spec():
    # Finding 20 split grader/spec.py into spec_types, spec_toml and spec_sections; the
    # names the rest of the code imports from grader.spec must be the same objects.
    from grader.spec import sections as spec_sections
    from grader.spec import reader as spec_toml
    from grader.spec import types as spec_types
    for name in ("Assignment", "CIFAR10_CLASSES", "DatasetSpec", "IntegritySpec", "LimitsSpec",
                 "ModelSpec", "ParamExpectation", "PredictionsSpec", "RubricItem", "TrainingSpec"):
        assert getattr(spec, name) is getattr(spec_types, name), name
    assert spec.SpecError is SpecError
    assert callable(spec.load) and callable(spec.resolve) and callable(spec.builtin_ids)
    assert issubclass(spec_sections.SectionParser, spec_toml.TableReader)


def test_spec_modules_stay_under_the_style_limit():
    from pathlib import Path

    import grader
    paths = sorted((Path(grader.__file__).parent / "spec").glob("*.py"))
    assert len(paths) >= 4
    for path in paths:
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, path.name


# ---------------------------------------------------------------- the student's own weights

PRUNED = """
[assignment]
course = "ECE 661"
title = "HW4 pruning"

[weights]
max_mb = 20
agreement = 0.9

[[models]]
key = "resnet20"
names = ["ResNetCIFAR", "ResNet20"]
reference = "resnet20-a"
train = false
weights = "*prun*.pt"

[[models]]
key = "dense"
names = ["Dense"]

[[rubric]]
id = "accuracy"
kind = "weights"
model = "resnet20"
basis = "reference"
full = 0.95
zero = 0.5
points = 10

[[rubric]]
id = "sparsity"
kind = "sparsity"
model = "resnet20"
full = 0.7
zero = 0.3
floor = 0.9
basis = "reference"
points = 10

[[rubric]]
id = "bits"
kind = "bits"
model = "resnet20"
full = 4
zero = 8
points = 5
"""


def test_weights_keys_are_read(tmp_path):
    path = tmp_path / "hw4.toml"
    path.write_text(PRUNED, encoding="utf-8")
    hw4 = spec.load(str(path))
    assert hw4.model("resnet20").weights == "*prun*.pt" and not hw4.model("resnet20").train
    assert hw4.model("dense").weights is None
    assert hw4.weights == spec.WeightsSpec(max_mb=20, agreement=0.9)
    items = {i.id: i for i in hw4.rubric}
    assert (items["accuracy"].kind, items["accuracy"].basis, items["accuracy"].full) == (
        "weights", "reference", 0.95)
    assert (items["sparsity"].full, items["sparsity"].zero, items["sparsity"].floor) == (
        0.7, 0.3, 0.9)
    assert (items["bits"].full, items["bits"].zero, items["bits"].floor) == (4, 8, None)
    assert spec.load("ece661-hw2").weights == spec.WeightsSpec()      # the defaults
    lab = spec.load("ece661-hw4-prune").weights         # the lab's transforms.Normalize
    assert (lab.mean, lab.std) == ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))


def _item(kind: str, *lines: str) -> str:
    return "\n".join(["", "[[rubric]]", 'id = "x"', f'kind = "{kind}"', *lines]) + "\n"


@pytest.mark.parametrize("fault, text, key, expected", [
    ("empty glob", PRUNED.replace('weights = "*prun*.pt"', 'weights = ""'),
     "models[0].weights", "a glob of the checkpoint's file name"),
    ("glob out of the submission", PRUNED.replace('"*prun*.pt"', '"../*.pt"'),
     "models[0].weights", "a glob of the checkpoint's file name"),
    ("glob not a string", PRUNED.replace('"*prun*.pt"', "true"), "models[0].weights", "str"),
    ("agreement above 1", PRUNED.replace("agreement = 0.9", "agreement = 95"),
     "weights.agreement", "from 0 to 1"),
    ("max_mb zero", PRUNED.replace("max_mb = 20", "max_mb = 0"), "weights.max_mb",
     "a positive number"),
    ("unknown [weights] key", PRUNED.replace("max_mb = 20", "max_bytes = 20"),
     "weights.max_bytes", "one of the known keys"),
    ("item on a model without weights", PRUNED + _item("weights", 'model = "dense"'),
     "rubric[3].model", "the key of a model with a weights glob (resnet20)"),
    ("item without a model", PRUNED + _item("bits", "full = 4"), "rubric[3].model",
     "is missing"),
    ("sparsity without its target", PRUNED + _item("sparsity", 'model = "resnet20"'),
     "rubric[3].full", "the fraction of zero weights for full points"),
    ("sparsity above 1", PRUNED + _item("sparsity", 'model = "resnet20"', "full = 70"),
     "rubric[3].full", "a fraction above 0, at most 1"),
    ("sparsity zero above full", PRUNED + _item("sparsity", 'model = "resnet20"', "full = 0.5",
                                                "zero = 0.6"),
     "rubric[3].zero", "a fraction from 0 up to full (0.5)"),
    ("bits not whole", PRUNED + _item("bits", 'model = "resnet20"', "full = 4.5"),
     "rubric[3].full", "a whole number of bits from 1 to 32"),
    ("bits zero below full", PRUNED + _item("bits", 'model = "resnet20"', "full = 4",
                                            "zero = 2"),
     "rubric[3].zero", "a whole number of bits above full (4)"),
    ("floor on a weights item", PRUNED + _item("weights", 'model = "resnet20"', "floor = 0.5"),
     "rubric[3].floor", "it belongs to sparsity and bits items"),
    ("floor on an accuracy item", PRUNED + _item("accuracy", 'model = "dense"', "floor = 0.5"),
     "rubric[3].floor", "it belongs to sparsity and bits items"),
    ("floor as a percentage", PRUNED + _item("sparsity", 'model = "resnet20"', "full = 0.7",
                                             "floor = 85"),
     "rubric[3].floor", "an accuracy above 0, at most 1"),
    ("relative without a reference", PRUNED.replace('reference = "resnet20-a"\n', "")
     + "", "rubric[0].basis", "absolute: resnet20 has no reference model"),
    ("mean of two channels", PRUNED.replace("max_mb = 20", "max_mb = 20\nmean = [0.49, 0.48]"
                                            "\nstd = [0.2, 0.2, 0.2]"),
     "weights.mean", "3 numbers in 0..1, one per channel"),
    ("std in pixel units", PRUNED.replace("max_mb = 20", "max_mb = 20\nmean = [0.5, 0.5, 0.5]"
                                          "\nstd = [51, 51, 51]"),
     "weights.std", "3 numbers in 0..1, one per channel (above 0,"),
    ("mean without std", PRUNED.replace("max_mb = 20", "max_mb = 20\nmean = [0.5, 0.5, 0.5]"),
     "weights.mean", "mean and std given together (std is missing)"),
])
def test_bad_weights_keys_name_the_file_key_and_line(tmp_path, fault, text, key, expected):
    path = tmp_path / "hw4.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        spec.load(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}:"), fault
    assert f"key '{key}'" in message and expected in message, (fault, message)
    assert info.value.line is not None, fault


@pytest.mark.parametrize("within, shown", [(0.005, "0.5%"), (0.01, "1%"), (0.125, "12.5%")])
def test_a_family_tolerance_below_one_percent_is_shown(within, shown):
    """`within = 0.005` reads "± 0.5%", not "± 0%", in the spec's description and in the
    params check's expected range (a model's report and the check's message)."""
    import dataclasses
    from types import SimpleNamespace

    from grader.grading import checks
    from grader.grading.choose import Choice
    from grader.grading.probe import Measurement
    from grader.spec import ParamExpectation

    expectation = ParamExpectation(reference="resnet18", within=within)
    assert expectation.describe() == f"same as reference resnet18 within {shown}"
    model = dataclasses.replace(spec.load("ece661-hw2").models[0], params=expectation)
    choice = Choice(spec=model, source=SimpleNamespace(),
                    measured=Measurement(shapes={"fc.weight": [1_000_000]}),
                    reference=Measurement(shapes={"fc.weight": [1_000_000]}))
    result = checks.params(choice, None)
    assert result.passed
    lo, hi = 1_000_000 - int(within * 1_000_000), 1_000_000 + int(within * 1_000_000)
    assert (f"expected {lo:,} to {hi:,} (reference resnet18's 1,000,000 ± {shown})"
            in result.message), result.message
