"""The built-in synthetic stand-in for CIFAR-10, written in the real CIFAR-10 file format so the
real loader (grader.inputs.data.load_cifar10) runs on every run.

Class c is a shape (c % 10) at a random position, size and tilt, filled with a texture, on a
noisy, shaded background of a random colour. The shape's colour leans towards a hue of its
class (c / 10 of the colour wheel, with a standard deviation of HUE_SPREAD), as CIFAR-10's
classes lean towards sky, grass or water: small networks pick the colour up within a couple of
epochs on 2,000 images and learn clearly (the ECE 661 demo budget: SimpleNN about 55%,
ResNet-20 about 75-80%, chance 10%; see reference/README.md), while telling the shapes apart
is what lifts deeper networks above them. With no colour lean (version 1) a 2-epoch SimpleNN
stayed at 17%, too close to chance for any relative grading.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from grader.errors import InputError

SYNTHETIC_VERSION = 2               # bump when the generator changes: cached folders are rebuilt
HUE_SPREAD = 0.07                   # standard deviation of a shape's hue around its class's hue
#                                     (neighbouring classes are 0.1 apart: colour alone is an
#                                     unreliable cue, so shapes still matter)


SHAPES = ("disk", "ring", "square", "frame", "plus", "cross", "triangle", "bars", "ell",
          "half-disk")
TEXTURES = ("solid", "vstripes", "hstripes", "checks")


def write_synthetic_cifar10(directory: str | Path, *, seed: int, n_train: int, n_test: int,
                            num_classes: int = 10, size: int = 32,
                            class_names: tuple[str, ...] | None = None) -> Path:
    """Write a deterministic synthetic dataset in the CIFAR-10 python format
    (directory/cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta); returns that
    folder. Class c is a shape (c % 10) at a random position, size and tilt, its colour
    leaning towards the class's hue, on a noisy shaded background; with more than 10 classes
    the fill texture ((c // 10) % 4) and, beyond 40, the hue band (c // 40) are part of the
    class too (up to 200 classes)."""
    if not 2 <= num_classes <= 200:
        raise ValueError(f"num_classes: expected 2..200, got {num_classes}")
    if size < 16:
        raise ValueError(f"size: expected at least 16 pixels, got {size}")
    names = list(class_names) if class_names is not None else [
        "-".join([SHAPES[c % 10]] + ([TEXTURES[(c // 10) % 4]] if num_classes > 10 else [])
                 + ([f"hue{c // 40}"] if num_classes > 40 else [])) for c in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"class_names: expected {num_classes} names, got {len(names)}")
    if Path(directory).exists() and not Path(directory).is_dir():
        raise InputError("expected a folder for the synthetic data, found a file",
                         path=str(directory))
    if seed < 0:
        raise InputError(f"--seed must be 0 or more, got {seed}")
    root = Path(directory) / "cifar-10-batches-py"
    root.mkdir(parents=True, exist_ok=True)
    splits = {}
    for split, n in ((0, n_train), (1, n_test)):       # independent streams: the test split
        rng = np.random.default_rng([seed, split])      # does not depend on n_train
        labels = rng.permutation(np.arange(n) % num_classes)
        images = _render(labels, rng, num_classes, size)
        splits[split] = (images.transpose(0, 3, 1, 2).reshape(n, -1), labels)
    files = [(f"data_batch_{i + 1}", part, f"training batch {i + 1} of 5")
             for i, part in enumerate(np.array_split(np.arange(n_train), 5))]
    files.append(("test_batch", np.arange(n_test), "testing batch 1 of 1"))
    for name, rows, title in files:
        data, labels = splits[0] if name != "test_batch" else splits[1]
        batch = {"batch_label": title, "labels": labels[rows].tolist(), "data": data[rows],
                 "filenames": [f"synthetic_{i:06d}.png" for i in rows]}
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {"label_names": names, "num_cases_per_batch": -(-n_train // 5),
            "num_vis": 3 * size * size}
    (root / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root


def _render(labels: np.ndarray, rng: np.random.Generator, num_classes: int,
            size: int) -> np.ndarray:
    """uint8 N x size x size x 3 images of the given classes, one vectorised pass per class."""
    out = np.empty((len(labels), size, size, 3), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        k = len(idx)
        if not k:
            continue

        def per_image(low: float, high: float) -> np.ndarray:
            return rng.uniform(low, high, k).astype(np.float32)[:, None, None]
        cx, cy = per_image(0.3, 0.7) * size, per_image(0.3, 0.7) * size
        radius, tilt = per_image(0.2, 0.34) * size, per_image(-0.3, 0.3)
        dx, dy = xx - cx, yy - cy
        u = (dx * np.cos(tilt) + dy * np.sin(tilt)) / radius     # shape coordinates: the
        v = (dy * np.cos(tilt) - dx * np.sin(tilt)) / radius     # shape spans -1..1
        kinds = np.full(k, (c // 10) % 4) if num_classes > 10 else rng.integers(0, 4, k)
        texture = np.select([kinds[:, None, None] == t for t in range(4)],
                            [_texture(t, u, v) for t in range(4)])
        hue = ((c % 10) / 10 + rng.normal(0, HUE_SPREAD, k)) % 1 if num_classes <= 40 else \
            ((c // 40) + rng.uniform(-0.35, 0.35, k)) / 5 % 1
        fg = _hsv_to_rgb(hue, rng.uniform(0.5, 1, k), rng.uniform(0.65, 1, k))
        bg = _hsv_to_rgb(rng.uniform(0, 1, k), rng.uniform(0, 0.6, k), rng.uniform(0.05, 0.45, k))
        alpha = _shape(c % 10, u, v) * np.where(texture, np.float32(1.0), np.float32(0.55))
        shading = per_image(-50, 50) * (xx / size - 0.5) + per_image(-50, 50) * (yy / size - 0.5)
        img = rng.standard_normal((k, size, size, 3), dtype=np.float32)
        img *= 12                                                 # sensor-like noise
        img += shading[..., None]
        img += bg[:, None, None, :]
        img += alpha[..., None] * (fg - bg)[:, None, None, :]
        out[idx] = np.clip(img, 0, 255, out=img)
    return out


def _shape(family: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    a, b, box, r2 = np.abs(u), np.abs(v), np.maximum(np.abs(u), np.abs(v)), u * u + v * v
    if family == 0:
        return r2 <= 1.0
    if family == 1:
        return (r2 <= 1.0) & (r2 >= 0.36)
    if family == 2:
        return box <= 0.8
    if family == 3:
        return (box <= 0.85) & (box >= 0.5)
    if family == 4:
        return ((a <= 0.3) | (b <= 0.3)) & (box <= 1.0)
    if family == 5:
        d, e = np.abs(u + v) / 1.414, np.abs(u - v) / 1.414
        return ((d <= 0.3) | (e <= 0.3)) & (np.maximum(d, e) <= 1.0)
    if family == 6:
        return (v <= 0.7) & (a <= 0.55 * (v + 0.9))
    if family == 7:
        return (np.abs(b - 0.5) <= 0.22) & (a <= 0.9)
    if family == 8:
        return ((u >= -0.85) & (u <= -0.35) & (b <= 0.9)) | ((v >= 0.4) & (v <= 0.9) & (a <= 0.85))
    return (r2 <= 1.0) & (v >= -0.1)


def _texture(kind: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    if kind == 0:
        return np.ones(u.shape, bool)
    if kind == 1:
        return np.sin(u * 7.0) > 0
    if kind == 2:
        return np.sin(v * 7.0) > 0
    return np.sin(u * 6.0) * np.sin(v * 6.0) > 0


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV in 0..1 -> RGB in 0..255, float32, shape + (3,)."""
    i = np.floor(h * 6).astype(np.int64) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [np.choose(i, [v, q, p, p, t, v]), np.choose(i, [t, v, v, q, p, p]),
           np.choose(i, [p, p, t, v, v, q])]
    return (np.stack(rgb, -1) * 255).astype(np.float32)
