"""`grader report`: PDFs, gradebook and Gradescope files from result files
(grader.report.render.build_reports); `grader evaluate --report` writes them the same way."""

from __future__ import annotations

import os
from pathlib import Path

import click

from grader import errors, spec
from grader.cli.common import exit_with, handle_errors
from grader.spec import Assignment


@click.command("report")
@click.argument("results_dir", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder for the PDFs, gradebook.csv and Gradescope results.")
@click.option("--assignment", "-a", default=None, metavar="ID|FILE.toml",
              help="The spec whose [gradescope] section (visibility, leaderboard) the "
                   "Gradescope files follow; default: the built-in spec of the results' "
                   "assignment, if there is one.")
@handle_errors
def report_cmd(results_dir, out_dir, assignment) -> None:
    """Write a PDF per student, the class summary, gradebook.csv and Gradescope results.json
    files from the result files in RESULTS_DIR. An unreadable result file is reported and the
    other reports are still made (exit code 1)."""
    if not Path(results_dir).is_dir():
        raise errors.InputError("results folder not found", path=str(results_dir))
    task = spec.load(assignment) if assignment else None
    exit_with(write_reports(results_dir, out_dir, task))


def write_reports(results_dir: Path, out_dir: Path, assignment: Assignment | None = None
                  ) -> bool:
    """Build the reports and say what was written; each unreadable result file is one error
    line. True when every report was made. `assignment`: the spec the Gradescope files
    follow (build_reports)."""
    from grader.report.render import build_reports

    outcome = build_reports(results_dir, out_dir, jobs=os.cpu_count() or 1,
                            assignment=assignment)
    click.echo(f"reports: {len(outcome.student_pdfs)} student PDFs, class-summary.pdf, "
               f"gradebook.csv and gradescope/ in {out_dir}")
    for failure in outcome.failures:
        click.echo(f"error: {failure}", err=True)
    return not outcome.failures
