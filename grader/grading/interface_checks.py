"""Checks of a model against the spec's declared [interface]: each output head's shape per
probed batch (or sequence length), and the courses' extra rules (ECE 60146 HW5's "at least 50
learnable layers", counted as len(list(net.parameters()))).

grader.grading.checks calls `forward` here in place of its own when the spec declares an
interface; a classification spec without one never reaches this module.
"""

from __future__ import annotations

import re

from grader.grading.choose import Choice
from grader.results import CheckResult, HeadShape
from grader.sandbox.reports import ForwardOutput, HarnessError
from grader.spec import Assignment, InterfaceSpec, TensorSpec

ROLE_HINTS = {
    "label": "The class head's last layer must produce one score per class ({n}).",
    "box": "The box head must produce 4 numbers per example: x1, y1, x2, y2 scaled to 0..1 "
           "(a Linear(..., 4), then a Sigmoid).",
}


def _result(choice: Choice, name: str, passed: bool, message: str, hint: str = "") -> CheckResult:
    return CheckResult(id=f"{choice.spec.key}.{name}", passed=passed, message=message,
                       hint="" if passed else hint, model=choice.spec.key)


def signature(interface: InterfaceSpec) -> str:
    """How the interface calls forward: "forward(x, h)"."""
    return f"forward({', '.join(i.name for i in interface.inputs)})"


def expected_shape(spec: TensorSpec, batch: int, length: int | None) -> tuple[int, ...]:
    return tuple(batch if s == "B" else (length or 0) if s == "T" else int(s)
                 for s in spec.shape)


def _what(out: ForwardOutput, interface: InterfaceSpec) -> str:
    if interface.stepped:
        return f"one sequence of {out.length or '?'} steps"
    kind = "sequence" if interface.input("ids") is not None or \
        interface.input("embeddings") is not None else "image"
    return f"a batch of {out.batch} {kind}{'s' if out.batch != 1 else ''}"


def explain_call_error(error: HarnessError | None, interface: InterfaceSpec) -> str:
    """What to do about a forward pass that failed on the declared inputs."""
    text = "" if error is None else error.message
    called = signature(interface)
    takes = re.search(r"forward\(\) takes (\d+) positional arguments? but (\d+) were given",
                      text)
    if takes:
        return (f"The course calls {called}; this forward takes {int(takes[1]) - 1} "
                f"input{'s' if int(takes[1]) != 2 else ''}. Give forward the signature "
                f"{called}" + (" and return (out, h): the loop passes the hidden state from "
                               "init_hidden() and gets the new one back."
                               if interface.input("hidden") is not None else "."))
    if "missing" in text and "required positional argument" in text:
        return f"The course calls {called}: forward must take exactly these inputs."
    if "returned" in text and "expected" in text:     # reference.interface.InterfaceError
        names = ", ".join(o.name for o in interface.outputs)
        return f"forward must return {names}, in this order (a tuple)."
    return "See the traceback: the model fails on inputs of the declared shapes."


