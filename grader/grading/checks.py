"""`grader check`: a declared list of small check steps over one submission.

Each step takes the choice of one model and returns a CheckResult (id, pass/fail, message,
hint). Adding a check is adding a function and a line in MODEL_CHECKS. The checks of the
hand-in as a whole (required files, syntax, predictions.csv) are in handin_checks.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from grader.grading import interface_checks
from grader.grading import layers as layer_table
from grader.grading import weights as checkpoints
from grader.grading.choose import Choice, choose
from grader.grading.handin_checks import (
    prediction_checks,
    required_files,
    starter_units,
    syntax,
)
from grader.grading.probe import locate, run_probes
from grader.inputs.discovery import translate_traceback
from grader.inputs.sources import (
    list_files,
    read_sources,
    syntax_problems,
    unpacked,
)
from grader.results import CheckReport, CheckResult, ModelReport, SandboxReport
from grader.sandbox.bwrap import Sandbox
from grader.sandbox.limits import Limits
from grader.sandbox.reports import HarnessError
from grader.spec import Assignment

ModelCheck = Callable[[Choice, Assignment], CheckResult | None]


def _result(choice: Choice, name: str, passed: bool, message: str, hint: str = "") -> CheckResult:
    return CheckResult(id=f"{choice.spec.key}.{name}", passed=passed, message=message,
                       hint="" if passed else hint, model=choice.spec.key)


def _error_text(error: HarnessError | None) -> str:
    return "unknown error" if error is None else str(error)


def found(choice: Choice, assignment: Assignment) -> CheckResult:
    title = choice.spec.title
    if choice.source is None:
        seen = "nn.Module classes found: " + ("; ".join(choice.classes) or "none")
        if choice.built:            # "none" only when the code really builds no module
            seen = (f"{seen}. Models built: " if choice.classes else
                    "No nn.Module class of its own; models built: ") + "; ".join(choice.built)
        ruled_out = "; ".join(f"{c.name} ({c.source}): {c.reason}" for c in choice.considered
                              if c.status == "excluded")
        unreadable = "; ".join(str(p) for p in choice.syntax)
        return _result(choice, "found", False, f"{title}: {choice.not_found}. {seen}."
                       + (f" Not considered: {ruled_out}." if ruled_out else "")
                       + (f" Code that does not parse (skipped): {unreadable}."
                          if unreadable else ""),
                       f"Name your class {choice.spec.names[0]} (accepted names: "
                       f"{', '.join(choice.spec.names)}), defined at module level of a .py file or "
                       "notebook cell, or nested directly in a class."
                       + (" Fix the syntax errors: a part that does not parse is not read."
                          if unreadable else ""))
    where = f"{choice.source.where}, line {choice.source.line}"
    how = ""
    if choice.source.built_from:
        how = (f"; built as the student builds it: {choice.source.call} "
               f"({choice.source.built_from})")
    elif choice.source.kind == "function" and choice.source.call.endswith(")") and (
            " (" in choice.source.call):       # a factory: what it returns
        how = f"; built as {choice.source.call}"
    if choice.source.offline:
        how += ("; pretrained weights not downloaded: built with weights=None instead of "
                + ", ".join(choice.source.offline))
    if choice.source.unfrozen:
        how += ("; the parameters it freezes (requires_grad = False) are counted and trained: "
                "freezing is training, not architecture")
    chosen = next((c for c in choice.considered if c.chosen), None)
    why = ""          # the losers and their reasons are in the model's `considered` list
    if chosen is not None and any(c.status == "lost" for c in choice.considered):
        why = f"; {chosen.reason}"
    accepted = {n.lower() for n in choice.spec.names}
    outranked = any(c.status == "lost" and c.name.split(".")[-1].lower() in accepted
                    and "checks outrank names" in c.reason     # an accepted name lost on
                    for c in choice.considered)                # its checks: "no class named
    #                                                            X" would not be true
    if choice.source.substituted and not outranked:
        return _result(choice, "found", True,
                       f"no class named {' or '.join(choice.spec.names)}; used "
                       f"{choice.source.qualname} ({where}) instead{how}{why}")
    return _result(choice, "found", True, f"{choice.source.qualname} ({where}){how}{why}")


def _not_run(choice: Choice, name: str, why: str) -> CheckResult:
    return _result(choice, name, False, f"not checked: {why}", "Fix the failures above first.")


def builds(choice: Choice, assignment: Assignment) -> CheckResult | None:
    if choice.source is None:
        return None
    report = choice.report
    if report is None:
        return _result(choice, "builds", False, "no valid report for this model came back from "
                       "the sandbox: the process ended before building it, or student code "
                       "overwrote the harness's report", "See the sandbox verdict and the "
                       "captured output.")
    call = choice.source.call
    if report.stage in ("import", "build"):
        error = report.error
        if error is None:
            return _result(choice, "builds", False, f"{call} did not finish building: "
                           "the process was stopped (see sandbox.limits)",
                           "Building the model must not train, download or wait for anything.")
        if error.missing_module:
            mod = error.missing_module
            return _result(choice, "builds", False,
                           f"{call} needs the module '{mod}', which is not installed in the "
                           "grading environment",
                           f"Remove `import {mod}` from the code the model uses (or don't use "
                           f"{mod} inside the model); only torch, torchvision and numpy are "
                           "available.")
        trace = translate_traceback(error.traceback, choice.source)
        if error.network:
            return _result(choice, "builds", False, f"{call} failed: {_error_text(error)}",
                           "The grader builds models without internet access: construct them "
                           "with weights=None (no pretrained weights) and download nothing in "
                           "__init__.")
        hint = f"Make sure {call} works in a fresh Python session with only the model's code"
        if error.type == "NameError" and choice.syntax:
            hint += (f" (a definition it needs may be in code that does not parse: "
                     f"{choice.syntax[0]})")
        if "required positional argument" in error.message and (
                not choice.source.built_from):
            hint += (" (the grader found no call of it with literal arguments in your files: "
                     "build it once at module level, e.g. `model = "
                     f"{choice.source.object_name}(...)`, or give its arguments defaults)")
        return _result(choice, "builds", False, f"{call} failed: {_error_text(error)}",
                       hint + ":\n" + trace[-1500:])
    how = f" (as in {choice.source.built_from})" if choice.source.built_from else ""
    return _result(choice, "builds", True, f"{call} built{how}")


def forward(choice: Choice, assignment: Assignment) -> CheckResult | None:
    if choice.source is None:
        return None
    if assignment.interface.declared:       # each declared head (localization, sequences)
        return interface_checks.forward(choice, assignment)
    report = choice.report
    if report is None or report.stage in (None, "import", "build"):
        return _not_run(choice, "forward", "the model did not build")
    n = assignment.dataset.num_classes
    shape = "x".join(map(str, assignment.dataset.input_shape))
    if not report.ok and report.stage in ("layers", "forward", "flops") and (
            report.error is None or report.error.type == "Deadline"):
        limit = report.seconds_limit
        within = f"within {limit:g} s" if limit else "before the sandbox's time limit"
        return _result(choice, "forward", False,
                       f"{choice.source.call} built, but its forward pass on a batch of "
                       f"{shape} images did not finish {within}",
                       "forward must not loop over data, train or wait for anything; a "
                       "forward pass of one small batch takes well under a second.")
    if not report.outputs:              # it stopped before the forward passes
        return _result(choice, "forward", False,
                       f"forward pass on {shape} images failed: {_error_text(report.error)}",
                       layer_table.explain_forward_error(choice, report.error)
                       if report.error else "See the sandbox verdict and the captured output.")
    for out in report.outputs:
        b = out.batch
        if out.error:
            return _result(choice, "forward", False,
                           f"forward pass on a batch of {b} images of {shape} failed: "
                           f"{_error_text(out.error)}",
                           layer_table.explain_forward_error(choice, out.error))
        got = out.shape
        if got != (b, n):
            if got and len(got) == 2 and got[0] != b:
                return _result(choice, "forward", False,
                               f"a batch of {b} images gave output {tuple(got)}: the batch size "
                               f"changed inside the model (expected ({b}, {n}))",
                               "A reshape such as x.view(-1, N) with the wrong N mixes images "
                               "together. Use x.flatten(1) or x.view(x.size(0), -1).")
            return _result(choice, "forward", False,
                           f"a batch of {b} images gave output {tuple(got or ())}; expected "
                           f"({b}, {n}): one score per class for each image",
                           f"The last layer must produce {n} outputs per image.")
        if not out.dtype.startswith(("float", "bfloat")):
            return _result(choice, "forward", False, f"output dtype is {out.dtype or None}; "
                           "expected floating point scores", "Return logits, not labels.")
        if not out.finite:
            return _result(choice, "forward", False, "the output has NaN or infinite values on "
                           "random input", "Check divisions, logs and initialisation.")
    sizes = ", ".join(str(o.batch) for o in report.outputs)
    return _result(choice, "forward", True, f"output (B, {n}) for batch sizes {sizes}")


def params(choice: Choice, assignment: Assignment) -> CheckResult | None:
    expectation = choice.spec.params
    if choice.source is None or expectation is None:
        return None
    if choice.params is None:
        if choice.report and choice.report.stage not in ("import", "build"):
            return _result(choice, "params", False, "the parameters the harness exported could "
                           "not be read safely (refused), so they were not counted",
                           "Do not write to the grader's output folder.")
        return _not_run(choice, "params", "the model did not build")
    ref = choice.reference_params
    # a family by reference names its range: "11,158,718 to 11,384,146 (reference ...)"
    wanted = _expected(choice)[2] if expectation.within else expectation.describe()
    if expectation.accepts(choice.params, ref):
        return _result(choice, "params", True, f"{choice.params:,} trainable parameters "
                       f"(expected {wanted})")
    diffs = layer_table.differences(choice)          # largest first
    detail = layer_table.differences_text(choice)    # the largest, then the rest's total
    return _result(choice, "params", False,
                   f"{choice.params:,} trainable parameters; expected {wanted}"
                   + (f". Differs from the reference: {detail}" if detail else ""),
                   "Compare your layers with the assignment's table; largest difference: "
                   + (diffs[0] if diffs else "none by layer, so check in_features of the "
                      "first Linear layer, kernel sizes and channel counts") + ".")


def weighted_layers(choice: Choice, assignment: Assignment) -> CheckResult | None:
    want = choice.spec.weighted_layers
    if choice.source is None or want is None:
        return None
    layers = choice.report.layers if choice.report else ()
    if not layers:
        return _not_run(choice, "layers", "the model did not build")
    got = layer_table.weighted_count(layers)
    if got == want:
        return _result(choice, "layers", True, f"{got} weighted layers (convolutions larger than "
                       "1x1 and fully connected layers)")
    return _result(choice, "layers", False, f"{got} weighted layers; expected {want} "
                   "(convolutions larger than 1x1 plus fully connected layers)",
                   f"{choice.spec.title} has {want} weighted layers; check the number of blocks "
                   "per stage and the layers in each block.")


def batchnorm(choice: Choice, assignment: Assignment) -> CheckResult | None:
    """Every convolution's output goes straight into a BatchNorm, judged from the operations
    forward runs (F.relu and other functional calls included), not the registration order."""
    if choice.source is None or not choice.spec.batchnorm_after_conv:
        return None
    report = choice.report
    if report is None or not report.order:
        return _not_run(choice, "batchnorm", "the model did not run")
    gaps = layer_table.batchnorm_gaps(report)
    if not gaps:
        return _result(choice, "batchnorm", True, "every convolution is followed directly by "
                       "BatchNorm (in the order forward runs them)")
    message = ("BatchNorm does not directly follow every convolution in forward: "
               + "; ".join(map(str, gaps)))
    if any(g.activation for g in gaps):
        hint = ("Call each BatchNorm on the convolution's output, before the activation: "
                "x = F.relu(self.bn1(self.conv1(x))), not self.bn1(F.relu(self.conv1(x))).")
    else:
        hint = ("Add nn.BatchNorm2d(out_channels) right after each nn.Conv2d and call it in "
                "forward on the convolution's output, before the activation.")
    return _result(choice, "batchnorm", False, message, hint)


def weights(choice: Choice, assignment: Assignment) -> CheckResult | None:
    """The student's checkpoint (the spec's `weights`) loaded into the graded build."""
    if choice.spec.weights is None:
        return None
    return checkpoints.check(choice.spec, choice.measured.weights if choice.source else None,
                             call=choice.source.call if choice.source else "")


MODEL_CHECKS: list[ModelCheck] = [found, builds, forward, params, weighted_layers, batchnorm,
                                  interface_checks.param_tensors, weights]


def check_submission(submission: Path, assignment: Assignment, *, limits: Limits | None = None,
                     sandboxed: bool = True) -> CheckReport:
    """Run every check on one submission (a folder or a .zip). Student code runs only in the
    sandbox; a submission that crashes it is a failing report, not an exception."""
    limits = limits or Limits.from_spec(assignment.limits)
    with unpacked(Path(submission)) as root:
        return check_folder(root, str(submission), assignment, limits, sandboxed)[0]


def fit_checks(choice: Choice, assignment: Assignment) -> list[CheckResult]:
    """The spec's checks of one candidate, for grader.grading.choose to compare candidates by."""
    return [c for step in (builds, forward, params, weighted_layers, batchnorm,
                           interface_checks.param_tensors)
            if (c := step(choice, assignment)) is not None]


