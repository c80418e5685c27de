"""The held-out split: what students get (the test inputs and a sample predictions file) and
what the instructor keeps (labels.csv), from a Dataset's test split (grader.inputs.data).

Classification and localization students get test_images.npz (key "images"); sequence
students get test_sequences.npz (ids, lengths, and the word vectors when the data has them).
Localization's CSV files carry the box columns after the label (x1, y1, x2, y2 scaled to 0..1).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.errors import InputError

BOX_COLUMNS = ("x1", "y1", "x2", "y2")      # localization's default box columns


@dataclass(frozen=True)
class SplitFiles:
    """What `split_test_set` wrote."""

    images: Path                    # for students: test_images.npz, key "images", N x H x W x C
    #                                 (sequence: test_sequences.npz: ids, lengths[, vectors])
    sample_predictions: Path        # for students: sample_predictions.csv, "id,label", all 0
    #                                 (localization: and the box columns, the whole image)
    labels: Path                    # instructor only: labels.csv, "id,label" (and the boxes)


def split_test_set(dataset, out_dir: str | Path, *,
                   permute_seed: int | None = None, predictions=None) -> SplitFiles:
    """Write into out_dir what students get (test_images.npz, sample_predictions.csv) and what
    the instructor keeps (labels.csv: hand out the first two only). With permute_seed, the
    images are put in a secret order (the same for the same seed) and labels.csv follows it:
    predictions made in the dataset's public order score at chance.

    `predictions` (the assignment's PredictionsSpec) decides the CSV files' header (its
    id_column and label_column, e.g. the course's `Id,Label`) and the first id (first_id); ids
    run first_id .. first_id + N - 1 in the written order. Without it: `id,label` from 0. The
    spec's row count must match the test split, or a student could never hand in a valid file.

    The dataset's kind shows in what it holds: held-out boxes (localization) add the box
    columns (the spec's box_columns, else x1, y1, x2, y2) to both CSV files; test lengths
    (sequence) make the students' file test_sequences.npz with the ids and lengths.
    """
    if permute_seed is not None and permute_seed < 0:
        raise InputError(f"--permute-seed must be 0 or more, got {permute_seed}")
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise InputError("expected a folder for the split's files, found a file",
                         path=str(out_dir))
    n = len(dataset.test_images)
    id_column = getattr(predictions, "id_column", "id")
    label_column = getattr(predictions, "label_column", "label")
    first_id = int(getattr(predictions, "first_id", 0))
    rows = getattr(predictions, "rows", None)
    if rows is not None and rows != n:
        raise InputError(f"the assignment's [predictions] rows = {rows:,} but the test split "
                         f"has {n:,} images: set rows = {n} (or give the matching --data)",
                         path=dataset.source)
    boxes = getattr(dataset, "test_boxes", None)
    extra = getattr(dataset, "extra", None) or {}
    lengths = extra.get("test_lengths")
    order = np.arange(n) if permute_seed is None else \
        np.random.default_rng(permute_seed).permutation(n)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    inputs = out / ("test_images.npz" if lengths is None else "test_sequences.npz")
    files = SplitFiles(inputs, out / "sample_predictions.csv", out / "labels.csv")
    if lengths is None:
        np.savez(files.images, images=dataset.test_images[order])
    else:
        vectors = {"vectors": extra["vectors"]} if "vectors" in extra else {}
        np.savez(files.images, ids=dataset.test_images[order], lengths=lengths[order],
                 **vectors)
    header = (id_column, label_column)
    if boxes is None:
        _write_csv(files.sample_predictions, np.zeros(n, dtype=np.int64), header, first_id)
        _write_csv(files.labels, dataset.test_labels[order], header, first_id)
    else:
        header += tuple(getattr(predictions, "box_columns", ()) or BOX_COLUMNS)
        whole = np.tile(np.array([0, 0, 1, 1], np.float32), (n, 1))
        _write_csv(files.sample_predictions, np.zeros(n, dtype=np.int64), header, first_id,
                   whole)
        _write_csv(files.labels, dataset.test_labels[order], header, first_id, boxes[order])
    return files


def _write_csv(path: Path, labels: np.ndarray, header: tuple[str, ...], first_id: int,
               boxes: np.ndarray | None = None) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        if boxes is None:
            writer.writerows(enumerate(labels.tolist(), start=first_id))
            return
        for i, (label, box) in enumerate(zip(labels.tolist(), boxes.tolist()), start=first_id):
            writer.writerow([i, label, *(f"{v:.6f}" for v in box)])


def read_images_npz(path: str | Path) -> np.ndarray:
    """The images of a test_images.npz: uint8 N x H x W x C under the key 'images'."""
    try:
        with np.load(Path(path), allow_pickle=False) as npz:
            if "images" not in npz.files:
                raise InputError(f"key 'images' missing (found {', '.join(npz.files) or 'none'})",
                                 path=str(path))
            images = npz["images"]
    except FileNotFoundError:
        raise InputError("test images file not found", path=str(path)) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the .npz ({exc})", path=str(path)) from None
    if images.dtype != np.uint8 or images.ndim != 4:
        raise InputError(f"key 'images': expected uint8 N x H x W x C, got {images.dtype} "
                         f"{images.shape}", path=str(path))
    return images
