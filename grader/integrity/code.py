"""Copied code: every pair of students (and every student against known public sources) compared
with copydetect's winnowing over Pygments tokens.

copydetect replaces every variable, function and class name by one letter and every string
literal by another, and drops comments and whitespace, before it hashes k-grams of what is
left: renamed variables, changed comments and reformatting do not hide a copy, and winnowing
keeps the comparison of a 300-student class to seconds. Reordered functions still share their
k-grams.

What counts as a student's code: the `.py` files and the notebook code cells (outputs never),
read by grader.inputs.sources (IPython magics and `!shell` lines blanked), joined into one document.
Starter code (the course's template, `--starter`, the spec's `[integrity] starter`) is
copydetect boilerplate: its k-grams are removed from every document before comparing, so
filling in the template is never a match. k-grams found in many students' code (more than
`common_max` of them, a tenth of the class between 3 and 10: the same import block, the usual
training loop) are removed as well, as MOSS does with passages in more than 10 files (its -m
default): code that many students share says nothing about any one pair.

copydetect hashes k-grams with Python's `hash()`, whose salt differs between processes; the
fingerprints here hash them with a fixed polynomial instead (_kgram_hashes), so a fingerprint
made in any worker process, or any run, compares with any other.

Matches are found in the filtered code and mapped back to the students' files and cells, one
region per file or cell, by grader.integrity.documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.grading.handin_checks import template_units
from grader.inputs.sources import SourceFile, read_sources
from grader.integrity.documents import Document, Part, Region, filtered_code, regions
from grader.integrity.parallel import parallel_map

K = 25                      # copydetect's noise threshold: matches shorter than 25 filtered
#                             characters (about one line once names are letters) are noise
WINDOW = 1                  # winnow window (guarantee threshold - noise threshold + 1): every
#                             k-gram kept, as copydetect's defaults do
KGRAM_BASE = np.uint64(0x100000001B3)   # the k-gram hash's multiplier (FNV-1's 64-bit
#                             prime: odd, so no character's contribution is ever shifted out)
MAX_FILE_BYTES = 400_000    # a .py this large is a vendored library, not homework: skipped
MIN_MATCH_CHARS = 120       # filtered characters two documents must share before a similarity
#                             counts at all (about four lines): tiny documents do not flag


@dataclass(frozen=True)
class CodeMatch:
    """How much of two documents matches, after starter and class-common code are removed."""

    a: str
    b: str
    similarity_a: float             # share of a's fingerprinted code found in b (0..1)
    similarity_b: float             # share of b's found in a
    matched_chars: int              # filtered characters of a in matching regions
    regions_a: tuple[Region, ...] = ()   # matching code in a's files and cells, one region
    regions_b: tuple[Region, ...] = ()   # per file or cell a matching stretch touches

    @property
    def similarity(self) -> float:
        return max(self.similarity_a, self.similarity_b)


def read_document(root: Path, owner: str, starter: frozenset[tuple] = frozenset()) -> Document:
    """A submission's (or a sources folder's) code as one document. Never runs anything.
    starter: the course's starter code (grader.grading.handin_checks.starter_signatures); a
    file or cell of it left unchanged that does not parse is noted as the template's."""
    if root.is_file():
        files, warnings = _read_single(root)
    else:
        files, warnings = read_sources(root)
    pieces: list[str] = []
    parts: list[Part] = []
    notes = _template_notes(list(warnings), files, template_units(starter, files))
    offset = 0
    for source in files:
        for unit in source.units:
            if len(unit.source) > MAX_FILE_BYTES:
                notes.append(f"{unit.where}: {len(unit.source):,} characters, skipped "
                             f"(more than {MAX_FILE_BYTES:,}: a library, not homework)")
                continue
            if not unit.source.strip():
                continue
            parts.append(Part(offset, unit.where))
            pieces.append(unit.source)
            offset += len(unit.source) + 2
    return Document(owner, "\n\n".join(pieces), tuple(parts), tuple(notes))


TEMPLATE_NOTE = "is the course template's unfinished code; not compared"


