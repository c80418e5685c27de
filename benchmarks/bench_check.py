"""`grader check` of one student, before and now, side by side in one run.

Times the whole command, as an instructor runs it, on submissions/ece661-hw2/alice:

    now           python -m grader check submissions/ece661-hw2/alice --assignment ece661-hw2,
                  from the repository root with the current working tree
    before REF    the same command on the same (current) submission folder, run by the tree of
                  git ref REF, unpacked with `git archive REF | tar -x` into a temporary folder
                  and run from there with PYTHONPATH pointing at it, so that its `grader` package
                  is the one imported (checked before timing); one row per --before
    import torch  python -c "import torch", no sandbox: the floor every sandboxed process of
                  `now` pays, for the breakdown

One untimed warm-up round, then --runs rounds; each round runs every configuration once, in an
order that rotates from round to round, so drift on a shared machine hits every row alike.
Prints the machine and its load average at the start and the end, every run's seconds and the
median, and before-median / now-median for each ref. A ref whose check exits non-zero (an old
tree may not know the current submission layout) gets its exit code and stderr tail, not a time.
Nothing is asserted: the figures are for reading, on a machine that may be busy.

    python benchmarks/bench_check.py                           # 835fdd0 and fcb3d65, 5 runs
    python benchmarks/bench_check.py --runs 9
    python benchmarks/bench_check.py --before HEAD~3 --before 835fdd0
"""

from __future__ import annotations

import argparse
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
STUDENT = ROOT / "submissions" / "ece661-hw2" / "alice"
ASSIGNMENT = "ece661-hw2"
# 835fdd0: the commit before the speed work; fcb3d65: the one before FlopCounterMode was replaced
DEFAULT_BEFORE = ["835fdd0", "fcb3d65"]


@dataclass
class Config:
    """One command timed in every round."""

    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    seconds: list[float] = field(default_factory=list)
    failure: str | None = None  # exit code and stderr (else stdout) tail of the first failure

    def run(self) -> float:
        started = time.perf_counter()
        done = subprocess.run(self.argv, cwd=self.cwd, env=self.env, capture_output=True,
                              text=True)
        took = time.perf_counter() - started
        if done.returncode != 0 and self.failure is None:
            tail = "\n".join((done.stderr.strip() or done.stdout.strip()).splitlines()[-8:])
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


def before_config(ref: str, folder: Path) -> Config:
    """`grader check` run by the tree of `ref`, unpacked in `folder`."""
    unpack(ref, folder)
    env = {**os.environ, "PYTHONPATH": str(folder)}
    found = imported_from(env, folder)
    if not found.is_relative_to(folder.resolve()):
        raise RuntimeError(f"{ref}: `import grader` resolves to {found}, not to {folder}")
    argv = [sys.executable, "-m", "grader", "check", str(STUDENT), "--assignment", ASSIGNMENT]
    return Config(f"before {ref}", argv, folder, env)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (median)")
    parser.add_argument("--before", action="append", metavar="REF",
                        help=f"git ref to compare with, repeatable (default: "
                             f"{' and '.join(DEFAULT_BEFORE)})")
    args = parser.parse_args()
    refs = args.before or DEFAULT_BEFORE

    start_load = load()
    env = dict(os.environ)
    now = Config("now", [sys.executable, "-m", "grader", "check",
                         str(STUDENT.relative_to(ROOT)), "--assignment", ASSIGNMENT], ROOT, env)
    bare = Config("import torch (bare)", [sys.executable, "-c", "import torch"], ROOT, env)
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        befores, skipped = [], {}
        for i, ref in enumerate(refs):
            folder = Path(tmp) / f"{i}-{ref.replace('/', '_')}"
            folder.mkdir()
            try:
                befores.append(before_config(ref, folder))
            except (RuntimeError, subprocess.CalledProcessError) as error:
                skipped[ref] = str(getattr(error, "stderr", None) or error).strip()
        configs = [now, *befores, bare]

        for config in configs:          # warm-up: page cache, bwrap probe, torch import
            config.run()
        timed = [c for c in configs if c.failure is None]
        for round_ in range(args.runs):  # rotating order, so no row always goes first
            shift = round_ % len(timed)
            for config in timed[shift:] + timed[:shift]:
                config.seconds.append(config.run())
    end_load = load()

    print(f"{platform.processor() or platform.machine()} ({platform.machine()}), "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load average (1, 5, 15 min): {start_load} at the start, {end_load} at the end")
    print(f"`grader check {STUDENT.relative_to(ROOT)} --assignment {ASSIGNMENT}`, "
          f"{args.runs} rounds after one warm-up, rotating order; seconds\n")
    width = max(len(c.name) for c in configs)
    for config in configs:
        if config.failure is not None:
            print(f"  {config.name:{width}}  failed: {config.failure.splitlines()[0]}")
            continue
        runs = " ".join(f"{s:6.2f}" for s in config.seconds)
        print(f"  {config.name:{width}}  {runs}   median {statistics.median(config.seconds):6.2f}")
    for ref, reason in skipped.items():
        print(f"  before {ref}: not run: {reason}")

    if now.failure is None:
        now_median = statistics.median(now.seconds)
        print()
        for config in befores:
            if config.failure is None:
                ratio = statistics.median(config.seconds) / now_median
                print(f"  {config.name} / now: {ratio:.2f}x")
        if bare.failure is None:
            floor = statistics.median(bare.seconds)
            print(f"\nnow: median {now_median:.2f} s, of which {floor:.2f} s "
                  f"({100 * floor / now_median:.0f}%) is one bare `import torch`, the floor "
                  f"each sandboxed process pays")
    for config in configs:
        if config.failure is not None:
            print(f"\n{config.name}: {config.failure.splitlines()[0]}; stderr tail:")
            print("\n".join(f"    {line}" for line in config.failure.splitlines()[1:]))


if __name__ == "__main__":
    main()
