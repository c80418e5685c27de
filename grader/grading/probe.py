"""Find each required model, probe it in the sandbox, and recount it on the trusted side.

`locate` and `run_probes` give one `Probe` per required model: where it was found, the
harness's report (shapes, layers, FLOPs, errors) and the parameter shapes recounted here from
the headers of the .npz the harness exported (no array data, no pickle), so student code that
patches `Module.parameters` cannot fake its count.
"""

from __future__ import annotations

import contextlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from grader.inputs import candidates, discovery
from grader.inputs.candidates import Excluded, Option
from grader.inputs.sources import SKIP_DIRS, SourceFile, SyntaxProblem
from grader.results import Candidate
from grader.sandbox.bwrap import RunOutcome, Sandbox, open_plain, read_plain
from grader.sandbox.limits import Limits
from grader.spec import Assignment, ModelSpec

BATCH_SIZES = (1, 2, 7)
MAX_PARAM_FILE = 1024 * 1024 * 1024
MAX_PARTIAL_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Need:
    """A field of REPORT that must be present and not null."""

    schema: object


# The harness's entry for one model as the checks read it. Student code runs in the harness's
# process and can read the nonce, so result.json is untrusted data: an entry that does not fit
# (a string where a dict is read, say) counts as no report instead of crashing the grader.
# Every field may be missing or null unless wrapped in Need; [x] is a list of x, (x, y) a pair.
ERROR = {"type": str, "message": str, "traceback": str, "missing_module": str,
         "memory": bool, "processes": bool, "network": bool, "gpu": str}
REPORT = {
    "key": Need(str), "stage": str, "ok": bool, "error": ERROR, "build_seconds": float,
    "layers": [{"name": Need(str), "type": Need(str), "output_shape": [int],
                "weight_shape": [int], "kernel": [int]}],
    "order": [str], "trace": [(str, [int])], "layers_error": ERROR,
    "ops": [(str, str, [int])], "ops_truncated": bool,     # harness/dataflow.py
    "outputs": [{"batch": Need(int), "shape": [int], "dtype": str, "finite": bool, "note": str,
                 "error": ERROR}],
    "flops": int, "param_file": str, "tampering": [str], "seconds_limit": float}


def fits(value, schema) -> bool:
    if isinstance(schema, Need):
        return value is not None and fits(value, schema.schema)
    if value is None:
        return True
    if isinstance(schema, dict):
        return isinstance(value, dict) and all(fits(value.get(k), s) for k, s in schema.items())
    if isinstance(schema, list):
        return isinstance(value, list) and all(fits(v, schema[0]) for v in value)
    if isinstance(schema, tuple):
        return (isinstance(value, list) and len(value) == len(schema)
                and all(fits(v, s) for v, s in zip(value, schema)))
    if schema in (int, float):          # JSON numbers; bool is an int to Python, not here
        return isinstance(value, (int, float) if schema is float else int) and not isinstance(
            value, bool)
    return isinstance(value, schema)


def model_reports(result: dict | None) -> dict[str, dict]:
    """The result's entries that fit REPORT, by key; the list fields default to []."""
    models = (result or {}).get("models")
    if not isinstance(models, list):
        return {}
    return {m["key"]: {**{k: [] for k, s in REPORT.items() if isinstance(s, list)},
                       **{k: v for k, v in m.items() if v is not None}}
            for m in models if fits(m, REPORT)}


@dataclass
class Probe:
    spec: ModelSpec
    source: discovery.ModelSource | None = None   # the build graded (the chosen option's)
    not_found: str = ""                     # why no model was found
    candidates: list[str] = field(default_factory=list)   # every nn.Module class seen
    report: dict | None = None              # the harness's entry for this model
    shapes: dict[str, list[int]] | None = None   # trainable parameter shapes, recounted here
    reference_report: dict | None = None
    reference_shapes: dict[str, list[int]] | None = None
    options: list[Option] = field(default_factory=list)     # candidates, statically ranked
    excluded: list[Excluded] = field(default_factory=list)  # classes whose name rules them out
    probed: dict[str, tuple[dict | None, dict | None]] = field(default_factory=dict)
    #   option ident -> (harness report, recounted shapes) for every option built
    considered: list[Candidate] = field(default_factory=list)   # the choice, explained
    #                                                                (grader.grading.choose)
    syntax: list[SyntaxProblem] = field(default_factory=list)   # code that did not parse
    modules: dict[str, str] = field(default_factory=dict)
    #   option ident -> the generated module's path inside the sandbox it was probed in

    @property
    def params(self) -> int | None:
        return count(self.shapes)

    @property
    def reference_params(self) -> int | None:
        return count(self.reference_shapes)


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
    """Static part: the candidates for each required model (nothing runs). Each probe's
    source is its best-ranked option until grader.grading.choose picks among the probed ones."""
    nss = discovery.namespaces(files)
    names = [f"{d.qualname} ({d.unit.where}, line {d.line})"
             for _, d in discovery.module_candidates(nss)]
    found = [candidates.options(nss, spec, assignment) for spec in assignment.models]
    kept = candidates.prune([opts for opts, _ in found])
    probes = []
    for spec, (_, excluded), opts in zip(assignment.models, found, kept):
        probe = Probe(spec, candidates=names, options=opts, excluded=excluded)
        if opts:
            probe.source = opts[0].source
        else:
            probe.not_found = (f"no class or factory function named "
                               f"{' or '.join(spec.names)} was found")
        probes.append(probe)
    return probes


