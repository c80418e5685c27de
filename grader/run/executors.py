"""Who runs the grade jobs: the Executor protocol, its progress Events, and LocalExecutor.

An executor runs `grader.run.jobs.grade` for each job and puts each result into the ResultStore as
soon as it is finished, so a run that dies keeps every finished student. LocalExecutor runs N
students at once on this machine, each in its own worker process, and divides the machine
among the N slots: every slot gets cores // N torch threads (at least 1) and, with GPUs, one
GPU (K slots per GPU with per_gpu=K; the sandbox sees only that GPU, named by UUID). A student
that runs out of GPU memory next to others is retried alone before it is failed; with MPS, the
students that shared a GPU with a fatal GPU fault are regraded without MPS. A worker process
that dies breaks the pool for every student in it: those are graded again one at a time, each
in a fresh process, and only one whose own worker dies again is failed for it.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Callable, Literal, Protocol, Sequence

from grader.results import EvaluationResult
from grader.run.gpus import parse_gpu_list, visible_gpus  # noqa: F401  (the executors' API)
from grader.run.jobs import GradeJob, crashed, grade, with_placement
from grader.run.store import ResultStore

EventKind = Literal["started", "finished", "failed"]


@dataclass(frozen=True)
class Event:
    """One step of a class run, for the progress display and `--progress jsonl`."""

    kind: EventKind                 # started | finished (status ok) | failed (failed/crashed)
    student: str
    time: float                     # Unix time of the event
    status: str | None = None       # the result's status (finished/failed only)
    points: float | None = None     # points earned (finished/failed only)
    possible: float | None = None
    reason: str = ""                # one line: why the student failed (failed only)
    cached: bool = False            # the stored result was reused, nothing was run
    slot: int | None = None         # the LocalExecutor slot that ran it
    gpu: str | None = None          # the GPU (UUID) the slot had, if any


OnEvent = Callable[[Event], None]


class Executor(Protocol):
    def run(self, jobs: Sequence[GradeJob], on_event: OnEvent) -> None:
        """Grade every job; put each result into the store as soon as it is finished."""


def result_event(result: EvaluationResult, *, cached: bool = False, slot: int | None = None,
                 gpu: str | None = None) -> Event:
    ok = result.status == "ok"
    return Event(kind="finished" if ok else "failed", student=result.student, time=time.time(),
                 status=result.status, points=result.total, possible=result.possible,
                 reason="" if ok else one_line_reason(result), cached=cached, slot=slot, gpu=gpu)


def one_line_reason(result: EvaluationResult) -> str:
    """The first thing that went wrong, in one line."""
    text = result.error or next((t.error for t in result.training if not t.ok and t.error), None)
    if text is None and result.check is not None:
        text = next((f"{c.id}: {c.message}" for c in result.check.checks if not c.passed), None)
    text = (text or result.status).strip().splitlines()[0] if (text or "").strip() else \
        result.status
    return text if len(text) <= 160 else text[:157] + "..."


# ---------------------------------------------------------------- the machine, divided into slots

@dataclass(frozen=True)
class Slot:
    index: int
    threads: int                    # torch/OMP/MKL threads for this slot's sandboxes
    gpu_id: str | None = None       # the GPU's UUID; None on the CPU


def plan_slots(jobs: int | None, *, cores: int, gpus: Sequence[str] = (), per_gpu: int = 1,
               memory_mb: int | None = None, total_memory_mb: int | None = None) -> list[Slot]:
    """Divide the machine: with GPUs, per_gpu slots on each GPU (jobs, when given, caps the
    total); on the CPU, `jobs` slots (default: one per core, fewer when the memory limit of
    every slot would not fit in the machine's memory). Threads: cores // slots, at least 1."""
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if per_gpu < 1:
        raise ValueError(f"per_gpu must be at least 1, got {per_gpu}")
    cores = max(1, cores)
    if gpus:
        order = [g for k in range(per_gpu) for g in gpus]   # spread over GPUs first
        order = order[:jobs] if jobs else order
        threads = max(1, cores // len(order))
        return [Slot(i, threads, gpu) for i, gpu in enumerate(order)]
    n = jobs or default_cpu_jobs(cores, memory_mb, total_memory_mb)
    return [Slot(i, max(1, cores // n)) for i in range(n)]


def default_cpu_jobs(cores: int, memory_mb: int | None, total_memory_mb: int | None) -> int:
    n = max(1, cores)
    if memory_mb and total_memory_mb:
        n = min(n, max(1, total_memory_mb // memory_mb))
    return n


def cuda_unavailable() -> str | None:
    """Why this process cannot train on a GPU (torch has no CUDA, or no GPU is visible to it),
    else None."""
    import torch

    if not torch.cuda.is_available():
        return "CUDA is not available (torch.cuda.is_available() is False)"
    if not visible_gpus():
        return "nvidia-smi lists no GPU visible to this process (check CUDA_VISIBLE_DEVICES)"
    return None


def machine_memory_mb() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)
    except (OSError, ValueError):
        return None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# --------------------------------------------------------------------- GPU faults and retries

# What decides a retry is the class of the exception a model's training failed with, as the
# training harness classified it against torch's own classes (taken before student code ran):
# torch.cuda.OutOfMemoryError for a CUDA allocation that fails, torch.AcceleratorError for a
# CUDA error (illegal memory access, device-side assert, an MPS client terminated by another
# client's fault); the same for a run of the student's own weights on the held-out images
# (`evaluate --gpu`, a model with `weights`). Never the exception's name or message, nor the
# captured output, which student code writes at will; a student's own class named
# OutOfMemoryError is not one. Student code shares the harness's process and can still forge
# the report: that costs only a rerun.


def _gpu_errors(result: EvaluationResult) -> set[str]:
    """The gpu_error of the result's failed training runs and of its failed runs of the
    student's own weights on the held-out images (WeightsReport.gpu_error)."""
    found = {t.gpu_error for t in result.training if not t.ok and t.gpu_error}
    if result.check is not None:
        found |= {m.weights.gpu_error for m in result.check.models
                  if m.weights is not None and m.weights.error and m.weights.gpu_error}
    return found


def gpu_oom(result: EvaluationResult) -> bool:
    return "out_of_memory" in _gpu_errors(result)


def gpu_fault(result: EvaluationResult) -> bool:
    return result.status != "ok" and "fault" in _gpu_errors(result)


@dataclass(frozen=True)
class Ran:
    """When and where one job ran (to find who shared a GPU with a fault)."""

    student: str
    gpu: str | None
    start: float
    end: float


def fault_neighbours(runs: Sequence[Ran], faulted: set[str]) -> set[str]:
    """The students that ran on the same GPU at an overlapping time as a student with a fatal
    GPU fault (the faulted students included): under MPS, the fault reaches all of them."""
    hit = set(faulted)
    for bad in (r for r in runs if r.student in faulted):
        hit |= {r.student for r in runs if r.gpu == bad.gpu and r.start < bad.end
                and bad.start < r.end}
    return hit


# ------------------------------------------------------------------------------ LocalExecutor

class LocalExecutor:
    """Runs the jobs on this machine, len(slots) at a time, one worker process per slot (in
    this process when there is a single slot)."""

    def __init__(self, store: ResultStore, slots: Sequence[Slot], *, mps: bool = False,
                 grade_fn: Callable[[GradeJob], EvaluationResult] = grade) -> None:
        if not slots:
            raise ValueError("at least one slot is needed")
        self.store, self.slots, self.mps, self.grade_fn = store, list(slots), mps, grade_fn
        self.runs: list[Ran] = []
        self._finished: dict[str, EvaluationResult] = {}

    def run(self, jobs: Sequence[GradeJob], on_event: OnEvent) -> None:
        alone: list[GradeJob] = []
        self._pass(list(jobs), on_event, alone, parallel=len(self.slots) > 1)
        # a student that ran out of GPU memory beside others is retried with the GPU to itself
        if alone:
            self._pass(alone, on_event, [], parallel=False)
        if self.mps:
            by_name = {j.student: j for j in jobs}
            faulted = {s for s, r in self._finished.items() if gpu_fault(r)}
            redo = sorted(fault_neighbours(self.runs, faulted) & set(by_name))
            no_mps = [dataclasses.replace(by_name[s], settings=dataclasses.replace(
                by_name[s].settings, mps=False)) for s in redo]
            if no_mps:
                self._pass(no_mps, on_event, [], parallel=len(self.slots) > 1, retry=False)

    # one pass over a list of jobs
    def _pass(self, jobs: list[GradeJob], on_event: OnEvent, alone: list[GradeJob], *,
              parallel: bool, retry: bool = True) -> None:
        if not jobs:
            return
        if not parallel:
            slot = self.slots[0]
            for job in jobs:
                start = self._started(job, slot, on_event)
                try:
                    result = self.grade_fn(with_placement(job, threads=slot.threads,
                                                          gpu_id=slot.gpu_id))
                except Exception as exc:    # grade never raises; a replacement might
                    result = crashed(job, f"internal error while grading: {exc}")
                self._done(job, slot, start, result, on_event, alone=None)
            return
        pending, free = deque(jobs), deque(self.slots)
        running: dict[Future, tuple[GradeJob, Slot, float]] = {}
        # jobs in flight when a worker process died: a dead worker breaks the whole pool, so
        # every one of them fails alike; each is run again alone before anyone is blamed
        suspects: list[tuple[GradeJob, Slot]] = []
        pool = self._pool(len(self.slots))
        try:
            while pending or running:
                broken = False
                while pending and free:
                    job, slot = pending[0], free[0]
                    placed = with_placement(job, threads=slot.threads, gpu_id=slot.gpu_id)
                    try:
                        future = pool.submit(self.grade_fn, placed)
                    except BrokenProcessPool:   # a worker died since the last wait: rebuild
                        broken = True
                        break
                    pending.popleft()
                    free.popleft()
                    running[future] = (job, slot, self._started(job, slot, on_event))
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    job, slot, start = running.pop(future)
                    free.append(slot)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        # a worker process died (killed from outside, or the grader side ran
                        # out of memory, or student code got at it): the pool is gone
                        broken = True
                        suspects.append((job, slot))
                        continue
                    except Exception as exc:
                        result = crashed(job, f"internal error while grading: {exc}")
                    self._done(job, slot, start, result, on_event,
                               alone=alone if retry else None)
                if broken:
                    suspects += [(job, slot) for job, slot, _ in running.values()]
                    free += [slot for _, slot, _ in running.values()]
                    running.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = self._pool(len(self.slots))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        for job, slot in suspects:
            self._solo(job, slot, on_event)

    def _solo(self, job: GradeJob, slot: Slot, on_event: OnEvent) -> None:
        """Grade one job in a worker process of its own, with nothing else running: if that
        worker dies too, the job itself killed it."""
        start = self._started(job, slot, on_event)
        placed = with_placement(job, threads=slot.threads, gpu_id=slot.gpu_id)
        pool = self._pool(1)
        try:
            result = pool.submit(self.grade_fn, placed).result()
        except BrokenProcessPool:
            result = crashed(job, "the grading worker process died while grading this "
                                  "submission, also when it was graded alone")
        except Exception as exc:
            result = crashed(job, f"internal error while grading: {exc}")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        self._done(job, slot, start, result, on_event, alone=None)

    def _pool(self, workers: int) -> ProcessPoolExecutor:
        # spawn: the parent has threads (the live display, the pool's own), which fork copies
        # in an undefined state; a fresh interpreter per worker costs a fraction of a second
        return ProcessPoolExecutor(max_workers=workers,
                                   mp_context=multiprocessing.get_context("spawn"))

    def _started(self, job: GradeJob, slot: Slot, on_event: OnEvent) -> float:
        now = time.time()
        on_event(Event(kind="started", student=job.student, time=now, slot=slot.index,
                       gpu=slot.gpu_id))
        return now

    def _done(self, job: GradeJob, slot: Slot, start: float, result: EvaluationResult,
              on_event: OnEvent, alone: list[GradeJob] | None) -> None:
        self.runs.append(Ran(job.student, slot.gpu_id, start, time.time()))
        if alone is not None and job.settings.gpu and gpu_oom(result):
            alone.append(job)           # not stored, not reported yet: retried alone
            return
        self.store.put(job, result)
        self._finished[job.student] = result
        on_event(result_event(result, slot=slot.index, gpu=slot.gpu_id))
