"""Grading a whole class: one student at a time against several at once, in one run.

Builds a synthetic class of --students hand-ins (at least 12): copies of the example students in
submissions/ece661-hw2 (correct ones and the typical mistakes, .py files and Colab notebooks,
each copy made distinct by a comment so every one has its own content key) plus a few broken
ones (a model that hangs, a syntax error, a crash on import). It prepares the data and trains
the reference models first, untimed, then grades the class

    CPU mode (default):  --jobs 1, then --jobs N (default: one per core), in fresh result
                         folders; wall time, students per hour and the ratio;
    --gpu:               --per-gpu K for each K in --per-gpu-list (default 1, 4, 8) with
                         --students >= 50; students per hour, training images per second (summed
                         over the class) and GPU utilisation sampled with nvidia-smi.

    python benchmarks/bench_class.py                        # 12 students, CPU, 1 epoch
    python benchmarks/bench_class.py --students 24 --jobs 4
    python benchmarks/bench_class.py --gpu --students 60 --epochs 2
    python benchmarks/bench_class.py --gpu --students 50 --per-gpu-list 8,4,1 --mps
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.inputs.data import load_dataset  # noqa: E402
from grader.run.evaluate import Options, evaluate  # noqa: E402
from grader.run.executors import usable_cores  # noqa: E402
from grader.spec import load  # noqa: E402

EXAMPLES = ROOT / "submissions" / "ece661-hw2"
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
        for nb in (folder / name).glob("*.ipynb"):
            nb.write_text(re.sub(r'"metadata": \{', f'"metadata": {{"student": "{name}", ',
                                 nb.read_text(), count=1))
        names.append(name)
    for name, code in list(BROKEN.items())[:students - honest]:
        (folder / name).mkdir()
        (folder / name / "simplenn.py").write_text(code)
        names.append(name)
    return names


class GpuSampler:
    """nvidia-smi utilisation and memory, sampled every 0.5 s while running."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self.proc = None

    def __enter__(self):
        try:
            self.proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                 "--format=csv,noheader,nounits", "-lms", "500"],
                stdout=subprocess.PIPE, text=True)
        except OSError:
            return self
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                util, mem = (float(v) for v in line.split(","))
            except ValueError:
                continue
            self.samples.append((util, mem))

    def __exit__(self, *exc) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait()

    def summary(self) -> str:
        if not self.samples:
            return "no nvidia-smi samples"
        utils = [u for u, _ in self.samples]
        return (f"GPU util mean {statistics.mean(utils):.0f}% (median "
                f"{statistics.median(utils):.0f}%, {len(utils)} samples), memory max "
                f"{max(m for _, m in self.samples) / 1024:.1f} GiB")


def grade(klass: Path, assignment, out: Path, options: Options, n_train: int) -> dict:
    events = []
    started = time.monotonic()
    results = evaluate(klass, assignment, out, options, on_event=events.append)
    wall = time.monotonic() - started
    # training images seen by the students' models (epochs run x training set), class-wide
    images = sum(len(t.history) * n_train for r in results for t in r.training if t.ok)
    return {"wall": wall, "students": len(results), "per_hour": len(results) * 3600 / wall,
            "images_per_s": images / wall, "statuses": sorted(r.status for r in results),
            "totals": {r.student: r.total for r in results},
            "breakdown": breakdown(results, events)}


