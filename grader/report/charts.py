"""Charts for the PDF reports, as SVG strings, so that the PDFs stay vector.

Each function takes plain numbers (no template context, no page around it) and returns one
`<svg>` element as a string (or, with fmt="png", a PNG data: URI: the benchmark's raster
baseline). The report embeds it in the HTML as a data: URI (see grader.report.context), and
WeasyPrint draws it as vectors. Figures are built with the object-oriented API
(`matplotlib.figure.Figure`), never pyplot: nothing is registered in a global figure manager
that would need closing, the caller's backend is untouched, and a figure is freed with the
rest of a report's objects (grader.report.render collects them once per report).

Output is deterministic for the same input: a fixed `svg.hashsalt`, no date in the metadata,
and every id scoped by a caller-given prefix, so several charts can also be inlined in one page
without sharing an id.

Text stays text (`svg.fonttype = "none"`): it is selectable and searchable in the PDF, smaller
and faster to draw than glyph outlines. The confusion heatmap's cells are one embedded raster
image (a 200 x 200 matrix as 40,000 vector rectangles would be slow to render and to view);
its labels and annotations stay vector.
"""

from __future__ import annotations

import base64
import io
import re
from functools import lru_cache
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib import font_manager
from matplotlib.colors import Normalize, PowerNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter

from grader.grading.metrics import row_normalised_percent
from grader.results import EpochStats

# Colours: the student in blue, the reference in grey, so "you vs reference" reads at a glance
# and survives black-and-white printing (line styles and markers differ too).
STUDENT = "#1f5fa8"
REFERENCE = "#7a7a7a"
ACCENT = "#c8553d"

CHART_STYLE = {
    "svg.hashsalt": "grader",       # stable ids: matplotlib derives them from this salt
    "svg.fonttype": "none",         # <text> elements, not glyph paths
    "font.family": ["Grader Sans", "DejaVu Sans"],   # the reports' bundled face (_add_fonts)
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.titley": 1.0,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e3e3",
    "grid.linewidth": 0.6,
    "axes.edgecolor": "#555555",
    "axes.linewidth": 0.7,
    "lines.linewidth": 1.4,
    "lines.markersize": 4,
    "legend.frameon": False,
}

PNG_DPI = 150                       # raster baseline: what notebooks and most tools embed

# Annotate heatmap cells with their percentage only while the numbers stay legible.
ANNOTATE_MAX_CLASSES = 10


@lru_cache(maxsize=1)
def _add_fonts() -> None:
    """Make the reports' bundled fonts (templates/fonts) known to matplotlib, so labels are
    measured with the face the PDF draws them in, whatever fonts the machine has."""
    from grader.report.pdf import templates_dir
    for path in sorted((templates_dir() / "fonts").glob("*.ttf")):
        font_manager.fontManager.addfont(str(path))


def new_figure(width_in: float, height_in: float, constrained: bool = False) -> Figure:
    """A figure; charts with fixed label sizes set their margins by hand, which saves the
    second draw pass that constrained layout needs (about half of a chart's time)."""
    _add_fonts()
    return Figure(figsize=(width_in, height_in), layout="constrained" if constrained else None)


def to_svg(fig: Figure, prefix: str, fmt: str = "svg") -> str:
    """Serialise a figure: an inline <svg> element, or for fmt="png" (the benchmark's
    baseline) a data: URI of a PNG at PNG_DPI."""
    buf = io.BytesIO()
    with matplotlib.rc_context(CHART_STYLE):
        if fmt == "png":
            fig.savefig(buf, format="png", dpi=PNG_DPI, metadata={"Software": None})
        else:
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    if fmt == "png":
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    text = buf.getvalue().decode("utf-8")
    text = text[text.index("<svg"):]                     # drop XML prolog, doctype, comment
    return _scope_ids(text, prefix)


def png_width_inches(uri: str) -> float:
    """Width at PNG_DPI of a PNG data: URI made by this module (from its IHDR header)."""
    header = base64.b64decode(uri.split(",", 1)[1][:44])
    return int.from_bytes(header[16:20], "big") / PNG_DPI


