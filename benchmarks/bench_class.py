"""Grading a whole class: one student at a time against several at once, in one run.

Builds a synthetic class of --students hand-ins (at least 12): copies of the example students in
submissions/ece661-hw2 (correct ones and the typical mistakes, .py files and Colab notebooks,
each copy made distinct by a comment so every one has its own content key) plus a few broken
ones (a model that hangs, a syntax error, a crash on import). It prepares the data and trains
the reference models first, untimed, then grades the class

    CPU mode (default):  --jobs 1, then --jobs N (default: one per core), in fresh result
                         folders; wall time, students per hour and the ratio;
    --gpu:               --per-gpu K for each K in --per-gpu-list (default 1, 2, 4, 8) with
                         --students >= 50; students per hour, training images per second (summed
                         over the class), GPU utilisation and memory sampled with nvidia-smi, and
                         where each student's time in its slot went.

--budget real grades at the real budget (grader.run.options.BUDGETS: 15 epochs on 50,000
synthetic images in batches of 128). Within a lease of minutes, --epochs E (fewer than the
budget's) and --waves W (K x W students per K, those who train all three models) measure a part
and extrapolate to the budget, labelled so; --deadline S ends the whole run within S seconds,
each step stopped at its share (what finished by then is reported). --plan prints what would
run and the time it should take from the figures recorded so far, without a GPU.

    python benchmarks/bench_class.py                        # 12 students, CPU, the spec's budget
    python benchmarks/bench_class.py --students 24 --jobs 4 --epochs 1
    python benchmarks/bench_class.py --gpu --students 50 --per-gpu-list 8,4,1 --mps
    python benchmarks/bench_class.py --gpu --budget real --plan
    python benchmarks/bench_class.py --gpu --budget real --epochs 1 --waves 1 --deadline 400
    python benchmarks/bench_class.py --gpu --budget real --per-gpu-list 8   # 50 students, 15 epochs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from class_plan import (  # noqa: E402
    StudentTime,
    describe,
    extrapolate,
    format_plan,
    make_plan,
    step_deadline,
    warmup_estimate,
)
from class_runner import GpuSampler, gpu_text, run_config  # noqa: E402

from grader.run.options import BUDGETS, Options  # noqa: E402
from grader.spec import load  # noqa: E402

EXAMPLES = ROOT / "submissions" / "ece661-hw2"
COMPLETE = ("alice", "bob", "gina", "hugo")   # the examples whose three models all train
#                                               (submissions/README.md): --waves grades these
BROKEN = {
    "zed-hangs": "import torch.nn as nn\n\n\nclass SimpleNN(nn.Module):\n"
                 "    def __init__(self):\n        super().__init__()\n"
                 "        while True:\n            pass\n",
    "yan-syntax": "import torch.nn as nn\n\nclass SimpleNN(nn.Module)\n    pass\n",
    "xia-import": "import torch.nn as nn\nimport wandb\n\n\nclass SimpleNN(nn.Module):\n"
                  "    def __init__(self):\n        super().__init__()\n"
                  "        wandb.init(project='hw2')\n",
}


def build_class(folder: Path, students: int) -> list[str]:
    """`students` hand-ins in folder; returns their names."""
    examples = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())
    names = []
    honest = max(0, students - len(BROKEN))
    for i in range(honest):
        source = examples[i % len(examples)]
        name = f"{source.name}{i // len(examples) + 1:02d}"
        shutil.copytree(source, folder / name)
        for code in (folder / name).glob("*.py"):       # distinct content, same model
            code.write_text(code.read_text() + f"\n# {name}\n")
        for nb in (folder / name).glob("*.ipynb"):     # (a text edit here once left every
            notebook = json.loads(nb.read_text())       # copy invalid JSON: see README)
            notebook.setdefault("metadata", {})["student"] = name
            nb.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
        names.append(name)
    for name, code in list(BROKEN.items())[:students - honest]:
        (folder / name).mkdir()
        (folder / name / "simplenn.py").write_text(code)
        names.append(name)
    return names


def complete_first(names: list[str]) -> list[str]:
    """The class's names, the copies of COMPLETE examples first (in class order)."""
    def complete(name: str) -> bool:
        return re.sub(r"\d+$", "", name) in COMPLETE
    return [n for n in names if complete(n)] + [n for n in names if not complete(n)]


