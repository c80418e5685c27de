"""The arithmetic of benchmarks/bench_class.py, apart from any GPU, sandbox or torch: what a run
will grade (the plan), the deadline of each of its steps, the time it should take from the
figures recorded so far, and how a short measurement is extrapolated to the full budget.
tests/test_budget.py checks it without training anything.

The expected times use the figures of the one GPU lease that graded a class (an NVIDIA H200,
2026-11-30, the demo budget in batches of 32; benchmarks/README.md and
logs/gpu-h200-2026-11-30.log). They are an estimate for planning a lease, printed as such,
never a result.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

# ---- recorded figures (H200, 2026-11-30) and what is assumed on top of them -----------------
CHECK_S = 3.5           # the check's sandbox per student: 3.1 to 4.4 s recorded
START_S = 4.0           # assumed: the training sandbox's start with `import torch` (3.4 s for a
#                         whole harness job in bench_sandbox, 2-core VM) and CUDA's start
WARMUP_S = 4.0          # a process's first model beyond its steady time: a SimpleNN trained
#                         first took 3.8 to 4.8 s, the same convolutions right after 0.42-0.44 s
STEP_S = {              # seconds per optimiser step, warm, recorded in batches of 32 (126 steps)
    "simplenn": 0.0034,     # SimpleNN-BN's 0.42-0.44 s (SimpleNN's convolutions, warm)
    "simplenn-bn": 0.0034,
    "resnet20": 0.056,      # the reference's 7.05 s: its own warm-up included, so an upper bound
}
OTHER_STEP_S = 0.056    # a model not measured: as ResNet-20
PREDICT_S = 0.5         # assumed: predicting the held-out images once, per model
DATA_S_PER_10K = 2.0    # generating 10,000 synthetic images (1.7 s measured on the 2-core VM)
# A step in batches of 128 is assumed to cost what one in batches of 32 did: these small models
# leave an H100/H200 waiting on kernel launches, not on arithmetic. Unmeasured, like how K
# students side by side slow each other: the plan assumes they do not, which the run measures.

WARM_SHARE = 0.45       # of a run's deadline, the most the untimed step (data, references) gets
TARGET_PER_HOUR = 200   # issue 25: a class of 200 in at most one H100-hour


@dataclass(frozen=True)
class Step:
    name: str                       # "warm" (data, references, one student) or "--per-gpu K"
    per_gpu: int | None             # K; None for the warm step
    students: int                   # students it grades
    expected_s: float               # from the recorded figures (see above): an estimate


@dataclass(frozen=True)
class Plan:
    budget: str                     # name in grader.run.options.BUDGETS
    budget_epochs: int              # the budget's epochs: what figures are extrapolated to
    epochs: int                     # epochs each model trains in this run
    train_images: int               # training images per epoch
    batch_size: int
    models: tuple[str, ...]         # reference ids of the models trained, in order
    reference_seeds: int
    class_size: int                 # students in the built class
    waves: int | None               # K x waves students per K; None: the whole class
    steps: tuple[Step, ...]
    deadline: float | None          # seconds for the whole run; None: no deadline
    gpu: str = "NVIDIA H200"        # the recorded figures' GPU
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def expected_s(self) -> float:
        return sum(s.expected_s for s in self.steps)

    @property
    def extrapolated(self) -> bool:
        return self.epochs < self.budget_epochs


def steps_per_epoch(images: int, batch_size: int) -> int:
    """As the canonical routine counts them (a last batch of one image is dropped)."""
    batch = min(batch_size, images)
    steps = math.ceil(images / batch)
    return steps - 1 if images > 1 and images % batch == 1 else steps


def student_seconds(models: tuple[str, ...], epochs: int, images: int, batch_size: int) -> float:
    """Expected slot seconds of one student who trains every model (recorded figures)."""
    steps = steps_per_epoch(images, batch_size)
    training = sum(epochs * steps * STEP_S.get(m, OTHER_STEP_S) for m in models)
    return CHECK_S + START_S + WARMUP_S + training + epochs * len(models) * PREDICT_S


def reference_seconds(models: tuple[str, ...], epochs: int, images: int, batch_size: int,
                      seeds: int) -> float:
    """Expected seconds of the reference models, one seed after another (no check)."""
    return seeds * (student_seconds(models, epochs, images, batch_size) - CHECK_S)


def make_plan(*, budget: str, budget_epochs: int, epochs: int, train_images: int,
              batch_size: int, models: tuple[str, ...], reference_seeds: int, class_size: int,
              per_gpu: tuple[int, ...], waves: int | None, deadline: float | None,
              synthetic_images: int = 0) -> Plan:
    """What a --gpu run grades, step by step, and how long each step should take
    (synthetic_images: the synthetic images to generate first, both splits; 0 with --data)."""
    one = student_seconds(models, epochs, train_images, batch_size)
    data = DATA_S_PER_10K * synthetic_images / 10_000
    warm = data + reference_seconds(models, epochs, train_images, batch_size,
                                    reference_seeds) + one
    steps = [Step("warm", None, 1, warm)]
    for k in per_gpu:
        students = class_size if waves is None else min(class_size, k * waves)
        steps.append(Step(f"--per-gpu {k}", k, students, math.ceil(students / k) * one))
    notes = []
    if epochs < budget_epochs:
        notes.append(f"each model trains {epochs} of the budget's {budget_epochs} epochs; the "
                     f"figures are extrapolated to {budget_epochs} (labelled so)")
    if waves is not None:
        notes.append(f"{waves} wave(s) of K students per K, not the class of {class_size}: "
                     "students per hour and the class's time are extrapolated from them")
    return Plan(budget=budget, budget_epochs=budget_epochs, epochs=epochs,
                train_images=train_images, batch_size=batch_size, models=models,
                reference_seeds=reference_seeds, class_size=class_size, waves=waves,
                steps=tuple(steps), deadline=deadline, notes=tuple(notes))


def step_deadline(left: float, steps_left: int, warm: bool) -> float:
    """Seconds the next step may take: the warm step at most WARM_SHARE of what is left, a
    graded step an equal share of what is left among the graded steps not yet run (a step that
    ends early leaves its time to the next)."""
    return left * WARM_SHARE if warm else left / max(1, steps_left)


def initial_deadlines(plan: Plan) -> list[float | None]:
    """Each step's deadline if every step before it used all of its own."""
    if plan.deadline is None:
        return [None] * len(plan.steps)
    left, out = plan.deadline, []
    graded = sum(1 for s in plan.steps if s.per_gpu is not None)
    for step in plan.steps:
        seconds = step_deadline(left, graded, step.per_gpu is None)
        graded -= step.per_gpu is not None
        out.append(seconds)
        left -= seconds
    return out


