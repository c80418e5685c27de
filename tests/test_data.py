"""grader.inputs.data: the real CIFAR-10 / Tiny ImageNet / .npz formats, the synthetic stand-in written
in the CIFAR-10 format, and the held-out split."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from grader.inputs import data as D
from grader.errors import InputError
from grader.spec import DatasetSpec
from tests.factories.specs import model_toml, spec_toml, table_toml

def read_labels(path: Path) -> np.ndarray:
    rows = path.read_text().splitlines()
    assert rows[0] == "id,label"
    pairs = np.array([[int(v) for v in row.split(",")] for row in rows[1:]])
    assert pairs[:, 0].tolist() == list(range(len(pairs)))
    return pairs[:, 1]


SIZES = {"data_batch_1": 3, "data_batch_2": 2, "data_batch_3": 2, "data_batch_4": 1,
         "data_batch_5": 2, "test_batch": 4}


def known_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def write_cifar(root: Path, *, bytes_keys: bool = False, num_classes: int = 10) -> dict:
    """Tiny files exactly as the CIFAR-10 python version lays them out; returns what went in."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    written = {}
    for i, (name, n) in enumerate(SIZES.items()):
        images = known_images(n, i)
        labels = [(i + j) % num_classes for j in range(n)]
        flat = images.transpose(0, 3, 1, 2).reshape(n, 3072)   # 1024 R, 1024 G, 1024 B
        batch = {key("batch_label"): name, key("labels"): labels, key("data"): flat,
                 key("filenames"): [f"{name}_{j}.png" for j in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = (images, np.array(labels))
    meta = {key("label_names"): [f"c{i}" for i in range(num_classes)],
            key("num_cases_per_batch"): 3, key("num_vis"): 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written


@pytest.mark.parametrize("bytes_keys", [False, True])
def test_load_cifar10_reads_the_real_layout(tmp_path, bytes_keys):
    written = write_cifar(tmp_path, bytes_keys=bytes_keys)
    ds = D.load_cifar10(tmp_path)
    train = [written[f"data_batch_{i}"] for i in range(1, 6)]
    np.testing.assert_array_equal(ds.train_images, np.concatenate([t[0] for t in train]))
    np.testing.assert_array_equal(ds.train_labels, np.concatenate([t[1] for t in train]))
    np.testing.assert_array_equal(ds.test_images, written["test_batch"][0])
    assert ds.train_images.dtype == np.uint8 and ds.train_labels.dtype == np.int64
    assert ds.class_names == tuple(f"c{i}" for i in range(10))
    assert ds.source.endswith("cifar-10-batches-py")


def test_channel_major_rows_become_hwc(tmp_path):
    write_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    row = np.zeros(3072, np.uint8)
    row[0], row[1024 + 1], row[2048 + 32] = 10, 20, 30   # R at (0,0), G at (0,1), B at (1,0)
    batch = {"labels": [3], "data": row[None], "batch_label": "t", "filenames": ["x.png"]}
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    image = D.load_cifar10(folder).test_images[0]       # the batches folder itself works too
    assert (image[0, 0, 0], image[0, 1, 1], image[1, 0, 2]) == (10, 20, 30)
    assert int(image.sum()) == 60


def test_numpy_1_global_names_load(tmp_path):
    """The real files were pickled by numpy 1.x, whose arrays name numpy.core.multiarray."""
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    old = path.read_bytes()
    assert b"numpy._core.multiarray" in old
    path.write_bytes(old.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = D.load_cifar10(tmp_path)
    assert ds.train_images.shape == (10, 32, 32, 3)


class Evil:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned",))


BAD_FILES = [
    # (fault, file, content (None: delete it), message expected)
    ("missing batch", "data_batch_3", None, "missing CIFAR-10 file data_batch_3"),
    ("missing test batch", "test_batch", None, "missing CIFAR-10 file test_batch"),
    ("missing meta", "batches.meta", None, "missing CIFAR-10 file batches.meta"),
    ("not a pickle", "data_batch_1", b"\x00garbage", "corrupt CIFAR-10 file"),
    ("truncated", "data_batch_2", "truncate", "corrupt CIFAR-10 file"),
    ("not a dict", "data_batch_1", pickle.dumps([1, 2, 3]), "expected a pickled dict"),
    ("no data key", "data_batch_1", pickle.dumps({"labels": [0]}), "key 'data'"),
    ("float data", "data_batch_1",
     pickle.dumps({"data": np.zeros((1, 3072), np.float32), "labels": [0]}), "key 'data'"),
    ("not square planes", "data_batch_1",
     pickle.dumps({"data": np.zeros((1, 3000), np.uint8), "labels": [0]}), "square"),
    ("label count", "data_batch_1",
     pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}), "expected 2 integer"),
    ("label range", "test_batch",
     pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [10]}), "0..9"),
    ("code in pickle", "data_batch_4", pickle.dumps({"data": Evil()}), "refusing to load"),
    ("meta without names", "batches.meta", pickle.dumps({"num_vis": 3072}), "label_names"),
]


