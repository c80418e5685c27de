"""The typed request of `grader evaluate` and `grader gradescope` (both grade through
grader.run.evaluate.evaluate): the data to grade with, the limits, and how many students at once;
and the named grading budgets (`evaluate --budget`), laid over the spec before grading.

The defaults live here and only here: the command line shows them in its help and passes only
what was given. This module is kept apart from grader.run.evaluate (which imports numpy and the
grading code) so that reading these defaults costs a command nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from grader.errors import InputError
from grader.spec.types import Assignment

OUT_DIR = Path("grades")            # evaluate's default --out (integrity's default --results)


@dataclass(frozen=True)
class Budget:
    """A grading budget laid over the spec's: how long every model, the students' and the
    reference alike, trains, and on how many images. None keeps the spec's value; `--epochs`
    still overrides the epochs."""

    epochs: int | None = None       # [training] epochs
    batch_size: int | None = None   # [training] batch_size
    eval_images: int | None = None  # [training] eval_images (0: every held-out image)
    synthetic_train: int | None = None   # [dataset] synthetic_train: the built-in synthetic
    #                                 data's training images (a --data set keeps its own)

    def describe(self) -> str:
        """One phrase for help texts and the benchmark's plan ("15 epochs, batches of 128")."""
        parts = [f"{self.epochs} epochs" if self.epochs is not None else "",
                 f"batches of {self.batch_size}" if self.batch_size is not None else "",
                 "" if self.eval_images is None else "every held-out image scored"
                 if self.eval_images == 0 else f"{self.eval_images:,} held-out images scored",
                 f"{self.synthetic_train:,} synthetic training images"
                 if self.synthetic_train is not None else ""]
        return ", ".join(p for p in parts if p) or "the spec's own [training] and [dataset]"

    def apply(self, assignment: Assignment) -> Assignment:
        """The assignment with this budget's values in place of the spec's (the same object
        when the budget changes nothing)."""
        budget = self
        if assignment.task.kind != "classification":
            # the sizes are CIFAR-10's: a localization or sequence spec keeps its own batch
            # (HW8 steps one sequence at a time) and stand-in (50,000 256x256 images: 9.8 GB)
            budget = replace(self, batch_size=None, synthetic_train=None)
        training = {k: v for k, v in (("epochs", budget.epochs),
                                      ("batch_size", budget.batch_size),
                                      ("eval_images", budget.eval_images)) if v is not None}
        if not training and budget.synthetic_train is None:
            return assignment
        dataset = assignment.dataset if budget.synthetic_train is None else replace(
            assignment.dataset, synthetic_train=budget.synthetic_train)
        return replace(assignment, training=replace(assignment.training, **training),
                       dataset=dataset)


# `grader evaluate --budget NAME`. "real" is the issue-25 grading budget for a CIFAR-10-sized
# class (docs/gpu.md): 15 epochs, about half of ECE 661 HW2's 30 for SimpleNN, on a training set
# of CIFAR-10's 50,000 images, in HW2's batches of 128 (the demo's 32 would take four times the
# steps), scored on every held-out image. It is meant for a GPU; the spec's other [training]
# values (lr, schedule, seeds) stay.
BUDGETS = {
    "spec": Budget(),               # the spec's own (ece661-hw2: the demo, 2 epochs on 2,000)
    "real": Budget(epochs=15, batch_size=128, eval_images=0, synthetic_train=50_000),
}
DEFAULT_BUDGET = "spec"


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
