"""Time the student feedback reports: grader's way against the usual WeasyPrint way.

Part 1, one PDF at a time. For each of N results (the test factories' mix of good, failing
and crashed ECE 661 HW2 submissions) it renders the student's report in five ways, side by
side in one run, the order rotating from student to student so that a change in machine load
hits every variant alike (one warm-up render of each is not counted):

  grader        what `grader report` does: SVG charts, the bundled cut-down fonts, one
                WeasyPrint FontConfiguration for every PDF, garbage collector paused per report
  gc on         grader, but with Python's garbage collector running throughout
  system fonts  grader, but with the system's full DejaVu fonts and a new FontConfiguration
                per PDF (WeasyPrint's default)
  png charts    grader, but with the charts as 150-dpi PNG images
  usual         all three at once: the plain `HTML(string=...).write_pdf()` of a Jinja page
                with PNG charts and system fonts, as most report scripts do it

Each timing covers the template context (charts included), the HTML and the PDF written to
disk; reported as CPU seconds of this process (a busy machine disturbs them less than wall
time) and wall seconds, mean per student, and the usual/grader ratio.

Part 2, the class. `build_reports` on the same N results written as result files: every
student's PDF, the class summary, gradebook and Gradescope files, with one process and with
one process per CPU; reported as wall seconds per student.

    .venv/bin/python benchmarks/bench_report.py [--students 10]
"""

from __future__ import annotations

import argparse
import base64
import gc
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from grader import results as results_io  # noqa: E402
from grader.report import pdf  # noqa: E402
from grader.report import render as report  # noqa: E402
from tests.factories.results import class_of  # noqa: E402

VARIANTS = ("grader", "gc on", "system fonts", "png charts", "usual")
_LINK = '<link rel="stylesheet" href="report.css">'
_SVG_URI = re.compile(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)")


def system_fonts(html: str) -> str:
    """The same page drawn with the system's DejaVu fonts: report.css inlined without its
    @font-face rules, and the charts' font named as the system's."""
    css = (pdf.templates_dir() / "report.css").read_text(encoding="utf-8")
    css = re.sub(r"@font-face\s*\{[^}]*\}", "", css)
    css = css.replace('"Grader Sans"', '"DejaVu Sans Condensed"')
    css = css.replace('"Grader Mono"', '"DejaVu Sans Mono"')

    def svg(match: re.Match) -> str:
        text = base64.b64decode(match[1]).decode()
        text = text.replace("'Grader Sans'", "'DejaVu Sans Condensed'")
        return "data:image/svg+xml;base64," + base64.b64encode(text.encode()).decode()

    return _SVG_URI.sub(svg, html.replace(_LINK, f"<style>{css}</style>"))


def render(result, variant: str, path: Path) -> tuple[float, float]:
    """CPU and wall seconds to write one student's report in one variant."""
    from weasyprint import HTML
    c0, t0 = time.process_time(), time.perf_counter()
    if variant == "grader":
        report.write_student_pdf(result, path)
    elif variant == "png charts":
        report.write_student_pdf(result, path, chart_format="png")
    elif variant == "gc on":
        pdf.html_to_pdf(report.render_student_html(result), path)
    else:
        usual = variant == "usual"
        with nullcontext() if usual else pdf.one_collection():
            html = system_fonts(report.render_student_html(
                result, chart_format="png" if usual else "svg"))
            base = str(pdf.templates_dir()) + os.sep
            path.write_bytes(HTML(string=html, base_url=base).write_pdf())
    return time.process_time() - c0, time.perf_counter() - t0


def per_pdf(results, out: Path) -> None:
    times: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    sizes: dict[str, list[int]] = {v: [] for v in VARIANTS}
    for variant in VARIANTS:                                   # warm-up, not counted
        render(results[0], variant, out / "warm-up.pdf")
    for i, result in enumerate(results):
        shift = i % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            path = out / f"{result.student}-{variant.replace(' ', '-')}.pdf"
            times[variant].append(render(result, variant, path))
            sizes[variant].append(path.stat().st_size)
    print("one PDF at a time, seconds per student (mean; median CPU in brackets)")
    print(f"{'variant':<14}{'CPU':>7}{'median':>9}{'wall':>7}{'PDF KiB':>9}{'usual/this':>12}")
    cpu = {v: statistics.fmean(c for c, _ in times[v]) for v in VARIANTS}
    for variant in VARIANTS:
        print(f"{variant:<14}{cpu[variant]:>7.2f}"
              f"{'(' + format(statistics.median(c for c, _ in times[variant]), '.2f') + ')':>9}"
              f"{statistics.fmean(w for _, w in times[variant]):>7.2f}"
              f"{statistics.fmean(sizes[variant]) / 1024:>9.0f}"
              f"{cpu['usual'] / cpu[variant]:>11.2f}x")
    by_status: dict[str, list[float]] = {}
    for result, (c, _) in zip(results, times["grader"]):
        by_status.setdefault(result.status, []).append(c)
    print("grader, CPU seconds by kind of report: " + ", ".join(
        f"{status} {statistics.fmean(v):.2f}" for status, v in sorted(by_status.items())))


def per_class(results, out: Path) -> None:
    folder = out / "results"
    folder.mkdir()
    for result in results:
        results_io.save(result, folder / f"{result.student}.json")
    print()
    print(f"the class: build_reports on {len(results)} result files "
          f"(student PDFs, summary, gradebook, Gradescope)")
    for jobs in sorted({1, os.cpu_count() or 1}):
        t0 = time.perf_counter()
        outcome = report.build_reports(folder, out / f"reports-{jobs}", jobs=jobs)
        wall = time.perf_counter() - t0
        assert not outcome.failures and len(outcome.student_pdfs) == len(results)
        print(f"  {jobs} process{'es' if jobs > 1 else ''}: {wall:.1f} s, "
              f"{wall / len(results):.2f} s per student")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=10)
    args = parser.parse_args()

    import matplotlib
    import weasyprint
    results = class_of(args.students)
    load_before = os.getloadavg()[0]
    print(f"grader report benchmark: {len(results)} students "
          f"({', '.join(sorted({r.status for r in results}))})")
    print(f"python {platform.python_version()}, weasyprint {weasyprint.__version__}, "
          f"matplotlib {matplotlib.__version__}, {os.cpu_count()} CPUs, "
          f"garbage collector {'on' if gc.isenabled() else 'off'}")
    print()
    with tempfile.TemporaryDirectory() as tmp:
        per_pdf(results, Path(tmp))
        per_class(results, Path(tmp))
    print(f"\nload average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
