"""Metrics against hand-computed examples (grader/grading/metrics.py)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from grader.grading.metrics import (accuracy, confusion_matrix, most_confused_pairs, per_class_accuracy,
                            row_normalised_percent, scores)
from grader.results import Scores

# 7 samples, 4 classes; class 3 has no samples (and is never predicted).
# (true, predicted): (0,0) (1,1) (1,2) (2,2) (2,1) (2,0) (0,2)
TARGET = [0, 1, 1, 2, 2, 2, 0]
PREDS = [0, 1, 2, 2, 1, 0, 2]
CONFUSION = [[1, 0, 1, 0],
             [0, 1, 1, 0],
             [1, 1, 1, 0],
             [0, 0, 0, 0]]
NAMES = ("cat", "dog", "frog", "ship")


def test_confusion_matrix_rows_true_columns_predicted():
    confusion = confusion_matrix(PREDS, TARGET, 4)
    assert confusion.dtype == np.int64
    assert confusion.tolist() == CONFUSION


def test_confusion_matrix_is_not_transposed():
    # one cat predicted as dog: row cat (0), column dog (1)
    assert confusion_matrix([1], [0], 2).tolist() == [[0, 1], [0, 0]]


def test_confusion_matrix_of_uint8_does_not_overflow():
    labels = np.array([255, 254], dtype=np.uint8)
    confusion = confusion_matrix(labels, labels, 256)
    assert confusion[255, 255] == 1 and confusion[254, 254] == 1 and confusion.sum() == 2


def test_confusion_matrix_of_no_samples_is_zeros():
    assert confusion_matrix([], [], 2).tolist() == [[0, 0], [0, 0]]


def test_accuracy():
    assert accuracy(PREDS, TARGET, 4) == pytest.approx(3 / 7)
    assert accuracy(np.array([1, 1]), np.array([1, 1]), 2) == 1.0


def test_per_class_accuracy_is_recall_with_zero_for_empty_class():
    assert per_class_accuracy(PREDS, TARGET, 4).tolist() == pytest.approx([1 / 2, 1 / 2, 1 / 3,
                                                                           0.0])


def test_row_normalised_percent_rows_sum_to_100_and_empty_row_is_zeros():
    percent = row_normalised_percent(CONFUSION)
    np.testing.assert_allclose(percent, [[50, 0, 50, 0],
                                         [0, 50, 50, 0],
                                         [100 / 3, 100 / 3, 100 / 3, 0],
                                         [0, 0, 0, 0]])
    assert percent[:3].sum(axis=1) == pytest.approx([100, 100, 100])


def test_most_confused_pairs_largest_first_with_percent_of_true():
    confusion = [[5, 3, 0],
                 [1, 6, 2],
                 [4, 0, 2]]
    pairs = most_confused_pairs(confusion, ("cat", "dog", "frog"), k=3)
    assert [(t, p, n) for t, p, n, _ in pairs] == [("frog", "cat", 4), ("cat", "dog", 3),
                                                  ("dog", "frog", 2)]
    assert [pct for *_, pct in pairs] == pytest.approx([400 / 6, 300 / 8, 200 / 9])


def test_most_confused_pairs_leaves_out_zero_cells_and_breaks_ties_by_class():
    pairs = most_confused_pairs(CONFUSION, NAMES, k=10)
    assert pairs == [("cat", "frog", 1, 50.0), ("dog", "frog", 1, 50.0),
                     ("frog", "cat", 1, pytest.approx(100 / 3)),
                     ("frog", "dog", 1, pytest.approx(100 / 3))]
    assert most_confused_pairs(CONFUSION, NAMES, k=0) == []


def test_scores_plain_python_and_json_safe():
    result = scores(PREDS, TARGET, 4)
    assert isinstance(result, Scores)
    assert result.accuracy == pytest.approx(3 / 7)
    assert result.per_class == pytest.approx([0.5, 0.5, 1 / 3, 0.0])
    assert result.confusion == CONFUSION
    assert all(type(n) is int for row in result.confusion for n in row)
    json.dumps(dataclasses.asdict(result), allow_nan=False)


# call, message expected (the argument's name and the value got)
INVALID = [
    ("float preds", lambda: accuracy([0.0, 1.0], [0, 1], 2),
     "preds must hold integers; got dtype float64"),
    ("target out of range", lambda: confusion_matrix([0, 1, 1], [0, 1, 4], 4),
     "target must hold class indexes 0 to 3; got 4 at index 2"),
    ("negative pred", lambda: per_class_accuracy([0, -1], [0, 1], 2),
     "preds must hold class indexes 0 to 1; got -1 at index 1"),
    ("lengths differ", lambda: confusion_matrix([0, 1], [0, 1, 1], 2),
     "preds and target must have the same length; got 2 and 3"),
    ("2-D preds", lambda: scores([[0, 1]], [0, 1], 2), r"preds must be 1-D; got shape \(1, 2\)"),
    ("num_classes zero", lambda: confusion_matrix([0], [0], 0),
     "num_classes must be a positive integer; got 0"),
    ("num_classes float", lambda: confusion_matrix([0], [0], 2.0),
     "num_classes must be a positive integer; got 2.0"),
    ("empty accuracy", lambda: accuracy([], [], 2), "target is empty"),
    ("empty scores", lambda: scores([], [], 2), "target is empty"),
    ("confusion not square", lambda: row_normalised_percent([[1, 2, 3], [4, 5, 6]]),
     r"confusion must be a non-empty square matrix; got shape \(2, 3\)"),
    ("confusion of floats", lambda: row_normalised_percent([[0.5]]),
     "confusion must hold integer counts; got dtype float64"),
    ("negative count", lambda: row_normalised_percent([[1, -2], [0, 1]]),
     "confusion must hold counts >= 0; got -2"),
    ("wrong number of names", lambda: most_confused_pairs(CONFUSION, ("cat", "dog")),
     "class_names must have 4 names .*; got 2"),
    ("negative k", lambda: most_confused_pairs(CONFUSION, NAMES, k=-1),
     "k must be a non-negative integer; got -1"),
]


@pytest.mark.parametrize("fault, call, message", INVALID, ids=[row[0] for row in INVALID])
def test_validation_errors_name_argument_and_value(fault, call, message):
    with pytest.raises(ValueError, match=message):
        call()
