"""One student's grading as one job: typed settings in, an EvaluationResult out.

A GradeJob is small and picklable (paths, the frozen Assignment, frozen Settings, the reference
results), so a process pool, a Slurm array task or a plain loop runs `grade(job)` unchanged.
`grade` never raises: a crash, a timeout or a grader bug becomes a zero-score result with the
reason. Its content key covers everything that decides the result, so a stored result is reused
only when nothing that decides it changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from grader import __version__
from grader.errors import GraderError
from grader.grading import localization, metrics, rubric
from grader.grading import weights as checkpoints
from grader.grading.checks import check_folder
from grader.grading.choose import Choice
from grader.grading.predictions import public_mask
from grader.grading.retrain import run_training, train_in_session
from grader.inputs.handins import student_names
from grader.inputs.prepared import PreparedData
from grader.inputs.sources import SKIP_DIRS, list_files, unpacked
from grader.results import (
    CheckReport,
    CheckResult,
    EvaluationResult,
    ItemScore,
    ReferenceBand,
    Scores,
    TrainingResult,
    to_dict,
)
from grader.run.gpus import cuda_device_label
from grader.sandbox.bwrap import Sandbox
from grader.sandbox.limits import Limits
from grader.spec import Assignment


@dataclass(frozen=True)
class Settings:
    """What every student of one run is graded with (the same for the whole class except the
    per-slot placement: threads and gpu_id, which the executor fills in)."""

    prepared: Path                  # prepared-data folder in the cache (grader.inputs.prepared)
    data_key: str                   # full-content hash of the prepared data
    dataset_source: str             # "synthetic (seed 0)" or the data folder, for results
    config: tuple[tuple[str, object], ...]   # the canonical training config, as sorted items
    check_limits: Limits            # for the check (probe) sandbox run
    train_limits: Limits            # for the training sandbox run
    reference: tuple[TrainingResult, ...] = ()   # the reference models' results (trained once)
    reference_bands: tuple[ReferenceBand, ...] = ()   # their accuracy over the reference seeds
    sandboxed: bool = True          # False only under --no-sandbox
    gpu: bool = False               # train on CUDA
    mps: bool = False               # let sandboxes reach the instructor's MPS daemon (opt-in)
    threads: int = 1                # torch/OMP/MKL threads of one sandbox (cores // slots)
    gpu_id: str | None = None       # the one GPU (UUID) this slot's sandboxes see; None: all
    cache_dir: Path | None = None   # the one cache folder (data, references)

    @property
    def training(self) -> dict:
        return dict(self.config)


@dataclass(frozen=True)
class GradeJob:
    student: str                    # result name, unique in the class (grades/<student>.json)
    submission: Path                # the student's folder or .zip
    assignment: Assignment
    settings: Settings
    key: str                        # content key: see job_key


def content_hash(path: Path) -> str:
    """SHA-256 over every file of a submission (relative path and full bytes), or a zip's
    bytes. Caches (__pycache__, .ipynb_checkpoints) are skipped like the grader skips them."""
    digest = hashlib.sha256()
    path = Path(path)
    if path.is_file():
        files = [(path.name, path)]
    else:
        files = sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*")
                       if (p.is_file() or p.is_symlink())
                       and not any(part in SKIP_DIRS for part in p.relative_to(path).parts))
    for rel, p in files:
        digest.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        if p.is_symlink():
            digest.update(b"link:" + os.readlink(p).encode("utf-8", "surrogateescape"))
        else:
            with open(p, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def job_key(submission: Path, assignment: Assignment, settings: Settings) -> str:
    """The hash of everything that decides a student's result: the submission's full
    contents, the assignment spec, the data's full hash, the training config and limits, the
    device, the sandboxing, the CPU thread count, the reference results and the grader
    version. Not which slot or GPU ran it."""
    decided = {
        "submission": content_hash(submission), "assignment": _graded_by(assignment),
        "data": settings.data_key, "config": settings.training,
        "limits": [to_dict(settings.check_limits), to_dict(settings.train_limits)],
        "gpu": settings.gpu, "sandboxed": settings.sandboxed,
        # CPU training's float summation order depends on the thread count (not on the GPU)
        "threads": None if settings.gpu else settings.threads,
        "reference": [_keyed(_decisive(r)) for r in settings.reference],
        "bands": [_keyed(to_dict(b)) for b in settings.reference_bands], "grader": __version__}
    text = json.dumps(decided, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _graded_by(assignment: Assignment) -> dict:
    """The spec without the spec file's path and `[integrity]`, whose starter paths are
    absolute (moving the spec folder would otherwise regrade the class); what grading reads
    of it, the starter code (an unchanged starter file or cell is named as the template), is
    in by content (`starter_digest`), and only when there is starter code, so a spec
    without keeps its key. (`[cluster]` is not part of an Assignment at all.)"""
    graded = _keyed({k: v for k, v in to_dict(assignment).items()
                     if k not in ("integrity", "path")})
    starter = starter_digest(assignment.integrity.starter)
    if starter is not None:
        graded["starter"] = starter
    return graded


def starter_digest(paths: Sequence[str]) -> str | None:
    """SHA-256 over the bytes of the starter's code, not where it is: each file named, and
    each .py and .ipynb file in a folder named, in no particular order (the starter is one set
    of files and cells). None when there is none (paths missing: nothing is the template)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [path / rel for rel in list_files(path) if rel.endswith((".py", ".ipynb"))]
    if not files:
        return None
    digests = sorted({hashlib.sha256(f.read_bytes()).hexdigest() for f in files})
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


