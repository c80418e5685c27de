"""The dataset prepared for grading, once per content, in the one cache folder.

`prepare` writes the training images and labels and the held-out images as .npy files (the
only data a sandbox is given), plus the held-out labels the grader scores against (never given
to a sandbox), into `<cache>/prepared/<key>/`, where key is a SHA-256 over the full contents of
every array. A worker process, or a node of a cluster, opens the folder by path instead of
loading and converting the dataset again. Written into a temporary folder and renamed, so a
folder that exists is complete.

Localization and sequence data add their sandbox-visible arrays (EXTRAS: the training boxes,
the sequences' lengths, the word vectors), and localization its held-out boxes (HIDDEN: never
given to a sandbox). Classification's folder and key are as they always were: the digest
covers only the arrays present.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.errors import InputError

ARRAYS = ("train_images", "train_labels", "test_images", "test_labels", "held_out")
SANDBOX_FILES = ("train_images", "train_labels", "test_images")   # what a sandbox may see
EXTRAS = ("train_boxes", "train_lengths", "test_lengths", "vectors")   # and these, when present
HIDDEN = ("test_boxes", "held_out_boxes")   # boxes scored against: never in a sandbox


def array_digest(arrays: dict[str, np.ndarray | None]) -> str:
    """SHA-256 over the full bytes, dtype and shape of each array (not a first megabyte)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = arrays[name]
        digest.update(name.encode())
        if array is None:
            digest.update(b"none")
            continue
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


@dataclass(frozen=True)
class PreparedData:
    """A prepared-data folder. Has what retrain.run_training and reference_results read
    (files, labels, num_classes, fingerprint)."""

    folder: Path                    # <cache>/prepared/<fingerprint>
    fingerprint: str                # full-content SHA-256 of every array (the data's key)
    num_classes: int
    source: str                     # "synthetic (seed 0)" or the data folder (for results)
    extras: tuple[str, ...] = ()    # the EXTRAS present (meta.json "extras"; classification: none)

    @property
    def files(self) -> dict[str, Path]:
        """The files a sandbox gets (held-out labels and boxes are not among them)."""
        return {name: self.folder / f"{name}.npy" for name in SANDBOX_FILES + self.extras}

    @functools.cached_property
    def boxes(self) -> np.ndarray | None:
        """Localization: the held-out split's true boxes (float32 N x 4, x1, y1, x2, y2 in
        0..1; retrained models' boxes are scored against them); None for other tasks."""
        path = self.folder / "test_boxes.npy"
        return np.load(path, allow_pickle=False) if path.exists() else None

    @functools.cached_property
    def held_out_boxes(self) -> np.ndarray | None:
        """Localization: the boxes predictions.csv is scored against, in the order of
        `held_out` (--labels' boxes when given, else the test boxes); None without held-out
        labels or without boxes."""
        path = self.folder / "held_out_boxes.npy"
        if path.exists():
            return np.load(path, allow_pickle=False)
        return self.boxes if (self.folder / "held_out.npy").exists() else None

    @functools.cached_property
    def labels(self) -> np.ndarray:
        """The held-out split's true labels (trained models are scored against them)."""
        return np.load(self.folder / "test_labels.npy", allow_pickle=False)

    @functools.cached_property
    def held_out(self) -> np.ndarray | None:
        """The labels predictions.csv is scored against (--labels, else the test labels);
        None when the assignment has no predictions."""
        path = self.folder / "held_out.npy"
        return np.load(path, allow_pickle=False) if path.exists() else None

    @classmethod
    def open(cls, folder: Path) -> "PreparedData":
        try:
            meta = json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
            extras = tuple(str(name) for name in meta.get("extras", ()))
            if not set(extras) <= set(EXTRAS):
                raise ValueError(f"unknown extras {sorted(set(extras) - set(EXTRAS))}")
            return cls(folder=Path(folder), fingerprint=meta["fingerprint"],
                       num_classes=int(meta["num_classes"]), source=meta["source"],
                       extras=extras)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"prepared data folder is incomplete or corrupt ({exc}); delete it "
                             "and run again", path=str(folder)) from None


def prepare(dataset, held_out: np.ndarray | None, cache_dir: Path, *,
            held_out_boxes: np.ndarray | None = None) -> PreparedData:
    """Write (or reuse) the prepared folder for this dataset and these held-out labels (and,
    for localization with --labels, the boxes that came with them, in their order). The
    dataset's `extra` arrays (names in EXTRAS only) go with the sandbox's files, its
    `test_boxes` beside the held-out labels."""
    arrays = {"train_images": dataset.train_images, "train_labels": dataset.train_labels,
              "test_images": dataset.test_images,
              "test_labels": np.asarray(dataset.test_labels, dtype=np.int64),
              "held_out": None if held_out is None else np.asarray(held_out, dtype=np.int64)}
    extra = dict(getattr(dataset, "extra", None) or {})   # absent (classification): the key
    unknown = sorted(set(extra) - set(EXTRAS))           # and folder stay as they always were
    if unknown:
        raise ValueError(f"dataset.extra: {unknown} may not go into a sandbox (expected "
                         f"{', '.join(EXTRAS)})")
    arrays.update({name: np.asarray(extra[name]) for name in EXTRAS if name in extra})
    hidden = dict(zip(HIDDEN, (getattr(dataset, "test_boxes", None), held_out_boxes)))
    arrays.update({name: np.asarray(a, dtype=np.float32) for name, a in hidden.items()
                   if a is not None})
    fingerprint = array_digest(arrays)
    present = tuple(name for name in EXTRAS if name in extra)
    root = Path(cache_dir) / "prepared"
    folder = root / fingerprint[:32]
    if not (folder / "meta.json").is_file():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".prepared-", dir=root))
        try:
            for name, array in arrays.items():
                if array is not None:
                    np.save(tmp / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
            meta = {"fingerprint": fingerprint, "num_classes": len(dataset.class_names),
                    "source": dataset.source}
            if present:
                meta["extras"] = list(present)
            (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            os.chmod(tmp, 0o755)
            try:
                os.rename(tmp, folder)
            except OSError:             # another run prepared the same data first
                if not (folder / "meta.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return PreparedData.open(folder)
