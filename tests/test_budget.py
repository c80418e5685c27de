"""Grading budgets (grader.run.options.BUDGETS, `grader evaluate --budget`) and the plan and
arithmetic of the real-budget benchmark (benchmarks/bench_class.py, benchmarks/class_plan.py):
all without a GPU and without training."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from benchmarks.class_plan import (
    StudentTime,
    extrapolate,
    format_plan,
    initial_deadlines,
    make_plan,
    step_deadline,
    steps_per_epoch,
    warmup_estimate,
)
from grader.cli import main
from grader.grading.retrain import train_config
from grader.run.executors import Event
from grader.run.options import BUDGETS, DEFAULT_BUDGET, Budget
from grader.spec import load

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "bench_class.py"


# ---- the budgets --------------------------------------------------------------------------------

def test_the_default_budget_is_the_spec_itself():
    hw2 = load("ece661-hw2")
    assert DEFAULT_BUDGET == "spec"
    assert BUDGETS[DEFAULT_BUDGET].apply(hw2) is hw2
    assert Budget().apply(hw2) is hw2


def test_real_budget_sets_epochs_batches_scoring_and_images_and_keeps_the_rest():
    hw2 = load("ece661-hw2")
    real = BUDGETS["real"].apply(hw2)
    assert (real.training.epochs, real.training.batch_size, real.training.eval_images,
            real.dataset.synthetic_train) == (15, 128, 0, 50_000)
    # what the budget does not name stays the spec's
    assert (real.training.lr, real.training.schedule, real.training.reference_seeds,
            real.dataset.synthetic_test, real.models, real.rubric, real.limits) == \
        (hw2.training.lr, hw2.training.schedule, hw2.training.reference_seeds,
         hw2.dataset.synthetic_test, hw2.models, hw2.rubric, hw2.limits)
    assert hw2.training.epochs == 2 and hw2.dataset.synthetic_train == 2000   # not mutated
    # --epochs still overrides the budget's epochs, the rest of the budget stays
    config = train_config(real, 3)
    assert (config["epochs"], config["batch_size"], config["eval_images"]) == (3, 128, 0)


def test_a_budget_names_only_what_it_changes():
    hw2 = load("ece661-hw2")
    longer = Budget(epochs=7).apply(hw2)
    assert longer.training.epochs == 7 and longer.training.batch_size == hw2.training.batch_size
    assert longer.dataset == hw2.dataset
    assert "7 epochs" in Budget(epochs=7).describe()
    assert BUDGETS["real"].describe() == ("15 epochs, batches of 128, every held-out image "
                                          "scored, 50,000 synthetic training images")


def _fake_evaluate(monkeypatch) -> dict:
    seen = {}

    def fake(path, assignment, out_dir, options, **kw):
        seen.update(assignment=assignment, options=options)
        return []
    monkeypatch.setattr("grader.run.evaluate.evaluate", fake)
    return seen


@pytest.mark.parametrize("argv, epochs, batch, images", [
    ([], 2, 32, 2000),                                       # the spec's: the main job
    (["--budget", "spec"], 2, 32, 2000),
    (["--budget", "real"], 15, 128, 50_000),
    (["--budget", "real", "--epochs", "3"], 3, 128, 50_000),  # --epochs over the budget
])
def test_evaluate_budget_option_reaches_the_grading(tmp_path, monkeypatch, argv, epochs, batch,
                                                    images):
    seen = _fake_evaluate(monkeypatch)
    (tmp_path / "class" / "ann").mkdir(parents=True)
    (tmp_path / "class" / "ann" / "simplenn.py").write_text("import torch\n")
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "class"), "-a", "ece661-hw2",
                                       "--no-sandbox", "--out", str(tmp_path / "out"), *argv])
    assert result.exit_code == 0, result.output
    config = train_config(seen["assignment"], seen["options"].epochs)
    assert (config["epochs"], config["batch_size"],
            seen["assignment"].dataset.synthetic_train) == (epochs, batch, images)
    if not argv:
        assert seen["assignment"] == load("ece661-hw2")


def test_unknown_budget_is_a_usage_error_naming_the_budgets(tmp_path):
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path), "-a", "ece661-hw2",
                                       "--budget", "huge"])
    assert result.exit_code == 2
    assert "'huge' is not one of 'spec', 'real'" in result.output


# ---- the benchmark's plan -----------------------------------------------------------------------

def real_plan(**kw):
    real = BUDGETS["real"]
    args = dict(budget="real", budget_epochs=real.epochs, epochs=1, train_images=50_000,
                batch_size=128, models=("simplenn", "simplenn-bn", "resnet20"),
                reference_seeds=3, class_size=50, per_gpu=(1, 2, 4, 8), waves=1,
                deadline=420.0, synthetic_images=60_000)
    return make_plan(**{**args, **kw})


def test_plan_grades_k_times_waves_students_per_k_and_extrapolates():
    plan = real_plan()
    assert [(s.per_gpu, s.students) for s in plan.steps] == \
        [(None, 1), (1, 1), (2, 2), (4, 4), (8, 8)]
    assert plan.extrapolated
    whole = real_plan(waves=None, epochs=15)
    assert [s.students for s in whole.steps[1:]] == [50, 50, 50, 50] and not whole.extrapolated
    # K slots side by side: a step takes ceil(students / K) student-times, K=1 the longest
    times = {s.per_gpu: s.expected_s for s in whole.steps[1:]}
    assert times[1] == pytest.approx(50 * times[8] / 7, rel=1e-9)     # 50 vs ceil(50/8) = 7


def test_plan_deadlines_share_what_is_left_and_a_fast_step_leaves_time_to_the_next():
    plan = real_plan()
    deadlines = initial_deadlines(plan)
    assert deadlines[0] == pytest.approx(0.45 * 420)              # the untimed step's cap
    assert deadlines[1:] == pytest.approx([(420 - 189) / 4] * 4)
    assert sum(deadlines) == pytest.approx(420)
    assert step_deadline(240, 4, warm=False) == 60
    assert step_deadline(240 - 20, 3, warm=False) == pytest.approx(220 / 3)   # 60 -> 73.3
    assert initial_deadlines(real_plan(deadline=None)) == [None] * 5


def test_plan_text_says_what_runs_and_that_times_are_estimates():
    text = format_plan(real_plan())
    for expected in ("budget 'real': 1 epoch(s) per model (the budget: 15) on 50,000 training "
                     "images, batches of 128 (391 steps an epoch)",
                     "extrapolated to 15", "an estimate, not a result", "--per-gpu 8",
                     "8 students", "deadline 189 s", "deadline 58 s", "fits",
                     "needs 18 GPU-seconds per student"):
        assert expected in text, expected
    assert "does NOT fit" in format_plan(real_plan(deadline=60.0))


def test_steps_per_epoch_drops_a_last_batch_of_one_as_the_routine_does():
    assert steps_per_epoch(50_000, 128) == 391
    assert steps_per_epoch(2000, 32) == 63
    assert steps_per_epoch(129, 128) == 1
    assert steps_per_epoch(10, 128) == 1


def test_bench_class_plan_runs_without_a_gpu_or_torch():
    probe = ("import runpy, sys; sys.argv = sys.argv[1:]; sys.path.insert(0, sys.argv[0]"
             ".rsplit('/', 1)[0]); runpy.run_path(sys.argv[0], run_name='__main__'); "
             "print('imported:', sorted({'torch', 'numpy', 'grader.run.evaluate'} & "
             "set(sys.modules)))")
    run = subprocess.run([sys.executable, "-c", probe, str(BENCH), "--gpu", "--budget", "real",
                          "--epochs", "1", "--waves", "1", "--deadline", "420", "--plan"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "on 50,000 training images" in run.stdout
    assert "--per-gpu 1" in run.stdout and "--per-gpu 8" in run.stdout
    assert "total         expected" in run.stdout
    assert "imported: []" in run.stdout          # no torch, no grading code: any machine


def test_bench_class_refuses_a_gpu_class_under_50():
    run = subprocess.run([sys.executable, str(BENCH), "--gpu", "--students", "20", "--plan"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2 and "at least 12 (50 with --gpu)" in run.stderr


# ---- from a measurement to the budget -----------------------------------------------------------

def row(name="alice01", slot=30.0, check=4.0, models=None, images=150_000):
    models = {"simplenn": 6.0, "simplenn-bn": 2.0, "resnet20": 8.0} if models is None else models
    return StudentTime(student=name, slot=slot, check=check, models=models, images=images)


def test_warmup_is_the_first_simplenn_over_the_batchnorm_one_else_nothing():
    assert warmup_estimate([row(), row(models={"simplenn": 5.0, "simplenn-bn": 2.0}),
                            row(models={"simplenn": 1.0, "simplenn-bn": 2.0})]) == 3.0
    assert warmup_estimate([row(models={"simplenn-bn": 2.0, "resnet20": 8.0})]) == 0.0


def test_extrapolation_scales_the_epochs_but_not_the_warmup_or_the_rest():
    r = row()                                   # rest = 30 - 4 - 16 = 10
    x = extrapolate([r], per_gpu=2, measured_epochs=1, budget_epochs=15, students=50, warmup=4.0)
    assert x.slot_s == pytest.approx(4 + 10 + 4 + 12 * 15)           # 198
    assert x.slot_upper_s == pytest.approx(4 + 10 + 16 * 15)         # 254
    assert x.per_hour == pytest.approx(2 * 3600 / 198)
    assert x.images_per_s == pytest.approx(150_000 * 15 * x.per_hour / 3600)
    assert x.class_s == pytest.approx(25 * 198)
    same = extrapolate([r], per_gpu=1, measured_epochs=15, budget_epochs=15, students=50,
                       warmup=4.0)
    assert same.slot_s == pytest.approx(30) and same.slot_upper_s == pytest.approx(30)
    assert extrapolate([], per_gpu=1, measured_epochs=1, budget_epochs=15, students=50,
                       warmup=0) is None


def _bench_module():
    sys.path.insert(0, str(BENCH.parent))
    try:
        return runpy.run_path(str(BENCH), run_name="bench_class")
    finally:
        sys.path.remove(str(BENCH.parent))


def test_slot_times_come_from_the_last_start_and_skip_reused_results():
    student_times = _bench_module()["student_times"]

    def result(name, models, check=3.0):
        return SimpleNamespace(
            student=name, check=SimpleNamespace(sandbox=SimpleNamespace(seconds=check)),
            training=[SimpleNamespace(model=m, seconds=s, ok=s is not None,
                                      history=[None, None]) for m, s in models.items()])
    events = [Event("started", "ann", 100.0), Event("started", "ann", 140.0),   # retried alone
              Event("finished", "ann", 170.0), Event("started", "bob", 100.0),
              Event("failed", "bob", 110.0), Event("finished", "cat", 90.0, cached=True)]
    rows = student_times(events, [result("ann", {"simplenn": 5.0, "resnet20": 9.0}),
                                  result("bob", {"simplenn": None}),      # nothing trained
                                  result("cat", {"simplenn": 5.0})], n_train=1000)
    assert [(r.student, r.slot, r.check, r.epochs, r.images) for r in rows] == \
        [("ann", 30.0, 3.0, 14.0, 4000)]
    assert rows[0].rest == pytest.approx(13.0)


def test_the_benchmark_class_is_valid_distinct_copies_of_the_examples(tmp_path):
    """Every copy must still be a hand-in the grader reads: notebooks valid JSON, each copy's
    content distinct (its own content key), the broken students last."""
    import json

    bench = _bench_module()
    names = bench["build_class"](tmp_path, 20)
    assert names[-3:] == ["zed-hangs", "yan-syntax", "xia-import"] and len(set(names)) == 20
    notebooks = sorted(tmp_path.glob("*/*.ipynb"))
    assert notebooks
    for nb in notebooks:
        data = json.loads(nb.read_text())
        assert data["metadata"]["student"] == nb.parent.name and data["cells"]
    assert (tmp_path / "bob01" / "resnet-cifar10.ipynb").read_text() != \
        (tmp_path / "bob02" / "resnet-cifar10.ipynb").read_text()
    assert (tmp_path / "alice01" / "models.py").read_text().endswith("# alice01\n")
    assert bench["complete_first"](names)[:5] == ["alice01", "bob01", "gina01", "hugo01",
                                                  "alice02"]
