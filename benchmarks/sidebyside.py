"""Shared by the benchmarks that time a `grader` command before and now, side by side in one
run (bench_check.py, bench_student.py): git refs unpacked with `git archive` and run with
PYTHONPATH pointing at them, interleaved rounds in rotating order, and the table of medians and
ratios. Nothing is asserted: the figures are for reading, on a machine that may be busy.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Config:
    """One command timed in every round; with `out`, each run gets a fresh --out folder in it."""

    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    out: Path | None = None
    seconds: list[float] = field(default_factory=list)
    warmup: float | None = None
    failure: str | None = None       # exit code and output tail of the first failure
    _count: itertools.count = field(default_factory=itertools.count)

    def run(self) -> float:
        argv = list(self.argv)
        if self.out is not None:
            argv += ["--out", str(self.out / f"out-{next(self._count)}")]
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


def befores(refs: list[str], tmp: Path, env: dict[str, str], argv: list[str],
            outs: Path | None = None) -> tuple[list[Config], dict[str, str]]:
    """A Config per ref running argv with that ref's tree (its `grader` package checked to be
    the one imported), and the refs that could not be set up, with why."""
    found, skipped = [], {}
    for i, ref in enumerate(refs):
        folder = tmp / f"{i}-{ref.replace('/', '_')}"
        folder.mkdir()
        try:
            unpack(ref, folder)
            ref_env = {**env, "PYTHONPATH": str(folder)}
            done = subprocess.run([sys.executable, "-c", "import grader; print(grader.__file__)"],
                                  cwd=folder, env=ref_env, capture_output=True, text=True,
                                  check=True)
            imported = Path(done.stdout.strip()).resolve()
            if not imported.is_relative_to(folder.resolve()):
                raise RuntimeError(f"`import grader` resolves to {imported}, not to {folder}")
            found.append(Config(f"before {ref}", argv, folder, ref_env,
                                outs / f"before-{i}" if outs else None))
        except (RuntimeError, subprocess.CalledProcessError) as error:
            skipped[ref] = str(getattr(error, "stderr", None) or error).strip()
    return found, skipped


def arguments(doc: str, default_before: list[str]) -> argparse.ArgumentParser:
    """The options every side-by-side benchmark takes: --runs and --before."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (median)")
    parser.add_argument("--before", action="append", metavar="REF",
                        help=f"git ref to compare with, repeatable (default: "
                             f"{' and '.join(default_before)})")
    return parser


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def measure(configs: list[Config], runs: int) -> tuple[str, str]:
    """One untimed warm-up round, then `runs` rounds in rotating order (so no row always goes
    first); the load average at the start and the end."""
    start = load()
    for config in configs:
        config.warmup = config.run()
    timed = [c for c in configs if c.failure is None]
    for round_ in range(runs if timed else 0):
        shift = round_ % len(timed)
        for config in timed[shift:] + timed[:shift]:
            config.seconds.append(config.run())
    return start, load()


def report(title: str, loads: tuple[str, str], now: Config, before: list[Config],
           bare: Config, skipped: dict[str, str], *, show_warmup: bool = False) -> None:
    """The machine, every run and median, before-median / now-median per ref, the bare
    `import torch` for scale, and the output tail of anything that failed."""
    configs = [now, *before, bare]
    print(f"{platform.processor() or platform.machine()} ({platform.machine()}), "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load average (1, 5, 15 min): {loads[0]} at the start, {loads[1]} at the end")
    print(f"{title}; seconds\n")
    width = max(len(c.name) for c in configs)
    for config in configs:
        if config.failure is not None:
            print(f"  {config.name:{width}}  failed: {config.failure.splitlines()[0]}")
            continue
        runs = " ".join(f"{s:6.2f}" for s in config.seconds)
        median = statistics.median(config.seconds) if config.seconds else float("nan")
        warm = f"   (warm-up {config.warmup:.2f})" if show_warmup else ""
        print(f"  {config.name:{width}}  {runs}   median {median:6.2f}{warm}")
    for ref, reason in skipped.items():
        print(f"  before {ref}: not run: {reason}")
    if now.failure is None and now.seconds:
        now_median = statistics.median(now.seconds)
        print()
        for config in before:
            if config.failure is None:
                median = statistics.median(config.seconds)
                print(f"  {config.name} / now: {median / now_median:.2f}x  "
                      f"({median - now_median:+.2f} s)")
        if bare.failure is None:
            floor = statistics.median(bare.seconds)
            print(f"\nnow: median {now_median:.2f} s; one bare `import torch`: {floor:.2f} s, "
                  f"the floor each sandboxed process pays")
    for config in configs:
        if config.failure is not None:
            print(f"\n{config.name}: {config.failure.splitlines()[0]}; output tail:")
            print("\n".join(f"    {line}" for line in config.failure.splitlines()[1:]))
