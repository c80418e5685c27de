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
`visibility` (the spec's [gradescope] visibility; visible by default) and `extra_data`
(`counted`: whether its score is in the top-level score).

Gradescope shows the student the top-level `score` whatever the tests' visibility, so a test
that waits for the due date (the held-out items beyond the daily cap; the private part of a
split held-out set) is left out of it: the score a student sees never gives those points away.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Collection, Sequence
from pathlib import Path

from grader import spec
from grader.errors import GraderError
from grader.grading.rubric import share
from grader.results import EvaluationResult, ItemScore, Scores, write_atomic
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


def _fixes(result: EvaluationResult) -> list[str]:
    """Every failed check's finding and what to do about it, as Markdown list items."""
    if result.check is None:
        return []
    return [f"- {md(c.message)}" + (f" **Fix:** {md(c.hint)}" if c.hint else "")
            for c in result.check.checks if not c.passed]


def leaderboard(result: EvaluationResult, columns: Sequence[str], *,
                public: bool = False) -> list[dict]:
    """Gradescope leaderboard entries: held-out accuracy (percent, higher first) of every
    retrained model, trainable parameters of every model found (fewer first), and the
    predictions' accuracy (percent), and for localization the mean IoU (0..1, higher first)
    of every retrained model's boxes and of predictions.csv's; a value the result does not
    have is left out. With `public`, the held-out figures are the public part's of a split
    held-out set."""
    def figure(scores: Scores | None) -> float | None:
        if scores is None:
            return None
        return scores.public_accuracy if public else scores.accuracy

    def iou(scores: Scores | None) -> float | None:
        if scores is None or scores.boxes is None:
            return None
        return scores.boxes.public_mean_iou if public else scores.boxes.mean_iou

    entries: list[dict] = []
    titles = {m.key: m.title for m in result.check.models} if result.check else {}
    if "accuracy" in columns:
        for t in result.training:
            if t.ok and (value := figure(t.scores)) is not None:
                entries.append({"name": f"{titles.get(t.model, t.model)} accuracy (%)",
                                "value": round(100 * value, 2), "order": "desc"})
            if t.ok and (value := iou(t.scores)) is not None:     # localization
                entries.append({"name": f"{titles.get(t.model, t.model)} mean IoU",
                                "value": round(value, 4), "order": "desc"})
    if "params" in columns and result.check is not None:
        entries += [{"name": f"{m.title} parameters", "value": m.params, "order": "asc"}
                    for m in result.check.models if m.params is not None]
    if "predictions" in columns and (value := figure(result.predictions)) is not None:
        entries.append({"name": "predictions.csv accuracy (%)",
                        "value": round(100 * value, 2), "order": "desc"})
    if "predictions" in columns and (value := iou(result.predictions)) is not None:
        entries.append({"name": "predictions.csv mean IoU", "value": round(value, 4),
                        "order": "desc"})
    return entries


def sample_noun(task: str, plural: bool = True) -> str:
    """What one held-out example is in a task's words: "images", or "sequences" for
    sequence classification (EvaluationResult.task)."""
    word = "sequence" if task == "sequence" else "image"
    return word + "s" if plural else word


def split_note(result: EvaluationResult) -> str:
    """One line for the PDF and the terminal when the spec splits the held-out set: the
    held-out figures are the private part's ("Held-out scores are on the private 70% of the
    held-out images (7,000 images) ..."); "" without a split."""
    if not result.public_fraction:
        return ""
    counts = {}
    noun = sample_noun(result.task)
    if result.predictions is not None:
        counts["predictions.csv"] = sum(map(sum, result.predictions.confusion))
    run = next((t for t in list(result.training) + list(result.reference)
                if t.ok and t.scores), None)
    if run is not None:
        counts["the retrained models"] = sum(map(sum, run.scores.confusion))
    if len(set(counts.values())) == 1:
        detail = f" ({next(iter(counts.values())):,} {noun})"
    else:
        detail = " (" + ", ".join(f"{n:,} {noun} for {what}" for what, n in counts.items()) \
            + ")" if counts else ""
    return (f"Held-out scores are on the private {share(1 - result.public_fraction)} of the "
            f"held-out {noun}{detail}, which decide the points; before the due date students "
            f"see the public {share(result.public_fraction)}.")


def _later(visibility: str) -> str:
    """The spec's visibility of a test that must wait for the due date: after_due_date, or
    the spec's own when that shows it no sooner (hidden, after_published)."""
    return visibility if visibility in ("hidden", "after_published") else "after_due_date"


def _test(item: ItemScore, number: str, *, name: str, score: float, output: str,
          visibility: str, counted: bool, part: str | None = None) -> dict:
    extra = {"item": item.id, "gradable": item.gradable, "counted": counted}
    if part:
        extra["part"] = part
    return {"name": name, "name_format": "text", "number": number, "score": score,
            "max_score": item.possible, "status": "passed" if score >= item.possible
            else "failed", "output": output, "output_format": "md",
            "tags": [item.id] + ([part] if part else []), "visibility": visibility,
            "extra_data": extra}


def _reasons(reasons: Sequence[str], earned: float, possible: float) -> str:
    if reasons:
        return "\n".join(f"- {md(reason)}" for reason in reasons)
    return "Full marks." if earned >= possible else ""


def gradescope_tests(result: EvaluationResult, shown: GradescopeSpec = GradescopeSpec(), *,
                     withheld: Collection[str] = (), withheld_note: str = "",
                     due_passed: bool = True) -> list[dict]:
    """One test per rubric item (see gradescope_results); extra_data's `counted` says whether
    its score is in the top-level score. A held-out item of a split held-out set is, before
    the due date, two tests: its public part's (shown, counted) and its private part's
    (after_due_date, not counted); after it, one: the private part's."""
    public, private = share(result.public_fraction), share(1 - result.public_fraction)
    wait = (f"The private {private} of the held-out {sample_noun(result.task)} decides these "
            "points; its score is shown after the due date.")
    tests = []
    for n, item in enumerate(result.rubric, 1):
        visibility, held = shown.visibility_of(item.id), item.id in withheld
        output = _reasons(item.reasons, item.earned, item.possible)
        if held:
            output, visibility = f"- {md(withheld_note)}", _later(visibility)
        if item.public_earned is None:
            tests.append(_test(item, str(n), name=item.title, score=item.earned, output=output,
                               visibility=visibility, counted=not held))
            continue
        if due_passed:
            tests.append(_test(item, str(n), name=f"{item.title} (private {private})",
                               score=item.earned, output=output, visibility=visibility,
                               counted=not held, part="private"))
            continue
        first = f"- {md(withheld_note)}" if held else "\n\n".join(filter(None, (
            _reasons(item.public_reasons, item.public_earned, item.possible), wait)))
        tests += [_test(item, f"{n}.1", name=f"{item.title} (public {public})",
                        score=item.public_earned, output=first, visibility=visibility,
                        counted=not held, part="public"),
                  _test(item, f"{n}.2", name=f"{item.title} (private {private})",
                        score=item.earned, output=output, visibility=_later(visibility),
                        counted=False, part="private")]
    return tests


def gradescope_results(result: EvaluationResult, *, shown: GradescopeSpec = GradescopeSpec(),
                       advice: str = "", result_path: str | None = None,
                       seconds: float | None = None, withheld: Collection[str] = (),
                       withheld_note: str = "", due_passed: bool = True,
                       capped: bool = False) -> dict:
    """Gradescope's results.json for one result: tests (gradescope_tests), Markdown output,
    leaderboard entries and per-item visibility from the spec's [gradescope] (`shown`).
    `advice` (what to hand in, Markdown) is shown when nothing earned a point; `result_path`
    is where the full result JSON was kept (extra_data); `seconds` the autograder's wall time
    (else the sandboxes' time).

    The top-level `score`, which Gradescope shows the student whatever the tests' visibility,
    holds only what the student may see: items in `withheld` (the held-out items beyond the
    daily cap) show only `withheld_note` until the due date and are left out of it; before the
    due date (`due_passed` False) a split held-out set counts its public part. Otherwise it is
    the result's total, the instructor's (the default: `grader report`'s exports are the final
    view).

    The leaderboard follows the result, not the rubric: before the due date a result with a
    split held-out set (public_fraction above 0) shows the public part's figures, and `capped`
    (beyond the daily cap) or any `withheld` item drops its held-out columns (accuracy,
    predictions), whether or not the rubric has held-out items."""
    tests = gradescope_tests(result, shown, withheld=withheld, withheld_note=withheld_note,
                             due_passed=due_passed)
    counted = [t for t in tests if t["extra_data"]["counted"]]
    split = not due_passed and any(i.public_earned is not None for i in result.rubric)
    public_board = not due_passed and result.public_fraction > 0
    hide_held_out = capped or bool(withheld)
    whole = not withheld and not split
    score = result.total if whole else round(sum(t["score"] for t in counted), 2)
    possible = result.possible if whole else round(sum(t["max_score"] for t in counted), 2)
    public, private = share(result.public_fraction), share(1 - result.public_fraction)
    lines = [f"**{md(result.title)}**: {_number(score)} of {_number(possible)} points" + (
        "." if whole else "; the held-out items are shown after the due date." if withheld
        else f", the held-out items scored on the public {public} of the held-out "
             f"{sample_noun(result.task)}.")]
    if result.error:
        lines += ["", f"**Could not grade:** {md(result.error)}"]
    if fixes := _fixes(result):
        lines += ["", "**What to fix:**", *fixes]
    if advice and result.total <= 0:
        lines += ["", advice]
    if hide_held_out and withheld_note:
        lines += ["", f"**Held-out score:** {md(withheld_note)}"]
    elif split:
        lines += ["", (f"**Held-out score:** the private {private} of the held-out "
                       f"{sample_noun(result.task)} decides your points; its score is shown "
                       "after the due date.")]
    held_out = {"accuracy", "predictions"}
    columns = [c for c in shown.leaderboard if not (hide_held_out and c in held_out)]
    return {
        "score": score,
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
                       "held_out_shown": not hide_held_out},   # what the daily cap counts
        "tests": tests,
        "leaderboard": leaderboard(result, columns, public=public_board),
    }