def breakdown(results, events) -> str:
    """Where a student's time in its slot went, medians over the students that trained: from
    the slot's started/finished events, the check's sandbox seconds and the training epochs'
    seconds (the rest: sandbox starts, imports, CUDA's start, formats probe, predictions)."""
    begun, spans = {}, {}
    for e in events:
        if e.kind == "started":
            begun[e.student] = e.time                   # a retry restarts the clock
        elif e.student in begun:
            spans[e.student] = e.time - begun[e.student]
    rows = [(spans[r.student], r.check.sandbox.seconds if r.check else 0.0,
             sum(t.seconds for t in r.training))
            for r in results if r.student in spans and any(t.ok for t in r.training)]
    if not rows:
        return "no student trained"
    slot, check, epochs = (statistics.median(column) for column in zip(*rows))
    return (f"per student in its slot (median of {len(rows)}): {slot:.1f} s = check, its "
            f"sandbox's start included, {check:.1f} s + training epochs {epochs:.1f} s + the "
            f"rest {slot - check - epochs:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=12)
    ap.add_argument("--assignment", default="ece661-hw2")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--jobs", type=int, default=None, help="parallel slots (CPU mode)")
    ap.add_argument("--gpu", action="store_true")
    ap.add_argument("--per-gpu-list", default="1,4,8")
    ap.add_argument("--mps", action="store_true", help="with --gpu: also grade each K with the "
                    "CUDA MPS daemon you started (the sandboxes share it), beside separate contexts")
    ap.add_argument("--timeout", type=int, default=None, help="wall seconds per student "
                    "process, check and training alike (default: the spec's, which gives "
                    "training longer)")
    ap.add_argument("--cache", type=Path, default=None, help="cache folder (default: a "
                    "temporary one, so the data and references are built in the untimed step)")
    args = ap.parse_args()
    if args.students < 12 or (args.gpu and args.students < 50):
        ap.error("--students: at least 12 (50 with --gpu)")
    assignment = load(args.assignment)
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        tmp = Path(tmp)
        klass = tmp / "class"
        klass.mkdir()
        names = build_class(klass, args.students)
        cache = args.cache or tmp / "cache"
        base = dict(data_dir=args.data, epochs=args.epochs, cache_dir=cache,
                    timeout=args.timeout, gpu=args.gpu)
        cores = usable_cores()
        n_train = len(load_dataset(assignment.dataset, args.data,
                                   cache_dir=cache / "data").train_labels)
        print(f"machine: {platform.processor() or platform.machine()}, {cores} cores, "
              f"{os.cpu_count()} CPUs, python {platform.python_version()}; load average "
              f"{os.getloadavg()[0]:.1f}")
        print(f"class: {len(names)} students ({', '.join(names)}), {args.assignment}, "
              f"{args.epochs} epoch(s)")
        if args.gpu:
            runs = [(f"--per-gpu {k}{mps}", Options(**base, per_gpu=k, mps=bool(mps)))
                    for k in map(int, args.per_gpu_list.split(","))
                    for mps in ([""] + ([" --mps"] if args.mps else []))]
        else:
            runs = [("--jobs 1", Options(**base, jobs=1)),
                    (f"--jobs {args.jobs or cores}", Options(**base, jobs=args.jobs))]
        # untimed: data preparation and the reference models of every configuration
        for _, options in runs:
            only = Options(**{**options.__dict__, "only": (names[0],)})
            evaluate(klass, assignment, tmp / "warm", only)
        figures = []
        for label, options in runs:
            with GpuSampler() if args.gpu else _Nothing() as sampler:
                f = grade(klass, assignment, tmp / re.sub(r"\W+", "", label), options,
                          n_train)
            f["gpu"] = sampler.summary() if args.gpu else ""
            figures.append((label, f))
            print(f"{label:>14}: {f['wall']:7.1f} s  {f['per_hour']:7.0f} students/hour  "
                  f"{f['images_per_s']:8.0f} training images/s  {f['gpu']}  load "
                  f"{os.getloadavg()[0]:.1f}\n{'':>16}{f['breakdown']}", flush=True)
        first = figures[0][1]
        for label, f in figures[1:]:
            print(f"{label} vs {figures[0][0]}: {first['wall'] / f['wall']:.2f}x the students "
                  "per hour")
        same = all(f["totals"] == first["totals"] for _, f in figures[1:])
        print("points identical in every configuration" if same else
              "points differ between configurations (thread counts differ: see README)")


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


if __name__ == "__main__":
    main()
