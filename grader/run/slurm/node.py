"""What runs on a Slurm compute node: the array task that grades a chunk of students
(run_chunk), the job that trains the reference models (reference_task), and the checks both
make of their node first (needs_problem: the sandbox, the shared data, the GPU and CUDA inside
the sandbox). Each array task grades its chunk with the LocalExecutor and puts each result into
the shared results folder through the content-keyed store (an ArrayTaskStore: every result
names the array that wrote it).

Everything here is sent to the node by submitit, pickled by reference: keep what it takes small
and picklable (TaskPlan, GradeJob).
"""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from grader.errors import EnvironmentProblem, SandboxUnavailable
from grader.run.executors import (
    Event,
    LocalExecutor,
    Slot,
    cuda_unavailable,
    default_cpu_jobs,
    machine_memory_mb,
    plan_slots,
    usable_cores,
    visible_gpus,
)
from grader.run.jobs import GradeJob, Settings, crashed, unfinished
from grader.run.slurm.files import mark_started, slurm_folder
from grader.run.store import ArrayTaskStore, ResultStore
from grader.sandbox.limits import Limits

if TYPE_CHECKING:
    from grader.grading.retrain import References


@dataclass(frozen=True)
class TaskPlan:
    """What an array task needs besides its jobs (small, picklable)."""

    results_dir: str                # the shared results folder (absolute)
    per_gpu: int                    # students at once per GPU (--gpu only)


def run_chunk(jobs: list[GradeJob], plan: TaskPlan) -> int:
    """An array task: grade `jobs` with the LocalExecutor on this node, results into the shared
    store. Refuses (every student gets a result saying why, then the task fails) when the
    sandbox cannot run here or the prepared data is not visible. Returns how many it graded."""
    store = ArrayTaskStore(Path(plan.results_dir), array=array_id())
    _on_slurm_signals(store)
    # every job was sent to be graded (the submitter already kept the results it could reuse,
    # and --force/--only asked for a regrade): only a requeued task skips what it has graded
    todo = [j for j in jobs if not store.written_by(j, store.array)]
    if not todo:
        return 0
    problem = node_problem(todo[0])
    if problem is not None:
        for job in todo:
            record_unfinished(store, job, problem.message)
        raise problem
    cores, memory = task_share()
    gpus = visible_gpus() if todo[0].settings.gpu else []
    slots = node_slots(todo[0].settings, cores=cores, gpus=gpus, per_gpu=plan.per_gpu,
                       total_memory_mb=memory)[:len(todo)]
    folder = slurm_folder(plan.results_dir)

    def mark(event: Event) -> None:
        if event.kind == "started":
            mark_started(folder, event.student, node=node_name(), time=event.time,
                         array=store.array)

    LocalExecutor(store, slots, mps=todo[0].settings.mps).run(todo, mark)
    return len(todo)