def format_plan(plan: Plan) -> str:
    full = student_seconds(plan.models, plan.budget_epochs, plan.train_images, plan.batch_size)
    lines = [
        f"plan: budget {plan.budget!r}: {plan.epochs} epoch(s) per model (the budget: "
        f"{plan.budget_epochs}) on {plan.train_images:,} training images, batches of "
        f"{plan.batch_size} ({steps_per_epoch(plan.train_images, plan.batch_size)} steps an "
        f"epoch); models {', '.join(plan.models)}; reference under {plan.reference_seeds} "
        f"seed(s); class of {plan.class_size}",
    ]
    lines += [f"  {n}" for n in plan.notes]
    lines.append(f"expected from the recorded {plan.gpu} figures (an estimate, not a result; "
                 "K students side by side assumed not to slow each other):")
    for step, deadline in zip(plan.steps, initial_deadlines(plan)):
        what = ("data, the references and one student, untimed" if step.per_gpu is None
                else f"{step.students} student{'s' if step.students != 1 else ''}")
        limit = f"deadline {deadline:.0f} s" if deadline is not None else "no deadline"
        lines.append(f"  {step.name:<13} {what:<48} expected {step.expected_s:6.0f} s   {limit}")
    total = plan.expected_s
    fits = "" if plan.deadline is None else (
        f" (deadline {plan.deadline:.0f} s: " + ("fits)" if total <= plan.deadline else
                                                   "does NOT fit: later steps will be cut)"))
    lines.append(f"  total         expected {total:.0f} s{fits}")
    lines.append(f"at the full budget ({plan.budget_epochs} epochs), one student who trains every "
                 f"model: about {full:.0f} slot-seconds; {plan.class_size} students at --per-gpu "
                 "K: about " + ", ".join(
                     f"K={s.per_gpu} {_duration(math.ceil(plan.class_size / s.per_gpu) * full)}"
                     for s in plan.steps if s.per_gpu is not None)
                 + f"; issue 25's target ({TARGET_PER_HOUR} students in one GPU-hour) needs "
                 f"{3600 / TARGET_PER_HOUR:.0f} GPU-seconds per student")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


