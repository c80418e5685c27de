"""Checks of the hand-in as a whole, beside the model checks of grader.grading.checks: the
required files, code that does not parse (a failure only when a required model may need it,
else a note), and predictions.csv; and the sentences the terminal and the PDF show for a
note and for how a model was built."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from grader.inputs.sources import SourceFile, SyntaxProblem, Unit, read_sources
from grader.results import CheckResult, ModelReport, ParseNote
from grader.spec import Assignment

if TYPE_CHECKING:                   # light to import: the terminal and the PDF use the texts
    from grader.grading.choose import Choice


def required_files(files: list[str], assignment: Assignment) -> CheckResult | None:
    if not assignment.required_files:
        return None
    names = [Path(f).name for f in files]
    missing = [p for p in assignment.required_files
               if not any(fnmatch.fnmatch(n, alt) for alt in p.split("|") for n in names)]
    if not missing:
        return CheckResult("files.required", True, "all required files are present")
    return CheckResult("files.required", False, "missing: " + ", ".join(
        m.replace("|", " or ") for m in missing),
        "Hand in every file the assignment lists: " + ", ".join(
            p.replace("|", " or ") for p in assignment.required_files))


def prediction_checks(root: Path, files: list[str], assignment: Assignment):
    from grader.grading.predictions import expected_header, validate_predictions

    spec = assignment.predictions
    matches = [f for f in files if Path(f).name == spec.file]
    path = root / (min(matches, key=len) if matches else spec.file)
    report = validate_predictions(path, spec, assignment.dataset.class_names)
    if not report.present:
        return report, [CheckResult("predictions.present", False, f"{spec.file} not found",
                                    f"Hand in {spec.file} with a header "
                                    f"'{expected_header(spec)}' and one row per "
                                    "held-out image.")]
    checks = [CheckResult("predictions.present", True, f"{path.relative_to(root)} found")]
    if report.valid:
        checks.append(CheckResult("predictions.format", True, f"{report.rows:,} rows, well formed"))
    else:
        first = "; ".join((f"line {e.line}: " if e.line else "") + e.message
                          for e in report.errors[:3])
        faults = report.faulty_lines
        checks.append(CheckResult("predictions.format", False,
                                  (f"{faults:,} faulty line{'s' if faults != 1 else ''}: "
                                   if faults else "") + first,
                                  f"Use the format of sample_predictions.csv: header "
                                  f"'{expected_header(spec)}', ids "
                                  f"{spec.first_id}..{spec.first_id + spec.rows - 1} once each."))
    return report, checks


def starter_units(paths: Sequence[str], sources: list[SourceFile]) -> frozenset[str]:
    """The files and cells of the hand-in (`where`) whose code is the course's starter
    unchanged (the spec's `[assignment] starter` and `[integrity] starter`: files or folders),
    compared without regard to blank lines and trailing spaces."""
    return template_units(starter_signatures(paths), sources)


def starter_signatures(paths: Sequence[str | Path]) -> frozenset[tuple]:
    """The starter's files and cells as template_units compares them (read once for a class:
    `grader integrity` passes them to every student's reading)."""
    starter: set[tuple] = set()
    for path in map(Path, paths):
        folder = path if path.is_dir() else path.parent
        if not folder.is_dir():
            continue
        files, _ = read_sources(folder)
        starter |= {_signature(u) for f in files for u in f.units
                    if path.is_dir() or f.path == path.name}
    return frozenset(starter)


def template_units(starter: frozenset[tuple], sources: list[SourceFile]) -> frozenset[str]:
    """The files and cells of sources (`where`) whose code is one of the starter's
    (starter_signatures) unchanged."""
    if not starter:
        return frozenset()
    return frozenset(u.where for f in sources for u in f.units
                     if (u.source.strip() or u.problems) and _signature(u) in starter)


def _signature(unit: Unit) -> tuple:
    """A unit's code without blank lines and trailing spaces, and its syntax errors (line,
    message, the offending line): the parts that do not parse are blanked in unit.source (a
    cell that is one unfinished function is all blank: its errors tell it apart)."""
    code = "\n".join(line.rstrip() for line in unit.source.splitlines() if line.strip())
    return code, tuple((p.line, p.message, p.text) for p in unit.problems)


def syntax(problems: list[SyntaxProblem], choices: list[Choice] | None = None,
           template: frozenset[str] = frozenset()
           ) -> tuple[CheckResult | None, list[ParseNote]]:
    """Code that does not parse fails `files.syntax` only when a required model may need it:
    a model was not found, or did not build or run, and the broken part is in a file its
    build draws from; never when it is the course's starter unchanged (`template`: the
    files and cells that are). Every other part (the course's untouched
    save_test_predictions notebook, a Lab 1 cell left as `criterion =`) is a note, not a
    check: the check (None when nothing fails) and the notes."""
    failing, notes = [], []
    for p in problems:
        own = p.where not in template
        if own and (choices is None or any(_needs(c, p) for c in choices)):
            failing.append(p)
        else:
            notes.append(_note(p, template=not own))
    if not failing:
        return None, notes
    shown = "; ".join(map(str, failing[:5]))
    more = f"; and {len(failing) - 5} more" if len(failing) > 5 else ""
    return CheckResult("files.syntax", False,
                       f"{len(failing)} part(s) of the code do not parse and were skipped: "
                       f"{shown}{more}",
                       "Fix these syntax errors (Python reports the same when the file or cell "
                       "runs); the grader reads the rest of the file without them."), notes


def _note(problem: SyntaxProblem, template: bool) -> ParseNote:
    file, cut, cell = problem.where.rpartition(" cell ")
    if not (cut and cell.isdigit()):
        file, cell = problem.where, ""
    return ParseNote(file=file, cell=int(cell) if cell else None, line=problem.line,
                     message=problem.message, text=problem.text, template=template)


def parse_note_text(note: ParseNote) -> str:
    """A note as one sentence for the terminal and the PDF: "save_test_predictions.ipynb
    cell 3 is the course template's unfinished code; not graded (line 8: ...)"."""
    where = note.file + (f" cell {note.cell}" if note.cell is not None else "")
    at = f"line {note.line}: " if note.line else ""
    if note.template:
        return (f"{where} is the course template's unfinished code; not graded "
                f"({at}{note.message})")
    shown = f": {note.text[:80]}" if note.text else ""
    return (f"{where}, {at}{note.message}{shown}; does not parse and was skipped (no "
            "required model needs it)")


def _needs(choice: Choice, problem: SyntaxProblem) -> bool:
    """Whether the model may need the part that does not parse: it was not found, or it did
    not build or run and its build reads the file the part is in."""
    if choice.source is None:
        return True
    report = choice.report
    if report is not None and report.ok and not any(o.error for o in report.outputs):
        return False
    files = {w.split(" cell ")[0] for _, w, _ in choice.source.line_map}
    return problem.where.split(" cell ")[0] in files | {choice.source.where.split(" cell ")[0]}


def built_notes(model: ModelReport) -> list[str]:
    """What the grader changed in building a model: pretrained weights not downloaded, frozen
    parameters counted (both ModelReport fields)."""
    notes = []
    if model.offline_weights:
        notes.append("pretrained weights not downloaded: built with weights=None instead of "
                     + ", ".join(model.offline_weights))
    if model.frozen_params:
        notes.append("frozen parameters counted and trained: freezing is training, not "
                     "architecture")
    return notes


def built_as_text(model: ModelReport) -> str:
    """How the grader built a model when it is more than calling a class with the spec's
    arguments (a module-level variable and its surgery, a factory, the student's own
    arguments, weights not downloaded, frozen parameters): "models.resnet18() with fc
    replaced, as in train.py, lines 12-14; pretrained weights not downloaded: built with
    weights=None instead of pretrained=True (train.py, line 12)"; "" when there is nothing
    to say."""
    notes = built_notes(model)
    if model.built_from:
        head = f"{model.call}, as in {model.built_from}"
    elif model.built_kind in ("function", "binding") or notes:
        head = model.call or f"{model.class_name}()"
        if model.built_kind in ("function", "binding") and model.source:
            head += f" ({model.source}, line {model.line})"
    else:
        return ""
    return "; ".join([head, *notes])
