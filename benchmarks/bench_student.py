"""`grader evaluate` of one student, before and now, side by side in one run.

Measures the fixed cost of grading ONE student: `grader evaluate` used to start two sandboxed
processes per student (one that probes and checks the models, one that trains them); on the CPU
it now starts one that probes, then trains. Each sandboxed process pays `import torch`. Times the
whole command, as an instructor runs it, on submissions/ece661-hw2 with --only STUDENT:

    now           python -m grader evaluate <repo>/submissions/ece661-hw2 --assignment ece661-hw2
                  --only STUDENT --out <fresh folder> --force --progress plain --jobs 1,
                  from the repository root with the current working tree
    before REF    the same command on the same (current, absolute) submissions folder, run by the
                  tree of git ref REF, unpacked with `git archive REF | tar -x` into a temporary
                  folder and run from there with PYTHONPATH pointing at it, so that its `grader`
                  package is the one imported (checked before timing); one row per --before
                  (default 7705c24, the last commit before the one-process change)
    import torch  python -c "import torch", no sandbox: the floor every sandboxed process pays,
                  for the breakdown

Every configuration shares one cache folder (GRADER_CACHE: a temporary folder, or --cache DIR to
keep one between runs), so the dataset and the reference models are built once, in the untimed
warm-up round that grades once per configuration. Then --runs rounds; each round runs every
configuration once, each grade into a fresh --out folder, in an order that rotates from round to
round, so drift on a shared machine hits every row alike. Prints the machine and its load average
at the start and the end, every run's seconds and the median, and before-median / now-median for
each ref. A configuration that exits non-zero gets its exit code and output tail, not a time.
Nothing is asserted: the figures are for reading, on a machine that may be busy.

    python benchmarks/bench_student.py                          # 7705c24, alice, 5 runs
    python benchmarks/bench_student.py --runs 9 --student bob
    python benchmarks/bench_student.py --before 7705c24 --before HEAD~3 --cache /tmp/grader-cache
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "ece661-hw2"
SUBMISSIONS = ROOT / "submissions" / ASSIGNMENT
# 7705c24: the last commit before evaluate's probe and training shared one sandboxed process
DEFAULT_BEFORE = ["7705c24"]


@dataclass
class Config:
    """One command timed in every round; `out` is appended as a fresh --out folder if set."""

    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    out: Path | None = None          # parent of the fresh --out folders (grader configs only)
    seconds: list[float] = field(default_factory=list)
    failure: str | None = None       # exit code and output tail of the first failure
    _count: itertools.count = field(default_factory=itertools.count)

    def run(self) -> float:
        argv = list(self.argv)
        if self.out is not None:
            folder = self.out / f"out-{next(self._count)}"
            argv += ["--out", str(folder)]
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=self.cwd, env=self.env, capture_output=True, text=True)
        took = time.perf_counter() - started
        if done.returncode != 0 and self.failure is None:
            output = (done.stdout.strip() + "\n" + done.stderr.strip()).strip()
            tail = "\n".join(output.splitlines()[-12:])
            self.failure = f"exit {done.returncode}\n{tail}"
        return took


def unpack(ref: str, folder: Path) -> None:
    """The tree of git ref `ref` in `folder`, as `git archive REF | tar -x -C folder`."""
    archive = subprocess.Popen(["git", "archive", ref], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    untar = subprocess.run(["tar", "-x", "-C", str(folder)], stdin=archive.stdout,
                           capture_output=True)
    archive.stdout.close()
    error = archive.stderr.read().decode()
    if archive.wait() != 0 or untar.returncode != 0:
        raise RuntimeError(f"cannot unpack {ref}: {error.strip() or untar.stderr.decode()}")


def imported_from(env: dict[str, str], cwd: Path) -> Path:
    """Where `import grader` resolves under env, run from cwd."""
    done = subprocess.run([sys.executable, "-c", "import grader; print(grader.__file__)"],
                          cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return Path(done.stdout.strip()).resolve()


def evaluate_argv(student: str) -> list[str]:
    """`grader evaluate` of one student, without --out (each run gets a fresh one)."""
    return [sys.executable, "-m", "grader", "evaluate", str(SUBMISSIONS), "--assignment",
            ASSIGNMENT, "--only", student, "--force", "--progress", "plain", "--jobs", "1"]


def before_config(ref: str, folder: Path, env: dict[str, str], student: str,
                  outs: Path) -> Config:
    """`grader evaluate` run by the tree of `ref`, unpacked in `folder`."""
    unpack(ref, folder)
    env = {**env, "PYTHONPATH": str(folder)}
    found = imported_from(env, folder)
    if not found.is_relative_to(folder.resolve()):
        raise RuntimeError(f"{ref}: `import grader` resolves to {found}, not to {folder}")
    return Config(f"before {ref}", evaluate_argv(student), folder, env, outs)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (median)")
    parser.add_argument("--before", action="append", metavar="REF",
                        help=f"git ref to compare with, repeatable (default: "
                             f"{' and '.join(DEFAULT_BEFORE)})")
    parser.add_argument("--student", default="alice",
                        help=f"example student in {SUBMISSIONS.relative_to(ROOT)} "
                             f"(default: alice)")
    parser.add_argument("--cache", type=Path, metavar="DIR",
                        help="GRADER_CACHE shared by every configuration, kept afterwards "
                             "(default: a temporary folder, built in the warm-up round)")
    args = parser.parse_args()
    refs = args.before or DEFAULT_BEFORE
    if not (SUBMISSIONS / args.student).exists():
        parser.error(f"no student {args.student!r} in {SUBMISSIONS}")

    start_load = load()
    with tempfile.TemporaryDirectory(prefix="bench-student-") as tmp:
        cache = args.cache.resolve() if args.cache else Path(tmp) / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GRADER_CACHE": str(cache)}
        env.pop("PYTHONPATH", None)
        outs = Path(tmp) / "outs"
        now = Config("now", evaluate_argv(args.student), ROOT, env, outs / "now")
        bare = Config("import torch (bare)", [sys.executable, "-c", "import torch"], ROOT, env)
        befores, skipped = [], {}
        for i, ref in enumerate(refs):
            folder = Path(tmp) / f"{i}-{ref.replace('/', '_')}"
            folder.mkdir()
            try:
                befores.append(before_config(ref, folder, env, args.student,
                                             outs / f"before-{i}"))
            except (RuntimeError, subprocess.CalledProcessError) as error:
                skipped[ref] = str(getattr(error, "stderr", None) or error).strip()
        configs = [now, *befores, bare]

        warmup = {}
        for config in configs:          # warm-up: data, reference models, page cache, bwrap
            warmup[config.name] = config.run()
        timed = [c for c in configs if c.failure is None]
        for round_ in range(args.runs):  # rotating order, so no row always goes first
            shift = round_ % len(timed)
            for config in timed[shift:] + timed[:shift]:
                config.seconds.append(config.run())
    end_load = load()

    print(f"{platform.processor() or platform.machine()} ({platform.machine()}), "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load average (1, 5, 15 min): {start_load} at the start, {end_load} at the end")
    shared = f"--cache {cache}" if args.cache else "a temporary folder"
    print(f"`grader evaluate {SUBMISSIONS.relative_to(ROOT)} --assignment {ASSIGNMENT} "
          f"--only {args.student} --force --jobs 1`, shared cache: {shared}; "
          f"{args.runs} rounds after one warm-up, rotating order; seconds\n")
    width = max(len(c.name) for c in configs)
    for config in configs:
        if config.failure is not None:
            print(f"  {config.name:{width}}  failed: {config.failure.splitlines()[0]}")
            continue
        runs = " ".join(f"{s:6.2f}" for s in config.seconds)
        median = statistics.median(config.seconds) if config.seconds else float("nan")
        print(f"  {config.name:{width}}  {runs}   median {median:6.2f}"
              f"   (warm-up {warmup[config.name]:.2f})")
    for ref, reason in skipped.items():
        print(f"  before {ref}: not run: {reason}")

    if now.failure is None and now.seconds:
        now_median = statistics.median(now.seconds)
        print()
        for config in befores:
            if config.failure is None:
                ratio = statistics.median(config.seconds) / now_median
                print(f"  {config.name} / now: {ratio:.2f}x  "
                      f"({statistics.median(config.seconds) - now_median:+.2f} s)")
        if bare.failure is None:
            floor = statistics.median(bare.seconds)
            print(f"\nfor information: one bare `import torch` median {floor:.2f} s, "
                  f"the floor each sandboxed process pays (now: median {now_median:.2f} s)")
    for config in configs:
        if config.failure is not None:
            print(f"\n{config.name}: {config.failure.splitlines()[0]}; output tail:")
            print("\n".join(f"    {line}" for line in config.failure.splitlines()[1:]))


if __name__ == "__main__":
    main()
