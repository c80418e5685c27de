"""The `grader` command: one module per command, each a thin click adapter that turns its
options into one typed request, calls one library function and prints (see grader.cli.common
for the error handling and the shared options).

Expected failures (GraderError) become one clean message and the documented exit code.
"""

from __future__ import annotations

import click

from grader import __version__
from grader.cli.assignments import assignments_cmd
from grader.cli.check import check_cmd
from grader.cli.data import data_group
from grader.cli.evaluate import evaluate_cmd
from grader.cli.gradescope import gradescope_cmd
from grader.cli.integrity import integrity_cmd
from grader.cli.report import report_cmd
from grader.cli.status import status_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="grader")
def main() -> None:
    """Grade a deep-learning class's PyTorch homework."""


main.add_command(assignments_cmd)
main.add_command(check_cmd)
main.add_command(evaluate_cmd)
main.add_command(report_cmd)
main.add_command(integrity_cmd)
main.add_command(status_cmd)
main.add_command(data_group)
main.add_command(gradescope_cmd)