def _template_notes(notes: list[str], files: list[SourceFile],
                    template: frozenset[str]) -> list[str]:
    """The reading notes with each part that does not parse in a file or cell of the
    course's starter, unchanged, named as the template's ("save_test_predictions.ipynb
    cell 3 is the course template's unfinished code; not compared (line 7: ...)"), in place
    of read_sources' note that blames the student's code."""
    if not template:
        return notes
    worded = {}
    for problem in (p for f in files for u in f.units if u.where in template
                    for p in u.problems):
        at = f"line {problem.line}: " if problem.line else ""
        worded[f"{problem}: does not parse; that part was skipped"] = (
            f"{problem.where} {TEMPLATE_NOTE} ({at}{problem.message})")
    return [worded.get(n, n) for n in notes]


def _read_single(path: Path):
    from grader.inputs.sources import parse_unit, read_notebook

    if path.suffix == ".ipynb":
        return [read_notebook(path, path.name)], []
    if path.suffix == ".py":
        text = path.read_bytes().decode("utf-8", errors="replace")
        return [SourceFile(path.name, [parse_unit(path.name, None, text, ipython=False)])], []
    return [], [f"{path.name}: not a .py file or notebook; skipped"]


def read_folder_documents(folder: Path, prefix: str) -> list[Document]:
    """One document per .py file or notebook under folder (the --sources folders)."""
    docs = []
    paths = [folder] if folder.is_file() else sorted(
        p for p in folder.rglob("*") if p.suffix in (".py", ".ipynb") and p.is_file())
    for path in paths:
        rel = path.name if folder.is_file() else str(path.relative_to(folder))
        doc = read_document(path, f"{prefix}{rel}")
        if doc.text.strip():
            docs.append(doc)
    return docs


# ---------------------------------------------------------------- fingerprints

def _kgram_hashes(filtered: str) -> np.ndarray:
    """The hash of every K-character window of filtered code (copydetect's `hashed_kgrams`, but
    the same in every process and run): the window's code points as a polynomial in KGRAM_BASE
    modulo 2**64, as int64. Vectorized: K multiply-adds over the whole text."""
    points = np.frombuffer(filtered.encode("utf-32-le", "surrogatepass"),
                           dtype=np.uint32).astype(np.uint64)
    n = len(points) - K + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    hashes = np.zeros(n, dtype=np.uint64)
    for j in range(K):                  # uint64 arithmetic wraps: modulo 2**64
        hashes = hashes * KGRAM_BASE + points[j:j + n]
    return hashes.view(np.int64)


def _fingerprint(text: str, boilerplate: np.ndarray):
    """copydetect's CodeFingerprint of the text, its fields (those its docstring lists) filled
    as its constructor fills them, with _kgram_hashes for its salted k-gram hashes; every
    occurrence of a boilerplate hash is removed. Its offsets are left empty, so compare_files
    gives matches in the filtered code; `positions` (the token behind each filtered character)
    maps them back to the text exactly (grader.integrity.documents.regions)."""
    from copydetect import CodeFingerprint
    from copydetect.utils import get_token_coverage, winnow

    positions = filtered_code(text)
    filtered = positions.code
    hashes, idx = winnow(_kgram_hashes(filtered), WINDOW, remove_duplicates=False)
    keep = ~np.isin(hashes, boilerplate)
    hash_idx: dict[int, list[int]] = {}
    for h, i in zip(hashes[keep].tolist(), idx[keep].tolist()):
        hash_idx.setdefault(h, []).append(i)
    fp = CodeFingerprint.__new__(CodeFingerprint)
    fp.filename, fp.raw_code, fp.filtered_code = "code.py", text, filtered
    fp.offsets = np.zeros((0, 2), dtype=np.int64)
    fp.positions = positions
    fp.hashes, fp.hash_idx, fp.k = set(hash_idx), hash_idx, K
    fp.token_coverage = get_token_coverage(hash_idx, K, len(filtered))
    return fp


def _read_and_fingerprint(root: Path, owner: str, boilerplate: np.ndarray,
                          template: frozenset[tuple]):
    doc = read_document(root, owner, template)
    return doc, _fingerprint(doc.text, boilerplate)


def boilerplate_hashes(docs: list[Document]) -> np.ndarray:
    """Every k-gram hash of the starter code (no winnowing: all of them must go)."""
    hashes = [_kgram_hashes(filtered_code(doc.text).code) for doc in docs]
    return np.unique(np.concatenate(hashes)) if hashes else np.zeros(0, dtype=np.int64)