def check_folder(root: Path, label: str, assignment: Assignment, limits: Limits,
                 sandboxed: bool, box: Sandbox | None = None) -> tuple[CheckReport, list[Choice]]:
    """Every check of the hand-in in root, and each model's choice. With `box`, the probes run
    in that sandbox (it holds the submission) and its process stays for training
    (grader.grading.probe.run_probes)."""
    files = list_files(root)
    sources, warnings = read_sources(root)
    probes = locate(sources, assignment)
    outcome = None
    if any(p.candidates for p in probes):
        outcome, probes = run_probes(probes, assignment, root, limits, sandboxed=sandboxed,
                                     box=box)
    choices = choose(probes, assignment, fit_checks)
    template = starter_units(assignment.integrity.starter, sources)
    syntax_check, notes = syntax(syntax_problems(sources), choices, template)
    checks = [c for c in [required_files(files, assignment), syntax_check] if c]
    for choice in choices:
        checks += [c for step in MODEL_CHECKS if (c := step(choice, assignment)) is not None]
    predictions = None
    if assignment.predictions is not None:
        predictions, more = prediction_checks(root, files, assignment)
        checks += more
    tampering = sorted({t for p in probes for m in p.measured.values()   # every build
                        if m.report is not None for t in m.report.tampering})
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
    models = [_model_report(p, assignment) for p in choices]
    return CheckReport(submission=label, assignment=assignment.id,
                       passed=all(c.passed for c in checks), models=models, checks=checks,
                       predictions=predictions, sandbox=sandbox, files=files,
                       parse_notes=notes), choices


