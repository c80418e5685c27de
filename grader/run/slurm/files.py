"""The files a Slurm run shares between the submitting machine and the nodes, in
`<results>/.slurm/`, each read and written here only:

- `manifest.json`: which student went to which array task of which array (`Manifest`; written
  by the submitter under `manifest.lock`, read by `grader status`);
- `jobs-<id>.json`: each submitted student's crashed result, less its reason
  (`CrashedTemplate`), so that `grader status` can record a killed student without unpickling
  anything;
- `started/<student>`: "<node> <time> <array id>", written by a task when it starts a student.

The results themselves are the store's (grader.run.store); submitit's own folders
(`.slurm/<id>_<task>/`: the pickled call, the task's log) are submitit's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from grader.errors import InputError
from grader.results import (
    EvaluationResult,
    from_dict,
    to_dict,
    write_atomic,
    write_json_atomic,
)
from grader.run.jobs import crashed

if TYPE_CHECKING:
    from grader.run.jobs import GradeJob

SLURM_DIR = ".slurm"


def slurm_folder(results_dir: Path) -> Path:
    """`<results>/.slurm`: private to the instructor (created 0700: submitit's pickles)."""
    return Path(results_dir) / SLURM_DIR


# ------------------------------------------------------------------------------ the manifest

@dataclass(frozen=True)
class Submitted:
    """One submitted array, as the manifest records it."""

    job_id: str                     # the array's Slurm job id ("1234")
    tasks: int                      # array tasks (chunks)
    students: dict[str, int]        # student -> array task index
    submitted: str                  # ISO 8601


@dataclass(frozen=True)
class Placement:
    """Where a student's latest submission went."""

    key: str                        # the job's content key when it was submitted
    job: str                        # the array's Slurm job id (one of Manifest.arrays)
    task: int                       # the array task index that grades it


@dataclass(frozen=True)
class Manifest:
    """`.slurm/manifest.json`, checked (read_manifest)."""

    students: dict[str, Placement]  # student -> their latest submission
    arrays: tuple[Submitted, ...]   # every array submitted for this folder, oldest first

    def to_json(self) -> dict:
        return {"students": {s: dataclasses.asdict(p) for s, p in self.students.items()},
                "arrays": [dataclasses.asdict(a) for a in self.arrays]}


def manifest_path(results_dir: Path) -> Path:
    return slurm_folder(results_dir) / "manifest.json"


@contextlib.contextmanager
def _locked(folder: Path):
    """An exclusive lock on `.slurm/manifest.lock` (held until the block ends): one
    read-modify-write of the manifest at a time, across processes and submitters."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(folder / "manifest.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def update_manifest(folder: Path, submitted: Submitted, jobs: Iterable[GradeJob]) -> None:
    """Record an array and its students, under the manifest lock, written atomically. An
    unreadable manifest is replaced (the array just submitted must be recorded)."""
    with _locked(folder):
        try:
            manifest = read_manifest(folder.parent)
        except InputError:
            manifest = Manifest(students={}, arrays=())
        students = dict(manifest.students)
        for job in jobs:
            students[job.student] = Placement(key=job.key, job=submitted.job_id,
                                              task=submitted.students[job.student])
        updated = Manifest(students=students, arrays=(*manifest.arrays, submitted))
        write_json_atomic(folder / "manifest.json", updated.to_json())


def read_manifest(results_dir: Path) -> Manifest:
    """The manifest, checked: InputError naming the file where it is not one grader wrote."""
    path = manifest_path(results_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no Slurm submission recorded in this results folder (no "
                         ".slurm/manifest.json); run grader evaluate --executor slurm --out "
                         "with it first", path=str(results_dir)) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"corrupt Slurm manifest: {exc}", path=str(path)) from None
    manifest = _parse_manifest(data)
    if isinstance(manifest, str):
        raise InputError(f"not a grader Slurm manifest: {manifest}", path=str(path))
    return manifest


def _parse_manifest(data: Any) -> Manifest | str:
    """The manifest, or what is wrong with it."""
    def bad(value, fields: dict) -> bool:
        return not isinstance(value, dict) or any(not isinstance(value.get(k), t)
                                                  for k, t in fields.items())

    if not isinstance(data, dict) or not isinstance(data.get("students"), dict) \
            or not isinstance(data.get("arrays", []), list):
        return "expected an object with \"students\" (an object) and \"arrays\" (a list)"
    arrays = []
    for i, array in enumerate(data.get("arrays", [])):
        if bad(array, {"job_id": str, "tasks": int}) or \
                not isinstance(array.get("submitted", ""), str):
            return f"arrays[{i}]: expected job_id (text), tasks (a number), submitted (text)"
        students = array.get("students")
        arrays.append(Submitted(job_id=array["job_id"], tasks=array["tasks"],
                                students=dict(students) if isinstance(students, dict) else {},
                                submitted=array.get("submitted", "")))
    known = {a.job_id for a in arrays}
    placed = {}
    for student, entry in data["students"].items():
        if bad(entry, {"key": str, "job": str, "task": int}):
            return f"students.{student}: expected key (text), job (text), task (a number)"
        if entry["job"] not in known:
            return f"students.{student}: job {entry['job']} is not among the arrays"
        placed[student] = Placement(key=entry["key"], job=entry["job"], task=entry["task"])
    return Manifest(students=placed, arrays=tuple(arrays))


# ----------------------------------------------------------------------------- the jobs file

@dataclass(frozen=True)
class CrashedTemplate:
    """What `grader status` needs to record a submitted student as unfinished without their
    job: its key and its crashed result, whose reason with_reason fills in. Plain JSON in
    `.slurm/jobs-<id>.json`, never a pickle."""

    key: str                        # the job's content key when it was submitted
    crashed: EvaluationResult       # jobs.crashed(job, ""): the rubric's items, zero points

    @classmethod
    def of(cls, job: GradeJob) -> CrashedTemplate:
        return cls(key=job.key, crashed=crashed(job, ""))

    def with_reason(self, reason: str) -> EvaluationResult:
        """The crashed result saying `reason`, created now."""
        return dataclasses.replace(
            self.crashed, error=reason, created=dt.datetime.now(dt.timezone.utc).isoformat(
                timespec="seconds"),
            rubric=[dataclasses.replace(item, reasons=[reason]) for item in self.crashed.rubric])


def jobs_path(folder: Path, job_id: str) -> Path:
    """`.slurm/jobs-<id>.json`: student -> CrashedTemplate, for the array `job_id`."""
    return Path(folder) / f"jobs-{job_id}.json"


def write_jobs_file(folder: Path, job_id: str, jobs: Iterable[GradeJob]) -> None:
    """Write the array's templates (CrashedTemplate.of each job), atomically."""
    templates = {j.student: CrashedTemplate.of(j) for j in jobs}
    write_json_atomic(jobs_path(folder, job_id), {
        student: {"key": t.key, "crashed": to_dict(t.crashed)}
        for student, t in templates.items()})


def read_jobs_file(folder: Path, job_id: str) -> dict[str, CrashedTemplate]:
    """The array's templates by student; a student whose entry is unreadable (a hand-edited
    file) is left out, as is everyone when the file is."""
    try:
        data = json.loads(jobs_path(folder, job_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    templates = {}
    for student, entry in (data.items() if isinstance(data, dict) else ()):
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) \
                or not isinstance(entry.get("crashed"), dict):
            continue
        try:
            result = from_dict(EvaluationResult, entry["crashed"])
        except InputError:
            continue
        templates[student] = CrashedTemplate(key=entry["key"], crashed=result)
    return templates


# ----------------------------------------------------------------------- the started markers

def started_marker(folder: Path, student: str) -> Path:
    """`.slurm/started/<student>`: "<node> <time> <array id>", written when a task starts it."""
    return Path(folder) / "started" / student


def mark_started(folder: Path, student: str, *, node: str, time: float,
                 array: str | None) -> None:
    write_atomic(started_marker(folder, student), f"{node} {time} {array or '-'}\n".encode())


def has_started(folder: Path, student: str, array: str) -> bool:
    """Whether a task of `array` has started grading `student`."""
    try:
        fields = started_marker(folder, student).read_text(encoding="utf-8").split()
    except OSError:
        return False
    return len(fields) < 3 or fields[2] == array     # a marker without an id: an older grader
