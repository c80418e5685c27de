"""integrity.json and integrity.csv from an IntegrityReport (the PDF: grader.integrity.report).

integrity.json holds the flagged pairs and students with their evidence (matching code as file,
cell and line ranges rather than text); integrity.csv one row per pair with any evidence,
flagged or not, ranked, so an instructor can sort and filter the whole class. Both list the
same regions as the PDF marks (CodeMatch.regions_a and regions_b: one per file or cell).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict
from pathlib import Path

from grader.integrity.code import CodeMatch
from grader.integrity.documents import Region
from grader.integrity.findings import IntegrityReport, PairFinding, StudentFinding
from grader.results import write_atomic, write_json_atomic

JSON_NAME = "integrity.json"
CSV_NAME = "integrity.csv"
CSV_COLUMNS = ["rank", "a", "b", "flags", "evidence", "code_similarity_a", "code_similarity_b",
               "code_matched_chars", "code_regions_a", "code_regions_b", "model_similarity", "shared_errors", "expected_shared",
               "log10_p_shared", "agreement", "disagree", "expected_disagree",
               "log10_p_agreement"]


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    return value if math.isfinite(value) else -1e308 if value < 0 else 1e308


def _regions(regions: tuple[Region, ...]) -> list[dict]:
    return [{"where": r.where, "first_line": r.first_line, "last_line": r.last_line}
            for r in regions]


def _code(match: CodeMatch | None) -> dict | None:
    if match is None:
        return None
    return {"similarity_a": match.similarity_a, "similarity_b": match.similarity_b,
            "matched_chars": match.matched_chars,
            "regions_a": _regions(match.regions_a), "regions_b": _regions(match.regions_b)}


def pair_dict(pair: PairFinding, rank: int, report: IntegrityReport) -> dict:
    return {
        "rank": rank, "a": pair.a, "b": pair.b, "evidence": round(pair.evidence, 4),
        "flags": [asdict(f) for f in pair.flags],
        "code": _code(pair.code),
        "models": [{"model": m.model, "title": m.title, "similarity": m.similarity,
                    "identical": m.identical, "params_a": m.params_a, "params_b": m.params_b,
                    "layers": len(m.layers_a), "group": m.group} for m in pair.models],
        "shared_errors": None if pair.shared is None else {
            **asdict(pair.shared), "log10_p": _finite(pair.shared.log10_p)},
        "agreement": None if pair.agreement is None else {
            **asdict(pair.agreement), "log10_p": _finite(pair.agreement.log10_p)},
    }


def student_dict(finding: StudentFinding) -> dict:
    """A flagged student: predictions in the public order, or weights that do not give
    their predictions.csv (each part null or empty when it is not the evidence)."""
    public = finding.public
    return {"student": finding.student, "flags": [asdict(f) for f in finding.flags],
            "public_order": None if public is None else {
                **asdict(public), "log10_p_public": _finite(public.log10_p_public),
                "log10_p_secret": _finite(public.log10_p_secret)},
            "weights": [asdict(w) for w in finding.weights]}


def to_json(report: IntegrityReport) -> dict:
    flagged = report.flagged
    return {
        "assignment": report.assignment, "course": report.course, "title": report.title,
        "created": report.created, "grader_version": report.grader_version,
        "students": list(report.students), "compared": list(report.compared),
        "notes": list(report.notes), "thresholds": asdict(report.thresholds),
        "pairs_compared": len(report.students) * (len(report.students) - 1) // 2,
        "flagged_pairs": [pair_dict(p, i + 1, report) for i, p in enumerate(flagged)],
        "flagged_students": [student_dict(s) for s in report.students_flagged],
    }


def write_json(report: IntegrityReport, path: Path) -> Path:
    write_json_atomic(Path(path), to_json(report))
    return Path(path)


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return ""
    value = _finite(value)
    return f"{value:.{digits}g}"


def write_csv(report: IntegrityReport, path: Path) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for rank, pair in enumerate(report.pairs, 1):
        code, shared, agree = pair.code, pair.shared, pair.agreement
        writer.writerow([
            rank, pair.a, pair.b, " ".join(f"{f.kind}:{f.strength}" for f in pair.flags),
            _fmt(pair.evidence),
            _fmt(code.similarity_a if code else None), _fmt(code.similarity_b if code else None),
            code.matched_chars if code else "",
            "; ".join(r.lines for r in code.regions_a) if code else "",
            "; ".join(r.lines for r in code.regions_b) if code else "",
            _fmt(max((m.similarity for m in pair.models), default=None)),
            shared.shared if shared else "", _fmt(shared.expected if shared else None),
            _fmt(shared.log10_p if shared else None), _fmt(shared.agreement if shared else None),
            agree.disagree if agree else "", _fmt(agree.expected if agree else None),
            _fmt(agree.log10_p if agree else None)])
    return write_atomic(Path(path), buffer.getvalue().encode("utf-8"))
