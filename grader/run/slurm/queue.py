"""What Slurm says about a submitted array: its tasks' states, and what a task's end means.

Task states come from `squeue --states=all` (exact for running tasks and for finished ones
for the cluster's MinJobAge, 300 s by default), then from `sacct` for older ones where the
cluster keeps accounting. A finished task whose state neither knows is reported as UNKNOWN.
Used by the submitter (submit.py) and by `grader status` (status.py); reads no files.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

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


def killed_reason(state: TaskState, started: bool) -> str:
    """One sentence for a student whose task ended without their result."""
    where = f"job {state.task_id}" + (f" on node {state.node}" if state.node else "")
    if state.state == "COMPLETED":
        return (f"the Slurm task completed but stored no result for this student ({where}): is "
                f"the results folder on a filesystem the compute nodes share?")
    if state.state == "UNKNOWN":
        return (f"the Slurm task ended without a result for this student and Slurm no longer "
                f"knows how ({where}; no accounting); a rerun of the same command grades it")
    if state.state == "FAILED":
        return (f"the Slurm task failed ({where}, exit code {state.exit_code or '?'}) before "
                f"grading this student; see the task's log in the results folder's .slurm/")
    limit = f" (time limit {state.limit})" if state.state == "TIMEOUT" and state.limit else ""
    after = f" after {state.elapsed}" if state.elapsed else ""
    what = ("while this submission was being graded" if started
            else "before it reached this submission")
    fix = {"TIMEOUT": "raise --time (or lower --students-per-task) and rerun the same command",
           "OUT_OF_MEMORY": "raise mem_gb in [cluster] and rerun the same command"}.get(
               state.state, "a rerun of the same command grades it")
    return f"Slurm killed the task: {state.state}{after}{limit}, {what} ({where}); {fix}"
