"""Shared by the harness scripts that run INSIDE the sandbox, next to student code.

This package imports only the standard library, torch and numpy, never `grader`: inside the
sandbox only /opt/grader/harness and /opt/grader/reference are visible. The harness records
the torch functions it relies on before student code is imported, uses those originals, and
reports any that student code replaced. Results go to /out as files the harness writes; the
student's printed output is never parsed by the grader.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import signal
import socket
import sys
import traceback

import torch
import torch.nn as nn

WATCHED = {
    "torch.nn.Module.__call__": (nn.Module, "__call__"),
    "torch.nn.Module.parameters": (nn.Module, "parameters"),
    "torch.nn.Module.named_parameters": (nn.Module, "named_parameters"),
    "torch.nn.Module.named_modules": (nn.Module, "named_modules"),
    "torch.nn.Module.modules": (nn.Module, "modules"),
    "torch.nn.Module.state_dict": (nn.Module, "state_dict"),
    "torch.nn.Module.register_forward_hook": (nn.Module, "register_forward_hook"),
    "torch.nn.Module.register_forward_pre_hook": (nn.Module, "register_forward_pre_hook"),
    "torch.Tensor.numel": (torch.Tensor, "numel"),
    "torch.save": (torch, "save"),
    "torch.load": (torch, "load"),
    "json.dump": (json, "dump"),
    "json.dumps": (json, "dumps"),
}
ORIGINAL = {name: getattr(owner, attr) for name, (owner, attr) in WATCHED.items()}
named_parameters = ORIGINAL["torch.nn.Module.named_parameters"]
named_modules = ORIGINAL["torch.nn.Module.named_modules"]
register_forward_hook = ORIGINAL["torch.nn.Module.register_forward_hook"]
register_forward_pre_hook = ORIGINAL["torch.nn.Module.register_forward_pre_hook"]
save = ORIGINAL["torch.save"]
dumps = ORIGINAL["json.dumps"]
_exit = os._exit
loads = json.loads
OUT = "/out"                        # replaced from the job (the runner decides where it is)
# The grader's plan for the second part of a run (grader.sandbox.bwrap.Session) comes on stdin: keep
# that pipe for the harness and give student code an empty stdin in its place.
try:
    PLAN_IN: int | None = os.dup(0)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
except OSError:
    PLAN_IN = None


def tampering() -> list[str]:
    """Names of watched functions that student code replaced; the originals are put back."""
    changed = []
    for name, (owner, attr) in WATCHED.items():
        if getattr(owner, attr) is not ORIGINAL[name]:
            changed.append(name)
            setattr(owner, attr, ORIGINAL[name])
    return changed


def student_traceback(exc: BaseException, limit_chars: int = 4000) -> str:
    """The traceback without the harness's own frames."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "/opt/grader/" not in f.filename and "importlib" not in f.filename]
    lines = traceback.format_list(frames[-8:])
    text = "".join(lines) + "".join(traceback.format_exception_only(type(exc), exc))
    return text[-limit_chars:]


OFFLINE_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED}
OFFLINE_TEXT = ("name resolution", "Name or service not known", "Network is unreachable")


