"""`grader status`: where a class submitted to Slurm stands (grader.run.slurm.class_status)."""

from __future__ import annotations

from pathlib import Path

import click

from grader.cli.common import exit_with, handle_errors


@click.command("status")
@click.argument("results_dir", type=click.Path(path_type=Path))
@handle_errors
def status_cmd(results_dir) -> None:
    """Where a class submitted with `evaluate --executor slurm` stands: graded, running,
    pending, and students whose Slurm task ended without grading them (those get a crashed
    result saying why, and a rerun grades them). Exit code 0 when every student is graded."""
    from grader.run.slurm import class_status, status_text

    state = class_status(results_dir)
    click.echo(status_text(state))
    exit_with(state.complete)
