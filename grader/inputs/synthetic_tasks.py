"""The built-in synthetic stand-ins for single-object localization (ECE 60146 HW5 2023: COCO
bus/cat/pizza, one dominant object, 256x256) and sequence classification (ECE 60146 HW8 and
ECE 661 HW3: sentiment), written in the real-data .npz format so that the real loader
(grader.inputs.data.load_npz) runs on every run, as the CIFAR-10 stand-in does.

Localization: each image holds one object of its class, drawn to fill its box exactly (a bus is
a wide rectangle with a row of windows, a cat an ellipse with two ears, a pizza a disk with a
crust and toppings), its colour leaning towards a hue of the class (as in grader.inputs.synthetic),
at a random position and size (its box covers 5% to 30% of the image), over a noisy, shaded
background with a few small distractor blobs. box_* holds x1, y1, x2, y2 scaled to 0..1.

Sequence: token ids 1..V-1 (0 pads) of random lengths; a few "sentiment" words of each polarity
among neutral ones; 1 to 3 sentiment words per sequence, anywhere, the label being the majority
polarity (never a tie). An embedding or a GRU picks the 12 sentiment words out of the vocabulary
within a couple of epochs. With embedding_dim > 0 the file also holds a "word2vec" table of fixed
random vectors (row 0 zeros) where the words of one polarity share a direction, as in real
word2vec, so a GRU on the vectors learns faster still.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

TASKS_VERSION = 2                   # bump when a generator changes: cached files are rebuilt
#                                     (2: smaller objects, so the mean box is a poor guess)
HUE_SPREAD = 0.07                   # a shape's hue around its class's (as grader.inputs.synthetic)
OBJECT_SHAPES = ("bus", "cat", "pizza")   # class c is drawn as OBJECT_SHAPES[c % 3]
ASPECT = {"bus": (1.3, 2.2), "cat": (0.8, 1.3), "pizza": (0.85, 1.2)}   # width / height
COVER = (0.05, 0.30)                # the box's share of the image (COCO HW5: > 40,000 pixels
#                                     of a ~640x480 photo, 13% and up); with 10-60% the mean
#                                     training box alone scored IoU 0.44 on the held-out boxes
DISTRACTORS = 4                     # small blobs per image, each present with probability 0.75
CHUNK = 64                          # images rendered at once (bounds the float32 temporaries)
NOISE_BANK = 8                      # noise fields per chunk, flipped at random for each image
SENTIMENT_WORDS = 6                 # words of each polarity in the sequence stand-in
DEFAULT_VOCAB = 2000                # the stand-in's vocabulary when the spec gives none (an
#                                     embeddings interface, ECE 60146 HW8, needs no vocab_size)
FILE_NAME = "data.npz"              # the stand-in's file inside its cache folder


# ---- localization ------------------------------------------------------------------------------

def localization_arrays(*, seed: int, n: int, split: int, num_classes: int = 3,
                        size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 n x size x size x 3, labels int64 n, boxes float32 n x 4) of one split;
    deterministic in (seed, split, n, num_classes, size)."""
    if not 2 <= num_classes <= 30:
        raise ValueError(f"num_classes: expected 2..30, got {num_classes}")
    if size < 32:
        raise ValueError(f"size: expected at least 32 pixels, got {size}")
    rng = np.random.default_rng([seed, split])
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    boxes = _boxes(labels, rng)
    images = np.empty((n, size, size, 3), np.uint8)
    for start in range(0, n, CHUNK):
        part = slice(start, start + CHUNK)
        images[part] = _render(labels[part], boxes[part], rng, num_classes, size)
    return images, labels, boxes


