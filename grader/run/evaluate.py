"""`grader evaluate`: grade a class. Prepares the data and trains the reference models once
(before any fan-out, cached by content in the one cache folder), builds one GradeJob per
student, reuses the results the store already has for the same content key, and hands the rest
to an executor (LocalExecutor: N students at once on this machine). What to grade with is one
typed request, grader.run.options.Options (importable from here too); `grader evaluate` and
`grader gradescope` both grade through `evaluate`.

A submission that crashes, times out or hits a limit becomes a result with the reason, and the
rest of the class is still graded. Every result is written atomically as soon as it is ready,
so a run that is killed loses no finished student.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import numpy as np

from grader.errors import EnvironmentProblem, InputError
from grader.grading.retrain import reference_results, train_config
from grader.inputs.handins import find_submissions
from grader.inputs.prepared import prepare
from grader.results import EvaluationResult
from grader.run.executors import (
    Event,
    Executor,
    LocalExecutor,
    cuda_unavailable,
    machine_memory_mb,
    plan_slots,
    result_event,
    usable_cores,
    visible_gpus,
)
from grader.run.jobs import GradeJob, Settings, crashed, make_jobs, unfinished
from grader.run.options import Options
from grader.run.store import ResultStore
from grader.sandbox.limits import Limits
from grader.spec import Assignment


def cache_folder(options: Options = Options()) -> Path:
    """The one cache folder (synthetic and prepared data, reference results): --cache-dir, else
    $GRADER_CACHE, else $XDG_CACHE_HOME/grader, else ~/.cache/grader."""
    from grader.inputs.data import default_cache_dir

    return Path(options.cache_dir) if options.cache_dir is not None else default_cache_dir()


def evaluate(path: Path, assignment: Assignment, out_dir: Path, options: Options = Options(),
             progress: Callable[[str], None] = lambda _: None,
             on_event: Callable[[Event], None] = lambda _: None,
             executor: Executor | None = None) -> list[EvaluationResult]:
    """Grade the class at path into out_dir; returns the results of the students asked for
    (all, or --only's), in submission order. `progress` gets one-line notices, `on_event` every
    started/finished/failed Event (reused results come as finished/failed with cached=True)."""
    from grader.inputs.data import load_dataset

    # a cluster executor trains the references on a node: this machine (a login node) needs
    # no GPU, and the node checks CUDA and its sandbox before it trains anything
    remote = executor is not None and hasattr(executor, "train_references")
    gpus = _require_cuda() if options.gpu and not remote else []
    submissions = find_submissions(path)
    cache = cache_folder(options)
    dataset = load_dataset(assignment.dataset, options.data_dir, cache_dir=cache / "data",
                           task=assignment.task.kind)
    data = prepare(dataset, _held_out_labels(assignment, options, dataset), cache,
                   held_out_boxes=_held_out_boxes(assignment, options, dataset))
    del dataset
    config = train_config(assignment, options.epochs)
    train_limits = Limits.from_spec(assignment.limits, wall_seconds=options.timeout or
                                    assignment.limits.train_wall_seconds,
                                    memory_mb=options.memory_mb, processes=options.processes)
    check_limits = Limits.from_spec(assignment.limits, wall_seconds=options.timeout,
                                    memory_mb=options.memory_mb, processes=options.processes)
    if options.gpu and options.sandboxed and not remote:
        _require_cuda_in_sandbox(check_limits)
    cores = options.threads or usable_cores()
    fit = dict(cores=cores, gpus=gpus, per_gpu=options.per_gpu,
               memory_mb=train_limits.memory_mb, total_memory_mb=machine_memory_mb())
    # the per-sandbox threads depend only on the options, the machine and the class size, not
    # on how many students are left: a resumed run trains exactly as the first one did
    slots = plan_slots(min(len(plan_slots(options.jobs, **fit)), len(submissions)), **fit)
    threads = slots[0].threads
    train_references = functools.partial(
        reference_results, assignment, data, config, train_limits, cache_dir=cache,
        sandboxed=options.sandboxed, gpu=options.gpu, threads=threads)
    if any((m.train or m.weights) and m.reference for m in assignment.models):
        progress(f"training the reference models ({config['epochs']} epochs, {data.source})")
    if remote:
        reference = train_references(cached_only=True) or executor.train_references(
            train_references, sandboxed=options.sandboxed, gpu=options.gpu,
            prepared=data.folder, limits=check_limits, threads=threads,
            memory_mb=train_limits.memory_mb)
    else:
        reference = train_references(parallel=1 if options.gpu else len(slots))
    for band in reference.bands.values():
        if not band.learned:
            progress(f"WARNING: {band.note}")
    settings = Settings(prepared=data.folder, data_key=data.fingerprint,
                        dataset_source=data.source, config=tuple(sorted(config.items())),
                        check_limits=check_limits, train_limits=train_limits,
                        reference=tuple(reference.runs.values()),
                        reference_bands=tuple(reference.bands.values()),
                        sandboxed=options.sandboxed, gpu=options.gpu, mps=options.mps,
                        threads=threads, cache_dir=cache)
    jobs = _selected(make_jobs(submissions, assignment, settings), options.only)
    store = ResultStore(out_dir)
    todo = []
    for job in jobs:
        stored = None if (options.force or options.only) else store.get(job)
        if stored is None:
            todo.append(job)
        else:
            on_event(result_event(stored, cached=True))
    if todo:
        if len(todo) < len(jobs):
            progress(f"{len(jobs) - len(todo)} of {len(jobs)} students already graded with the "
                     f"same inputs; grading the other {len(todo)}")
        if executor is None:
            executor = LocalExecutor(store, slots[:len(todo)], mps=options.mps)
        executor.run(todo, on_event)
    return [store.get(job) or store.get(unfinished(job))   # e.g. its Slurm task was killed
            or crashed(job, "no result was stored for this student (the executor ended "
                            "without grading it)")
            for job in jobs]


def _selected(jobs: list[GradeJob], only: tuple[str, ...]) -> list[GradeJob]:
    if not only:
        return jobs
    names = {j.student for j in jobs}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise InputError(f"--only names no submission: {', '.join(unknown)} (students: "
                         f"{', '.join(sorted(names))})")
    return [j for j in jobs if j.student in only]


def _require_cuda() -> list[str]:
    """The visible GPUs by UUID; EnvironmentProblem when there is no CUDA device."""
    if reason := cuda_unavailable():
        raise EnvironmentProblem(f"--gpu was given but on this machine {reason}; run without "
                                 "--gpu to train on the CPU")
    return visible_gpus()


def _require_cuda_in_sandbox(limits: Limits) -> None:
    """EnvironmentProblem when CUDA works here but not inside the sandbox (seen on a GPU
    machine whose driver refused the sandboxed process: error 304): otherwise every reference
    and student would fail to train and the class would lose its accuracy points."""
    from grader.sandbox.bwrap import gpu_problem

    if problem := gpu_problem(limits):
        raise EnvironmentProblem(
            f"--gpu: CUDA works on this machine but not inside the grader's sandbox ({problem}). "
            "Nothing was graded: student code never runs unsandboxed. "
            "`python benchmarks/gpu_sandbox_diag.py` shows which sandbox option stops CUDA; "
            "run without --gpu to train on the CPU")


def _held_out_boxes(assignment: Assignment, options: Options, dataset) -> np.ndarray | None:
    """Localization with --labels: the boxes that file gives, in its order (a permuted split's
    boxes; `grader data split` writes them); None otherwise (the test split's are used)."""
    if options.labels is None or assignment.predictions is None or \
            not assignment.predictions.box_columns:
        return None
    from grader.grading.predictions import read_label_boxes

    boxes = read_label_boxes(options.labels, assignment.predictions, dataset.class_names)
    if boxes is None:       # the test split's boxes are in another order than the file's ids
        columns = ",".join(assignment.predictions.box_columns)
        raise InputError(f"--labels has no box columns ({columns}): a localization task "
                         "scores predictions.csv's boxes against the held-out boxes in the "
                         "file's order (`grader data split` writes them)",
                         path=str(options.labels))
    return boxes


def _held_out_labels(assignment: Assignment, options: Options, dataset) -> np.ndarray | None:
    if options.labels is not None:
        if assignment.predictions is None:
            raise InputError("--labels was given but the assignment has no [predictions] section",
                             path=str(options.labels))
        from grader.grading.predictions import read_labels

        return read_labels(options.labels, assignment.predictions, dataset.class_names)
    if assignment.predictions is None:
        return None
    return np.asarray(dataset.test_labels, dtype=np.int64)
