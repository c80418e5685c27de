"""Validate a student's predictions.csv, read the instructor's held-out labels file, and split
the held-out set into a public and a private part (the spec's [held_out]).

Both files have the same format (PredictionsSpec): a header naming the id and label columns
(ECE 661's `Id,Label`; case, surrounding spaces and the spec's aliases do not matter), then one
row per held-out image. For localization (PredictionsSpec.box_columns) a row also holds the
predicted box, x1, y1, x2, y2 scaled to 0..1 (ECE 60146 HW5's `Id,Label,x1,y1,x2,y2`); a value
outside 0..1, or x2 < x1 or y2 < y1 (x, y, width, height is named when the faults look like it),
is a fault. A file that is too large, binary, or not UTF-8 is refused before it is parsed (a
too-large file without being read at all). Every fault names its 1-based line (None: the whole
file) and what was expected; the list is capped (MAX_ERRORS, at most MAX_PER_KIND of one kind)
and ends with one summary line, so a 10,000-row garbage file gives a short report that still
shows each kind of fault.

Lines are split by hand ("\\n", "\\r\\n" or a lone "\\r") rather than by csv.reader over the
file, so line numbers are exact even when a quote is left open; only lines containing a quote
go through the csv module.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import hashlib
import math
import os
import re
import stat
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from grader.errors import InputError
from grader.grading.boxes import BOX_FORMAT, box_problem, valid_as_xywh
from grader.results import PredictionError, PredictionsReport
from grader.spec import PredictionsSpec

MAX_ERRORS = 20         # faults listed before the summary line: a screenful
MAX_PER_KIND = 5        # so one repeated fault cannot hide the other kinds
SNIFF_BYTES = 8192      # how much is checked for NUL bytes / UTF-8 before decoding it all
SHOW_CHARS = 40         # longest excerpt of file content echoed back in a message

# Names students use for CIFAR-10 classes (torchvision's vs DLStudio's): any name of a group
# is accepted for the class whose spec name is in that group.
ALIASES = (("airplane", "plane", "aeroplane"), ("automobile", "car"))

_INT = re.compile(r"[+-]?[0-9]+")


class _Refused(Exception):
    """The file cannot be parsed at all (too large, binary, not UTF-8)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def validate_predictions(path: str | os.PathLike, spec: PredictionsSpec,
                         class_names: Sequence[str], *,
                         follow_symlinks: bool = False) -> PredictionsReport:
    """Check a predictions.csv against the spec; `labels` holds label indexes in id order.

    A symbolic link is refused unless follow_symlinks (a student's link to an instructor's
    file would otherwise have its first line echoed into the student's report).
    """
    report, _ = _validate(Path(path), spec, class_names, follow_symlinks)
    return report


def read_labels(path: str | os.PathLike, spec: PredictionsSpec,
                class_names: Sequence[str]) -> np.ndarray:
    """The held-out labels (int64, in id order); InputError names the file and first fault.
    Under box columns the file may leave them out (read_label_boxes reads them when it has
    them, and evaluate asks for them); when it has them they are checked here too."""
    if spec.box_columns and not _has_boxes(Path(path)):
        spec = dataclasses.replace(spec, box_columns=())
    report, count = _validate(Path(path), spec, class_names, follow_symlinks=True)
    if not report.present:
        raise InputError(f"held-out labels file not found; expected a CSV file with a header "
                         f"'{expected_header(spec)}' and {spec.rows:,} rows "
                         "(`grader data split` writes it)", path=str(path))
    if not report.valid:
        first = report.errors[0]
        more = ""
        if count > 1:
            more = f" ({count - 1:,} more fault{'s' if count > 2 else ''} after it)"
        raise InputError(f"malformed held-out labels file: {first.message}{more}",
                         path=str(path), line=first.line)
    return np.asarray(report.labels, dtype=np.int64)


def read_label_boxes(path: str | os.PathLike, spec: PredictionsSpec,
                     class_names: Sequence[str]) -> np.ndarray | None:
    """The held-out boxes of a labels file with box columns (float64 [N, 4], in id order),
    read after read_labels accepted the file; None when it has no box columns."""
    if not spec.box_columns or not _has_boxes(Path(path)):
        return None
    report, _ = _validate(Path(path), spec, class_names, follow_symlinks=True)
    return np.asarray(report.boxes, dtype=np.float64) if report.valid and report.boxes \
        else None


