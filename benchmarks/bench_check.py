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

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sidebyside import ROOT, Config, arguments, befores, measure, report  # noqa: E402

STUDENT = ROOT / "submissions" / "ece661-hw2" / "alice"
ASSIGNMENT = "ece661-hw2"
# 835fdd0: the commit before the speed work; fcb3d65: the one before FlopCounterMode was replaced
DEFAULT_BEFORE = ["835fdd0", "fcb3d65"]


def main() -> None:
    parser = arguments(__doc__, DEFAULT_BEFORE)
    args = parser.parse_args()
    env = dict(os.environ)
    argv = [sys.executable, "-m", "grader", "check", str(STUDENT), "--assignment", ASSIGNMENT]
    now = Config("now", argv, ROOT, env)
    bare = Config("import torch (bare)", [sys.executable, "-c", "import torch"], ROOT, env)
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        before, skipped = befores(args.before or DEFAULT_BEFORE, Path(tmp), env, argv)
        loads = measure([now, *before, bare], args.runs)
    report(f"`grader check {STUDENT.relative_to(ROOT)} --assignment {ASSIGNMENT}`, "
           f"{args.runs} rounds after one warm-up, rotating order", loads, now, before, bare,
           skipped)


if __name__ == "__main__":
    main()
