"""The data of localization and sequence tasks: the synthetic stand-ins (ECE 60146 HW5 2023's
one-object images with boxes; HW8 / ECE 661 HW3's sentiment sequences and "word2vec" table),
the .npz real-data path they are read back through, the prepared folder (held-out boxes kept
from the sandbox) and the students' split; and that classification's prepared data did not
move by a byte."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from grader.errors import InputError
from grader.inputs import data as D
from grader.inputs import synthetic_tasks as S
from grader.inputs.prepared import PreparedData, prepare
from grader.spec import DatasetSpec
from grader.spec.types import PredictionsSpec, TaskSpec

LOCALIZATION = DatasetSpec(name="npz", input_shape=(3, 64, 64), num_classes=3,
                           class_names=("bus", "cat", "pizza"), synthetic_train=24,
                           synthetic_test=12)
SEQUENCE = DatasetSpec(name="npz", num_classes=2, class_names=("negative", "positive"),
                       vocab_size=100, lengths=(4, 12), synthetic_train=60, synthetic_test=30)
HW8 = dataclasses.replace(SEQUENCE, vocab_size=0, embedding_dim=16)


def tight_box(mask: np.ndarray) -> np.ndarray:
    """x1, y1, x2, y2 in 0..1 of a bool size x size mask's pixels (their outer edges)."""
    size = mask.shape[0]
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]) / size


# ---- the localization stand-in -----------------------------------------------------------------

