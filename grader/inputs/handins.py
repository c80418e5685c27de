"""A class's hand-ins on disk: which paths are submissions, and the name each student's result
takes."""

from __future__ import annotations

from pathlib import Path

from grader.errors import InputError
from grader.inputs.sources import SKIP_DIRS


def find_submissions(path: Path) -> list[Path]:
    """One submission (a .zip, or a folder holding .py/.ipynb files) or a class folder with one
    subfolder or .zip per student."""
    path = Path(path)
    if not path.exists():
        raise InputError("submission or class folder not found", path=str(path))
    if path.suffix == ".zip" or any(p.suffix in (".py", ".ipynb", ".csv") for p in path.iterdir()
                                    if p.is_file()):
        return [path]
    found = sorted(p for p in path.iterdir() if (p.is_dir() and p.name not in SKIP_DIRS
                                                  and not p.name.startswith("."))
                   or p.suffix == ".zip")
    if not found:
        raise InputError("no submissions found: expected .py/.ipynb files or one subfolder "
                         "(or .zip) per student", path=str(path))
    return found


def student_names(submissions: list[Path]) -> dict[Path, str]:
    """Result names: a folder's name, a .zip's stem; when a folder `alice/` and `alice.zip`
    are both handed in, the zip keeps its full name (`alice.zip`) so neither result
    overwrites the other."""
    stems = [p.stem if p.suffix == ".zip" else p.name for p in submissions]
    return {p: (p.name if p.suffix == ".zip" and stems.count(s) > 1 else s)
            for p, s in zip(submissions, stems)}