def _drop(fp, hashes: set[int]) -> None:
    """Remove hashes from a fingerprint (class-common code), as copydetect does boilerplate."""
    from copydetect.utils import get_token_coverage

    gone = fp.hashes & hashes
    if not gone:
        return
    fp.hashes = fp.hashes - gone
    for h in gone:
        fp.hash_idx.pop(h, None)
    fp.token_coverage = get_token_coverage(fp.hash_idx, fp.k, len(fp.filtered_code))


@dataclass(frozen=True)
class CodeComparison:
    """Everything the code comparison found for a class."""

    students: tuple[str, ...]
    similarity: np.ndarray          # N x N, max(similarity_a, similarity_b); diagonal 0
    matches: tuple[CodeMatch, ...]  # pairs (students and sources) sharing >= MIN_MATCH_CHARS
    common_hashes: int              # k-grams dropped as common to more than common_max students
    common_max: int


def read_class(roots: dict[str, Path], starter: list[Document], *, jobs: int = 1,
               template: frozenset[tuple] = frozenset()):
    """Each student's document and fingerprint (starter k-grams removed), read in parallel;
    template: the starter's files and cells (starter_signatures), to name in the notes."""
    boilerplate = boilerplate_hashes(starter)
    pairs = parallel_map(_read_and_fingerprint, roots.values(), roots.keys(),
                         [boilerplate] * len(roots), [template] * len(roots), jobs=jobs)
    return [d for d, _ in pairs], [f for _, f in pairs], boilerplate


def compare_documents(students: list[Document], sources: list[Document],
                      starter: list[Document], *, common_max: int | None = None,
                      jobs: int = 1, fingerprints: list | None = None) -> CodeComparison:
    """Compare every pair of students, and every student with every source document.
    fingerprints: the students' (from read_class), else they are made here."""
    from copydetect import compare_files

    n = len(students)
    if common_max is None:
        common_max = max(3, min(10, n // 10))   # MOSS ignores passages in > 10 files
    boilerplate = boilerplate_hashes(starter)
    if fingerprints is None:
        fingerprints = parallel_map(_fingerprint, [d.text for d in students],
                                    [boilerplate] * n, jobs=jobs)
    student_fps = list(fingerprints)
    source_fps = [_fingerprint(d.text, boilerplate) for d in sources]
    fps = student_fps + source_fps

    counts: dict[int, int] = {}
    for fp in student_fps:
        for h in fp.hashes:
            counts[h] = counts.get(h, 0) + 1
    common = {h for h, c in counts.items() if c > common_max}
    for fp in fps:
        _drop(fp, common)

    similarity = np.zeros((n, n))
    matches: list[CodeMatch] = []

    def compare(i_doc: Document, i_fp, j_doc: Document, j_fp) -> CodeMatch | None:
        if not (i_fp.hashes & j_fp.hashes):
            return None
        overlap, (sim_a, sim_b), (slices_a, slices_b) = compare_files(i_fp, j_fp)
        if overlap < MIN_MATCH_CHARS:
            return None
        return CodeMatch(i_doc.owner, j_doc.owner, float(min(sim_a, 1.0)),
                         float(min(sim_b, 1.0)), int(overlap),
                         regions(i_doc, i_fp.positions, _pairs(slices_a)),
                         regions(j_doc, j_fp.positions, _pairs(slices_b)))

    for i in range(n):
        for j in range(i + 1, n):
            match = compare(students[i], student_fps[i], students[j], student_fps[j])
            if match is not None:
                similarity[i, j] = similarity[j, i] = match.similarity
                matches.append(match)
        for doc, fp in zip(sources, source_fps):
            match = compare(students[i], student_fps[i], doc, fp)
            if match is not None:
                matches.append(match)
    return CodeComparison(tuple(d.owner for d in students), similarity, tuple(matches),
                          len(common), common_max)


def _pairs(slices) -> tuple[tuple[int, int], ...]:
    slices = np.asarray(slices)
    if slices.ndim != 2 or slices.shape[1] == 0:
        return ()
    return tuple((int(s), int(e)) for s, e in zip(slices[0], slices[1]))
