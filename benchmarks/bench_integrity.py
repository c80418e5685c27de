"""`grader integrity` on a generated class of 300 notebooks, against naive all-pairs difflib.

    ours    grader.integrity.find_integrity: every notebook read (grader.inputs.sources, magics
            blanked), copydetect fingerprints in one worker process per core (a
            forkserver), starter and class-common k-grams removed, all 44,850 pairs
            compared; plus the models (from the result files) and the predictions
            (shared errors, public order); then the outputs (PDF, JSON, CSV, heatmap) timed
            separately.
    naive   difflib.SequenceMatcher(None, a, b).ratio() on the same code text for every pair.
            All pairs of 300 would take hours, so it runs on --subset students (their pairs
            only, the planted code copy among them) and the time is extrapolated to the class's
            pairs: the report says so.

The class is tests/factories/integrity.make_class (the tests' generator, with every kind of
copy planted). Both run in this one process, one after the other.

    python benchmarks/bench_integrity.py                 # 300 students, difflib on 40
    python benchmarks/bench_integrity.py --students 100 --subset 30
"""

from __future__ import annotations

import argparse
import difflib
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from grader import spec  # noqa: E402
from grader.integrity import IntegrityOptions, find_integrity, write_outputs  # noqa: E402
from grader.integrity.code import read_document  # noqa: E402
from tests.factories.integrity import make_class  # noqa: E402


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_seconds() -> float:
    """CPU time of this process and its (reaped) children. The forkserver's workers are not
    our children: ours is compared by wall time, on a quiet machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--subset", type=int, default=40, help="students for naive difflib")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        gen = make_class(Path(tmp), honest=args.students - 6, seed=1)
        print(f"generated {len(gen.students)} students' notebooks in "
              f"{time.perf_counter() - start:.1f} s")
        task = spec.load(str(gen.spec))
        options = IntegrityOptions(starter=(gen.starter,), sources=(gen.sources,),
                                   labels=gen.labels, public_labels=gen.public_labels,
                                   results=gen.results, jobs=args.jobs)
        load = os.getloadavg()[0]
        start, cpu = time.perf_counter(), cpu_seconds()
        report = find_integrity(gen.root, task, options)
        ours = time.perf_counter() - start
        ours_cpu = cpu_seconds() - cpu
        start = time.perf_counter()
        write_outputs(report, Path(tmp) / "out")
        outputs = time.perf_counter() - start
        n = len(report.students)
        pairs = n * (n - 1) // 2
        planted = {frozenset(p) for p in gen.planted.values()}
        flagged = {frozenset((p.a, p.b)) for p in report.flagged}
        print(f"ours:  {ours:.1f} s wall, {ours_cpu:.1f} s CPU (load average {load:.1f} on "
              f"{os.cpu_count()} cores) for {n} students ({pairs:,} pairs; code, models, "
              f"predictions), outputs {outputs:.1f} s; flagged {len(flagged)} pairs + "
              f"{len(report.students_flagged)} student(s); planted found: "
              f"{len(planted & flagged)}/{len(planted)}; honest flagged: {len(flagged - planted)}")

        original, copier = gen.planted["code"]
        subset = [original, copier] + [s for s in gen.students
                                       if s not in (original, copier)][:args.subset - 2]
        start, cpu = time.perf_counter(), cpu_seconds()
        texts = {s: read_document(gen.root / s, s).text for s in subset}
        ratios = {}
        for i, a in enumerate(subset):
            for b in subset[i + 1:]:
                ratios[frozenset((a, b))] = difflib.SequenceMatcher(None, texts[a],
                                                                    texts[b]).ratio()
        naive = time.perf_counter() - start
        naive_cpu = cpu_seconds() - cpu
        sub_pairs = len(ratios)
        estimate = naive / sub_pairs * pairs
        ranked = sorted(ratios, key=ratios.get, reverse=True)
        rank = ranked.index(frozenset((original, copier))) + 1
        print(f"naive: {naive:.1f} s for {len(subset)} students ({sub_pairs:,} pairs), "
              f"{naive_cpu:.1f} s CPU, {1000 * naive / sub_pairs:.1f} ms a pair; extrapolated to {pairs:,} pairs: "
              f"{estimate:.0f} s ({estimate / 60:.0f} min), {estimate / ours:.0f}x ours")
        print(f"naive: the renamed and reformatted copy ranks {rank} of {sub_pairs:,} "
              f"(ratio {ratios[frozenset((original, copier))]:.2f}; highest honest "
              f"{max(v for k, v in ratios.items() if k != frozenset((original, copier))):.2f})")


if __name__ == "__main__":
    main()
