"""`grader check`: one submission's checks (grader.grading.checks.check_submission)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from grader import spec
from grader.cli.common import (
    ASSIGNMENT,
    NO_SANDBOX,
    exit_with,
    handle_errors,
    limit_options,
)


@click.command("check")
@click.argument("submission", type=click.Path(path_type=Path))
@ASSIGNMENT
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--verbose", "-v", is_flag=True, help="Show every layer, not only differing ones.")
@limit_options
@NO_SANDBOX
@handle_errors
def check_cmd(submission, assignment, as_json, verbose, timeout, no_sandbox, **limits) -> None:
    """Find the models in SUBMISSION (a folder or .zip), build them in the sandbox, check
    shapes and parameter counts layer by layer, and validate predictions.csv.

    Exit code 0: all checks passed; 1: a check failed; 2: usage or spec error."""
    from grader.cli.terminal import check_summary
    from grader.grading.checks import check_submission
    from grader.results import to_dict
    from grader.sandbox.bwrap import require_sandbox
    from grader.sandbox.limits import Limits

    task = spec.load(assignment)
    require_sandbox(no_sandbox)
    # limits: memory_mb and processes, named as Limits' fields; None keeps the spec's
    report = check_submission(submission, task, sandboxed=not no_sandbox, limits=Limits.from_spec(
        task.limits, wall_seconds=timeout, **limits))
    if as_json:
        click.echo(json.dumps(to_dict(report), indent=2))
    else:
        click.echo(check_summary(report, verbose=verbose))
    exit_with(report.passed)
