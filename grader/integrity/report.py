"""The instructor's integrity PDF and the class similarity heatmap, and `write_outputs`, which
writes everything `grader integrity` makes into one folder.

The PDF (templates/integrity.html.j2, rendered by WeasyPrint like the other reports) lists the
flagged pairs ranked by strength of evidence, then for each: the matching code regions side by
side (highlighted), the two layer tables, the shared-error statistics. It is for the
instructor only: nothing here is linked from a student's report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np

from grader.integrity.code import TEMPLATE_NOTE
from grader.integrity.documents import excerpt
from grader.integrity.findings import IntegrityReport, PairFinding, p_text
from grader.integrity.output import CSV_NAME, JSON_NAME, write_csv, write_json

PDF_NAME = "integrity.pdf"
HEATMAP_NAME = "integrity-heatmap.svg"
MAX_DETAILED = 40           # flagged pairs shown in full (the rest are in the ranked table)
MAX_LINES = 60              # lines of matching code per side
LABELLED_MAX = 60           # heatmap axes carry student names up to this class size


@dataclass(frozen=True)
class IntegrityOutputs:
    pdf: Path
    json: Path
    csv: Path
    heatmap: Path


def similarity_heatmap(names: Sequence[str], similarity: np.ndarray, *,
                       prefix: str = "similarity") -> str:
    """The class's code similarity matrix as an SVG (vector; the cells one raster image, as
    the confusion heatmap does), students in clusters: each next to the one most like them."""
    from grader.report.charts import CHART_STYLE, new_figure, to_svg

    n = len(names)
    order = _order(similarity)
    matrix = similarity[np.ix_(order, order)] * 100
    labels = [names[i] for i in order]
    labelled = n <= LABELLED_MAX
    size = max(0.9, min(6.0, 150 / max(n, 1))) if labelled else 0
    margin = (max(len(s) for s in labels) * size * 0.55 / 72 + 0.25) if labelled else 0.35
    side = 4.6
    width, height = margin + side + 0.9, margin + side + 0.2
    with matplotlib.rc_context(CHART_STYLE):
        fig = new_figure(width, height)
        ax = fig.add_axes((margin / width, margin / height, side / width, side / height))
        ax.grid(False)
        image = ax.imshow(matrix, cmap="Reds", vmin=0, vmax=100, interpolation="none",
                          aspect="equal")
        if labelled:
            ticks = np.arange(n)
            ax.set_xticks(ticks, labels, rotation=90, fontsize=size)
            ax.set_yticks(ticks, labels, fontsize=size)
            ax.tick_params(length=0, pad=1)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"{n} students (names in integrity.csv)")
        for spine in ax.spines.values():
            spine.set_visible(False)
        cax = fig.add_axes(((margin + side + 0.15) / width, (margin + 0.1 * side) / height,
                            0.11 / width, 0.8 * side / height))
        bar = fig.colorbar(image, cax=cax)
        bar.set_label("% of code matching (starter removed)")
        bar.outline.set_visible(False)
        return to_svg(fig, prefix)


def _order(similarity: np.ndarray) -> list[int]:
    """Greedy nearest-neighbour chain: similar students end up next to each other."""
    n = len(similarity)
    if n == 0:
        return []
    left = set(range(n))
    start = int(np.argmax(similarity.max(axis=1))) if n else 0
    order = [start]
    left.discard(start)
    while left:
        last = order[-1]
        nxt = max(left, key=lambda j: (similarity[last, j], -j))
        order.append(nxt)
        left.discard(nxt)
    return order


def _pair_context(pair: PairFinding, rank: int, report: IntegrityReport) -> dict:
    code = None
    if pair.code is not None and pair.flags:
        sides = []
        for owner, found in ((pair.a, pair.code.regions_a), (pair.b, pair.code.regions_b)):
            doc = report.document(owner)
            lines, cut = excerpt(doc, found, max_lines=MAX_LINES) if doc else ([], 0)
            sides.append({"owner": owner, "lines": lines, "cut": cut})
        code = {"match": pair.code, "sides": sides}
    shared = pair.shared
    return {
        "rank": rank, "pair": pair, "code": code, "models": pair.models,
        "shared": shared, "shared_p": p_text(shared.log10_p) if shared else "",
        "agreement": pair.agreement,
        "agreement_p": p_text(pair.agreement.log10_p) if pair.agreement else "",
    }


# how grader.inputs.sources.read_sources words a part that does not parse, as the notes of
# grader integrity carry it ("alice: hw.ipynb cell 3, line 8: invalid syntax: x =: does ..."),
# and how grader.integrity.code words one in the course's starter, unchanged ("alice:
# save_test_predictions.ipynb cell 3 is the course template's unfinished code; not compared
# (line 7: expected an indented block ...)")
PARSE_NOTE = re.compile(r"^(?P<student>[^:]+): (?P<problem>.+): does not parse; that part was "
                        r"skipped$", re.DOTALL)
TEMPLATE_PARSE_NOTE = re.compile(r"^(?P<student>[^:]+): (?P<where>.+?) "
                                 + re.escape(TEMPLATE_NOTE) + r" \((?P<problem>.*)\)$",
                                 re.DOTALL)


def parse_notes(notes: Sequence[str]) -> tuple[list[dict], list[str]]:
    """The notes on code that does not parse (student, where, problem, and whether it is the
    course template's unchanged), and the others."""
    parsed, other = [], []
    for note in notes:
        template = TEMPLATE_PARSE_NOTE.match(note)
        if template is not None:
            parsed.append({"student": template["student"], "where": template["where"],
                           "problem": template["problem"], "template": True})
            continue
        match = PARSE_NOTE.match(note)
        if match is None:
            other.append(note)
            continue
        problem = match["problem"]
        where = re.split(r", line \d+: |: ", problem, maxsplit=1)[0]
        parsed.append({"student": match["student"], "where": where,
                       "problem": problem[len(where):].lstrip(", :"), "template": False})
    return parsed, other


def parse_summary(parsed: list[dict]) -> str:
    """The parse notes in one line for page 1: how many parts, of how many students, and
    the file or cell most of them are in (the course's template, usually)."""
    if not parsed:
        return ""
    students = {p["student"] for p in parsed}
    per_where: dict[str, set[str]] = {}
    for p in parsed:
        per_where.setdefault(p["where"], set()).add(p["student"])
    top, who = max(per_where.items(), key=lambda item: (len(item[1]), item[0]))
    common = (f"; most often {top} ({len(who)} students)" if len(who) > 1 else "")
    whose = f"{len(students)} students'" if len(students) != 1 else "1 student's"
    template = sum(p["template"] for p in parsed)
    which = ("" if len(parsed) == 1 else "all of them " if template == len(parsed)
             else f"{template} of them ")
    ours = f" ({which}the course template's unfinished code, unchanged)" if template else ""
    return (f"Code that does not parse: {len(parsed)} part{'s' if len(parsed) != 1 else ''} "
            f"of {whose} code skipped, not compared{ours}{common}. Each is listed in the "
            "appendix.")


def integrity_context(report: IntegrityReport, heatmap_svg: str) -> dict:
    import base64

    flagged = report.flagged
    parsed, notes = parse_notes(report.notes)
    return {
        "r": report,
        "notes": notes,                         # page 1: every note but the parse notes,
        "parse_summary": parse_summary(parsed),  # which are one line there
        "parse_notes": parsed,                  # and an appendix
        "flagged": [(i + 1, p) for i, p in enumerate(flagged)],
        "details": [_pair_context(p, i + 1, report) for i, p in
                    enumerate(flagged[:MAX_DETAILED])],
        "more": max(0, len(flagged) - MAX_DETAILED),
        "students_flagged": report.students_flagged,
        "pairs_compared": len(report.students) * (len(report.students) - 1) // 2,
        "heatmap": "data:image/svg+xml;base64," + base64.b64encode(
            heatmap_svg.encode("utf-8")).decode("ascii"),
    }


def render_integrity_html(report: IntegrityReport, heatmap_svg: str) -> str:
    from grader.report.pdf import render_template

    return render_template("integrity.html.j2", integrity_context(report, heatmap_svg))


def write_outputs(report: IntegrityReport, out_dir: Path) -> IntegrityOutputs:
    """integrity.pdf, integrity-heatmap.svg, integrity.json and integrity.csv in out_dir."""
    from grader.report.pdf import html_to_pdf
    from grader.results import write_atomic

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    matrix = np.asarray(report.similarity, dtype=float).reshape(len(report.students), -1)
    svg = similarity_heatmap(report.students, matrix)
    heatmap = write_atomic(out_dir / HEATMAP_NAME, svg.encode("utf-8"))
    pdf = html_to_pdf(render_integrity_html(report, svg), out_dir / PDF_NAME)
    return IntegrityOutputs(pdf, write_json(report, out_dir / JSON_NAME),
                            write_csv(report, out_dir / CSV_NAME), heatmap)
