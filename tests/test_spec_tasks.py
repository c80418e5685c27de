"""[task] and [interface]: the built-in localization and sequence specs load, and a malformed
section names the file, the key and its line."""

from __future__ import annotations

import pytest

from grader import spec
from grader.errors import SpecError

LOCALIZATION = """
[assignment]
course = "ECE 60146"
title = "HW5"

[task]
kind = "localization"
box_loss = "ciou"

[dataset]
input_shape = [3, 64, 64]
num_classes = 3
class_names = ["bus", "cat", "pizza"]

[interface]
[[interface.inputs]]
name = "x"
role = "image"
shape = ["B", 3, 64, 64]

[[interface.outputs]]
name = "cls"
role = "label"
shape = ["B", 3]

[[interface.outputs]]
name = "bbox"
role = "box"
shape = ["B", 4]

[predictions]
rows = 10

[[models]]
key = "net"
names = ["HW5Net"]
min_param_tensors = 50

[[rubric]]
id = "iou"
kind = "predictions"
metric = "iou"
full = 0.6
"""

SEQUENCE = """
[assignment]
course = "ECE 661"
title = "HW3"

[task]
kind = "sequence"

[dataset]
num_classes = 2
class_names = ["negative", "positive"]
vocab_size = 500

[interface]
[[interface.inputs]]
name = "ids"
role = "ids"
shape = ["B", "T"]

[[interface.inputs]]
name = "length"
role = "lengths"
shape = ["B"]

[[interface.outputs]]
name = "logits"
role = "label"
shape = ["B", 2]

[[models]]
key = "lstm"
names = ["LSTMModel"]
"""


def load(tmp_path, text: str):
    path = tmp_path / "hw.toml"
    path.write_text(text)
    return spec.load(path)


def test_localization_spec_is_read(tmp_path):
    a = load(tmp_path, LOCALIZATION)
    assert a.task.kind == "localization" and a.task.box_loss == "ciou"
    assert a.dataset.name == "npz"                     # the task's data is one .npz
    assert [o.name for o in a.interface.outputs] == ["cls", "bbox"]
    assert a.interface.output("box").shape == ("B", 4) and not a.interface.stepped
    assert a.predictions.box_columns == ("x1", "y1", "x2", "y2")   # the course's columns
    assert a.model("net").min_param_tensors == 50
    assert a.rubric[0].metric == "iou"
    job = a.interface.to_job()
    assert job["inputs"][0] == {"name": "x", "role": "image", "shape": ["B", 3, 64, 64],
                                "dtype": "float32", "range": None, "init": "zeros",
                                "activation": "auto"}


def test_sequence_spec_gives_ids_their_vocabulary(tmp_path):
    a = load(tmp_path, SEQUENCE)
    ids = a.interface.input("ids")
    assert ids.dtype == "int64" and ids.range == (1.0, 500.0)      # 0 pads
    assert a.interface.input("lengths").dtype == "int64"


def test_classification_spec_keeps_the_derived_interface():
    a = spec.load("ece661-hw2")
    assert a.task.kind == "classification" and a.interface_spec is None
    assert not a.interface.declared
    assert a.interface.inputs[0].shape == ("B", 3, 32, 32)
    assert a.interface.outputs[0].shape == ("B", 10)


def test_new_builtins_load():
    hw5 = spec.load("ece60146-hw5-2023")
    assert hw5.model("net").min_param_tensors == 50 and hw5.task.box_loss == "mse" and hw5.task.box_weight == 10
    hw8 = spec.load("ece60146-hw8")
    assert hw8.interface.stepped and hw8.interface.input("hidden").init == "init_hidden"
    assert hw8.dataset.embedding_dim == 300
    hw3 = spec.load("ece661-hw3-rnn")
    assert [m.key for m in hw3.models] == ["lstm", "gru"]
    assert hw3.interface.input("ids").range == (1.0, 1000.0)


