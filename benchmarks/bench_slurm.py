"""Per-student overhead of grading through Slurm against the local executor, same class, one run.

Starts the real single-node Slurm of tests/slurm_cluster.py (as root, Debian's slurmctld,
slurmd and munge), writes a class of --students SimpleNN hand-ins (the test suite's realistic
ones: a Colab export with !pip lines, a Drive-mounting notebook, a zip with a wrong fc1),
prepares the data and trains the reference once, then grades the class alternately with

- **local**: `LocalExecutor`, --jobs students at once on this machine;
- **slurm**: `SlurmExecutor`, one job array of chunks of --students-per-task, each task with
  --cpus-per-task cores, so that the same number of students run at once as locally;

each time into a fresh results folder (nothing reused), --repeats times, and prints the median
wall time of each, the difference per student, and where the Slurm path's time goes (submitting
the array, the wait until the first task starts, the polling interval).

    python benchmarks/bench_slurm.py                    # 6 students, 2 at a time, 2 repeats
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from slurm_cluster import running_cluster, unavailable_reason  # noqa: E402
from test_slurm import SPEC, make_class  # noqa: E402

from grader.run.slurm.settings import ClusterSettings  # noqa: E402
from grader.run.evaluate import Options, evaluate  # noqa: E402
from grader.run.executors import Event  # noqa: E402
from grader.run.slurm.submit import SlurmExecutor  # noqa: E402
from grader.spec import load  # noqa: E402
from grader.run.store import ResultStore  # noqa: E402


def build_class(root: Path, students: int) -> Path:
    template = make_class(root / "template")
    klass = root / "class"
    klass.mkdir()
    sources = sorted(template.iterdir())
    for i in range(students):
        src = sources[i % len(sources)]
        name = f"{src.stem}{i:02d}" + (".zip" if src.suffix == ".zip" else "")
        (shutil.copy if src.is_file() else shutil.copytree)(src, klass / name)
    return klass


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next(line.split(":", 1)[1].strip() for line in fh
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=2, help="students at once (both paths)")
    parser.add_argument("--students-per-task", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--poll", type=float, default=2.0, help="Slurm polling interval, s")
    args = parser.parse_args()
    if reason := unavailable_reason():
        sys.exit(f"cannot start the Slurm cluster: {reason}")
    work = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    spec_path = work / "hw2-lab1.toml"
    spec_path.write_text(SPEC, encoding="utf-8")
    task = load(str(spec_path))
    klass = build_class(work, args.students)
    options = Options(cache_dir=work / "cache", jobs=args.jobs)
    # the data and the reference model, once, outside the timings
    evaluate(klass / sorted(os.listdir(klass))[0], task, work / "warm", options)
    cpus = max(1, (os.cpu_count() or 1) // args.jobs)
    settings = ClusterSettings(cpus_per_task=cpus, students_per_task=args.students_per_task,
                               array_parallelism=args.jobs, poll_seconds=args.poll,
                               time_minutes=60)
    times: dict[str, list[float]] = {"local": [], "slurm": []}
    submit_s, first_start_s = [], []
    with running_cluster() as cluster:
        os.environ.update(cluster.env)
        for r in range(args.repeats):
            out = work / f"local{r}"
            times["local"].append(timed(lambda: evaluate(klass, task, out, options)))
            out = work / f"slurm{r}"
            executor = SlurmExecutor(ResultStore(out), settings)
            marks: dict[str, float] = {}
            original = executor.submit

            def submit(jobs, original=original):
                marks["submit"] = time.time()
                try:
                    return original(jobs)
                finally:
                    marks["submitted"] = time.time()

            def on_event(event: Event) -> None:
                if event.kind == "started":
                    marks.setdefault("first_start", event.time)

            executor.submit = submit
            times["slurm"].append(timed(lambda: evaluate(klass, task, out, options,
                                                         executor=executor,
                                                         on_event=on_event)))
            submit_s.append(marks["submitted"] - marks["submit"])
            first_start_s.append(marks["first_start"] - marks["submitted"])
            bad = [p.name for p in out.glob("*.json")
                   if '"status": "crashed"' in p.read_text()]
            if bad:
                sys.exit(f"slurm run {r} crashed students {bad}; see {out}")
    local, slurm = (statistics.median(times[k]) for k in ("local", "slurm"))
    n = args.students
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average at the end {os.getloadavg()[0]:.1f} "
          f"(other work on the machine shows here)")
    print(f"class: {n} students (SimpleNN, 1 epoch on 2,000 synthetic images), {args.jobs} at "
          f"once; slurm: {-(-n // args.students_per_task)} array tasks of "
          f"{args.students_per_task}, {cpus} core(s) each, polled every {args.poll:g} s")
    for k in ("local", "slurm"):
        runs = ", ".join(f"{t:.1f}" for t in times[k])
        print(f"{k:<6} median {statistics.median(times[k]):6.1f} s  ({runs})  "
              f"{statistics.median(times[k]) / n:5.2f} s/student")
    print(f"slurm overhead: {slurm - local:+.1f} s per class, {(slurm - local) / n:+.2f} s per "
          f"student; sbatch submit {statistics.median(submit_s):.2f} s, first task started "
          f"{statistics.median(first_start_s):.2f} s after submit")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
