"""Reading what students hand in: a folder or a .zip of `.py` files and `.ipynb` notebooks.

Nothing here runs student code. Notebooks are read with nbformat; IPython magics and shell
escapes are blanked (line numbers kept) so each code cell parses as Python. A zip is unpacked
safely: members that climb out of the folder, absolute paths, links and oversized archives are
refused.
"""

from __future__ import annotations

import ast
import contextlib
import re
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.errors import InputError

MAX_UNPACKED_BYTES = 512 * 1024 * 1024   # a zip bomb stops here, not at the disk's end
MAX_MEMBERS = 5000
SKIP_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints", "__MACOSX", ".venv", "venv"}
_MAGIC = re.compile(r"^\s*(%|!|\?)|^\s*[\w.]+\s*=\s*[!%]|\?\s*$")


@dataclass(frozen=True)
class SyntaxProblem:
    """A part of a file or cell that does not parse as Python, even with IPython lines blanked."""

    where: str                      # "model.py" or "hw.ipynb cell 3"
    line: int | None                # 1-based line in the file or cell
    message: str                    # Python's message ("invalid syntax", "'(' was never closed")
    text: str = ""                  # the offending line, stripped

    def __str__(self) -> str:
        at = f", line {self.line}" if self.line else ""
        shown = f": {self.text[:80]}" if self.text else ""
        return f"{self.where}{at}: {self.message}{shown}"


@dataclass(frozen=True)
class Unit:
    """One piece of source that parses on its own: a .py file or one notebook code cell."""

    file: str                       # path relative to the submission root
    cell: int | None                # notebook cell number (1-based, code cells counted), or None
    source: str                     # the text, magics and unparsable parts blanked
    tree: ast.Module | None         # None when nothing in it parses
    error: str | None = None        # the first syntax error, if any ("line 3: invalid syntax")
    problems: tuple[SyntaxProblem, ...] = ()   # every part blanked because it does not parse

    @property
    def where(self) -> str:
        return f"{self.file} cell {self.cell}" if self.cell is not None else self.file


@dataclass(frozen=True)
class SourceFile:
    """A .py file (one unit) or a notebook (one unit per code cell, one shared namespace)."""

    path: str
    units: list[Unit] = field(default_factory=list)
    module: str | None = None       # a module a notebook cell writes (`%%writefile models.py`)

    def statements(self) -> Iterator[tuple[int, Unit, ast.stmt]]:
        """The top-level statements of the units that parse, numbered 1, 2, ... in file order
        (the order a definition or a call takes in its namespace)."""
        order = 0
        for unit in self.units:
            for stmt in unit.tree.body if unit.tree is not None else ():
                order += 1
                yield order, unit, stmt

    @property
    def module_name(self) -> str | None:
        """The name `import X` would find this file under, for .py files at any depth."""
        if self.module:
            return self.module
        p = PurePosixPath(self.path)
        return p.stem if p.suffix == ".py" else None


