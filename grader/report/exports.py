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

Gradescope (autograder specification, results/results.json): the top level has `score`,
`execution_time` (seconds), `output` (Markdown: the total, why nothing could be graded, every
failed check with its fix, what to hand in), `output_format`/`test_output_format` `md`,
`test_name_format`, `visibility`, `stdout_visibility` (hidden: stdout may echo student output),
`extra_data` (the path of the full result JSON, its status) and `leaderboard`; one test per
rubric item with `name`, `number`, `score`, `max_score`, `status` (passed when every point was
earned), `output` (Markdown: the reason for every lost point), `tags` (the item id),
`visibility` (the spec's [gradescope] visibility; visible by default) and `extra_data`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Sequence
from pathlib import Path

from grader.results import EvaluationResult, ItemScore, write_atomic
from grader.spec import Assignment, GradescopeSpec

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


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|])")


def md(text: str) -> str:
    """Plain text as Markdown that shows the same characters (names like simple_nn, <lambda>)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def handin_advice(assignment: Assignment) -> str:
    """What to hand in, as Markdown, from the spec's required files and models' file names."""
    wanted = [f"`{f}`" for m in assignment.models for f in m.files]
    required = [" or ".join(f"`{alt}`" for alt in f.split("|")) for f in assignment.required_files]
    lines = ["**What to hand in:** upload these files themselves, or one `.zip` of them:"]
    if wanted:
        lines.append(f"- the notebooks (or `.py` files) {', '.join(wanted)}, with the model "
                     f"classes {', '.join(f'`{m.names[0]}`' for m in assignment.models)};")
    globs = [r for r in required if "*" in r]          # "*.ipynb|*.py": any code file
    if globs and not wanted:
        lines.append(f"- your code: {', '.join(globs)}, with the model classes "
                     f"{', '.join(f'`{m.names[0]}`' for m in assignment.models)};")
    lines += [f"- {r};" for r in required if "*" not in r]
    if assignment.predictions is not None and f"`{assignment.predictions.file}`" not in required:
        lines.append(f"- `{assignment.predictions.file}`, your predictions on the held-out set;")
    lines[-1] = lines[-1].rstrip(";") + "."
    return "\n".join(lines)


def _status(item: ItemScore) -> str:
    return "passed" if item.earned >= item.possible else "failed"


def _test_output(item: ItemScore) -> str:
    if item.reasons:
        return "\n".join(f"- {md(reason)}" for reason in item.reasons)
    return "Full marks." if item.earned >= item.possible else ""


def _fixes(result: EvaluationResult) -> list[str]:
    """Every failed check's finding and what to do about it, as Markdown list items."""
    if result.check is None:
        return []
    return [f"- {md(c.message)}" + (f" **Fix:** {md(c.hint)}" if c.hint else "")
            for c in result.check.checks if not c.passed]


def leaderboard(result: EvaluationResult, columns: Sequence[str]) -> list[dict]:
    """Gradescope leaderboard entries: held-out accuracy (percent, higher first) of every
    retrained model, trainable parameters of every model found (fewer first), and the
    predictions' accuracy (percent); a value the result does not have is left out."""
    entries: list[dict] = []
    titles = {m.key: m.title for m in result.check.models} if result.check else {}
    if "accuracy" in columns:
        entries += [{"name": f"{titles.get(t.model, t.model)} accuracy (%)",
                     "value": round(100 * t.scores.accuracy, 2), "order": "desc"}
                    for t in result.training if t.ok and t.scores is not None]
    if "params" in columns and result.check is not None:
        entries += [{"name": f"{m.title} parameters", "value": m.params, "order": "asc"}
                    for m in result.check.models if m.params is not None]
    if "predictions" in columns and result.predictions is not None:
        entries.append({"name": "predictions.csv accuracy (%)",
                        "value": round(100 * result.predictions.accuracy, 2), "order": "desc"})
    return entries