def test_localization_stand_in_is_deterministic_with_one_boxed_object_per_image():
    images, labels, boxes = S.localization_arrays(seed=0, n=30, split=0, size=96)
    assert images.shape == (30, 96, 96, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [10, 10, 10]
    assert boxes.shape == (30, 4) and boxes.dtype == np.float32
    assert (boxes >= 0).all() and (boxes <= 1).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    assert area.min() >= 0.05 and area.max() <= 0.6 + 1e-6 and area.max() - area.min() > 0.2
    again = S.localization_arrays(seed=0, n=30, split=0, size=96)
    assert all(np.array_equal(a, b) for a, b in zip((images, labels, boxes), again))
    other = S.localization_arrays(seed=1, n=30, split=0, size=96)
    assert not np.array_equal(boxes, other[2]) and not np.array_equal(images, other[0])
    test = S.localization_arrays(seed=0, n=30, split=1, size=96)     # its own stream
    assert not np.array_equal(boxes, test[2])


def test_each_box_is_the_drawn_objects_tight_box_and_the_object_stands_out():
    images, labels, boxes = S.localization_arrays(seed=3, n=30, split=0, size=96)
    value = images.max(-1).astype(np.float64)          # HSV value: objects are brighter
    for i in range(len(images)):
        mask = S.object_mask(labels[i], boxes[i], 96)[0]
        np.testing.assert_allclose(tight_box(mask), boxes[i], atol=2.5 / 96)
        inside = np.zeros((96, 96), bool)
        x1, y1, x2, y2 = (boxes[i] * 96).round().astype(int)
        inside[y1:y2, x1:x2] = True
        # the object's pixels are far from the background's typical value (the median outside
        # its box): the box holds something that is not background
        assert value[i][mask].mean() - np.median(value[i][~inside]) > 25, i


def test_the_class_shapes_differ_in_what_they_cover_of_their_box():
    box = np.array([[0.1, 0.2, 0.9, 0.8]], np.float32)
    cover = [S.object_mask(c, box, 128).mean() / 0.48 for c in range(3)]   # box: 48% of image
    bus, cat, pizza = cover
    assert bus > 0.97 and 0.6 < pizza < 0.85 and 0.5 < cat < 0.85 and abs(cat - pizza) > 0.02


# ---- the sequence stand-in ---------------------------------------------------------------------

def majority(ids: np.ndarray, negative: np.ndarray, positive: np.ndarray) -> np.ndarray:
    pos, neg = np.isin(ids, positive).sum(1), np.isin(ids, negative).sum(1)
    assert (pos != neg).all()                             # never a tie
    return (pos > neg).astype(np.int64)


def test_sequence_stand_in_labels_follow_the_majority_of_its_sentiment_words():
    ids, lengths, labels = S.sequence_arrays(seed=0, n=400, split=0, vocab_size=100,
                                             lengths=(4, 12))
    assert ids.shape == (400, 12) and ids.dtype == lengths.dtype == labels.dtype == np.int64
    assert lengths.min() == 4 and lengths.max() == 12
    pad = np.arange(12)[None, :] >= lengths[:, None]
    assert (ids[pad] == 0).all() and (ids[~pad] >= 1).all() and ids.max() <= 99
    negative, positive = S.sentiment_words(0, 100)
    assert len(negative) == len(positive) == S.SENTIMENT_WORDS
    assert set(negative).isdisjoint(positive) and max(*negative, *positive) > 2 * S.SENTIMENT_WORDS
    np.testing.assert_array_equal(majority(ids, negative, positive), labels)
    count = np.isin(ids, np.concatenate([negative, positive])).sum(1)
    assert set(count.tolist()) == {1, 2, 3}               # 1 to 3 sentiment words, anywhere
    assert 150 < labels.sum() < 250
    first = np.argmax(np.isin(ids, np.concatenate([negative, positive])), axis=1)
    assert first.max() >= 8                               # not always at the start
    again = S.sequence_arrays(seed=0, n=400, split=0, vocab_size=100, lengths=(4, 12))
    assert all(np.array_equal(a, b) for a, b in zip((ids, lengths, labels), again))


def test_word_vectors_share_a_direction_per_polarity():
    vectors = S.word_vectors(0, 100, 32)
    assert vectors.shape == (100, 32) and vectors.dtype == np.float32
    assert not vectors[0].any()
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    negative, positive = S.sentiment_words(0, 100)

    def mean_cosine(a, b):
        sims = unit[a] @ unit[b].T
        return sims[~np.eye(len(a), dtype=bool)].mean() if a is b else sims.mean()
    neutral = np.setdiff1d(np.arange(1, 100), np.concatenate([negative, positive]))
    assert mean_cosine(positive, positive) > 0.6 and mean_cosine(negative, negative) > 0.6
    assert abs(mean_cosine(positive, negative)) < 0.2
    assert abs(mean_cosine(neutral, positive)) < 0.05 and abs(mean_cosine(neutral, negative)) < 0.05


# ---- load_dataset: the stand-ins through the .npz path -----------------------------------------

def test_localization_stand_in_is_built_once_and_read_by_the_npz_loader(tmp_path, monkeypatch):
    dataset = D.load_dataset(LOCALIZATION, cache_dir=tmp_path, task="localization")
    assert dataset.train_images.shape == (24, 64, 64, 3) and dataset.test_images.shape[0] == 12
    assert dataset.class_names == ("bus", "cat", "pizza")
    assert dataset.source == "synthetic (seed 0)"
    assert set(dataset.extra) == {"train_boxes"} and dataset.extra["train_boxes"].shape == (24, 4)
    assert dataset.test_boxes.shape == (12, 4) and dataset.test_boxes.dtype == np.float32
    cached = list(tmp_path.glob("synthetic-localization-*/data.npz"))
    assert len(cached) == 1                               # the real-data format, in the cache
    direct = D.load_npz(cached[0], "localization")
    np.testing.assert_array_equal(direct.test_boxes, dataset.test_boxes)
    _, labels, boxes = S.localization_arrays(seed=0, n=12, split=1, size=64)
    np.testing.assert_array_equal(dataset.test_boxes, boxes)
    np.testing.assert_array_equal(dataset.test_labels, labels)

    def refuse(*args, **kwargs):
        raise AssertionError("the cached stand-in was built again")
    monkeypatch.setattr(S, "write_synthetic_localization", refuse)
    again = D.load_dataset(LOCALIZATION, cache_dir=tmp_path, task=TaskSpec(kind="localization"))
    np.testing.assert_array_equal(again.train_images, dataset.train_images)
    other = D.load_dataset(LOCALIZATION, cache_dir=tmp_path, task="classification")
    assert other.test_boxes is None and other.extra == {}           # classification's stand-in


@pytest.mark.parametrize("spec, keys", [
    (SEQUENCE, {"train_lengths", "test_lengths"}),
    (HW8, {"train_lengths", "test_lengths", "vectors"}),     # an embeddings interface
])
def test_sequence_stand_in_loads_ids_lengths_and_vectors(tmp_path, spec, keys):
    dataset = D.load_dataset(spec, cache_dir=tmp_path, task="sequence")
    assert set(dataset.extra) == keys and dataset.test_boxes is None
    assert dataset.train_images.dtype == np.int64 and dataset.train_images.shape == (60, 12)
    vocab = spec.vocab_size or S.DEFAULT_VOCAB
    assert dataset.train_images.max() < vocab
    lengths = dataset.extra["test_lengths"]
    assert lengths.shape == (30,) and lengths.min() >= 4 and lengths.max() <= 12
    if "vectors" in keys:
        assert dataset.extra["vectors"].shape == (vocab, 16)
    negative, positive = S.sentiment_words(0, vocab)
    np.testing.assert_array_equal(majority(dataset.train_images, negative, positive),
                                  dataset.train_labels)


def test_load_dataset_checks_task_data_against_the_spec(tmp_path):
    path = S.write_synthetic_localization(tmp_path / "d.npz", seed=0, n_train=6, n_test=3,
                                          size=48)
    with pytest.raises(InputError, match=r"images are \(48, 48, 3\).*input_shape \[3, 64, 64\]"):
        D.load_dataset(LOCALIZATION, data_dir=path, task="localization")
    two = dataclasses.replace(LOCALIZATION, input_shape=(3, 48, 48), num_classes=2,
                              class_names=("bus", "cat"))
    with pytest.raises(InputError, match="labels go up to 2; the assignment has 2 classes"):
        D.load_dataset(two, data_dir=path, task="localization")
    with pytest.raises(InputError, match="unknown task kind 'detection'"):
        D.load_dataset(LOCALIZATION, data_dir=path, task="detection")
    ok = D.load_dataset(dataclasses.replace(LOCALIZATION, input_shape=(3, 48, 48)),
                        data_dir=path, task="localization")
    assert ok.source == str(path) and ok.test_boxes.shape == (3, 4)


# ---- load_npz's faults -------------------------------------------------------------------------

def localization_arrays() -> dict:
    rng = np.random.default_rng(0)
    corners = np.sort(rng.uniform(0, 1, (2, 8, 2, 2)), axis=2)    # x1 <= x2, y1 <= y2
    boxes = corners.transpose(0, 1, 3, 2).reshape(2, 8, 4)[..., [0, 2, 1, 3]]
    return {"x_train": rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8),
            "y_train": rng.integers(0, 3, 8), "box_train": boxes[0].astype(np.float32),
            "x_test": rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8),
            "y_test": rng.integers(0, 3, 8), "box_test": boxes[1]}     # float64: accepted