_SVG_WIDTH = re.compile(r'<svg[^>]*\bwidth="([\d.]+)pt"')


def chart_prefix(student: str, kind: str) -> str:
    """An id prefix for one report's chart ("curves-simplenn-alice"), safe in an SVG id."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{kind}-{student}")


def embed(text: str) -> dict:
    """A chart for the templates' chart macro: a data: URI and its printed width.

    SVG goes in as an <img> with a data: URI rather than as an inline <svg> element: the PDF is
    the same vector drawing, but WeasyPrint then parses the SVG on its own instead of running
    the page's CSS cascade over each of its hundreds of nodes (about 0.6 s less per report).
    """
    if text.startswith("data:image/png"):
        inches = png_width_inches(text)
    else:
        match = _SVG_WIDTH.search(text)
        inches = float(match[1]) / 72 if match else 7.0
        text = "data:image/svg+xml;base64," + base64.b64encode(text.encode()).decode()
    return {"src": text, "width": f"{inches:.2f}in", "width_in": inches}


_ID = re.compile(r'\bid="([^"]+)"')


def _scope_ids(svg: str, prefix: str) -> str:
    """Prefix every id (and every reference to one) so charts can share a page."""
    ids = set(_ID.findall(svg))
    if not ids:
        return svg
    svg = _ID.sub(lambda m: f'id="{prefix}-{m[1]}"', svg)
    pattern = re.compile(r"#(" + "|".join(re.escape(i) for i in sorted(ids, key=len,
                                                                         reverse=True)) + r")\b")
    return pattern.sub(lambda m: f"#{prefix}-{m[1]}", svg)


def training_curves(student: Sequence[EpochStats], reference: Sequence[EpochStats] | None,
                    *, prefix: str = "curves", fmt: str = "svg",
                    band: tuple[Sequence[float], Sequence[float]] | None = None,
                    band_label: str = "", held_out: str = "held-out") -> str:
    """Loss and accuracy per epoch, the student's model and the reference on the same axes
    (accuracies are fractions 0..1 in EpochStats, drawn as percent). `band` is the reference's
    per-epoch held-out accuracy (low, high) over its seeds, shaded behind the curves;
    `held_out` names the split the held-out curves are measured on (legend). A localization
    history (EpochStats.val_iou) adds a third panel: the held-out boxes' mean IoU per epoch."""
    iou = any(h.val_iou is not None for h in student)
    with matplotlib.rc_context(CHART_STYLE):
        fig = new_figure(7.0, 2.5)
        if iou:
            fig.subplots_adjust(left=0.07, right=0.99, bottom=0.17, top=0.9, wspace=0.3)
            loss_ax, acc_ax, iou_ax = fig.subplots(1, 3)
        else:
            fig.subplots_adjust(left=0.085, right=0.99, bottom=0.17, top=0.9, wspace=0.22)
            loss_ax, acc_ax = fig.subplots(1, 2)
        if band is not None and len(band[0]) and len(band[0]) == len(band[1]):
            epochs = list(range(1, len(band[0]) + 1))
            acc_ax.fill_between(epochs, [100 * v for v in band[0]], [100 * v for v in band[1]],
                                color=REFERENCE, alpha=0.2, linewidth=0,
                                label=band_label or "reference band")
        runs = [("your model", student, STUDENT, "o")]
        if reference:
            runs.append(("reference", reference, REFERENCE, "s"))
        for label, hist, colour, marker in runs:
            epochs = [h.epoch for h in hist]
            loss_ax.plot(epochs, [h.train_loss for h in hist], color=colour, marker=marker,
                         label=label)
            acc_ax.plot(epochs, [100 * h.val_accuracy for h in hist], color=colour,
                        marker=marker, label=f"{label}, {held_out}")
            acc_ax.plot(epochs, [100 * h.train_accuracy for h in hist], color=colour,
                        marker=marker, linestyle="--", markerfacecolor="white",
                        label=f"{label}, training")
        loss_ax.set(title="Training loss", xlabel="epoch", ylabel="cross-entropy loss")
        acc_ax.set(title="Accuracy", xlabel="epoch", ylabel="accuracy (%)")
        acc_ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        axes = [loss_ax, acc_ax]
        if iou:
            loss_ax.set(ylabel="loss (class + box)")
            for label, hist, colour, marker in runs:
                points = [(h.epoch, h.val_iou) for h in hist if h.val_iou is not None]
                if points:
                    iou_ax.plot(*zip(*points), color=colour, marker=marker,
                                label=f"{label}, {held_out}")
            iou_ax.set(title="Mean IoU of the boxes", xlabel="epoch", ylabel="mean IoU",
                       ylim=(0, 1))
            axes.append(iou_ax)
        for ax in axes:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(loc="best")
        return to_svg(fig, prefix, fmt)