def public_mask(images: int, fraction: float, seed: int) -> np.ndarray:
    """Which of `images` held-out images (in id order) are public under a public/private split:
    the first round(fraction * images) of a fixed permutation of the positions by `seed`. Each
    position is ordered by a hash of (seed, position), so the split depends on nothing else (no
    library's random stream, which may change between versions): it is the same for every
    student and every run. Scores on the first N images only (`[training] eval_images`) use
    this mask's first N entries, so an image is public or private wherever it is scored."""
    if images < 0 or not 0.0 <= fraction <= 1.0:
        raise ValueError(f"public_mask needs images >= 0 and a fraction 0..1; got {images}, "
                         f"{fraction}")
    keys = [hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest()
            for i in range(images)]
    order = sorted(range(images), key=keys.__getitem__)
    mask = np.zeros(images, dtype=bool)
    mask[order[:round(fraction * images)]] = True
    return mask


def expected_header(spec: PredictionsSpec) -> str:
    """The header the spec asks for: 'Id,Label' or 'Id,Label,x1,y1,x2,y2'."""
    return ",".join((spec.id_column, spec.label_column, *spec.box_columns))


def _validate(path: Path, spec: PredictionsSpec, class_names: Sequence[str],
              follow_symlinks: bool) -> tuple[PredictionsReport, int]:
    expected = f"a CSV file with a header '{expected_header(spec)}' and {spec.rows:,} rows"
    if not path.exists() and not path.is_symlink():
        error = PredictionError(None, f"{path.name} not found; expected {expected}")
        return PredictionsReport(present=False, valid=False, errors=[error]), 1
    try:
        text = _read_text(path, spec, follow_symlinks)
    except _Refused as refused:
        error = PredictionError(refused.line, refused.message)
        return PredictionsReport(present=True, valid=False, errors=[error]), 1
    parser = _Parser(spec, class_names)
    report, count = parser.run(text)
    return dataclasses.replace(report, faulty_lines=len(parser.faults.lines)), count