def sequence_arrays() -> dict:
    ids, lengths, labels = S.sequence_arrays(seed=0, n=8, split=0, vocab_size=100,
                                             lengths=(3, 12))
    return {"x_train": ids, "y_train": labels, "len_train": lengths,
            "x_test": ids.astype(np.int32), "y_test": labels, "len_test": lengths,
            "vectors": S.word_vectors(0, 100, 16)}


def change(key, value):
    def apply(arrays):
        arrays[key] = value(arrays[key]) if callable(value) else value
        if value is None:
            del arrays[key]
    return apply


def xywh(boxes):
    boxes = boxes.copy()
    boxes[3] = [0.5, 0.4, 0.3, 0.2]            # x, y, width, height: x2 < x1
    return boxes


def leftover_token(ids):
    ids = ids.copy()
    ids[2, -1] = 7                             # a token after row 2's length
    return ids


def zero_length(lengths):
    lengths = lengths.copy()
    lengths[2] = 0
    return lengths


LOCALIZATION_FAULTS = [
    ("no held-out boxes", change("box_test", None), "key 'box_test' missing: a localization"),
    ("boxes with 3 columns", change("box_train", lambda b: b[:, :3]),
     r"key 'box_train': expected floats \[8, 4\].*got float32 \(8, 3\)"),
    ("integer boxes", change("box_train", lambda b: (b * 100).astype(np.int64)),
     "key 'box_train': expected floats"),
    ("a box per image missing", change("box_test", lambda b: b[:-1]),
     r"expected floats \[8, 4\]"),
    ("pixel coordinates", change("box_train", lambda b: b * 256),
     "key 'box_train': row 0 is .*scaled to 0..1 \\(divide pixel coordinates"),
    ("x, y, width, height", change("box_test", xywh),
     r"key 'box_test': row 3 is \[0.5, 0.4, 0.3, 0.2\], with x2 < x1.*x2 = x \+ width"),
    ("a NaN", change("box_train", lambda b: np.where(np.arange(8)[:, None] == 5, np.nan, b)),
     "key 'box_train': row 5 is .*expected finite coordinates"),
]
SEQUENCE_FAULTS = [
    ("float ids", change("x_train", lambda x: x.astype(np.float32)),
     r"key 'x_train': expected integer token ids \[N, T\]"),
    ("embedded already", change("x_test", lambda x: np.zeros((8, 12, 4), np.int64)),
     "key 'x_test': expected integer token ids"),
    ("an id beyond the vocabulary", change("x_train", lambda x: np.where(x == x[4, 0], 100, x)),
     r"key 'x_train': row \d holds token id 100: expected ids 0..99 \(vocab_size = 100"),
    ("a negative id", change("x_test", lambda x: -x), "key 'x_test': row 0 holds token id -"),
    ("no lengths", change("len_test", None), "key 'len_test' missing: a sequence dataset"),
    ("lengths of another split", change("len_train", lambda n: n[:5]),
     r"key 'len_train': expected 8 integer lengths"),
    ("a zero length", change("len_train", zero_length),
     "key 'len_train': row 2 is 0: expected 1..12"),
    ("a length past the width", change("len_test", lambda n: n + 20),
     "key 'len_test': row 0 is .*: expected 1..12"),
    ("tokens past the length", change("x_train", leftover_token),
     r"key 'x_train': row 2 has token ids after its length .*expected 0 \(padding\)"),
    ("too few vectors", change("vectors", lambda v: v[:50]),
     "key 'vectors': 50 rows, but the ids go up to"),
    ("vectors of another size", change("vectors", lambda v: v[:, :8]),
     "vectors of 8 values; the assignment's embedding_dim is 16"),
    ("integer vectors", change("vectors", lambda v: v.astype(np.int64)),
     r"key 'vectors': expected a float table \[V, D\]"),
    ("no vectors for an embeddings model", change("vectors", None),
     r"key 'vectors' missing: .*embedding_dim = 16.*\[V, 16\]"),
]


