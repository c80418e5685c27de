"""Classification metrics as pure functions over integer numpy arrays: validate, then compute.

Conventions (as DLStudio prints them): a confusion matrix has one row per true class and one
column per predicted class; "per-class accuracy" is recall (the diagonal over the row sum).
Validation errors are ValueErrors that name the argument and the value got; scored_split's
SpecError is the spec's fault (a split that leaves a part of the scored images empty).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from grader.errors import SpecError
from grader.grading.predictions import public_mask
from grader.results import Scores


def confusion_matrix(preds, target, num_classes: int) -> np.ndarray:
    """Counts (int64, num_classes x num_classes): [t, p] = samples of class t predicted as p."""
    preds, target = _validate(preds, target, num_classes)
    flat = target * num_classes + preds
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes,
                                                                          num_classes)


def accuracy(preds, target, num_classes: int) -> float:
    """Fraction 0..1 of predictions equal to the target; needs at least one sample."""
    preds, target = _validate(preds, target, num_classes)
    if target.size == 0:
        raise ValueError("target is empty (got 0 samples); accuracy needs at least one")
    return float(np.count_nonzero(preds == target) / target.size)


def per_class_accuracy(preds, target, num_classes: int) -> np.ndarray:
    """Recall per class (float64, fractions 0..1).

    A class with no samples in target gets 0.0, not NaN, so results stay JSON-safe; tell it
    apart from a class that was always missed by its row of the confusion matrix (all zeros).
    """
    return _recall(confusion_matrix(preds, target, num_classes))


def row_normalised_percent(confusion) -> np.ndarray:
    """Each row as percentages of its sum (rows sum to 100); a row with no samples is zeros."""
    confusion = _validate_confusion(confusion)
    totals = confusion.sum(axis=1, keepdims=True)
    return 100.0 * confusion / np.maximum(totals, 1)


def most_confused_pairs(confusion, class_names: Sequence[str],
                        k: int = 5) -> list[tuple[str, str, int, float]]:
    """The k largest off-diagonal cells: (true name, predicted name, count, percent of true).

    Cells with a zero count are left out; ties are broken by true class, then predicted class.
    """
    confusion = _validate_confusion(confusion)
    n = confusion.shape[0]
    if len(class_names) != n:
        raise ValueError(f"class_names must have {n} names (the confusion matrix's size); "
                         f"got {len(class_names)}")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 0:
        raise ValueError(f"k must be a non-negative integer; got {k!r}")
    percent = row_normalised_percent(confusion)
    cells = [(-int(confusion[t, p]), t, p) for t in range(n) for p in range(n)
             if t != p and confusion[t, p] > 0]
    return [(class_names[t], class_names[p], -neg, float(percent[t, p]))
            for neg, t, p in sorted(cells)[:k]]


def scores(preds, target, num_classes: int) -> Scores:
    """Accuracy, recall per class and the confusion matrix, as plain Python numbers."""
    confusion = confusion_matrix(preds, target, num_classes)
    total = int(confusion.sum())
    if total == 0:
        raise ValueError("target is empty (got 0 samples); scores need at least one")
    return Scores(accuracy=float(np.trace(confusion) / total),
                  per_class=[float(r) for r in _recall(confusion)],
                  confusion=confusion.tolist())


def split_scores(preds, target, num_classes: int, public) -> Scores:
    """Scores of the private part (where `public` is False), with the public part's accuracy
    and size: a public/private split of the held-out set. `public` is a boolean mask as long
    as target; the private part needs at least one sample, the public part may be empty
    (public_accuracy None)."""
    preds, target = _validate(preds, target, num_classes)
    public = np.asarray(public)
    if public.dtype != np.bool_ or public.shape != target.shape:
        raise ValueError(f"public must be a boolean mask of {target.size} samples; got dtype "
                         f"{public.dtype} and shape {public.shape}")
    private = scores(preds[~public], target[~public], num_classes)
    count = int(np.count_nonzero(public))
    return Scores(accuracy=private.accuracy, per_class=private.per_class,
                  confusion=private.confusion, public_images=count,
                  public_accuracy=accuracy(preds[public], target[public], num_classes)
                  if count else None)


def scored_split(images: int, scored: int, fraction: float, seed: int) -> np.ndarray:
    """public_mask's first `scored` entries: which of the held-out images the retrained models
    are scored on (`[training] eval_images`) are public. Raises SpecError when either part of
    them is empty (a small eval_images under a split): the private part decides the points
    and the public part is what students see, so neither may be empty."""
    mask = public_mask(images, fraction, seed)[:scored]
    public = int(np.count_nonzero(mask))
    if 0 < public < mask.size:
        return mask
    part, other = ("private", "public") if public else ("public", "private")
    raise SpecError(
        f"[held_out] public_fraction = {fraction:g} and [training] eval_images = {scored:,} "
        f"leave the {part} part of the scored held-out images empty (all {mask.size:,} are "
        f"{other}), so the retrained models cannot be scored on it; raise [training] "
        f"eval_images (0 scores every one of the {images:,} held-out images) or change "
        "[held_out] public_fraction")


def _recall(confusion: np.ndarray) -> np.ndarray:
    totals = confusion.sum(axis=1)
    return np.diagonal(confusion) / np.maximum(totals, 1)


def _validate(preds, target, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) \
            or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer; got {num_classes!r}")
    arrays = []
    for name, value in (("preds", preds), ("target", target)):
        array = np.asarray(value)
        if array.ndim != 1:
            raise ValueError(f"{name} must be 1-D; got shape {array.shape}")
        if array.size == 0:
            array = array.astype(np.int64)
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must hold integers; got dtype {array.dtype}")
        array = array.astype(np.int64)   # target * num_classes must not overflow uint8
        bad = np.flatnonzero((array < 0) | (array >= num_classes))
        if bad.size:
            raise ValueError(f"{name} must hold class indexes 0 to {num_classes - 1}; got "
                             f"{array[bad[0]]} at index {bad[0]}")
        arrays.append(array)
    preds, target = arrays
    if preds.shape != target.shape:
        raise ValueError(f"preds and target must have the same length; got {preds.size} "
                         f"and {target.size}")
    return preds, target


def _validate_confusion(confusion) -> np.ndarray:
    array = np.asarray(confusion)
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] == 0:
        raise ValueError(f"confusion must be a non-empty square matrix; got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"confusion must hold integer counts; got dtype {array.dtype}")
    if (array < 0).any():
        raise ValueError(f"confusion must hold counts >= 0; got {array.min()}")
    return array.astype(np.int64)