PROBES_FILE = "probes.json"


def run_probes(probes: list[Probe], assignment: Assignment, submission: Path, limits: Limits,
               *, sandboxed: bool = True, box: Sandbox | None = None) -> RunOutcome:
    """Dynamic part: one sandboxed process builds and probes every candidate build (each
    distinct build once, whichever models it is a candidate for) and the reference models;
    the parameter tensors are then recounted here. Each student build gets its share of the
    wall-clock limit when there are several, so one that hangs does not take the others'
    reports with it. With `box` (`grader evaluate`'s sandbox, the submission already in it)
    the process is kept after its probes, waiting in box.session for the models to train."""
    owned = box is None
    with Sandbox(limits, sandboxed=sandboxed) if owned else contextlib.nullcontext(box) as box:
        if owned:
            box.add_submission(submission, skip=SKIP_DIRS)
        entries = []
        builds: dict[str, str] = {}          # option ident -> entry key
        args = {o.source.ident: p.spec.args for p in probes for o in p.options}
        for option in candidates.probe_order([p.options for p in probes]):
            key = builds[option.source.ident] = f"b{len(builds)}"
            path = box.add_job_file(f"model_{key}.py", option.source.code)
            for probe in probes:
                probe.modules[option.source.ident] = path
            label = option.source.qualname if option.source.call.endswith("()") else (
                option.source.call)
            entries.append({"key": key, "module": path, "label": label,
                            "object": option.source.object_name,
                            "args": args[option.source.ident]})
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
        if owned:
            outcome = box.run("inspect_models", job)
        else:
            # probed with one thread, as `grader check` does, then trained with the slot's
            outcome = box.start("inspect_models", dict(job, then=PROBES_FILE, probe_threads=1)
                                ).first(PROBES_FILE, limits.wall_seconds)
        reports = model_reports(outcome.result if outcome.result is not None
                                else _partial(outcome.out_dir))
        for probe in probes:
            for option in probe.options:
                report = reports.get(builds[option.source.ident])
                probe.probed[option.source.ident] = (report, _shapes(outcome.out_dir, report))
            if probe.source is not None:
                probe.report, probe.shapes = probe.probed[probe.source.ident]
            probe.reference_report = reports.get(f"reference:{probe.spec.key}")
            probe.reference_shapes = _shapes(outcome.out_dir, probe.reference_report)
        return outcome


def _partial(out_dir: Path) -> dict | None:
    """What the harness wrote before a limit stopped it (partial.json): untrusted like
    result.json, and only read when there is no result.json."""
    import json

    raw = read_plain(out_dir / "partial.json", MAX_PARTIAL_BYTES)
    try:
        data = json.loads(raw.decode("utf-8")) if raw is not None else None
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _reference_args(assignment: Assignment) -> dict:
    """A reference model's constructor arguments: the same for every model of the spec."""
    return {"num_classes": assignment.dataset.num_classes}


def _shapes(out_dir: Path, report: dict | None) -> dict[str, list[int]] | None:
    """The exported parameters' shapes, read from the headers of the .npz's stored .npy
    members: no array data, no pickle and no torch are ever loaded here; anything odd counts
    as none."""
    if not report or not report.get("ok") or not isinstance(report.get("param_file"), str):
        return None
    # opened safely: with evaluate's one process per student, the report is read while the
    # process (its training part) still runs and could swap the file for a FIFO or a link
    fh = open_plain(out_dir / Path(report["param_file"]).name, MAX_PARAM_FILE)
    if fh is None:
        return None
    try:
        with fh:
            return _npz_shapes(fh) if _stored_zip(fh) else None
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


def _stored_zip(fh: BinaryIO) -> bool:
    """Whether fh is a zip with every member stored uncompressed (np.savez writes them so):
    a deflated member of 1 MB could inflate to 1 GB here."""
    try:
        with zipfile.ZipFile(fh) as zf:
            return all(i.compress_type == zipfile.ZIP_STORED and i.compress_size == i.file_size
                       for i in zf.infolist())
    except (OSError, ValueError, zipfile.BadZipFile):
        return False
