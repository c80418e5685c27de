"""Where a class graded on Slurm stands: the array tasks' Slurm states and each student's result.

Task states come from `squeue --states=all` (exact for running tasks and for finished ones
for the cluster's MinJobAge, 300 s by default), then from `sacct` for older ones where the
cluster keeps accounting. A finished task whose state neither knows is reported as UNKNOWN.
"""

from __future__ import annotations

import json
import pickle
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.jobs import UNFINISHED

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
    written it), so `grader report` shows it."""
    from grader.slurm import killed_reason, read_manifest, record_unfinished
    from grader.store import ResultStore

    results_dir = Path(results_dir)
    manifest = read_manifest(results_dir)
    store = ResultStore(results_dir)
    arrays = [a["job_id"] for a in manifest.get("arrays", [])]
    tasks = {a["job_id"]: a["tasks"] for a in manifest.get("arrays", [])}
    submitted = {a["job_id"]: _timestamp(a.get("submitted")) for a in manifest.get("arrays", [])}
    latest = {entry["job"] for entry in manifest["students"].values()}
    states = {job: query_states(job, n) for job, n in tasks.items() if job in latest}
    rows = []
    for student, entry in sorted(manifest["students"].items()):
        state = states.get(entry["job"], {}).get(entry["task"])
        data = _read(store.path(student))
        key = (data or {}).get("key")
        started = (results_dir / ".slurm" / "started" / student).exists()
        fresh = key == entry["key"] and _mtime(store.path(student)) >= submitted[entry["job"]]
        if state is not None and not state.ended and not fresh:   # (re)grading it now
            running = state.state in ("RUNNING", "COMPLETING")
            detail = f"task {state.task_id} {state.state}" + (f" on {state.node}" if state.node
                                                              else "")
            rows.append(StudentStatus(student, "running" if running and started else "pending",
                                      detail=detail + (", not started yet" if running and not
                                                       started else "")))
        elif key == entry["key"]:
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
            job = _jobs(results_dir, entry["job"]).get(student) if record else None
            if job is not None and job.key == entry["key"]:
                record_unfinished(store, job, reason)
            rows.append(StudentStatus(student, "unfinished", "crashed", 0.0, detail=reason))
    return ClassStatus(results_dir, arrays, rows)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _timestamp(iso: str | None) -> float:
    """An ISO 8601 time to Unix seconds, rounded down to the second it was written with."""
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(iso).timestamp() if iso else 0.0
    except ValueError:
        return 0.0


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _jobs(results_dir: Path, job_id: str) -> dict:
    try:
        return pickle.loads((results_dir / ".slurm" / f"jobs-{job_id}.pkl").read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return {}


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
