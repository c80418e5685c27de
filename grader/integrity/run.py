"""`grader integrity`: read a whole class and find the pairs worth a human look.

`find_integrity(class_dir, assignment, options)` reads every student's code, models (from the
result files of `grader evaluate`) and predictions.csv, compares them pairwise, and returns an
IntegrityReport; grader.integrity.output writes it. Student code is only read, never run.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader import __version__
from grader.errors import InputError
from grader.grading.handin_checks import starter_signatures
from grader.grading.predictions import read_labels, validate_predictions
from grader.inputs.sources import SKIP_DIRS, unpack_zip
from grader.integrity import code as code_mod
from grader.integrity import findings as F
from grader.integrity import models as models_mod
from grader.integrity import predictions as pred_mod
from grader.integrity.parallel import parallel_map
from grader.spec import Assignment

SOURCE_PREFIX = "source: "


@dataclass(frozen=True)
class IntegrityOptions:
    starter: tuple[Path, ...] = ()  # starter code given to everyone (files or folders)
    sources: tuple[Path, ...] = ()  # known public implementations (files or folders)
    labels: Path | None = None      # held-out labels (labels.csv from `grader data split`)
    public_labels: Path | None = None   # the same images' labels in the public order
    results: Path | None = None     # result files of `grader evaluate` (layer tables,
    #                                 accuracies); None: ./grades, evaluate's default --out,
    #                                 when it exists (only this class's results are used)
    thresholds: F.Thresholds = field(default_factory=F.Thresholds)
    jobs: int = max(1, os.cpu_count() or 1)   # processes for fingerprinting


def class_members(class_dir: Path) -> list[Path]:
    """One subfolder or .zip per student."""
    class_dir = Path(class_dir)
    if not class_dir.is_dir():
        raise InputError("class folder not found; expected one subfolder or .zip per student",
                         path=str(class_dir))
    found = sorted(p for p in class_dir.iterdir()
                   if (p.is_dir() and p.name not in SKIP_DIRS and not p.name.startswith("."))
                   or p.suffix == ".zip")
    if len(found) < 2:
        raise InputError(f"{len(found)} submission(s) found; comparing needs at least two "
                         "(one subfolder or .zip per student)", path=str(class_dir))
    return found


def find_integrity(class_dir: Path, assignment: Assignment,
                   options: IntegrityOptions = IntegrityOptions()) -> IntegrityReport:
    from grader.inputs.handins import student_names

    members = class_members(class_dir)
    for path in (*options.starter, *options.sources):
        if not Path(path).exists():
            raise InputError("starter or sources path not found", path=str(path))
    notes: list[str] = []
    compared: list[str] = []
    t = options.thresholds
    with tempfile.TemporaryDirectory(prefix="grader-integrity-") as tmp:
        roots: dict[str, Path] = {}
        names = student_names(members)      # evaluate's names: its result files match them
        for member in members:
            name = names[member]
            if member.suffix == ".zip":
                try:
                    roots[name] = unpack_zip(member, Path(tmp) / name)
                except InputError as exc:
                    notes.append(f"{name}: {exc}; not compared")
                    continue
            else:
                roots[name] = member
        students = list(roots)
        starter = [d for p in options.starter for d in code_mod.read_folder_documents(Path(p), "")]
        sources = [d for p in options.sources
                   for d in code_mod.read_folder_documents(Path(p), SOURCE_PREFIX)]
        docs, fingerprints, _ = code_mod.read_class(
            roots, starter, jobs=options.jobs, template=starter_signatures(options.starter))
        notes += [f"{d.owner}: {n}" for d in docs for n in d.notes]
        comparison = code_mod.compare_documents(docs, sources, starter, jobs=options.jobs,
                                                fingerprints=fingerprints)
        compared.append(
            f"Code: {len(students)} students' .py files and notebook code cells, every pair"
            + (f" and each against {len(sources)} public source files" if sources else "")
            + f"; copydetect winnowing (k = {code_mod.K} filtered characters, names and literals "
            f"ignored); {len(starter)} starter files and {comparison.common_hashes:,} k-grams "
            f"common to more than {comparison.common_max} students removed; flagged from "
            f"{100 * t.code:.0f}% of either student's code.")
        predictions = _read_predictions(roots, assignment, notes, options.jobs)

    n_pairs = len(students) * (len(students) - 1) // 2
    found: dict[tuple[str, str], dict] = {}

    def slot(a: str, b: str) -> dict:
        return found.setdefault((a, b), {})

    for match in comparison.matches:
        slot(match.a, match.b)["code"] = match

    results, result_notes = _results(options.results, students, assignment, options.jobs)
    notes += result_notes
    archs, model_notes = _architectures(results, assignment)
    notes += model_notes
    if archs is not None:
        matches, common_notes = models_mod.compare_architectures(
            archs, common_max=max(3, len(students) // 10))
        notes += common_notes
        for match in matches:
            slot(match.a, match.b).setdefault("models", []).append(match)
        free = ", ".join(m.title for m in models_mod.free_models(assignment))
        compared.append(f"Models: the layer sequences of the free-design models ({free}) of "
                        f"{len({a.student for a in archs})} students, from the result files in "
                        f"{options.results or DEFAULT_RESULTS}; identical or "
                        f"{100 * models_mod.NEAR:.0f}% alike "
                        "is flagged. Required architectures are not compared.")

    accuracies = {s: r.accuracy for s, r in (results or {}).items() if r.accuracy is not None}
    student_findings = _prediction_evidence(predictions, accuracies, assignment, options, slot,
                                            notes, compared, n_pairs)
    student_findings += _weights_evidence(results, assignment, notes, compared)

    pairs = []
    for (a, b), parts in found.items():
        pair = F.PairFinding(a, b, code=parts.get("code"), models=tuple(parts.get("models", ())),
                             shared=parts.get("shared"), agreement=parts.get("agreement"))
        pairs.append(_with_flags(pair, t, n_pairs, comparison.common_max))
    pairs.sort(key=lambda p: p.rank_key)
    shown = {name for p in pairs if p.code is not None and p.flags for name in (p.a, p.b)}
    return F.IntegrityReport(
        assignment=assignment.id, course=assignment.course, title=assignment.title,
        created=dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
        grader_version=__version__, students=tuple(students), compared=tuple(compared),
        notes=tuple(notes), pairs=tuple(pairs), students_flagged=tuple(student_findings),
        similarity=tuple(tuple(float(x) for x in row) for row in comparison.similarity),
        thresholds=t, documents=tuple(d for d in docs + sources if d.owner in shown))


DEFAULT_RESULTS = Path("grades")    # where `grader evaluate` writes results by default


def _results(results: Path | None, students: list[str], assignment: Assignment, jobs: int):
    if results is None:
        if not DEFAULT_RESULTS.is_dir():
            return None, []
        found, notes = models_mod.read_results(DEFAULT_RESULTS, students, assignment, jobs=jobs)
        if not found:
            return None, [f"no --results given and {DEFAULT_RESULTS}/ holds no result files for "
                          "this class and assignment"]
        return found, [f"no --results given: using the result files in {DEFAULT_RESULTS}/ "
                       "(grader evaluate's default --out)"] + notes
    if not Path(results).is_dir():
        raise InputError("results folder not found", path=str(results))
    return models_mod.read_results(Path(results), students, assignment, jobs=jobs)


def _architectures(results, assignment: Assignment):
    if not models_mod.free_models(assignment):
        return None, [f"Models: {assignment.id} fixes every model's architecture; none compared"]
    if results is None:
        return None, ["Models: no result files of grader evaluate (--results; they hold the "
                      "layer tables): models not compared"]
    return models_mod.free_architectures(results, assignment), []


def _one_predictions(root: Path, assignment: Assignment) -> np.ndarray | str | None:
    """A student's predictions.csv labels, the first fault's message, or None (no file)."""
    spec = assignment.predictions
    path = root / spec.file
    if not path.is_file():
        candidates = sorted(p for p in root.rglob(spec.file) if p.is_file())
        if not candidates:
            return None
        path = candidates[0]
    report = validate_predictions(path, spec, assignment.dataset.class_names)
    if report.valid and report.labels is not None:
        return np.asarray(report.labels, dtype=np.int64)
    return report.errors[0].message if report.errors else "invalid"


def _read_predictions(roots: dict[str, Path], assignment: Assignment, notes: list[str],
                      jobs: int) -> dict[str, np.ndarray]:
    """Each student's predictions.csv labels (valid files only), by student."""
    if assignment.predictions is None:
        return {}
    read = parallel_map(_one_predictions, roots.values(), [assignment] * len(roots), jobs=jobs)
    out: dict[str, np.ndarray] = {}
    for student, value in zip(roots, read):
        if isinstance(value, np.ndarray):
            out[student] = value
        elif value is not None:
            notes.append(f"{student}: {assignment.predictions.file} not compared ({value})")
    return out