# ---- from a measurement to the budget -----------------------------------------------------------

@dataclass(frozen=True)
class StudentTime:
    """Where one student's time in its slot went, from its events and its result."""

    student: str
    slot: float                     # started -> finished, seconds
    check: float                    # the check's sandbox, its start included
    models: dict[str, float]        # per model key that trained: its training epochs' seconds
    images: int                     # training images its models went through

    @property
    def epochs(self) -> float:
        return sum(self.models.values())

    @property
    def rest(self) -> float:
        """Sandbox starts, imports, CUDA's start, formats probes, predictions, waiting."""
        return self.slot - self.check - self.epochs


def warmup_estimate(rows: list[StudentTime]) -> float:
    """A training process's warm-up, from ece661-hw2's order: SimpleNN trains first and
    SimpleNN-BN, with the same convolutions, right after it, so the first's extra seconds are
    the process's warm-up (median over the students who trained both; 0 when none did, which
    makes the extrapolation an upper bound)."""
    extra = [max(0.0, r.models["simplenn"] - r.models["simplenn-bn"]) for r in rows
             if "simplenn" in r.models and "simplenn-bn" in r.models]
    return statistics.median(extra) if extra else 0.0


@dataclass(frozen=True)
class Extrapolation:
    epochs: int                     # the budget's epochs
    slot_s: float                   # median slot seconds per student at those epochs
    slot_upper_s: float             # the same with the warm-up scaled too (an upper bound)
    per_hour: float                 # students per hour on one GPU with K slots kept busy
    images_per_s: float             # training images per second over the GPU
    class_s: float                  # the class of `students` at this K, references not included


def extrapolate(rows: list[StudentTime], *, per_gpu: int, measured_epochs: int,
                budget_epochs: int, students: int, warmup: float) -> Extrapolation | None:
    """Each student's slot at the budget's epochs: check and the rest as measured, the
    warm-up once, the training epochs' other seconds scaled by budget / measured epochs (the
    rest's predictions after each epoch are not scaled: small on a GPU). K slots kept busy
    give K / slot students per second."""
    if not rows or measured_epochs < 1:
        return None
    scale = budget_epochs / measured_epochs
    slots = [r.check + r.rest + min(warmup, r.epochs) + max(0.0, r.epochs - warmup) * scale
             for r in rows]
    upper = [r.check + r.rest + r.epochs * scale for r in rows]
    slot = statistics.median(slots)
    per_hour = per_gpu * 3600 / slot if slot > 0 else 0.0
    images = statistics.median(r.images for r in rows) * scale
    return Extrapolation(epochs=budget_epochs, slot_s=slot, slot_upper_s=statistics.median(upper),
                         per_hour=per_hour, images_per_s=images * per_hour / 3600,
                         class_s=math.ceil(students / per_gpu) * slot)


def describe(rows: list[StudentTime]) -> str:
    """Medians (and ranges) of where the slots' time went."""
    if not rows:
        return "no student trained"

    def part(name: str, values: list[float]) -> str:
        return (f"{name} {statistics.median(values):.1f} s ({min(values):.1f}-"
                f"{max(values):.1f})")
    return (f"per student in its slot, median (range) of {len(rows)}: "
            + part("slot", [r.slot for r in rows]) + " = "
            + part("check", [r.check for r in rows]) + " + "
            + part("training epochs", [r.epochs for r in rows]) + " + "
            + part("the rest", [r.rest for r in rows]))
