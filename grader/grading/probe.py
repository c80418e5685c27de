"""Find each required model's candidates, probe them in the sandbox, and recount them here.

`locate` gives one `Probe` per required model: its candidates (grader.inputs.candidates) and the
classes its name rules out, nothing run. `run_probes` builds and probes every candidate and the
reference models in one sandboxed process and gives each a `Measurement`: the harness's report,
parsed once (grader.sandbox.reports), and the parameter shapes recounted here from the headers
of the .npz the harness exported (no array data, no pickle), so student code that patches
`Module.parameters` cannot fake its count. A model whose spec names its checkpoint (`weights`)
has it loaded into each of its candidates after they are probed, and the figures computed here
(grader.grading.weights). grader.grading.choose then picks the candidate each model is graded
on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from grader.grading import weights as checkpoints
from grader.inputs import built as built_models
from grader.inputs import candidates, discovery
from grader.inputs.candidates import Candidate, Exclusion
from grader.inputs.sources import SKIP_DIRS, SourceFile, SyntaxProblem, syntax_problems
from grader.results import WeightsReport
from grader.sandbox.bwrap import RunOutcome, Sandbox, open_plain, read_plain
from grader.sandbox.limits import Limits
from grader.sandbox.reports import ProbeReport, parse_probes
from grader.spec import Assignment, ModelSpec

BATCH_SIZES = (1, 2, 7)
MAX_PARAM_FILE = 1024 * 1024 * 1024
MAX_PARTIAL_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Measurement:
    """What probing one build (a candidate or a reference model) found."""

    report: ProbeReport | None = None   # the harness's report; None when no valid one came back
    shapes: dict[str, list[int]] | None = None   # trainable parameter shapes, recounted here
    weights: WeightsReport | None = None    # the model's checkpoint loaded into this build,
    #                                 its figures computed here; None: the spec names none

    @property
    def params(self) -> int | None:
        return count(self.shapes)


NOTHING = Measurement()             # not probed, or nothing valid came back


@dataclass(frozen=True)
class Probe:
    """One required model: its candidates, and what probing each of them found."""

    spec: ModelSpec
    candidates: tuple[Candidate, ...] = ()      # statically ranked, best first
    exclusions: tuple[Exclusion, ...] = ()      # classes whose name rules them out
    classes: tuple[str, ...] = ()   # every nn.Module class seen: "Net (hw.ipynb cell 2, line 3)"
    built: tuple[str, ...] = ()     # every model the code builds without a class of its own:
    #                                 "model = models.resnet18() with fc replaced (train.py,
    #                                 lines 9-11)", "get_model() (hw.ipynb cell 3, line 1)"
    not_found: str = ""             # why there is no candidate at all
    syntax: tuple[SyntaxProblem, ...] = ()      # the submission's code that did not parse
    measured: dict[str, Measurement] = field(default_factory=dict)
    #   candidate ident -> what probing it found (run_probes)
    reference: Measurement = NOTHING            # the spec's reference model, probed alike
    modules: dict[str, str] = field(default_factory=dict)
    #   candidate ident -> the generated module's path inside the sandbox it was probed in


def count(shapes: dict[str, list[int]] | None) -> int | None:
    if shapes is None:
        return None
    total = 0
    for shape in shapes.values():
        n = 1
        for s in shape:
            n *= s
        total += n
    return total


def locate(files: list[SourceFile], assignment: Assignment) -> list[Probe]:
    """Static part: the candidates for each required model (nothing runs)."""
    nss = discovery.namespaces(files)
    classes = tuple(f"{d.qualname} ({d.unit.where}, line {d.line})"
                    for _, d in discovery.module_classes(nss))
    builders = built_models.Builders(nss)
    built = tuple([f"{d.node.name}() ({d.unit.where}, line {d.line})"
                   for _, d in builders.factories.values()]
                  + [f"{b.name} = {b.description} ({b.unit.where}, line {b.line})"
                     for b in built_models.bindings(nss, builders)])
    syntax = tuple(syntax_problems(files))
    found = [candidates.find(nss, spec, assignment) for spec in assignment.models]
    kept = candidates.prune([ranked for ranked, _ in found])
    return [Probe(spec, candidates=tuple(ranked), exclusions=tuple(exclusions), classes=classes,
                  built=built, syntax=syntax, not_found="" if ranked else (
                      f"no class or factory function named {' or '.join(spec.names)} was found"))
            for spec, (_, exclusions), ranked in zip(assignment.models, found, kept)]


PROBES_FILE = "probes.json"


def run_probes(probes: list[Probe], assignment: Assignment, submission: Path, limits: Limits,
               *, sandboxed: bool = True, box: Sandbox | None = None
               ) -> tuple[RunOutcome, list[Probe]]:
    """Dynamic part: one sandboxed process builds and probes every candidate build (each
    distinct build once, whichever models it is a candidate for) and the reference models;
    the parameter tensors are then recounted here. Gives the probes with their measurements.
    Each student build gets its share of the wall-clock limit when there are several, so one
    that hangs does not take the others' reports with it. With `box` (`grader evaluate`'s
    sandbox, the submission already in it) the process is kept after its probes, waiting in
    box.session for the models to train."""
    owned = box is None
    with Sandbox(limits, sandboxed=sandboxed) if owned else contextlib.nullcontext(box) as box:
        if owned:
            box.add_submission(submission, skip=SKIP_DIRS)
        entries = []
        builds: dict[str, str] = {}          # candidate ident -> entry key
        modules: dict[str, str] = {}         # candidate ident -> generated module in the box
        args = {c.source.ident: p.spec.args for p in probes for c in p.candidates}
        found = {p.spec.key: checkpoints.find(submission, p.spec, assignment.weights)
                 for p in probes if p.spec.weights}
        checkpoint = {}                      # candidate ident -> the file to load into it
        for p in reversed(probes):           # the first model's file, when builds are shared
            for c in p.candidates:
                if p.spec.key in found and found[p.spec.key].file is not None:
                    checkpoint[c.source.ident] = found[p.spec.key].file
        for candidate in candidates.probe_order([p.candidates for p in probes]):
            source = candidate.source
            key = builds[source.ident] = f"b{len(builds)}"
            path = modules[source.ident] = box.add_job_file(f"model_{key}.py", source.code)
            label = source.qualname if source.call.endswith("()") else source.call
            entries.append({"key": key, "module": path, "label": label,
                            "object": source.object_name, "args": args[source.ident]})
            if source.ident in checkpoint:
                entries[-1]["weights"] = checkpoint[source.ident]
        for probe in probes:                 # then the references (trusted and quick)
            ref = probe.spec.reference or (probe.spec.params and probe.spec.params.reference)
            if ref:
                entries.append({"key": f"reference:{probe.spec.key}", "reference": ref,
                                "args": _reference_args(assignment)})
        # several candidates share the wall clock: each gets its share, so one that hangs
        # does not take the others' reports with it; a single one gets the sandbox's limit
        budget = max(10.0, (limits.wall_seconds - 10) / len(builds)) if len(builds) > 1 else 0
        job = {"models": entries, "input_shape": list(assignment.dataset.input_shape),
               "batch_sizes": list(BATCH_SIZES), "seed": assignment.training.seed,
               "entry_seconds": round(budget, 1)}
        if assignment.interface.declared:    # absent for classification: its probes as before
            job["interface"] = assignment.interface.to_job()
        if owned:
            outcome = box.run("inspect_models", job)
        else:
            # probed with one thread, as `grader check` does, then trained with the slot's
            outcome = box.start("inspect_models", dict(job, then=PROBES_FILE, probe_threads=1)
                                ).first(PROBES_FILE, limits.wall_seconds)
        reports = parse_probes(outcome.result if outcome.result is not None
                               else _partial(outcome.out_dir))

        def measure(key: str) -> Measurement:
            report = reports.get(key)
            return Measurement(report, _shapes(outcome.out_dir, report))

        def loaded(measurement: Measurement, spec: ModelSpec) -> Measurement:
            if spec.key not in found:
                return measurement
            report = measurement.report
            return dataclasses.replace(measurement, weights=checkpoints.figures(
                outcome.out_dir, found[spec.key], report.weights if report else None,
                built=report is not None and report.ok, settings=assignment.weights))

        measured = {ident: measure(key) for ident, key in builds.items()}
        return outcome, [dataclasses.replace(
            probe, measured={c.source.ident: loaded(measured[c.source.ident], probe.spec)
                             for c in probe.candidates},
            reference=measure(f"reference:{probe.spec.key}"), modules=modules)
            for probe in probes]


def _partial(out_dir: Path) -> dict | None:
    """What the harness wrote before a limit stopped it (partial.json): untrusted like
    result.json, and only read when there is no result.json."""
    raw = read_plain(out_dir / "partial.json", MAX_PARTIAL_BYTES)
    try:
        data = json.loads(raw.decode("utf-8")) if raw is not None else None
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _reference_args(assignment: Assignment) -> dict:
    """A reference model's constructor arguments: the same for every model of the spec (and
    as retraining builds it)."""
    from grader.grading.retrain import reference_args

    return reference_args(assignment)


def _shapes(out_dir: Path, report: ProbeReport | None) -> dict[str, list[int]] | None:
    """The shapes of the parameters a build's report says it exported; None when it exported
    none."""
    if report is None or not report.ok or report.param_file is None:
        return None
    return param_shapes(out_dir, report.param_file)


def param_shapes(out_dir: Path, name: str) -> dict[str, list[int]] | None:
    """The shapes of the parameters exported to out_dir/name, read from the headers of the
    .npz's stored .npy members: no array data, no pickle and no torch are ever loaded here;
    anything odd counts as none."""
    # opened safely: with evaluate's one process per student, the report is read while the
    # process (its training part) still runs and could swap the file for a FIFO or a link
    fh = open_plain(out_dir / Path(name).name, MAX_PARAM_FILE)
    if fh is None:
        return None
    try:
        with fh:
            return _npz_shapes(fh) if checkpoints.stored_zip(fh) else None
    except Exception:  # a malformed or malicious file is simply not trusted
        return None


def _npz_shapes(fh: BinaryIO) -> dict[str, list[int]] | None:
    import numpy as np

    shapes = {}
    with zipfile.ZipFile(fh) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                return None
            with zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                read = {(1, 0): np.lib.format.read_array_header_1_0,
                        (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if read is None:
                    return None
                shape = read(fh)[0]
            if not all(isinstance(n, int) and n >= 0 for n in shape):
                return None
            shapes[info.filename[:-len(".npy")]] = list(shape)
    return shapes
