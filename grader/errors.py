"""The one small hierarchy of expected failures, and the exit codes the CLI maps them to.

Exit codes (documented in the README):
    0  every check passed / the command did what was asked
    1  the submission failed at least one check (a result, not an error)
    2  usage error: bad option, malformed assignment spec, missing or unreadable input file
    3  the sandbox cannot run on this machine and --no-sandbox was not given
    4  the environment lacks something the command needs (e.g. --gpu without CUDA)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SANDBOX = 3
EXIT_ENVIRONMENT = 4


class GraderError(Exception):
    """An expected failure with a message that says what, where and what was expected."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = str(self.path)
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        return where + self.message


class SpecError(GraderError):
    """A malformed assignment spec (TOML syntax, unknown key, wrong type or value)."""


class InputError(GraderError):
    """A missing, unreadable or malformed input file (submission, dataset, labels, results)."""


class SandboxUnavailable(GraderError):
    """bubblewrap cannot run here; student code is refused unless --no-sandbox is given."""

    exit_code = EXIT_SANDBOX


class EnvironmentProblem(GraderError):
    """The machine lacks something the command needs (e.g. CUDA for --gpu)."""

    exit_code = EXIT_ENVIRONMENT