def confusion_heatmap(confusion: Sequence[Sequence[int]], class_names: Sequence[str], *,
                      prefix: str = "confusion", fmt: str = "svg",
                      width_in: float | None = None) -> str:
    """Row-normalised confusion matrix (percent of the true class), class names on both axes.

    Cells carry their percentage when there are at most ANNOTATE_MAX_CLASSES classes. With many
    classes (200 for Tiny ImageNet) the names are set small enough to fit: the chart is vector,
    so they can be read by zooming into the PDF; and the colour scale is a square root, so that
    confusions of a few percent still show beside a diagonal of 50%.
    """
    pct = row_normalised_percent(confusion)
    n = pct.shape[0]
    names = list(class_names)[:n] + [str(i) for i in range(len(class_names), n)]
    names = [name if len(name) <= 24 else name[:23] + "…" for name in names]
    many = n > 12
    norm = PowerNorm(0.5, 0, 100) if many else Normalize(0, 100)
    label_size = max(1.2, min(6.0, 360 / n)) if many else 7.0
    # Margins by hand (constrained layout would draw everything twice): room for the longest
    # class name (DejaVu Sans Condensed is about 0.55 em per character), its tick and the
    # axis label; x labels stand upright with many classes and at 45 degrees with few.
    name_in = max(len(name) for name in names) * label_size * 0.55 / 72
    left = name_in + 0.38
    bottom = name_in * (1.0 if many else 0.75) + 0.4
    top, right = 0.08, 0.72                  # right: the colour bar, its ticks and label
    # long names widen the figure (up to the page) rather than shrink the matrix
    width = width_in or min(7.0, max(3.6 if not many else 6.4, left + right + 2.4))
    side = width - left - right
    height = bottom + side + top
    with matplotlib.rc_context(CHART_STYLE):
        fig = new_figure(width, height)
        ax = fig.add_axes((left / width, bottom / height, side / width, side / height))
        ax.grid(False)
        image = ax.imshow(pct, cmap="Blues", norm=norm, interpolation="none", aspect="equal")
        ticks = np.arange(n)
        ax.set_xticks(ticks, names, rotation=90 if many else 45,
                      ha="center" if many else "right",
                      rotation_mode="default" if many else "anchor", fontsize=label_size)
        ax.set_yticks(ticks, names, fontsize=label_size)
        ax.tick_params(length=0 if many else 2, pad=1 if many else 2)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        for spine in ax.spines.values():
            spine.set_visible(False)
        if n <= ANNOTATE_MAX_CLASSES:
            for i in range(n):
                for j in range(n):
                    value = pct[i, j]
                    ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=6.5,
                            color="white" if value > 55 else "#222222")
        cax = fig.add_axes(((left + side + 0.1) / width, (bottom + 0.1 * side) / height,
                            0.11 / width, 0.8 * side / height))
        bar = fig.colorbar(image, cax=cax)
        bar.set_label("% of the true class")
        bar.outline.set_visible(False)
        bar.ax.tick_params(labelsize=6.5)
        return to_svg(fig, prefix, fmt)