def display_spec(result: EvaluationResult, assignment: Assignment | None = None
                 ) -> GradescopeSpec:
    """The [gradescope] section that decides how `result` shows on Gradescope: `assignment`'s
    when it is the result's assignment, else the built-in spec's of the result's assignment
    id, else the defaults (every item visible)."""
    if assignment is not None and assignment.id == result.assignment:
        return assignment.gradescope
    return _builtin_display(result.assignment)


@functools.lru_cache(maxsize=None)
def _builtin_display(assignment_id: str) -> GradescopeSpec:
    if assignment_id in spec.builtin_ids():
        try:
            return spec.load(assignment_id).gradescope
        except GraderError:
            pass
    return GradescopeSpec()


def gradescope_refusal(assignment: Assignment, reason: str, *, advice: str = "",
                       seconds: float = 0.0) -> dict:
    """results.json when nothing could be graded (an empty or unusable hand-in, or a fault on
    the grader's side): score 0, every rubric item failed with the reason, and `advice`."""
    tests = [{
        "name": item.title, "name_format": "text", "number": str(n), "score": 0.0,
        "max_score": item.points, "status": "failed", "output": f"- {md(reason)}",
        "output_format": "md", "tags": [item.id],
        "visibility": assignment.gradescope.visibility_of(item.id),
        "extra_data": {"item": item.id, "gradable": False, "counted": True},
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