def reference_task(train: Callable[..., References], needs: dict, *, threads: int,
                   memory_mb: int | None) -> References | tuple[str, str]:
    """The job that trains the reference models on a node before the array is submitted:
    `train` (retrain.reference_results, bound to the class's settings) caches every run in the
    shared cache folder and returns them. When the node cannot train (needs_problem), returns
    (the error's class name, its message) instead, so the submitter can say why. On the CPU
    it trains as many seeds at once as the task's cores and memory hold, each with the
    students' `threads` (the cache key's); on a GPU one seed at a time with every core."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)        # as in run_chunk (_on_slurm_signals)
    problem = needs_problem(**needs)
    if problem is not None:
        return type(problem).__name__, problem.message
    cores, memory = task_share()
    if needs["gpu"]:
        return train(parallel=1, threads=cores)
    return train(parallel=default_cpu_jobs(cores // max(1, threads), memory_mb, memory))


def task_share() -> tuple[int, int | None]:
    """The cores and memory (MB) Slurm granted this task (the machine's where it does not say)."""
    cores = int(os.environ.get("SLURM_CPUS_PER_TASK") or 0) or usable_cores()
    return cores, int(os.environ.get("SLURM_MEM_PER_NODE") or 0) or machine_memory_mb()


def node_slots(settings: Settings, *, cores: int, gpus: list[str], per_gpu: int,
               total_memory_mb: int | None) -> list[Slot]:
    """The task's slots. On the CPU every slot trains with the submitter's `settings.threads`,
    the thread count the job's key and the reference bands were made with: cores // threads
    slots (at least 1; fewer when their memory limits do not fit). With GPUs per_gpu students
    per GPU, threads fitted to this node (the key does not depend on them on a GPU)."""
    memory_mb = settings.train_limits.memory_mb
    if gpus:
        return plan_slots(None, cores=cores, gpus=gpus, per_gpu=per_gpu, memory_mb=memory_mb,
                          total_memory_mb=total_memory_mb)
    threads = max(1, settings.threads)
    n = default_cpu_jobs(cores // threads, memory_mb, total_memory_mb)
    return plan_slots(n, cores=n * threads)


def array_id() -> str | None:
    """This task's array job id (the submitter's Submitted.job_id)."""
    return os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID") or None


def node_name() -> str:
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname().split(".")[0]


def _on_slurm_signals(store: ArrayTaskStore) -> None:
    """Slurm ends a task (time limit, scancel, preemption) with SIGTERM to every process of it,
    then SIGKILL: stop storing and exit at once; the submitting side records why. submitit's
    SIGUSR2, shortly before the time limit, would raise inside a student's grading: ignored."""
    def terminate(signum, _frame):
        store.closed = True
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def record_unfinished(store: ResultStore, job: GradeJob, reason: str) -> None:
    """A crashed result that `grader report` shows and a rerun replaces (jobs.UNFINISHED)."""
    store.put(unfinished(job), crashed(job, reason))


# -------------------------------------------------------------------------- the node's checks

def node_problem(job: GradeJob) -> SandboxUnavailable | EnvironmentProblem | None:
    """Why this node cannot grade `job` (the sandbox, the data, the GPU), naming the cause and
    the fix."""
    s = job.settings
    return needs_problem(sandboxed=s.sandboxed, prepared=s.prepared, gpu=s.gpu,
                         limits=s.check_limits)


def needs_problem(*, sandboxed: bool, prepared: Path, gpu: bool, limits: Limits
                  ) -> SandboxUnavailable | EnvironmentProblem | None:
    """Why this node cannot train or grade: no sandbox, the prepared data not visible, or
    (with --gpu) no GPU for this task or none that CUDA reaches inside the sandbox."""
    if sandboxed:
        from grader.sandbox.bwrap import unavailable_reason

        if reason := unavailable_reason():
            return SandboxUnavailable(
                f"the sandbox cannot run on Slurm node {node_name()}: {reason}. Cause: "
                f"{userns_cause()} Fix: ask the cluster's administrators to allow unprivileged "
                f"user namespaces on the grading nodes (or a setuid bwrap), or use a partition "
                f"whose nodes allow them (--partition / --sbatch=--constraint=...). Student "
                f"code is never run unsandboxed on a cluster node.")
    if not Path(prepared, "meta.json").exists():
        return EnvironmentProblem(
            f"Slurm node {node_name()} cannot see the prepared data {prepared}: the "
            f"grader's cache folder must be on a filesystem the compute nodes share (set "
            f"GRADER_CACHE, or --cache-dir, to a shared folder and submit again)")
    if gpu:
        if reason := cuda_unavailable():
            return EnvironmentProblem(
                f"--gpu: Slurm node {node_name()} gave this task no GPU it can use ({reason}). "
                f"Fix: ask for GPUs (--gpus-per-task, or gres in [cluster]) on a partition "
                f"that has them (--partition)")
        if sandboxed:
            from grader.sandbox.bwrap import gpu_problem

            if problem := gpu_problem(limits):
                return EnvironmentProblem(
                    f"--gpu: on Slurm node {node_name()} CUDA works but not inside the grader's "
                    f"sandbox ({problem}); `python benchmarks/gpu_sandbox_diag.py` on that node "
                    f"shows which sandbox option stops it")
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
