"""`grader evaluate`: check, retrain beside the reference, score on held-out labels, award
points, and write one result file per submission (atomically).

A submission that crashes, times out or hits a limit becomes a result with the reason, and the
rest of the class is still graded.
"""

from __future__ import annotations

import datetime as dt
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from grader import __version__, metrics, rubric
from grader.checks import check_folder, prepared
from grader.errors import EnvironmentProblem, GraderError, InputError
from grader.limits import Limits
from grader.probe import Probe
from grader.results import (CheckReport, EvaluationResult, ItemScore, Scores,
                            TrainingResult, save)
from grader.retrain import (TrainingData, reference_results, run_training, scores_or_none,
                            train_config)
from grader.sources import SKIP_DIRS
from grader.spec import Assignment

DEFAULT_CACHE = Path(os.environ.get("GRADER_CACHE", Path.home() / ".cache" / "grader"))


@dataclass(frozen=True)
class Options:
    data_dir: Path | None = None    # a dataset folder/file; None: the built-in synthetic data
    labels: Path | None = None      # held-out labels for predictions.csv; None: the test split's
    epochs: int | None = None       # override the spec's training budget
    gpu: bool = False               # train on CUDA (refused clearly when there is none)
    sandboxed: bool = True          # False only with --no-sandbox
    timeout: int | None = None      # wall seconds per student process (check and training)
    memory_mb: int | None = None
    processes: int | None = None
    cache_dir: Path = DEFAULT_CACHE  # synthetic data and reference results
    threads: int = max(1, os.cpu_count() or 1)


def find_submissions(path: Path) -> list[Path]:
    """One submission (a .zip, or a folder holding .py/.ipynb files) or a class folder with one
    subfolder or .zip per student."""
    path = Path(path)
    if not path.exists():
        raise InputError("submission or class folder not found", path=str(path))
    if path.suffix == ".zip" or any(p.suffix in (".py", ".ipynb", ".csv") for p in path.iterdir()
                                    if p.is_file()):
        return [path]
    found = sorted(p for p in path.iterdir() if (p.is_dir() and p.name not in SKIP_DIRS
                                                  and not p.name.startswith("."))
                   or p.suffix == ".zip")
    if not found:
        raise InputError("no submissions found: expected .py/.ipynb files or one subfolder "
                         "(or .zip) per student", path=str(path))
    return found


def evaluate(path: Path, assignment: Assignment, out_dir: Path, options: Options = Options(),
             progress: Callable[[str], None] = lambda _: None) -> list[EvaluationResult]:
    from grader.data import load_dataset

    if options.gpu:
        _require_cuda()
    submissions = find_submissions(path)
    dataset = load_dataset(assignment.dataset, options.data_dir,
                           cache_dir=options.cache_dir / "data")
    held_out = _held_out_labels(assignment, options, dataset)
    data = TrainingData(dataset)
    config = train_config(assignment, options.epochs)
    train_limits = Limits.from_spec(assignment.limits, wall_seconds=options.timeout or
                                    assignment.limits.train_wall_seconds,
                                    memory_mb=options.memory_mb, processes=options.processes)
    check_limits = Limits.from_spec(assignment.limits, wall_seconds=options.timeout,
                                    memory_mb=options.memory_mb, processes=options.processes)
    try:
        progress(f"training the reference models ({config['epochs']} epochs, {dataset.source})")
        reference = reference_results(assignment, data, config, train_limits,
                                      cache_dir=options.cache_dir, sandboxed=options.sandboxed,
                                      gpu=options.gpu, threads=options.threads)
        results = []
        for submission in submissions:
            progress(f"grading {submission.name}")
            result = _grade_one(submission, assignment, data, held_out, reference, config,
                                check_limits, train_limits, options, dataset.source)
            save(result, Path(out_dir) / f"{result.student}.json")
            results.append(result)
        return results
    finally:
        data.close()


def _require_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        raise EnvironmentProblem("--gpu was given but CUDA is not available on this machine "
                                 "(torch.cuda.is_available() is False); run without --gpu to "
                                 "train on the CPU")


def _held_out_labels(assignment: Assignment, options: Options, dataset) -> np.ndarray | None:
    if options.labels is not None:
        if assignment.predictions is None:
            raise InputError("--labels was given but the assignment has no [predictions] section",
                             path=str(options.labels))
        from grader.predictions import read_labels

        return read_labels(options.labels, assignment.predictions, dataset.class_names)
    if assignment.predictions is None:
        return None
    return np.asarray(dataset.test_labels, dtype=np.int64)


