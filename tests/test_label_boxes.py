"""--labels for a localization task: a permuted split's labels.csv carries the boxes in its own
order, and evaluate scores predictions.csv's boxes against those (not the test split's)."""

from __future__ import annotations

import numpy as np

from grader import spec
from grader.grading.predictions import read_label_boxes, read_labels
from grader.inputs.data import Dataset
from grader.inputs.split import split_test_set


def dataset(n: int = 12) -> Dataset:
    rng = np.random.default_rng(3)
    corner = rng.uniform(0.0, 0.4, (n, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(0.2, 0.5, (n, 2))], 1)
    return Dataset(train_images=np.zeros((2, 8, 8, 3), np.uint8),
                   train_labels=np.zeros(2, np.int64),
                   test_images=rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8),
                   test_labels=rng.integers(0, 3, n).astype(np.int64),
                   class_names=("bus", "cat", "pizza"), source="test",
                   test_boxes=boxes.astype(np.float32))


def test_permuted_labels_file_gives_its_boxes_in_its_order(tmp_path):
    hw5 = spec.load("ece60146-hw5-2023")
    preds = hw5.predictions.__class__(**{**hw5.predictions.__dict__, "rows": 12})
    data = dataset()
    files = split_test_set(data, tmp_path, permute_seed=5, predictions=preds)
    order = np.random.default_rng(5).permutation(12)
    labels = read_labels(files.labels, preds, data.class_names)
    boxes = read_label_boxes(files.labels, preds, data.class_names)
    assert (labels == data.test_labels[order]).all()
    assert boxes.shape == (12, 4)
    np.testing.assert_allclose(boxes, data.test_boxes[order], atol=1e-4)
    # a file without box columns gives none: the test split's boxes are used
    (tmp_path / "plain.csv").write_text(
        "Id,Label\n" + "".join(f"{i},{c}\n" for i, c in enumerate(labels)))
    assert read_label_boxes(tmp_path / "plain.csv", preds, data.class_names) is None


def test_labels_without_boxes_are_refused_for_a_localization_task(tmp_path):
    import pytest

    from grader.errors import InputError
    from grader.run.evaluate import _held_out_boxes
    from grader.run.options import Options

    hw5 = spec.load("ece60146-hw5-2023")
    path = tmp_path / "labels.csv"
    path.write_text("Id,Label\n" + "".join(f"{i},cat\n" for i in range(hw5.predictions.rows)))
    with pytest.raises(InputError, match="no box columns") as info:
        _held_out_boxes(hw5, Options(labels=path), dataset())
    assert info.value.path == str(path)
