"""PDF feedback reports: one per student and a class summary, from result files.

`build_reports(results_dir, out_dir)` is the batch entry point: it reads every `*.json` result,
writes `<student>.pdf`, `class-summary.pdf`, `gradebook.csv` and `gradescope/<student>.json`,
and records (rather than raises on) a result file that cannot be read or rendered, so one bad
file never stops the class's reports.

HTML comes from the Jinja templates in `templates/` (no HTML is built here); the contexts come
from grader.report.context (charts are SVG from grader.report.charts, embedded as data: URIs, so the
PDF draws them as vectors); numbers are formatted by the filters below; WeasyPrint turns the
HTML into PDF. PDFs are written atomically (temporary file in the same folder, then rename).
"""

from __future__ import annotations

import re
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from grader import results as results_io
from grader.errors import InputError
from grader.report import exports
from grader.report.context import student_context, summary_context
from grader.report.pdf import (
    html_to_pdf,
    one_collection,
    render_template,
    require_pdf_engine,
)
from grader.results import EvaluationResult
from grader.spec import Assignment

SUMMARY_PDF = "class-summary.pdf"
GRADEBOOK_CSV = "gradebook.csv"
GRADESCOPE_DIR = "gradescope"


@dataclass(frozen=True)
class Failure:
    """A result file that produced no report, and why."""

    path: str                       # the result file
    message: str                    # what was wrong with it, in one line

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class ReportOutcome:
    """What build_reports wrote."""

    students: list[str] = field(default_factory=list)     # students with a report, sorted
    student_pdfs: list[Path] = field(default_factory=list)  # one per student, same order
    summary: Path | None = None                           # class-summary.pdf
    gradebook: Path | None = None                         # gradebook.csv
    gradescope: list[Path] = field(default_factory=list)  # gradescope/<student>.json
    failures: list[Failure] = field(default_factory=list)  # files that produced no report


# ------------------------------------------------------------------ HTML and PDF

def render_student_html(result: EvaluationResult, *, chart_format: str = "svg") -> str:
    """The student's feedback report as one HTML document (charts inline as SVG, or as PNG
    with chart_format="png")."""
    return render_template("student.html.j2", student_context(result, chart_format=chart_format))


def render_summary_html(results: Sequence[EvaluationResult],
                        failures: Sequence[Failure] = (), *,
                        integrity_pdf: str | None = None) -> str:
    """The class summary as one HTML document; integrity_pdf: the instructor's integrity
    report beside it (`grader evaluate --integrity`), named in one instructor-only line."""
    return render_template("summary.html.j2", {**summary_context(list(results), failures),
                                       "integrity_pdf": integrity_pdf})


def write_student_pdf(result: EvaluationResult, path: Path, *,
                      chart_format: str = "svg") -> Path:
    """The student's report as a PDF (chart_format as for render_student_html)."""
    with one_collection():
        return html_to_pdf(render_student_html(result, chart_format=chart_format), path)


def write_summary_pdf(results: Sequence[EvaluationResult], failures: Sequence[Failure],
                      path: Path) -> Path:
    """The class summary as a PDF (naming integrity.pdf when one is beside it)."""
    integrity = Path(path).parent / "integrity.pdf"
    with one_collection():
        return html_to_pdf(render_summary_html(
            results, failures, integrity_pdf=integrity.name if integrity.is_file() else None),
            path)


# ------------------------------------------------------------------ the batch

# Malformed values in a result file that loads (a string where a number belongs, ...) surface
# as these while rendering; the file is reported as a failure and the batch goes on.
_DATA_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, ZeroDivisionError)


def _file_stem(student: str, used: set[str], fallback: str) -> str:
    stem = re.sub(r"[^\w.-]+", "_", student).strip("._") or fallback
    if stem in used:
        stem = f"{stem}-{fallback}"
    used.add(stem)
    return stem


def _student_reports(path: Path, result: EvaluationResult, stem: str, out_dir: Path, *,
                     assignment: Assignment | None = None) -> Failure | None:
    """Write one student's PDF and Gradescope JSON (shown as the spec's [gradescope] says:
    exports.display_spec); a malformed result becomes a Failure."""
    try:
        scores = exports.gradescope_results(
            result, shown=exports.display_spec(result, assignment))
        write_student_pdf(result, out_dir / f"{stem}.pdf")
        results_io.write_json_atomic(out_dir / GRADESCOPE_DIR / f"{stem}.json", scores)
    except _DATA_ERRORS as exc:
        return Failure(str(path), f"result has malformed values and no report was made "
                                  f"({type(exc).__name__}: {exc})")
    return None


def build_reports(results_dir: Path, out_dir: Path, *, jobs: int = 1,
                  assignment: Assignment | None = None) -> ReportOutcome:
    """Write every report for the result files in results_dir into out_dir.

    jobs > 1 renders the students' PDFs in that many processes (rendering is CPU-bound
    Python, so threads would not help); the summary and the gradebook are written after.
    `assignment` is the spec whose [gradescope] section the Gradescope files follow (else the
    built-in spec of the results' assignment id).
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    if not results_dir.is_dir():
        raise InputError("results folder not found", path=str(results_dir))
    files = sorted(results_dir.glob("*.json"))
    if not files:
        raise InputError("no result files (*.json) in the results folder",
                         path=str(results_dir))
    require_pdf_engine()
    failures: list[Failure] = []
    loaded: list[tuple[Path, EvaluationResult]] = []
    for path in files:
        try:
            loaded.append((path, results_io.load(path)))
        except InputError as exc:
            failures.append(Failure(str(path), exc.message))
    loaded.sort(key=lambda item: (str(item[1].student), item[0].name))

    used: set[str] = set()
    stems = [_file_stem(str(result.student), used, path.stem) for path, result in loaded]
    tasks = [(path, result, stem, out_dir) for (path, result), stem in zip(loaded, stems)]
    out_dir.mkdir(parents=True, exist_ok=True)
    if jobs > 1 and len(tasks) > 1:
        import weasyprint  # noqa: F401  (imported once here; forked workers inherit it)
        with ProcessPoolExecutor(max_workers=min(jobs, len(tasks))) as pool:
            outcomes = list(pool.map(partial(_student_reports, assignment=assignment),
                                     *zip(*tasks)))
    else:
        outcomes = [_student_reports(*task, assignment=assignment) for task in tasks]

    done = [task for task, failure in zip(tasks, outcomes) if failure is None]
    failures += [failure for failure in outcomes if failure is not None]
    results = [result for _, result, _, _ in done]
    summary = write_summary_pdf(results, failures, out_dir / SUMMARY_PDF)
    gradebook = exports.write_gradebook_csv(results, out_dir / GRADEBOOK_CSV)
    return ReportOutcome(
        students=[r.student for r in results],
        student_pdfs=[out_dir / f"{stem}.pdf" for _, _, stem, _ in done], summary=summary,
        gradebook=gradebook,
        gradescope=[out_dir / GRADESCOPE_DIR / f"{stem}.json" for _, _, stem, _ in done],
        failures=failures)
