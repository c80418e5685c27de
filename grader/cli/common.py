"""What the commands share: a GraderError becomes one clean message and its documented exit
code, the options several commands take, and a typed request built from click's keyword
arguments (click names each option after the request's field, so no name is copied by hand).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from typing import Any, NoReturn, TypeVar

import click

from grader import errors

T = TypeVar("T")


def handle_errors(fn):
    """Run a command; an expected failure (GraderError) prints `error: MESSAGE` on stderr and
    exits with the error's code (see grader.errors). Anything else is a bug: its traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except errors.GraderError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
    return wrapper


def exit_with(ok: bool) -> NoReturn:
    """Exit code 0 when everything passed, 1 when a submission (or a report) did not."""
    sys.exit(errors.EXIT_OK if ok else errors.EXIT_FAILED)


def request(cls: type[T], params: dict[str, Any], **given: Any) -> T:
    """The dataclass `cls` from click's keyword arguments: each parameter named like one of its
    fields is taken out of `params` and passed on; `given` sets fields no option names as such
    (`sandboxed=not no_sandbox`). Fields without an option keep the dataclass's default, and
    what is left in `params` belongs to something else."""
    names = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in given]
    return cls(**{name: params.pop(name) for name in names if name in params}, **given)


ASSIGNMENT = click.option("--assignment", "-a", required=True, metavar="ID|FILE.toml",
                          help="Built-in assignment id (see `grader assignments`) or a spec file.")
NO_SANDBOX = click.option("--no-sandbox", is_flag=True,
                          help="Run student code WITHOUT the sandbox. Unsafe: only for code you "
                               "trust, on machines where bubblewrap cannot run.")


def limit_options(fn):
    """--timeout, --memory-mb, --max-processes, passed on as timeout, memory_mb and processes
    (the names of grader.run.options.Options' and grader.sandbox.limits.Limits' fields); None:
    the spec's limit."""
    for args, help_text in reversed([
            (("--timeout",), "Wall-clock seconds per student process (default: the spec's)."),
            (("--memory-mb",), "Memory limit per student process tree in MiB."),
            (("--max-processes", "processes"),
             "Processes/threads a student process tree may have.")]):
        # at least 1: a zero or negative limit is a usage error, not a limit exceeded
        fn = click.option(*args, type=click.IntRange(min=1), default=None, help=help_text)(fn)
    return fn