@pytest.mark.parametrize("task, arrays, apply, message", [
    ("localization", localization_arrays, apply, message)
    for _, apply, message in LOCALIZATION_FAULTS] + [
    ("sequence", sequence_arrays, apply, message) for _, apply, message in SEQUENCE_FAULTS],
    ids=[row[0] for row in LOCALIZATION_FAULTS + SEQUENCE_FAULTS])
def test_load_npz_faults_name_the_key_the_row_and_what_was_expected(tmp_path, task, arrays,
                                                                    apply, message):
    good = arrays()
    path = tmp_path / "data.npz"
    np.savez(path, **good)
    loaded = D.load_npz(path, task, vocab_size=100, embedding_dim=16)   # the unchanged file
    assert loaded.source == str(path)
    apply(good)
    np.savez(path, **good)
    with pytest.raises(InputError, match=message) as info:
        D.load_npz(path, task, vocab_size=100, embedding_dim=16)
    assert str(path) in str(info.value)


def test_load_npz_splits_sandbox_arrays_from_hidden_boxes(tmp_path):
    np.savez(tmp_path / "loc.npz", **localization_arrays())
    loc = D.load_npz(tmp_path / "loc.npz", "localization")
    assert set(loc.extra) == {"train_boxes"} and loc.test_boxes.dtype == np.float32
    assert D.load_npz(tmp_path / "loc.npz").test_boxes is None     # classification: no boxes
    arrays = sequence_arrays()
    np.savez(tmp_path / "seq.npz", **arrays)
    seq = D.load_npz(tmp_path / "seq.npz", "sequence")                # no vocab_size: any id
    assert set(seq.extra) == {"train_lengths", "test_lengths", "vectors"}
    assert seq.test_images.dtype == np.int64                          # int32 ids widened
    np.testing.assert_array_equal(seq.test_images, arrays["x_test"])
    del arrays["vectors"]
    np.savez(tmp_path / "ids.npz", **arrays)                          # the (ids, length) kind
    assert set(D.load_npz(tmp_path / "ids.npz", "sequence", vocab_size=100).extra) == {
        "train_lengths", "test_lengths"}


