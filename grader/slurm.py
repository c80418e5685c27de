"""SlurmExecutor: grade a class as one Slurm job array, through submitit.

The submitting side (this process) splits the jobs into chunks of `students_per_task` and
submits one array; each array task runs `run_chunk` on its node, which grades its chunk with
the LocalExecutor (`per_gpu` students at once per GPU, or at once on the task's CPUs) and puts
each result into the shared results folder through the same atomic, content-keyed store. The
submitting side never receives results from Slurm: it polls the store and the tasks' Slurm
states, turns both into the same progress Events as a local run, and, when a task ends without
a student's result (TIMEOUT, CANCELLED, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED), stores a crashed
result saying so under an *unfinished* key, so the report shows it and a rerun grades it again.

Files in the results folder: `<student>.json` (the results), `.slurm/manifest.json` (which
student went to which array task: `grader status` reads it), `.slurm/jobs-<id>.pkl` (the
submitted jobs, to write a killed student's result later), `.slurm/started/<student>` (written
by a task when it starts a student), and submitit's own folders (`.slurm/<id>_<task>/`: the
pickled call, the task's stdout/stderr log).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import pickle
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from grader.cluster import ClusterSettings
from grader.errors import (EXIT_FAILED, EnvironmentProblem, GraderError, InputError,
                           SandboxUnavailable)
from grader.executors import (Event, LocalExecutor, OnEvent, machine_memory_mb, plan_slots,
                              result_event, usable_cores, visible_gpus)
from grader.jobs import GradeJob, crashed, unfinished
from grader.results import write_atomic, write_json_atomic
from grader.slurm_state import TaskState, query_states
from grader.store import ResultStore

SLURM_DIR = ".slurm"


class StoppedWaiting(GraderError):
    """Ctrl-C while waiting for the array: it keeps running; nothing is lost."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class Submitted:
    """One submitted array, as the manifest records it."""

    job_id: str                     # the array's Slurm job id ("1234")
    tasks: int                      # array tasks (chunks)
    students: dict[str, int]        # student -> array task index
    submitted: str                  # ISO 8601


@dataclass(frozen=True)
class TaskPlan:
    """What an array task needs besides its jobs (small, picklable)."""

    results_dir: str                # the shared results folder (absolute)
    per_gpu: int                    # students at once per GPU (--gpu only)


# ------------------------------------------------------------------------- on the compute node

def run_chunk(jobs: list[GradeJob], plan: TaskPlan) -> int:
    """An array task: grade `jobs` with the LocalExecutor on this node, results into the shared
    store. Refuses (every student gets a result saying why, then the task fails) when the
    sandbox cannot run here or the prepared data is not visible. Returns how many it graded."""
    store = _TaskStore(Path(plan.results_dir))
    _on_slurm_signals(store)
    todo = [j for j in jobs if store.get(j) is None]   # a requeued task skips finished students
    if not todo:
        return 0
    problem = node_problem(todo[0])
    if problem is not None:
        for job in todo:
            record_unfinished(store, job, problem.message)
        raise problem
    # the task's share of the node, as Slurm granted it: on the CPU one student per core
    # (fewer when their memory limits do not fit), with GPUs per_gpu students per GPU
    cores = int(os.environ.get("SLURM_CPUS_PER_TASK") or 0) or usable_cores()
    memory = int(os.environ.get("SLURM_MEM_PER_NODE") or 0) or machine_memory_mb()
    gpus = visible_gpus() if todo[0].settings.gpu else []
    slots = plan_slots(None, cores=cores, gpus=gpus, per_gpu=plan.per_gpu,
                       memory_mb=todo[0].settings.train_limits.memory_mb,
                       total_memory_mb=memory)[:len(todo)]
    started = Path(plan.results_dir) / SLURM_DIR / "started"
    started.mkdir(parents=True, exist_ok=True)

    def mark(event: Event) -> None:
        if event.kind == "started":
            write_atomic(started / event.student, f"{_node()} {event.time}\n".encode())

    LocalExecutor(store, slots, mps=todo[0].settings.mps).run(todo, mark)
    return len(todo)


