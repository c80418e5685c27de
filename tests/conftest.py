"""Shared fixtures (submissions written into tmp_path; the rest is in tests/factories/), the
`gpu` marker, and the fast tier.

The fast tier (`pytest -m "not slow"`) is the inner loop: no sandbox start, no training, no PDF
rendering and no Slurm. A test that does one of these carries its marker (`sandbox`, `train`,
`pdf`, `slurm`), and every item with one of them is also `slow`. In the fast tier those entry
points raise FastTierViolation, naming the marker to add, so a mislabelled test fails at once
instead of quietly making the inner loop slow again.
"""

from __future__ import annotations

import importlib
import importlib.abc
import os
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.factories.models import SIMPLENN
from tests.factories.notebooks import write_notebook
from tests.factories.specs import one_model_toml

# the markers that make a test slow (registered in pyproject.toml), and what each stands for
SLOW_KINDS = {
    "sandbox": "starts the bubblewrap sandbox or a harness subprocess",
    "train": "trains a model",
    "pdf": "renders a PDF with WeasyPrint",
    "slurm": "uses the Slurm cluster",
}

# fixtures whose setup is a whole-class run (copydetect over the generated class): a test that
# asks for one is slow, though it starts no sandbox
SLOW_FIXTURES = {"generated"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        kinds = [kind for kind in SLOW_KINDS if item.get_closest_marker(kind)]
        heavy = SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if (kinds or heavy) and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:
        has_cuda = False
    if not has_cuda:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture
def make_submission(tmp_path):
    """make_submission({"models.py": "...", "predictions.csv": "..."}) -> folder."""
    counter = {"n": 0}

    def make(files: dict[str, str | bytes], name: str | None = None) -> Path:
        counter["n"] += 1
        root = tmp_path / (name or f"student{counter['n']}")
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content), encoding="utf-8")
        root.mkdir(parents=True, exist_ok=True)
        return root

    return make


@pytest.fixture
def make_notebook():
    """make_notebook(path, [cell source, ...]) writes a real nbformat v4 notebook."""
    def make(path: Path, cells: list[str], markdown_first: bool = True) -> Path:
        return write_notebook(path, cells, title="# Homework" if markdown_first else None)

    return make


@pytest.fixture
def simplenn_source() -> str:
    return SIMPLENN


@pytest.fixture
def one_model_spec(tmp_path):
    """A small assignment with one SimpleNN model, optional predictions section."""

    def make(extra: str = "", params: int = 82030, wall: int = 60) -> Path:
        path = tmp_path / "one-model.toml"
        path.write_text(one_model_toml(extra, params=params, wall=wall), encoding="utf-8")
        return path

    return make


# WeasyPrint's import on the lent GPU machine (pip installs WeasyPrint, not Pango or GObject)
NO_GOBJECT = ("cannot load library 'libgobject-2.0-0': libgobject-2.0-0: cannot open shared "
              "object file: No such file or directory.  Additionally, ctypes.util."
              "find_library() did not manage to locate a library called 'libgobject-2.0-0'")


class _NoPango(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "weasyprint":
            raise OSError(NO_GOBJECT)
        return None


@contextmanager
def _pango_missing():
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in sys.modules if n.split(".")[0] == "weasyprint"]:
            mp.delitem(sys.modules, name)
        mp.setattr(sys, "meta_path", [_NoPango(), *sys.meta_path])
        yield


@pytest.fixture
def pango_missing():
    """A context manager in which `import weasyprint` fails as on a machine without Pango."""
    return _pango_missing


# ---------------------------------------------------------------- the fast tier's guard

class FastTierViolation(BaseException):
    """A test outside the slow tier started what only slow tests may. A BaseException, so the
    grader's own `except Exception` (a student's crash recorded as a result) cannot swallow it."""


def _violation(kind: str, what: str) -> FastTierViolation:
    return FastTierViolation(
        f"{what} in a fast-tier test. A test that {SLOW_KINDS[kind]} is marked "
        f"@pytest.mark.{kind} (`pytestmark = pytest.mark.{kind}` for a whole file), which puts "
        f"it in the slow tier: `pytest -m \"not slow\"` starts no sandbox, trains nothing, "
        f"renders no PDF and uses no Slurm.")


def _refuse(kind: str, what: str):
    def refuse(*args, **kwargs):
        raise _violation(kind, what)
    refuse.fast_tier_guard = True
    return refuse


# Commands whose start is a slow-tier event, by the program's name (subprocess.Popen's argv[0])
SLURM_COMMANDS = {"sbatch", "squeue", "sacct", "scontrol", "srun", "salloc", "scancel", "sinfo",
                  "slurmctld", "slurmd", "slurmdbd", "munged", "mungekey"}


