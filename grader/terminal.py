"""Plain-text renderings of results for the terminal (the CLI prints what these return)."""

from __future__ import annotations

from grader.results import CheckReport, EvaluationResult
from grader.spec import Assignment


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def check_summary(report: CheckReport, *, verbose: bool = False) -> str:
    lines = [f"{report.submission} ({report.assignment}): "
             f"{'all checks passed' if report.passed else 'some checks failed'}", ""]
    for model in report.models:
        head = f"  {model.title}: "
        if not model.found:
            lines.append(head + "not found")
            continue
        params = f"{model.params:,} params" if model.params is not None else "params unknown"
        shape = f"output {tuple(model.output_shape)}" if model.output_shape else "no output"
        flops = f", {model.flops / 1e6:,.1f} MFLOPs" if model.flops else ""
        lines.append(f"{head}{model.class_name} ({model.source}), {params}, {shape}{flops}")
        failed = any(c.id == f"{model.key}.params" and not c.passed for c in report.checks)
        if verbose or (failed and any(r.differs for r in model.layers)):
            shown = [row for row in model.layers
                     if verbose or row.differs or row.expected_params is None and row.params]
            if not verbose and len(shown) > 12:
                lines.append(f"      ({len(shown) - 12} more differing layers: --verbose shows all)")
                shown = shown[:12]
            for row in shown:
                expected = f"  expected {row.expected_params:,}" if row.differs else ""
                out = "x".join(map(str, row.output_shape[1:])) if row.output_shape else "-"
                lines.append(f"      {row.name:<24} {row.type:<14} {out:>12} "
                             f"{row.params:>10,}{expected}")
    lines.append("")
    for check in report.checks:
        lines.append(f"  [{_mark(check.passed)}] {check.id}: {check.message}")
        if check.hint:
            for hint_line in check.hint.strip().splitlines()[:12]:
                lines.append(f"         {hint_line}")
    if report.sandbox.status != "ok":
        lines += ["", f"  sandbox: {report.sandbox.reason}"]
    if not report.sandbox.sandboxed:
        lines += ["", "  WARNING: student code ran without a sandbox (--no-sandbox)"]
    return "\n".join(lines)


def assignments_table(items: list[Assignment]) -> str:
    width = max(len(a.id) for a in items)
    lines = []
    for a in items:
        models = ", ".join(m.title for m in a.models)
        lines.append(f"{a.id:<{width}}  {a.course}: {a.title}")
        lines.append(f"{'':<{width}}  models: {models}; {a.dataset.name} "
                     f"{'x'.join(map(str, a.dataset.input_shape))}, {a.dataset.num_classes} "
                     f"classes; {a.total_points:g} points")
    return "\n".join(lines)


def evaluation_table(results: list[EvaluationResult]) -> str:
    if not results:
        return "no submissions graded"
    keys = [t.model for t in results[0].training] if results[0].training else []
    header = f"{'student':<16} {'status':<8} {'points':>12}  " + "  ".join(
        f"{k:>12}" for k in keys) + f"  {'predictions':>11}"
    lines = [header, "-" * len(header)]
    for r in results:
        accs = {t.model: t.scores.accuracy for t in r.training if t.ok and t.scores}
        cols = "  ".join(f"{accs[k] * 100:>11.1f}%" if k in accs else f"{'-':>12}" for k in keys)
        pred = f"{r.predictions.accuracy * 100:>10.1f}%" if r.predictions else f"{'-':>11}"
        lines.append(f"{r.student:<16} {r.status:<8} {r.total:>6.1f}/{r.possible:<5g}  {cols}  "
                     f"{pred}")
        if r.error:
            lines.append(f"{'':<16} {r.error}")
    if results and results[0].reference:
        ref = {t.model: t.scores.accuracy for t in results[0].reference if t.ok and t.scores}
        cols = "  ".join(f"{ref[k] * 100:>11.1f}%" if k in ref else f"{'-':>12}" for k in keys)
        lines.append(f"{'(reference)':<16} {'':<8} {'':>12}  {cols}")
    return "\n".join(lines)