def _prediction_evidence(predictions: dict[str, np.ndarray], known: dict[str, float], assignment,
                         options: IntegrityOptions, slot, notes: list[str],
                         compared: list[str], n_pairs: int) -> list[F.StudentFinding]:
    spec = assignment.predictions
    if spec is None:
        notes.append("Predictions: the assignment has no predictions.csv")
        return []
    names = sorted(predictions)
    if len(names) < 2:
        notes.append(f"Predictions: {len(names)} valid {spec.file} file(s); nothing to compare")
        return []
    matrix = np.stack([predictions[s] for s in names])
    classes = assignment.dataset.class_names
    findings: list[F.StudentFinding] = []
    if options.labels is not None:
        labels = read_labels(options.labels, spec, classes)
        stats = pred_mod.shared_errors(names, matrix, labels, len(classes))
        for stat in stats:
            slot(stat.a, stat.b)["shared"] = stat
        null = stats[0].null if stats else "class"
        compared.append(
            f"Predictions: {len(names)} {spec.file} files against the held-out labels; shared "
            "wrong answers (same wrong label) against independent models of the two students' "
            + ("accuracies that find the same images hard as the rest of the class"
               if null == "class" else "accuracies and per-class confusions, shown but never "
               f"flagged: fewer than {pred_mod.MIN_OTHERS + 2} files, too few to know which "
               "images are hard for everyone")
            + f"; binomial p-value, flagged below 10^{options.thresholds.log10_p:g} after "
            f"multiplying by the {n_pairs:,} pairs.")
        if options.public_labels is not None:
            public = read_labels(options.public_labels, spec, classes)
            if np.array_equal(public, labels):
                notes.append("Public order: the held-out labels are in the public order (the "
                             "split was not permuted), so this check says nothing")
            else:
                for stat in pred_mod.public_order(names, matrix, labels, public):
                    flag = F.public_flag(stat, options.thresholds)
                    if flag is not None:
                        findings.append(F.StudentFinding(stat.student, stat, (flag,)))
                compared.append("Public order: each file against the held-out labels in the "
                                "secret order and in the public order of the same images.")
        else:
            notes.append("Public order: no --public-labels (the test labels in the public "
                         "order), so predictions made on the public test set were not looked for")
    else:
        if len([s for s in names if s in known]) >= 3:
            subset = [s for s in names if s in known]
            rows = np.stack([predictions[s] for s in subset])
            for stat in pred_mod.agreement(subset, rows, [known[s] for s in subset]):
                slot(stat.a, stat.b)["agreement"] = stat
            compared.append(f"Predictions: {len(subset)} {spec.file} files label by label (no "
                            "held-out labels), against the disagreement usual in this class "
                            "for the accuracies in the result files.")
        else:
            notes.append("Predictions: no --labels and no accuracies in result files: "
                         f"{spec.file} files not compared")
    return findings