@pytest.mark.parametrize("fault,name,content,message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_cifar_files_raise_input_error(tmp_path, fault, name, content, message):
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / name
    if content is None:
        path.unlink()
    elif content == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    else:
        path.write_bytes(content)
    with pytest.raises(InputError) as info:
        D.load_cifar10(tmp_path)
    assert message in str(info.value)
    assert info.value.path == str(path)


def test_missing_folder_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="CIFAR-10 folder not found"):
        D.load_cifar10(tmp_path / "nowhere")


# ---- Tiny ImageNet ----------------------------------------------------------------------------

def write_tiny_imagenet(root: Path) -> None:
    from PIL import Image

    wnids = ["n02", "n01"]                              # deliberately unsorted in wnids.txt
    root.mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (root / "words.txt").write_text("n01\tgoldfish, Carassius auratus\nn02\tbullfrog\n"
                                    "n99\tunused\n")
    for k, wnid in enumerate(wnids):
        folder = root / "train" / wnid / "images"
        folder.mkdir(parents=True)
        for j in range(3):
            value = 40 * k + 10 * j
            Image.new("RGB", (64, 64), (value, value, value)).save(folder / f"{wnid}_{j}.JPEG")
    val = root / "val" / "images"
    val.mkdir(parents=True)
    Image.new("L", (64, 64), 200).save(val / "val_0.JPEG")           # a grayscale image
    Image.new("RGB", (64, 64), (0, 0, 255)).save(val / "val_1.JPEG")
    (root / "val" / "val_annotations.txt").write_text(
        "val_0.JPEG\tn02\t0\t0\t10\t10\nval_1.JPEG\tn01\t1\t2\t30\t40\n")


def test_load_tiny_imagenet(tmp_path):
    write_tiny_imagenet(tmp_path / "tiny-imagenet-200")
    ds = D.load_tiny_imagenet(tmp_path)                  # the parent folder works too
    assert ds.train_images.shape == (6, 64, 64, 3) and ds.test_images.shape == (2, 64, 64, 3)
    assert ds.class_names == ("goldfish", "bullfrog")    # sorted wnids, as ImageFolder numbers
    np.testing.assert_array_equal(ds.train_labels, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(ds.test_labels, [1, 0])
    assert abs(int(ds.test_images[0, 5, 5, 1]) - 200) <= 2   # grayscale became RGB
    assert ds.test_images[1, 5, 5, 2] > 200 and ds.test_images[1, 5, 5, 0] < 40
    assert abs(int(ds.train_images[4, 0, 0, 0]) - 10) <= 2    # n02 (index 1), image 1


def test_tiny_imagenet_faults(tmp_path):
    root = tmp_path / "tin"
    write_tiny_imagenet(root)
    annotations = root / "val" / "val_annotations.txt"
    annotations.write_text("val_0.JPEG\tn02\t0\t0\t1\t1\nval_1.JPEG\tn77\t0\t0\t1\t1\n")
    with pytest.raises(InputError) as info:
        D.load_tiny_imagenet(root)
    assert info.value.line == 2 and "wnid" in info.value.message
    annotations.unlink()
    with pytest.raises(InputError, match="val_annotations.txt"):
        D.load_tiny_imagenet(root)


def test_tiny_imagenet_unreadable_image(tmp_path):
    root = tmp_path / "tin"
    write_tiny_imagenet(root)
    bad = root / "train" / "n01" / "images" / "n01_1.JPEG"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(InputError) as info:
        D.load_tiny_imagenet(root)
    assert info.value.path == str(bad)


# ---- .npz -------------------------------------------------------------------------------------

def test_load_npz(tmp_path):
    x = known_images(5, 1)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.array([0, 1, 2, 1, 0]),
             x_test=x[:2], y_test=np.array([2, 2]), class_names=np.array(["a", "b", "c"]))
    ds = D.load_npz(tmp_path)                            # a folder holding one .npz works
    np.testing.assert_array_equal(ds.train_images, x)
    assert ds.train_labels.dtype == np.int64 and ds.class_names == ("a", "b", "c")


