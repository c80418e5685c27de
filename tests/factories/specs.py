"""The small-class spec: an assignment with the one SimpleNN model (82,030 parameters, the
reference `simplenn`) graded by its checks, and, for a class run, its accuracy relative to the
reference and predictions.csv. Tests give only what differs: the head tables (dataset size,
training, limits, predictions) or the parameter count and wall-clock limit.

Its pieces build the other specs the tests write, so that none writes the TOML again:
spec_toml(*models, course=, title=, limits=, tables=) is an assignment around model tables,
simplenn_model(**changes) the small spec's SimpleNN table with keys changed, added or (given
None) left out, model_toml() any other model's table, table_toml() any other table
([dataset], [training], [predictions]) and rubric_item() a rubric item.
"""

from __future__ import annotations

import json
import textwrap

# the small spec's SimpleNN, key by key, in the order its table lists them
SIMPLENN_KEYS = {"title": "SimpleNN", "names": ["SimpleNN"], "params": 82030,
                 "reference": "simplenn"}


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def _table(header: str, keys: dict) -> str:
    """A blank line, the header, then `name = value` for each key not given None."""
    lines = ["", header] + [f"{k} = {_value(v)}" for k, v in keys.items() if v is not None]
    return "\n".join(lines) + "\n"


def table_toml(name: str, **keys) -> str:
    """`[name]` with its keys: table_toml("limits", wall_seconds=90)."""
    return _table(f"[{name}]", keys)


def model_toml(key: str, **keys) -> str:
    """A [[models]] table: model_toml("halfbn", names=["HalfBN"], batchnorm_after_conv=True)."""
    return _table("[[models]]", {"key": key, **keys})


def simplenn_model(key: str = "simplenn", **changes) -> str:
    """The small spec's SimpleNN table; `changes` replace its keys, add others after them, or
    (given None) leave one out: simplenn_model(title=None, weighted_layers=5)."""
    return model_toml(key, **{**SIMPLENN_KEYS, **changes})


def rubric_item(id: str, kind: str, **keys) -> str:
    """A [[rubric]] item."""
    return _table("[[rubric]]", {"id": id, "kind": kind, **keys})


CHECK_ITEM = rubric_item("model", "check", checks=["simplenn.*"], points=10)


def spec_toml(*models: str, course: str = "Test course", title: str = "One model",
              limits: dict | None = None, tables: str = "") -> str:
    """An assignment: [assignment], [limits] when given, `tables` (other tables, as TOML), then
    the models' tables (and what is passed after them: rubric items)."""
    head = table_toml("assignment", course=course, title=title)
    if limits is not None:
        head += table_toml("limits", **limits)
    return head + tables + "".join(models)


def one_model_toml(extra: str = "", *, params: int = 82030, wall: int = 60) -> str:
    """`grader check`'s small assignment: the one SimpleNN model (5 weighted layers) and its
    check item; `extra` is appended (a [predictions] table, more items)."""
    return spec_toml(simplenn_model(params=params, weighted_layers=5), CHECK_ITEM,
                     limits={"wall_seconds": wall, "memory_mb": 2048}) + textwrap.dedent(extra)


def simplenn_spec(head: str, *, accuracy_zero: float = 0.3, accuracy_points: int = 10,
                  predictions: bool = True) -> str:
    """A small class-scale spec: `head` (its [assignment], [dataset], [training], [limits] and
    [predictions] tables), then the one SimpleNN model graded by a check item, its accuracy
    relative to the reference and, with predictions, predictions.csv."""
    tail = simplenn_model() + CHECK_ITEM + rubric_item(
        "accuracy", "accuracy", model="simplenn", basis="reference", full=0.9,
        zero=accuracy_zero, points=accuracy_points)
    if predictions:
        tail += rubric_item("predictions", "predictions", full=0.9, zero=0.5, points=10)
    return head + tail
