"""`grader check`: a declared list of small check steps over one submission.

Each step takes the probe of one model and returns a CheckResult (id, pass/fail, message,
hint). Adding a check is adding a function and a line in MODEL_CHECKS.
"""

from __future__ import annotations

import contextlib
import fnmatch
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from grader.errors import InputError
from grader.grading import layers as layer_table
from grader.grading.choose import choose
from grader.grading.probe import Probe, locate, run_probes
from grader.inputs.discovery import translate_traceback
from grader.inputs.sources import (
    SyntaxProblem,
    list_files,
    read_sources,
    syntax_problems,
    unpack_zip,
)
from grader.results import CheckReport, CheckResult, ModelReport, SandboxReport
from grader.sandbox.bwrap import Sandbox
from grader.sandbox.limits import Limits
from grader.spec import Assignment

ModelCheck = Callable[[Probe, Assignment], CheckResult | None]


def _result(probe: Probe, name: str, passed: bool, message: str, hint: str = "") -> CheckResult:
    return CheckResult(id=f"{probe.spec.key}.{name}", passed=passed, message=message,
                       hint="" if passed else hint, model=probe.spec.key)


def _error_text(error: dict | None) -> str:
    if not error:
        return "unknown error"
    return f"{error.get('type', 'Error')}: {error.get('message', '')}".strip()


def found(probe: Probe, assignment: Assignment) -> CheckResult:
    title = probe.spec.title
    if probe.source is None:
        seen = "; ".join(probe.candidates) or "none"
        ruled_out = "; ".join(f"{c.name} ({c.source}): {c.reason}" for c in probe.considered
                              if c.status == "excluded")
        unreadable = "; ".join(str(p) for p in probe.syntax)
        return _result(probe, "found", False, f"{title}: {probe.not_found}. nn.Module classes "
                       f"found: {seen}." + (f" Not considered: {ruled_out}." if ruled_out else "")
                       + (f" Code that does not parse (skipped): {unreadable}."
                          if unreadable else ""),
                       f"Name your class {probe.spec.names[0]} (accepted names: "
                       f"{', '.join(probe.spec.names)}), defined at module level of a .py file or "
                       "notebook cell, or nested directly in a class."
                       + (" Fix the syntax errors: a part that does not parse is not read."
                          if unreadable else ""))
    where = f"{probe.source.where}, line {probe.source.line}"
    how = ""
    if probe.source.built_from:
        how = (f"; built as the student builds it: {probe.source.call} "
               f"({probe.source.built_from})")
    chosen = next((c for c in probe.considered if c.chosen), None)
    why = ""          # the losers and their reasons are in the model's `considered` list
    if chosen is not None and any(c.status == "lost" for c in probe.considered):
        why = f"; {chosen.reason}"
    if probe.source.substituted:
        return _result(probe, "found", True,
                       f"no class named {' or '.join(probe.spec.names)}; used "
                       f"{probe.source.qualname} ({where}) instead{how}{why}")
    return _result(probe, "found", True, f"{probe.source.qualname} ({where}){how}{why}")


def _not_run(probe: Probe, name: str, why: str) -> CheckResult:
    return _result(probe, name, False, f"not checked: {why}", "Fix the failures above first.")


def builds(probe: Probe, assignment: Assignment) -> CheckResult | None:
    if probe.source is None:
        return None
    report = probe.report
    if report is None:
        return _result(probe, "builds", False, "no valid report for this model came back from "
                       "the sandbox: the process ended before building it, or student code "
                       "overwrote the harness's report", "See the sandbox verdict and the "
                       "captured output.")
    call = probe.source.call
    if report.get("stage") in ("import", "build"):
        error = report.get("error") or {}
        if not error:
            return _result(probe, "builds", False, f"{call} did not finish building: "
                           "the process was stopped (see sandbox.limits)",
                           "Building the model must not train, download or wait for anything.")
        if error.get("missing_module"):
            mod = error["missing_module"]
            return _result(probe, "builds", False,
                           f"{call} needs the module '{mod}', which is not installed in the "
                           "grading environment",
                           f"Remove `import {mod}` from the code the model uses (or don't use "
                           f"{mod} inside the model); only torch, torchvision and numpy are "
                           "available.")
        trace = translate_traceback(error.get("traceback", ""), probe.source)
        if error.get("network"):
            return _result(probe, "builds", False, f"{call} failed: {_error_text(error)}",
                           "The grader builds models without internet access: construct them "
                           "with weights=None (no pretrained weights) and download nothing in "
                           "__init__.")
        hint = f"Make sure {call} works in a fresh Python session with only the model's code"
        if error.get("type") == "NameError" and probe.syntax:
            hint += (f" (a definition it needs may be in code that does not parse: "
                     f"{probe.syntax[0]})")
        if "required positional argument" in error.get("message", "") and (
                not probe.source.built_from):
            hint += (" (the grader found no call of it with literal arguments in your files: "
                     "build it once at module level, e.g. `model = "
                     f"{probe.source.object_name}(...)`, or give its arguments defaults)")
        return _result(probe, "builds", False, f"{call} failed: {_error_text(error)}",
                       hint + ":\n" + trace[-1500:])
    how = f" (as in {probe.source.built_from})" if probe.source.built_from else ""
    return _result(probe, "builds", True, f"{call} built{how}")


