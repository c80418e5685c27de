"""Where a class graded on Slurm stands: the array tasks' Slurm states and each student's result.

Task states come from `squeue --states=all` (exact for running tasks and for finished ones
for the cluster's MinJobAge, 300 s by default), then from `sacct` for older ones where the
cluster keeps accounting. A finished task whose state neither knows is reported as UNKNOWN.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from grader.errors import InputError
from grader.results import write_json_atomic
from grader.run.jobs import UNFINISHED

if TYPE_CHECKING:
    from grader.run.jobs import GradeJob
    from grader.run.slurm.submit import Submitted

SLURM_DIR = ".slurm"

ENDED = {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
         "OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT", "REVOKED", "SPECIAL_EXIT", "UNKNOWN"}


@dataclass(frozen=True)
class TaskState:
    task_id: str                    # "1234_5" (array task) or "1234"
    index: int                      # array task index (0 for a single job)
    state: str                      # Slurm's state: PENDING, RUNNING, TIMEOUT, CANCELLED, ...
    elapsed: str = ""               # run time so far or at the end ("0:01:03")
    limit: str = ""                 # the time limit ("1:00" is one minute)
    node: str = ""
    exit_code: str = ""             # "1:0" where sacct knows it

    @property
    def ended(self) -> bool:
        return self.state in ENDED


def _run(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def _index(task_id: str) -> int | None:
    _, sep, index = task_id.partition("_")
    if not sep:
        return 0
    return int(index) if index.isdigit() else None     # "12_[3-5%2]": not expanded


def query_states(job_id: str, tasks: int) -> dict[int, TaskState]:
    """The state of every task of array `job_id` that Slurm still knows, by task index."""
    states: dict[int, TaskState] = {}
    out = _run(["squeue", "-h", "-r", "--states=all", "-j", job_id,
                "-o", "%i|%T|%M|%l|%N"])
    for line in (out or "").splitlines():
        parts = line.strip().split("|")
        if len(parts) == 5 and (i := _index(parts[0])) is not None:
            states[i] = TaskState(parts[0], i, parts[1], parts[2], parts[3], parts[4])
    if len(states) < tasks:
        acct = _run(["sacct", "-n", "-P", "-X", "-j", job_id,
                     "--format=JobID,State,Elapsed,Timelimit,NodeList,ExitCode"])
        for line in (acct or "").splitlines():
            parts = line.strip().split("|")
            if len(parts) == 6 and (i := _index(parts[0])) is not None and i not in states:
                state = parts[1].split()[0] if parts[1] else "UNKNOWN"   # "CANCELLED by 0"
                states[i] = TaskState(parts[0], i, state, parts[2], parts[3], parts[4], parts[5])
    if out is not None:
        # squeue answered and lists no such task, and there is no accounting that does: it
        # ended more than MinJobAge ago, how is no longer known
        for i in range(tasks):
            if i not in states:
                states[i] = TaskState(f"{job_id}_{i}" if tasks > 1 else job_id, i, "UNKNOWN")
    return states


# --------------------------------------------------------------------------- the manifest

def manifest_path(results_dir: Path) -> Path:
    return Path(results_dir) / SLURM_DIR / "manifest.json"


def jobs_path(folder: Path, job_id: str) -> Path:
    """`.slurm/jobs-<id>.json`: student -> crashed_template, for the array `job_id`."""
    return Path(folder) / f"jobs-{job_id}.json"


@contextlib.contextmanager
def _locked(folder: Path):
    """An exclusive lock on `.slurm/manifest.lock` (held until the block ends): one
    read-modify-write of the manifest at a time, across processes and submitters."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(folder / "manifest.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def update_manifest(folder: Path, submitted: Submitted, jobs: list[GradeJob]) -> None:
    """Record an array and its students, under the manifest lock, written atomically. An
    unreadable manifest is replaced (the array just submitted must be recorded)."""
    with _locked(folder):
        try:
            manifest = read_manifest(folder.parent)
        except InputError:
            manifest = {"students": {}, "arrays": []}
        manifest["arrays"].append(dataclasses.asdict(submitted))
        for job in jobs:
            manifest["students"][job.student] = {"key": job.key, "job": submitted.job_id,
                                                 "task": submitted.students[job.student]}
        write_json_atomic(folder / "manifest.json", manifest)