@pytest.mark.parametrize("fault, old, new, key", [
    ("unknown kind", 'kind = "localization"', 'kind = "detection"', "task.kind"),
    ("unknown box loss", 'box_loss = "ciou"', 'box_loss = "giou"', "task.box_loss"),
    ("no interface", "[interface]", "[unused]", "unused"),
    ("no box head", 'role = "box"', 'role = "hidden"', "interface.outputs"),
    ("head size not num_classes", 'shape = ["B", 3]', 'shape = ["B", 4]',
     "interface.outputs[0].shape"),
    ("image shape not input_shape", 'shape = ["B", 3, 64, 64]', 'shape = ["B", 3, 256, 256]',
     "interface.inputs[0].shape"),
    ("unknown symbol", 'shape = ["B", 4]', 'shape = ["N", 4]', "interface.outputs[1].shape"),
    ("unknown role", 'role = "image"', 'role = "picture"', "interface.inputs[0].role"),
    ("duplicate names", 'name = "bbox"', 'name = "cls"', "interface.outputs.name"),
    ("init on an image", 'role = "image"', 'role = "image"\ninit = "init_hidden"',
     "interface.inputs[0].init"),
    ("metric on a check", 'kind = "predictions"', 'kind = "check"\nchecks = ["net.*"]',
     "rubric[0].metric"),
    ("bad metric", 'metric = "iou"', 'metric = "map"', "rubric[0].metric"),
])
def test_bad_task_sections_name_the_key_and_line(tmp_path, fault, old, new, key):
    text = LOCALIZATION.replace(old, new, 1)
    assert text != LOCALIZATION, fault
    with pytest.raises(SpecError) as info:
        load(tmp_path, text)
    message = str(info.value)
    assert f"key '{key}" in message and "hw.toml" in message, (fault, message)
    assert info.value.line is not None, (fault, message)


def test_sequence_ids_need_a_vocabulary(tmp_path):
    with pytest.raises(SpecError, match="dataset.vocab_size"):
        load(tmp_path, SEQUENCE.replace("vocab_size = 500", ""))


def test_iou_metric_needs_a_localization_task(tmp_path):
    text = SEQUENCE + '\n[predictions]\nrows = 5\n\n[[rubric]]\nid = "p"\nkind = "predictions"\nmetric = "iou"\n'
    with pytest.raises(SpecError, match="rubric\\[0\\].metric"):
        load(tmp_path, text)


@pytest.mark.parametrize("fault, text, key", [
    ("an infinite range", LOCALIZATION.replace('shape = ["B", 4]', 'shape = ["B", 4]\nrange = [0, inf]'),
     "interface.outputs[1].range"),
    ("a NaN box weight", LOCALIZATION.replace('box_loss = "ciou"', 'box_loss = "ciou"\nbox_weight = nan'),
     "task.box_weight"),
    ("two inputs for localization", LOCALIZATION.replace(
        '[[interface.outputs]]', '[[interface.inputs]]\nname = "s"\nrole = "lengths"\nshape = ["B"]\n\n'
        '[[interface.outputs]]', 1), "interface.inputs"),
    ("a weights glob outside classification", LOCALIZATION.replace(
        "min_param_tensors = 50", 'min_param_tensors = 50\nweights = "*.pt"'), "models[0].weights"),
    ("ids without T", SEQUENCE.replace('shape = ["B", "T"]', 'shape = ["B", 40]'),
     "interface.inputs[0].shape"),
    ("negative ids", SEQUENCE.replace('shape = ["B", "T"]', 'shape = ["B", "T"]\nrange = [-5, 10]'),
     "interface.inputs[0].range"),
    ("an interface for classification", """
[assignment]
course = "C"
title = "T"

[interface]
[[interface.inputs]]
name = "x"
role = "image"
shape = ["B", 3, 32, 32]

[[models]]
key = "net"
names = ["Net"]
""", "interface"),
])
def test_interfaces_the_routines_cannot_run_are_refused(tmp_path, fault, text, key):
    with pytest.raises(SpecError) as info:
        load(tmp_path, text)
    assert f"key '{key}'" in str(info.value), (fault, str(info.value))