def forward(probe: Probe, assignment: Assignment) -> CheckResult | None:
    if probe.source is None:
        return None
    report = probe.report or {}
    if report.get("stage") in (None, "import", "build"):
        return _not_run(probe, "forward", "the model did not build")
    n = assignment.dataset.num_classes
    shape = "x".join(map(str, assignment.dataset.input_shape))
    if not report.get("ok") and report.get("stage") in ("layers", "forward", "flops"):
        error = report.get("error") or {}
        if not error or error.get("type") == "Deadline":
            limit = report.get("seconds_limit")
            within = f"within {limit:g} s" if limit else "before the sandbox's time limit"
            return _result(probe, "forward", False,
                           f"{probe.source.call} built, but its forward pass on a batch of "
                           f"{shape} images did not finish {within}",
                           "forward must not loop over data, train or wait for anything; a "
                           "forward pass of one small batch takes well under a second.")
    for out in report.get("outputs", []) or [{"error": report.get("error")}]:
        b = out.get("batch")
        if out.get("error"):
            return _result(probe, "forward", False,
                           f"forward pass on a batch of {b} images of {shape} failed: "
                           f"{_error_text(out['error'])}",
                           layer_table.explain_forward_error(probe, out["error"]))
        got = out.get("shape")
        if got != [b, n]:
            if got and len(got) == 2 and got[0] != b:
                return _result(probe, "forward", False,
                               f"a batch of {b} images gave output {tuple(got)}: the batch size "
                               f"changed inside the model (expected ({b}, {n}))",
                               "A reshape such as x.view(-1, N) with the wrong N mixes images "
                               "together. Use x.flatten(1) or x.view(x.size(0), -1).")
            return _result(probe, "forward", False,
                           f"a batch of {b} images gave output {tuple(got or ())}; expected "
                           f"({b}, {n}): one score per class for each image",
                           f"The last layer must produce {n} outputs per image.")
        if not str(out.get("dtype", "")).startswith(("float", "bfloat")):
            return _result(probe, "forward", False, f"output dtype is {out.get('dtype')}; "
                           "expected floating point scores", "Return logits, not labels.")
        if not out.get("finite", False):
            return _result(probe, "forward", False, "the output has NaN or infinite values on "
                           "random input", "Check divisions, logs and initialisation.")
    sizes = ", ".join(str(o["batch"]) for o in report.get("outputs", []))
    return _result(probe, "forward", True, f"output (B, {n}) for batch sizes {sizes}")


def params(probe: Probe, assignment: Assignment) -> CheckResult | None:
    expectation = probe.spec.params
    if probe.source is None or expectation is None:
        return None
    if probe.params is None:
        if probe.report and probe.report.get("stage") not in ("import", "build"):
            return _result(probe, "params", False, "the parameters the harness exported could "
                           "not be read safely (refused), so they were not counted",
                           "Do not write to the grader's output folder.")
        return _not_run(probe, "params", "the model did not build")
    ref = probe.reference_params
    if expectation.accepts(probe.params, ref):
        return _result(probe, "params", True, f"{probe.params:,} trainable parameters "
                       f"(expected {expectation.describe()})")
    diffs = layer_table.differences(probe)          # largest first
    detail = layer_table.differences_text(probe)    # the largest, then the rest's total
    return _result(probe, "params", False,
                   f"{probe.params:,} trainable parameters; expected {expectation.describe()}"
                   + (f". Differs from the reference: {detail}" if detail else ""),
                   "Compare your layers with the assignment's table; largest difference: "
                   + (diffs[0] if diffs else "none by layer, so check in_features of the "
                      "first Linear layer, kernel sizes and channel counts") + ".")


def weighted_layers(probe: Probe, assignment: Assignment) -> CheckResult | None:
    want = probe.spec.weighted_layers
    if probe.source is None or want is None:
        return None
    rows = (probe.report or {}).get("layers")
    if not rows:
        return _not_run(probe, "layers", "the model did not build")
    got = layer_table.weighted_count(rows)
    if got == want:
        return _result(probe, "layers", True, f"{got} weighted layers (convolutions larger than "
                       "1x1 and fully connected layers)")
    return _result(probe, "layers", False, f"{got} weighted layers; expected {want} "
                   "(convolutions larger than 1x1 plus fully connected layers)",
                   f"{probe.spec.title} has {want} weighted layers; check the number of blocks "
                   "per stage and the layers in each block.")


