"""`grader gradescope` as students meet it: a valid results.json for every hand-in, Gradescope's
full specification (checked by one validator against every results.json these tests write),
the spec's [gradescope] and [held_out] sections, the daily cap and the due date from
submission_metadata.json, public and private held-out scores, usage errors that exit 2 without
a traceback, and the autograder zip end to end."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import textwrap
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import spec
from grader.cli import main
from grader.errors import InputError, SandboxUnavailable, SpecError
from grader.report import exports
from grader.run import gradescope
from grader.run.gradescope import autograder_tree, handin_problem, run_autograder
from grader.spec import GradescopeSpec, HeldOutSpec
from tests.factories.models import SIMPLENN
from tests.factories.results import (
    crashed_result,
    failing_result,
    good_result,
    no_check_result,
    split_result,
    tiny_imagenet_result,
)
from tests.factories.specs import one_model_toml, simplenn_spec

REPO = Path(__file__).resolve().parents[1]

# ---- Gradescope's documented results.json schema (gradescope-autograders, "Autograder
# Specifications"), as rules: every results.json a test here writes goes through `validate`

FORMATS = {"text", "html", "simple_format", "md", "ansi"}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format",
            "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
            "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output",
             "output_format", "tags", "visibility", "extra_data"}
LEADERBOARD_KEYS = {"name", "value", "order"}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate(data: dict) -> dict:
    """Assert that `data` follows Gradescope's results.json schema, plus our own rules (a
    score, a status on every test, Markdown output, scores that add up); returns it."""
    json.dumps(data, allow_nan=False)                        # strict JSON: no NaN, no Infinity
    assert set(data) <= TOP_KEYS, set(data) - TOP_KEYS
    assert _number(data["score"]) and data["score"] >= 0     # ours: always a top-level score
    assert isinstance(data["execution_time"], int) and data["execution_time"] >= 0
    assert isinstance(data["output"], str) and data["output"]
    for key in ("output_format", "test_output_format", "test_name_format"):
        assert data.get(key, "text") in FORMATS, key
    for key in ("visibility", "stdout_visibility"):
        assert data.get(key, "visible") in VISIBILITIES, key
    assert data["stdout_visibility"] == "hidden"             # stdout may echo student output
    assert isinstance(data.get("extra_data", {}), dict)
    assert "result" in data["extra_data"]
    assert isinstance(data["tests"], list)
    for test in data["tests"]:
        assert set(test) <= TEST_KEYS, set(test) - TEST_KEYS
        assert isinstance(test["name"], str) and test["name"]
        assert _number(test["score"]) and _number(test["max_score"])
        assert 0 <= test["score"] <= test["max_score"] + 1e-9
        assert test["status"] in ("passed", "failed")        # ours: on every test
        assert test["status"] == ("passed" if test["score"] >= test["max_score"] else "failed")
        assert isinstance(test.get("output", ""), str)
        assert test.get("output_format", "text") in FORMATS
        assert test.get("name_format", "text") in FORMATS
        assert test.get("visibility", "visible") in VISIBILITIES
        assert isinstance(test.get("number", ""), str)
        assert all(isinstance(t, str) for t in test.get("tags", []))
        assert isinstance(test.get("extra_data", {}), dict)
    if data["tests"]:           # ours: the score is what the tests it counts add up to
        counted = [t for t in data["tests"] if t.get("extra_data", {}).get("counted", True)]
        assert sum(t["score"] for t in counted) == pytest.approx(data["score"])
        assert not any("not shown:" in t["output"] for t in counted)   # withheld: not counted
    for entry in data.get("leaderboard", []):
        assert set(entry) <= LEADERBOARD_KEYS and {"name", "value"} <= set(entry)
        assert isinstance(entry["name"], str) and (_number(entry["value"])
                                                   or isinstance(entry["value"], str))
        assert entry.get("order", "desc") in ("asc", "desc")
    return data


def read_results(path: Path) -> dict:
    return validate(json.loads(Path(path).read_text()))


# ---- results.json from a result (grader.report.exports)

@pytest.mark.parametrize("make", [good_result, failing_result, crashed_result,
                                  tiny_imagenet_result, no_check_result])
def test_every_result_gives_a_valid_results_json(make):
    result = make()
    data = validate(exports.gradescope_results(result, result_path="/r/grader-result.json",
                                               seconds=12.6))
    assert data["score"] == pytest.approx(result.total)
    assert data["execution_time"] == 13
    assert data["output_format"] == data["test_output_format"] == "md"
    assert data["extra_data"]["result"] == "/r/grader-result.json"
    assert data["extra_data"]["status"] == result.status
    assert [t["tags"] for t in data["tests"]] == [[item.id] for item in result.rubric]
    assert all(t["output_format"] == "md" for t in data["tests"])


def test_status_follows_the_points():
    data = exports.gradescope_results(failing_result())
    by_id = {t["tags"][0]: t for t in data["tests"]}
    assert by_id["lab1-model"]["status"] == "failed"          # 7.5 of 10
    assert all(t["status"] == "passed"
               for t in exports.gradescope_results(good_result())["tests"]
               if t["score"] >= t["max_score"])


def test_reasons_and_fixes_are_markdown():
    data = exports.gradescope_results(failing_result())
    lab1 = data["tests"][0]["output"]
    assert lab1.startswith("- ") and "152,318 trainable parameters" in lab1
    assert "**What to fix:**" in data["output"]
    # each failed check's message and its hint, Markdown-escaped (16 \* 6 \* 6, conv2 -\> ...)
    assert "**Fix:**" in data["output"] and r"nn.Linear(16 \* 6 \* 6, 120)" in data["output"]
    assert r"conv2 -\> F.relu" in data["tests"][2]["output"]
    assert exports.md("simple_nn <lambda>") == r"simple\_nn \<lambda\>"


def test_leaderboard_holds_accuracy_parameters_and_predictions():
    result = good_result()
    board = {e["name"]: e for e in exports.gradescope_results(result)["leaderboard"]}
    assert board["SimpleNN (Lab 1) accuracy (%)"] == {
        "name": "SimpleNN (Lab 1) accuracy (%)", "order": "desc",
        "value": round(100 * result.training[0].scores.accuracy, 2)}
    assert board["ResNet-20 (Lab 3) parameters"] == {"name": "ResNet-20 (Lab 3) parameters",
                                                     "value": 269722, "order": "asc"}
    assert board["predictions.csv accuracy (%)"]["value"] == round(
        100 * result.predictions.accuracy, 2)
    only = exports.gradescope_results(result, shown=GradescopeSpec(leaderboard=("params",)))
    assert [e["order"] for e in only["leaderboard"]] == ["asc"] * 3
    assert exports.gradescope_results(crashed_result())["leaderboard"] == []


def test_visibility_per_item_from_the_spec():
    shown = GradescopeSpec(visibility=(("predictions-accuracy", "after_due_date"),))
    data = exports.gradescope_results(good_result(), shown=shown)
    vis = {t["tags"][0]: t["visibility"] for t in data["tests"]}
    assert vis.pop("predictions-accuracy") == "after_due_date"
    assert set(vis.values()) == {"visible"}


# ---- the spec's [gradescope] section

def _spec(tmp_path, extra: str):
    path = tmp_path / "a.toml"
    path.write_text(one_model_toml(extra))
    return spec.load(str(path))


def test_gradescope_section_is_read(tmp_path):
    a = _spec(tmp_path, """
        [gradescope]
        visibility = { model = "after_due_date" }
        leaderboard = ["params"]
        daily_cap = 2
        """)
    assert a.gradescope == GradescopeSpec(visibility=(("model", "after_due_date"),),
                                          leaderboard=("params",), daily_cap=2)
    assert spec.load("ece661-hw2").gradescope == GradescopeSpec()     # default: all visible


@pytest.mark.parametrize("fault, text, expected", [
    ("unknown item", 'visibility = { nope = "hidden" }', "a rubric item id"),
    ("bad visibility", 'visibility = { model = "later" }', "hidden | after_due_date"),
    ("bad column", 'leaderboard = ["loss"]', "accuracy, params, predictions"),
    ("unknown key", "cap = 3", "one of the known keys"),
    ("zero daily cap", "daily_cap = 0", "1 or more"),
])
def test_gradescope_section_faults(tmp_path, fault, text, expected):
    with pytest.raises(SpecError, match="gradescope") as info:
        _spec(tmp_path, f"[gradescope]\n{text}\n")
    assert expected in str(info.value), fault


def test_held_out_section_is_read(tmp_path):
    a = _spec(tmp_path, """
        [held_out]
        public_fraction = 0.3
        seed = 11
        """)
    assert a.held_out == HeldOutSpec(public_fraction=0.3, seed=11) and a.held_out.split
    assert spec.load("ece661-hw2").held_out == HeldOutSpec()          # default: no split
    assert not HeldOutSpec().split


@pytest.mark.parametrize("fault, text, expected", [
    ("all public", "public_fraction = 1", "up to, not including, 1"),
    ("negative", "public_fraction = -0.2", "a fraction of the held-out images from 0"),
    ("percent, not fraction", "public_fraction = 30", "(0.3: 30% public, 70% private)"),
    ("a string", 'public_fraction = "30%"', "held_out.public_fraction"),
    ("a float seed", "seed = 1.5", "held_out.seed"),
    ("unknown key", "private_fraction = 0.7", "one of the known keys"),
])
def test_held_out_section_faults(tmp_path, fault, text, expected):
    with pytest.raises(SpecError, match="held_out") as info:
        _spec(tmp_path, f"[held_out]\n{text}\n")
    assert expected in str(info.value), fault


# ---- a results.json for every hand-in

HW2 = spec.load("ece661-hw2")
SPEC_FILES = ("simplenn-cifar10.ipynb", "simplenn-cifar10-dev.ipynb", "resnet-cifar10.ipynb",
              "predictions.csv")


def _handin(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.mark.parametrize("fault, files, reason", [
    ("empty", {}, "your submission is empty"),
    ("wrong file types", {"report.pdf": b"%PDF", "notes/readme.txt": b"hi"},
     "no .py, .ipynb or .zip file (found: notes/readme.txt, report.pdf)"),
    ("a zip that will not open", {"hw2.zip": b"PK\x03\x04 not really a zip"},
     "hw2.zip is not a zip archive that opens"),
    ("a notebook that is not JSON", {"simplenn-cifar10.ipynb": b"import torch\n"},
     "simplenn-cifar10.ipynb is not a notebook (not JSON)"),
    ("a notebook nested too deep for JSON", {"simplenn-cifar10.ipynb": b"[" * 100_000},
     "simplenn-cifar10.ipynb is not a notebook (not JSON)"),
])
def test_unusable_handin_gets_zero_the_reason_and_what_to_hand_in(tmp_path, fault, files,
                                                                  reason):
    target = tmp_path / "results" / "results.json"
    assert run_autograder(HW2, submission=_handin(tmp_path / "sub", files),
                          results=target) is None
    data = read_results(target)
    assert data["score"] == 0 and len(data["tests"]) == len(HW2.rubric), fault
    assert reason in data["output"].replace("\\", "")
    assert "**What to hand in:**" in data["output"]
    assert all(f"`{name}`" in data["output"] for name in SPEC_FILES)
    assert all(t["status"] == "failed" and t["max_score"] > 0 for t in data["tests"])
    assert sum(t["max_score"] for t in data["tests"]) == HW2.total_points


def test_a_usable_handin_is_not_refused(tmp_path):
    sub = _handin(tmp_path / "s", {"x.txt": b"", "broken.ipynb": b"nope", "m.py": b"x = 1\n"})
    assert handin_problem(sub) is None


@pytest.mark.parametrize("files, graded", [
    ({"hw/a.py": b"", "hw/b/c.ipynb": b"{}", "x.py": b""}, "student"),   # one hand-in, nested
    ({"README.md": b"", "sub/HW2.ZIP": b"PK"}, "student.zip"),            # its only code: a zip
    ({"a.zip": b"PK", "b.zip": b"PK"}, "student"),
])
def test_the_upload_is_graded_as_one_handin(tmp_path, files, graded):
    from grader.inputs.handins import find_submissions

    klass = gradescope.one_handin(_handin(tmp_path / "s", files), tmp_path / "class")
    assert [p.name for p in find_submissions(klass)] == [graded]


def test_missing_submission_folder_writes_results_and_raises(tmp_path):
    target = tmp_path / "results.json"
    with pytest.raises(InputError, match="submission folder not found"):
        run_autograder(HW2, submission=tmp_path / "missing", results=target)
    data = read_results(target)
    assert data["score"] == 0 and "not in your work" in data["output"]


def test_a_fault_on_the_graders_side_still_writes_results(tmp_path, monkeypatch):
    def no_sandbox(*_):
        raise SandboxUnavailable("bwrap cannot create a user namespace")

    monkeypatch.setattr(gradescope, "_grade", no_sandbox)
    target = tmp_path / "results.json"
    with pytest.raises(SandboxUnavailable):
        run_autograder(HW2, submission=_handin(tmp_path / "s", {"m.py": b"x = 1\n"}),
                       results=target)
    data = read_results(target)
    assert "user namespace" in data["output"] and "tell your instructor" in data["output"]


def test_a_grader_bug_still_writes_results(tmp_path, monkeypatch, caplog):
    def bug(*_):
        raise KeyError("oops")

    monkeypatch.setattr(gradescope, "_grade", bug)
    target = tmp_path / "results.json"
    assert run_autograder(HW2, submission=_handin(tmp_path / "s", {"m.py": b"x = 1\n"}),
                          results=target) is None
    data = read_results(target)
    assert data["score"] == 0 and "the grader failed: KeyError" in data["output"]
    # the traceback is logged (stderr: for the instructor only on Gradescope)
    (record,) = [r for r in caplog.records if r.name == "grader.run.gradescope"]
    assert record.exc_info[0] is KeyError and "Traceback" in caplog.text


def test_cli_exit_codes_for_refused_and_missing(tmp_path):
    target = tmp_path / "r.json"
    empty = _handin(tmp_path / "empty", {})
    result = CliRunner().invoke(main, ["gradescope", "-a", "ece661-hw2", "--submission",
                                       str(empty), "--results", str(target)])
    assert result.exit_code == 0 and "nothing could be graded" in result.output
    read_results(target)
    target.unlink()
    result = CliRunner().invoke(main, ["gradescope", "-a", "ece661-hw2", "--submission",
                                       str(tmp_path / "missing"), "--results", str(target)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "submission folder not found" in result.output
    read_results(target)


def test_cli_bad_spec_still_writes_results(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[assignment\n")
    target = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["gradescope", "-a", str(bad), "--submission",
                                       str(tmp_path), "--results", str(target)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    data = read_results(target)
    assert data["score"] == 0 and "spec could not be read" in data["output"]


# ---- usage errors: exit 2, one clean message, no traceback

@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("x")
    return path


@pytest.mark.parametrize("fault, args, message", [
    ("negative --timeout", ["check", "{dir}", "-a", "ece661-hw2", "--timeout", "-5"],
     "'--timeout': -5 is not in the range x>=1"),
    ("zero --memory-mb", ["check", "{dir}", "-a", "ece661-hw2", "--memory-mb", "0"],
     "'--memory-mb': 0 is not in the range x>=1"),
    ("zero --max-processes", ["evaluate", "{dir}", "-a", "ece661-hw2", "--max-processes", "0"],
     "'--max-processes': 0 is not in the range x>=1"),
    ("negative --timeout (evaluate)", ["evaluate", "{dir}", "-a", "ece661-hw2", "--timeout",
                                       "0"], "'--timeout': 0 is not in the range x>=1"),
    ("negative --permute-seed", ["data", "split", "-a", "ece661-hw2", "--out", "{dir}/o",
                                 "--permute-seed", "-1"], "-1 is not in the range x>=0"),
    ("negative synth --seed", ["data", "synth", "{dir}/o", "--seed", "-3"],
     "-3 is not in the range x>=0"),
    ("synth into a file", ["data", "synth", "{file}"], "is a file"),
    ("split into a file", ["data", "split", "-a", "ece661-hw2", "--out", "{file}"], "is a file"),
    ("missing --submission", ["gradescope", "-a", "ece661-hw2", "--submission", "{dir}/none",
                              "--results", "{dir}/r.json"], "submission folder not found"),
])
def test_usage_errors_exit_2_without_traceback(tmp_path, a_file, fault, args, message):
    args = [a.format(dir=tmp_path, file=a_file) for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, (fault, result.output)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert message in result.output, fault
    errors = [line for line in result.output.splitlines() if line.lower().startswith("error")]
    assert len(errors) == 1, result.output


def test_library_refuses_what_the_cli_refuses(tmp_path, a_file):
    from grader.inputs.data import split_test_set, write_synthetic_cifar10

    with pytest.raises(InputError, match="found a file"):
        write_synthetic_cifar10(a_file, seed=0, n_train=10, n_test=10)
    with pytest.raises(InputError, match="--permute-seed must be 0 or more"):
        split_test_set(None, tmp_path / "o", permute_seed=-1)


# ---- the autograder zip, end to end

SOURCE_PARTS = ("pyproject.toml", "README.md", "grader", "reference", "templates")


def build_autograder_zip(zip_path: Path, *, assignment: str | None = None) -> Path:
    """The zip as docs/gradescope.md says: setup.sh and run_autograder at its top (from
    autograder/), the repository in grader/, the spec as assignment.toml."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("setup.sh", "run_autograder"):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            zf.writestr(info, (REPO / "autograder" / name).read_bytes())
        for part in SOURCE_PARTS:
            path = REPO / part
            files = [path] if path.is_file() else sorted(
                p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            for p in files:
                zf.write(p, "grader/" + str(p.relative_to(REPO)))
        if assignment is not None:
            zf.writestr("assignment.toml", assignment)
    return zip_path


def autograder_tree_from(zip_path: Path, root: Path, files: dict[str, bytes]) -> Path:
    """What Gradescope makes of the zip and one hand-in: the zip unpacked into source/,
    run_autograder copied to the top, the student's files in submission/, an empty results/
    and submission_metadata.json."""
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    _handin(root / "submission", files)
    (root / "results").mkdir()
    (root / "submission_metadata.json").write_text(json.dumps({
        "id": 1, "created_at": "2026-12-01T12:00:00+00:00", "previous_submissions": [],
        "assignment": {"due_date": "2026-12-10T23:59:00+00:00", "title": "HW"}}))
    return root


def run_tree(root: Path, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), GRADER=shutil.which("grader"),
               GRADER_CACHE=str(cache))
    return subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True,
                          check=False,
                          text=True, timeout=900)