def _weights_evidence(results, assignment: Assignment, notes: list[str],
                      compared: list[str]) -> list[F.StudentFinding]:
    """Each student's own checkpoints against their predictions.csv, from the result files
    (grader evaluate ran the weights on the held-out images)."""
    if not any(m.weights for m in assignment.models):
        return []
    own = [w for summary in (results or {}).values() for w in summary.weights]
    if not own:
        notes.append("Weights: no result file compares a student's own checkpoint with their "
                     "predictions.csv (grader evaluate does; --results names its folder)")
        return []
    threshold = assignment.weights.agreement
    compared.append(f"Weights: {len({w.student for w in own})} students' own checkpoints, run "
                    "on the held-out images by grader evaluate, against their predictions.csv; "
                    f"flagged below {100 * threshold:.0f}% agreement ([weights] agreement).")
    return F.weights_findings(own, threshold)


def _with_flags(pair: F.PairFinding, t: F.Thresholds, n_pairs: int,
                common_max: int) -> F.PairFinding:
    flags: list[F.Flag] = []
    if pair.code is not None:
        flag = F.code_flag(pair.code, t, common_max=common_max,
                           source=pair.b.startswith(SOURCE_PREFIX))
        if flag:
            flags.append(flag)
    flags += [F.model_flag(m) for m in pair.models]
    if pair.shared is not None:
        flag = F.shared_flag(pair.shared, t, n_pairs)
        if flag:
            flags.append(flag)
    if pair.agreement is not None:
        flag = F.agreement_flag(pair.agreement, t, n_pairs)
        if flag:
            flags.append(flag)
    return F.PairFinding(pair.a, pair.b, pair.code, pair.models, pair.shared, pair.agreement,
                         tuple(flags))


IntegrityReport = F.IntegrityReport
