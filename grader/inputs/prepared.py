"""The dataset prepared for grading, once per content, in the one cache folder.

`prepare` writes the training images and labels and the held-out images as .npy files (the
only data a sandbox is given), plus the held-out labels the grader scores against (never given
to a sandbox), into `<cache>/prepared/<key>/`, where key is a SHA-256 over the full contents of
every array. A worker process, or a node of a cluster, opens the folder by path instead of
loading and converting the dataset again. Written into a temporary folder and renamed, so a
folder that exists is complete.
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

    @property
    def files(self) -> dict[str, Path]:
        """The files a sandbox gets (held-out labels are not among them)."""
        return {name: self.folder / f"{name}.npy" for name in SANDBOX_FILES}

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
            return cls(folder=Path(folder), fingerprint=meta["fingerprint"],
                       num_classes=int(meta["num_classes"]), source=meta["source"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"prepared data folder is incomplete or corrupt ({exc}); delete it "
                             "and run again", path=str(folder)) from None


def prepare(dataset, held_out: np.ndarray | None, cache_dir: Path) -> PreparedData:
    """Write (or reuse) the prepared folder for this dataset and these held-out labels."""
    arrays = {"train_images": dataset.train_images, "train_labels": dataset.train_labels,
              "test_images": dataset.test_images,
              "test_labels": np.asarray(dataset.test_labels, dtype=np.int64),
              "held_out": None if held_out is None else np.asarray(held_out, dtype=np.int64)}
    fingerprint = array_digest(arrays)
    root = Path(cache_dir) / "prepared"
    folder = root / fingerprint[:32]
    if not (folder / "meta.json").is_file():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".prepared-", dir=root))
        try:
            for name, array in arrays.items():
                if array is not None:
                    np.save(tmp / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
            (tmp / "meta.json").write_text(json.dumps({
                "fingerprint": fingerprint, "num_classes": len(dataset.class_names),
                "source": dataset.source}), encoding="utf-8")
            os.chmod(tmp, 0o755)
            try:
                os.rename(tmp, folder)
            except OSError:             # another run prepared the same data first
                if not (folder / "meta.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return PreparedData.open(folder)