def _boxes(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(labels)
    low = np.array([ASPECT[OBJECT_SHAPES[c % 3]][0] for c in labels], np.float64)
    high = np.array([ASPECT[OBJECT_SHAPES[c % 3]][1] for c in labels], np.float64)
    aspect = rng.uniform(low, high) if n else low
    cover = rng.uniform(*COVER, n)
    w = np.minimum(np.sqrt(cover * aspect), 0.96)
    h = np.minimum(np.sqrt(cover / aspect), 0.96)
    x1, y1 = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
    return np.stack([x1, y1, x1 + w, y1 + h], 1).astype(np.float32)


def object_mask(label: int, boxes: np.ndarray, size: int) -> np.ndarray:
    """bool k x size x size: the pixels (by their centres) of objects of class `label`
    (OBJECT_SHAPES[label % 3]) filling boxes (k x 4: x1, y1, x2, y2 in 0..1), as drawn."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    out = np.zeros((len(boxes), size, size), bool)
    for i, box in enumerate(boxes):
        rows, cols, u, v = _region(box, size)
        out[i, rows, cols] = _shape(OBJECT_SHAPES[int(label) % 3], u, v)
    return out


def _region(box: np.ndarray, size: int) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    """The pixels whose centres lie in box, and there u (1 x w) and v (h x 1): -1..1 across
    the box."""
    x1, y1, x2, y2 = (float(c) for c in box)
    cols = slice(int(np.ceil(x1 * size - 0.5)), int(np.floor(x2 * size - 0.5)) + 1)
    rows = slice(int(np.ceil(y1 * size - 0.5)), int(np.floor(y2 * size - 0.5)) + 1)
    u = ((np.arange(cols.start, cols.stop, dtype=np.float32) + 0.5) / size - (x1 + x2) / 2) \
        / ((x2 - x1) / 2)
    v = ((np.arange(rows.start, rows.stop, dtype=np.float32) + 0.5) / size - (y1 + y2) / 2) \
        / ((y2 - y1) / 2)
    return rows, cols, u[None, :], v[:, None]


def _shape(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Each shape touches all four sides of its box, so the box is the object's tight box."""
    inside = (np.abs(u) <= 1) & (np.abs(v) <= 1)
    if kind == "bus":
        return inside
    if kind == "cat":                # a body and a head, with two ears up to the top side
        body = u ** 2 + ((v - 0.25) / 0.75) ** 2 <= 1
        ears = (v <= -0.3) & (np.abs(np.abs(u) - 0.55) <= 0.1 + (v + 1) * 0.45)
        return inside & (body | ears)
    return inside & (u ** 2 + v ** 2 <= 1)      # pizza


def _detail(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Where the object is darker: a bus's windows, a cat's eyes, a pizza's crust and
    toppings."""
    if kind == "bus":
        return (v >= -0.65) & (v <= -0.1) & (np.sin(u * 13.0) > -0.2) & (np.abs(u) <= 0.9)
    if kind == "cat":
        return (np.abs(np.abs(u) - 0.3) <= 0.1) & (np.abs(v + 0.15) <= 0.08)
    crust = u ** 2 + v ** 2 >= 0.72
    toppings = np.sin(u * 9.0 + 1.0) * np.sin(v * 9.0 + 2.0) > 0.6
    return crust | toppings


def _render(labels: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, num_classes: int,
            size: int) -> np.ndarray:
    """uint8 k x size x size x 3. The background is one vectorised pass over the chunk; blobs
    and objects are drawn image by image inside their boxes only (a full-image pass per
    object costs several times as much at 256x256)."""
    k = len(labels)
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    bg = _hsv_to_rgb(rng.uniform(0, 1, k), rng.uniform(0, 0.6, k), rng.uniform(0.05, 0.45, k))
    slope_x = rng.uniform(-50, 50, k).astype(np.float32)[:, None, None]
    slope_y = rng.uniform(-50, 50, k).astype(np.float32)[:, None, None]
    # sensor-like noise: a bank of NOISE_BANK fields, each image one of them flipped at random
    # (fresh normals for every pixel took most of the time)
    bank = rng.standard_normal((NOISE_BANK, size, size, 3), dtype=np.float32)
    bank *= 12
    pick, flips = rng.integers(0, NOISE_BANK, k), rng.integers(0, 2, (k, 2)) * -2 + 1
    img = np.empty((k, size, size, 3), np.float32)
    for i in range(k):
        img[i] = bank[pick[i], ::flips[i, 0], ::flips[i, 1]]
    img += (slope_x * grid[None, None, :] + slope_y * grid[None, :, None])[..., None]
    img += bg[:, None, None, :]
    blob_at = rng.uniform(0, 1, (k, DISTRACTORS, 2))
    blob_r = rng.uniform(0.02, 0.06, (k, DISTRACTORS)) * (rng.uniform(0, 1, (k, DISTRACTORS))
                                                         < 0.75)
    blob_rgb = _hsv_to_rgb(rng.uniform(0, 1, (k, DISTRACTORS)),
                           rng.uniform(0.2, 1, (k, DISTRACTORS)),
                           rng.uniform(0.3, 1, (k, DISTRACTORS)))
    hue = ((labels % num_classes) / num_classes + 0.14 + rng.normal(0, HUE_SPREAD, k)) % 1
    fg = _hsv_to_rgb(hue, rng.uniform(0.5, 1, k), rng.uniform(0.65, 1, k))
    covered = np.empty((size, size), bool)
    for i in range(k):
        kind = OBJECT_SHAPES[int(labels[i]) % 3]
        rows, cols, u, v = _region(boxes[i], size)
        shape = _shape(kind, u, v)
        alpha = shape * np.where(_detail(kind, u, v), np.float32(0.55), np.float32(1.0))
        img[i, rows, cols] += alpha[..., None] * (fg[i] - bg[i])
        covered[:] = False
        covered[rows, cols] = shape
        for (cx, cy), r, rgb in zip(blob_at[i], blob_r[i], blob_rgb[i]):
            if r > 0:                             # small blobs of any colour, behind the object
                rows, cols, _, _ = _region(np.array([cx - r, cy - r, cx + r, cy + r]), size)
                rows = slice(max(rows.start, 0), min(rows.stop, size))
                cols = slice(max(cols.start, 0), min(cols.stop, size))
                yy = (np.arange(rows.start, rows.stop) + 0.5)[:, None] / size - cy
                xx = (np.arange(cols.start, cols.stop) + 0.5)[None, :] / size - cx
                disk = (xx * xx + yy * yy <= r * r) & ~covered[rows, cols]
                img[i, rows, cols] += disk[..., None] * (rgb - bg[i])
                covered[rows, cols] |= disk           # a later blob goes behind this one
    return np.clip(img, 0, 255, out=img).astype(np.uint8)


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV in 0..1 -> RGB in 0..255, float32, shape + (3,)."""
    i = np.floor(h * 6).astype(np.int64) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [np.choose(i, [v, q, p, p, t, v]), np.choose(i, [t, v, v, q, p, p]),
           np.choose(i, [p, p, t, v, v, q])]
    return (np.stack(rgb, -1) * 255).astype(np.float32)


def write_synthetic_localization(path: str | Path, *, seed: int, n_train: int, n_test: int,
                                 num_classes: int = 3, size: int = 256,
                                 class_names: tuple[str, ...] | None = None) -> Path:
    """Write the localization stand-in as a .npz (x_*, y_*, box_*, class_names); returns path."""
    names = _names(class_names, num_classes, lambda c: OBJECT_SHAPES[c % 3] + (
        f"-{c // 3}" if num_classes > 3 else ""))
    arrays = {}
    for split, (name, n) in enumerate((("train", n_train), ("test", n_test))):
        x, y, box = localization_arrays(seed=seed, n=n, split=split, num_classes=num_classes,
                                        size=size)
        arrays.update({f"x_{name}": x, f"y_{name}": y, f"box_{name}": box})
    arrays["class_names"] = np.array(names)
    return _save(path, arrays)


# ---- sequence ----------------------------------------------------------------------------------

def sentiment_words(seed: int, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(negative, positive): the ids of the stand-in's sentiment words, SENTIMENT_WORDS each,
    spread over the vocabulary (not the first ids, so no id threshold finds them)."""
    if vocab_size < 4 * SENTIMENT_WORDS:
        raise ValueError(f"vocab_size: expected at least {4 * SENTIMENT_WORDS}, got {vocab_size}")
    words = np.random.default_rng([seed, 2]).choice(np.arange(1, vocab_size),
                                                   2 * SENTIMENT_WORDS, replace=False)
    return np.sort(words[:SENTIMENT_WORDS]), np.sort(words[SENTIMENT_WORDS:])


def sequence_arrays(*, seed: int, n: int, split: int, vocab_size: int,
                    lengths: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids int64 n x lengths[1], 0 past each length; lengths int64 n; labels int64 n: 1 when
    most sentiment words are positive) of one split."""
    shortest, longest = int(lengths[0]), int(lengths[1])
    if not 1 <= shortest <= longest:
        raise ValueError(f"lengths: expected 1 <= shortest <= longest, got {list(lengths)}")
    negative, positive = sentiment_words(seed, vocab_size)
    neutral = np.setdiff1d(np.arange(1, vocab_size), np.concatenate([negative, positive]))
    rng = np.random.default_rng([seed, split])
    labels = rng.permutation(np.arange(n) % 2).astype(np.int64)
    length = rng.integers(shortest, longest + 1, n).astype(np.int64)
    ids = neutral[rng.integers(0, len(neutral), (n, longest))].astype(np.int64)
    padding = np.arange(longest)[None, :] >= length[:, None]
    ids[padding] = 0
    count = np.minimum(rng.integers(1, 4, n), length)          # 1 to 3 sentiment words
    keys = rng.random((n, longest))
    keys[padding] = 2.0                                        # positions within the length
    places = np.argsort(keys, axis=1, kind="stable")[:, :3]
    polarity = np.repeat(labels[:, None], 3, 1)                # two agree with the label; the
    polarity[:, 2] = np.where(rng.random(n) < 0.5, labels, 1 - labels)   # third (if any) may not
    picks = rng.integers(0, SENTIMENT_WORDS, (n, 3))
    words = np.where(polarity == 1, positive[picks], negative[picks])
    for slot in range(3):
        rows = np.flatnonzero(count > slot)
        ids[rows, places[rows, slot]] = words[rows, slot]
    return ids, length, labels


def word_vectors(seed: int, vocab_size: int, dim: int) -> np.ndarray:
    """float32 vocab_size x dim: row 0 zeros; neutral words random (norm about 1) with no part
    along the two sentiment directions; each polarity's words share one direction plus noise."""
    if dim < 2:
        raise ValueError(f"embedding_dim: expected at least 2, got {dim}")
    rng = np.random.default_rng([seed, 3])
    table = rng.standard_normal((vocab_size, dim)) / np.sqrt(dim)
    axes, _ = np.linalg.qr(rng.standard_normal((dim, 2)))     # two orthonormal directions
    table -= (table @ axes) @ axes.T
    for axis, words in zip(axes.T, sentiment_words(seed, vocab_size)):
        table[words] = axis + 0.5 * table[words]
    table[0] = 0
    return table.astype(np.float32)


def write_synthetic_sequence(path: str | Path, *, seed: int, n_train: int, n_test: int,
                             vocab_size: int, lengths: tuple[int, int], embedding_dim: int = 0,
                             class_names: tuple[str, ...] | None = None) -> Path:
    """Write the sequence stand-in as a .npz (x_* ids, y_*, len_*, vectors when embedding_dim
    > 0, class_names); returns path."""
    names = _names(class_names, 2, lambda c: ("negative", "positive")[c])
    arrays = {}
    for split, (name, n) in enumerate((("train", n_train), ("test", n_test))):
        ids, length, labels = sequence_arrays(seed=seed, n=n, split=split,
                                              vocab_size=vocab_size, lengths=lengths)
        arrays.update({f"x_{name}": ids, f"y_{name}": labels, f"len_{name}": length})
    if embedding_dim:
        arrays["vectors"] = word_vectors(seed, vocab_size, embedding_dim)
    arrays["class_names"] = np.array(names)
    return _save(path, arrays)


# ---- the cache ---------------------------------------------------------------------------------

def synthetic_task_file(dataset_spec, kind: str, cache_dir: Path, *, seed: int) -> Path:
    """The stand-in .npz for a localization or sequence assignment, built once into a cache
    folder named by every parameter that decides it (and TASKS_VERSION); a folder that exists
    is complete (written into a temporary folder and renamed)."""
    spec = dataset_spec
    if kind == "localization":
        _, height, _ = spec.input_shape
        name = (f"synthetic-localization-v{TASKS_VERSION}-{spec.num_classes}c-{height}px-"
                f"{spec.synthetic_train}-{spec.synthetic_test}-seed{seed}")

        def write(path: Path) -> None:
            write_synthetic_localization(path, seed=seed, n_train=spec.synthetic_train,
                                         n_test=spec.synthetic_test,
                                         num_classes=spec.num_classes, size=height,
                                         class_names=tuple(spec.class_names))
    elif kind == "sequence":
        vocab = spec.vocab_size or DEFAULT_VOCAB
        name = (f"synthetic-sequence-v{TASKS_VERSION}-{vocab}v-{spec.lengths[0]}-"
                f"{spec.lengths[1]}t-{spec.embedding_dim}d-{spec.synthetic_train}-"
                f"{spec.synthetic_test}-seed{seed}")

        def write(path: Path) -> None:
            write_synthetic_sequence(path, seed=seed, n_train=spec.synthetic_train,
                                     n_test=spec.synthetic_test, vocab_size=vocab,
                                     lengths=tuple(spec.lengths),
                                     embedding_dim=spec.embedding_dim,
                                     class_names=tuple(spec.class_names))
    else:
        raise ValueError(f"kind: expected localization or sequence, got {kind!r}")
    folder = Path(cache_dir) / name
    if not (folder / FILE_NAME).is_file():
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".synthetic-", dir=cache_dir))
        try:
            write(tmp / FILE_NAME)
            os.replace(tmp, folder)     # atomic; a concurrent builder's copy is as good
        except OSError:
            if not (folder / FILE_NAME).is_file():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder / FILE_NAME


def _names(class_names, count: int, default) -> list[str]:
    names = list(class_names) if class_names is not None else [default(c) for c in range(count)]
    if len(names) != count:
        raise ValueError(f"class_names: expected {count} names, got {len(names)}")
    return names


def _save(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """np.savez (uncompressed: noise does not compress), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
