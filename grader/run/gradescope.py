"""Running `grader` as a Gradescope autograder.

Gradescope unpacks the student's files into /autograder/submission and reads the score from
/autograder/results/results.json. `run_autograder` grades that one submission with the same
library call as `grader evaluate` (grader.run.evaluate.evaluate, sandboxed, as always, with the
same typed request, Options) and writes Gradescope's results.json atomically; the paths are
parameters so the same code runs (and is tested) anywhere. The files in `autograder/` at the
top of the repository are the setup.sh and run_autograder that Gradescope's autograder zip
needs.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from grader.report.exports import gradescope_results
from grader.results import EvaluationResult, write_json_atomic
from grader.run.options import Options
from grader.spec import Assignment

SUBMISSION = Path("/autograder/submission")             # where Gradescope unpacks the hand-in
RESULTS = Path("/autograder/results/results.json")      # where Gradescope reads the score


def run_autograder(assignment: Assignment, *, submission: Path = SUBMISSION,
                   results: Path = RESULTS, options: Options = Options()) -> EvaluationResult:
    """Grade Gradescope's submission folder and write its results.json."""
    # imported here: the command line reads SUBMISSION and RESULTS without loading the grading
    from grader.run.evaluate import evaluate

    with tempfile.TemporaryDirectory(prefix="grader-gradescope-") as tmp:
        # evaluate names a result after the submission's folder; Gradescope's is "submission"
        student = Path(tmp) / "student"
        shutil.copytree(submission, student, symlinks=True)
        (result,) = evaluate(student, assignment, Path(tmp) / "results", options)
    write_json_atomic(results, gradescope_results(result))
    return result
