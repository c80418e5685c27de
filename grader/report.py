"""PDF feedback reports: one per student and a class summary, from result files.

`build_reports(results_dir, out_dir)` is the batch entry point: it reads every `*.json` result,
writes `<student>.pdf`, `class-summary.pdf`, `gradebook.csv` and `gradescope/<student>.json`,
and records (rather than raises on) a result file that cannot be read or rendered, so one bad
file never stops the class's reports.

HTML comes from the Jinja templates in `templates/` (no HTML is built here); the contexts come
from grader.report_context (charts are SVG from grader.charts, embedded as data: URIs, so the
PDF draws them as vectors); numbers are formatted by the filters below; WeasyPrint turns the
HTML into PDF. PDFs are written atomically (temporary file in the same folder, then rename).
"""

from __future__ import annotations

import atexit
import gc
import os
import re
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import jinja2

import grader
from grader import exports, results as results_io
from grader.errors import EnvironmentProblem, GraderError, InputError
from grader.report_context import student_context, summary_context
from grader.results import EvaluationResult, write_atomic

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


# ------------------------------------------------------------------ templates

def templates_dir() -> Path:
    """The repository's templates/ folder, or grader/_templates in an installed wheel."""
    package = Path(grader.__file__).parent
    for candidate in (package.parent / "templates", package / "_templates"):
        if (candidate / "student.html.j2").is_file():
            return candidate
    raise GraderError(f"report templates not found in {package.parent / 'templates'} or "
                      f"{package / '_templates'}; reinstall grader")


def _points(value: float) -> str:
    return f"{round(value, 2):g}"


def _number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _percent(fraction: float | None, digits: int = 1) -> str:
    """A fraction 0..1 as a percentage."""
    return "—" if fraction is None else f"{100 * fraction:.{digits}f}%"


