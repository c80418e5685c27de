"""The localization and sequence arrays of a dataset .npz, checked once on the trusted side.

grader.inputs.data.load_npz reads the file; these functions check what only the task kinds
need and return the arrays split into what a sandbox may see (extra: train_boxes,
train_lengths, test_lengths, vectors) and what it may not (test_boxes). Each error names the
key, the first bad row and what was expected.

- localization: box_train, box_test, floats [N, 4]: x1, y1, x2, y2 scaled to 0..1,
  x1 <= x2 and y1 <= y2 (COCO's x, y, width, height must be converted first);
- sequence: x_train, x_test integer token ids [N, T] (0 pads, < vocab_size when the spec gives
  one), len_train, len_test 1..T, optional vectors floats [V, D] (V > every id; D = the spec's
  embedding_dim when it gives one; required then).
"""

from __future__ import annotations

import numpy as np

from grader.errors import InputError

BOX_KEYS = ("box_train", "box_test")
SEQUENCE_KEYS = ("len_train", "len_test")


def _first(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0])


def check_boxes(arrays: dict[str, np.ndarray], path: str) -> tuple[dict, np.ndarray]:
    """({"train_boxes": ...}, test_boxes), both float32 [N, 4]."""
    boxes = {}
    for split in ("train", "test"):
        key, count = f"box_{split}", len(arrays[f"x_{split}"])
        if key not in arrays:
            raise InputError(f"key '{key}' missing: a localization dataset needs box_train and "
                             f"box_test, [N, 4] boxes x1, y1, x2, y2 scaled to 0..1 (found "
                             f"{', '.join(arrays)})", path=path)
        box = arrays[key]
        if box.shape != (count, 4) or not np.issubdtype(box.dtype, np.floating):
            raise InputError(f"key '{key}': expected floats [{count}, 4] (x1, y1, x2, y2 scaled "
                             f"to 0..1, one box per image of x_{split}), got {box.dtype} "
                             f"{box.shape}", path=path)
        box = box.astype(np.float32)
        if not np.isfinite(box).all():
            row = _first(~np.isfinite(box).all(1))
            raise InputError(f"key '{key}': row {row} is {box[row].tolist()}: expected finite "
                             "coordinates", path=path)
        outside = ((box < 0) | (box > 1)).any(1)
        if outside.any():
            row = _first(outside)
            raise InputError(f"key '{key}': row {row} is {_fmt(box[row])}: expected x1, y1, "
                             "x2, y2 scaled to 0..1 (divide pixel coordinates by the image's "
                             "width and height)", path=path)
        reversed_ = (box[:, 2] < box[:, 0]) | (box[:, 3] < box[:, 1])
        if reversed_.any():
            row = _first(reversed_)
            raise InputError(f"key '{key}': row {row} is {_fmt(box[row])}, with x2 < x1 or "
                             "y2 < y1: expected x1, y1, x2, y2 corners (x, y, width, height "
                             "boxes, as COCO writes them, must be converted: x2 = x + width, "
                             "y2 = y + height)", path=path)
        boxes[split] = box
    return {"train_boxes": boxes["train"]}, boxes["test"]


def check_sequences(arrays: dict[str, np.ndarray], path: str, *, vocab_size: int = 0,
                    embedding_dim: int = 0) -> tuple[dict, dict]:
    """({"x_train": int64 ids, "x_test": ...}, extra: train_lengths, test_lengths[, vectors])."""
    ids, extra = {}, {}
    for split in ("train", "test"):
        key = f"x_{split}"
        x = arrays[key]
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
            raise InputError(f"key '{key}': expected integer token ids [N, T] (0 pads), got "
                             f"{x.dtype} {x.shape}", path=path)
        x = x.astype(np.int64)
        high = vocab_size if vocab_size else None
        bad = (x < 0) | (x >= high) if high else x < 0
        if bad.any():
            row = _first(bad.any(1))
            value = int(x[row][bad[row]][0])
            raise InputError(f"key '{key}': row {row} holds token id {value}: expected ids "
                             + (f"0..{high - 1} (vocab_size = {high}; 0 pads)" if high else
                                ">= 0 (0 pads)"), path=path)
        lkey = f"len_{split}"
        if lkey not in arrays:
            raise InputError(f"key '{lkey}' missing: a sequence dataset needs len_train and "
                             f"len_test, each sequence's length (found {', '.join(arrays)})",
                             path=path)
        length = arrays[lkey]
        if length.shape != (len(x),) or not np.issubdtype(length.dtype, np.integer):
            raise InputError(f"key '{lkey}': expected {len(x)} integer lengths (one per row of "
                             f"{key}), got {length.dtype} {length.shape}", path=path)
        length = length.astype(np.int64)
        wrong = (length < 1) | (length > x.shape[1])
        if wrong.any():
            row = _first(wrong)
            raise InputError(f"key '{lkey}': row {row} is {int(length[row])}: expected "
                             f"1..{x.shape[1]} (the width of {key})", path=path)
        past = (np.arange(x.shape[1])[None, :] >= length[:, None]) & (x != 0)
        if past.any():
            row = _first(past.any(1))
            raise InputError(f"key '{key}': row {row} has token ids after its length "
                             f"({int(length[row])}, {lkey}): expected 0 (padding) there",
                             path=path)
        ids[key] = x
        extra[f"{split}_lengths"] = length
    if "vectors" in arrays:
        extra["vectors"] = _vectors(arrays["vectors"], ids, path, embedding_dim)
    elif embedding_dim:
        raise InputError(f"key 'vectors' missing: the assignment feeds the model word vectors "
                         f"(embedding_dim = {embedding_dim}): expected a float table "
                         f"[V, {embedding_dim}] whose row i is token i's vector", path=path)
    return ids, extra


def _vectors(table: np.ndarray, ids: dict, path: str, dim: int) -> np.ndarray:
    top = max(int(x.max(initial=0)) for x in ids.values())
    if table.ndim != 2 or not np.issubdtype(table.dtype, np.floating):
        raise InputError(f"key 'vectors': expected a float table [V, D] (row i: token i's "
                         f"vector), got {table.dtype} {table.shape}", path=path)
    if table.shape[0] <= top:
        raise InputError(f"key 'vectors': {table.shape[0]} rows, but the ids go up to {top}: "
                         "expected a row for every id", path=path)
    if dim and table.shape[1] != dim:
        raise InputError(f"key 'vectors': vectors of {table.shape[1]} values; the assignment's "
                         f"embedding_dim is {dim}", path=path)
    if not np.isfinite(table).all():
        raise InputError(f"key 'vectors': row {_first(~np.isfinite(table).all(1))} is not "
                         "finite: expected finite floats", path=path)
    return table.astype(np.float32)


def _fmt(row: np.ndarray) -> str:
    return "[" + ", ".join(f"{float(v):.4g}" for v in row) + "]"
