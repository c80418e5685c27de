"""Box metrics as pure functions: validate, then compute (single-object localization).

A box is x1, y1, x2, y2 (top-left and bottom-right corners), scaled to 0..1 as ECE 60146 HW5
writes them. The IoU of a predicted and a true box is torchvision.ops.box_iou's, taken pair by
pair (the diagonal, a chunk at a time); a degenerate box (x2 < x1 or y2 < y1, or of no area)
overlaps nothing: its IoU is 0, never NaN. torch and torchvision are imported inside the
functions that need them, so `grader check` (which scores no boxes) never imports them.
Validation errors are ValueErrors that name the argument and the value got.
"""

from __future__ import annotations

import base64
import io

import numpy as np

from grader.results import BoxExample, BoxScores

BOX_FORMAT = "x1, y1, x2, y2 scaled to 0..1"
SLACK = 1e-6            # a written box value this far outside 0..1 is rounding, not a fault
CHUNK = 512             # pairs per torchvision.ops.box_iou call: a CHUNK x CHUNK matrix
THUMBNAIL = 128         # an example's image is at most this wide and high


def box_problem(values, names=("x1", "y1", "x2", "y2")) -> tuple[str, str] | None:
    """What is wrong with one written box (four finite numbers named `names`), as (kind,
    message), or None: each value in 0..1 (give or take SLACK), x1 <= x2 and y1 <= y2."""
    for name, value in zip(names, values):
        if not -SLACK <= value <= 1 + SLACK:
            hint = " (pixels? divide by the image's width and height)" if value > 1.5 else ""
            return ("box value outside 0..1",
                    f"{name} {value:g} is outside 0..1; expected {BOX_FORMAT}{hint}")
    got = [f"{names[j]} {values[j]:g} < {names[i]} {values[i]:g}" for i, j in ((0, 2), (1, 3))
           if values[j] < values[i]]
    if got:
        return ("box corners out of order",
                f"box has {' and '.join(got)}; expected {BOX_FORMAT} with x1 <= x2 and y1 <= y2")
    return None


def valid_as_xywh(values) -> bool:
    """Whether four values in 0..1 would be a box inside the image read as x, y, width,
    height (x + width <= 1 and y + height <= 1): what an x1, y1, x2, y2 fault looks like when
    it is that format."""
    x, y, w, h = values
    return min(values) >= -SLACK and x + w <= 1 + SLACK and y + h <= 1 + SLACK


def pair_iou(pred, true) -> np.ndarray:
    """The IoU of pred[i] with true[i] for every i (float64, 0..1); both [N, 4] x1, y1, x2, y2."""
    pred, true = _boxes("pred", pred), _boxes("true", true)
    if pred.shape != true.shape:
        raise ValueError(f"pred and true must hold the same number of boxes; got {len(pred)} "
                         f"and {len(true)}")
    import torch
    from torchvision.ops import box_iou

    out = np.zeros(len(pred), dtype=np.float64)
    p, t = torch.from_numpy(pred), torch.from_numpy(true)
    for start in range(0, len(pred), CHUNK):
        stop = start + CHUNK
        out[start:stop] = box_iou(p[start:stop], t[start:stop]).diagonal().numpy()
    degenerate = ~(_proper(pred) & _proper(true))
    out[degenerate | ~np.isfinite(out)] = 0.0
    return np.clip(out, 0.0, 1.0)


