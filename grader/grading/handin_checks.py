"""Checks of the hand-in as a whole, beside the model checks of grader.grading.checks: the
required files, code that does not parse (a failure only when a required model may need it,
else a note), and predictions.csv."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Sequence

from grader.grading.choose import Choice
from grader.inputs.sources import SourceFile, SyntaxProblem, Unit, read_sources
from grader.results import CheckResult
from grader.spec import Assignment


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
    from grader.grading.predictions import validate_predictions

    spec = assignment.predictions
    matches = [f for f in files if Path(f).name == spec.file]
    path = root / (min(matches, key=len) if matches else spec.file)
    report = validate_predictions(path, spec, assignment.dataset.class_names)
    if not report.present:
        return report, [CheckResult("predictions.present", False, f"{spec.file} not found",
                                    f"Hand in {spec.file} with a header "
                                    f"'{spec.id_column},{spec.label_column}' and one row per "
                                    "held-out image.")]
    checks = [CheckResult("predictions.present", True, f"{path.relative_to(root)} found")]
    if report.valid:
        checks.append(CheckResult("predictions.format", True, f"{report.rows:,} rows, well formed"))
    else:
        first = "; ".join((f"line {e.line}: " if e.line else "") + e.message
                          for e in report.errors[:3])
        checks.append(CheckResult("predictions.format", False,
                                  f"{len(report.errors)} problem(s): {first}",
                                  f"Use the format of sample_predictions.csv: header "
                                  f"'{spec.id_column},{spec.label_column}', ids "
                                  f"{spec.first_id}..{spec.first_id + spec.rows - 1} once each."))
    return report, checks


def starter_units(paths: Sequence[str], sources: list[SourceFile]) -> frozenset[str]:
    """The files and cells of the hand-in (`where`) whose code is the course's starter
    unchanged (spec `[integrity] starter`: files or folders), compared without regard to
    blank lines and trailing spaces."""
    if not paths:
        return frozenset()
    starter: set[str] = set()
    for path in map(Path, paths):
        folder = path if path.is_dir() else path.parent
        if not folder.is_dir():
            continue
        files, _ = read_sources(folder)
        starter |= {_signature(u) for f in files for u in f.units
                    if path.is_dir() or f.path == path.name}
    return frozenset(u.where for f in sources for u in f.units
                     if u.source.strip() and _signature(u) in starter)


def _signature(unit: Unit) -> tuple:
    """A unit's code without blank lines and trailing spaces, and its syntax errors (line,
    message, the offending line): the parts that do not parse are blanked in unit.source."""
    code = "\n".join(line.rstrip() for line in unit.source.splitlines() if line.strip())
    return code, tuple((p.line, p.message, p.text) for p in unit.problems)


def syntax(problems: list[SyntaxProblem], choices: list[Choice] | None = None,
           template: frozenset[str] = frozenset()) -> CheckResult | None:
    """Code that does not parse fails `files.syntax` only when a required model may need it:
    a model was not found, or did not build or run, and the broken part is in a file its
    build draws from; never when it is the course's starter unchanged (`template`: the
    files and cells that are). Otherwise (the course's untouched save_test_predictions
    notebook, a Lab 1 cell left as `criterion =`) it is a note: a passing check that still
    names every part."""
    if not problems:
        return None
    shown = "; ".join(str(p) + (" (the course's starter, unchanged)" if p.where in template
                                else "") for p in problems[:5])
    more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    own = [p for p in problems if p.where not in template]
    if choices is not None and not any(_needs(c, p) for c in choices for p in own):
        return CheckResult("files.syntax", True,
                           f"note: {len(problems)} part(s) of the code do not parse and were "
                           f"skipped; no required model needs them: {shown}{more}")
    return CheckResult("files.syntax", False,
                       f"{len(problems)} part(s) of the code do not parse and were skipped: "
                       f"{shown}{more}",
                       "Fix these syntax errors (Python reports the same when the file or cell "
                       "runs); the grader reads the rest of the file without them.")


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