# Fields added in 0.4.0 (the public/private split, students' weights, `within`) and later, with the
# values that mean "not used": left out of a key while they hold them, so that adding a spec
# field does not by itself regrade every class (a new grader version still does: its code
# may judge differently)
_LATER_FIELDS = {"held_out": [{"public_fraction": 0.0, "seed": 0}],
                 "weights": [None, {"max_mb": 100, "agreement": 0.95, "mean": None,
                                    "std": None}],
                 "within": [0.0], "floor": [None], "public_accuracy": [None],
                 "public_images": [0], "public_accuracies": [[]],
                 # 0.5.0: task kinds and declared interfaces (a classification spec's values)
                 "task": [{"kind": "classification", "box_loss": "mse", "box_weight": 1.0,
                           "iou_threshold": 0.5}],
                 "interface_spec": [None], "min_param_tensors": [None], "vocab_size": [0],
                 "lengths": [(8, 32), [8, 32]], "embedding_dim": [0], "optimizer": ["sgd"],
                 "box_columns": [(), []], "metric": ["accuracy"], "boxes": [None],
                 "val_iou": [None], "ious": [[]], "hits": [[]]}


def _keyed(value):
    """value (a dataclass's to_dict) without the later fields that hold their unused values."""
    if isinstance(value, dict):
        return {k: _keyed(v) for k, v in value.items()
                if not (k in _LATER_FIELDS and v in _LATER_FIELDS[k])}
    if isinstance(value, (list, tuple)):
        return type(value)(_keyed(v) for v in value)
    return value


def _decisive(run: TrainingResult) -> dict:
    """A reference run without its timings: a reference retrained to the same predictions
    (when it is not cached) must not change every student's key."""
    return {k: v for k, v in to_dict(run).items() if k not in ("seconds", "images_per_second")}


def make_jobs(submissions: list[Path], assignment: Assignment,
              settings: Settings) -> list[GradeJob]:
    names = student_names(submissions)
    return [GradeJob(student=names[p], submission=p, assignment=assignment, settings=settings,
                     key=job_key(p, assignment, settings)) for p in submissions]


def grade(job: GradeJob) -> EvaluationResult:
    """Grade one student. Never raises: any failure is a zero-score result with the reason."""
    s, assignment = job.settings, job.assignment
    base = _base(job)
    try:
        data = PreparedData.open(s.prepared)
        with _placed(s), unpacked(job.submission) as root, _one_process(s) as box:
            # on the CPU one sandboxed process probes and then trains the student's models;
            # on a GPU the check runs apart, in a sandbox that does not see the GPU (a model
            # that moves itself to CUDA when it is available must pass the CPU probes)
            if box is not None:
                box.add_submission(root, skip=SKIP_DIRS)
            report, choices = check_folder(root, str(job.submission), assignment,
                                           s.check_limits, s.sandboxed, box=box)
            training, runs = _train_student(report, choices, root, assignment, data, s, box)
        csv = report.predictions
        report = checkpoints.with_runs(report, runs, csv.labels if csv and csv.valid else None,
                                       len(data.labels), assignment.weights)
        predictions, problem = _score_predictions(report, data.held_out, assignment)
        predictions = localization.with_predicted_boxes(predictions, report.predictions, data,
                                                        assignment)
        own = {m.key: m.weights for m in report.models if assignment.model(m.key).weights}
        items = rubric.score_results(
            assignment, checks=report.checks + _training_checks(training), training=training,
            bands=list(s.reference_bands), predictions=predictions,
            predictions_problem=problem, weights=own)
        earned, possible = rubric.total(items)
        incomplete = report.sandbox.status != "ok" or any(not t.ok for t in training) or any(
            not m.found or m.error for m in report.models) or any(
            w is None or not w.loaded or w.error for w in own.values())
        return EvaluationResult(**base, status="failed" if incomplete else "ok",
                                error=report.sandbox.reason or None, check=report,
                                training=training, predictions=predictions, rubric=items,
                                total=earned, possible=possible)
    except GraderError as exc:
        return crashed(job, str(exc), base)
    except Exception as exc:  # a grader bug must not stop the class; it is reported per student
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return crashed(job, f"internal error while grading: {detail}", base)


def crashed(job: GradeJob, reason: str, base: dict | None = None) -> EvaluationResult:
    """The zero-score result of a student that could not be graded at all."""
    a, base = job.assignment, base or _base(job)
    items = [ItemScore(id=i.id, title=i.title, earned=0.0, possible=i.points, reasons=[reason])
             for i in a.rubric]
    return EvaluationResult(**base, status="crashed", error=reason, check=None, training=[],
                            predictions=None, rubric=items, total=0.0, possible=a.total_points)


