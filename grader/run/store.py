"""Finished students' results, stored so that a run can resume.

`grades/<student>.json` stays the result file `grader report` reads; the store adds one key to
it, `"key"` (the job's content key), written in the same atomic rename as the result, so a
result and its key can never disagree. A rerun reuses a result only when its stored key equals
the job's key: a changed submission, spec, dataset, training budget, reference or grader
version regrades that student. A result written by a Slurm array task (ArrayTaskStore) also
names its array (`"slurm_array"`), so a waiting submitter and `grader status` tell this array's
results from older ones without comparing clocks.

This module is the only one that reads or writes those files' keys: others get a `Stored`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from grader.errors import InputError
from grader.results import EvaluationResult, from_dict, to_dict, write_json_atomic
from grader.run.jobs import GradeJob

KEY_FIELD = "key"                   # in every stored result: the job's content key
ARRAY_FIELD = "slurm_array"         # in a result an array task wrote: its array's Slurm job id


@dataclass(frozen=True)
class Stored:
    """One stored file, as read back: what the store added, and the result itself."""

    key: str | None                 # the content key it was stored under (jobs.UNFINISHED +
    #                                 the job's key for a student who could not be graded)
    array: str | None               # the Slurm array whose task wrote it; None: written by
    #                                 this machine (or by a task of an older grader)
    result: EvaluationResult | None  # None where the file is not a result of this schema
    #                                 (None everywhere: no file, or not a JSON object)

    def written_by(self, key: str, array: str | None) -> bool:
        """Whether this is the result for `key` written by a task of array `array`."""
        return array is not None and self.key == key and self.array == array


class ResultStore:
    def __init__(self, results_dir: Path) -> None:
        self.dir = Path(results_dir)

    def path(self, student: str) -> Path:
        return self.dir / f"{student}.json"

    def read(self, student: str) -> Stored:
        """What is stored for `student`, whatever its key."""
        try:
            data = json.loads(self.path(student).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        if not isinstance(data, dict):
            return Stored(key=None, array=None, result=None)
        key, array = data.get(KEY_FIELD), data.get(ARRAY_FIELD)
        try:
            result = from_dict(EvaluationResult, data)
        except InputError:
            result = None
        return Stored(key=key if isinstance(key, str) else None,
                      array=array if isinstance(array, str) else None, result=result)

    def get(self, job: GradeJob) -> EvaluationResult | None:
        """The stored result when its key matches the job's, else None."""
        stored = self.read(job.student)
        return stored.result if stored.key == job.key else None

    def written_by(self, job: GradeJob, array: str | None) -> bool:
        """Whether the stored result for `job` (its key) was written by array task(s) `array`."""
        return self.read(job.student).written_by(job.key, array)

    def put(self, job: GradeJob, result: EvaluationResult) -> Path:
        """Write the result with the job's key, atomically (temporary file, fsync, rename)."""
        return self.write(job.student, job.key, result)

    def write(self, student: str, key: str, result: EvaluationResult) -> Path:
        """Write `result` for `student` under `key` (put, for a caller without the job)."""
        path = self.path(student)
        write_json_atomic(path, {**to_dict(result), **self._added(key)})
        return path

    def _added(self, key: str) -> dict:
        """What the store adds to a result's fields on disk."""
        return {KEY_FIELD: key}


class ArrayTaskStore(ResultStore):
    """The store as a Slurm array task writes it: each result also names the array that wrote
    it (ARRAY_FIELD); nothing more once `closed` (Slurm has begun to kill the task), so a
    student whose sandbox died of Slurm's SIGTERM is not stored as a failure of their own."""

    closed = False

    def __init__(self, results_dir: Path, *, array: str | None) -> None:
        super().__init__(results_dir)
        self.array = array              # this task's array job id (None outside Slurm)

    def write(self, student: str, key: str, result: EvaluationResult) -> Path:
        if self.closed:
            return self.path(student)
        return super().write(student, key, result)

    def _added(self, key: str) -> dict:
        return {KEY_FIELD: key, ARRAY_FIELD: self.array}
