"""The typed request of `grader evaluate` and `grader gradescope` (both grade through
grader.run.evaluate.evaluate): the data to grade with, the limits, and how many students at once.

The defaults live here and only here: the command line shows them in its help and passes only
what was given. This module is kept apart from grader.run.evaluate (which imports numpy and the
grading code) so that reading these defaults costs a command nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.errors import InputError

OUT_DIR = Path("grades")            # evaluate's default --out (integrity's default --results)


@dataclass(frozen=True)
class Options:
    data_dir: Path | None = None    # a dataset folder/file; None: the built-in synthetic data
    labels: Path | None = None      # held-out labels for predictions.csv; None: the test split's
    epochs: int | None = None       # override the spec's training budget
    gpu: bool = False               # train on CUDA (refused clearly when there is none)
    sandboxed: bool = True          # False only with --no-sandbox
    timeout: int | None = None      # wall seconds per student process (check and training)
    memory_mb: int | None = None    # memory per student process tree; None: the spec's
    processes: int | None = None    # processes/threads per student process tree; None: the spec's
    cache_dir: Path | None = None   # None: cache_folder() decides ($GRADER_CACHE, ...)
    jobs: int | None = None         # students graded at once; None: one per core (CPU, capped
    #                                 by memory) or per_gpu per visible GPU
    per_gpu: int = 1                # students sharing one GPU (each in its own CUDA context)
    mps: bool = False               # sandboxes use the instructor's MPS daemon (opt-in)
    force: bool = False             # regrade even students whose stored result matches
    only: tuple[str, ...] = ()      # grade just these students (regraded even when stored)
    threads: int | None = None      # cores to divide among the slots; None: this process's

    def __post_init__(self) -> None:
        if (self.per_gpu != 1 or self.mps) and not self.gpu:
            raise InputError("--per-gpu and --mps need --gpu")