def _thousands(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _shape(shape: Sequence[int] | None) -> str:
    return "—" if not shape else " × ".join(str(s) for s in shape)


def _si(value: float | None) -> str:
    if value is None:
        return "—"
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {suffix}"
    return f"{value:g}"


def _date(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso or "—"
    zone = moment.strftime(" %Z") if moment.tzinfo else ""
    return moment.strftime("%d %B %Y, %H:%M") + zone


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s"


@lru_cache(maxsize=4)
def _environment(folder: Path) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)),
                             autoescape=jinja2.select_autoescape(["j2", "html"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(points=_points, num=_number, pct=_percent, thousands=_thousands,
                       shape=_shape, si=_si, date=_date, seconds=_seconds)
    return env


def _render(template: str, context: dict) -> str:
    return _environment(templates_dir()).get_template(template).render(**context)


# ------------------------------------------------------------------ HTML and PDF

@contextmanager
def _one_collection():
    """Run a block with Python's cyclic garbage collector paused, then collect once.

    A report allocates a few hundred thousand objects (matplotlib artists, WeasyPrint boxes)
    that stay alive until its PDF is written, and the collector would traverse them again and
    again while they are built: pausing it saves about a tenth of a report's time, and the
    one collection after keeps memory flat over a class (benchmarks/README.md)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect(1)        # the report's objects: young, so generations 0 and 1


def render_student_html(result: EvaluationResult, *, chart_format: str = "svg") -> str:
    """The student's feedback report as one HTML document (charts inline as SVG, or as PNG
    with chart_format="png")."""
    return _render("student.html.j2", student_context(result, chart_format=chart_format))


def render_summary_html(results: Sequence[EvaluationResult],
                        failures: Sequence[Failure] = (), *,
                        integrity_pdf: str | None = None) -> str:
    """The class summary as one HTML document; integrity_pdf: the instructor's integrity
    report beside it (`grader evaluate --integrity`), named in one instructor-only line."""
    return _render("summary.html.j2", {**summary_context(list(results), failures),
                                       "integrity_pdf": integrity_pdf})


PDF_LIBRARIES_HINT = (
    "Install them (Debian/Ubuntu: `sudo apt install libpango-1.0-0 libpangoft2-1.0-0`; "
    "Fedora: `sudo dnf install pango`; macOS: `brew install pango`; conda: "
    "`conda install -c conda-forge pango`), or make the PDFs later on a machine that has "
    "them with `grader report RESULTS --out DIR`: result files need nothing but themselves.")


def pdf_engine_problem() -> str | None:
    """Why WeasyPrint cannot make PDFs here (a message with what to do), or None. WeasyPrint
    loads Pango and GObject, system libraries pip does not install, when it is imported: a
    machine without them (a minimal container, a GPU or cluster node) raises OSError on
    `import weasyprint`."""
    try:
        import weasyprint  # noqa: F401
    except OSError as exc:
        return ("PDF reports need WeasyPrint's system libraries (Pango and GObject), and "
                f"WeasyPrint cannot load them here: {_first_line(exc)}. {PDF_LIBRARIES_HINT}")
    except ImportError as exc:
        return (f"PDF reports need WeasyPrint, which cannot be imported here: "
                f"{_first_line(exc)}. Install the grader with its dependencies "
                "(`pip install -e .` in its folder).")
    return None


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__


def require_pdf_engine() -> None:
    """Raise EnvironmentProblem (exit code 4) when PDFs cannot be made on this machine."""
    if problem := pdf_engine_problem():
        raise EnvironmentProblem(problem)


@lru_cache(maxsize=1)
def _font_config():
    """One WeasyPrint font configuration per process, shared by every PDF it renders: making
    one loads the system's font list, and the bundled @font-face fonts are then registered
    once rather than once per report. Its temporary copy of those fonts goes at exit."""
    from weasyprint.text.fonts import FontConfiguration
    config = FontConfiguration()
    atexit.register(config.__del__)
    return config


def html_to_pdf(html: str, path: Path) -> Path:
    """Render HTML to a PDF file atomically (stylesheets resolve against templates/)."""
    require_pdf_engine()
    from weasyprint import HTML   # heavy import, only when a PDF is wanted
    pdf = HTML(string=html, base_url=str(templates_dir()) + os.sep).write_pdf(
        font_config=_font_config())
    return write_atomic(Path(path), pdf)


def write_student_pdf(result: EvaluationResult, path: Path, *,
                      chart_format: str = "svg") -> Path:
    """The student's report as a PDF (chart_format as for render_student_html)."""
    with _one_collection():
        return html_to_pdf(render_student_html(result, chart_format=chart_format), path)


def write_summary_pdf(results: Sequence[EvaluationResult], failures: Sequence[Failure],
                      path: Path) -> Path:
    """The class summary as a PDF (naming integrity.pdf when one is beside it)."""
    integrity = Path(path).parent / "integrity.pdf"
    with _one_collection():
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


def _student_reports(path: Path, result: EvaluationResult, stem: str,
                     out_dir: Path) -> Failure | None:
    """Write one student's PDF and Gradescope JSON; a malformed result becomes a Failure."""
    try:
        scores = exports.gradescope_results(result)
        write_student_pdf(result, out_dir / f"{stem}.pdf")
        results_io.write_json_atomic(out_dir / GRADESCOPE_DIR / f"{stem}.json", scores)
    except _DATA_ERRORS as exc:
        return Failure(str(path), f"result has malformed values and no report was made "
                                  f"({type(exc).__name__}: {exc})")
    return None


def build_reports(results_dir: Path, out_dir: Path, *, jobs: int = 1) -> ReportOutcome:
    """Write every report for the result files in results_dir into out_dir.

    jobs > 1 renders the students' PDFs in that many processes (rendering is CPU-bound
    Python, so threads would not help); the summary and the gradebook are written after.
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
            outcomes = list(pool.map(_student_reports, *zip(*tasks)))
    else:
        outcomes = [_student_reports(*task) for task in tasks]

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