def student_times(events, results, n_train: int) -> list[StudentTime]:
    """Each student that trained: its slot (its last start to its end) split into the check,
    each model's training epochs, and the rest."""
    begun, spans = {}, {}
    for e in events:
        if e.kind == "started":
            begun[e.student] = e.time                   # a retry restarts the clock
        elif e.student in begun and not e.cached:
            spans[e.student] = e.time - begun[e.student]
    rows = []
    for r in results:
        trained = {t.model: t.seconds for t in r.training if t.ok}
        if r.student in spans and trained:
            rows.append(StudentTime(
                student=r.student, slot=spans[r.student],
                check=r.check.sandbox.seconds if r.check else 0.0, models=trained,
                images=sum(len(t.history) * n_train for t in r.training if t.ok)))
    return rows


def measure(label: str, klass: Path, assignment, out: Path, options: Options, names: list[str],
            n_train: int, deadline: float | None, gpu: bool) -> dict:
    from grader.run.store import ResultStore

    options = replace(options, only=tuple(names))
    with GpuSampler() if gpu else _Nothing() as sampler:
        run = run_config(klass, assignment, out, options, deadline)
    store = ResultStore(out)
    results = [r for r in (store.read(n).result for n in names) if r is not None]
    events = [e for e in run["events"] if not e.cached]
    finished = [e for e in events if e.kind in ("finished", "failed")]
    rows = student_times(events, results, n_train)
    images = sum(r.images for r in rows)
    # the figures count the grading itself, from the first student's start to the last one's
    # end (to the stop, when stopped); the set-up before it (the sandbox's CUDA probe, reading
    # the prepared data) is paid once per class, like the references
    first = min((e.time for e in events if e.kind == "started"), default=None)
    end = run["start_time"] + run["wall"] if run["stopped"] else \
        max((e.time for e in finished), default=None)
    span = end - first if first is not None and end is not None else 0.0
    return {"label": label, "students": len(names), "finished": len(finished),
            "wall": run["wall"], "grading": span, "stopped": run["stopped"],
            "error": run["error"],
            "setup": first - run["start_time"] if first is not None else None,
            "per_hour": len(finished) * 3600 / span if span > 0 else 0.0,
            "images_per_s": images / span if span > 0 else 0.0,
            "gpu": sampler.summary(first, end) if gpu else {},
            "totals": {r.student: r.total for r in results}, "rows": rows}