def gradescope_results(result: EvaluationResult, *, shown: GradescopeSpec = GradescopeSpec(),
                       advice: str = "", result_path: str | None = None,
                       seconds: float | None = None, withheld: Collection[str] = (),
                       withheld_note: str = "") -> dict:
    """Gradescope's results.json for one result: one test per rubric item, Markdown output,
    leaderboard entries and per-item visibility from the spec's [gradescope] (`shown`).
    `advice` (what to hand in, Markdown) is shown when nothing earned a point; `result_path`
    is where the full result JSON was kept (extra_data); `seconds` the autograder's wall time
    (else the sandboxes' time). Items in `withheld` (the held-out items beyond the daily cap)
    still count but show only `withheld_note` until the due date, and leave the leaderboard."""
    tests = [{
        "name": item.title,
        "name_format": "text",
        "number": str(n),
        "score": item.earned,
        "max_score": item.possible,
        "status": _status(item),
        "output": _test_output(item),
        "output_format": "md",
        "tags": [item.id],
        "visibility": shown.visibility_of(item.id),
        "extra_data": {"item": item.id, "gradable": item.gradable},
    } for n, item in enumerate(result.rubric, 1)]
    for test in tests:
        if test["tags"][0] in withheld:
            test.update(output=f"- {md(withheld_note)}", visibility="after_due_date")
    hidden = [item for item in result.rubric if item.id in withheld]
    if hidden:                      # the total would give the withheld points away
        lines = [(f"**{md(result.title)}**: "
                  f"{_number(result.total - sum(i.earned for i in hidden))} of "
                  f"{_number(result.possible - sum(i.possible for i in hidden))} points on "
                  "the items shown; the held-out items are shown after the due date.")]
    else:
        lines = [(f"**{md(result.title)}**: {_number(result.total)} of "
                  f"{_number(result.possible)} points.")]
    if result.error:
        lines += ["", f"**Could not grade:** {md(result.error)}"]
    if fixes := _fixes(result):
        lines += ["", "**What to fix:**", *fixes]
    if advice and result.total <= 0:
        lines += ["", advice]
    if withheld and withheld_note:
        lines += ["", f"**Held-out score:** {md(withheld_note)}"]
    columns = [c for c in shown.leaderboard if not (withheld and c == "predictions")]
    return {
        "score": result.total,
        "execution_time": round(seconds) if seconds is not None
        else _execution_time(result),
        "output": "\n".join(lines),
        "output_format": "md",
        "test_output_format": "md",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",   # the autograder's stdout may echo student output
        "extra_data": {"result": result_path, "status": result.status,
                       "grader_version": result.grader_version,
                       "held_out_shown": not withheld},   # what the daily cap counts
        "tests": tests,
        "leaderboard": leaderboard(result, columns),
    }


def gradescope_refusal(assignment: Assignment, reason: str, *, advice: str = "",
                       seconds: float = 0.0) -> dict:
    """results.json when nothing could be graded (an empty or unusable hand-in, or a fault on
    the grader's side): score 0, every rubric item failed with the reason, and `advice`."""
    tests = [{
        "name": item.title, "name_format": "text", "number": str(n), "score": 0.0,
        "max_score": item.points, "status": "failed", "output": f"- {md(reason)}",
        "output_format": "md", "tags": [item.id],
        "visibility": assignment.gradescope.visibility_of(item.id),
        "extra_data": {"item": item.id, "gradable": False},
    } for n, item in enumerate(assignment.rubric, 1)]
    lines = [f"**{md(assignment.title)}**: 0 of {_number(assignment.total_points)} points.",
             "", f"**Could not grade:** {md(reason)}"]
    if advice:
        lines += ["", advice]
    return {
        "score": 0.0, "execution_time": round(seconds), "output": "\n".join(lines),
        "output_format": "md", "test_output_format": "md", "test_name_format": "text",
        "visibility": "visible", "stdout_visibility": "hidden",
        "extra_data": {"result": None, "status": "crashed", "held_out_shown": False},
        "tests": tests, "leaderboard": [],
    }
