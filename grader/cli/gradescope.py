"""`grader gradescope`: run as a Gradescope autograder (grader.run.gradescope.run_autograder,
which grades through the same library call and request as `grader evaluate`). It writes a
results.json for every hand-in; exit codes: 0 when the hand-in was graded or refused (the
student sees the score and the reason), 2/3/4 for a fault on the course's side (a bad spec, a
missing submission folder, no sandbox, no CUDA for --gpu), after writing a results.json that
says so."""

from __future__ import annotations

from pathlib import Path

import click

from grader import errors, spec
from grader.cli.common import ASSIGNMENT, NO_SANDBOX, handle_errors, request
from grader.run.gradescope import (
    METADATA,
    RESULTS,
    SUBMISSION,
    autograder_tree,
    refuse_without_spec,
    run_autograder,
)
from grader.run.options import Options


@click.command("gradescope")
@ASSIGNMENT
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Gradescope's tree (/autograder): grade ROOT/submission, write "
                   "ROOT/results/results.json, read ROOT/submission_metadata.json, use "
                   "ROOT/source/data and ROOT/source/labels.csv when there. Replaces "
                   "--submission, --results, --metadata, --data and --labels.")
@click.option("--submission", type=click.Path(path_type=Path), default=SUBMISSION,
              show_default=True)
@click.option("--results", type=click.Path(path_type=Path, dir_okay=False), default=RESULTS,
              show_default=True)
@click.option("--metadata", type=click.Path(path_type=Path, dir_okay=False), default=METADATA,
              show_default=True, help="Gradescope's submission_metadata.json (the daily cap).")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None)
@click.option("--labels", type=click.Path(path_type=Path), default=None)
@click.option("--epochs", type=click.IntRange(min=1), default=None)
@click.option("--gpu", is_flag=True)
@NO_SANDBOX
@handle_errors
def gradescope_cmd(assignment, root, submission, results, metadata, no_sandbox,
                   **params) -> None:
    """Run as a Gradescope autograder: grade Gradescope's submission folder and write its
    results.json (see autograder/ in the repository)."""
    if root is not None:
        tree = autograder_tree(root)
        submission, results, metadata = tree["submission"], tree["results"], tree["metadata"]
        params.update(data_dir=tree["data_dir"], labels=tree["labels"])
    try:
        task = spec.load(assignment)
    except errors.GraderError as exc:
        refuse_without_spec(results, f"the assignment spec could not be read: {exc}")
        raise
    # params: data_dir, labels, epochs, gpu, named as Options' fields
    result = run_autograder(task, submission=submission, results=results, metadata=metadata,
                            options=request(Options, params, sandboxed=not no_sandbox))
    if result is None:
        click.echo(f"0 / {task.total_points:g} points: nothing could be graded; wrote {results}")
    else:
        click.echo(f"{result.total:g} / {result.possible:g} points; wrote {results}")