# ---- prepared data -----------------------------------------------------------------------------

def test_prepare_gives_the_sandbox_the_extras_and_keeps_the_held_out_boxes(tmp_path):
    dataset = D.load_dataset(LOCALIZATION, cache_dir=tmp_path / "data", task="localization")
    data = prepare(dataset, dataset.test_labels, tmp_path)
    assert set(data.files) == {"train_images", "train_labels", "test_images", "train_boxes"}
    assert "test_boxes" not in data.files and "held_out" not in data.files
    assert (data.folder / "test_boxes.npy").is_file()
    np.testing.assert_array_equal(data.boxes, dataset.test_boxes)
    np.testing.assert_array_equal(np.load(data.files["train_boxes"]),
                                  dataset.extra["train_boxes"])
    np.testing.assert_array_equal(data.held_out_boxes, dataset.test_boxes)
    reopened = PreparedData.open(data.folder)
    assert reopened == data and reopened.extras == ("train_boxes",)
    assert json.loads((data.folder / "meta.json").read_text())["extras"] == ["train_boxes"]
    moved = dataset.test_boxes.copy()
    moved[0, 0] += 0.01                         # the held-out boxes are part of the key
    assert prepare(dataclasses.replace(dataset, test_boxes=moved), dataset.test_labels,
                   tmp_path).fingerprint != data.fingerprint
    order = np.arange(12)[::-1]                 # --labels in a secret order, with its boxes
    permuted = prepare(dataset, dataset.test_labels[order], tmp_path,
                       held_out_boxes=dataset.test_boxes[order])
    np.testing.assert_array_equal(permuted.held_out_boxes, dataset.test_boxes[order])
    np.testing.assert_array_equal(permuted.boxes, dataset.test_boxes)
    assert prepare(dataset, None, tmp_path).held_out_boxes is None   # no predictions


def test_prepare_of_sequences_and_refused_extras(tmp_path):
    dataset = D.load_dataset(HW8, cache_dir=tmp_path / "data", task="sequence")
    data = prepare(dataset, dataset.test_labels, tmp_path)
    assert set(data.files) == {"train_images", "train_labels", "test_images", "train_lengths",
                               "test_lengths", "vectors"}
    assert data.boxes is None and data.held_out_boxes is None
    assert np.load(data.files["train_images"]).dtype == np.int64
    leak = dataclasses.replace(dataset, extra={**dataset.extra, "test_boxes": np.zeros((30, 4))})
    with pytest.raises(ValueError, match=r"\['test_boxes'\] may not go into a sandbox"):
        prepare(leak, None, tmp_path)