class _TaskStore(ResultStore):
    """The store as a task writes it: nothing more once Slurm has begun to kill the task, so a
    student whose sandbox died of Slurm's SIGTERM is not stored as a failure of their own."""

    closed = False

    def put(self, job: GradeJob, result):
        if self.closed:
            return self.path(job.student)
        return super().put(job, result)


def _on_slurm_signals(store: _TaskStore) -> None:
    """Slurm ends a task (time limit, scancel, preemption) with SIGTERM to every process of it,
    then SIGKILL: stop storing and exit at once; the submitting side records why. submitit's
    SIGUSR2, 90 s before the time limit, would raise inside a student's grading: ignored."""
    def terminate(signum, _frame):
        store.closed = True
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def node_problem(job: GradeJob) -> SandboxUnavailable | EnvironmentProblem | None:
    """Why this node cannot grade (the sandbox, the data), naming the cause and the fix."""
    if job.settings.sandboxed:
        from grader.sandbox import unavailable_reason

        if reason := unavailable_reason():
            return SandboxUnavailable(
                f"the sandbox cannot run on Slurm node {_node()}: {reason}. Cause: "
                f"{userns_cause()} Fix: ask the cluster's administrators to allow unprivileged "
                f"user namespaces on the grading nodes (or a setuid bwrap), or use a partition "
                f"whose nodes allow them (--partition / --sbatch=--constraint=...). Student "
                f"code is never run unsandboxed on a cluster node.")
    if not Path(job.settings.prepared, "meta.json").exists():
        return EnvironmentProblem(
            f"Slurm node {_node()} cannot see the prepared data {job.settings.prepared}: the "
            f"grader's cache folder must be on a filesystem the compute nodes share (set "
            f"GRADER_CACHE, or --cache-dir, to a shared folder and submit again)")
    return None


def userns_cause(proc: Path = Path("/proc/sys")) -> str:
    """Which kernel setting forbids unprivileged user namespaces on this machine, if any."""
    def read(rel: str) -> str | None:
        try:
            return (proc / rel).read_text().strip()
        except OSError:
            return None

    if read("kernel/unprivileged_userns_clone") == "0":
        return "the kernel setting kernel.unprivileged_userns_clone is 0 on this node."
    if read("user/max_user_namespaces") == "0":
        return "the kernel setting user.max_user_namespaces is 0 on this node."
    if read("kernel/apparmor_restrict_unprivileged_userns") == "1":
        return ("AppArmor restricts unprivileged user namespaces on this node "
                "(kernel.apparmor_restrict_unprivileged_userns = 1).")
    return "user namespaces are refused on this node (no kernel setting explains it; a " \
           "seccomp or LSM policy may)."


def _node() -> str:
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname().split(".")[0]


def record_unfinished(store: ResultStore, job: GradeJob, reason: str) -> None:
    """A crashed result that `grader report` shows and a rerun replaces (jobs.UNFINISHED)."""
    store.put(unfinished(job), crashed(job, reason))


# -------------------------------------------------------------------- on the submitting side

