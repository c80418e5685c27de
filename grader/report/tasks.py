"""What the reports show for the task kinds beyond classification (issue 20).

Localization: per box-scored source (predictions.csv, then every retrained model) its mean IoU
and hit rate beside the reference's, an IoU histogram, and a grid of held-out images with the
true and the predicted box drawn on them (BoxExample thumbnails, so no dataset is needed).
Sequence classification needs no section of its own: accuracy and the confusion matrix are
classification's; only the words change ("sequences", grader.report.exports.sample_noun).

The charts follow grader.report.charts: the object-oriented API, CHART_STYLE, deterministic
SVG with ids scoped by a prefix (or a PNG data: URI with fmt="png"); the contexts here return
them embedded (charts.embed) for the templates' chart macro.
"""

from __future__ import annotations

import base64
import io
import statistics
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib import patheffects
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, PercentFormatter

from grader.report import charts
from grader.results import BoxExample, BoxScores, EvaluationResult

TRUE_BOX = "#1a9850"                # green, solid: the true box
PREDICTED_BOX = charts.ACCENT       # orange-red, dashed: the predicted box
WRONG_CLASS = "#b0281a"             # a panel title whose class was predicted wrong
EXAMPLES_SHOWN = 12                 # at most this many held-out images drawn (2 rows of 6)
EXAMPLE_COLUMNS = 4                 # up to 8 images: rows of 4
HISTOGRAM_BINS = 20                 # IoU bins of 0.05


# ------------------------------------------------------------------ charts

def iou_histogram(ious: Sequence[float], threshold: float, *,
                  reference: Sequence[float] | None = None, prefix: str = "iou",
                  fmt: str = "svg") -> str:
    """Per-image IoU of the predicted boxes in bins of 0.05 (percent of the images, so a
    reference scored on as many images compares directly), the reference's as a grey outline,
    and the hit threshold as a dashed line."""
    values = np.clip(np.asarray(list(ious), dtype=float), 0.0, 1.0)
    bins = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    with matplotlib.rc_context(charts.CHART_STYLE):
        fig = charts.new_figure(7.0, 2.4)
        fig.subplots_adjust(left=0.085, right=0.985, bottom=0.19, top=0.88)
        ax = fig.subplots()
        if values.size:
            ax.hist(values, bins=bins, weights=np.full(values.size, 100 / values.size),
                    color=charts.STUDENT, edgecolor="white", linewidth=0.8, label="yours")
        ref = np.clip(np.asarray(list(reference or []), dtype=float), 0.0, 1.0)
        if ref.size:
            ax.hist(ref, bins=bins, weights=np.full(ref.size, 100 / ref.size),
                    histtype="step", color=charts.REFERENCE, linewidth=1.3,
                    label="reference")
        ax.axvline(threshold, color=charts.ACCENT, linestyle="--", linewidth=1.1,
                   label=f"hit: IoU ≥ {threshold:g}")
        if values.size:
            mean = float(values.mean())
            ax.axvline(mean, color=charts.STUDENT, linestyle=":", linewidth=1.2,
                       label=f"your mean {mean:.2f}")
        ax.set(xlim=(0, 1), xlabel="IoU of the predicted box with the true box",
               ylabel="held-out images (%)")
        ax.yaxis.set_major_locator(MaxNLocator(5, integer=True))
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.xaxis.set_major_locator(MaxNLocator(10))
        ax.grid(axis="x", visible=False)
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=4, borderaxespad=0.2)
        return charts.to_svg(fig, prefix, fmt)


def _thumbnail(example: BoxExample) -> np.ndarray | None:
    """The example's image as an array, or None when it has none (or it does not decode)."""
    if not example.thumbnail:
        return None
    from matplotlib import image as mpimg
    try:
        return mpimg.imread(io.BytesIO(base64.b64decode(example.thumbnail)), format="png")
    except (ValueError, OSError, SyntaxError):
        return None


def _box(ax, box: Sequence[float], colour: str, style: str) -> None:
    from matplotlib.patches import Rectangle
    x1, y1, x2, y2 = (float(v) for v in box)
    rect = Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour,
                     linewidth=1.6, linestyle=style)
    rect.set_path_effects([patheffects.withStroke(linewidth=3.0, foreground="white"),
                           patheffects.Normal()])   # a white rim: visible on any image
    ax.add_patch(rect)


