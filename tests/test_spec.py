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