def _base(job: GradeJob) -> dict:
    """The fields every result of the job has, graded or crashed."""
    a, s = job.assignment, job.settings
    return dict(student=job.student, assignment=a.id, course=a.course, title=a.title,
                grader_version=__version__,
                created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                class_names=list(a.dataset.class_names), dataset=s.dataset_source,
                device=cuda_device_label(s.gpu_id) if s.gpu else "cpu",
                reference=list(s.reference),
                reference_bands=list(s.reference_bands),
                public_fraction=a.held_out.public_fraction, task=a.task.kind)


@contextlib.contextmanager
def _placed(s: Settings) -> Iterator[None]:
    """While grading, this process's sandboxes see only the slot's GPU (by UUID) and, with
    --mps, the MPS daemon's pipe folder (grader.sandbox.bwrap reads both from the environment);
    the environment is restored afterwards (one slot runs in the grader's own process)."""
    saved = {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "GRADER_MPS_PIPE")}
    if s.gpu and s.gpu_id:
        os.environ["CUDA_VISIBLE_DEVICES"] = s.gpu_id
    if s.mps:
        os.environ["GRADER_MPS_PIPE"] = os.environ.get("CUDA_MPS_PIPE_DIRECTORY",
                                                       "/tmp/nvidia-mps")
    else:
        os.environ.pop("GRADER_MPS_PIPE", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _one_process(s: Settings) -> Iterator[Sandbox | None]:
    """The sandbox a CPU student is probed and trained in, by one process; None on a GPU."""
    if s.gpu:
        yield None
        return
    with Sandbox(s.train_limits, sandboxed=s.sandboxed, threads=s.threads) as box:
        yield box


def _train_student(report: CheckReport, choices: list[Choice], root: Path,
                   assignment: Assignment, data: PreparedData, s: Settings,
                   box: Sandbox | None
                   ) -> tuple[list[TrainingResult], dict[str, checkpoints.WeightsRun]]:
    """Retrain every model that was found and built, and run every checkpoint that loaded
    (the spec's `weights`) on the held-out images: in the process that probed them when it
    is still waiting (box.session), else in a sandboxed process of its own. Gives the
    training results and, per model key, the weights' runs."""
    buildable = {m.key for m in report.models if m.found and m.params is not None}
    wanted = [m for m in assignment.models if m.train]
    results = {m.key: TrainingResult(model=m.key, ok=False, error="not trained: the model was "
                                     "not found or did not build") for m in wanted
               if m.key not in buildable}
    chosen = {c.spec.key: c for c in choices if c.source is not None}
    train = [m for m in wanted if m.key in buildable and m.key in chosen]
    loaded = {m.key: m.weights.file for m in report.models
              if m.key in chosen and m.weights is not None and m.weights.loaded}
    waiting = box is not None and box.session is not None and box.session.alive
    own = assignment.weights            # the students' own normalisation, when the spec says
    normalise = {"mean": list(own.mean), "std": list(own.std)} if own.mean and own.std else {}

    def entry(m, key: str, **more) -> dict:
        c = chosen[m.key]
        where = {"module": c.module} if waiting else {"code": c.source.code}
        return {"key": key, **where, "object": c.source.object_name, "args": m.args, **more}

    entries = [entry(m, m.key) for m in train] + [
        entry(m, f"weights:{m.key}", model=m.key, weights=loaded[m.key], **normalise)
        for m in assignment.models if m.key in loaded]
    runs: dict[str, checkpoints.WeightsRun] = {}
    if entries:
        if waiting:
            _, done = train_in_session(box, entries, data, s.training)
        else:
            _, done = run_training(entries, data, s.training, s.train_limits, submission=root,
                                   sandboxed=s.sandboxed, gpu=s.gpu, threads=s.threads)
        for key, value in done.items():
            if isinstance(value, checkpoints.WeightsRun):
                runs[value.model] = value
            else:
                results[key] = value
    return [results[m.key] for m in wanted if m.key in results], runs


def _training_checks(training: list[TrainingResult]) -> list[CheckResult]:
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
    classes, split = assignment.dataset.num_classes, assignment.held_out
    if split.split:         # the private part's scores, with the public part's accuracy
        return metrics.split_scores(preds, held_out, classes, public_mask(
            len(held_out), split.public_fraction, split.seed)), ""
    return metrics.scores(preds, held_out, classes), ""


def with_placement(job: GradeJob, *, threads: int, gpu_id: str | None) -> GradeJob:
    """The job as one slot runs it (the key does not change)."""
    return dataclasses.replace(job, settings=dataclasses.replace(
        job.settings, threads=threads, gpu_id=gpu_id))


# A result stored under UNFINISHED + key (a student whose Slurm task was killed, say) is shown
# by reports but never reused: the store reuses a result only when its key equals the job's.
UNFINISHED = "unfinished:"


def unfinished(job: GradeJob) -> GradeJob:
    """The job under its unfinished key (see UNFINISHED)."""
    return dataclasses.replace(job, key=UNFINISHED + job.key)