def offline(exc: BaseException) -> bool:
    """Whether exc comes from the sandbox having no network (urllib wraps it in .reason,
    requests and torch.hub chain it)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, socket.gaierror) or (isinstance(seen, OSError)
                                                 and seen.errno in OFFLINE_ERRNOS):
            return True
        reason = getattr(seen, "reason", None)
        seen = reason if isinstance(reason, BaseException) else (seen.__cause__
                                                                 or seen.__context__)
    return any(text in str(exc) for text in OFFLINE_TEXT)


def describe_error(exc: BaseException) -> dict:
    kind = type(exc).__name__
    info = {"type": kind, "message": str(exc)[:2000], "traceback": student_traceback(exc),
            # the class's module and qualified name ("torch.OutOfMemoryError"; a student's
            # look-alike shows its own module): what tells torch's classes from copies by name
            "qualname": f"{type(exc).__module__}.{type(exc).__qualname__}"[:200]}
    if isinstance(exc, SystemExit):
        info["message"] = (f"the model code called sys.exit({exc.code!r:.100}) (or exit()), "
                           "which would end the grader's process")
    elif offline(exc):
        info["network"] = True
        info["message"] = ("the grader runs model code without network access, so downloads "
                           f"and connections fail ({str(exc)[:1500]})")
    if isinstance(exc, ModuleNotFoundError):
        info["missing_module"] = exc.name
    if isinstance(exc, MemoryError) or "can't allocate memory" in str(exc) or (
            "out of memory" in str(exc).lower()):
        info["memory"] = True
    if isinstance(exc, BlockingIOError) or "Resource temporarily unavailable" in str(exc):
        info["processes"] = True
    return info


def load_object(path: str, name: str, args: dict):
    """Import a generated model module and call the class or factory with args."""
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return getattr(module, name)


def reference_factory(model_id: str):
    import reference

    return lambda **kwargs: reference.build(model_id, **kwargs)


class Deadline(BaseException):
    """Raised by deadline() when one model's share of the time is used up; a BaseException,
    so student code's `except Exception` does not swallow it."""


class deadline:
    """Raise Deadline in this thread after `seconds` (SIGALRM); 0 or None: no deadline."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds or 0

    def _fire(self, signum, frame):
        raise Deadline(f"did not finish within {self.seconds:g} s")

    def __enter__(self):
        if self.seconds > 0:
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc) -> bool:
        if self.seconds > 0:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


def write_partial(job: dict, models: list[dict]) -> None:
    """Write partial.json with what is known so far (atomic rename), so that a run stopped by
    a limit still says which models built and where the last one stopped. Not result.json:
    its presence tells the runner that the harness finished."""
    try:
        tmp = os.path.join(OUT, ".partial.json.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(dumps({"nonce": job["nonce"], "models": models, "partial": True}))
        os.replace(tmp, os.path.join(OUT, "partial.json"))
    except (OSError, TypeError, ValueError):
        pass


def finish(job: dict, models: list[dict]) -> None:
    """Write result.json with the job's nonce (atomic rename), then end the process at once,
    so that no student code (atexit handlers, threads) runs after the result is written."""
    tmp = os.path.join(OUT, ".result.json.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(dumps({"nonce": job["nonce"], "models": models}))
    os.replace(tmp, os.path.join(OUT, "result.json"))
    sys.stdout.flush()
    sys.stderr.flush()
    _exit(0)


def report(job: dict, name: str, models: list[dict]) -> None:
    """Write out/<name> with the job's nonce (atomic rename): a report that is not the end of
    the run (the probes that `grader evaluate` reads before it sends the plan)."""
    tmp = os.path.join(OUT, f".{name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(dumps({"nonce": job["nonce"], "models": models}))
    os.replace(tmp, os.path.join(OUT, name))


def plan() -> dict | None:
    """The grader's plan for the second part of the run: one JSON line on the stdin kept at
    import. None when the grader sends none (end of file) or something unreadable."""
    if PLAN_IN is None:
        return None
    try:
        with os.fdopen(PLAN_IN, "rb") as fh:
            line = fh.readline(256 * 1024 * 1024)
        value = loads(line) if line.strip() else None
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def end_others() -> None:
    """SIGKILL every other process in the sandbox's own PID namespace (what student code left
    running: daemons, children), sparing this process, its parent and bwrap's init (pid 1)."""
    spare = {1, os.getpid(), os.getppid()}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in spare:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass


def read_job(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def prepare_paths(job: dict) -> None:
    global OUT
    OUT = job["out"]
    sys.path[:0] = [os.path.dirname(job["job_path"]), job["workdir"]]
    os.chdir(job["workdir"])


def stage(text: str) -> None:
    """Tell the runner what is happening, so a limit hit can say while doing what."""
    try:
        with open(os.path.join(OUT, "stage"), "w", encoding="utf-8") as fh:
            fh.write(text[:200])
    except OSError:
        pass