TINY = simplenn_spec("""
[assignment]
course = "Test course"
title = "Tiny autograder"
required_files = ["*.py"]

[dataset]
synthetic_train = 600
synthetic_test = 200

[training]
epochs = 1
batch_size = 32
lr = 0.05

[limits]
wall_seconds = 60
train_wall_seconds = 300

[gradescope]
visibility = { accuracy = "after_due_date" }
""", predictions=False)


def test_zip_layout_and_tree(tmp_path):
    zip_path = build_autograder_zip(tmp_path / "autograder.zip", assignment=TINY)
    names = zipfile.ZipFile(zip_path).namelist()
    assert {"setup.sh", "run_autograder", "assignment.toml", "grader/pyproject.toml",
            "grader/grader/run/gradescope.py"} <= set(names)
    root = autograder_tree_from(zip_path, tmp_path / "autograder", {})
    assert autograder_tree(root) == {"submission": root / "submission",
                                     "results": root / "results" / "results.json",
                                     "metadata": root / "submission_metadata.json",
                                     "data_dir": None, "labels": None}


def test_autograder_zip_empty_handin(tmp_path):
    zip_path = build_autograder_zip(tmp_path / "autograder.zip", assignment=TINY)
    root = autograder_tree_from(zip_path, tmp_path / "autograder", {})
    done = run_tree(root, tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    data = read_results(root / "results" / "results.json")
    assert data["score"] == 0 and "your submission is empty" in data["output"]
    assert [t["tags"][0] for t in data["tests"]] == ["model", "accuracy"]
    assert data["tests"][1]["visibility"] == "after_due_date"     # the zip's spec decides


@pytest.mark.sandbox
@pytest.mark.train
def test_autograder_zip_good_and_broken_handins(tmp_path):
    zip_path = build_autograder_zip(tmp_path / "autograder.zip", assignment=TINY)
    cache = tmp_path / "cache"
    good = autograder_tree_from(zip_path, tmp_path / "good",
                                {"hw/models.py": textwrap.dedent(SIMPLENN).encode()})
    done = run_tree(good, cache)
    assert done.returncode == 0, done.stderr
    data = read_results(good / "results" / "results.json")
    assert data["score"] > 0 and data["tests"][0]["status"] == "passed"
    assert Path(data["extra_data"]["result"]) == good / "results" / "grader-result.json"
    assert json.loads(Path(data["extra_data"]["result"]).read_text())["student"] == "student"
    assert any(e["name"] == "SimpleNN parameters" and e["value"] == 82030
               for e in data["leaderboard"])
    broken = autograder_tree_from(zip_path, tmp_path / "broken", {
        "models.py": (textwrap.dedent(SIMPLENN).replace(
            "super().__init__()", "super().__init__()\n        raise RuntimeError('no')")
        ).encode()})
    done = run_tree(broken, cache)
    assert done.returncode == 0, done.stderr
    data = read_results(broken / "results" / "results.json")
    assert data["score"] == 0 and {t["status"] for t in data["tests"]} == {"failed"}


# ---- exception types by their class, recorded by module and qualified name (issue 22, item 5)

def test_gpu_errors_are_torchs_own_classes_not_lookalikes(monkeypatch):
    import torch

    from grader.sandbox import reports

    monkeypatch.syspath_prepend(str(REPO / "grader" / "sandbox"))   # as the sandbox runs it
    from harness import common, train_models

    class OutOfMemoryError(RuntimeError):                           # a student's look-alike
        pass

    real = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
    fake = OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
    assert train_models.gpu_error(real) == "out_of_memory"
    assert train_models.gpu_error(fake) == ""
    assert common.describe_error(real)["qualname"] in ("torch.OutOfMemoryError",
                                                       "torch.cuda.OutOfMemoryError")
    assert common.describe_error(fake)["qualname"].endswith(
        "test_gpu_errors_are_torchs_own_classes_not_lookalikes.<locals>.OutOfMemoryError")
    assert common.describe_error(real)["type"] == common.describe_error(fake)["type"]
    parsed = reports._error(common.describe_error(fake))
    assert parsed.qualname == common.describe_error(fake)["qualname"] and parsed.gpu == ""


# ---- the daily cap on scored held-out runs and the due date (submission_metadata.json;
# issue 22, item 3)

def _metadata(path: Path, previous: list[tuple[str, bool | None]]) -> Path:
    """Gradescope's submission_metadata.json: this run at 2026-12-02 12:00 UTC and earlier
    ones (time, whether their held-out score was shown; None: results without our key)."""
    path.write_text(json.dumps({
        "id": 9, "created_at": "2026-12-02T12:00:00.000000+00:00",
        "assignment": {"due_date": "2026-12-10T23:59:00.000000+00:00"},
        "previous_submissions": [
            {"submission_time": at, "score": 50.0,
             "results": {"extra_data": {} if shown is None else {"held_out_shown": shown}}}
            for at, shown in previous]}))
    return path


def test_scored_runs_counts_the_last_24_hours_that_were_shown(tmp_path):
    meta = _metadata(tmp_path / "m.json", [
        ("2026-12-02T11:00:00+00:00", True),
        ("2026-12-01T19:00:00-08:00", None),      # 03:00 UTC: 9 h before, shown (no key)
        ("2026-12-02T09:00:00+00:00", False),     # over the cap then: not a scored run
        ("2026-12-01T11:59:00+00:00", True)])     # more than 24 h before
    assert gradescope.scored_runs(meta) == 2
    assert gradescope.scored_runs(tmp_path / "none.json") == 0
    (tmp_path / "bad.json").write_text("{not json")
    assert gradescope.scored_runs(tmp_path / "bad.json") == 0
    assert gradescope.scored_runs(None) == 0


BEFORE = dt.datetime(2026, 12, 2, 12, 5, tzinfo=dt.timezone.utc)     # before _metadata's due date
AFTER = dt.datetime(2026, 12, 11, 9, 0, tzinfo=dt.timezone.utc)      # after it: a regrade
HELD_OUT = {i.id for i in HW2.rubric if i.kind in ("accuracy", "predictions")}


def _autograde(tmp_path, monkeypatch, task, result, meta, now):
    monkeypatch.setattr(gradescope, "_grade", lambda *_: result)
    target = tmp_path / "results" / "results.json"
    run_autograder(task, submission=_handin(tmp_path / "s", {"m.py": b"x = 1\n"}),
                   results=target, metadata=meta, now=now)
    return read_results(target)


@pytest.mark.parametrize("previous, capped", [(0, False), (1, False), (2, True)])
def test_beyond_the_daily_cap_the_held_out_score_waits_for_the_due_date(
        tmp_path, monkeypatch, previous, capped):
    result = good_result("student")
    task = dataclasses.replace(HW2, gradescope=GradescopeSpec(daily_cap=2))
    meta = _metadata(tmp_path / "m.json", [("2026-12-02T10:00:00+00:00", True)] * previous)
    data = _autograde(tmp_path, monkeypatch, task, result, meta, BEFORE)
    held = [t for t in data["tests"] if t["tags"][0] in HELD_OUT]
    assert {t["tags"][0] for t in held} == HELD_OUT == {
        "lab1-accuracy", "lab2-accuracy", "lab3-accuracy", "predictions-accuracy"}
    # graded either way: the points are in the tests, for after the due date
    assert [t["score"] for t in held] == [10, 10, 15, 25]
    assert all((t["visibility"] == "after_due_date") is capped for t in held)
    assert all(("not shown: you have had 2 scored runs" in t["output"]) is capped for t in held)
    assert all(t["visibility"] == "visible" for t in data["tests"] if t not in held)
    assert data["extra_data"]["held_out_shown"] is not capped
    # the score Gradescope shows leaves the withheld points out: nothing gives them away
    assert data["score"] == pytest.approx(result.total - (60 if capped else 0))
    assert (f"{result.total:g} of {result.possible:g} points." in data["output"]) is not capped
    assert ("40 of 40 points; the held-out items are shown after the due date" in
            data["output"]) is capped
    names = [e["name"] for e in data["leaderboard"]]
    assert ("predictions.csv accuracy (%)" in names) is not capped
    assert ("SimpleNN (Lab 1) accuracy (%)" in names) is not capped
    assert "SimpleNN (Lab 1) parameters" in names
    assert json.loads(Path(data["extra_data"]["result"]).read_text())["student"] == "student"


def test_after_the_due_date_the_cap_is_lifted(tmp_path, monkeypatch):
    """A regrade after the due date (same metadata, later clock) shows and counts it all."""
    result = good_result("student")
    task = dataclasses.replace(HW2, gradescope=GradescopeSpec(daily_cap=1))
    meta = _metadata(tmp_path / "m.json", [("2026-12-02T10:00:00+00:00", True)] * 3)
    data = _autograde(tmp_path, monkeypatch, task, result, meta, AFTER)
    assert data["score"] == pytest.approx(result.total)
    assert data["extra_data"]["held_out_shown"] is True
    assert all(t["visibility"] == "visible" for t in data["tests"])


def _due(path: Path, assignment: dict, users: list | None = None) -> Path:
    path.write_text(json.dumps({"created_at": "2026-12-02T12:00:00+00:00",
                                "assignment": assignment, "users": users or [],
                                "previous_submissions": []}))
    return path


@pytest.mark.parametrize("what, assignment, users, passed", [
    ("before", {"due_date": "2026-12-10T23:59:00-08:00"}, None, False),
    ("after", {"due_date": "2026-12-10T15:00:00-08:00"}, None, True),   # 23:00 UTC on the 10th
    ("late due date still open", {"due_date": "2026-12-05T23:59:00+00:00",
                                  "late_due_date": "2026-12-12T23:59:00+00:00"}, None, False),
    ("an extension", {"due_date": "2026-12-05T23:59:00+00:00"},
     [{"email": "s@x.edu", "assignment": {"due_date": "2026-12-12T00:00:00+00:00"}}], False),
    ("no due date", {"due_date": None}, None, False),
    ("UTC as Z, no zone", {"due_date": "2026-12-10T22:00:00Z"}, None, True),
    ("a naive time is UTC", {"due_date": "2026-12-10T23:30:00"}, None, False),
])
def test_due_date_from_submission_metadata(tmp_path, what, assignment, users, passed):
    now = dt.datetime(2026, 12, 10, 23, 15, tzinfo=dt.timezone.utc)
    meta = _due(tmp_path / "m.json", assignment, users)
    assert gradescope.due_date_passed(meta, now) is passed, what


def test_due_date_without_metadata_has_not_passed(tmp_path):
    assert gradescope.due_date_passed(None, AFTER) is False
    assert gradescope.due_date_passed(tmp_path / "none.json", AFTER) is False
    (tmp_path / "bad.json").write_text("[1, 2")
    assert gradescope.due_date_passed(tmp_path / "bad.json", AFTER) is False


# ---- public and private held-out scores (the spec's [held_out]; issue 22, item 3)

def _split_task(**gradescope_spec):
    return dataclasses.replace(HW2, held_out=HeldOutSpec(public_fraction=0.3, seed=5),
                               gradescope=GradescopeSpec(**gradescope_spec))


def test_before_the_due_date_students_see_the_public_part(tmp_path, monkeypatch):
    result = split_result("student")
    data = _autograde(tmp_path, monkeypatch, _split_task(), result,
                      _metadata(tmp_path / "m.json", []), BEFORE)
    tests = {(t["tags"][0], t["extra_data"].get("part")): t for t in data["tests"]}
    for item in result.rubric:
        if item.id not in HELD_OUT:
            assert tests[item.id, None]["visibility"] == "visible"
            continue
        public, private = tests[item.id, "public"], tests[item.id, "private"]
        assert (public["score"], public["max_score"]) == (item.public_earned, item.possible)
        assert public["visibility"] == "visible" and public["name"].endswith("(public 30%)")
        assert "private 70% of the held-out images decides" in public["output"]
        assert (private["score"], private["visibility"]) == (item.earned, "after_due_date")
        assert private["name"].endswith("(private 70%)")
        assert public["extra_data"]["counted"] and not private["extra_data"]["counted"]
    assert "scored 82% on the public 30%" in tests["predictions-accuracy", "public"]["output"]
    # the score shown counts the public part (90: predictions.csv 15 of 25, ResNet-20 15 of
    # 15), and nothing in it gives the private part's 97 (25 and 12) away
    assert result.total == 97 and data["score"] == pytest.approx(90)
    assert "on the public 30% of the held-out images" in data["output"]
    board = {e["name"]: e["value"] for e in data["leaderboard"]}
    assert board["predictions.csv accuracy (%)"] == 82.0
    assert board["SimpleNN (Lab 1) accuracy (%)"] == round(
        100 * result.training[0].scores.public_accuracy, 2)


def test_after_the_due_date_the_private_part_counts(tmp_path, monkeypatch):
    result = split_result("student")
    data = _autograde(tmp_path, monkeypatch, _split_task(), result,
                      _metadata(tmp_path / "m.json", []), AFTER)
    assert data["score"] == pytest.approx(result.total) == 97
    assert len(data["tests"]) == len(result.rubric)          # one test per item again
    lab3 = next(t for t in data["tests"] if t["tags"][0] == "lab3-accuracy")
    assert (lab3["score"], lab3["visibility"], lab3["tags"]) == (12, "visible",
                                                               ["lab3-accuracy", "private"])
    assert "private 70% of the held-out images" in lab3["output"]
    board = {e["name"]: e["value"] for e in data["leaderboard"]}
    assert board["predictions.csv accuracy (%)"] == round(100 * result.predictions.accuracy, 2)


def test_split_beyond_the_cap_shows_neither_part(tmp_path, monkeypatch):
    result = split_result("student")
    meta = _metadata(tmp_path / "m.json", [("2026-12-02T10:00:00+00:00", True)])
    data = _autograde(tmp_path, monkeypatch, _split_task(daily_cap=1), result, meta, BEFORE)
    held = [t for t in data["tests"] if t["tags"][0] in HELD_OUT]
    assert len(held) == 8 and {t["visibility"] for t in held} == {"after_due_date"}
    assert all("not shown:" in t["output"] for t in held if t["extra_data"]["part"] == "public")
    assert data["score"] == pytest.approx(40)                  # the checks only
    assert not [e for e in data["leaderboard"] if "accuracy" in e["name"]]


def test_a_stricter_visibility_in_the_spec_stays(tmp_path, monkeypatch):
    """An item the spec hides (or keeps for publishing) is not shown after the due date."""
    task = _split_task(visibility=(("lab1-accuracy", "hidden"),
                                   ("predictions-accuracy", "after_published")))
    data = _autograde(tmp_path, monkeypatch, task, split_result("student"),
                      _metadata(tmp_path / "m.json", []), BEFORE)
    vis = {(t["tags"][0], t["extra_data"].get("part")): t["visibility"] for t in data["tests"]}
    assert vis["lab1-accuracy", "public"] == vis["lab1-accuracy", "private"] == "hidden"
    assert vis["predictions-accuracy", "private"] == "after_published"
    assert vis["lab2-accuracy", "private"] == "after_due_date"


def _leaderboard_only(result, task):
    """`result` and `task` of a leaderboard-only course: the rubric keeps its check items only
    (no accuracy or predictions item), so held-out figures appear on the leaderboard alone."""
    task = dataclasses.replace(task, rubric=tuple(i for i in task.rubric
                                                  if i.id not in HELD_OUT))
    items = [i for i in result.rubric if i.id not in HELD_OUT]
    assert items and all(i.public_earned is None for i in items)
    return dataclasses.replace(result, rubric=items, total=sum(i.earned for i in items),
                               possible=sum(i.possible for i in items)), task


def test_a_leaderboard_only_course_shows_the_public_part_before_the_due_date(
        tmp_path, monkeypatch):
    """The private figures must not reach the leaderboard before the due date even when no
    rubric item is held-out: the split is the result's, not the rubric's."""
    result, task = _leaderboard_only(split_result("student"), _split_task())
    before = _autograde(tmp_path / "before", monkeypatch, task, result,
                        _metadata(tmp_path / "m.json", []), BEFORE)
    board = {e["name"]: e["value"] for e in before["leaderboard"]}
    assert board["predictions.csv accuracy (%)"] == 82.0
    assert board["SimpleNN (Lab 1) accuracy (%)"] == round(
        100 * result.training[0].scores.public_accuracy, 2)
    assert round(100 * result.predictions.accuracy, 2) not in board.values()
    after = _autograde(tmp_path / "after", monkeypatch, task, result,
                       _metadata(tmp_path / "m.json", []), AFTER)
    board = {e["name"]: e["value"] for e in after["leaderboard"]}
    assert board["predictions.csv accuracy (%)"] == round(100 * result.predictions.accuracy, 2)


@pytest.mark.parametrize("split", [False, True])
def test_the_cap_drops_held_out_columns_of_a_leaderboard_only_course(
        tmp_path, monkeypatch, split):
    result, task = _leaderboard_only(split_result("student") if split else good_result(
        "student"), dataclasses.replace(_split_task(daily_cap=1), held_out=HeldOutSpec(
            public_fraction=0.3 if split else 0.0, seed=5)))
    meta = _metadata(tmp_path / "m.json", [("2026-12-02T10:00:00+00:00", True)])
    data = _autograde(tmp_path, monkeypatch, task, result, meta, BEFORE)
    names = {e["name"] for e in data["leaderboard"]}
    assert "SimpleNN (Lab 1) parameters" in names                # the rest stays
    assert not any("accuracy" in n for n in names), names
    assert data["extra_data"]["held_out_shown"] is False     # not a scored run for the cap
    assert "left off the leaderboard" in data["output"]
    assert data["score"] == pytest.approx(result.total)      # nothing held back: all checks


def test_a_refused_upload_is_not_a_scored_run(tmp_path):
    """An empty or broken upload shows no held-out score, so it does not use up the cap."""
    target = tmp_path / "results" / "results.json"
    run_autograder(HW2, submission=_handin(tmp_path / "s", {"notes.txt": b"hi"}), results=target)
    refused = read_results(target)
    assert refused["extra_data"]["held_out_shown"] is False
    meta = tmp_path / "m.json"
    meta.write_text(json.dumps({"created_at": "2026-12-02T12:00:00+00:00", "previous_submissions": [
        {"submission_time": "2026-12-02T11:00:00+00:00", "results": refused}]}))
    assert gradescope.scored_runs(meta) == 0


def test_a_link_out_of_the_upload_is_not_followed(tmp_path):
    """Gradescope's upload is read on the grader's side: a link to the course's own files
    (labels.csv beside the autograder) must not come along into the hand-in."""
    secret = tmp_path / "source" / "labels.csv"
    secret.parent.mkdir()
    secret.write_text("id,label\n0,3\n")
    upload = _handin(tmp_path / "s", {"m.py": b"x = 1\n"})
    (upload / "labels.py").symlink_to(secret)
    (upload / "all.zip").symlink_to(secret)
    klass = gradescope.one_handin(upload, tmp_path / "class")
    copied = sorted(p.relative_to(klass).as_posix() for p in klass.rglob("*"))
    assert copied == ["student", "student/m.py"]


SPLIT = simplenn_spec("""
[assignment]
course = "Test course"
title = "Tiny split"
required_files = ["*.py", "predictions.csv"]

[dataset]
synthetic_train = 600
synthetic_test = 200

[training]
epochs = 1
batch_size = 32
lr = 0.05
reference_seeds = 2
eval_images = 150

[limits]
wall_seconds = 60
train_wall_seconds = 300

[predictions]
rows = 200

[held_out]
public_fraction = 0.3
seed = 7
""")


@pytest.mark.sandbox
@pytest.mark.train
def test_a_split_held_out_set_end_to_end(tmp_path):
    """A real grading run under [held_out]: predictions.csv right on every private image and
    wrong on every public one; the points are the private part's, Gradescope shows the public
    part's before the due date, and the kept result loads back with both."""
    import numpy as np

    from grader import results as results_io
    from grader.grading.predictions import public_mask
    from grader.inputs.data import load_dataset
    from grader.run.options import Options

    path = tmp_path / "split.toml"
    path.write_text(SPLIT)
    task = spec.load(str(path))
    cache = tmp_path / "cache"
    labels = np.asarray(load_dataset(task.dataset, None, cache_dir=cache / "data").test_labels)
    public = public_mask(len(labels), 0.3, 7)
    guesses = np.where(public, (labels + 1) % 10, labels)
    upload = _handin(tmp_path / "s", {
        "models.py": textwrap.dedent(SIMPLENN).encode(),
        "predictions.csv": ("id,label\r\n" + "".join(f"{i},{v}\r\n" for i, v in
                                                     enumerate(guesses))).encode()})
    target = tmp_path / "results" / "results.json"
    result = run_autograder(task, submission=upload, results=target,
                            metadata=_metadata(tmp_path / "m.json", []), now=BEFORE,
                            options=Options(cache_dir=cache, timeout=None))
    assert result.status == "ok" and result.public_fraction == 0.3
    # predictions.csv: the private part's scores, the public part's accuracy beside them
    p = result.predictions
    assert (p.accuracy, p.public_accuracy, p.public_images) == (1.0, 0.0, 60)
    assert sum(map(sum, p.confusion)) == 140                   # 70% of 200
    # the retrained model: scored on the private part of the first 150 images, per epoch too
    (run,) = result.training
    assert run.scores.public_images == public[:150].sum()
    assert sum(map(sum, run.scores.confusion)) == 150 - public[:150].sum()
    assert run.history[-1].val_accuracy == run.scores.accuracy
    assert run.scores.public_accuracy is not None
    (band,) = result.reference_bands
    assert len(band.public_accuracies) == len(band.accuracies) == 2
    items = {i.id: i for i in result.rubric}
    assert (items["predictions"].earned, items["predictions"].public_earned) == (10, 0)
    assert items["model"].public_earned is None and items["accuracy"].public_earned is not None
    # Gradescope before the due date: the public part, counted; the private part, waiting
    data = read_results(target)
    shown = {(t["tags"][0], t["extra_data"].get("part")): t for t in data["tests"]}
    assert shown["predictions", "public"]["score"] == 0
    assert shown["predictions", "public"]["visibility"] == "visible"
    assert shown["predictions", "private"]["score"] == 10
    assert shown["predictions", "private"]["visibility"] == "after_due_date"
    assert data["score"] == pytest.approx(
        items["model"].earned + items["accuracy"].public_earned)
    kept = results_io.load(Path(data["extra_data"]["result"]))
    assert kept == result                         # the new fields survive the JSON round trip
