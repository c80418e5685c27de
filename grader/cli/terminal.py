"""Plain-text renderings of results for the terminal (the CLI prints what these return)."""

from __future__ import annotations

import statistics

from grader.grading.handin_checks import built_as_text, parse_note_text
from grader.grading.weights import describe as weights_line
from grader.report.exports import split_note
from grader.report.heads import head_ok, head_text
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
            lines += _candidate_lines(model)
            continue
        params = f"{model.params:,} params" if model.params is not None else "params unknown"
        shape = f"output {tuple(model.output_shape)}" if model.output_shape else "no output"
        if model.heads:                     # declared outputs ([interface]): each head's shape
            shape = "outputs " + ", ".join(
                head_text(h) + (f" (expected {h.expected})" if head_ok(h) is False else "")
                for h in model.heads)
            if model.param_tensors is not None:
                params += f" in {model.param_tensors:,} tensors"
        flops = f", {model.flops / 1e6:,.1f} MFLOPs" if model.flops else ""
        lines.append(f"{head}{model.class_name} ({model.source}), {params}, {shape}{flops}")
        built = built_as_text(model)
        if built:
            lines.append(f"      built as {built}")
        if model.weights is not None:
            lines.append(f"      weights: {weights_line(model.weights)}")
        lines += _candidate_lines(model)
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
    if report.parse_notes:              # once: code that does not parse, no check
        lines += ["", f"  {len(report.parse_notes)} note(s): code that does not parse, not "
                      "graded"]
        lines += [f"  [NOTE] {parse_note_text(n)}" for n in report.parse_notes]
    if report.sandbox.status != "ok":
        lines += ["", f"  sandbox: {report.sandbox.reason}"]
    if not report.sandbox.sandboxed:
        lines += ["", "  WARNING: student code ran without a sandbox (--no-sandbox)"]
    return "\n".join(lines)


def _candidate_lines(model) -> list[str]:
    """Every candidate for a model and why it won or lost, when there was a choice."""
    shown = getattr(model, "considered", None) or []
    if len(shown) < 2 and (model.found or not shown):
        return []
    lines = []
    for c in shown:
        mark = {"chosen": "chosen", "excluded": "not considered"}.get(c.status, "not chosen")
        call = f" as {c.call}" if c.call and c.call != f"{c.name}()" else ""
        params = f", {c.params:,} params" if c.params is not None else ""
        lines.append(f"      {mark}: {c.name}{call} ({c.source}, line {c.line}{params}): "
                     f"{c.reason}")
    return lines


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
    """One row per student (points, retrained accuracy per model, predictions.csv), the
    reference's row (mean ± spread over its seeds), and a loud warning for every model whose
    reference did not clearly beat chance. Model columns come from every result and the
    reference, so a first student who crashed does not drop them."""
    if not results:
        return "no submissions graded"
    keys = list(dict.fromkeys([t.model for r in results for t in r.training]
                              + [t.model for r in results for t in r.reference]
                              + [b.model for r in results for b in r.reference_bands]))
    ious = _iou_columns(results)            # localization only: mean IoU of the boxes
    header = f"{'student':<16} {'status':<8} {'points':>12}  " + "  ".join(
        f"{k:>12}" for k in keys) + f"  {'predictions':>11}" + "".join(
        f"  {label:>12}" for label, _ in ious)
    lines = [header, "-" * len(header)]
    for r in results:
        accs = {m.key: m.weights.accuracy for m in (r.check.models if r.check else [])
                if m.weights is not None and m.weights.accuracy is not None}   # own weights
        accs.update({t.model: t.scores.accuracy for t in r.training if t.ok and t.scores})
        cols = "  ".join(f"{accs[k] * 100:>11.1f}%" if k in accs else f"{'-':>12}" for k in keys)
        pred = f"{r.predictions.accuracy * 100:>10.1f}%" if r.predictions else f"{'-':>11}"
        mine = _mean_ious(r.training, r.predictions)
        iou = "".join(f"  {mine[k]:>12.3f}" if k in mine else f"  {'-':>12}" for _, k in ious)
        lines.append(f"{r.student:<16} {r.status:<8} {r.total:>6.1f}/{r.possible:<5g}  {cols}  "
                     f"{pred}{iou}")
        if r.error:
            lines.append(f"{'':<16} {r.error}")
    source = next((r for r in results if r.reference_bands or r.reference), None)
    if source is not None:
        bands = {b.model: b for b in source.reference_bands}
        runs = {t.model: t.scores.accuracy for t in source.reference if t.ok and t.scores}
        cells, spreads = [], []
        for k in keys:
            if k in bands:
                cells.append(f"{bands[k].mean * 100:>11.1f}%")
                spreads.append(f"{'±' + format(bands[k].spread * 100, '.1f') + '%':>12}")
            elif k in runs:
                cells.append(f"{runs[k] * 100:>11.1f}%")
                spreads.append(f"{'':>12}")
            else:
                cells.append(f"{'-':>12}")
                spreads.append(f"{'':>12}")
        seeds = max((len(b.accuracies) for b in bands.values()), default=1)
        ref_ious = _mean_ious(source.reference, None)
        iou_spreads = {}
        for k, band in bands.items():
            if band.ious:
                ref_ious[k] = statistics.fmean(band.ious)
                iou_spreads[k] = statistics.stdev(band.ious) if len(band.ious) > 1 else 0.0
        ref_iou = "".join(f"  {ref_ious[k]:>12.3f}" if k in ref_ious else f"  {'':>12}"
                          for _, k in ious)
        iou_spread = "".join(f"  {'±' + format(iou_spreads[k], '.3f'):>12}"
                             if k in iou_spreads else f"  {'':>12}" for _, k in ious)
        reference = f"{'(reference)':<16} {'':<8} {'':>12}  " + "  ".join(cells)
        spread = f"{f'  {seeds} seeds':<16} {'':<8} {'':>12}  " + "  ".join(spreads)
        if ref_iou.strip():                 # localization: the IoU columns, no trailing blanks
            reference = f"{reference}  {'':>11}{ref_iou}".rstrip()
            spread = f"{spread}  {'':>11}{iou_spread}".rstrip()
        lines.append(reference)
        if seeds > 1:
            lines.append(spread)
        chance = next(iter(bands.values())).chance if bands else None
        if chance is not None:
            lines.append(f"{'(chance)':<16} {'':<8} {'':>12}  {chance * 100:>11.1f}% "
                         "(always guessing the most common held-out class)")
        for band in bands.values():
            if not band.learned:
                lines += ["", f"WARNING: {band.note}"]
    split = next((r for r in results if r.public_fraction), None)
    if split is not None:                   # the spec's [held_out] public/private split
        lines += ["", split_note(split)]
    return "\n".join(lines)


def _mean_ious(runs, predictions) -> dict:
    """Mean IoU of each run's boxes by model key, and predictions.csv's under None."""
    ious = {t.model: t.scores.boxes.mean_iou for t in runs
            if t.ok and t.scores and t.scores.boxes is not None}
    if predictions is not None and predictions.boxes is not None:
        ious[None] = predictions.boxes.mean_iou
    return ious


def _iou_columns(results: list[EvaluationResult]) -> list[tuple[str, str | None]]:
    """(header, model key or None for predictions.csv) of the IoU columns: only where some
    result has boxes (localization), so other tables stay as they are."""
    keys = list(dict.fromkeys(k for r in results for k in _mean_ious(r.training,
                                                                     r.predictions)))
    return ([(f"{k} IoU", k) for k in keys if k is not None]
            + [("pred. IoU", None)] * (None in keys))
