"""The small-class spec: an assignment with the one SimpleNN model (82,030 parameters, the
reference `simplenn`) graded by its checks, and, for a class run, its accuracy relative to the
reference and predictions.csv. Tests give only what differs: the head tables (dataset size,
training, limits, predictions) or the parameter count and wall-clock limit.
"""

from __future__ import annotations

import textwrap

SIMPLENN_MODEL = """
[[models]]
key = "simplenn"
title = "SimpleNN"
names = ["SimpleNN"]
params = {params}
reference = "simplenn"
"""

CHECK_ITEM = """
[[rubric]]
id = "model"
kind = "check"
checks = ["simplenn.*"]
points = 10
"""


def one_model_toml(extra: str = "", *, params: int = 82030, wall: int = 60) -> str:
    """`grader check`'s small assignment: the one SimpleNN model (5 weighted layers) and its
    check item; `extra` is appended (a [predictions] table, more items)."""
    head = textwrap.dedent(f"""
        [assignment]
        course = "Test course"
        title = "One model"

        [limits]
        wall_seconds = {wall}
        memory_mb = 2048
        """)
    model = SIMPLENN_MODEL.format(params=params) + "weighted_layers = 5\n"
    return head + model + CHECK_ITEM + textwrap.dedent(extra)


def simplenn_spec(head: str, *, accuracy_zero: float = 0.3, accuracy_points: int = 10,
                  predictions: bool = True) -> str:
    """A small class-scale spec: `head` (its [assignment], [dataset], [training], [limits] and
    [predictions] tables), then the one SimpleNN model graded by a check item, its accuracy
    relative to the reference and, with predictions, predictions.csv."""
    tail = SIMPLENN_MODEL.format(params=82030) + CHECK_ITEM + f"""
[[rubric]]
id = "accuracy"
kind = "accuracy"
model = "simplenn"
basis = "reference"
full = 0.9
zero = {accuracy_zero}
points = {accuracy_points}
"""
    if predictions:
        tail += """
[[rubric]]
id = "predictions"
kind = "predictions"
full = 0.9
zero = 0.5
points = 10
"""
    return head + tail