def print_figures(f: dict, *, per_gpu: int | None, measured_epochs: int, budget_epochs: int,
                  class_size: int, extrapolating: bool) -> dict | None:
    cut = (f" STOPPED at its deadline: {f['finished']} of {f['students']} finished"
           if f["stopped"] else "")
    error = f"  ERROR: {f['error']}" if f["error"] else ""
    setup = f", set-up before it {f['setup']:.1f} s" if f["setup"] is not None else ""
    print(f"{f['label']:>14}: {f['finished']:3d} students graded in {f['grading']:6.1f} s "
          f"({f['wall']:.1f} s in all{setup})  {f['per_hour']:6.0f} students/hour  "
          f"{f['images_per_s']:7.0f} training images/s  {gpu_text(f['gpu'])}  load "
          f"{os.getloadavg()[0]:.1f}{cut}{error}", flush=True)
    rows = f["rows"]
    print(f"{'':>16}{describe(rows)}")
    for r in rows:
        models = ", ".join(f"{k} {v:.1f}" for k, v in r.models.items())
        print(f"{'':>18}{r.student:<10} slot {r.slot:6.1f} s = check {r.check:.1f} + epochs "
              f"({models}) + rest {r.rest:.1f}")
    if not (extrapolating and per_gpu and rows):
        return None
    warmup = warmup_estimate(rows)
    x = extrapolate(rows, per_gpu=per_gpu, measured_epochs=measured_epochs,
                    budget_epochs=budget_epochs, students=class_size, warmup=warmup)
    print(f"{'':>16}EXTRAPOLATED to {budget_epochs} epochs and {class_size} students (not "
          f"measured): {x.slot_s:.0f} slot-s per student (upper bound {x.slot_upper_s:.0f}, "
          f"warm-up {warmup:.1f} s scaled too), {x.per_hour:.0f} students/hour, "
          f"{x.images_per_s:.0f} training images/s, the class {x.class_s / 60:.0f} min "
          "(references not included)", flush=True)
    return asdict(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=None, help="class size (default 12; "
                    "50 with --gpu)")
    ap.add_argument("--assignment", default="ece661-hw2")
    ap.add_argument("--budget", choices=list(BUDGETS), default="spec",
                    help="grader.run.options.BUDGETS: spec (the spec's own) or real")
    ap.add_argument("--epochs", type=int, default=None, help="epochs each model trains "
                    "(default: the budget's); fewer are extrapolated to the budget's")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--jobs", type=int, default=None, help="parallel slots (CPU mode)")
    ap.add_argument("--gpu", action="store_true")
    ap.add_argument("--per-gpu-list", default="1,2,4,8")
    ap.add_argument("--waves", type=int, default=None, help="with --gpu: grade K x W students "
                    "at each K (copies of the examples that train all three models) instead of "
                    "the whole class; the class's figures are extrapolated")
    ap.add_argument("--deadline", type=float, default=None, help="seconds for the whole run: "
                    "the untimed step gets at most 45%% of what is left, each K an equal share "
                    "of what is left then; a step past its share is stopped")
    ap.add_argument("--mps", action="store_true", help="with --gpu: also grade each K with the "
                    "CUDA MPS daemon you started (the sandboxes share it), beside separate contexts")
    ap.add_argument("--timeout", type=int, default=None, help="wall seconds per student "
                    "process, check and training alike (default: the spec's, which gives "
                    "training longer)")
    ap.add_argument("--cache", type=Path, default=None, help="cache folder (default: a "
                    "temporary one, so the data and references are built in the untimed step)")
    ap.add_argument("--plan", action="store_true", help="print what would run and the time it "
                    "should take (from the recorded figures), then stop; needs no GPU")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    # a deadline from outside (the device script's `timeout`) stops the grading processes too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    students = args.students or (50 if args.gpu else 12)
    if students < 12 or (args.gpu and students < 50):
        ap.error("--students: at least 12 (50 with --gpu)")
    if (args.waves is not None and (args.waves < 1 or not args.gpu)) or \
            (args.epochs is not None and args.epochs < 1):
        ap.error("--waves (with --gpu) and --epochs: at least 1")
    if args.deadline is not None and args.deadline < 60:
        ap.error("--deadline: at least 60 seconds")
    assignment = BUDGETS[args.budget].apply(load(args.assignment))
    budget_epochs = assignment.training.epochs
    epochs = args.epochs or budget_epochs
    per_gpu = tuple(int(k) for k in args.per_gpu_list.split(","))
    trained = [m for m in assignment.models if m.train and m.reference]
    plan = make_plan(
        budget=args.budget, budget_epochs=budget_epochs, epochs=epochs,
        train_images=assignment.dataset.synthetic_train, batch_size=assignment.training.batch_size,
        models=tuple(m.key for m in trained),
        reference_seeds=len(assignment.training.reference_seeds) or 1, class_size=students,
        per_gpu=per_gpu, waves=args.waves, deadline=args.deadline,
        synthetic_images=0 if args.data else assignment.dataset.synthetic_train
        + assignment.dataset.synthetic_test)
    if args.plan or args.gpu:
        print(format_plan(plan), flush=True)
    if args.plan:
        return
    run(args, assignment, plan, students, epochs, per_gpu)


