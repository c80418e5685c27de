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

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sidebyside import ROOT, Config, arguments, befores, measure, report  # noqa: E402

ASSIGNMENT = "ece661-hw2"
SUBMISSIONS = ROOT / "submissions" / ASSIGNMENT
# 7705c24: the last commit before evaluate's probe and training shared one sandboxed process
DEFAULT_BEFORE = ["7705c24"]


def main() -> None:
    parser = arguments(__doc__, DEFAULT_BEFORE)
    parser.add_argument("--student", default="alice",
                        help=f"example student in {SUBMISSIONS.relative_to(ROOT)} "
                             f"(default: alice)")
    parser.add_argument("--cache", type=Path, metavar="DIR",
                        help="GRADER_CACHE shared by every configuration, kept afterwards "
                             "(default: a temporary folder, built in the warm-up round)")
    args = parser.parse_args()
    if not (SUBMISSIONS / args.student).exists():
        parser.error(f"no student {args.student!r} in {SUBMISSIONS}")
    # without --out, which each run gets fresh
    argv = [sys.executable, "-m", "grader", "evaluate", str(SUBMISSIONS), "--assignment",
            ASSIGNMENT, "--only", args.student, "--force", "--progress", "plain", "--jobs", "1"]
    with tempfile.TemporaryDirectory(prefix="bench-student-") as tmp:
        cache = args.cache.resolve() if args.cache else Path(tmp) / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GRADER_CACHE": str(cache)}
        env.pop("PYTHONPATH", None)
        outs = Path(tmp) / "outs"
        now = Config("now", argv, ROOT, env, outs / "now")
        bare = Config("import torch (bare)", [sys.executable, "-c", "import torch"], ROOT, env)
        before, skipped = befores(args.before or DEFAULT_BEFORE, Path(tmp), env, argv, outs)
        loads = measure([now, *before, bare], args.runs)
    shared = f"--cache {cache}" if args.cache else "a temporary folder"
    report(f"`grader evaluate {SUBMISSIONS.relative_to(ROOT)} --assignment {ASSIGNMENT} "
           f"--only {args.student} --force --jobs 1`, shared cache: {shared}; {args.runs} "
           f"rounds after one warm-up, rotating order", loads, now, before, bare, skipped,
           show_warmup=True)


if __name__ == "__main__":
    main()