@pytest.mark.parametrize("fault,arrays,message", [
    ("missing key", {"x_train": known_images(2, 0), "y_train": np.zeros(2, int)}, "x_test"),
    ("float images", {"x_train": np.zeros((2, 32, 32, 3)), "y_train": np.zeros(2, int),
                      "x_test": known_images(1, 0), "y_test": np.zeros(1, int)}, "x_train"),
    ("NCHW images", {"x_train": np.zeros((2, 3, 32, 32), np.uint8), "y_train": np.zeros(2, int),
                     "x_test": known_images(1, 0), "y_test": np.zeros(1, int)}, "N x H x W x C"),
    ("label count", {"x_train": known_images(2, 0), "y_train": np.zeros(3, int),
                     "x_test": known_images(1, 0), "y_test": np.zeros(1, int)}, "y_train"),
])
def test_bad_npz_raises_input_error(tmp_path, fault, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(InputError, match=message):
        D.load_npz(tmp_path / "d.npz")


def test_missing_npz(tmp_path):
    with pytest.raises(InputError, match="not found"):
        D.load_npz(tmp_path / "absent.npz")


# ---- the synthetic stand-in ----------------------------------------------------------------------

def test_synthetic_is_written_in_cifar_format_and_deterministic(tmp_path):
    root = D.write_synthetic_cifar10(tmp_path / "a", seed=1, n_train=50, n_test=30)
    assert sorted(p.name for p in root.iterdir()) == sorted(list(SIZES) + ["batches.meta"])
    a = D.load_cifar10(tmp_path / "a")
    b = D.load_cifar10(D.write_synthetic_cifar10(tmp_path / "b", seed=1, n_train=50, n_test=30))
    c = D.load_cifar10(D.write_synthetic_cifar10(tmp_path / "c", seed=2, n_train=50, n_test=30))
    assert a.train_images.shape == (50, 32, 32, 3) and a.test_images.shape == (30, 32, 32, 3)
    np.testing.assert_array_equal(a.train_images, b.train_images)
    np.testing.assert_array_equal(a.test_labels, b.test_labels)
    assert not np.array_equal(a.train_images, c.train_images)
    assert np.bincount(a.train_labels).tolist() == [5] * 10          # balanced
    assert a.train_images.std() > 20                                  # not blank
    # the test split does not depend on how many training images were asked for
    d = D.load_cifar10(D.write_synthetic_cifar10(tmp_path / "d", seed=1, n_train=80, n_test=30))
    np.testing.assert_array_equal(a.test_images, d.test_images)


def test_synthetic_200_classes_at_64_pixels(tmp_path):
    root = D.write_synthetic_cifar10(tmp_path, seed=0, n_train=400, n_test=200,
                                     num_classes=200, size=64)
    ds = D.load_cifar10(root)
    assert ds.train_images.shape == (400, 64, 64, 3) and len(ds.class_names) == 200
    assert set(ds.train_labels.tolist()) == set(range(200))


@pytest.mark.slow                   # imports torchvision's datasets and reads 60,000 images
def test_torchvision_reads_the_synthetic_files(tmp_path, monkeypatch):
    datasets = pytest.importorskip("torchvision.datasets")
    D.write_synthetic_cifar10(tmp_path, seed=0, n_train=20, n_test=10)
    import torchvision.datasets.cifar as cifar                        # skip the md5 checks
    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kwargs: True)
    monkeypatch.setattr(datasets.CIFAR10, "_check_integrity", lambda self: True)
    theirs = datasets.CIFAR10(str(tmp_path), train=True, download=False)
    ours = D.load_cifar10(tmp_path)
    np.testing.assert_array_equal(theirs.data, ours.train_images)
    assert theirs.targets == ours.train_labels.tolist()
    assert theirs.classes == list(ours.class_names)