def batchnorm(probe: Probe, assignment: Assignment) -> CheckResult | None:
    """Every convolution's output goes straight into a BatchNorm, judged from the operations
    forward runs (F.relu and other functional calls included), not the registration order."""
    if probe.source is None or not probe.spec.batchnorm_after_conv:
        return None
    report = probe.report or {}
    if not report.get("order"):
        return _not_run(probe, "batchnorm", "the model did not run")
    gaps = layer_table.batchnorm_gaps(report)
    if not gaps:
        return _result(probe, "batchnorm", True, "every convolution is followed directly by "
                       "BatchNorm (in the order forward runs them)")
    message = ("BatchNorm does not directly follow every convolution in forward: "
               + "; ".join(map(str, gaps)))
    if any(g.activation for g in gaps):
        hint = ("Call each BatchNorm on the convolution's output, before the activation: "
                "x = F.relu(self.bn1(self.conv1(x))), not self.bn1(F.relu(self.conv1(x))).")
    else:
        hint = ("Add nn.BatchNorm2d(out_channels) right after each nn.Conv2d and call it in "
                "forward on the convolution's output, before the activation.")
    return _result(probe, "batchnorm", False, message, hint)


MODEL_CHECKS: list[ModelCheck] = [found, builds, forward, params, weighted_layers, batchnorm]


def required_files(files: list[str], assignment: Assignment) -> CheckResult | None:
    if not assignment.required_files:
        return None
    names = [Path(f).name for f in files]
    missing = [p for p in assignment.required_files
               if not any(fnmatch.fnmatch(n, alt) for alt in p.split("|") for n in names)]
    if not missing:
        return CheckResult("files.required", True, "all required files are present")
    return CheckResult("files.required", False, "missing: " + ", ".join(
        m.replace("|", " or ") for m in missing),
        "Hand in every file the assignment lists: " + ", ".join(
            p.replace("|", " or ") for p in assignment.required_files))


def prediction_checks(root: Path, files: list[str], assignment: Assignment):
    from grader.grading.predictions import validate_predictions

    spec = assignment.predictions
    matches = [f for f in files if Path(f).name == spec.file]
    path = root / (min(matches, key=len) if matches else spec.file)
    report = validate_predictions(path, spec, assignment.dataset.class_names)
    if not report.present:
        return report, [CheckResult("predictions.present", False, f"{spec.file} not found",
                                    f"Hand in {spec.file} with a header "
                                    f"'{spec.id_column},{spec.label_column}' and one row per "
                                    "held-out image.")]
    checks = [CheckResult("predictions.present", True, f"{path.relative_to(root)} found")]
    if report.valid:
        checks.append(CheckResult("predictions.format", True, f"{report.rows:,} rows, well formed"))
    else:
        first = "; ".join((f"line {e.line}: " if e.line else "") + e.message
                          for e in report.errors[:3])
        checks.append(CheckResult("predictions.format", False,
                                  f"{len(report.errors)} problem(s): {first}",
                                  f"Use the format of sample_predictions.csv: header "
                                  f"'{spec.id_column},{spec.label_column}', ids "
                                  f"{spec.first_id}..{spec.first_id + spec.rows - 1} once each."))
    return report, checks


def check_submission(submission: Path, assignment: Assignment, *, limits: Limits | None = None,
                     sandboxed: bool = True) -> CheckReport:
    """Run every check on one submission (a folder or a .zip). Student code runs only in the
    sandbox; a submission that crashes it is a failing report, not an exception."""
    limits = limits or Limits.from_spec(assignment.limits)
    with prepared(Path(submission)) as root:
        return check_folder(root, str(submission), assignment, limits, sandboxed)[0]


@contextlib.contextmanager
def prepared(submission: Path) -> Iterator[Path]:
    """The submission as a folder: a .zip is unpacked safely into a temporary one."""
    if not submission.exists():
        raise InputError("submission not found", path=str(submission))
    with tempfile.TemporaryDirectory(prefix="grader-unzip-") as tmp:
        root = unpack_zip(submission, Path(tmp)) if submission.suffix == ".zip" else submission
        if not root.is_dir():
            raise InputError("expected a folder or a .zip of a student's files", path=str(root))
        yield root


def fit_checks(probe: Probe, assignment: Assignment) -> list[CheckResult]:
    """The spec's checks of one candidate, for grader.grading.choose to compare candidates by."""
    return [c for step in (builds, forward, params, weighted_layers, batchnorm)
            if (c := step(probe, assignment)) is not None]


