"""Template contexts for the PDF reports: results in, plain data (and chart SVGs) out.

Everything the templates show is chosen here; how it looks is the templates' and the CSS's
job, and number formatting is done by the Jinja filters in grader.report.render. These functions
never touch the file system.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from typing import Iterable, Sequence

import grader
from grader.grading.handin_checks import built_notes, parse_note_text
from grader.grading.metrics import most_confused_pairs
from grader.report import charts, heads, tasks
from grader.report import weights as weights_view
from grader.report.exports import sample_noun, split_note
from grader.results import (
    CheckResult,
    EvaluationResult,
    LayerRow,
    Scores,
    TrainingResult,
)
from grader.spec import Assignment

# Captured output shown for a crashed or limited run: its last lines, where the error is.
OUTPUT_MAX_LINES = 80
OUTPUT_MAX_CHARS = 10_000
# Classes listed in a per-class table before it is cut to the weakest ones.
PER_CLASS_FULL_MAX = 20
PER_CLASS_SHOWN = 15
CONFUSED_PAIRS = 5
CLASS_CONFUSED_PAIRS = 10

_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def confused_pairs(confusion: Sequence[Sequence[int]], class_names: Sequence[str],
                   top: int = CONFUSED_PAIRS) -> list[dict]:
    """metrics.most_confused_pairs as the rows the templates show (names padded with the
    class index when a result lists fewer names than the matrix has classes)."""
    names = [_name(class_names, i) for i in range(len(confusion))]
    return [{"true": t, "predicted": p, "count": count, "percent": percent}
            for t, p, count, percent in most_confused_pairs(confusion, names, k=top)]


def _name(class_names: Sequence[str], index: int) -> str:
    return class_names[index] if index < len(class_names) else str(index)


def sum_confusions(matrices: Iterable[Sequence[Sequence[int]]]
                   ) -> tuple[list[list[int]] | None, int]:
    """Element-wise sum of the matrices that share the first one's shape, and how many
    were summed."""
    total: list[list[int]] | None = None
    used = 0
    for m in matrices:
        if total is None:
            total = [list(row) for row in m]
        elif len(m) == len(total) and all(len(r) == len(t) for r, t in zip(m, total)):
            total = [[a + b for a, b in zip(t, r)] for t, r in zip(total, m)]
        else:
            continue
        used += 1
    return total, used


def clean_output(text: str) -> dict:
    """The tail of captured output, without terminal escapes or control characters."""
    lines = _CONTROL.sub("", text).splitlines()
    omitted = max(0, len(lines) - OUTPUT_MAX_LINES)
    tail = "\n".join(lines[omitted:])
    if len(tail) > OUTPUT_MAX_CHARS:
        cut = tail[-OUTPUT_MAX_CHARS:]
        cut = cut[cut.find("\n") + 1:] if "\n" in cut else cut
        omitted += tail.count("\n") - cut.count("\n")
        tail = cut
    return {"text": tail, "omitted_lines": omitted}


# ------------------------------------------------------------------ student report

def student_context(result: EvaluationResult, *, chart_format: str = "svg",
                    assignment: Assignment | None = None) -> dict:
    """Everything student.html.j2 shows for one result. Charts are SVG (vector in the PDF) by
    default; chart_format="png" embeds 150-dpi PNGs instead (the benchmark's baseline).
    `assignment`: the spec whose [weights] agreement judges predictions.csv against the
    student's weights (else the built-in spec of the result's assignment id)."""
    check = result.check
    titles = {m.key: m.title for m in check.models} if check else {}
    agreement = weights_view.agreement_threshold(result, assignment)
    return {
        "r": result,
        "unit": sample_noun(result.task, plural=False), "units": sample_noun(result.task),
        "percent": 100 * result.total / result.possible if result.possible else 0.0,
        "alerts": _alerts(result) + weights_view.alerts(result, agreement),
        "weights": [_weights(result, m, agreement, chart_format)
                    for m in weights_view.weight_models(result)],
        "lost_items": sum(1 for item in result.rubric if item.earned < item.possible),
        "checks": _checks(check.checks if check else []),
        "models": [_model(m, check.checks) for m in check.models] if check else [],
        "training": [_training(result, t, titles.get(t.model, t.model), chart_format)
                     for t in result.training],
        "held_out_images": held_out_size(result),
        "results": _results(result, titles, chart_format),
        "boxes": tasks.box_sections(result, titles, fmt=chart_format,
                                    prefix=charts.chart_prefix(result.student, "boxes")),
        "predictions_report": check.predictions if check else None,
        "parse_notes": [parse_note_text(n) for n in check.parse_notes] if check else [],
        "output": _output(result),
    }


def _alerts(result: EvaluationResult) -> list[dict]:
    alerts = []
    if result.error:
        alerts.append({"level": "error", "text": result.error})
    sandbox = result.check.sandbox if result.check else None
    if sandbox and sandbox.tampering:
        alerts.append({"level": "error", "text": "The submission replaced torch functions "
                       "the grader relies on: " + ", ".join(sandbox.tampering)})
    if sandbox and not sandbox.sandboxed:
        alerts.append({"level": "note", "text": "Graded without the sandbox (--no-sandbox)."})
    alerts += [{"level": "warning", "text": band.note} for band in result.reference_bands
               if not band.learned]
    if note := split_note(result):          # the spec's [held_out] public/private split
        alerts.append({"level": "note", "text": note})
    return alerts


def _checks(checks: Sequence[CheckResult]) -> dict:
    failed = [c for c in checks if not c.passed]
    return {"total": len(checks), "passed": len(checks) - len(failed), "failed": failed}


def _model(model, checks: Sequence[CheckResult]) -> dict:
    own = [c for c in checks if c.model == model.key]
    params_check = next((c for c in own if c.id == f"{model.key}.params"), None)
    rows, hidden = layer_rows(model.layers)
    return {
        "m": model,
        "failed": [c for c in own if not c.passed],
        "params_ok": None if params_check is None else params_check.passed,
        "differing": sum(1 for row in model.layers if row.differs),
        "extra": sum(1 for row in rows if row["extra"]),
        "extra_params": sum(row["row"].params for row in rows if row["extra"]),
        "total_params": sum(row.params for row in model.layers),
        "rows": rows,
        "hidden": hidden,
        "built_notes": built_notes(model),   # weights not downloaded, frozen parameters
        "heads": heads.head_cells(model.heads),   # declared outputs ([interface]), if any
    }


def layer_rows(layers: Sequence[LayerRow]) -> tuple[list[dict], str]:
    """The layer table's rows, numbered in the order forward runs them, less the layers that
    tell a student nothing: no parameters, no reference figure, and the same output shape as
    the layer before (ReLU, Dropout, ...). Pooling, flattening and any layer that differs stay;
    a layer with parameters that no reference layer matches is marked `extra` (when the model
    was compared with a reference at all). Also a line saying what was left out
    ("19 ReLU, 2 Dropout"), or "" when nothing was."""
    compared = any(row.expected_params is not None for row in layers)
    rows, hidden, before = [], Counter(), None
    for index, row in enumerate(layers, 1):
        plain = (row.params == 0 and not row.expected_params and not row.differs
                 and row.output_shape is not None and row.output_shape == before)
        if plain:
            hidden[row.type] += 1
        else:
            rows.append({"index": index, "row": row,
                         "extra": compared and row.params > 0 and row.expected_params is None})
        before = row.output_shape if row.output_shape is not None else before
    return rows, ", ".join(f"{count} {kind}" for kind, count in hidden.most_common())


def _training(result: EvaluationResult, run: TrainingResult, title: str, fmt: str) -> dict:
    """One retrained model: its held-out accuracy (the scored figure, on the whole held-out
    split, which the curves' last point equals), the reference's (mean and spread over its
    seeds when it trained under several) and the curves with the reference's band."""
    ref = _reference(result, run.model)
    band = next((b for b in result.reference_bands if b.model == run.model), None)
    final = run.scores.accuracy if run.ok and run.scores else None
    ref_final = band.mean if band else (ref.scores.accuracy if ref and ref.scores else None)
    chart = None
    if run.ok and run.history:
        seeds = len(band.accuracies) if band else 1
        chart = charts.embed(charts.training_curves(
            run.history, ref.history if ref else None,
            prefix=charts.chart_prefix(result.student, f"curves-{run.model}"), fmt=fmt,
            band=(band.epoch_low, band.epoch_high) if band and seeds > 1 else None,
            band_label=f"reference, mean ± spread of {seeds} seeds"))
    return {"t": run, "title": title, "reference": ref, "final": final, "ref_final": ref_final,
            "ratio": final / ref_final if final is not None and ref_final else None,
            "band": band, "seeds": len(band.accuracies) if band else (1 if ref else 0),
            "chart": chart, "iou": tasks.training_iou(result, run.model)}


def _weights(result: EvaluationResult, model, agreement: float, fmt: str) -> dict:
    """One model's own checkpoint (grader.report.weights), its sparsity chart embedded."""
    prefix = charts.chart_prefix(result.student, f"sparsity-{model.key}")
    view = weights_view.section(model, agreement, fmt=fmt, prefix=prefix)
    return {**view, "chart": charts.embed(view["svg"]) if view["svg"] else None}


def held_out_size(result: EvaluationResult) -> int | None:
    """How many held-out images the retrained models were scored on (None: none scored)."""
    for run in list(result.training) + list(result.reference):
        if run.ok and run.scores:
            return sum(map(sum, run.scores.confusion))
    return None


def _reference(result: EvaluationResult, key: str) -> TrainingResult | None:
    return next((r for r in result.reference if r.model == key and r.ok), None)


def _results(result: EvaluationResult, titles: dict[str, str], fmt: str) -> dict | None:
    """Held-out results: the heatmap and confused pairs of predictions.csv (or, without it,
    of the last retrained model), and a per-class table of every scored run beside its
    reference."""
    runs = [t for t in result.training if t.ok and t.scores]
    source: tuple[str, Scores] | None = None
    if result.predictions:
        source = ("predictions.csv", result.predictions)
    elif runs:
        source = (f"your {titles.get(runs[-1].model, runs[-1].model)}, retrained",
                  runs[-1].scores)
    if source is None:
        return None
    label, main = source
    names = result.class_names
    columns = []
    if result.predictions:
        columns.append({"group": "predictions.csv", "label": "yours",
                        "values": result.predictions.per_class})
    for run in runs:
        group = titles.get(run.model, run.model)
        columns.append({"group": group, "label": "yours", "values": run.scores.per_class})
        ref = _reference(result, run.model)
        if ref and ref.scores:
            columns.append({"group": group, "label": "reference",
                            "values": ref.scores.per_class})
    n = len(main.per_class)
    order = list(range(n))
    if n > PER_CLASS_FULL_MAX:   # many classes: the weakest ones, by the first column
        order = sorted(order, key=lambda i: (columns[0]["values"][i], i))[:PER_CLASS_SHOWN]
    rows = [{"name": _name(names, i),
             "cells": [{"value": c["values"][i] if i < len(c["values"]) else None,
                        "reference": c["label"] == "reference"} for c in columns]}
            for i in order]
    groups = [(g, sum(1 for c in columns if c["group"] == g))
              for g in dict.fromkeys(c["group"] for c in columns)]
    heatmap = charts.embed(charts.confusion_heatmap(
        main.confusion, names, prefix=charts.chart_prefix(result.student, "confusion"),
        fmt=fmt))
    total = sum(map(sum, main.confusion))
    correct = sum(main.confusion[i][i] for i in range(len(main.confusion)))
    return {
        "label": label, "is_predictions": result.predictions is not None,
        "iou": main.boxes.mean_iou if result.predictions and main.boxes else None,
        "accuracy": main.accuracy, "correct": correct, "total": total, "classes": n,
        "heatmap": heatmap,
        "wide": heatmap["width_in"] > 4.2,     # too wide to share the row with the pairs
        "pairs": confused_pairs(main.confusion, names),
        "columns": columns, "groups": groups, "rows": rows, "cut": n > PER_CLASS_FULL_MAX,
    }


def _output(result: EvaluationResult) -> dict | None:
    sandbox = result.check.sandbox if result.check else None
    if sandbox is None or (sandbox.status == "ok" and result.status != "crashed"):
        return None
    return {"sandbox": sandbox, **clean_output(sandbox.output)}


# ------------------------------------------------------------------ class summary

def summary_context(results: Sequence[EvaluationResult], failures: Sequence) -> dict:
    """Everything summary.html.j2 shows: distribution, pass rates, leaderboard, confusions,
    crashed or limited submissions and unreadable result files."""
    counts = Counter(r.assignment for r in results)
    main = min(counts, key=lambda a: (-counts[a], a)) if counts else None
    first = next((r for r in results if r.assignment == main), None)
    totals = [r.total for r in results]
    possible = max((r.possible for r in results), default=0.0)
    return {
        "first": first,
        "units": sample_noun(first.task if first else "classification"),
        "version": first.grader_version if first else grader.__version__,
        "assignments": sorted(counts),
        "count": len(results), "failures": list(failures),
        "created": max((r.created for r in results), default=""),
        "stats": _stats(totals, possible),
        "histogram": charts.embed(charts.score_histogram(totals, possible, prefix="histogram"))
        if results else None,
        "items": _item_rates(results),
        "checks": _check_rates(results),
        "leaderboard": _leaderboard(results),
        "pairs": _class_pairs([r for r in results if r.assignment == main]),
        "reference_warnings": list(dict.fromkeys(
            b.note for r in results for b in r.reference_bands if not b.learned)),
        "problems": [_problem(r) for r in sorted(results, key=lambda r: r.student)
                     if r.status == "crashed" or (r.check and r.check.sandbox.status != "ok")],
    }


def _stats(totals: list[float], possible: float) -> dict | None:
    if not totals:
        return None
    return {"mean": statistics.fmean(totals), "median": statistics.median(totals),
            "min": min(totals), "max": max(totals), "possible": possible,
            "stdev": statistics.pstdev(totals)}


def _item_rates(results: Sequence[EvaluationResult]) -> list[dict]:
    items: dict[str, dict] = {}
    for r in results:
        for item in r.rubric:
            row = items.setdefault(item.id, {"id": item.id, "title": item.title,
                                             "possible": item.possible, "earned": 0.0,
                                             "full": 0, "count": 0, "ungradable": 0})
            row["earned"] += item.earned
            row["full"] += item.gradable and item.earned >= item.possible
            row["ungradable"] += not item.gradable
            row["possible"] = max(row["possible"], item.possible)
            row["count"] += 1
    for row in items.values():
        row["mean"] = row["earned"] / row["count"]
        row["rate"] = row["full"] / row["count"]
    return list(items.values())


def _check_rates(results: Sequence[EvaluationResult]) -> list[dict]:
    passed: Counter = Counter()
    seen: Counter = Counter()
    for r in results:
        for c in (r.check.checks if r.check else []):
            seen[c.id] += 1
            passed[c.id] += c.passed
    rows = [{"id": cid, "passed": passed[cid], "count": seen[cid],
             "rate": passed[cid] / seen[cid]} for cid in seen]
    return sorted(rows, key=lambda row: (row["rate"], row["id"]))


def _leaderboard(results: Sequence[EvaluationResult]) -> dict:
    keys = list(dict.fromkeys(t.model for r in results for t in r.training))
    iou_keys = tasks.iou_keys(results)      # localization: models whose boxes were scored
    rows = []
    for r in results:
        acc = {t.model: t.scores.accuracy for t in r.training if t.ok and t.scores}
        ious = tasks.mean_ious(r)
        rows.append({"student": r.student, "status": r.status, "total": r.total,
                     "possible": r.possible,
                     "predictions": r.predictions.accuracy if r.predictions else None,
                     "models": [acc.get(k) for k in keys],
                     "ious": [ious.get(k) for k in iou_keys],
                     "predictions_iou": ious.get(None)})

    def rank_key(row: dict) -> tuple:
        scored = [a for a in row["models"] if a is not None]
        best = row["predictions"] if row["predictions"] is not None else (
            max(scored) if scored else -1.0)
        return (-best, -row["total"], row["student"])
    rows.sort(key=rank_key)
    return {"model_keys": keys, "rows": rows, "iou_keys": iou_keys,
            "has_predictions": any(row["predictions"] is not None for row in rows),
            "has_predictions_iou": any(row["predictions_iou"] is not None for row in rows)}


def _class_pairs(results: Sequence[EvaluationResult]) -> dict | None:
    """Most confused pairs over the class (one assignment's results): predictions.csv
    matrices summed, or the retrained models' where no one handed in predictions."""
    for label, matrices in (
            ("predictions.csv", [r.predictions.confusion for r in results if r.predictions]),
            ("retrained models", [t.scores.confusion for r in results for t in r.training
                                  if t.ok and t.scores])):
        total, used = sum_confusions(matrices)
        if total is not None:
            names = next((r.class_names for r in results if len(r.class_names) == len(total)),
                         [])
            return {"label": label, "count": used,
                    "pairs": confused_pairs(total, names, CLASS_CONFUSED_PAIRS)}
    return None


def _problem(result: EvaluationResult) -> dict:
    sandbox = result.check.sandbox if result.check else None
    status = sandbox.status if sandbox and sandbox.status != "ok" else result.status
    reason = (sandbox.reason if sandbox and sandbox.reason else None) or result.error or ""
    return {"student": result.student, "status": status, "reason": reason,
            "exit_code": sandbox.exit_code if sandbox else None}

