"""`grader gradescope`: run as a Gradescope autograder (grader.run.gradescope.run_autograder,
which grades through the same library call and request as `grader evaluate`)."""

from __future__ import annotations

from pathlib import Path

import click

from grader import spec
from grader.cli.common import ASSIGNMENT, NO_SANDBOX, handle_errors, request
from grader.run.gradescope import RESULTS, SUBMISSION, run_autograder
from grader.run.options import Options


@click.command("gradescope")
@ASSIGNMENT
@click.option("--submission", type=click.Path(path_type=Path), default=SUBMISSION,
              show_default=True)
@click.option("--results", type=click.Path(path_type=Path), default=RESULTS, show_default=True)
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None)
@click.option("--labels", type=click.Path(path_type=Path), default=None)
@click.option("--epochs", type=click.IntRange(min=1), default=None)
@click.option("--gpu", is_flag=True)
@NO_SANDBOX
@handle_errors
def gradescope_cmd(assignment, submission, results, no_sandbox, **params) -> None:
    """Run as a Gradescope autograder: grade Gradescope's submission folder and write its
    results.json (see autograder/ in the repository)."""
    from grader.sandbox.bwrap import require_sandbox

    task = spec.load(assignment)
    require_sandbox(no_sandbox)
    # params: data_dir, labels, epochs, gpu, named as Options' fields
    result = run_autograder(task, submission=submission, results=results,
                            options=request(Options, params, sandboxed=not no_sandbox))
    click.echo(f"{result.total:g} / {result.possible:g} points; wrote {results}")