def read_manifest(results_dir: Path) -> dict:
    """The manifest, checked: InputError naming the file where it is not one grader wrote."""
    path = manifest_path(results_dir)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no Slurm submission recorded in this results folder (no "
                         ".slurm/manifest.json); run grader evaluate --executor slurm --out "
                         "with it first", path=str(results_dir)) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"corrupt Slurm manifest: {exc}", path=str(path)) from None
    if problem := _manifest_problem(manifest):
        raise InputError(f"not a grader Slurm manifest: {problem}", path=str(path))
    return manifest


def _manifest_problem(manifest) -> str | None:
    def bad(value, fields: dict) -> bool:
        return not isinstance(value, dict) or any(not isinstance(value.get(k), t)
                                                  for k, t in fields.items())

    if not isinstance(manifest, dict) or not isinstance(manifest.get("students"), dict) \
            or not isinstance(manifest.get("arrays", []), list):
        return "expected an object with \"students\" (an object) and \"arrays\" (a list)"
    arrays = manifest.setdefault("arrays", [])
    for i, array in enumerate(arrays):
        if bad(array, {"job_id": str, "tasks": int}) or \
                not isinstance(array.get("submitted", ""), str):
            return f"arrays[{i}]: expected job_id (text), tasks (a number), submitted (text)"
    known = {a["job_id"] for a in arrays}
    for student, entry in manifest["students"].items():
        if bad(entry, {"key": str, "job": str, "task": int}):
            return f"students.{student}: expected key (text), job (text), task (a number)"
        if entry["job"] not in known:
            return f"students.{student}: job {entry['job']} is not among the arrays"
    return None


# ------------------------------------------------------------------------------ grader status

StudentState = Literal["done", "unfinished", "running", "pending", "unknown"]


@dataclass(frozen=True)
class StudentStatus:
    student: str
    state: StudentState             # done: a result for the submitted inputs | unfinished: its
    #                                 task ended without grading it (a rerun grades it) |
    #                                 running/pending: its task is | unknown: Slurm could not
    #                                 be asked (squeue failed)
    status: str | None = None       # the result's status (ok/failed/crashed) when done
    points: float | None = None
    possible: float | None = None
    detail: str = ""                # the reason, or the task and node


@dataclass(frozen=True)
class ClassStatus:
    results_dir: Path
    arrays: list[str]               # Slurm job ids submitted for this folder, oldest first
    students: list[StudentStatus]

    def count(self, state: str) -> int:
        return sum(1 for s in self.students if s.state == state)

    @property
    def complete(self) -> bool:
        return all(s.state == "done" for s in self.students)