def box_scores(pred, true, threshold: float, *, images=None, labels=None, predicted=None,
               examples: int = 6, public=None) -> BoxScores:
    """Mean IoU, the share of boxes with IoU >= threshold, the IoUs themselves, and a few
    examples for the report: spread over the IoU range (best, ..., median, ..., worst),
    ties by position, so the same boxes always give the same examples. With `images`
    (uint8 [N', H, W, C] or [N', H, W], N' >= N, the held-out images in the same order)
    each example carries its image as a PNG thumbnail; `labels` and `predicted` (class
    indexes) name the example's true and predicted class (-1 when not given).

    Under a public/private split (`public`: a boolean mask of the N boxes) every figure is
    the private part's (where public is False, at least one box), and public_mean_iou and
    public_hits the public part's (None when it is empty)."""
    ious = pair_iou(pred, true)
    pred, true = _boxes("pred", pred), _boxes("true", true)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or \
            not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a number 0 to 1; got {threshold!r}")
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 0:
        raise ValueError(f"examples must be a non-negative integer; got {examples!r}")
    n = len(ious)
    mask = np.zeros(n, dtype=bool) if public is None else np.asarray(public)
    if mask.dtype != np.bool_ or mask.shape != (n,):
        raise ValueError(f"public must be a boolean mask of {n} boxes; got dtype {mask.dtype} "
                         f"and shape {mask.shape}")
    private = np.flatnonzero(~mask)
    if private.size == 0:
        raise ValueError(f"no box to score: got {n} boxes, "
                         + ("all of them public" if n else "none"))
    labels = _classes("labels", labels, n)
    predicted = _classes("predicted", predicted, n)
    images = _images(images, n)
    shown = [_example(int(i), labels, predicted, pred, true, ious, images)
             for i in spread(private, ious[private], examples)]
    public_ious = ious[mask]
    return BoxScores(mean_iou=float(ious[private].mean()),
                     hits=float(np.mean(ious[private] >= threshold)), threshold=float(threshold),
                     ious=[round(float(v), 4) for v in ious[private]], examples=shown,
                     public_mean_iou=float(public_ious.mean()) if public_ious.size else None,
                     public_hits=float(np.mean(public_ious >= threshold))
                     if public_ious.size else None)


def spread(positions: np.ndarray, ious: np.ndarray, k: int) -> list[int]:
    """k of the positions, evenly spaced over their IoUs from best to worst (the best and the
    worst always among them when k >= 2); ties broken by position."""
    order = positions[np.lexsort((positions, -ious))]
    if k <= 0 or order.size == 0:
        return []
    if k >= order.size:
        return [int(i) for i in order]
    if k == 1:
        return [int(order[order.size // 2])]
    picks = np.round(np.linspace(0, order.size - 1, k)).astype(int)
    return [int(order[i]) for i in dict.fromkeys(picks.tolist())]


def thumbnail(image: np.ndarray, size: int = THUMBNAIL) -> str:
    """The image (uint8 H x W x C, or H x W) as a base64 PNG at most size x size."""
    from PIL import Image

    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or \
            (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ValueError(f"image must be uint8 H x W x 1, 3 or 4 (or H x W); got dtype "
                         f"{array.dtype} and shape {array.shape}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    picture = Image.fromarray(np.ascontiguousarray(array))
    picture.thumbnail((size, size))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _example(i: int, labels, predicted, pred, true, ious, images) -> BoxExample:
    return BoxExample(index=i, label=int(labels[i]), predicted=int(predicted[i]),
                      box=[round(float(v), 4) for v in true[i]],
                      predicted_box=[round(float(v), 4) for v in pred[i]],
                      iou=round(float(ious[i]), 4),
                      thumbnail=thumbnail(images[i]) if images is not None else "")


def _proper(boxes: np.ndarray) -> np.ndarray:
    """Boxes with some area: x2 > x1 and y2 > y1."""
    return (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])


def _boxes(name: str, value) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{name} must be boxes of shape [N, 4] (x1, y1, x2, y2); got shape "
                         f"{array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must hold numbers; got dtype {array.dtype}")
    array = array.astype(np.float64)
    bad = np.argwhere(~np.isfinite(array))
    if bad.size:
        row, column = bad[0]
        raise ValueError(f"{name} must hold finite numbers; got {array[row, column]} at box "
                         f"{row}, coordinate {column}")
    return array


def _classes(name: str, value, n: int) -> np.ndarray:
    if value is None:
        return np.full(n, -1, dtype=np.int64)
    array = np.asarray(value)
    if array.ndim != 1 or len(array) < n or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be at least {n} class indexes; got dtype {array.dtype} "
                         f"and shape {array.shape}")
    return array[:n].astype(np.int64)


def _images(value, n: int):
    if value is None:
        return None
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        value = np.asarray(value)
    if value.dtype != np.uint8 or value.ndim not in (3, 4) or value.shape[0] < n:
        raise ValueError(f"images must be at least {n} uint8 images (N x H x W x C); got "
                         f"dtype {value.dtype} and shape {value.shape}")
    return value
