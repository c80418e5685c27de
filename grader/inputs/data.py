"""Datasets on the trusted side: CIFAR-10 (python version), Tiny ImageNet, .npz, and a synthetic
stand-in written in the real CIFAR-10 file format, so the real loader runs on every run.

Images are uint8 numpy arrays N x H x W x C; labels int64. Held-out labels stay on this side:
`split_test_set` writes the images students get and the labels the instructor keeps.

Localization and sequence assignments read an .npz (load_npz with the task's keys; their
synthetic stand-ins, grader.inputs.synthetic_tasks, are written in that format and read back
the same way): a localization Dataset adds the training boxes (sandbox-visible, in `extra`) and
the held-out boxes (`test_boxes`, never given to a sandbox); a sequence Dataset holds token ids
int64 N x T in place of images, and the lengths (and word vectors) in `extra`.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader.errors import EnvironmentProblem, InputError
from grader.inputs.split import SplitFiles, read_images_npz, split_test_set
from grader.inputs.synthetic import SYNTHETIC_VERSION, write_synthetic_cifar10
from grader.inputs.synthetic_tasks import (
    DEFAULT_VOCAB,
    synthetic_task_file,
    write_synthetic_localization,
    write_synthetic_sequence,
)
from grader.inputs.task_arrays import check_boxes, check_sequences

__all__ = ["Dataset", "SplitFiles", "load_dataset", "load_cifar10", "load_tiny_imagenet",
           "load_npz", "fetch_cifar10", "split_test_set", "read_images_npz",
           "write_synthetic_cifar10", "write_synthetic", "SYNTHETIC_VERSION"]
CIFAR_FILES = "data_batch_1..5, test_batch and batches.meta"
TASKS = ("classification", "localization", "sequence")


@dataclass(frozen=True, eq=False)
class Dataset:
    train_images: np.ndarray        # uint8 N x H x W x C (sequence: token ids int64 N x T)
    train_labels: np.ndarray        # int64 N, class indices
    test_images: np.ndarray         # uint8 M x H x W x C: the held-out split (sequence: ids)
    test_labels: np.ndarray         # int64 M
    class_names: tuple[str, ...]    # index -> name
    source: str                     # "synthetic (seed 0)" or the folder or file read
    extra: dict[str, np.ndarray] = field(default_factory=dict)   # sandbox-visible arrays
    #                                 beside the images: train_boxes (localization, float32
    #                                 N x 4), train_lengths, test_lengths (sequence, int64),
    #                                 vectors (sequence with word vectors, float32 V x D)
    test_boxes: np.ndarray | None = None   # localization: the held-out boxes, float32 M x 4
    #                                 x1, y1, x2, y2 in 0..1; hidden: never given to a sandbox


def default_cache_dir() -> Path:
    """$GRADER_CACHE, else $XDG_CACHE_HOME/grader, else ~/.cache/grader."""
    if os.environ.get("GRADER_CACHE"):
        return Path(os.environ["GRADER_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "grader"


def load_dataset(dataset_spec, data_dir: str | Path | None = None,
                 cache_dir: str | Path | None = None, *, seed: int = 0,
                 task="classification") -> Dataset:
    """The spec's data: with no data_dir, the synthetic stand-in (built once, cached by its
    parameters under cache_dir); else read data_dir by spec.name (cifar10 | tiny-imagenet | npz).
    Class names come from the spec; the images and labels must fit its shape and class count.
    `task` is the assignment's task kind (or its TaskSpec): localization and sequence data are
    always an .npz (load_npz), their stand-ins too."""
    spec = dataset_spec
    kind = getattr(task, "kind", task)
    if kind not in TASKS:
        raise InputError(f"unknown task kind {kind!r}: expected {', '.join(TASKS)}")
    if kind != "classification":
        return _load_task_data(spec, kind, data_dir, cache_dir, seed)
    channels, height, width = spec.input_shape
    if data_dir is None:
        if channels != 3 or height != width:
            raise InputError(f"the synthetic data makes square colour images; the spec asks "
                             f"for input_shape {list(spec.input_shape)}")
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        folder = cache / (f"synthetic-v{SYNTHETIC_VERSION}-{spec.num_classes}c-{height}px-"
                          f"{spec.synthetic_train}-{spec.synthetic_test}-seed{seed}")
        if not (folder / "cifar-10-batches-py" / "batches.meta").is_file():
            cache.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".synthetic-", dir=cache))
            try:
                write_synthetic_cifar10(tmp, seed=seed, n_train=spec.synthetic_train,
                                        n_test=spec.synthetic_test,
                                        num_classes=spec.num_classes, size=height)
                os.replace(tmp, folder)     # atomic; a concurrent builder's copy is as good
            except OSError:
                if not (folder / "cifar-10-batches-py" / "batches.meta").is_file():
                    raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        data = load_cifar10(folder)
        source = f"synthetic (seed {seed})"
    elif spec.name == "cifar10":
        data, source = load_cifar10(data_dir), None
    elif spec.name == "tiny-imagenet":
        data, source = load_tiny_imagenet(data_dir), None
    elif spec.name == "npz":
        data, source = load_npz(data_dir), None
    else:
        raise InputError(f"unknown dataset name {spec.name!r}: expected cifar10, "
                         "tiny-imagenet or npz")
    _check_fit(spec, data, images=True)
    return Dataset(data.train_images, data.train_labels, data.test_images, data.test_labels,
                   tuple(spec.class_names), source or data.source)


def write_synthetic(directory: str | Path, *, seed: int = 0, n_train: int | None = None,
                    n_test: int | None = None, assignment=None) -> Path:
    """`grader data synth`: the synthetic stand-in written into directory; returns what was
    written. Without an assignment: the CIFAR-10 stand-in in its python format (5,000 / 10,000
    images unless given). With one: its task's stand-in at its [dataset] parameters and sizes
    (unless given): the CIFAR-10 format for classification, DIRECTORY/data.npz (load_npz's
    format, for --data) for localization and sequence."""
    if seed < 0:
        raise InputError(f"--seed must be 0 or more, got {seed}")
    if Path(directory).exists() and not Path(directory).is_dir():
        raise InputError("expected a folder for the synthetic data, found a file",
                         path=str(directory))
    if assignment is None:
        return write_synthetic_cifar10(directory, seed=seed, n_train=n_train or 5000,
                                       n_test=n_test or 10000)
    d, kind = assignment.dataset, assignment.task.kind
    sizes = {"n_train": n_train or d.synthetic_train, "n_test": n_test or d.synthetic_test}
    if kind == "classification":
        return write_synthetic_cifar10(directory, seed=seed, num_classes=d.num_classes,
                                       size=d.input_shape[1], class_names=tuple(d.class_names),
                                       **sizes)
    if kind == "localization":
        return write_synthetic_localization(Path(directory) / "data.npz", seed=seed,
                                            num_classes=d.num_classes, size=d.input_shape[1],
                                            class_names=tuple(d.class_names), **sizes)
    return write_synthetic_sequence(Path(directory) / "data.npz", seed=seed,
                                    vocab_size=d.vocab_size or DEFAULT_VOCAB,
                                    lengths=tuple(d.lengths),
                                    embedding_dim=d.embedding_dim,
                                    class_names=tuple(d.class_names), **sizes)


def _load_task_data(spec, kind: str, data_dir, cache_dir, seed: int) -> Dataset:
    if data_dir is None:
        _, height, width = spec.input_shape
        if kind == "localization" and (spec.input_shape[0] != 3 or height != width):
            raise InputError(f"the synthetic data makes square colour images; the spec asks "
                             f"for input_shape {list(spec.input_shape)}")
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        data = load_npz(synthetic_task_file(spec, kind, cache, seed=seed), kind,
                        vocab_size=spec.vocab_size, embedding_dim=spec.embedding_dim)
        source = f"synthetic (seed {seed})"
    else:
        data = load_npz(data_dir, kind, vocab_size=spec.vocab_size,
                        embedding_dim=spec.embedding_dim)
        source = data.source
    _check_fit(spec, data, images=kind == "localization")
    return Dataset(data.train_images, data.train_labels, data.test_images, data.test_labels,
                   tuple(spec.class_names), source, dict(data.extra), data.test_boxes)


def _check_fit(spec, data: Dataset, *, images: bool) -> None:
    """The images fit input_shape (not token ids: sequences have no input_shape), the labels
    the class count."""
    channels, height, width = spec.input_shape if images else (0, 0, 0)
    shape = (height, width, channels)
    for split, x, labels in (("train", data.train_images, data.train_labels),
                             ("test", data.test_images, data.test_labels)):
        if images and x.shape[1:] != shape:
            raise InputError(f"{split} images are {x.shape[1:]} (H, W, C); the assignment "
                             f"expects {shape} (input_shape {list(spec.input_shape)})",
                             path=data.source)
        if len(labels) and labels.max() >= spec.num_classes:
            raise InputError(f"{split} labels go up to {labels.max()}; the assignment has "
                             f"{spec.num_classes} classes", path=data.source)


# ---- CIFAR-10, python version -----------------------------------------------------------------

class _BatchUnpickler(pickle.Unpickler):
    """Resolves only what a CIFAR-10 batch holds (numpy arrays), so a planted pickle cannot
    run code."""

    ALLOWED = {(module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray")
               for name in ("_reconstruct", "scalar")} | {("numpy", "ndarray"), ("numpy", "dtype"),
                                                          ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"missing CIFAR-10 file {path.name}: expected {CIFAR_FILES} (the python "
                         "version, as torchvision's CIFAR10(download=True) writes it)",
                         path=str(path))
    try:
        with path.open("rb") as fh:
            data = _BatchUnpickler(fh, encoding="latin1").load()
    except Exception as exc:    # noqa: BLE001 - any failure to unpickle means a corrupt file
        raise InputError(f"corrupt CIFAR-10 file ({type(exc).__name__}: {exc}): expected a "
                         "pickled dict", path=str(path)) from None
    if not isinstance(data, dict):
        raise InputError(f"corrupt CIFAR-10 file: expected a pickled dict, got "
                         f"{type(data).__name__}", path=str(path))
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in data.items()}


def _read_batch(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise InputError(f"key 'data': expected a uint8 array N x 3072 (channel-major), got "
                         f"{getattr(data, 'dtype', type(data).__name__)} "
                         f"{getattr(data, 'shape', '')}", path=str(path))
    size = int(round((data.shape[1] / 3) ** 0.5))
    if 3 * size * size != data.shape[1]:
        raise InputError(f"key 'data': rows of {data.shape[1]} values are not 3 square colour "
                         "planes (CIFAR-10: 3072 = 3 x 32 x 32)", path=str(path))
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        y = np.zeros(0)
    if labels is None or y.shape != (len(data),):
        raise InputError(f"key 'labels': expected {len(data)} integer labels, got "
                         f"{type(labels).__name__}", path=str(path))
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise InputError(f"key 'labels': expected values 0..{num_classes - 1} (batches.meta "
                         f"names {num_classes} classes), got {y.min()}..{y.max()}", path=str(path))
    images = np.ascontiguousarray(data.reshape(-1, 3, size, size).transpose(0, 2, 3, 1))
    return images, y


def load_cifar10(path: str | Path) -> Dataset:
    """CIFAR-10's python version: the cifar-10-batches-py folder, or the folder holding it."""
    root = Path(path)
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    if not root.is_dir():
        raise InputError(f"CIFAR-10 folder not found: expected cifar-10-batches-py/ with "
                         f"{CIFAR_FILES}", path=str(root))
    meta = _unpickle(root / "batches.meta")
    names = meta.get("label_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InputError("key 'label_names': expected a list of class names",
                         path=str(root / "batches.meta"))
    parts = [_read_batch(root / f"data_batch_{i}", len(names)) for i in range(1, 6)]
    test_images, test_labels = _read_batch(root / "test_batch", len(names))
    if len({p[0].shape[1:] for p in parts} | {test_images.shape[1:]}) != 1:
        raise InputError("the batches hold images of different sizes", path=str(root))
    return Dataset(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                   test_images, test_labels, tuple(names), str(root))