def score_histogram(totals: Sequence[float], possible: float, *, prefix: str = "scores",
                    fmt: str = "svg") -> str:
    """Distribution of total points over the class, in bins of a tenth of the maximum."""
    values = np.asarray(list(totals), dtype=float)
    top = possible if possible > 0 else (float(values.max()) if values.size else 1.0)
    with matplotlib.rc_context(CHART_STYLE):
        fig = new_figure(7.0, 2.4)
        fig.subplots_adjust(left=0.075, right=0.975, bottom=0.18, top=0.96)
        ax = fig.subplots()
        ax.hist(values, bins=np.linspace(0, top, 11), color=STUDENT, edgecolor="white",
                linewidth=0.8)
        if values.size:
            median = float(np.median(values))
            ax.axvline(median, color=ACCENT, linestyle="--", linewidth=1.1,
                       label=f"median {median:.4g}")
            ax.legend(loc="upper left")
        ax.set(xlim=(0, top), xlabel=f"total points (of {top:g})", ylabel="students")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="x", visible=False)
        return to_svg(fig, prefix, fmt)


def sparsity_bars(names: Sequence[str], sparsity: Sequence[float], *,
                  linear: Sequence[bool] | None = None, overall: float | None = None,
                  prefix: str = "sparsity", fmt: str = "svg") -> str:
    """Per-layer sparsity of a checkpoint (fractions 0..1 of exact zeros, drawn as percent):
    one horizontal bar per convolution or linear layer, in the model's order from the top, linear
    layers in the accent colour, and the overall figure as a dashed line. Long module paths keep
    their ends ("…body_op.2.conv1.0.conv")."""
    n = len(names)
    values = [100 * float(s) for s in sparsity]
    if len(values) != n:
        raise ValueError(f"sparsity: expected {n} values (one per name), got {len(values)}")
    labels = [name if len(name) <= 34 else "…" + name[-33:] for name in names]
    size = 6.5 if n <= 40 else max(2.5, 6.5 * 40 / n)
    row = max(0.05, min(0.16, 7.5 / max(n, 1)))             # inches per bar: at most ~8 in tall
    left = (max((len(s) for s in labels), default=4) * size * 0.55 / 72) + 0.3
    height = 0.75 + row * max(n, 1)
    width = 7.0
    flags = list(linear) if linear is not None else [False] * n
    with matplotlib.rc_context(CHART_STYLE):
        fig = new_figure(width, height)
        fig.subplots_adjust(left=left / width, right=0.97, bottom=0.5 / height,
                            top=1 - 0.25 / height)
        ax = fig.subplots()
        ys = np.arange(n)
        colours = [ACCENT if flag else STUDENT for flag in flags]
        ax.barh(ys, values, height=0.72, color=colours, linewidth=0)
        for y, value in zip(ys, values):         # inside the bar (clear of the overall line)
            inside = value >= 12
            ax.text(value - 0.8 if inside else value + 0.8, y, f"{value:.0f}%", va="center",
                    ha="right" if inside else "left", fontsize=min(size, 6.0),
                    color="white" if inside else "#333333")
        if overall is not None:
            ax.axvline(100 * overall, color=REFERENCE, linestyle="--", linewidth=1.0,
                       label=f"overall {100 * overall:.1f}%")
        ax.set_yticks(ys, labels, fontsize=size)
        ax.set_ylim(n - 0.5, -0.5)                          # first layer on top
        ax.set_xlim(0, 100)
        ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.set_xlabel("weights that are exactly zero (% of the layer)")
        ax.grid(axis="y", visible=False)
        ax.set_axisbelow(True)                              # the grid behind the bars
        ax.tick_params(axis="y", length=0, pad=2)
        handles = [Patch(color=STUDENT, label="convolution")]
        if any(flags):
            handles.append(Patch(color=ACCENT, label="linear"))
        if overall is not None:
            handles += ax.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3,
                  borderaxespad=0.1)
        return to_svg(fig, prefix, fmt)
