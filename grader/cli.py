"""The `grader` command: thin click adapters over the core functions.

Each command parses options, calls one core function with keyword arguments, and prints.
Expected failures (GraderError) become one clean message and the documented exit code.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from grader import __version__, errors, spec


def handle_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except errors.GraderError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
    return wrapper


ASSIGNMENT = click.option("--assignment", "-a", required=True, metavar="ID|FILE.toml",
                          help="Built-in assignment id (see `grader assignments`) or a spec file.")
NO_SANDBOX = click.option("--no-sandbox", is_flag=True,
                          help="Run student code WITHOUT the sandbox. Unsafe: only for code you "
                               "trust, on machines where bubblewrap cannot run.")


def limit_options(fn):
    for name, help_text in reversed([
            ("timeout", "Wall-clock seconds per student process (default: the spec's)."),
            ("memory-mb", "Memory limit per student process tree in MiB."),
            ("max-processes", "Processes/threads a student process tree may have.")]):
        fn = click.option(f"--{name}", type=int, default=None, help=help_text)(fn)
    return fn


def _limits(assignment, timeout, memory_mb, max_processes, *, wall_default=None):
    from grader.limits import Limits

    return Limits.from_spec(assignment.limits, wall_seconds=timeout or wall_default,
                            memory_mb=memory_mb, processes=max_processes)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="grader")
def main() -> None:
    """Grade a deep-learning class's PyTorch homework."""


@main.command("assignments")
@handle_errors
def assignments_cmd() -> None:
    """List the built-in assignments."""
    from grader.terminal import assignments_table

    click.echo(assignments_table([spec.load(i) for i in spec.builtin_ids()]))


@main.command("check")
@click.argument("submission", type=click.Path(path_type=Path))
@ASSIGNMENT
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--verbose", "-v", is_flag=True, help="Show every layer, not only differing ones.")
@limit_options
@NO_SANDBOX
@handle_errors
def check_cmd(submission, assignment, as_json, verbose, timeout, memory_mb, max_processes,
              no_sandbox) -> None:
    """Find the models in SUBMISSION (a folder or .zip), build them in the sandbox, check
    shapes and parameter counts layer by layer, and validate predictions.csv.

    Exit code 0: all checks passed; 1: a check failed; 2: usage or spec error."""
    from grader.checks import check_submission
    from grader.results import to_dict
    from grader.sandbox import require_sandbox
    from grader.terminal import check_summary

    task = spec.load(assignment)
    require_sandbox(no_sandbox)
    report = check_submission(submission, task, sandboxed=not no_sandbox,
                              limits=_limits(task, timeout, memory_mb, max_processes))
    if as_json:
        click.echo(json.dumps(to_dict(report), indent=2))
    else:
        click.echo(check_summary(report, verbose=verbose))
    sys.exit(errors.EXIT_OK if report.passed else errors.EXIT_FAILED)
