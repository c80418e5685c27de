"""Time one student's feedback report: vector charts (ours) against PNG charts (the usual way).

For each of N results (the test factories' mix of good, failing and crashed ECE 661 HW2
submissions) it renders the whole report twice, side by side in one run:

  svg  charts as inline SVG (what grader does): matplotlib -> SVG -> WeasyPrint draws vectors
  png  the same report with every chart a 150-dpi PNG (what a notebook or most report scripts
       embed): matplotlib rasterises, WeasyPrint embeds the image

Each timing covers the template context (charts included), the Jinja HTML and the PDF
written to disk. The two variants alternate per student (svg first for even students, png
first for odd ones) so that a change in machine load hits both alike; one warm-up render of
each is not counted (imports, font discovery). Prints seconds per student (wall: mean and
median, split between HTML and PDF; and CPU seconds of this process, which a busy machine
disturbs less), the PDF sizes and the png/svg ratios.

    .venv/bin/python benchmarks/bench_report.py [--students 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from grader import report  # noqa: E402
from result_factories import class_of  # noqa: E402

VARIANTS = ("svg", "png")


def render(result, fmt: str, path: Path) -> tuple[float, float, float]:
    """Wall seconds for the HTML and for the PDF, and CPU seconds for both."""
    c0, t0 = time.process_time(), time.perf_counter()
    html = report.render_student_html(result, chart_format=fmt)
    t1 = time.perf_counter()
    report.html_to_pdf(html, path)
    return t1 - t0, time.perf_counter() - t1, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=10)
    args = parser.parse_args()

    import matplotlib
    import weasyprint
    results = class_of(args.students)
    times: dict[str, list[tuple[float, float, float]]] = {v: [] for v in VARIANTS}
    sizes: dict[str, list[int]] = {v: [] for v in VARIANTS}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for fmt in VARIANTS:                                   # warm-up, not counted
            render(results[0], fmt, out / f"warmup-{fmt}.pdf")
        for i, result in enumerate(results):
            for fmt in (VARIANTS if i % 2 == 0 else VARIANTS[::-1]):
                path = out / f"{result.student}-{fmt}.pdf"
                times[fmt].append(render(result, fmt, path))
                sizes[fmt].append(path.stat().st_size)
    load_after = os.getloadavg()[0]

    print(f"grader report benchmark: {len(results)} students "
          f"({', '.join(sorted({r.status for r in results}))}), one PDF each per variant")
    print(f"python {platform.python_version()}, weasyprint {weasyprint.__version__}, "
          f"matplotlib {matplotlib.__version__}, {os.cpu_count()} CPUs, "
          f"load average {load_before:.1f} before / {load_after:.1f} after")
    print()
    print("seconds per student: wall (mean, median; of which HTML with charts, PDF) and CPU")
    print(f"{'variant':<8}{'wall':>7}{'median':>8}{'html':>7}{'pdf':>7}{'cpu':>7}{'PDF KiB':>9}")
    wall, cpu = {}, {}
    for fmt in VARIANTS:
        totals = [h + p for h, p, _ in times[fmt]]
        wall[fmt] = statistics.fmean(totals)
        cpu[fmt] = statistics.fmean(c for _, _, c in times[fmt])
        print(f"{fmt:<8}{wall[fmt]:>7.2f}{statistics.median(totals):>8.2f}"
              f"{statistics.fmean(h for h, _, _ in times[fmt]):>7.2f}"
              f"{statistics.fmean(p for _, p, _ in times[fmt]):>7.2f}{cpu[fmt]:>7.2f}"
              f"{statistics.fmean(sizes[fmt]) / 1024:>9.0f}")
    print()
    print(f"png / svg: wall {wall['png'] / wall['svg']:.2f}x, cpu {cpu['png'] / cpu['svg']:.2f}x "
          f"(above 1: the vector report is faster)")


if __name__ == "__main__":
    main()