def _limit_hint(status: str) -> str:
    return {"timeout": "Building the model must not train or download anything; keep __init__ "
                       "and forward free of loops over data.",
            "memory": "The model or its forward pass allocates far more memory than expected.",
            "processes": "Model code must not start processes or threads.",
            }.get(status, "See the captured output in the report.")


def _model_report(choice: Choice, assignment: Assignment) -> ModelReport:
    report = choice.report
    shape = next((o.shape for o in report.outputs if o.batch == 1), None) if report else None
    error = None
    if choice.source is None:
        error = choice.not_found
    elif report is not None and report.error is not None:
        error = _error_text(report.error)
    exact, span, text = _expected(choice)
    source = choice.source
    return ModelReport(
        key=choice.spec.key, title=choice.spec.title, found=source is not None,
        class_name=source.qualname if source else None,
        source=source.where if source else None,
        line=source.line if source else None,
        substituted=bool(source and source.substituted),
        candidates=list(choice.classes), params=choice.params,
        expected_params=exact, expected_range=span, expected_text=text,
        output_shape=list(shape) if shape is not None else None,
        flops=report.flops if report else None,
        layers=layer_table.rows(choice), error=error,
        call=source.call if source else None,
        built_from=(source.built_from or None) if source else None,
        considered=list(choice.considered),
        built_kind=source.kind if source else None,
        offline_weights=list(source.offline) if source else [],
        frozen_params=bool(source and source.unfrozen),
        weights=choice.measured.weights if source else None,
        heads=interface_checks.head_shapes(choice, assignment),
        param_tensors=report.param_tensors if report and source else None)


def _expected(choice: Choice) -> tuple[int | None, list[int | None] | None, str | None]:
    """The expected count as numbers (exact, or [min, max]) and as a phrase."""
    e = choice.spec.params
    if e is None:
        return None, None, None
    if e.reference is not None:
        n = choice.reference_params
        if n is None:
            return None, None, e.describe()
        if e.within:                # a family: the reference's count give or take `within`
            lo, hi = n - int(e.within * n), n + int(e.within * n)
            return None, [lo, hi], (f"{lo:,} to {hi:,} (reference {e.reference}'s {n:,} "
                                    f"± {100 * e.within:g}%)")
        return n, None, f"{n:,} (same as reference {e.reference})"
    if e.exact is not None:
        return e.exact, None, e.describe()
    return None, [e.min, e.max], e.describe()
