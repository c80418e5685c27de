"""SlurmExecutor: grade a class as one Slurm job array, through submitit.

First, unless the shared cache already holds them, one Slurm job (`grader-references`, on a
node like the array's) trains the reference models into the cache and returns them
(reference_task): the submitting machine, often a login node, trains nothing and needs no GPU
for --gpu; that job, like every array task, first checks its node (needs_problem: sandbox, the
shared data, the GPU and CUDA inside the sandbox) and the submitter stops with the reason
before any student is submitted. That job's return value is the one thing read back from
submitit (the grader's own code on the node, no student code in its process).

The submitting side (this process) splits the jobs into chunks of `students_per_task` and
submits one array; each array task runs `run_chunk` on its node, which grades its chunk with
the LocalExecutor (`per_gpu` students at once per GPU, or at once on the task's CPUs) and puts
each result into the shared results folder through the same atomic, content-keyed store. The
submitting side never receives students' results from Slurm: it polls the store and the tasks'
Slurm states, turns both into the same progress Events as a local run, and, when a task ends
without a student's result (TIMEOUT, CANCELLED, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED), stores a
crashed result saying so under an *unfinished* key, so the report shows it and a rerun grades it
again.

Files in the results folder: `<student>.json` (the results), `.slurm/manifest.json` (which
student went to which array task: `grader status` reads it), `.slurm/jobs-<id>.json` (each
submitted student's crashed result, less its reason, so that `grader status` can record a killed
student without unpickling anything), `.slurm/started/<student>` (written by a task when it
starts a student: node, time, array id), and submitit's own folders (`.slurm/<id>_<task>/`: the
pickled call, the task's stdout/stderr log). A result written by a task carries the array's id
(`"slurm_array"`), so that a waiting submitter and `grader status` tell this array's results
from older ones (a --force or --only regrade) without comparing clocks.

submitit's pickles are loaded by submitit on the nodes, as the instructor: `.slurm` must be
private to the instructor (it is created 0700), even where the results folder is shared.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from grader.errors import (
    EXIT_FAILED,
    EnvironmentProblem,
    GraderError,
    InputError,
    SandboxUnavailable,
)
from grader.results import (
    EvaluationResult,
    from_dict,
    to_dict,
    write_atomic,
    write_json_atomic,
)
from grader.run.executors import (
    Event,
    LocalExecutor,
    OnEvent,
    Slot,
    cuda_unavailable,
    default_cpu_jobs,
    machine_memory_mb,
    plan_slots,
    result_event,
    usable_cores,
    visible_gpus,
)
from grader.run.jobs import GradeJob, Settings, crashed, unfinished
from grader.run.slurm.settings import ClusterSettings
from grader.run.slurm.status import (
    SLURM_DIR,
    TaskState,
    jobs_path,
    query_states,
    update_manifest,
)
from grader.run.store import ResultStore
from grader.sandbox.limits import Limits

if TYPE_CHECKING:
    from grader.grading.retrain import References

ARRAY_FIELD = "slurm_array"        # in a result a task wrote: its array's Slurm job id


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
    store = _TaskStore(Path(plan.results_dir), array=_array_id())
    _on_slurm_signals(store)
    # every job was sent to be graded (the submitter already kept the results it could reuse,
    # and --force/--only asked for a regrade): only a requeued task skips what it has graded
    todo = [j for j in jobs if not written_by(store, j, store.array)]
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
    folder = Path(plan.results_dir) / SLURM_DIR

    def mark(event: Event) -> None:
        if event.kind == "started":
            write_atomic(started_marker(folder, event.student),
                         f"{_node()} {event.time} {store.array or '-'}\n".encode())

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


def _array_id() -> str | None:
    """This task's array job id (the submitter's Submitted.job_id)."""
    return os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID") or None


class _TaskStore(ResultStore):
    """The store as a task writes it: each result also names the array that wrote it
    (ARRAY_FIELD); nothing more once Slurm has begun to kill the task, so a student whose
    sandbox died of Slurm's SIGTERM is not stored as a failure of their own."""

    closed = False

    def __init__(self, results_dir: Path, *, array: str | None) -> None:
        super().__init__(results_dir)
        self.array = array

    def put(self, job: GradeJob, result):
        path = self.path(job.student)
        if not self.closed:
            write_json_atomic(path, {**to_dict(result), "key": job.key, ARRAY_FIELD: self.array})
        return path


def written_by(store: ResultStore, job: GradeJob, array: str | None) -> bool:
    """Whether the stored result for `job` (its key) was written by array task(s) `array`."""
    data = store._read(job.student)        # noqa: SLF001 (the raw file: the array's id)
    return (array is not None and data is not None and data.get("key") == job.key
            and data.get(ARRAY_FIELD) == array)


def started_marker(folder: Path, student: str) -> Path:
    """`.slurm/started/<student>`: "<node> <time> <array id>", written when a task starts it."""
    return Path(folder) / "started" / student


