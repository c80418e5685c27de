"""`grader assignments`: the built-in assignments."""

from __future__ import annotations

import click

from grader import spec
from grader.cli.common import handle_errors


@click.command("assignments")
@handle_errors
def assignments_cmd() -> None:
    """List the built-in assignments."""
    from grader.cli.terminal import assignments_table

    click.echo(assignments_table([spec.load(i) for i in spec.builtin_ids()]))