def fetch_cifar10(directory: str | Path) -> Dataset:
    """Download CIFAR-10 with torchvision (both splits) and read it back with load_cifar10."""
    try:
        from torchvision.datasets import CIFAR10
        for train in (True, False):
            CIFAR10(str(directory), train=train, download=True)
    except Exception as exc:    # noqa: BLE001 - no network, no torchvision, a bad archive
        raise EnvironmentProblem(f"cannot download CIFAR-10 into {directory}: {exc}") from None
    return load_cifar10(Path(directory) / "cifar-10-batches-py")


# ---- Tiny ImageNet and .npz ---------------------------------------------------------------------

def _read_jpeg(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"cannot read image ({exc})", path=str(path)) from None
    if size is not None and array.shape[:2] != size:
        raise InputError(f"image is {array.shape[1]}x{array.shape[0]}; the others are "
                         f"{size[1]}x{size[0]}", path=str(path))
    return array


def _stack(paths: list[Path]) -> np.ndarray:
    first = _read_jpeg(paths[0], None)
    out = np.empty((len(paths), *first.shape), dtype=np.uint8)
    out[0] = first
    for i, p in enumerate(paths[1:], 1):
        out[i] = _read_jpeg(p, first.shape[:2])
    return out


def load_tiny_imagenet(path: str | Path) -> Dataset:
    """Tiny ImageNet: train/<wnid>/images/*.JPEG; the val split (val/images and
    val_annotations.txt) is the test split. Class indices follow the sorted wnids, as
    torchvision's ImageFolder numbers them; names come from words.txt when present."""
    root = Path(path)
    if (root / "tiny-imagenet-200").is_dir():
        root = root / "tiny-imagenet-200"
    train_dir, val_dir = root / "train", root / "val"
    for needed in (train_dir, val_dir / "images", val_dir / "val_annotations.txt"):
        if not needed.exists():
            raise InputError("missing Tiny ImageNet part: expected train/<wnid>/images/*.JPEG, "
                             "val/images/ and val/val_annotations.txt", path=str(needed))
    wnids_file = root / "wnids.txt"
    wnids = sorted(wnids_file.read_text().split() if wnids_file.is_file()
                   else (d.name for d in train_dir.iterdir() if d.is_dir()))
    index = {w: i for i, w in enumerate(wnids)}
    words: dict[str, str] = {}
    if (root / "words.txt").is_file():
        for line in (root / "words.txt").read_text(encoding="utf-8").splitlines():
            wnid, _, text = line.partition("\t")
            words[wnid] = text.split(",")[0].strip()
    train_paths, train_labels = [], []
    for wnid in wnids:
        files = sorted((train_dir / wnid / "images").glob("*.JPEG"))
        if not files:
            raise InputError(f"no training images for class {wnid}: expected "
                             f"train/{wnid}/images/*.JPEG", path=str(train_dir / wnid))
        train_paths += files
        train_labels += [index[wnid]] * len(files)
    val_paths, val_labels = [], []
    annotations = val_dir / "val_annotations.txt"
    for number, line in enumerate(annotations.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in index:
            raise InputError(f"expected 'file<TAB>wnid...' with a wnid of the training classes, "
                             f"got {line[:60]!r}", path=str(annotations), line=number)
        val_paths.append(val_dir / "images" / fields[0])
        val_labels.append(index[fields[1]])
    train, val = _stack(train_paths), _stack(val_paths)
    if train.shape[1:] != val.shape[1:]:
        raise InputError(f"val images are {val.shape[1:]}, train images {train.shape[1:]}",
                         path=str(val_dir))
    return Dataset(train, np.asarray(train_labels, np.int64), val,
                   np.asarray(val_labels, np.int64),
                   tuple(words.get(w, w) for w in wnids), str(root))


def load_npz(path: str | Path, task: str = "classification", *, vocab_size: int = 0,
             embedding_dim: int = 0) -> Dataset:
    """A .npz (or a folder holding exactly one) with x_train, y_train, x_test, y_test: images
    uint8 N x H x W x C, labels integers; optional class_names (strings). localization adds
    box_train and box_test; sequence has token ids for x_* and adds len_train, len_test and
    optional vectors (grader.inputs.task_arrays: what each must hold)."""
    p = Path(path)
    if p.is_dir():
        found = sorted(p.glob("*.npz"))
        if len(found) != 1:
            raise InputError(f"expected exactly one .npz file in the folder, found {len(found)}",
                             path=str(p))
        p = found[0]
    try:
        with np.load(p, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise InputError("dataset file not found: expected a .npz with x_train, y_train, "
                         "x_test, y_test", path=str(p)) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the .npz ({exc})", path=str(p)) from None
    for key in ("x_train", "y_train", "x_test", "y_test"):
        if key not in arrays:
            raise InputError(f"key '{key}' missing: expected x_train, y_train, x_test, y_test "
                             f"(found {', '.join(arrays) or 'none'})", path=str(p))
    extra, test_boxes = {}, None
    if task == "sequence":
        ids, extra = check_sequences(arrays, str(p), vocab_size=vocab_size,
                                     embedding_dim=embedding_dim)
        arrays.update(ids)
    labels = {}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if task != "sequence" and (x.dtype != np.uint8 or x.ndim != 4 or
                                   x.shape[3] not in (1, 3)):
            raise InputError(f"key 'x_{split}': expected uint8 images N x H x W x C, got "
                             f"{x.dtype} {x.shape}", path=str(p))
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or \
                (len(y) and y.min() < 0):
            raise InputError(f"key 'y_{split}': expected {len(x)} class indices >= 0, got "
                             f"{y.dtype} {y.shape}", path=str(p))
        labels[split] = y.astype(np.int64)
    if task == "localization":
        extra, test_boxes = check_boxes(arrays, str(p))
    count = int(max(labels["train"].max(initial=0), labels["test"].max(initial=0))) + 1
    names = tuple(str(n) for n in arrays["class_names"]) if "class_names" in arrays else \
        tuple(f"class_{i}" for i in range(count))
    return Dataset(arrays["x_train"], labels["train"], arrays["x_test"], labels["test"],
                   names, str(p), extra, test_boxes)