def run(args, assignment, plan, students: int, epochs: int, per_gpu: tuple[int, ...]) -> None:
    from grader.inputs.data import load_dataset
    from grader.run.executors import usable_cores

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        tmp = Path(tmp)
        klass = tmp / "class"
        klass.mkdir()
        names = build_class(klass, students)
        cache = args.cache or tmp / "cache"
        base = dict(data_dir=args.data, epochs=args.epochs, cache_dir=cache,
                    timeout=args.timeout, gpu=args.gpu)
        cores = usable_cores()
        n_train = len(load_dataset(assignment.dataset, args.data,
                                   cache_dir=cache / "data").train_labels)
        print(f"machine: {platform.processor() or platform.machine()}, {cores} cores, "
              f"{os.cpu_count()} CPUs, python {platform.python_version()}; load average "
              f"{os.getloadavg()[0]:.1f}")
        print(f"class: {len(names)} students ({', '.join(names)}), {args.assignment}, budget "
              f"{args.budget}, {epochs} epoch(s) on {n_train:,} training images")
        if args.gpu:
            runs = [(f"--per-gpu {k}{mps}", k, Options(**base, per_gpu=k, mps=bool(mps)))
                    for k in per_gpu for mps in ([""] + ([" --mps"] if args.mps else []))]
        else:
            runs = [("--jobs 1", None, Options(**base, jobs=1)),
                    (f"--jobs {args.jobs or cores}", None, Options(**base, jobs=args.jobs))]

        def left() -> float | None:
            return None if args.deadline is None else \
                args.deadline - (time.monotonic() - started)

        # untimed: data preparation, the reference models and one student; on a GPU once (the
        # references are shared by every K), on the CPU per configuration (thread counts)
        warm_runs = runs[:1] if args.gpu else runs
        for label, _, options in warm_runs:
            deadline = None if left() is None else step_deadline(left(), 0, warm=True)
            cached = set(cache.glob("reference-*.json"))
            w = measure(f"warm {label}", klass, assignment, tmp / "warm", options, names[:1],
                        n_train, deadline, args.gpu)
            trained_here = bool(set(cache.glob("reference-*.json")) - cached)
            before = w["setup"] if w["setup"] is not None else w["wall"]
            print(f"untimed step ({label}): {w['wall']:.1f} s; before its student started "
                  f"(the CUDA probe, the prepared data, the references: "
                  f"{len(assignment.training.reference_seeds) or 1} seed(s) x {epochs} "
                  f"epoch(s)): {before:.1f} s{' STOPPED' if w['stopped'] else ''}"
                  f"{'  ERROR: ' + w['error'] if w['error'] else ''}", flush=True)
            if plan.extrapolated and trained_here:
                print(f"{'':>16}EXTRAPOLATED (not measured): the references at "
                      f"{plan.budget_epochs} epochs, once per class, at most "
                      f"{before * plan.budget_epochs / epochs:.0f} s (all of it scaled)")
            if w["stopped"] or w["error"] or not w["finished"]:
                sys.exit("the untimed step did not finish: nothing measured")
        order = complete_first(names) if args.waves else names
        figures = []
        for i, (label, k, options) in enumerate(runs):
            count = len(names) if args.waves is None else min(len(names), k * args.waves)
            deadline = None if left() is None else step_deadline(left(), len(runs) - i, False)
            if deadline is not None and deadline < 20:
                print(f"{label:>14}: skipped, {deadline:.0f} s left before the deadline")
                continue
            f = measure(label, klass, assignment, tmp / re.sub(r"\W+", "", label), options,
                        order[:count], n_train, deadline, args.gpu)
            f["extrapolated"] = print_figures(
                f, per_gpu=k, measured_epochs=epochs, budget_epochs=plan.budget_epochs,
                class_size=students, extrapolating=plan.extrapolated or args.waves is not None)
            figures.append(f)
        compare(figures)
        if args.json:
            args.json.write_text(json.dumps({
                "plan": asdict(plan), "figures": [
                    {**{k: v for k, v in f.items() if k != "rows"},
                     "rows": [{**asdict(r), "epochs": r.epochs, "rest": r.rest}
                              for r in f["rows"]]} for f in figures]}, indent=1))


def compare(figures: list[dict]) -> None:
    done = [f for f in figures if f["finished"] and not f["error"]]
    if len(done) < 2:
        return
    first = done[0]
    for f in done[1:]:
        print(f"{f['label']} vs {first['label']}: {f['per_hour'] / first['per_hour']:.2f}x "
              "the students per hour (measured)")
    common = [set(f["totals"]) for f in done]
    shared = set.intersection(*common)
    same = all(f["totals"][s] == first["totals"][s] for f in done[1:] for s in shared)
    print(f"points identical in every configuration ({len(shared)} students in all)" if same
          else "points differ between configurations (thread counts differ: see README)")


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


if __name__ == "__main__":
    main()
