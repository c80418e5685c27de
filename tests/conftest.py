"""Shared fixtures: submissions written into tmp_path, and the `gpu` marker."""

from __future__ import annotations

import importlib.abc
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config, items):
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
    import nbformat

    def make(path: Path, cells: list[str], markdown_first: bool = True) -> Path:
        nb = nbformat.v4.new_notebook()
        if markdown_first:
            nb.cells.append(nbformat.v4.new_markdown_cell("# Homework"))
        nb.cells += [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(path))
        return path

    return make


SIMPLENN = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class SimpleNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 5)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.fc1 = nn.Linear(16 * 6 * 6, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)
'''


@pytest.fixture
def simplenn_source() -> str:
    return SIMPLENN


@pytest.fixture
def one_model_spec(tmp_path):
    """A small assignment with one SimpleNN model, optional predictions section."""

    def make(extra: str = "", params: int = 82030, wall: int = 60) -> Path:
        path = tmp_path / "one-model.toml"
        path.write_text(textwrap.dedent(f"""
            [assignment]
            course = "Test course"
            title = "One model"

            [limits]
            wall_seconds = {wall}
            memory_mb = 2048

            [[models]]
            key = "simplenn"
            title = "SimpleNN"
            names = ["SimpleNN"]
            params = {params}
            reference = "simplenn"
            weighted_layers = 5

            [[rubric]]
            id = "model"
            kind = "check"
            checks = ["simplenn.*"]
            points = 10
        """) + textwrap.dedent(extra), encoding="utf-8")
        return path

    return make


def simplenn_spec(head: str, *, accuracy_zero: float = 0.3, accuracy_points: int = 10,
                  predictions: bool = True) -> str:
    """A small class-scale spec: `head` (its [assignment], [dataset], [training], [limits] and
    [predictions] tables), then the one SimpleNN model graded by a check item, its accuracy
    relative to the reference and, with predictions, predictions.csv."""
    tail = f"""
[[models]]
key = "simplenn"
title = "SimpleNN"
names = ["SimpleNN"]
params = 82030
reference = "simplenn"

[[rubric]]
id = "model"
kind = "check"
checks = ["simplenn.*"]
points = 10

[[rubric]]
id = "accuracy"
kind = "accuracy"
model = "simplenn"
basis = "reference"
full = 0.9
zero = {accuracy_zero}
points = {accuracy_points}
"""
    if predictions:
        tail += """
[[rubric]]
id = "predictions"
kind = "predictions"
full = 0.9
zero = 0.5
points = 10
"""
    return head + tail


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