def unpack_zip(archive: Path, dest: Path) -> Path:
    """Unpack a .zip into dest, refusing members that would escape it."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"not a readable zip archive ({exc})", path=str(archive)) from None
    with zf:
        members = zf.infolist()
        if len(members) > MAX_MEMBERS:
            raise InputError(f"archive has {len(members):,} members; at most {MAX_MEMBERS:,} "
                             "are accepted", path=str(archive))
        total = sum(m.file_size for m in members)
        if total > MAX_UNPACKED_BYTES:
            raise InputError(f"archive unpacks to {total:,} bytes; at most "
                             f"{MAX_UNPACKED_BYTES:,} are accepted", path=str(archive))
        root = dest.resolve()
        for m in members:
            name = m.filename
            mode = m.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise InputError(f"archive member '{name}' is a symbolic link; links are refused",
                                 path=str(archive))
            target = (root / name).resolve()
            if name.startswith(("/", "\\")) or ".." in PurePosixPath(name).parts or (
                    target != root and root not in target.parents):
                raise InputError(f"archive member '{name}' would be written outside the "
                                 "submission folder; refused", path=str(archive))
        for m in members:
            zf.extract(m, root)
    entries = [p for p in dest.iterdir() if p.name not in SKIP_DIRS]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


@contextlib.contextmanager
def unpacked(submission: Path) -> Iterator[Path]:
    """The submission as a folder: a .zip is unpacked safely into a temporary one."""
    if not submission.exists():
        raise InputError("submission not found", path=str(submission))
    with tempfile.TemporaryDirectory(prefix="grader-unzip-") as tmp:
        root = unpack_zip(submission, Path(tmp)) if submission.suffix == ".zip" else submission
        if not root.is_dir():
            raise InputError("expected a folder or a .zip of a student's files", path=str(root))
        yield root


def list_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and not any(part in SKIP_DIRS for part in p.parts))


def blank_magics(source: str) -> str:
    """Blank IPython-only lines (%magic, !shell, x = !cmd, obj?) keeping line numbers.

    A shell or magic line that ends with a backslash continues on the next line (Colab's
    `!wget URL \\` then `-O file`): the continuation lines are blanked with it. A cell magic
    (%%time, %%capture ...) on the first line blanks only that line: the body of the common
    ones is Python. Other cell magics (%%bash, %%writefile) blank the whole cell.
    """
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split()[0] if lines[0].strip() != "%%" else ""
        if magic not in ("time", "timeit", "capture", "prun"):
            return "\n".join("" for _ in lines)
        lines[0] = ""
    out, continued = [], False
    for line in lines:
        if continued or (_MAGIC.search(line) and not _parses(line)):
            continued = line.rstrip().endswith("\\")
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def _parses(line: str) -> bool:
    try:
        ast.parse(line.strip())
        return True
    except SyntaxError:
        return False


def _statement_starts(lines: list[str]) -> list[int]:
    """0-based indexes of lines that may begin a top-level statement (no indentation)."""
    starts = []
    for i, line in enumerate(lines):
        if line and not line[0].isspace() and not line.startswith(("#", ")", "]", "}")) and (
                not re.match(r"(else|elif|except|finally)\b", line)):
            if not (starts and starts[-1] == i - 1 and lines[i - 1].startswith("@")):
                starts.append(i)
    return starts


def _parse_recovering(where: str, source: str) -> tuple[str, ast.Module | None,
                                                         tuple[SyntaxProblem, ...]]:
    """Parse source; when a part does not parse, blank that top-level statement (its lines
    stay, empty, so line numbers hold), record the problem and parse the rest, like a
    notebook whose broken cell does not stop the others."""
    problems: list[SyntaxProblem] = []
    lines = source.splitlines()
    for _ in range(100):
        try:
            tree = ast.parse("\n".join(lines))
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            text = lines[line - 1].strip() if line and 0 < line <= len(lines) else ""
            problems.append(SyntaxProblem(where, line, str(getattr(exc, "msg", exc)), text))
            if not line or not any(lines):
                return "\n".join(lines), None, tuple(problems)
            starts = _statement_starts(lines)
            begin = max([s for s in starts if s <= line - 1], default=0)
            end = min([s for s in starts if s > line - 1], default=len(lines))
            if not any(lines[begin:end]):
                return "\n".join(lines), None, tuple(problems)
            lines[begin:end] = [""] * (end - begin)
            continue
        has_code = bool(tree.body)
        return "\n".join(lines), (tree if has_code or not problems else None), tuple(problems)
    return "\n".join(lines), None, tuple(problems)


def parse_unit(file: str, cell: int | None, source: str, *, ipython: bool = True) -> Unit:
    """One unit; IPython lines are blanked in cells, and in .py files that do not parse as
    they are (a Colab export keeps `!pip`, `%matplotlib` and `!wget ... \\` lines)."""
    where = f"{file} cell {cell}" if cell is not None else file
    try:        # what parses as it is has no IPython lines (a `% (a, b)` continuation line
        return Unit(file, cell, source, ast.parse(source))   # of string formatting is not one)
    except (SyntaxError, ValueError):
        pass
    text, tree, problems = _parse_recovering(where, blank_magics(source))
    error = None
    if problems:
        first = problems[0]
        error = f"line {first.line}: {first.message}" if first.line else first.message
    return Unit(file, cell, text, tree, error, problems)


_WRITEFILE = re.compile(r"\s*%%writefile\s+(?:-a\s+)?['\"]?([\w./-]+\.py)['\"]?\s*$")


def read_notebook(path: Path, rel: str) -> SourceFile:
    return _read_notebook(path, rel)[0]


def _read_notebook(path: Path, rel: str) -> tuple[SourceFile, list[SourceFile]]:
    """The notebook (one unit per code cell) and the modules its cells write with
    `%%writefile models.py`, which later cells import (`from models import Net`)."""
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types for bad files
        raise InputError(f"not a readable Jupyter notebook: {str(exc).splitlines()[0][:200]} "
                         "(expected the JSON notebook format, nbformat 4)", path=rel) from None
    units, written, number = [], [], 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        number += 1
        source = cell.get("source", "")
        units.append(parse_unit(rel, number, source))
        first, _, body = source.partition("\n")
        if match := _WRITEFILE.match(first):
            module = PurePosixPath(match[1]).stem
            written.append(SourceFile(rel, [parse_unit(rel, number, "\n" + body, ipython=False)],
                                      module=module))
    return SourceFile(rel, units), written


def read_sources(root: Path) -> tuple[list[SourceFile], list[str]]:
    """Every .py and .ipynb under root, and warnings (unreadable notebooks, syntax errors)."""
    files, warnings = [], []
    for rel in list_files(root):
        path = root / rel
        if rel.endswith(".py"):
            text = path.read_bytes().decode("utf-8", errors="replace")
            files.append(SourceFile(rel, [parse_unit(rel, None, text, ipython=False)]))
        elif rel.endswith(".ipynb"):
            try:
                notebook, written = _read_notebook(path, rel)
            except InputError as exc:
                warnings.append(str(exc))
                continue
            real = {PurePosixPath(f).stem for f in list_files(root) if f.endswith(".py")}
            files += [w for w in written if w.module not in real]   # a real file wins
            files.append(notebook)
        else:
            continue
        for unit in files[-1].units:
            for problem in unit.problems:
                warnings.append(f"{problem}: does not parse; that part was skipped")
    return files, warnings


def syntax_problems(files: list[SourceFile]) -> list[SyntaxProblem]:
    """Every part of the submission's code that does not parse, in file order."""
    return [p for f in files for u in f.units for p in u.problems]