# Computed with the code before issue 20 (commit 3e8a6bd's prepare and synthetic data): the
# classification data's key, files and meta.json must not move, or every cached reference and
# student result (and the main job's points) would be recomputed.
SMALL_HELD = "f6f40dc7b9cf2efda20000e4c3af05ac85388d746c4fc9376a99efc1bd51a7e4"
SMALL_NONE = "ee3213fd9a6b07fcc0c9f4fb41fd5ff27f5a80d267d1c74c51b9d1bd2483a342"
SMALL_META = "d8fbb0af8b1ef44712abd0d8479d60d950bfecf869d49c57f81f262a21b12898"
HW2_KEY = "272371eb2e364fb03b3b30ef21d62252fe046c005231cdd4fd7f54d542702a18"
HW2_FILES = {
    "held_out.npy": "42b6fd93d96ba154b33adcb2dba5304cfaeff23965b00f1ffe67afa6afb3914d",
    "meta.json": "6b0dbad184537d034732c98bb11b6e95da9a3f84e3134474f9b2446c2a9b5d85",
    "test_images.npy": "cb2e5aca8f85ee575eaaad0b24c3087b5d421e2e78cd1994433fccbbad446dc4",
    "test_labels.npy": "42b6fd93d96ba154b33adcb2dba5304cfaeff23965b00f1ffe67afa6afb3914d",
    "train_images.npy": "737ddc8929378cafc264e3f53b4ef3854938f4bb07ce6ce7fceb9dd526047875",
    "train_labels.npy": "09dc3bf0fed72f7b1075d847ba6d35bded7f2dece203c18db47ff9854961a6e5"}


def test_classification_prepared_data_is_byte_identical_to_before(tmp_path):
    dataset = D.load_dataset(DatasetSpec(synthetic_train=50, synthetic_test=20),
                             cache_dir=tmp_path / "data")
    assert dataset.extra == {} and dataset.test_boxes is None
    held = prepare(dataset, dataset.test_labels, tmp_path)
    assert held.fingerprint == SMALL_HELD and held.folder.name == SMALL_HELD[:32]
    assert sorted(p.name for p in held.folder.iterdir()) == [
        "held_out.npy", "meta.json", "test_images.npy", "test_labels.npy", "train_images.npy",
        "train_labels.npy"]
    assert hashlib.sha256((held.folder / "meta.json").read_bytes()).hexdigest() == SMALL_META
    assert held.extras == () and held.boxes is None
    assert prepare(dataset, None, tmp_path).fingerprint == SMALL_NONE


@pytest.mark.slow
def test_the_main_jobs_prepared_data_is_byte_identical_to_before(tmp_path):
    from grader import spec

    hw2 = spec.load("ece661-hw2")
    dataset = D.load_dataset(hw2.dataset, None, cache_dir=tmp_path / "data",
                             task=hw2.task.kind)
    data = prepare(dataset, np.asarray(dataset.test_labels, np.int64), tmp_path)
    assert data.fingerprint == HW2_KEY
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in data.folder.iterdir()} == HW2_FILES


# ---- the students' split and `grader data synth` -----------------------------------------------

def test_split_of_a_localization_set_writes_boxes_in_the_secret_order(tmp_path):
    dataset = D.load_dataset(LOCALIZATION, cache_dir=tmp_path / "data", task="localization")
    predictions = PredictionsSpec(id_column="Id", label_column="Label", rows=12,
                                  box_columns=("x1", "y1", "x2", "y2"))
    files = D.split_test_set(dataset, tmp_path / "out", permute_seed=4, predictions=predictions)
    order = np.random.default_rng(4).permutation(12)
    assert files.images.name == "test_images.npz"
    np.testing.assert_array_equal(D.read_images_npz(files.images), dataset.test_images[order])
    rows = files.labels.read_text().splitlines()
    assert rows[0] == "Id,Label,x1,y1,x2,y2" and len(rows) == 13
    table = np.array([[float(v) for v in row.split(",")] for row in rows[1:]])
    np.testing.assert_array_equal(table[:, 0], np.arange(12))
    np.testing.assert_array_equal(table[:, 1], dataset.test_labels[order])
    np.testing.assert_allclose(table[:, 2:], dataset.test_boxes[order], atol=1e-6)
    sample = files.sample_predictions.read_text().splitlines()
    assert sample[0] == "Id,Label,x1,y1,x2,y2"
    assert [float(v) for v in sample[5].split(",")] == [4, 0, 0, 0, 1, 1]    # the whole image


