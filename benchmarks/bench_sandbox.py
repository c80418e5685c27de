"""What the sandbox costs, and where `grader check`'s time goes, for one small submission.

Side by side, interleaved, --runs times each after one untimed warm-up round:

    bare          python -c "import torch", no sandbox: the floor every harness run pays
    sandboxed     the harness job of `grader check` (build and probe one SimpleNN) in bubblewrap,
                  with the cgroup and the rlimits: the student process's wall time
    no sandbox    the same job with --no-sandbox (still the cgroup and the rlimits)

then the sandbox's own overhead (median difference and ratio), and a breakdown of one
`grader check` run: python + bwrap start, `import torch` inside the sandbox, building and
probing the model, and the trusted side (importing torch to recount the exported
parameters with torch.load(weights_only=True), and the load itself).

    python benchmarks/bench_sandbox.py            # 5 runs each
    python benchmarks/bench_sandbox.py --runs 9
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader.sandbox.limits import Limits  # noqa: E402
from grader.grading.probe import locate, param_shapes, run_probes  # noqa: E402
from grader.sandbox.bwrap import Sandbox, bwrap_executable, hardening, unavailable_reason  # noqa: E402
from grader.inputs.sources import read_sources  # noqa: E402
from grader.spec import load  # noqa: E402
from tests.factories.models import SIMPLENN  # noqa: E402  (the tests' SimpleNN)

SPEC = """
[assignment]
course = "Benchmark"
title = "One SimpleNN"

[[models]]
key = "simplenn"
title = "SimpleNN"
names = ["SimpleNN"]
params = 82030
"""
LIMITS = Limits(wall_seconds=120, memory_mb=4096, processes=64, file_size_mb=256,
                cpu_seconds=600)


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run_quiet(cmd: list[str], env: dict | None = None) -> float:
    return timed(lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, env=env))


class Job:
    """One submission with one SimpleNN, probed the way `grader check` probes it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / "student"
        self.folder.mkdir()
        (self.folder / "models.py").write_text(textwrap.dedent(SIMPLENN))
        (root / "spec.toml").write_text(SPEC)
        self.assignment = load(str(root / "spec.toml"))
        self.build_seconds = None

    def harness(self, sandboxed: bool) -> float:
        """The student process's wall time (RunOutcome.seconds): start to teardown."""
        probes = locate(read_sources(self.folder)[0], self.assignment)
        outcome, probes = run_probes(probes, self.assignment, self.folder, LIMITS,
                                     sandboxed=sandboxed)
        (measured,) = probes[0].measured.values()
        assert outcome.status == "ok" and measured.params == 82030, outcome.reason
        self.build_seconds = measured.report.build_seconds
        return outcome.seconds

    @staticmethod
    def in_bwrap(code: str) -> float:
        """`python -c code` under the sandbox's own bwrap command line."""
        with Sandbox(LIMITS) as box:
            return run_quiet(box._bwrap_command([sys.executable, "-s", "-B", "-c", code]),
                             env=box._env("/opt/grader"))

    def trusted_load(self) -> float:
        """The trusted side's recount: torch.load(weights_only=True) of exported parameters."""
        import torch

        from reference import build

        torch.save({n: p.detach().clone() for n, p in build("simplenn").named_parameters()},
                   self.root / "params-simplenn.pt")
        took = timed(lambda: param_shapes(self.root, "params-simplenn.pt"))
        assert param_shapes(self.root, "params-simplenn.pt")["fc3.weight"] == [10, 84]
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measurements of each (median)")
    args = parser.parse_args()
    if reason := unavailable_reason():
        sys.exit(f"cannot benchmark the sandbox: {reason}")
    python = [sys.executable, "-s", "-B", "-c"]
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        job = Job(Path(tmp))
        grader = [str(Path(sys.executable).parent / "grader"), "check", str(job.folder), "-a",
                  str(Path(tmp) / "spec.toml")]
        steps = {
            "python -c pass": lambda: run_quiet([*python, "pass"]),
            "bare: import torch": lambda: run_quiet([*python, "import torch"]),
            "harness, sandboxed": lambda: job.harness(sandboxed=True),
            "harness, --no-sandbox": lambda: job.harness(sandboxed=False),
            "bwrap: python -c pass": lambda: job.in_bwrap("pass"),
            "bwrap: import torch": lambda: job.in_bwrap("import torch"),
            "trusted torch.load": job.trusted_load,
            "grader check (CLI)": lambda: run_quiet(grader),
        }
        rows: dict[str, list[float]] = {name: [] for name in steps}
        for step in steps.values():     # warm-up: page cache, cgroup, bwrap probe, torch import
            step()
        for _ in range(args.runs):      # interleaved, so drift hits every row alike
            for name, step in steps.items():
                rows[name].append(step())
    med = {name: statistics.median(values) for name, values in rows.items()}

    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{bwrap_executable()} {' '.join(hardening())}")
    print(f"median of {args.runs} runs (min-max), seconds\n")
    for name, values in rows.items():
        print(f"  {name:24} {med[name]:7.3f}   ({min(values):.3f}-{max(values):.3f})")
    sandboxed, plain = med["harness, sandboxed"], med["harness, --no-sandbox"]
    print(f"\nsandbox overhead: {sandboxed - plain:+.3f} s a run ({sandboxed / plain:.2f}x); "
          f"bwrap's start alone "
          f"{1000 * (med['bwrap: python -c pass'] - med['python -c pass']):+.0f} ms")
    start, torch_in = med["bwrap: python -c pass"], med["bwrap: import torch"]
    trusted_import = med["bare: import torch"] - med["python -c pass"]
    total = med["grader check (CLI)"]
    parts = [("sandboxed process", sandboxed),
             ("  bwrap + python start", start),
             ("  import torch", torch_in - start),
             ("  build + probe + teardown", sandboxed - torch_in),
             ("trusted side: import torch", trusted_import),
             ("trusted side: torch.load", med["trusted torch.load"]),
             ("the rest (CLI start, discovery)", total - sandboxed - trusted_import
              - med["trusted torch.load"])]
    print(f"\nwhere `grader check` goes ({total:.2f} s, one SimpleNN; the harness reports "
          f"{job.build_seconds} s to build it):")
    for name, seconds in parts:
        print(f"  {name:34} {seconds:7.3f}  {100 * seconds / total:3.0f}%")


if __name__ == "__main__":
    main()
