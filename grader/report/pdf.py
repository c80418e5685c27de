"""From Jinja templates and HTML to PDF: the templates folder, the number filters the
templates use, `render_template`, and WeasyPrint (`html_to_pdf`, `require_pdf_engine`). Shared by
the feedback reports, the charts (their fonts) and the integrity report.
"""

from __future__ import annotations

import atexit
import gc
import os
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

import jinja2

import grader
from grader.errors import EnvironmentProblem, GraderError
from grader.results import write_atomic


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


def render_template(template: str, context: dict) -> str:
    """The named template of templates/ rendered with context."""
    return _environment(templates_dir()).get_template(template).render(**context)


@contextmanager
def one_collection() -> Iterator[None]:
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
    from weasyprint import HTML  # heavy import, only when a PDF is wanted
    pdf = HTML(string=html, base_url=str(templates_dir()) + os.sep).write_pdf(
        font_config=_font_config())
    return write_atomic(Path(path), pdf)