def test_split_of_a_sequence_set_gives_students_ids_and_lengths(tmp_path):
    dataset = D.load_dataset(HW8, cache_dir=tmp_path / "data", task="sequence")
    files = D.split_test_set(dataset, tmp_path / "out", permute_seed=2)
    order = np.random.default_rng(2).permutation(30)
    assert files.images.name == "test_sequences.npz"
    assert not (tmp_path / "out" / "test_images.npz").exists()
    with np.load(files.images, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["ids", "lengths", "vectors"]             # no labels
        np.testing.assert_array_equal(npz["ids"], dataset.test_images[order])
        np.testing.assert_array_equal(npz["lengths"], dataset.extra["test_lengths"][order])
    rows = files.labels.read_text().splitlines()
    assert rows[0] == "id,label"
    assert [int(r.split(",")[1]) for r in rows[1:]] == dataset.test_labels[order].tolist()


def test_write_synthetic_follows_the_assignments_task(tmp_path):
    loc = SimpleNamespace(dataset=LOCALIZATION, task=TaskSpec(kind="localization"))
    path = D.write_synthetic(tmp_path / "loc", seed=2, n_train=5, n_test=3, assignment=loc)
    assert path == tmp_path / "loc" / "data.npz"
    data = D.load_npz(path, "localization")
    assert data.train_images.shape == (5, 64, 64, 3)
    assert data.class_names == LOCALIZATION.class_names
    seq = SimpleNamespace(dataset=HW8, task=TaskSpec(kind="sequence"))
    data = D.load_npz(D.write_synthetic(tmp_path / "seq", assignment=seq), "sequence",
                      embedding_dim=16)
    assert len(data.train_images) == 60 and data.extra["vectors"].shape == (S.DEFAULT_VOCAB, 16)
    with pytest.raises(InputError, match="found a file"):
        D.write_synthetic(path, assignment=loc)


def test_data_synth_and_split_commands_for_a_localization_spec(tmp_path, monkeypatch):
    from grader.cli import main

    monkeypatch.setenv("GRADER_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "hw5.toml"
    spec.write_text(LOCALIZATION_TOML)
    runner = CliRunner()
    result = runner.invoke(main, ["data", "synth", str(tmp_path / "syn"), "-a", str(spec)])
    assert result.exit_code == 0, result.output
    assert f"use --data {tmp_path / 'syn' / 'data.npz'}" in result.output
    result = runner.invoke(main, ["data", "split", "-a", str(spec), "--data",
                                  str(tmp_path / "syn" / "data.npz"), "--out",
                                  str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "labels.csv").read_text().startswith("Id,Label,x1,y1,x2,y2\n")


LOCALIZATION_TOML = """
[assignment]
course = "ECE 60146"
title = "HW5: one object, its class and its box"

[task]
kind = "localization"

[dataset]
input_shape = [3, 64, 64]
num_classes = 3
class_names = ["bus", "cat", "pizza"]
synthetic_train = 12
synthetic_test = 6

[interface]
[[interface.inputs]]
name = "x"
role = "image"
shape = ["B", 3, 64, 64]
[[interface.outputs]]
name = "label"
role = "label"
shape = ["B", 3]
[[interface.outputs]]
name = "box"
role = "box"
shape = ["B", 4]
range = [0, 1]

[predictions]
id_column = "Id"
label_column = "Label"
rows = 6
box_columns = ["x1", "y1", "x2", "y2"]

[[models]]
key = "net"
names = ["HW5Net"]
"""
