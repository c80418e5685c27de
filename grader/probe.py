"""Find each required model, probe it in the sandbox, and recount it on the trusted side.

`probe_submission` returns one `Probe` per required model: where it was found, the harness's
report (shapes, layers, FLOPs, errors) and the parameter shapes recounted here from the
tensors the harness exported, loaded with weights_only=True, so student code that patches
`Module.parameters` cannot fake its count.
"""

from __future__ import annotations

import ast
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader import discovery
from grader.limits import Limits
from grader.sandbox import RunOutcome, Sandbox
from grader.sources import SourceFile
from grader.spec import Assignment, ModelSpec

BATCH_SIZES = (1, 2, 7)
MAX_PARAM_FILE = 1024 * 1024 * 1024


@dataclass(frozen=True)
class Need:
    """A field of REPORT that must be present and not null."""

    schema: object


# The harness's entry for one model as the checks read it. Student code runs in the harness's
# process and can read the nonce, so result.json is untrusted data: an entry that does not fit
# (a string where a dict is read, say) counts as no report instead of crashing the grader.
# Every field may be missing or null unless wrapped in Need; [x] is a list of x, (x, y) a pair.
ERROR = {"type": str, "message": str, "traceback": str, "missing_module": str,
         "memory": bool, "processes": bool, "network": bool}
REPORT = {
    "key": Need(str), "stage": str, "ok": bool, "error": ERROR, "build_seconds": float,
    "layers": [{"name": Need(str), "type": Need(str), "output_shape": [int],
                "weight_shape": [int], "kernel": [int]}],
    "order": [str], "trace": [(str, [int])], "layers_error": ERROR,
    "ops": [(str, str, [int])], "ops_truncated": bool,     # harness/dataflow.py
    "outputs": [{"batch": Need(int), "shape": [int], "dtype": str, "finite": bool, "note": str,
                 "error": ERROR}],
    "flops": int, "param_file": str, "tampering": [str]}


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
    source: discovery.ModelSource | None = None
    not_found: str = ""                     # why no model was found
    candidates: list[str] = field(default_factory=list)
    report: dict | None = None              # the harness's entry for this model
    shapes: dict[str, list[int]] | None = None   # trainable parameter shapes, recounted here
    reference_report: dict | None = None
    reference_shapes: dict[str, list[int]] | None = None

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
    """Static part: which class or factory serves each required model (nothing runs)."""
    nss = discovery.namespaces(files)
    candidates = discovery.module_candidates(nss)
    names = [f"{d.qualname} ({d.unit.where}, line {d.line})" for _, d in candidates]
    exact = {n for spec in assignment.models for n in spec.names}
    taken = {d.node.name for _, d in candidates if d.node.name in exact}
    probes = []
    for spec in assignment.models:
        probe = Probe(spec, candidates=names)
        found = discovery.find_model(nss, spec.names, spec.key, taken)
        if found is None:
            probe.not_found = (f"no class or factory function named "
                               f"{' or '.join(spec.names)} was found")
        else:
            ns, d, substituted = found
            if isinstance(d.node, ast.ClassDef):
                taken.add(d.node.name)
            probe.source = discovery.model_source(nss, ns, d, substituted)
        probes.append(probe)
    return probes


def run_probes(probes: list[Probe], assignment: Assignment, submission: Path, limits: Limits,
               *, sandboxed: bool = True) -> RunOutcome:
    """Dynamic part: one sandboxed process builds and probes every found model and the
    reference models, then the parameter tensors are recounted here."""
    with Sandbox(limits, sandboxed=sandboxed) as box:
        box.add_submission(submission)
        entries = []
        for probe in probes:
            if probe.source is not None:
                path = box.add_job_file(f"model_{probe.spec.key.replace('-', '_')}.py",
                                        probe.source.code)
                entries.append({"key": probe.spec.key, "module": path,
                                "object": probe.source.object_name, "args": probe.spec.args})
            ref = probe.spec.reference or (probe.spec.params and probe.spec.params.reference)
            if ref:
                entries.append({"key": f"reference:{probe.spec.key}", "reference": ref,
                                "args": _reference_args(probe.spec, assignment)})
        outcome = box.run("inspect_models", {
            "models": entries, "input_shape": list(assignment.dataset.input_shape),
            "batch_sizes": list(BATCH_SIZES), "seed": assignment.training.seed})
        reports = model_reports(outcome.result)
        for probe in probes:
            probe.report = reports.get(probe.spec.key)
            probe.shapes = _shapes(outcome.out_dir, probe.report)
            probe.reference_report = reports.get(f"reference:{probe.spec.key}")
            probe.reference_shapes = _shapes(outcome.out_dir, probe.reference_report)
        return outcome


def _reference_args(spec: ModelSpec, assignment: Assignment) -> dict:
    return {"num_classes": assignment.dataset.num_classes}


def _shapes(out_dir: Path, report: dict | None) -> dict[str, list[int]] | None:
    """Load the exported parameters with weights_only=True; anything odd counts as none."""
    if not report or not report.get("ok") or not isinstance(report.get("param_file"), str):
        return None
    path = out_dir / Path(report["param_file"]).name
    try:
        if path.is_symlink() or path.stat().st_size > MAX_PARAM_FILE or not _stored_zip(path):
            return None
        import torch

        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a malformed or malicious file is simply not trusted
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): list(v.shape) for k, v in data.items() if hasattr(v, "shape")}


def _stored_zip(path: Path) -> bool:
    """Whether path is a zip as torch.save writes one, every member stored uncompressed:
    torch.load inflates deflated members too, and 1 MB of them can become 1 GB here."""
    try:
        with zipfile.ZipFile(path) as zf:
            return all(i.compress_type == zipfile.ZIP_STORED and i.compress_size == i.file_size
                       for i in zf.infolist())
    except (OSError, ValueError, zipfile.BadZipFile):
        return False