def forward(choice: Choice, assignment: Assignment) -> CheckResult:
    """Every declared output, for every probed batch size or sequence length."""
    interface = assignment.interface
    report = choice.report
    if report is None or report.stage in (None, "import", "build"):
        return _result(choice, "forward", False,
                       "not checked: the model did not build", "Fix the failing checks above.")
    called = signature(interface)
    if not report.outputs:
        error = report.error
        return _result(choice, "forward", False,
                       f"{called} failed: {error if error else 'it did not run'}",
                       explain_call_error(error, interface) if error else
                       "See the sandbox verdict and the captured output.")
    n = assignment.dataset.num_classes
    for out in report.outputs:
        what = _what(out, interface)
        if out.error:
            return _result(choice, "forward", False,
                           f"{called} on {what} failed: {out.error}",
                           explain_call_error(out.error, interface))
        heads = {h.name: h for h in out.heads}
        for spec in interface.outputs:
            head = heads.get(spec.name)
            if head is None:
                return _result(choice, "forward", False,
                               f"{called} on {what} returned no {spec.name} ({spec.role})",
                               explain_call_error(HarnessError(message="returned expected"),
                                                  interface))
            if spec.role == "hidden" or not spec.shape:
                continue
            want = expected_shape(spec, out.batch, out.length)
            if head.shape != want:
                single = spec.role == "label" and n > 1 and head.shape and head.shape[-1] == 1
                return _result(choice, "forward", False,
                               f"{spec.name}: {what} gave {tuple(head.shape or ())}; expected "
                               f"{want}", ROLE_HINTS.get(spec.role, "").format(n=n) + (
                                   " A single logit for BCEWithLogitsLoss does not fit: "
                                   f"return {n} scores and train with cross-entropy."
                                   if single else ""))
            if not head.dtype.startswith(("float", "bfloat")):
                return _result(choice, "forward", False,
                               f"{spec.name} has dtype {head.dtype or None}; expected floating "
                               "point values", "Return scores and coordinates, not labels.")
            if not head.finite:
                return _result(choice, "forward", False,
                               f"{spec.name} has NaN or infinite values on random input",
                               "Check divisions, logs and initialisation.")
    shown = [o for o in interface.outputs if o.role != "hidden" and o.shape]
    first = report.outputs[0]
    heads = ", ".join(f"{o.name} {describe(o)}" for o in shown)
    kept = [o.name for o in interface.outputs if o.role == "hidden"]
    runs = (f"sequences of {', '.join(str(o.length) for o in report.outputs)} steps"
            if interface.stepped else
            f"batch sizes {', '.join(str(o.batch) for o in report.outputs)}")
    label = next((h for h in first.heads if interface.output("label") is not None
                  and h.name == interface.output("label").name), None)
    scores = ("; the class scores are log-probabilities (LogSoftmax): retrained with NLLLoss"
              if label is not None and label.log_softmax else "")
    return _result(choice, "forward", True,
                   f"{called} gives {heads}" + (f" and the new {', '.join(kept)}"
                                                if kept else "") + f" for {runs}{scores}")


def describe(spec: TensorSpec) -> str:
    return "(" + ", ".join(str(s) for s in spec.shape) + ")"


def param_tensors(choice: Choice, assignment: Assignment) -> CheckResult | None:
    """The spec's min_param_tensors: len(list(net.parameters())), as ECE 60146 HW5 counts
    its "learnable layers"."""
    minimum = choice.spec.min_param_tensors
    report = choice.report
    if minimum is None or choice.source is None:
        return None
    count = report.param_tensors if report is not None else None
    if count is None:
        return _result(choice, "param_tensors", False,
                       "not checked: the model did not build", "Fix the failing checks above.")
    if count >= minimum:
        return _result(choice, "param_tensors", True,
                       f"{count} learnable layers (len(list(net.parameters()))), at least "
                       f"{minimum}")
    return _result(choice, "param_tensors", False,
                   f"{count} learnable layers (len(list(net.parameters()))); the assignment "
                   f"asks for at least {minimum}",
                   "Make the network deeper (more ResNet blocks in the backbone): each "
                   "convolution, BatchNorm and Linear adds its weight and bias.")


def head_shapes(choice: Choice, assignment: Assignment) -> list[HeadShape]:
    """Each declared output's shape on the smallest probe (batch 1, or the first length)."""
    report = choice.report
    interface = assignment.interface
    if report is None or not report.outputs or not interface.declared:
        return []
    out = report.outputs[0]
    if out.error is not None:           # the forward pass failed: nothing was returned
        return []
    got = {h.name: h.shape for h in out.heads}
    return [HeadShape(name=o.name, role=o.role, shape=list(got[o.name]) if got.get(o.name)
                      is not None else None,
                      expected=describe(o) if o.shape else "any")
            for o in interface.outputs]
