"""Finished students' results, stored so that a run can resume.

`grades/<student>.json` stays the result file `grader report` reads; the store adds one key to
it, `"key"` (the job's content key), written in the same atomic rename as the result, so a
result and its key can never disagree. A rerun reuses a result only when its stored key equals
the job's key: a changed submission, spec, dataset, training budget, reference or grader
version regrades that student.
"""

from __future__ import annotations

import json
from pathlib import Path

from grader.errors import InputError
from grader.results import EvaluationResult, from_dict, to_dict, write_json_atomic
from grader.run.jobs import GradeJob


class ResultStore:
    def __init__(self, results_dir: Path) -> None:
        self.dir = Path(results_dir)

    def path(self, student: str) -> Path:
        return self.dir / f"{student}.json"

    def _read(self, student: str) -> dict | None:
        try:
            data = json.loads(self.path(student).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def get(self, job: GradeJob) -> EvaluationResult | None:
        """The stored result when its key matches the job's, else None."""
        data = self._read(job.student)
        if data is None or data.get("key") != job.key:
            return None
        try:
            return from_dict(EvaluationResult, data)
        except InputError:
            return None

    def put(self, job: GradeJob, result: EvaluationResult) -> Path:
        """Write the result with the job's key, atomically (temporary file, fsync, rename)."""
        path = self.path(job.student)
        write_json_atomic(path, {**to_dict(result), "key": job.key})
        return path