def syntax(problems: list[SyntaxProblem]) -> CheckResult | None:
    if not problems:
        return None
    shown = "; ".join(str(p) for p in problems[:5])
    more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    return CheckResult("files.syntax", False,
                       f"{len(problems)} part(s) of the code do not parse and were skipped: "
                       f"{shown}{more}",
                       "Fix these syntax errors (Python reports the same when the file or cell "
                       "runs); the grader reads the rest of the file without them.")


def check_folder(root: Path, label: str, assignment: Assignment, limits: Limits,
                 sandboxed: bool, box: Sandbox | None = None) -> tuple[CheckReport, list[Probe]]:
    """Every check of the hand-in in root. With `box`, the probes run in that sandbox (it
    holds the submission) and its process stays for training (grader.grading.probe.run_probes)."""
    files = list_files(root)
    sources, warnings = read_sources(root)
    problems = syntax_problems(sources)
    probes = locate(sources, assignment)
    for probe in probes:
        probe.syntax = problems
    outcome = None
    if any(p.options for p in probes):
        outcome = run_probes(probes, assignment, root, limits, sandboxed=sandboxed, box=box)
    choose(probes, assignment, fit_checks)
    checks = [c for c in [required_files(files, assignment), syntax(problems)] if c]
    for probe in probes:
        checks += [c for step in MODEL_CHECKS if (c := step(probe, assignment)) is not None]
    predictions = None
    if assignment.predictions is not None:
        predictions, more = prediction_checks(root, files, assignment)
        checks += more
    tampering = sorted({t for p in probes for report, _ in p.probed.values()  # every build
                        for t in ((report or {}).get("tampering") or [])})
    if tampering:
        checks.append(CheckResult("sandbox.tampering", False, "student code replaced "
                                  + ", ".join(tampering) + "; the grader used the originals",
                                  "Do not monkeypatch torch: the grader detects it."))
    sandbox = SandboxReport(sandboxed=sandboxed)
    if outcome is not None:
        sandbox = SandboxReport(status=outcome.status, exit_code=outcome.exit_code,
                                reason=outcome.reason, seconds=outcome.seconds,
                                output=outcome.output, tampering=tampering, sandboxed=sandboxed)
        if outcome.status != "ok":
            checks.append(CheckResult("sandbox.limits", False, outcome.reason,
                                      _limit_hint(outcome.status)))
    for w in warnings:
        if "not a readable Jupyter notebook" in w:
            checks.append(CheckResult("files.readable", False, w,
                                      "Re-save the notebook from Jupyter (File > Save) and hand "
                                      "in the .ipynb file itself."))
    models = [_model_report(p, assignment) for p in probes]
    return CheckReport(submission=label, assignment=assignment.id,
                       passed=all(c.passed for c in checks), models=models, checks=checks,
                       predictions=predictions, sandbox=sandbox, files=files), probes


def _limit_hint(status: str) -> str:
    return {"timeout": "Building the model must not train or download anything; keep __init__ "
                       "and forward free of loops over data.",
            "memory": "The model or its forward pass allocates far more memory than expected.",
            "processes": "Model code must not start processes or threads.",
            }.get(status, "See the captured output in the report.")


def _model_report(probe: Probe, assignment: Assignment) -> ModelReport:
    report = probe.report or {}
    outputs = report.get("outputs") or []
    shape = next((o.get("shape") for o in outputs if o.get("batch") == 1), None)
    error = None
    if probe.source is None:
        error = probe.not_found
    elif report.get("error"):
        error = _error_text(report["error"])
    exact, span, text = _expected(probe)
    source = probe.source
    return ModelReport(
        key=probe.spec.key, title=probe.spec.title, found=source is not None,
        class_name=source.qualname if source else None,
        source=source.where if source else None,
        line=source.line if source else None,
        substituted=bool(source and source.substituted),
        candidates=probe.candidates, params=probe.params,
        expected_params=exact, expected_range=span, expected_text=text,
        output_shape=shape, flops=report.get("flops"),
        layers=layer_table.rows(probe), error=error,
        call=source.call if source else None,
        built_from=(source.built_from or None) if source else None,
        considered=probe.considered)


def _expected(probe: Probe) -> tuple[int | None, list[int | None] | None, str | None]:
    """The expected count as numbers (exact, or [min, max]) and as a phrase."""
    e = probe.spec.params
    if e is None:
        return None, None, None
    if e.reference is not None:
        n = probe.reference_params
        return n, None, (f"{n:,} (same as reference {e.reference})" if n is not None
                         else e.describe())
    if e.exact is not None:
        return e.exact, None, e.describe()
    return None, [e.min, e.max], e.describe()