def box_examples(examples: Sequence[BoxExample], class_names: Sequence[str], *,
                 prefix: str = "boxes", fmt: str = "svg") -> str:
    """Held-out images with the true box (green, solid) and the predicted one (dashed), in
    coordinates scaled to 0..1, each titled with its IoU and the true class (and the predicted
    class, in red, when it differs)."""
    shown = list(examples)[:EXAMPLES_SHOWN]
    wide = len(shown) > 2 * EXAMPLE_COLUMNS      # 9 to 12: two rows of six, not three of four
    columns = min(6 if wide else EXAMPLE_COLUMNS, max(1, len(shown)))
    rows = max(1, -(-len(shown) // columns))
    width = 7.0
    panel, title, legend = (1.06 if wide else 1.62), 0.36, 0.3
    height = legend + rows * (panel + title) + 0.05

    def name(i: int) -> str:
        return class_names[i] if 0 <= i < len(class_names) else str(i)

    with matplotlib.rc_context(charts.CHART_STYLE):
        fig = charts.new_figure(width, height)
        cell = width / columns
        for i, ex in enumerate(shown):
            row, col = divmod(i, columns)
            left = col * cell + (cell - panel) / 2
            bottom = height - legend - (row + 1) * (panel + title) + 0.05
            ax = fig.add_axes((left / width, bottom / height, panel / width, panel / height))
            ax.grid(False)
            image = _thumbnail(ex)
            if image is not None:
                ax.imshow(image, extent=(0, 1, 1, 0), interpolation="none", aspect="auto")
            else:
                ax.set_facecolor("#eeeeee")
            _box(ax, ex.box, TRUE_BOX, "-")
            _box(ax, ex.predicted_box, PREDICTED_BOX, (0, (3, 1.5)))
            ax.set(xlim=(0, 1), ylim=(1, 0), xticks=[], yticks=[])
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_color("#999999")
                spine.set_linewidth(0.5)
            right = ex.predicted == ex.label
            label = name(ex.label) if right else f"{name(ex.label)}, said {name(ex.predicted)}"
            ax.set_title(f"IoU {ex.iou:.2f}\n{label}", fontsize=7, linespacing=1.15, pad=3,
                         color="#222222" if right else WRONG_CLASS)
        handles = [Line2D([], [], color=TRUE_BOX, linewidth=1.6, label="true box"),
                   Line2D([], [], color=PREDICTED_BOX, linewidth=1.6, linestyle=(0, (3, 1.5)),
                          label="predicted box")]
        fig.legend(handles=handles, loc="upper center", ncol=2, frameon=False,
                   bbox_to_anchor=(0.5, 1.0), fontsize=7.5)
        return charts.to_svg(fig, prefix, fmt)


# ------------------------------------------------------------------ contexts

def _spread(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _reference_boxes(result: EvaluationResult, key: str) -> dict | None:
    """The reference's box figures for a model: mean IoU and hit rate (means over its seeds
    when the band has them), the IoUs' spread, the seeds, and the per-image IoUs of its first
    scored run (the histogram's outline)."""
    run = next((r for r in result.reference if r.model == key and r.ok and r.scores
                and r.scores.boxes), None)
    band = next((b for b in result.reference_bands if b.model == key and b.ious), None)
    if run is None and band is None:
        return None
    boxes = run.scores.boxes if run else None
    mean = statistics.fmean(band.ious) if band else boxes.mean_iou
    hits = statistics.fmean(band.hits) if band and band.hits else (boxes.hits if boxes
                                                                    else None)
    return {"mean_iou": mean, "spread": _spread(band.ious) if band else 0.0,
            "seeds": len(band.ious) if band else 1, "hits": hits,
            "ious": list(boxes.ious) if boxes else []}


def _section(result: EvaluationResult, key: str | None, title: str, boxes: BoxScores, *,
             prefix: str, fmt: str) -> dict:
    ref = _reference_boxes(result, key) if key else None
    count = len(boxes.ious)
    return {
        "key": key or "predictions", "title": title, "b": boxes, "count": count,
        "hit_count": round(boxes.hits * count) if count else None,
        "reference": ref,
        "ratio": boxes.mean_iou / ref["mean_iou"] if ref and ref["mean_iou"] else None,
        "histogram": charts.embed(iou_histogram(
            boxes.ious, boxes.threshold, reference=ref["ious"] if ref else None,
            prefix=f"{prefix}-iou", fmt=fmt)) if count else None,
        "examples": charts.embed(box_examples(
            boxes.examples, result.class_names, prefix=f"{prefix}-examples", fmt=fmt))
        if boxes.examples else None,
        "wrong_class": sum(1 for e in boxes.examples[:EXAMPLES_SHOWN]
                           if e.predicted != e.label),
    }


def box_sections(result: EvaluationResult, titles: dict[str, str], *, prefix: str,
                 fmt: str = "svg") -> list[dict]:
    """One section per box-scored source of a localization result: predictions.csv first
    (the file that is graded), then each retrained model; [] when nothing has boxes (every
    classification and sequence result). Charts come embedded (charts.embed)."""
    sections = []
    if result.predictions is not None and result.predictions.boxes is not None:
        sections.append(_section(result, None, "predictions.csv", result.predictions.boxes,
                                 prefix=f"{prefix}-predictions", fmt=fmt))
    for run in result.training:
        if run.ok and run.scores and run.scores.boxes is not None:
            sections.append(_section(result, run.model,
                                     f"{titles.get(run.model, run.model)}, retrained",
                                     run.scores.boxes, prefix=f"{prefix}-{run.model}",
                                     fmt=fmt))
    return sections


def training_iou(result: EvaluationResult, key: str) -> dict | None:
    """The retrained model's mean IoU and the reference's, for the training section's line
    (None when the run has no boxes)."""
    run = next((t for t in result.training if t.model == key and t.ok and t.scores
                and t.scores.boxes), None)
    if run is None:
        return None
    return {"mean_iou": run.scores.boxes.mean_iou, "reference": _reference_boxes(result, key)}


def mean_ious(result: EvaluationResult) -> dict[str | None, float]:
    """Mean IoU per retrained model key, and predictions.csv's under None (localization)."""
    ious: dict[str | None, float] = {t.model: t.scores.boxes.mean_iou for t in result.training
                                     if t.ok and t.scores and t.scores.boxes}
    if result.predictions is not None and result.predictions.boxes is not None:
        ious[None] = result.predictions.boxes.mean_iou
    return ious


def iou_keys(results: Sequence[EvaluationResult]) -> list[str]:
    """Model keys whose boxes were scored in any result: the IoU columns of the tables."""
    return list(dict.fromkeys(k for r in results for k in mean_ious(r) if k is not None))
