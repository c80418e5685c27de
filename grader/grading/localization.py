"""Localization on the trusted side: the boxes a retrained model predicted (files the sandbox
wrote) and the boxes of predictions.csv, scored against the held-out boxes, which never enter a
sandbox (the prepared data's `test_boxes`, PreparedData.boxes).

The harness lists a localization model's box files in its report (TrainReport.box_files:
per-epoch [E, S, 4] and final [S, 4] float32, S the scored held-out images); they are untrusted
and read like the label files (no links, a size cap, no pickles, the exact shape, finite
values) or refused, which fails the model's training as missing predictions do. The figures
are grader.grading.boxes.box_scores's, on the same scored images as the labels
(retrain.scored_labels) and, under a [held_out] split, on the same private part.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grader.grading.boxes import box_scores, pair_iou
from grader.grading.predictions import public_mask
from grader.results import PredictionsReport, Scores, TrainingResult
from grader.sandbox.reports import TrainReport
from grader.spec import Assignment

if TYPE_CHECKING:
    from grader.inputs.prepared import PreparedData

MAX_BYTES = 64 * 1024 * 1024    # largest .npy file of predictions read back from a sandbox


@dataclass(frozen=True)
class BoxTruth:
    """What a localization model's boxes are scored against: the held-out boxes of the scored
    images, their labels, and the held-out images for the report's examples."""

    boxes: np.ndarray               # float [S, 4], x1, y1, x2, y2 in 0..1
    labels: np.ndarray              # int64 [S]
    threshold: float                # [task] iou_threshold: a box "hits" at or above it
    images: np.ndarray | None = None    # uint8 [N >= S, H, W, C] (memory-mapped), or None
    public: np.ndarray | None = None    # the scored images' public mask under a split


def held_out_boxes(data: PreparedData) -> np.ndarray | None:
    """The prepared data's held-out boxes (float [N, 4]); None when it has none."""
    boxes = getattr(data, "boxes", None)
    if boxes is None:
        return None
    boxes = np.asarray(boxes)
    return boxes if boxes.ndim == 2 and boxes.shape[1] == 4 else None


def held_out_images(data: PreparedData) -> np.ndarray | None:
    """The held-out images (memory-mapped uint8 N x H x W x C), for the examples' thumbnails;
    None when the prepared data has no such images."""
    try:
        images = np.load(Path(data.folder) / "test_images.npy", mmap_mode="r",
                         allow_pickle=False)
    except (OSError, ValueError, AttributeError):
        return None
    return images if images.dtype == np.uint8 and images.ndim in (3, 4) else None


def box_truth(data: PreparedData, labels: np.ndarray, threshold: float,
              public: np.ndarray | None = None) -> BoxTruth | None:
    """The truth for the scored held-out images (the first len(labels)); None without
    held-out boxes (then no box scores: a relative or iou rubric item says so)."""
    boxes = held_out_boxes(data)
    if boxes is None or len(boxes) < len(labels):
        return None
    return BoxTruth(boxes=boxes[:len(labels)], labels=np.asarray(labels), threshold=threshold,
                    images=held_out_images(data), public=public)


def load_npy(out_dir: Path, name: str | None) -> np.ndarray | None:
    """An array the sandbox wrote to out/ (by base name); None for a missing file, a link,
    one over MAX_BYTES, a pickle or anything np.load refuses."""
    if name is None:
        return None
    path = Path(out_dir) / Path(name).name
    try:
        if path.is_symlink() or path.stat().st_size > MAX_BYTES:
            return None
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if not isinstance(array, np.ndarray):    # a .npz (zip) under a .npy name
        array.close()
        return None
    return array


def load_boxes(out_dir: Path, name: str | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """Predicted boxes of exactly `shape` (floats), as float64; else None. A box with a NaN
    or infinite coordinate (an unbounded head on one image) becomes the empty box [0, 0, 0, 0],
    which scores IoU 0: it costs that image's IoU, not the model's other figures."""
    boxes = load_npy(out_dir, name)
    if boxes is None or boxes.shape != shape or not np.issubdtype(boxes.dtype, np.floating):
        return None
    boxes = boxes.astype(np.float64)
    bad = ~np.isfinite(boxes).all(axis=-1)
    boxes[bad] = 0.0
    return boxes


def with_boxes(result: TrainingResult, report: TrainReport | None, out_dir: Path,
               truth: BoxTruth) -> TrainingResult:
    """A retrained localization model's result with its boxes scored: each epoch's mean IoU
    (EpochStats.val_iou, the private part's under a split) and Scores.boxes. A model that
    trained but left no valid box files fails, as one without label files does."""
    if not result.ok or report is None:
        return result
    files, epochs, n = report.box_files, len(result.history), len(truth.labels)
    per_epoch = load_boxes(out_dir, files[0] if files else None, (epochs, n, 4))
    final = load_boxes(out_dir, files[-1] if files else None, (n, 4))
    if per_epoch is None or final is None:
        return replace(result, ok=False, scores=None, error=(
            "training produced no valid boxes for the held-out images (the box head's "
            f"output must be {n:,} x 4 finite numbers)"))
    private = ~truth.public if truth.public is not None else np.ones(n, dtype=bool)
    history = [replace(e, val_iou=float(pair_iou(per_epoch[i][private],
                                                 truth.boxes[private]).mean()))
               for i, e in enumerate(result.history)]
    predicted = _final_labels(out_dir, report, n)
    scores = box_scores(final, truth.boxes, truth.threshold, images=truth.images,
                        labels=truth.labels, predicted=predicted, public=truth.public)
    return replace(result, history=history, scores=replace(result.scores, boxes=scores))


def with_predicted_boxes(scores: Scores | None, report: PredictionsReport | None,
                         data: PreparedData, assignment: Assignment) -> Scores | None:
    """predictions.csv's scores with its boxes scored against the held-out boxes
    (Scores.boxes), under the spec's [held_out] split as its labels are; the scores as they
    were when there are no boxes on either side (not a localization task, a file without
    boxes, prepared data without held-out boxes, or a different number of rows)."""
    truth = getattr(data, "held_out_boxes", None)     # --labels' boxes, else the test split's
    truth = held_out_boxes(data) if truth is None else np.asarray(truth)
    if scores is None or report is None or report.boxes is None or truth is None \
            or len(report.boxes) != len(truth):
        return scores
    split = assignment.held_out
    public = public_mask(len(truth), split.public_fraction, split.seed) if split.split \
        else None
    labels = getattr(data, "held_out", None)
    labels = labels if labels is not None and len(labels) == len(truth) else None
    predicted = np.asarray(report.labels, dtype=np.int64) if report.labels else None
    return replace(scores, boxes=box_scores(
        np.asarray(report.boxes, dtype=np.float64), truth, assignment.task.iou_threshold,
        # the held-out images are in the test split's order: not a permuted --labels file's
        images=None if (Path(data.folder) / "held_out_boxes.npy").exists()
        else held_out_images(data), labels=labels, predicted=predicted, public=public))


def _final_labels(out_dir: Path, report: TrainReport, n: int) -> np.ndarray | None:
    """The final predicted labels (already checked by retrain.score_training), for the
    examples' captions."""
    files = report.predictions_files
    labels = load_npy(out_dir, files[-1] if files else None)
    if labels is None or labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        return None
    return labels.astype(np.int64)