def has_started(folder: Path, student: str, array: str) -> bool:
    """Whether a task of `array` has started grading `student`."""
    try:
        fields = started_marker(folder, student).read_text(encoding="utf-8").split()
    except OSError:
        return False
    return len(fields) < 3 or fields[2] == array     # a marker without an id: an older grader


def _on_slurm_signals(store: _TaskStore) -> None:
    """Slurm ends a task (time limit, scancel, preemption) with SIGTERM to every process of it,
    then SIGKILL: stop storing and exit at once; the submitting side records why. submitit's
    SIGUSR2, shortly before the time limit, would raise inside a student's grading: ignored."""
    def terminate(signum, _frame):
        store.closed = True
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


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
                f"the sandbox cannot run on Slurm node {_node()}: {reason}. Cause: "
                f"{userns_cause()} Fix: ask the cluster's administrators to allow unprivileged "
                f"user namespaces on the grading nodes (or a setuid bwrap), or use a partition "
                f"whose nodes allow them (--partition / --sbatch=--constraint=...). Student "
                f"code is never run unsandboxed on a cluster node.")
    if not Path(prepared, "meta.json").exists():
        return EnvironmentProblem(
            f"Slurm node {_node()} cannot see the prepared data {prepared}: the "
            f"grader's cache folder must be on a filesystem the compute nodes share (set "
            f"GRADER_CACHE, or --cache-dir, to a shared folder and submit again)")
    if gpu:
        if reason := cuda_unavailable():
            return EnvironmentProblem(
                f"--gpu: Slurm node {_node()} gave this task no GPU it can use ({reason}). "
                f"Fix: ask for GPUs (--gpus-per-task, or gres in [cluster]) on a partition "
                f"that has them (--partition)")
        if sandboxed:
            from grader.sandbox.bwrap import gpu_problem

            if problem := gpu_problem(limits):
                return EnvironmentProblem(
                    f"--gpu: on Slurm node {_node()} CUDA works but not inside the grader's "
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


def _node() -> str:
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname().split(".")[0]


def record_unfinished(store: ResultStore, job: GradeJob, reason: str) -> None:
    """A crashed result that `grader report` shows and a rerun replaces (jobs.UNFINISHED)."""
    store.put(unfinished(job), crashed(job, reason))


def crashed_template(job: GradeJob) -> dict:
    """What `grader status` needs to record `job` as unfinished without the job: its crashed
    result (reason to be filled in by with_reason) and its key. Plain JSON, never a pickle."""
    return {"key": job.key, "crashed": to_dict(crashed(job, ""))}


def with_reason(template: dict, reason: str) -> EvaluationResult:
    """The crashed result of a crashed_template, saying `reason`, created now."""
    result = from_dict(EvaluationResult, template["crashed"])
    return dataclasses.replace(
        result, error=reason, created=dt.datetime.now(dt.timezone.utc).isoformat(
            timespec="seconds"),
        rubric=[dataclasses.replace(item, reasons=[reason]) for item in result.rubric])


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
        c = self.cluster
        n = c.students_per_task
        chunks = [jobs[i:i + n] for i in range(0, len(jobs), n)]
        executor = self._submitit("grader", array_parallelism=c.array_parallelism)
        for job in jobs:        # a previous run's marker must not count as this run's start
            started_marker(self.folder, job.student).unlink(missing_ok=True)
        try:
            plan = TaskPlan(results_dir=str(self.store.dir.resolve()), per_gpu=c.per_gpu)
            handles = executor.map_array(run_chunk, chunks, [plan] * len(chunks))
        except Exception as exc:   # submitit's FailedJobError, sbatch missing, ...
            raise EnvironmentProblem(f"could not submit the Slurm array: {exc}") from None
        job_id = handles[0].job_id.split("_")[0]
        submitted = Submitted(job_id=job_id, tasks=len(chunks),
                              students={j.student: i for i, chunk in enumerate(chunks)
                                        for j in chunk},
                              submitted=dt.datetime.now(dt.timezone.utc)
                              .isoformat(timespec="seconds"))
        write_json_atomic(jobs_path(self.folder, job_id),
                          {j.student: crashed_template(j) for j in jobs})
        update_manifest(self.folder, submitted, jobs)
        return submitted

    def _submitit(self, name: str, **extra):
        """A submitit executor for this cluster's settings; InputError for settings submitit
        refuses."""
        import submitit

        c = self.cluster
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)   # see the module docstring
        executor = submitit.SlurmExecutor(folder=self.folder / "%j", max_num_timeout=0)
        # submitit asks Slurm for SIGUSR2 90 s before the time limit (the task ignores it);
        # under a limit that short it could come before Python has started, and kill the task
        params = dict(job_name=name, time=c.time_minutes, cpus_per_task=c.cpus_per_task,
                      stderr_to_stdout=True, signal_delay_s=min(90, 15 * c.time_minutes),
                      **extra)
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
        except ValueError as exc:
            raise InputError(f"invalid Slurm settings: {exc}") from None
        return executor

    def train_references(self, train: Callable[..., References], *, sandboxed: bool,
                         prepared: Path, gpu: bool, limits: Limits, threads: int,
                         memory_mb: int | None) -> References:
        """Train the reference models in one Slurm job on a node like the array's (a login node
        may have no GPU, and is no place to train) and wait for it, even with --no-wait: the
        array's jobs carry the references. The runs land in the shared cache, so a rerun after
        Ctrl-C or a failure reuses what finished."""
        needs = dict(sandboxed=sandboxed, prepared=Path(prepared), gpu=gpu, limits=limits)
        executor = self._submitit("grader-references")
        try:
            job = executor.submit(reference_task, train, needs, threads=threads,
                                  memory_mb=memory_mb)
        except Exception as exc:   # submitit's FailedJobError, sbatch missing, ...
            raise EnvironmentProblem(f"could not submit the reference models' Slurm job: "
                                     f"{exc}") from None
        self.notice(f"submitted Slurm job {job.job_id} to train the reference models; waiting "
                    f"for it before the students' array")
        try:
            outcome = self._reference_outcome(job)
        except KeyboardInterrupt:
            raise StoppedWaiting(f"stopped waiting; Slurm job {job.job_id} keeps training the "
                                 f"reference models into the cache, which the same command "
                                 f"reuses when run again (cancel it with `scancel "
                                 f"{job.job_id}`); no student was submitted") from None
        if isinstance(outcome, tuple):
            kind, message = outcome
            error = SandboxUnavailable if kind == "SandboxUnavailable" else EnvironmentProblem
            raise error(f"{message}. Nothing was graded: the students' array was not "
                        f"submitted")
        return outcome

    def _reference_outcome(self, job) -> References | tuple[str, str]:
        """What reference_task returned, once its job has ended; EnvironmentProblem naming the
        Slurm state and the job's log when it ended without a result."""
        # once the job has ended, its result file gets 12 more polls (a minute at the default
        # 5 s) to appear: NFS may show a new file that late
        grace = None
        while not job.paths.result_pickle.exists():
            state = query_states(job.job_id, 1).get(0)
            if state is None or not state.ended:
                grace = None                # squeue may miss a running job for a moment
            elif grace is None:
                grace = time.monotonic() + 12 * self.cluster.poll_seconds
            elif time.monotonic() > grace:
                how = state.state + (f" after {state.elapsed}" if state.elapsed else "")
                fix = {"TIMEOUT": "; raise --time and rerun the same command",
                       "OUT_OF_MEMORY": "; raise mem_gb in [cluster] and rerun the same command"
                       }.get(state.state, "")
                raise self._reference_failure(job, f"{how}, no result{fix}")
            time.sleep(self.cluster.poll_seconds)
        # the result file is there, so submitit reads it without waiting on Slurm (whose
        # accounting may be missing): the value, or the error the job raised
        try:
            return job.result()
        except Exception as exc:   # noqa: BLE001  (submitit's FailedJobError: its traceback)
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            raise self._reference_failure(job, lines[-1][:300]) from None

    @staticmethod
    def _reference_failure(job, how: str) -> EnvironmentProblem:
        return EnvironmentProblem(
            f"the Slurm job {job.job_id} that trains the reference models ended without them "
            f"({how}); its log is {job.paths.stdout}. Nothing was graded: the students' array "
            f"was not submitted")

    def follow(self, jobs: list[GradeJob], submitted: Submitted, on_event: OnEvent) -> None:
        """Poll until every task has ended; one Event per student start and result."""
        waiting = {j.student: j for j in jobs}
        seen_start: set[str] = set()
        array = submitted.job_id
        while waiting:
            states = query_states(array, submitted.tasks)   # before the store: a task that
            for student, job in list(waiting.items()):      # ended has stored its results
                if student not in seen_start and has_started(self.folder, student, array):
                    seen_start.add(student)
                    on_event(Event(kind="started", student=student, time=time.time()))
                # only this array's result: an older one with the same key is what --force or
                # --only asked to regrade
                result = self.store.get(job) if written_by(self.store, job, array) else None
                if result is not None:
                    del waiting[student]
                    on_event(result_event(result))
                    continue
                state = states.get(submitted.students[student])
                if state is not None and state.ended:
                    del waiting[student]
                    # the node may have said why itself (no sandbox there, no shared data)
                    result = (self.store.get(unfinished(job))
                              if written_by(self.store, unfinished(job), array) else None)
                    if result is None:
                        result = crashed(job, killed_reason(
                            state, student in seen_start
                            or has_started(self.folder, student, array)))
                        self.store.put(unfinished(job), result)
                    on_event(result_event(result))
            if waiting:
                time.sleep(self.cluster.poll_seconds)


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