def test_load_dataset_builds_synthetic_once_and_checks_the_spec(tmp_path):
    spec = DatasetSpec(synthetic_train=40, synthetic_test=20)
    ds = D.load_dataset(spec, cache_dir=tmp_path)
    assert ds.source == "synthetic (seed 0)" and ds.class_names == spec.class_names
    assert ds.train_images.shape == (40, 32, 32, 3) and ds.test_images.shape == (20, 32, 32, 3)
    (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    meta = folder / "cifar-10-batches-py" / "batches.meta"
    stamp = meta.stat().st_mtime_ns
    again = D.load_dataset(spec, cache_dir=tmp_path)
    assert meta.stat().st_mtime_ns == stamp                           # read from the cache
    np.testing.assert_array_equal(ds.train_images, again.train_images)
    wrong = DatasetSpec(input_shape=(3, 64, 64), num_classes=10)
    with pytest.raises(InputError, match="expects"):
        D.load_dataset(wrong, data_dir=folder)                        # 32x32 data, 64x64 spec


def test_load_dataset_dispatches_on_the_name(tmp_path):
    write_cifar(tmp_path)
    ds = D.load_dataset(DatasetSpec(), data_dir=tmp_path)
    assert len(ds.train_images) == 10 and ds.source.endswith("cifar-10-batches-py")
    with pytest.raises(InputError, match="not found"):
        D.load_dataset(DatasetSpec(name="npz"), data_dir=tmp_path / "x.npz")


# ---- the held-out split ------------------------------------------------------------------------

@pytest.fixture
def dataset():
    rng = np.random.default_rng(0)
    n = 400
    return D.Dataset(train_images=known_images(4, 0), train_labels=np.zeros(4, np.int64),
                     test_images=rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8),
                     test_labels=rng.integers(0, 10, n), class_names=tuple("abcdefghij"),
                     source="test")


