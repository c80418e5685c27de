"""Grades for other systems: a Canvas gradebook CSV and Gradescope's results.json.

Canvas gradebook import (Grades > Import). Canvas matches rows to students by its leading
identity columns and treats every further column as an assignment; a column whose name is not
an existing assignment creates a new one when imported. We write

    Student, ID, SIS User ID, SIS Login ID, Section, <assignment> <item id>..., <assignment> total

- Student is the submission folder name (EvaluationResult.student); ID, SIS User ID, SIS Login
  ID and Section are left blank because a result does not know them. Canvas needs at least one
  of Student / ID / SIS User ID to find the student, so the instructor either names the
  submission folders as in Canvas or fills in one ID column (e.g. from Canvas's own gradebook
  export) before importing.
- The second row is "Points Possible", as in Canvas's own export (Canvas reads it for the
  points of assignments the import creates; leave it out with points_possible=False).
- One column per rubric item ("ece661-hw2 lab1-model") and one for the total
  ("ece661-hw2 total"). Import either the total or the items (delete the other columns
  before uploading), or the items count twice in Canvas's course total.
- Numbers are plain decimals ("7.5"); a rubric item a result does not list is blank for
  another assignment's result and 0 for a result of the same assignment (a crash scores 0).

This layout follows Canvas's documented import (identity columns "Student", "ID",
"SIS User ID", "SIS Login ID", "Section", then one column per assignment); the Points Possible
row and the name-based matching are our reading of Canvas's export/import round trip.

Gradescope (autograder specification, results/results.json): a top-level `score`,
`execution_time` (seconds), `output`, `stdout_visibility`, and `tests`, one per rubric item
with `name`, `score`, `max_score`, `output` (the reason for every lost point) and
`visibility`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

from grader.results import EvaluationResult, write_atomic

CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "Points Possible"


def _number(value: float) -> str:
    return f"{round(value, 4):g}"


def _columns(results: Sequence[EvaluationResult]) -> list[tuple[str, str, str | None, float]]:
    """(column name, assignment, item id or None for the total, points possible): each
    assignment's items in rubric order, then its total; the most common assignment first."""
    columns: dict[str, tuple[str, str, str | None, float]] = {}
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for r in results:
        for item in r.rubric:
            name = f"{r.assignment} {item.id}"
            columns.setdefault(name, (name, r.assignment, item.id, item.possible))
        totals[r.assignment] = max(totals.get(r.assignment, 0.0), r.possible)
        counts[r.assignment] = counts.get(r.assignment, 0) + 1
    ordered: list[tuple[str, str, str | None, float]] = []
    for assignment in sorted(totals, key=lambda a: -counts[a]):   # stable: ties keep order
        ordered += [c for c in columns.values() if c[1] == assignment]
        ordered.append((f"{assignment} total", assignment, None, totals[assignment]))
    return ordered


def gradebook_header(results: Sequence[EvaluationResult]) -> list[str]:
    return CANVAS_IDENTITY + [c[0] for c in _columns(results)]


def gradebook_rows(results: Sequence[EvaluationResult]) -> list[dict[str, str]]:
    """One row per student (sorted by name), keyed by gradebook_header's columns."""
    columns = _columns(results)
    rows = []
    for r in sorted(results, key=lambda r: r.student):
        earned = {item.id: item.earned for item in r.rubric}
        row = {"Student": r.student, "ID": "", "SIS User ID": "", "SIS Login ID": "",
               "Section": ""}
        for name, assignment, item_id, _ in columns:
            if assignment != r.assignment:
                row[name] = ""
            elif item_id is None:
                row[name] = _number(r.total)
            else:
                row[name] = _number(earned.get(item_id, 0.0))
        rows.append(row)
    return rows


def write_gradebook_csv(results: Sequence[EvaluationResult], path: Path, *,
                        points_possible: bool = True) -> Path:
    """Write the Canvas gradebook CSV atomically (UTF-8, RFC 4180 quoting)."""
    columns = _columns(results)
    header = CANVAS_IDENTITY + [c[0] for c in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    if points_possible:
        writer.writerow({"Student": POINTS_POSSIBLE,
                         **{name: _number(possible) for name, _, _, possible in columns}})
    writer.writerows(gradebook_rows(results))
    return write_atomic(Path(path), buf.getvalue().encode("utf-8"))


def _execution_time(result: EvaluationResult) -> int:
    """Whole seconds the submission ran: the checks plus retraining its models."""
    seconds = result.check.sandbox.seconds if result.check else 0.0
    return int(round(seconds + sum(t.seconds for t in result.training)))


def gradescope_results(result: EvaluationResult) -> dict:
    """Gradescope's results.json for one result: one test per rubric item."""
    tests = [{
        "name": item.title,
        "score": item.earned,
        "max_score": item.possible,
        "output": "\n".join(item.reasons) if item.reasons else (
            "Full marks." if item.earned >= item.possible else ""),
        "visibility": "visible",
    } for item in result.rubric]
    lines = [f"{result.title}: {_number(result.total)} of {_number(result.possible)} points."]
    if result.error:
        lines.append(result.error)
    return {
        "score": result.total,
        "execution_time": _execution_time(result),
        "output": "\n".join(lines),
        "stdout_visibility": "hidden",   # the autograder's stdout may echo student output
        "tests": tests,
    }