def class_status(results_dir: Path, *, record: bool = True) -> ClassStatus:
    """Read the manifest, the results and the Slurm states. With `record`, a student whose task
    has ended without a result gets its crashed result now (as a waiting submitter would have
    written it), so `grader report` shows it. Nothing here is unpickled: what is recorded comes
    from `.slurm/jobs-<id>.json`."""
    from grader.run.slurm.submit import (
        ARRAY_FIELD,
        has_started,
        killed_reason,
        with_reason,
    )
    from grader.run.store import ResultStore

    results_dir = Path(results_dir)
    folder = results_dir / SLURM_DIR
    manifest = read_manifest(results_dir)
    store = ResultStore(results_dir)
    arrays = [a["job_id"] for a in manifest["arrays"]]
    tasks = {a["job_id"]: a["tasks"] for a in manifest["arrays"]}
    latest = {entry["job"] for entry in manifest["students"].values()}
    states = {job: query_states(job, n) for job, n in tasks.items() if job in latest}
    rows = []
    for student, entry in sorted(manifest["students"].items()):
        state = states.get(entry["job"], {}).get(entry["task"])
        data = store._read(student) or {}       # noqa: SLF001 (the raw file: key, array id)
        key = data.get("key")
        started = has_started(folder, student, entry["job"])
        # a result of this student's array tells by the array's id (never by the file's mtime:
        # the node's clock may differ); one without an id (an older grader's) counts once the
        # task has ended or Slurm cannot be asked
        written_by = data.get(ARRAY_FIELD)
        ours = written_by == entry["job"] or (written_by is None and (state is None
                                                                      or state.ended))
        graded = key == entry["key"] and ours
        if state is not None and not state.ended and not graded:   # (re)grading it now
            running = state.state in ("RUNNING", "COMPLETING")
            detail = f"task {state.task_id} {state.state}" + (f" on {state.node}" if state.node
                                                              else "")
            rows.append(StudentStatus(student, "running" if running and started else "pending",
                                      detail=detail + (", not started yet" if running and not
                                                       started else "")))
        elif graded:
            rows.append(StudentStatus(student, "done", data.get("status"), data.get("total"),
                                      data.get("possible")))
        elif key == UNFINISHED + entry["key"]:
            rows.append(StudentStatus(student, "unfinished", "crashed", 0.0,
                                      data.get("possible"), data.get("error") or ""))
        elif state is None:
            rows.append(StudentStatus(student, "unknown", detail=f"task {entry['job']}_"
                                      f"{entry['task']}: squeue did not answer"))
        else:
            reason = killed_reason(state, started)
            template = _templates(jobs_path(folder, entry["job"])).get(student) if record \
                else None
            if template is not None and template.get("key") == entry["key"]:
                try:
                    result = with_reason(template, reason)
                except (InputError, KeyError):      # a hand-edited jobs file: not recorded
                    result = None
                if result is not None:
                    _record(store, student, UNFINISHED + entry["key"], result)
            rows.append(StudentStatus(student, "unfinished", "crashed", 0.0, detail=reason))
    return ClassStatus(results_dir, arrays, rows)


def _templates(path: Path) -> dict:
    """`.slurm/jobs-<id>.json` (grader.run.slurm.submit.crashed_template per student); {} when unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) \
        else {}


def _record(store, student: str, key: str, result) -> None:
    """Store `result` under `key` without a GradeJob (ResultStore.put reads only these two)."""
    store.put(_Keyed(student, key), result)


@dataclass(frozen=True)
class _Keyed:
    """The part of a GradeJob that ResultStore.put reads."""

    student: str
    key: str


def status_text(status: ClassStatus) -> str:
    n = len(status.students)
    done = [s for s in status.students if s.state == "done"]
    by_status = {k: sum(1 for s in done if s.status == k) for k in ("ok", "failed", "crashed")}
    lines = [f"{status.results_dir}: {len(done)}/{n} students graded "
             f"(ok {by_status['ok']}, failed {by_status['failed']}, crashed "
             f"{by_status['crashed']}); Slurm array(s) {', '.join(status.arrays) or '-'}"]
    for state in ("running", "pending", "unfinished", "unknown"):
        if count := status.count(state):
            lines.append(f"  {state:<10} {count}")
    for s in status.students:
        if s.state != "done":
            lines.append(f"  {s.student:<16} {s.state:<10} {s.detail}")
    if status.count("unfinished"):
        lines.append("rerun the same `grader evaluate ... --executor slurm` command to grade the "
                     "unfinished students (finished ones are kept)")
    elif status.complete:
        lines.append(f"all graded: grader report {status.results_dir} --out "
                     f"{status.results_dir}/reports")
    return "\n".join(lines)