def test_split_writes_the_three_files(tmp_path, dataset):
    files = D.split_test_set(dataset, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == \
        {"test_images.npz", "sample_predictions.csv", "labels.csv"}
    with np.load(files.images) as npz:
        assert npz.files == ["images"]                                 # no labels for students
    np.testing.assert_array_equal(D.read_images_npz(files.images), dataset.test_images)
    sample = files.sample_predictions.read_text().splitlines()
    assert sample[0] == "id,label" and len(sample) == 401 and sample[400] == "399,0"
    np.testing.assert_array_equal(read_labels(files.labels), dataset.test_labels)


def test_split_permutation(tmp_path, dataset):
    a = D.split_test_set(dataset, tmp_path / "a", permute_seed=7)
    b = D.split_test_set(dataset, tmp_path / "b", permute_seed=7)
    c = D.split_test_set(dataset, tmp_path / "c", permute_seed=8)
    images, labels = D.read_images_npz(a.images), read_labels(a.labels)
    np.testing.assert_array_equal(images, D.read_images_npz(b.images))
    assert not np.array_equal(images, D.read_images_npz(c.images))
    # every public image keeps its own label ...
    where = {img.tobytes(): i for i, img in enumerate(dataset.test_images)}
    origin = np.array([where[img.tobytes()] for img in images])
    assert sorted(origin.tolist()) == list(range(400))
    np.testing.assert_array_equal(labels, dataset.test_labels[origin])
    # ... and perfect predictions in the dataset's public order score at chance
    assert (dataset.test_labels == labels).mean() < 0.25


def test_read_images_npz_faults(tmp_path):
    np.savez(tmp_path / "x.npz", pictures=known_images(1, 0))
    with pytest.raises(InputError, match="key 'images' missing"):
        D.read_images_npz(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", images=np.zeros((2, 3)))
    with pytest.raises(InputError, match="uint8"):
        D.read_images_npz(tmp_path / "y.npz")
    with pytest.raises(InputError, match="not found"):
        D.read_images_npz(tmp_path / "z.npz")


def test_the_grader_reads_the_written_labels_and_sample(tmp_path, dataset):
    from grader.grading.predictions import read_labels as grader_read_labels
    from grader.spec import PredictionsSpec

    files = D.split_test_set(dataset, tmp_path, permute_seed=1)
    spec = PredictionsSpec(rows=400, labels="index")
    labels = grader_read_labels(files.labels, spec, dataset.class_names)
    np.testing.assert_array_equal(labels, read_labels(files.labels))
    assert grader_read_labels(files.sample_predictions, spec, dataset.class_names).tolist() == \
        [0] * 400


def test_split_uses_the_spec_columns_and_first_id(tmp_path, dataset):
    """The course's own format (Id,Label, ids from first_id) in both CSV files, and the
    grader reads them back with the same spec."""
    from grader.grading.predictions import read_labels as grader_read_labels
    from grader.spec import PredictionsSpec

    spec = PredictionsSpec(id_column="Id", label_column="Label", first_id=1, rows=400,
                           labels="index")
    files = D.split_test_set(dataset, tmp_path, permute_seed=3, predictions=spec)
    for path in (files.sample_predictions, files.labels):
        lines = path.read_text().splitlines()
        assert lines[0] == "Id,Label" and lines[1].startswith("1,") and \
            lines[400].startswith("400,") and len(lines) == 401
    labels = grader_read_labels(files.labels, spec, dataset.class_names)
    order = np.random.default_rng(3).permutation(400)
    np.testing.assert_array_equal(labels, dataset.test_labels[order])


def test_split_refuses_a_spec_whose_row_count_the_split_cannot_meet(tmp_path, dataset):
    from grader.spec import PredictionsSpec

    with pytest.raises(InputError, match=r"rows = 10,000 but the test split has 400 images"):
        D.split_test_set(dataset, tmp_path, predictions=PredictionsSpec(rows=10000))


def test_data_split_command_follows_the_assignment(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from grader.cli import main

    monkeypatch.setenv("GRADER_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "hw.toml"
    spec.write_text(spec_toml(
        model_toml("net", names=["Net"]), course="C", title="T",
        tables=table_toml("dataset", synthetic_train=20, synthetic_test=30)
        + table_toml("predictions", id_column="Id", label_column="Label", first_id=5, rows=30)))
    out = tmp_path / "split"
    result = CliRunner().invoke(main, ["data", "split", "--assignment", str(spec), "--out",
                                       str(out)])
    assert result.exit_code == 0, result.output
    lines = (out / "labels.csv").read_text().splitlines()
    assert lines[0] == "Id,Label" and lines[1].startswith("5,") and len(lines) == 31
    assert (out / "sample_predictions.csv").read_text().splitlines()[30] == "34,0"


def test_synthetic_colour_leans_towards_the_class_hue(tmp_path):
    """Version 2: the shape's hue is spread around its class's hue (c / 10 of the wheel), so
    small networks learn within a demo budget; the most saturated pixels of class 0 images
    (hue 0, red) are redder than those of class 3 (hue 0.3, green)."""
    assert D.SYNTHETIC_VERSION == 2
    ds = D.load_cifar10(D.write_synthetic_cifar10(tmp_path, seed=0, n_train=200, n_test=10))
    img = ds.train_images.astype(float)
    red_minus_green = (img[..., 0] - img[..., 1]).reshape(len(img), -1)
    top = np.sort(red_minus_green, axis=1)[:, -60:].mean(axis=1)    # the shape's pixels
    assert top[ds.train_labels == 0].mean() > top[ds.train_labels == 3].mean() + 80