def _command_kind(args) -> tuple[str, str] | None:
    """(marker, description) when a command is the sandbox, the harness, the grader's CLI or a
    Slurm command; None for anything else (`python -c`, git, lint-imports)."""
    if isinstance(args, (str, bytes, os.PathLike)):
        argv = [os.fsdecode(args)]
    else:
        try:
            argv = [os.fsdecode(a) for a in args]
        except TypeError:
            return None
    if not argv:
        return None
    program = os.path.basename(argv[0])
    if program in SLURM_COMMANDS:
        return "slurm", f"the Slurm command {program}"
    if program == "bwrap":
        if argv[-1] == "true":          # bwrap_executable's probes: can namespaces be made here
            return None
        return "sandbox", "starting the bubblewrap sandbox"
    if program == "grader":
        return "sandbox", "running the grader command"
    for i, arg in enumerate(argv[:-1]):
        if arg == "-m" and (argv[i + 1] == "grader" or argv[i + 1].startswith("harness.")):
            return "sandbox", f"running `python -m {argv[i + 1]}`"
    return None


_POPEN_INIT = subprocess.Popen.__init__


def _guarded_popen_init(self, args, *rest, **kwargs):
    if found := _command_kind(args):
        raise _violation(*found)
    _POPEN_INIT(self, args, *rest, **kwargs)


_guarded_popen_init.fast_tier_guard = True


def _guarded_html_to_pdf(html, path):
    pdf = importlib.import_module("grader.report.pdf")
    pdf.require_pdf_engine()          # a machine without Pango still says so, as it would
    raise _violation("pdf", "grader.report.pdf.html_to_pdf (WeasyPrint's write_pdf)")


_guarded_html_to_pdf.fast_tier_guard = True

# (module, attribute, marker, what): the grader's entry points. reference.train.train is not
# one: test_training runs it for a few steps on a hundred random images to test the routine
# (milliseconds); what trains for real goes through run_training (references, students). Functions are also replaced
# wherever a grader module imported them by name (`from grader.grading.retrain import
# run_training` in grader.run.jobs).
ENTRY_POINTS = [
    ("grader.sandbox.bwrap", "Sandbox.start", "sandbox", "grader.sandbox.bwrap.Sandbox.start"),
    ("grader.run.executors", "LocalExecutor._pool", "sandbox",
     "a LocalExecutor worker pool (its workers start sandboxes)"),
    ("grader.grading.retrain", "run_training", "train", "grader.grading.retrain.run_training"),
    ("grader.report.pdf", "html_to_pdf", "pdf", None),
]


ROOT = Path(__file__).resolve().parents[1]
OUR_FOLDERS = tuple(str(ROOT / name) + os.sep for name in ("grader", "reference", "tests"))


_OURS: dict[str, bool] = {}        # module name -> whether it is ours (decided once: with
#                                    torch and torchvision loaded, sys.modules holds thousands
#                                    of modules, and every fast test's guard walks it twice)


def _our_modules():
    """The grader's, the reference's and the tests' modules imported so far (not this one,
    which holds the guards themselves)."""
    for name, mod in list(sys.modules.items()):
        ours = _OURS.get(name)
        if ours is None:
            file = str(getattr(mod, "__file__", None) or "")
            ours = _OURS[name] = file.startswith(OUR_FOLDERS) and \
                Path(file).name != "conftest.py"
        if ours:
            yield mod


def _apply_guard(mp: pytest.MonkeyPatch) -> dict:
    """Replace every entry point; return {guard: original} to find stray copies afterwards."""
    replaced = {}
    for module_name, attribute, kind, what in ENTRY_POINTS:
        try:
            owner = importlib.import_module(module_name)
        except ImportError as exc:
            raise RuntimeError(f"the fast-tier guard (tests/conftest.py) cannot import "
                               f"{module_name}: {exc}; update ENTRY_POINTS") from exc
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        if not hasattr(owner, name):
            raise RuntimeError(f"the fast-tier guard (tests/conftest.py): {module_name}."
                               f"{attribute} no longer exists; update ENTRY_POINTS")
        original = getattr(owner, name)
        guard = _guarded_html_to_pdf if kind == "pdf" else _refuse(kind, what)
        mp.setattr(owner, name, guard)
        replaced[guard] = original
        if not path:                    # a function: also where it was imported by name
            for mod in _our_modules():
                if mod is not owner and getattr(mod, name, None) is original:
                    mp.setattr(mod, name, guard)
    mp.setattr(subprocess.Popen, "__init__", _guarded_popen_init)
    return replaced


def _restore_strays(replaced: dict) -> None:
    """A grader module first imported during a fast test, with `from x import f`, bound the
    guard: give it the original back so a later slow test runs for real."""
    for mod in _our_modules():
        for name, value in list(vars(mod).items()):
            if getattr(value, "fast_tier_guard", False) and value in replaced:
                setattr(mod, name, replaced[value])


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    """The guard goes on before any fixture of a fast test is set up (a module- or
    session-scoped fixture that starts a sandbox is caught too) and comes off after its
    teardown."""
    if not item.get_closest_marker("slow"):
        mp = pytest.MonkeyPatch()
        item.stash[_GUARD] = (mp, {})
        item.stash[_GUARD] = (mp, _apply_guard(mp))
    yield


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    if (guard := item.stash.get(_GUARD, None)) is not None:
        mp, replaced = guard
        mp.undo()
        _restore_strays(replaced)


_GUARD = pytest.StashKey[tuple]()
