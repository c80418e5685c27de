"""SlurmExecutor: grade a class as one Slurm job array, through submitit.

First, unless the shared cache already holds them, one Slurm job (`grader-references`, on a
node like the array's) trains the reference models into the cache and returns them
(node.reference_task): the submitting machine, often a login node, trains nothing and needs no
GPU for --gpu; that job, like every array task, first checks its node (node.needs_problem:
sandbox, the shared data, the GPU and CUDA inside the sandbox) and the submitter stops with the
reason before any student is submitted. That job's return value is the one thing read back
from submitit (the grader's own code on the node, no student code in its process).

The submitting side (this process) splits the jobs into chunks of `students_per_task` and
submits one array; each array task runs node.run_chunk on its node, which grades its chunk and
puts each result into the shared results folder through the same atomic, content-keyed store.
The submitting side never receives students' results from Slurm: it polls the store and the
tasks' Slurm states (queue.py), turns both into the same progress Events as a local run, and,
when a task ends without a student's result (TIMEOUT, CANCELLED, OUT_OF_MEMORY, NODE_FAIL,
PREEMPTED), stores a crashed result saying so under an *unfinished* key, so the report shows
it and a rerun grades it again. Before it waits it records the array in the files `grader
status` reads (files.py: the manifest, the jobs file). A result written by a task names the
array's id, so that a waiting submitter and `grader status` tell this array's results from
older ones (a --force or --only regrade) without comparing clocks.

submitit's pickles are loaded by submitit on the nodes, as the instructor: `.slurm` must be
private to the instructor (it is created 0700), even where the results folder is shared.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from grader.errors import (
    EXIT_FAILED,
    EnvironmentProblem,
    GraderError,
    InputError,
    SandboxUnavailable,
)
from grader.results import EvaluationResult
from grader.run.executors import Event, OnEvent, result_event
from grader.run.jobs import GradeJob, crashed, unfinished
from grader.run.slurm.files import (
    Submitted,
    has_started,
    slurm_folder,
    started_marker,
    update_manifest,
    write_jobs_file,
)
from grader.run.slurm.node import TaskPlan, reference_task, run_chunk
from grader.run.slurm.queue import killed_reason, query_states
from grader.run.slurm.settings import ClusterSettings
from grader.run.store import ResultStore
from grader.sandbox.limits import Limits

if TYPE_CHECKING:
    from grader.grading.retrain import References


class StoppedWaiting(GraderError):
    """Ctrl-C while waiting for the array: it keeps running; nothing is lost."""

    exit_code = EXIT_FAILED


class SlurmExecutor:
    """Executor protocol over a Slurm job array (see the module docstring)."""

    def __init__(self, store: ResultStore, cluster: ClusterSettings, *, wait: bool = True,
                 notice: Callable[[str], None] = lambda _: None) -> None:
        self.store, self.cluster, self.wait, self.notice = store, cluster, wait, notice
        self.folder = slurm_folder(store.dir.resolve())
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
        write_jobs_file(self.folder, job_id, jobs)
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
                result = self._result(job, array)
                if result is not None:
                    del waiting[student]
                    on_event(result_event(result))
                    continue
                state = states.get(submitted.students[student])
                if state is not None and state.ended:
                    del waiting[student]
                    # the node may have said why itself (no sandbox there, no shared data)
                    result = self._result(unfinished(job), array)
                    if result is None:
                        result = crashed(job, killed_reason(
                            state, student in seen_start
                            or has_started(self.folder, student, array)))
                        self.store.put(unfinished(job), result)
                    on_event(result_event(result))
            if waiting:
                time.sleep(self.cluster.poll_seconds)

    def _result(self, job: GradeJob, array: str) -> EvaluationResult | None:
        """The stored result for `job` (its key) when a task of `array` wrote it."""
        stored = self.store.read(job.student)
        return stored.result if stored.written_by(job.key, array) else None
