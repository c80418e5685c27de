"""The layout is the architecture: the import-linter contracts in pyproject.toml hold (imports run
one way, no cycle, the harness imports nothing of the grader), no private name is imported
across modules, and only entry points and the bottom layer sit directly in grader/."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import grader

PACKAGE = Path(grader.__file__).parent
ROOT = PACKAGE.parent


def lint_imports(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command;"
                           " lint_imports_command()", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_import_contracts_hold():
    run = lint_imports("--no-cache")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout
    for contract in ("grader's layers", "no import cycle", "the harness runs beside"):
        assert contract in run.stdout


@pytest.mark.parametrize("importer, imported", [
    ("grader/grading/metrics.py", "grader.run.store"),          # grading -> run: upwards
    ("grader/inputs/sources.py", "grader.sandbox.bwrap"),       # inputs -> sandbox: siblings
    ("grader/sandbox/harness/common.py", "grader.errors"),     # the harness imports no grader
])
def test_a_wrong_way_import_breaks_a_contract(tmp_path, importer, imported):
    """The contracts catch a wrong-way import: a copy of the package with one import added."""
    copy = tmp_path / "grader"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    module = tmp_path / importer
    module.write_text(module.read_text() + f"\nimport {imported}  # wrong way\n")
    run = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command;"
                          " lint_imports_command()", "--no-cache"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1, run.stdout + run.stderr
    assert "BROKEN" in run.stdout
    assert imported in run.stdout


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_private_name_is_imported_across_modules():
    """`from grader.x import _name` (or `import grader.x._y`) reaches into another module."""
    found = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("grader"):
                found += [f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{a.name}"
                          for a in node.names if a.name.startswith("_")
                          and not a.name.startswith("__")]
                if any(part.startswith("_") and not part.startswith("__")
                       for part in node.module.split(".")):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}")
    assert found == []


def test_the_top_of_the_package_holds_only_entry_points_and_the_bottom_layer():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert packages == ["cli", "grading", "inputs", "integrity", "report", "run", "sandbox",
                        "spec"]