class SlurmExecutor:
    """Executor protocol over a Slurm job array (see the module docstring)."""

    def __init__(self, store: ResultStore, cluster: ClusterSettings, *, wait: bool = True,
                 notice: Callable[[str], None] = lambda _: None) -> None:
        self.store, self.cluster, self.wait, self.notice = store, cluster, wait, notice
        self.folder = store.dir.resolve() / SLURM_DIR
        self.submitted: Submitted | None = None

    def run(self, jobs: Sequence[GradeJob], on_event: OnEvent) -> None:
        jobs = list(jobs)
        if not jobs:
            return
        self.submitted = s = self.submit(jobs)
        if not self.wait:
            return
        self.notice(f"submitted Slurm array {s.job_id}: {s.tasks} task(s) for {len(jobs)} "
                    f"student(s); waiting (Ctrl-C stops waiting, not the array)")
        try:
            self.follow(jobs, s, on_event)
        except KeyboardInterrupt:
            raise StoppedWaiting(f"stopped waiting; Slurm array {s.job_id} keeps running: "
                                 f"follow it with `grader status {self.store.dir}`, cancel it "
                                 f"with `scancel {s.job_id}`") from None

    def submit(self, jobs: list[GradeJob]) -> Submitted:
        import submitit

        c = self.cluster
        n = c.students_per_task
        chunks = [jobs[i:i + n] for i in range(0, len(jobs), n)]
        for job in jobs:        # a previous run's marker must not count as this run's start
            (self.folder / "started" / job.student).unlink(missing_ok=True)
        executor = submitit.SlurmExecutor(folder=self.folder / "%j", max_num_timeout=0)
        params = dict(job_name="grader", time=c.time_minutes, cpus_per_task=c.cpus_per_task,
                      array_parallelism=c.array_parallelism, stderr_to_stdout=True)
        params.update({k: v for k, v in dict(partition=c.partition, account=c.account,
                                             mem=f"{c.mem_gb}GB" if c.mem_gb else None,
                                             setup=list(c.setup) or None).items() if v})
        gres = c.gres or (f"gpu:{c.gpus_per_task}" if c.gpus_per_task else None)
        if gres:
            params["gres"] = gres
        if c.sbatch:
            params["additional_parameters"] = c.sbatch_parameters()
        try:
            executor.update_parameters(**params)
            plan = TaskPlan(results_dir=str(self.store.dir.resolve()), per_gpu=c.per_gpu)
            handles = executor.map_array(run_chunk, chunks, [plan] * len(chunks))
        except ValueError as exc:
            raise InputError(f"invalid Slurm settings: {exc}") from None
        except Exception as exc:   # submitit's FailedJobError, sbatch missing, ...
            raise EnvironmentProblem(f"could not submit the Slurm array: {exc}") from None
        job_id = handles[0].job_id.split("_")[0]
        submitted = Submitted(job_id=job_id, tasks=len(chunks),
                              students={j.student: i for i, chunk in enumerate(chunks)
                                        for j in chunk},
                              submitted=dt.datetime.now(dt.timezone.utc)
                              .isoformat(timespec="seconds"))
        write_atomic(self.folder / f"jobs-{job_id}.pkl",
                     pickle.dumps({j.student: j for j in jobs}))
        update_manifest(self.folder, submitted, jobs)
        return submitted

    def follow(self, jobs: list[GradeJob], submitted: Submitted, on_event: OnEvent) -> None:
        """Poll until every task has ended; one Event per student start and result."""
        waiting = {j.student: j for j in jobs}
        seen_start: set[str] = set()
        while waiting:
            states = query_states(submitted.job_id, submitted.tasks)  # before the store: a
            for student, job in list(waiting.items()):                # task that ended has
                if student not in seen_start and (self.folder / "started" / student).exists():
                    seen_start.add(student)                            # stored its results
                    on_event(Event(kind="started", student=student, time=time.time()))
                result = self.store.get(job)
                if result is not None:
                    del waiting[student]
                    on_event(result_event(result))
                    continue
                state = states.get(submitted.students[student])
                if state is not None and state.ended:
                    del waiting[student]
                    # the node may have said why itself (no sandbox there, no shared data)
                    result = self.store.get(unfinished(job))
                    if result is None:
                        result = crashed(job, killed_reason(state, student in seen_start
                                                            or self._started(student)))
                        self.store.put(unfinished(job), result)
                    on_event(result_event(result))
            if waiting:
                time.sleep(self.cluster.poll_seconds)

    def _started(self, student: str) -> bool:
        return (self.folder / "started" / student).exists()


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


# ------------------------------------------------------------------------- manifest and status

def manifest_path(results_dir: Path) -> Path:
    return Path(results_dir) / SLURM_DIR / "manifest.json"


def update_manifest(folder: Path, submitted: Submitted, jobs: list[GradeJob]) -> None:
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {"students": {}, "arrays": []}
    manifest["arrays"].append(dataclasses.asdict(submitted))
    for job in jobs:
        manifest["students"][job.student] = {"key": job.key, "job": submitted.job_id,
                                             "task": submitted.students[job.student]}
    write_json_atomic(path, manifest)


def read_manifest(results_dir: Path) -> dict:
    path = manifest_path(results_dir)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no Slurm submission recorded in this results folder (no "
                         ".slurm/manifest.json); run grader evaluate --executor slurm --out "
                         "with it first", path=str(results_dir)) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"corrupt Slurm manifest: {exc}", path=str(path)) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("students"), dict):
        raise InputError("not a grader Slurm manifest", path=str(path))
    return manifest
