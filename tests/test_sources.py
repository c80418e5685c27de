"""Reading submissions: notebooks (magics, bad cells, malformed files) and safe zips."""

from __future__ import annotations

import stat
import zipfile

import pytest

from grader.errors import InputError
from grader.sources import blank_magics, read_notebook, read_sources, unpack_zip


@pytest.mark.parametrize("source, kept", [
    ("%matplotlib inline\nimport torch", "\nimport torch"),
    ("!pip install torchsummary\nx = 1", "\nx = 1"),
    ("files = !ls\nx = 1", "\nx = 1"),
    ("model?\nx = 1", "\nx = 1"),
    ("%%time\nx = 1", "\nx = 1"),
    ("%%bash\necho hi", "\n"),
    ("y = a % b", "y = a % b"),          # the modulo operator is Python, not a magic
])
def test_blank_magics_keeps_python_and_line_numbers(source, kept):
    out = blank_magics(source)
    assert out == kept
    assert out.count("\n") == source.count("\n")


def test_notebook_cells_parse_after_magics(tmp_path, make_notebook):
    nb = make_notebook(tmp_path / "hw.ipynb", [
        "!pip install torchsummary\n%matplotlib inline\nimport torch.nn as nn",
        "from google.colab import drive\ndrive.mount('/content/drive')",
        "def broken(:\n    pass",
        "class Net(nn.Module):\n    pass",
    ])
    f = read_notebook(nb, "hw.ipynb")
    assert [u.cell for u in f.units] == [1, 2, 3, 4]
    assert f.units[0].tree is not None and f.units[3].tree is not None
    assert f.units[2].tree is None and "line 1" in f.units[2].error
    assert f.units[3].where == "hw.ipynb cell 4"


def test_malformed_notebook_is_a_clear_error(tmp_path):
    bad = tmp_path / "hw.ipynb"
    bad.write_text('{"cells": [ this is not json', encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_notebook(bad, "hw.ipynb")
    assert "hw.ipynb" in str(info.value) and "notebook" in str(info.value)
    files, warnings = read_sources(tmp_path)
    assert files == [] and "hw.ipynb" in warnings[0]


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            if mode:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_zip_unpacks_into_its_folder(tmp_path):
    archive = _zip(tmp_path / "alice.zip", [("alice/models.py", "x = 1\n", 0),
                                            ("alice/predictions.csv", "id,label\n", 0)])
    dest = tmp_path / "out"
    dest.mkdir()
    root = unpack_zip(archive, dest)
    assert root == dest / "alice" and (root / "models.py").read_text() == "x = 1\n"


@pytest.mark.parametrize("name, mode, message", [
    ("../evil.py", 0, "outside the submission folder"),
    ("a/../../evil.py", 0, "outside the submission folder"),
    ("/etc/evil.py", 0, "outside the submission folder"),
    ("link", stat.S_IFLNK | 0o777, "symbolic link"),
])
def test_zip_members_that_escape_are_refused(tmp_path, name, mode, message):
    archive = _zip(tmp_path / "bad.zip", [("ok.py", "x = 1\n", 0), (name, "/etc/passwd", mode)])
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(InputError) as info:
        unpack_zip(archive, dest)
    assert message in str(info.value) and "bad.zip" in str(info.value)
    assert not (tmp_path / "evil.py").exists()
    assert list(dest.iterdir()) == []        # nothing unpacked before the refusal


def test_not_a_zip(tmp_path):
    bad = tmp_path / "hw.zip"
    bad.write_bytes(b"PK\x03\x04 definitely truncated")
    with pytest.raises(InputError, match="not a readable zip"):
        unpack_zip(bad, tmp_path)


def test_string_formatting_continuation_is_not_a_magic(tmp_path, make_notebook):
    """The course template's training cell continues a print on a line starting with `% (`:
    a cell that parses as Python is read as it is, with no syntax problem reported."""
    cell = ('for i in range(2):\n    print("loss: %.4f, acc: %.4f"\n'
            '          % (0.1 * i, 0.2))\n')
    nb = make_notebook(tmp_path / "simplenn-cifar10.ipynb", ["import torch", cell])
    source = read_notebook(nb, "simplenn-cifar10.ipynb")
    assert all(unit.error is None and unit.tree is not None for unit in source.units)
    assert "% (0.1 * i, 0.2)" in source.units[-1].source