def _read_text(path: Path, spec: PredictionsSpec, follow_symlinks: bool) -> str:
    """The decoded text, BOM removed. Refuses a too-large file before opening it, and a binary
    or non-UTF-8 one after reading only its first SNIFF_BYTES."""
    if path.is_symlink() and not follow_symlinks:
        raise _Refused("is a symbolic link; expected a regular file")
    if not path.is_file():
        raise _Refused("is not a regular file (a folder or device); expected a CSV file")
    _check_size(path.stat().st_size, spec)
    flags = os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW)   # a FIFO must not hang
    try:
        with open(path, "rb", opener=lambda name, mode: os.open(name, mode | flags)) as fh:
            info = os.fstat(fh.fileno())            # what was opened, not what was checked
            if not stat.S_ISREG(info.st_mode):
                raise _Refused("is not a regular file; expected a CSV file")
            _check_size(info.st_size, spec)
            head = fh.read(SNIFF_BYTES)
            _sniff(head)
            data = head + fh.read(spec.max_bytes + 1 - len(head))
    except OSError as exc:
        raise _Refused(f"cannot read the file: {exc.strerror}") from None
    if len(data) > spec.max_bytes:   # grew since stat
        raise _Refused(f"file is larger than the {_mib(spec.max_bytes)} limit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(data, exc) from None
    return text.removeprefix("\ufeff")


def _check_size(size: int, spec: PredictionsSpec) -> None:
    if size > spec.max_bytes:
        raise _Refused(f"file is {size:,} bytes ({_mib(size)}), refused without reading it; "
                       f"expected at most {_mib(spec.max_bytes)} for {spec.rows:,} rows")
    if size == 0:
        raise _Refused(f"file is empty; expected a header '{expected_header(spec)}' and "
                       f"{spec.rows:,} rows")


def _sniff(head: bytes) -> None:
    """Refuse what the first bytes show is not UTF-8 text."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _Refused("file is UTF-16 text; expected UTF-8 (save or write it as UTF-8)")
    if head.startswith(b"PK\x03\x04"):
        raise _Refused("file is a ZIP archive (an Excel workbook?); expected a UTF-8 CSV text "
                       "file (save it as CSV)")
    if b"\x00" in head:
        line = head.count(b"\n", 0, head.index(b"\x00")) + 1
        raise _Refused("binary file (NUL bytes); expected a UTF-8 CSV text file", line)
    try:   # not final: the head may end inside a multi-byte character
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise _not_utf8(head, exc) from None


def _not_utf8(data: bytes, exc: UnicodeDecodeError) -> _Refused:
    line = data.count(b"\n", 0, exc.start) + 1
    return _Refused(f"not UTF-8 text (byte 0x{data[exc.start]:02x}); expected a UTF-8 CSV text "
                    "file", line)


class _Faults:
    """Collects faults, keeping the first of each kind and counting the rest."""

    def __init__(self) -> None:
        self.shown: list[tuple[int, PredictionError]] = []
        self.counts: Counter[str] = Counter()
        self.hidden: Counter[str] = Counter()
        self.lines: set[int] = set()        # lines with a fault (whole-file faults have none)

    def add(self, kind: str, line: int | None, message: str) -> None:
        self.counts[kind] += 1
        if line is not None:
            self.lines.add(line)
        if self.counts[kind] <= MAX_PER_KIND and len(self.shown) < MAX_ERRORS:
            self.shown.append((line or 0, PredictionError(line, message)))
        else:
            self.hidden[kind] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def errors(self) -> list[PredictionError]:
        """Whole-file faults first, then by line, then one summary line for the rest."""
        errors = [e for _, e in sorted(self.shown, key=lambda pair: pair[0])]
        if self.hidden:
            kinds = "; ".join(f"{kind}: {n:,}" for kind, n in self.hidden.most_common())
            errors.append(PredictionError(
                None, f"{sum(self.hidden.values()):,} more faults not shown ({kinds})"))
        return errors


class _Parser:
    def __init__(self, spec: PredictionsSpec, class_names: Sequence[str]) -> None:
        self.spec = spec
        self.num_classes = len(class_names)
        self.faults = _Faults()
        self.indexes = {str(i): i for i in range(self.num_classes)}
        self.names = {name.lower(): i for i, name in enumerate(class_names)}
        for group in ALIASES:
            owner = next((self.names[n] for n in group if n in self.names), None)
            if owner is not None:
                self.names.update({n: owner for n in group if n not in self.names})
        shown = ", ".join(class_names[:10]) + (
            f", ... ({len(class_names)} names)" if len(class_names) > 10 else "")
        self.expect_index = f"a class index 0 to {self.num_classes - 1}"
        self.expect_name = f"a class name ({shown})"
        self.last_id = spec.first_id + spec.rows - 1
        self.columns = expected_header(spec)     # 'Id,Label' or 'Id,Label,x1,y1,x2,y2'
        self.width = 2 + len(spec.box_columns)    # fields per row
        self.flipped = self.as_xywh = 0           # boxes with x2 < x1 or y2 < y1; of them, valid
        #                                           as x, y, width, height

    def run(self, text: str) -> tuple[PredictionsReport, int]:
        spec, faults = self.spec, self.faults
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines:
            faults.add("empty", None, f"file has only blank lines; expected a header "
                                      f"'{self.columns}' and {spec.rows:,} rows")
            return PredictionsReport(present=True, valid=False, errors=faults.errors()), 1
        start = 0 if self.header(lines[0]) else 1

        seen_on = [0] * spec.rows          # line where each id was first seen (0: not yet)
        labels = [-1] * spec.rows
        boxes: list[list[float] | None] = [None] * spec.rows
        rows = 0
        for number in range(start + 1, len(lines) + 1):
            line = lines[number - 1]
            if not line.strip():
                faults.add("blank line", number, f"blank line; expected '{self.columns}' "
                           "values (blank lines are allowed only at the end)")
                continue
            rows += 1
            fields = _fields(line)
            if len(fields) != self.width:
                hint = " (no box)" if len(fields) == 2 < self.width else ""
                faults.add("wrong number of fields", number,
                           f"{len(fields)} field{'s' if len(fields) != 1 else ''} "
                           f"({_show(line)}); expected {self.width}: {self.columns}{hint}")
                continue
            slot = self.id_slot(fields[0], number, seen_on)
            label = self.label(fields[1], number)
            box = self.box(fields[2:], number) if self.width > 2 else []
            if slot is not None and label is not None and box is not None:
                labels[slot], boxes[slot] = label, box

        if rows != spec.rows:
            got = "no data rows" if rows == 0 else f"{rows:,} data rows"
            faults.add("row count", None, f"{got}; expected {spec.rows:,} (one per held-out "
                                          f"image, ids {spec.first_id} to {self.last_id})")
        missing = [spec.first_id + i for i, line in enumerate(seen_on) if not line]
        if missing and len(missing) < spec.rows:   # none seen: the id faults already say why
            faults.add("missing ids", None, _missing(missing) + f"; expected each id "
                       f"{spec.first_id} to {self.last_id} exactly once")
        if 2 * self.as_xywh > self.flipped > 0:
            faults.add("boxes as x, y, width, height", None,
                       f"{self.flipped:,} box{'es' if self.flipped > 1 else ''} with x2 < x1 or "
                       f"y2 < y1: these look like x, y, width, height; the course's format is "
                       f"{BOX_FORMAT}")
        valid = faults.total == 0
        report = PredictionsReport(present=True, valid=valid, rows=rows,
                                   errors=faults.errors(), labels=labels if valid else None,
                                   boxes=boxes if valid and self.width > 2 else None)
        return report, faults.total

    def header(self, line: str) -> bool:
        """Check the header; True when the first line looks like data (header missing).

        Column names match without regard to case or surrounding spaces (`Id,Label`,
        ` id , label `), and the spec's aliases count as its names; messages name only the
        spec's own header, the format the course gave its students."""
        spec = self.spec
        fields = [_column(f) for f in _fields(line)]
        ids = {_column(n) for n in (spec.id_column, *spec.id_aliases)}
        labels = {_column(n) for n in (spec.label_column, *spec.label_aliases)}
        box = [_column(n) for n in spec.box_columns]
        named = len(fields) >= 2 and fields[0] in ids and fields[1] in labels
        if named and fields[2:] == box:
            return False
        looks_like_data = len(fields) == self.width and bool(_INT.fullmatch(fields[0]))
        hint = ""
        if looks_like_data:
            hint = " (the first line looks like data: the header line is missing)"
        elif len(fields) == 1 and (";" in line or "\t" in line):
            hint = " (fields must be separated by commas)"
        elif len(fields) == self.width + 1 and fields[1] in ids and fields[2] in labels:
            hint = " (an extra first column: write it with to_csv(..., index=False))"
        elif len(fields) == 2 and fields[0] in labels and fields[1] in ids:
            hint = " (the columns are in the wrong order)"
        elif named and box and not fields[2:]:
            hint = f" (the box columns {','.join(spec.box_columns)} are missing)"
        elif named and box and fields[2:4] == ["x", "y"]:
            hint = f" (x, y, width, height? the course's format is {BOX_FORMAT})"
        self.faults.add("header", 1, f"header is {_show(line)}; expected "
                                     f"'{self.columns}'{hint}")
        return looks_like_data

    def box(self, fields: list[str], number: int) -> list[float] | None:
        """The row's box (x1, y1, x2, y2 in 0..1), or None (fault recorded)."""
        names = self.spec.box_columns
        values = [_float(text) for text in fields]
        if None in values:
            bad = values.index(None)
            self.faults.add("box value not a number", number, f"{names[bad]} "
                            f"{_show(fields[bad])} is not a number; expected {BOX_FORMAT}")
            return None
        problem = box_problem(values, names)
        if problem is None:
            return [min(max(v, 0.0), 1.0) for v in values]
        kind, message = problem
        if kind == "box corners out of order":
            self.flipped += 1
            self.as_xywh += valid_as_xywh(values)
        self.faults.add(kind, number, message)
        return None

    def id_slot(self, text: str, number: int, seen_on: list[int]) -> int | None:
        """The id's position in id order, or None (fault recorded)."""
        spec = self.spec
        expected = f"an integer {spec.first_id} to {self.last_id}"
        if not _INT.fullmatch(text):
            self.faults.add("id not an integer", number,
                            f"id {_show(text)} is not an integer; expected {expected}")
            return None
        slot = _int(text) - spec.first_id
        if not 0 <= slot < spec.rows:
            self.faults.add("id out of range", number,
                            f"id {_number(text)} is out of range; expected {expected}")
            return None
        if seen_on[slot]:
            self.faults.add("duplicate id", number, f"id {int(text)} appears again (first on "
                                                    f"line {seen_on[slot]}); expected each id "
                                                    "exactly once")
            return None
        seen_on[slot] = number
        return slot

    def label(self, text: str, number: int) -> int | None:
        """The label's class index, or None (fault recorded)."""
        mode = self.spec.labels
        if mode != "name":
            if text in self.indexes:
                return self.indexes[text]
            if _INT.fullmatch(text):
                value = _int(text)
                if 0 <= value < self.num_classes:
                    return value
                self.faults.add("label out of range", number, f"label {_number(text)} is out "
                                                              f"of range; expected "
                                                              f"{self.expect_index}")
                return None
        if mode != "index":
            index = self.names.get(text.lower())
            if index is not None:
                return index
        if mode == "index":
            hint = " (this assignment wants indexes, not names)" \
                if text.lower() in self.names else ""
            self.faults.add("label not an integer", number, f"label {_show(text)} is not an "
                                                            f"integer; expected "
                                                            f"{self.expect_index}{hint}")
        elif mode == "name":
            self.faults.add("label not a class name", number,
                            f"label {_show(text)} is not a class name; expected "
                            f"{self.expect_name}")
        else:
            self.faults.add("label not a class", number,
                            f"label {_show(text)} is neither a class index nor a class name; "
                            f"expected {self.expect_index} or {self.expect_name}")
        return None


def _has_boxes(path: Path) -> bool:
    """Whether a labels file's first line has more than the id and label columns."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(4096).decode("utf-8", "replace")
    except OSError:
        return True                 # _validate says what is wrong with it
    return len(_fields(first.removeprefix("\ufeff"))) > 2


def _float(text: str) -> float | None:
    """A finite number, or None."""
    try:
        value = float(text) if len(text) <= 40 else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _fields(line: str) -> list[str]:
    if '"' in line:
        fields = next(csv.reader([line]), [])
    else:
        fields = line.split(",")
    return [f.strip() for f in fields]


def _column(name: str) -> str:
    """A column name as compared: case and surrounding spaces (and a stray BOM) ignored."""
    return name.strip().lstrip("\ufeff").strip().casefold()


def _int(digits: str) -> int:
    """An integer from _INT-matched text; -1 (out of every range) for absurdly long ones, which
    int() would refuse (Python limits conversions to 4,300 digits)."""
    return int(digits) if len(digits) <= 20 else -1


def _number(digits: str) -> str:
    """An out-of-range integer for a message: as a number, or quoted and shortened if long."""
    return str(int(digits)) if len(digits) <= 20 else _show(digits)


def _show(text: str) -> str:
    """File content quoted for a message, shortened and with control characters escaped."""
    if len(text) > SHOW_CHARS:
        text = text[:SHOW_CHARS - 3] + "..."
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return f"'{text}'"


def _missing(ids: list[int]) -> str:
    """'id 17 is missing', 'ids 17 and 203 are missing', 'ids 17, 203 and 9,780 more ...'."""
    if len(ids) == 1:
        return f"id {ids[0]} is missing"
    if len(ids) <= 5:
        return f"ids {', '.join(map(str, ids[:-1]))} and {ids[-1]} are missing"
    return f"ids {', '.join(map(str, ids[:5]))} and {len(ids) - 5:,} more are missing"


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB".replace(".0 MiB", " MiB")
