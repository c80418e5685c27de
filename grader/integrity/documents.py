"""Where matching code is, in a student's own files and cells.

A Document is one student's code as compared: the .py files and notebook code cells joined into
one text, with the file (and cell) each stretch came from. copydetect compares filtered code
(names and strings replaced by one letter, comments and whitespace dropped). `filtered_code`
filters as copydetect's `filter_code` does and also keeps, for each filtered character, where
the token it stands for starts and ends in the text, so a match in the filtered code maps back
to exactly the tokens it covers. (copydetect's own mapping is approximate: a match's end is
carried over the comments and blank lines after it, often into the next cell, and a class name
resets the offset to the length of the name.)

`regions` turns matched stretches into Regions: one per file or cell a stretch touches, each with
the lines it covers there, so code copied across three notebook cells is three regions. The
JSON, the CSV and the PDF's side-by-side excerpts (`excerpt`) all read these regions.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Part:
    """Where a stretch of a document came from."""

    start: int                      # offset of its first character in the document
    where: str                      # "hw2.ipynb cell 4" or "models.py"


@dataclass(frozen=True)
class Document:
    """One student's (or one public source file's) code, as compared."""

    owner: str                      # the student's folder name, or "source: <file>"
    text: str                       # code cells and .py files, joined by blank lines
    parts: tuple[Part, ...]         # where each stretch of text came from, in text order
    notes: tuple[str, ...] = ()     # unreadable notebooks, skipped files

    def locate(self, offset: int) -> tuple[str, int]:
        """The file (and cell) and the 1-based line in it of a character offset."""
        index = self._part_index(offset)
        part = self.parts[index] if self.parts else Part(0, "?")
        return part.where, self.text.count("\n", part.start, offset) + 1

    def _part_index(self, offset: int) -> int:
        return max(0, bisect_right([p.start for p in self.parts], offset) - 1)


@dataclass(frozen=True)
class Region:
    """A stretch of matching code inside one file or notebook cell."""

    where: str                      # "hw2.ipynb cell 4" or "models.py"
    first_line: int                 # 1-based line of its first token in that file or cell
    last_line: int                  # line of its last token (>= first_line)
    start: int                      # its first character's offset in the document's text
    end: int                        # one past its last character

    @property
    def lines(self) -> str:
        """'hw2.ipynb cell 4 lines 3-9' (integrity.csv)."""
        if self.first_line == self.last_line:
            return f"{self.where} line {self.first_line}"
        return f"{self.where} lines {self.first_line}-{self.last_line}"


@dataclass(frozen=True)
class Filtered:
    """Code as copydetect compares it, and where each of its characters came from."""

    code: str                       # copydetect's filtered code (names V/F/O, strings S)
    starts: np.ndarray              # per character of code: offset in the text where the
    #                                 token it stands for starts (int32, non-decreasing)
    ends: np.ndarray                # ... and one past where that token ends


def filtered_code(text: str) -> Filtered:
    """copydetect's `filter_code(text, ..., "python")`, character for character, with the
    offsets in text of the token behind every filtered character."""
    from pygments import lexers, token

    variables = {token.Name, token.Name.Variable, token.Name.Attribute}
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = _first_token(text)
    for kind, value in lexers.get_lexer_by_name("python").get_tokens(text):
        start, pos = pos, _advance(text, pos, value)
        if kind in variables:
            char = "V"
        elif kind in token.Name.Function:
            char = "F"
        elif kind in token.Name.Class:
            char = "O"
        elif kind == token.Comment.Preproc or kind == token.Comment.Hashbang:
            char = "P"
        elif kind in token.Text or kind in token.Comment:
            continue
        elif kind in token.Literal.String:
            char = '"' if value in ("'", '"') else "S"
        else:
            char = value
        out.append(char)
        starts += [start] * len(char)
        ends += [pos] * len(char)
    return Filtered("".join(out), np.array(starts, dtype=np.int32),
                    np.array(ends, dtype=np.int32))


def _first_token(text: str) -> int:
    """Where pygments' first token starts: it drops a byte-order mark and leading newlines."""
    pos = 1 if text.startswith("\ufeff") else 0
    while pos < len(text) and text[pos] in "\r\n":
        pos += 1
    return pos