def _grade_one(submission: Path, assignment: Assignment, data: TrainingData,
               held_out: np.ndarray | None, reference: dict[str, TrainingResult], config: dict,
               check_limits: Limits, train_limits: Limits, options: Options,
               source: str) -> EvaluationResult:
    student = submission.stem if submission.suffix == ".zip" else submission.name
    base = dict(student=student, assignment=assignment.id, course=assignment.course,
                title=assignment.title, grader_version=__version__,
                created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                class_names=list(assignment.dataset.class_names), dataset=source,
                device="cuda" if options.gpu else "cpu",
                reference=[reference[k] for k in reference])
    try:
        with prepared(submission) as root:
            report, probes = check_folder(root, str(submission), assignment, check_limits,
                                          options.sandboxed)
            training = _train_student(report, probes, root, assignment, data, config,
                                      train_limits, options)
        predictions, problem = _score_predictions(report, held_out, assignment)
        items = rubric.score(
            assignment, checks=report.checks + _training_checks(training),
            accuracy={t.model: (t.scores.accuracy if t.ok and t.scores else None)
                      for t in training},
            reference_accuracy={k: (s.accuracy if (s := scores_or_none(r)) else None)
                                for k, r in reference.items()},
            predictions_accuracy=predictions.accuracy if predictions else None,
            predictions_problem=problem)
        earned, possible = rubric.total(items)
        incomplete = report.sandbox.status != "ok" or any(not t.ok for t in training) or any(
            not m.found or m.error for m in report.models)
        return EvaluationResult(**base, status="failed" if incomplete else "ok",
                                error=report.sandbox.reason or None, check=report,
                                training=training, predictions=predictions, rubric=items,
                                total=earned, possible=possible)
    except GraderError as exc:
        return _crashed(base, assignment, str(exc))
    except Exception as exc:  # a grader bug must not stop the class; it is reported per student
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return _crashed(base, assignment, f"internal error while grading: {detail}")


def _crashed(base: dict, assignment: Assignment, reason: str) -> EvaluationResult:
    items = [ItemScore(id=i.id, title=i.title, earned=0.0, possible=i.points, reasons=[reason])
             for i in assignment.rubric]
    return EvaluationResult(**base, status="crashed", error=reason, check=None, training=[],
                            predictions=None, rubric=items, total=0.0,
                            possible=assignment.total_points)


def _train_student(report: CheckReport, probes: list[Probe], root: Path,
                   assignment: Assignment, data: TrainingData, config: dict, limits: Limits,
                   options: Options) -> list[TrainingResult]:
    """Retrain every model that was found and built, in one sandboxed process."""
    buildable = {m.key for m in report.models if m.found and m.params is not None}
    wanted = [m for m in assignment.models if m.train]
    results = {m.key: TrainingResult(model=m.key, ok=False, error="not trained: the model was "
                                     "not found or did not build") for m in wanted
               if m.key not in buildable}
    sources = {p.spec.key: p.source for p in probes if p.source is not None}
    entries = [{"key": m.key, "code": sources[m.key].code, "object": sources[m.key].object_name,
                "args": m.args} for m in wanted if m.key in buildable and m.key in sources]
    if entries:
        _, trained = run_training(entries, data, config, limits, submission=root,
                                  sandboxed=options.sandboxed, gpu=options.gpu,
                                  threads=options.threads)
        results.update(trained)
    return [results[m.key] for m in wanted if m.key in results]


def _training_checks(training: list[TrainingResult]):
    from grader.results import CheckResult

    return [CheckResult(id=f"{t.model}.trains", passed=t.ok,
                        message="trained with the canonical routine" if t.ok else (t.error or ""),
                        model=t.model) for t in training]


def _score_predictions(report: CheckReport, held_out: np.ndarray | None,
                       assignment: Assignment) -> tuple[Scores | None, str]:
    if held_out is None or assignment.predictions is None:
        return None, "the assignment has no predictions.csv"
    p = report.predictions
    if p is None or not p.present:
        return None, f"{assignment.predictions.file} was not handed in"
    if not p.valid or p.labels is None:
        first = p.errors[0].message if p.errors else "malformed"
        return None, f"{assignment.predictions.file} is malformed ({first})"
    preds = np.asarray(p.labels, dtype=np.int64)
    if len(preds) != len(held_out):
        return None, (f"{assignment.predictions.file} has {len(preds):,} rows but the held-out "
                      f"split has {len(held_out):,} images")
    return metrics.scores(preds, held_out, assignment.dataset.num_classes), ""
