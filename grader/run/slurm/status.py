"""`grader status`: where a class graded on Slurm stands, from the manifest (files.py), the
results (the store) and the array tasks' Slurm states (queue.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.run.jobs import UNFINISHED
from grader.run.slurm.files import (
    CrashedTemplate,
    has_started,
    read_jobs_file,
    read_manifest,
    slurm_folder,
)
from grader.run.slurm.queue import killed_reason, query_states
from grader.run.store import ResultStore

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
    results_dir = Path(results_dir)
    folder = slurm_folder(results_dir)
    manifest = read_manifest(results_dir)
    store = ResultStore(results_dir)
    latest = {placed.job for placed in manifest.students.values()}
    states = {a.job_id: query_states(a.job_id, a.tasks) for a in manifest.arrays
              if a.job_id in latest}
    templates: dict[str, dict[str, CrashedTemplate]] = {}     # by array, read when needed
    rows = []
    for student, placed in sorted(manifest.students.items()):
        state = states.get(placed.job, {}).get(placed.task)
        stored = store.read(student)
        r = stored.result                   # None: a file that is not a result (no points)
        started = has_started(folder, student, placed.job)
        # a result of this student's array tells by the array's id (never by the file's mtime:
        # the node's clock may differ); one without an id (an older grader's) counts once the
        # task has ended or Slurm cannot be asked
        ours = stored.array == placed.job or (stored.array is None and (state is None
                                                                        or state.ended))
        graded = stored.key == placed.key and ours
        if state is not None and not state.ended and not graded:   # (re)grading it now
            running = state.state in ("RUNNING", "COMPLETING")
            detail = f"task {state.task_id} {state.state}" + (f" on {state.node}" if state.node
                                                              else "")
            rows.append(StudentStatus(student, "running" if running and started else "pending",
                                      detail=detail + (", not started yet" if running and not
                                                       started else "")))
        elif graded:
            rows.append(StudentStatus(student, "done", r.status if r else None,
                                      r.total if r else None, r.possible if r else None))
        elif stored.key == UNFINISHED + placed.key:
            rows.append(StudentStatus(student, "unfinished", "crashed", 0.0,
                                      r.possible if r else None, (r.error if r else "") or ""))
        elif state is None:
            rows.append(StudentStatus(student, "unknown", detail=f"task {placed.job}_"
                                      f"{placed.task}: squeue did not answer"))
        else:
            reason = killed_reason(state, started)
            if record:
                if placed.job not in templates:
                    templates[placed.job] = read_jobs_file(folder, placed.job)
                template = templates[placed.job].get(student)
                if template is not None and template.key == placed.key:
                    store.write(student, UNFINISHED + placed.key, template.with_reason(reason))
            rows.append(StudentStatus(student, "unfinished", "crashed", 0.0, detail=reason))
    return ClassStatus(results_dir, [a.job_id for a in manifest.arrays], rows)


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