def _advance(text: str, pos: int, value: str) -> int:
    """The offset just past a token's value that starts at pos. pygments turns \\r\\n and \\r
    into \\n and adds a last newline: those characters are matched one by one."""
    if text.startswith(value, pos):
        return pos + len(value)
    for char in value:
        if pos >= len(text):
            break
        pos += 2 if char == "\n" and text.startswith("\r\n", pos) else 1
    return pos


def regions(doc: Document, filtered: Filtered,
            slices: tuple[tuple[int, int], ...]) -> tuple[Region, ...]:
    """Matched stretches of the filtered code (start, end indices into filtered.code, as
    copydetect's compare_files gives them) as regions of doc: a stretch is cut where a file or
    cell ends, and each piece runs from its first matched token to its last."""
    text, parts = doc.text, doc.parts
    if not parts:
        return ()
    bounds = [p.start for p in parts[1:]] + [len(text)]
    found: list[Region] = []
    for first, last in slices:
        first, last = max(0, first), min(len(filtered.code), last)
        if last <= first:
            continue
        start, end = int(filtered.starts[first]), int(filtered.ends[last - 1])
        for index in range(doc._part_index(start), len(parts)):
            part, bound = parts[index], bounds[index]
            if part.start >= end:
                break
            # the matched characters whose tokens start in this part
            lo = max(first, int(np.searchsorted(filtered.starts, part.start, "left")))
            hi = min(last, int(np.searchsorted(filtered.starts, bound, "left")))
            if lo >= hi:
                continue
            a, b = int(filtered.starts[lo]), min(bound, int(filtered.ends[hi - 1]))
            while b > a and text[b - 1].isspace():
                b -= 1
            while a < b and text[a].isspace():
                a += 1
            if b <= a:
                continue
            found.append(Region(part.where, text.count("\n", part.start, a) + 1,
                                text.count("\n", part.start, b - 1) + 1, a, b))
    return tuple(found)


# ---------------------------------------------------------------- side-by-side excerpts

@dataclass(frozen=True)
class Segment:
    text: str
    marked: bool                    # inside a matching region


@dataclass(frozen=True)
class ExcerptLine:
    where: str                      # "hw2.ipynb cell 4"
    line: int                       # 1-based within that file or cell
    segments: tuple[Segment, ...]
    gap_before: bool = False        # lines were left out just before this one
    new_part: bool = False          # the first line shown from this file or cell


def _line_segments(line: str, marked: np.ndarray) -> tuple[Segment, ...]:
    """A line as its unmarked indentation, then runs of marked and unmarked characters,
    exactly as the regions cover them."""
    body = line.lstrip()
    indent = len(line) - len(body)
    segments = [Segment(line[:indent], False)] if indent else []
    run = indent
    for pos in range(indent + 1, len(line) + 1):
        if pos == len(line) or marked[pos] != marked[run]:
            segments.append(Segment(line[run:pos], bool(marked[run])))
            run = pos
    return tuple(segments)


def excerpt(doc: Document, found: tuple[Region, ...], *, context: int = 1,
            max_lines: int = 60) -> tuple[list[ExcerptLine], int]:
    """The lines of doc that hold matching code (plus `context` lines around), each split into
    its indentation and its marked and unmarked code, at most max_lines of them; and how many
    were cut. A line is shown as matching exactly when it lies in one of the regions and holds
    code there: the regions of integrity.json, line for line."""
    text = doc.text
    marked = np.zeros(len(text) + 1, dtype=bool)
    for region in found:
        marked[max(0, region.start):min(len(text), region.end)] = True
    visible = np.array([not ch.isspace() for ch in text] + [False], dtype=bool)
    starts = [0] + [pos + 1 for pos, char in enumerate(text) if char == "\n"]
    ends = [s - 1 for s in starts[1:]] + [len(text)]
    hot = [bool((marked[s:e] & visible[s:e]).any()) for s, e in zip(starts, ends)]
    keep = set()
    for number, is_hot in enumerate(hot):
        if is_hot:
            keep.update(range(max(0, number - context), min(len(hot), number + context + 1)))
    lines: list[ExcerptLine] = []
    previous = -2
    shown = sorted(keep)
    for number in shown[:max_lines]:
        s, e = starts[number], ends[number]
        where, line = doc.locate(s)
        lines.append(ExcerptLine(where, line, _line_segments(text[s:e], marked[s:e]),
                                 gap_before=number != previous + 1 and bool(lines),
                                 new_part=not lines or lines[-1].where != where))
        previous = number
    return lines, max(0, len(shown) - max_lines)
