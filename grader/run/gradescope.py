"""Running `grader` as a Gradescope autograder.

Gradescope unpacks the student's files into /autograder/submission and reads the score from
/autograder/results/results.json. `run_autograder` grades that one submission with the same
library call as `grader evaluate` (grader.run.evaluate.evaluate, sandboxed, as always, with the
same typed request, Options) and writes Gradescope's results.json atomically; the paths are
parameters so the same code runs (and is tested) anywhere. The files in `autograder/` at the
top of the repository are the setup.sh and run_autograder that Gradescope's autograder zip
needs.

What a student sees follows Gradescope's submission_metadata.json: before the due date a split
held-out set ([held_out]) shows its public part's score and keeps the private part's for after
it; beyond the spec's daily cap the held-out items are graded but shown (and counted in the
score shown) only after the due date. A run after the due date (the instructor's "Regrade all
submissions") shows everything: the private part's score, no cap.

Every run writes a results.json, because without one Gradescope shows the student only "The
autograder failed to execute correctly":
- a hand-in with nothing to grade (empty, no .py/.ipynb/.zip, a zip that will not open, ...)
  gets score 0, the reason and what to hand in (file names from the spec); it is a result,
  so the command exits 0;
- a fault on the grader's side (the sandbox cannot run, no CUDA for --gpu, a bad data folder,
  a missing submission folder) gets score 0 and a sentence saying it is not the student's
  fault; the GraderError is raised again so the command exits with its code (2, 3, 4);
- a bug in the grader gets the same results.json; its traceback goes to stderr, which
  Gradescope shows the instructor only, and the command exits 0 (the student's page is what
  matters).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from grader.errors import GraderError, InputError
from grader.grading.rubric import held_out
from grader.inputs.sources import SKIP_DIRS, list_files
from grader.report.exports import gradescope_refusal, gradescope_results, handin_advice
from grader.results import EvaluationResult, save, write_json_atomic
from grader.run.options import Options
from grader.sandbox.bwrap import copy_submission
from grader.spec import Assignment

log = logging.getLogger(__name__)

SUBMISSION = Path("/autograder/submission")             # where Gradescope unpacks the hand-in
RESULTS = Path("/autograder/results/results.json")      # where Gradescope reads the score
METADATA = Path("/autograder/submission_metadata.json")  # this and earlier submissions
GRADABLE = (".py", ".ipynb", ".zip")                    # what can hold a student's models
NOT_YOUR_FAULT = ("the autograder could not run on Gradescope ({}). This is a problem on the "
                  "course's side, not in your work: tell your instructor; resubmitting will not "
                  "help until it is fixed.")


def run_autograder(assignment: Assignment, *, submission: Path = SUBMISSION,
                   results: Path = RESULTS, options: Options = Options(),
                   metadata: Path | None = METADATA,
                   now: dt.datetime | None = None) -> EvaluationResult | None:
    """Grade Gradescope's submission folder and write its results.json (always: see the
    module's docstring). Returns the result, or None when nothing could be graded; raises the
    GraderError of a fault on the grader's side after writing results.json. `metadata`
    (Gradescope's submission_metadata.json) decides the spec's daily cap and, with `now`
    (default: the clock), whether the due date has passed."""
    start = time.monotonic()
    advice = handin_advice(assignment)

    def refuse(reason: str, *, students: bool = False) -> None:
        write_json_atomic(results, gradescope_refusal(
            assignment, reason, advice=advice if students else "",
            seconds=time.monotonic() - start))

    submission = Path(submission)
    if not submission.is_dir():
        refuse(NOT_YOUR_FAULT.format("no submission folder"))
        raise InputError("submission folder not found (Gradescope unpacks the hand-in into "
                         f"{SUBMISSION})", path=str(submission))
    try:
        if problem := handin_problem(submission):
            refuse(problem, students=True)
            return None
        result = _grade(assignment, submission, options)
    except GraderError as exc:
        refuse(NOT_YOUR_FAULT.format(exc))
        raise
    except Exception as exc:            # a bug: the student still gets a results.json
        # the traceback goes to stderr (logging's last resort), which Gradescope shows only to
        # the instructor
        log.exception("grader gradescope failed on %s", submission)
        refuse(NOT_YOUR_FAULT.format(f"the grader failed: {type(exc).__name__}"))
        return None
    kept = results.with_name("grader-result.json")   # the full result, beside results.json
    save(result, kept)
    passed = due_date_passed(metadata, now)
    cap, runs = assignment.gradescope.daily_cap, scored_runs(metadata)
    capped = cap is not None and runs >= cap and not passed
    withheld = [i.id for i in assignment.rubric if held_out(i)] if capped else []
    write_json_atomic(results, gradescope_results(
        result, shown=assignment.gradescope, advice=advice, result_path=str(kept),
        seconds=time.monotonic() - start, due_passed=passed, capped=capped,
        withheld=withheld, withheld_note=cap_note(runs, cap, items=bool(withheld))
        if capped else ""))
    return result


def cap_note(runs: int, cap: int, *, items: bool) -> str:
    """What a run beyond the daily cap shows instead of its held-out score; `items`: the
    rubric has held-out items (else only the leaderboard shows held-out figures)."""
    graded = ("This run's held-out items were graded; their score is shown, and counted in "
              "the score shown, after the due date." if items else
              "This run was graded; its held-out accuracy is left off the leaderboard.")
    return (f"not shown: you have had {runs} scored runs in the last 24 hours and the course "
            f"allows {cap}. {graded}")


def due_date_passed(metadata: Path | None, now: dt.datetime | None = None) -> bool:
    """Whether the last due date in Gradescope's submission_metadata.json has passed at `now`
    (default: the clock): the assignment's `due_date` or `late_due_date`, or a student's own
    (an extension, under `users`); False when the file is missing, unreadable or has none."""
    try:
        data = json.loads(Path(metadata).read_text()) if metadata else {}
        dates = [_when(when) for a in [data.get("assignment") or {}] + [
                     (user or {}).get("assignment") or {} for user in data.get("users") or []]
                 for when in (a.get("due_date"), a.get("late_due_date")) if when]
        now = now or dt.datetime.now(dt.timezone.utc)
        return bool(dates) and _aware(now) >= max(dates)
    except (OSError, ValueError, TypeError, AttributeError):
        return False


def _when(text: str) -> dt.datetime:
    """A timestamp of submission_metadata.json; one without a zone is taken as UTC (and a
    trailing Z, which Python 3.10's fromisoformat refuses, is UTC too)."""
    return _aware(dt.datetime.fromisoformat(text.removesuffix("Z") + (
        "+00:00" if text.endswith("Z") else "")))


def _aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def scored_runs(metadata: Path | None) -> int:
    """The student's runs in the 24 hours before this one whose held-out score was shown,
    from Gradescope's submission_metadata.json (`created_at`, `previous_submissions` with
    their `submission_time` and `results`); 0 when the file is missing or unreadable."""
    try:
        data = json.loads(Path(metadata).read_text()) if metadata else {}
        now = dt.datetime.fromisoformat(data["created_at"])
        runs = 0
        for previous in data.get("previous_submissions") or []:
            at = dt.datetime.fromisoformat(previous["submission_time"])
            shown = ((previous.get("results") or {}).get("extra_data") or {}).get(
                "held_out_shown", True)
            runs += bool(shown) and dt.timedelta(0) <= now - at < dt.timedelta(days=1)
        return runs
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 0


def refuse_without_spec(results: Path, reason: str) -> None:
    """results.json when the assignment's spec itself could not be read: score 0, no tests."""
    write_json_atomic(results, {
        "score": 0.0, "execution_time": 0, "output": NOT_YOUR_FAULT.format(reason),
        "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden",
        "extra_data": {"result": None, "status": "crashed", "held_out_shown": False},
        "tests": [], "leaderboard": []})


def handin_problem(submission: Path) -> str | None:
    """Why the hand-in holds nothing to grade, in a sentence for the student; None if it
    holds a .py, a readable notebook or a .zip that opens (what is wrong inside those is the
    grading's to say). Saves Gradescope the reference training for a hopeless hand-in."""
    files = list_files(submission)
    if not files:
        return "your submission is empty: no files were uploaded."
    code = [f for f in files if f.lower().endswith(GRADABLE)]
    if not code:
        shown = ", ".join(files[:8]) + (f" and {len(files) - 8} more" if len(files) > 8 else "")
        return (f"your submission has no .py, .ipynb or .zip file (found: {shown}), so there "
                "is no code to grade.")
    broken = {f: why for f in code if (why := _unreadable(submission / f))}
    if len(broken) == len(code):
        return "nothing in your submission could be read: " + "; ".join(
            f"{f} {why}" for f, why in broken.items()) + "."
    return None


def _unreadable(path: Path) -> str | None:
    """Why a .zip or notebook cannot be opened at all (None: it can, or it is a .py)."""
    name = path.name.lower()
    if name.endswith(".zip") and not zipfile.is_zipfile(path):
        return "is not a zip archive that opens (make it again with your system's zip tool)"
    if name.endswith(".ipynb"):
        try:
            json.loads(path.read_bytes().decode("utf-8", errors="replace"))
        except (ValueError, RecursionError):       # RecursionError: [[[[... nested too deep
            return ("is not a notebook (not JSON): download it from Jupyter or Colab with "
                    "File > Download > .ipynb instead of renaming another file")
    return None


def autograder_tree(root: Path) -> dict[str, Path | None]:
    """Gradescope's paths under `root` (/autograder on Gradescope): the submission folder,
    results/results.json, and source/data and source/labels.csv when the autograder zip
    carries them, and submission_metadata.json (the keyword names are run_autograder's and
    Options' data_dir, labels)."""
    source = Path(root) / "source"
    return {"submission": Path(root) / "submission",
            "results": Path(root) / "results" / "results.json",
            "metadata": Path(root) / "submission_metadata.json",
            "data_dir": source / "data" if (source / "data").is_dir() else None,
            "labels": source / "labels.csv" if (source / "labels.csv").is_file() else None}


def _grade(assignment: Assignment, submission: Path, options: Options) -> EvaluationResult:
    # imported here: the command line reads SUBMISSION and RESULTS without loading the grading
    from grader.run.evaluate import evaluate
    from grader.sandbox.bwrap import require_sandbox

    require_sandbox(not options.sandboxed)
    with tempfile.TemporaryDirectory(prefix="grader-gradescope-") as tmp:
        # one class folder holding the one hand-in, named "student": evaluate then grades the
        # whole upload as one submission even when its files sit in subfolders; an upload
        # whose only code is one .zip (beside a README, say) is graded as that zip
        klass = one_handin(submission, Path(tmp) / "class")
        (result,) = evaluate(klass, assignment, Path(tmp) / "results", options)
    return result


def one_handin(submission: Path, klass: Path) -> Path:
    """A class folder holding the upload as its one hand-in, "student": the folder, or the
    upload's one .zip when that is its only code."""
    klass.mkdir(parents=True)
    code = [f for f in list_files(submission) if f.lower().endswith(GRADABLE)]
    if len(code) == 1 and code[0].lower().endswith(".zip") \
            and not (submission / code[0]).is_symlink():
        shutil.copy2(submission / code[0], klass / "student.zip")
    else:
        copy_submission(submission, klass / "student", skip=SKIP_DIRS)  # no link out
    return klass
