"""The spec's [task] and [interface] sections: what the models do and what their forward takes
and returns. A mixin of grader.spec.sections.SectionParser (the same TableReader: every fault
names the file, the key and its line).

A classification spec needs neither: its interface is one image batch in and class scores out
(grader.spec.types.default_interface). Localization and sequence specs declare theirs.
"""

from __future__ import annotations

import math
import re
from typing import Any

from grader.spec.reader import TableReader
from grader.spec.types import (
    ACTIVATIONS,
    BOX_LOSSES,
    DTYPES,
    INPUT_ROLES,
    OUTPUT_ROLES,
    SYMBOLS,
    TASK_KINDS,
    DatasetSpec,
    InterfaceSpec,
    TaskSpec,
    TensorSpec,
)

METRICS = ("accuracy", "iou", "hits")


class TaskSections(TableReader):
    """[task] and [interface]."""

    def line_of(self, key: str) -> int | None:
        """Also finds keys of the array tables [[interface.inputs]] and [[interface.outputs]]:
        'interface.outputs[1].shape' is the shape of the second output table."""
        match = re.fullmatch(r"interface\.(inputs|outputs)(?:\[(\d+)\])?(?:\.(\w+))?", key)
        if not match:
            return super().line_of(key)
        part, index, leaf = match[1], int(match[2] or 0), match[3]
        headers = [i for i, text in enumerate(self.lines) if re.match(r"\s*\[", text)]
        mine = [i for i in headers
                if re.match(rf"\s*\[\[\s*interface\.{part}\s*\]\]", self.lines[i])]
        if not mine:
            return super().line_of("interface")
        begin = mine[min(index, len(mine) - 1)]
        end = next((i for i in headers if i > begin), len(self.lines))
        if leaf:
            hit = next((i + 1 for i in range(begin, end)
                        if re.match(rf"\s*{leaf}\s*=", self.lines[i])), None)
            if hit is not None:
                return hit
        return begin + 1

    def task(self, data: dict) -> TaskSpec:
        d = TaskSpec()
        w = "task"
        t = self.table(data, w, {"kind", "box_loss", "box_weight", "iou_threshold"}, w)
        kind = self.get(t, "kind", w, str, d.kind)
        if kind not in TASK_KINDS:
            self.fail("task.kind", " or ".join(TASK_KINDS), kind)
        box_loss = self.get(t, "box_loss", w, str, d.box_loss)
        if box_loss not in BOX_LOSSES:
            self.fail("task.box_loss", " or ".join(BOX_LOSSES) + " (added to cross-entropy)",
                      box_loss)
        threshold = self.get(t, "iou_threshold", w, float, d.iou_threshold)
        if not 0.0 < threshold < 1.0:
            self.fail("task.iou_threshold", "an IoU between 0 and 1 such as 0.5", threshold)
        weight = self.positive(t, "box_weight", w, d.box_weight)
        if not math.isfinite(weight):
            self.fail("task.box_weight", "a positive finite number", weight)
        return TaskSpec(kind=kind, box_loss=box_loss, box_weight=weight,
                        iou_threshold=threshold)

    def interface(self, data: dict, task: TaskSpec, dataset: DatasetSpec) -> InterfaceSpec | None:
        """The declared interface, checked against the task and the dataset; None when the
        spec has no [interface] (classification only)."""
        if "interface" not in data:
            if task.kind != "classification":
                self.fail("interface", f"an [interface] section: a {task.kind} task declares "
                          "its model's inputs and outputs ([[interface.inputs]], "
                          "[[interface.outputs]])", missing=True)
            return None
        if task.kind == "classification":
            self.fail("interface", "no [interface] for a classification task (one image batch "
                      "in, class scores out); [task] kind = \"localization\" or \"sequence\" "
                      "declares one", "[interface]")
        t = self.table(data, "interface", {"inputs", "outputs"}, "interface")
        inputs = self.tensors(t, "inputs", INPUT_ROLES, dataset)
        outputs = self.tensors(t, "outputs", OUTPUT_ROLES, dataset)
        spec = InterfaceSpec(inputs=inputs, outputs=outputs, declared=True)
        self.check_interface(spec, task, dataset)
        return spec

    def tensors(self, t: dict, part: str, roles: tuple[str, ...],
                dataset: DatasetSpec) -> tuple[TensorSpec, ...]:
        where = f"interface.{part}"
        items = t.get(part)
        if not isinstance(items, list) or not items:
            self.fail(where, f"at least one [[{where}]] table", items, missing=items is None)
        out = []
        for i, raw in enumerate(items):
            out.append(self.tensor(raw, f"{where}[{i}]", roles, dataset, part == "inputs"))
        names = [x.name for x in out]
        if len(set(names)) != len(names):
            self.fail(f"{where}.name", f"distinct names in [[{where}]]", names)
        return tuple(out)

    def tensor(self, raw: Any, where: str, roles: tuple[str, ...], dataset: DatasetSpec,
               is_input: bool) -> TensorSpec:
        if not isinstance(raw, dict):
            self.fail(where, "a table", raw)
        allowed = {"name", "role", "shape", "dtype", "range", "init"} if is_input else {
            "name", "role", "shape", "range", "activation"}
        for unknown in sorted(set(raw) - allowed):
            self.fail(f"{where}.{unknown}", f"one of {', '.join(sorted(allowed))}", unknown)
        name = self.get(raw, "name", where, str)
        if not name.isidentifier():
            self.fail(f"{where}.name", "a name such as \"x\", \"ids\" or \"box\"", name)
        role = self.get(raw, "role", where, str)
        if role not in roles:
            self.fail(f"{where}.role", " | ".join(roles), role)
        shape = self.get(raw, "shape", where, list, [],
                         'sizes and the symbols "B" and "T", such as ["B", 3, 256, 256]')
        if not all((isinstance(s, int) and not isinstance(s, bool) and s > 0) or s in SYMBOLS
                   for s in shape) or len(shape) > 6:
            self.fail(f"{where}.shape", 'up to 6 positive sizes or the symbols "B" (batch) and '
                      '"T" (sequence length), such as ["B", 3, 256, 256]', shape)
        if not shape and not (role == "hidden" and not is_input):
            self.fail(f"{where}.shape", "the tensor's shape (only a hidden output may leave it "
                      "out)", shape, missing=True)
        default_dtype = "int64" if role in ("ids", "lengths") else "float32"
        dtype = self.get(raw, "dtype", where, str, default_dtype) if is_input else "float32"
        if dtype not in DTYPES:
            self.fail(f"{where}.dtype", " or ".join(DTYPES), dtype)
        if role in ("ids", "lengths") and dtype != "int64":
            self.fail(f"{where}.dtype", f"int64 for {role}", dtype)
        value_range = self.value_range(raw, where, role, dataset)
        init = self.get(raw, "init", where, str, "zeros") if is_input else "zeros"
        if init not in ("zeros", "init_hidden") or (init != "zeros" and role != "hidden"):
            self.fail(f"{where}.init", "zeros or init_hidden (a hidden input only)", init)
        act = "auto" if is_input else self.get(raw, "activation", where, str, "auto")
        if act not in ACTIVATIONS or (act != "auto" and role != "label"):
            self.fail(f"{where}.activation", f"{' | '.join(ACTIVATIONS)} (a label output only)",
                      act)
        return TensorSpec(name=name, role=role, shape=tuple(shape), dtype=dtype,
                          range=value_range, init=init, activation=act)

    def value_range(self, raw: dict, where: str, role: str,
                    dataset: DatasetSpec) -> tuple[float, float] | None:
        value = self.get(raw, "range", where, list, None, "[low, high]")
        if value is None:
            if role == "ids" and dataset.vocab_size:
                return (1.0, float(dataset.vocab_size))    # 0 pads
            return None
        if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                      and math.isfinite(v) for v in value) or \
                not value[0] < value[1] or (role in ("ids", "lengths") and value[0] < 0):
            self.fail(f"{where}.range", "[low, high] of finite numbers with low < high, such as "
                      "[0, 1] (ids: from 0 up)", value)
        return (float(value[0]), float(value[1]))

    def check_interface(self, spec: InterfaceSpec, task: TaskSpec,
                        dataset: DatasetSpec) -> None:
        """What the task needs from the interface, and what must agree with [dataset]."""
        label = spec.output("label")
        if label is None:
            self.fail("interface.outputs", "an output with role = \"label\" (the class scores)",
                      [o.role for o in spec.outputs])
        if label.shape and isinstance(label.shape[-1], int) and \
                label.shape[-1] != dataset.num_classes:
            self.fail(f"interface.outputs[{spec.outputs.index(label)}].shape",
                      f"the label output's last size to be [dataset] num_classes "
                      f"({dataset.num_classes})", list(label.shape))
        box = spec.output("box")
        if task.kind == "localization" and (box is None or box.shape[-1:] != (4,)):
            self.fail("interface.outputs", "a box output with role = \"box\" and shape "
                      "[\"B\", 4] (x1, y1, x2, y2) for a localization task",
                      [f"{o.name}: {o.role}" for o in spec.outputs])
        if task.kind != "localization" and box is not None:
            self.fail("task.kind", "localization for an interface with a box output",
                      task.kind)
        image = spec.input("image")
        if image is not None and tuple(s for s in image.shape if s != "B") != \
                tuple(dataset.input_shape):
            self.fail(f"interface.inputs[{spec.inputs.index(image)}].shape",
                      "the image input to be [\"B\", "
                      f"{', '.join(map(str, dataset.input_shape))}] ([dataset] input_shape)",
                      list(image.shape))
        if task.kind == "localization" and (len(spec.inputs) != 1 or image is None
                                            or "B" not in image.shape):
            self.fail("interface.inputs", "one image input with the batch symbol, such as "
                      "[\"B\", 3, 256, 256], for a localization task",
                      [f"{i.name}: {i.role}" for i in spec.inputs])
        if task.kind == "sequence":
            ids, vectors = spec.input("ids"), spec.input("embeddings")
            if image is not None:
                self.fail("interface.inputs", "ids or embeddings, not an image, for a sequence "
                          "task", [f"{i.name}: {i.role}" for i in spec.inputs])
            for seq in (ids, vectors):
                if seq is not None and "T" not in seq.shape:
                    self.fail(f"interface.inputs[{spec.inputs.index(seq)}].shape",
                              "the sequence length symbol \"T\" in a sequence input's shape, "
                              "such as [\"B\", \"T\"] or [\"T\", 1, 300]", list(seq.shape))
            if ids is None and vectors is None:
                self.fail("interface.inputs", "an ids or embeddings input for a sequence task",
                          [i.role for i in spec.inputs])
            if ids is not None and not dataset.vocab_size:
                self.fail("dataset.vocab_size", "the number of token ids (0 pads) for an "
                          "ids input", missing=True)
            if vectors is not None and (not dataset.embedding_dim
                                        or vectors.shape[-1] != dataset.embedding_dim):
                self.fail("dataset.embedding_dim", "the embeddings input's last size "
                          f"({vectors.shape[-1]})", dataset.embedding_dim or None)
        elif spec.input("image") is None:
            self.fail("interface.inputs", f"an image input for a {task.kind} task",
                      [i.role for i in spec.inputs])

    def check_models(self, models: tuple, task: TaskSpec) -> None:
        """What a task's models may not ask for: the students' own checkpoints are run to
        predict class labels, so `weights` belongs to classification."""
        own = [i for i, m in enumerate(models) if m.weights]
        if own and task.kind != "classification":
            self.fail(f"models[{own[0]}].weights", f"no weights glob in a {task.kind} task: "
                      "students' checkpoints are graded for classification",
                      models[own[0]].weights)

    def sequence_dataset(self, t: dict, d: DatasetSpec) -> dict:
        """[dataset]'s sequence keys: vocab_size, lengths, embedding_dim."""
        lengths = self.get(t, "lengths", "dataset", list, list(d.lengths))
        if len(lengths) != 2 or not all(isinstance(n, int) and not isinstance(n, bool)
                                        for n in lengths) or not 1 <= lengths[0] <= lengths[1]:
            self.fail("dataset.lengths", "[shortest, longest] sequence lengths in tokens, "
                      "such as [8, 32]", lengths)
        vocab = self.get(t, "vocab_size", "dataset", int, d.vocab_size)
        dim = self.get(t, "embedding_dim", "dataset", int, d.embedding_dim)
        for key, value in (("vocab_size", vocab), ("embedding_dim", dim)):
            if value < 0 or (key == "vocab_size" and value == 1):
                self.fail(f"dataset.{key}", "a positive number (or 0: none)", value)
        return {"vocab_size": vocab, "lengths": tuple(lengths), "embedding_dim": dim}

    def metric(self, r: dict, where: str, kind: str, task: TaskSpec) -> str:
        metric = self.get(r, "metric", where, str, "accuracy")
        if metric not in METRICS:
            self.fail(f"{where}.metric", " | ".join(METRICS), metric)
        if metric != "accuracy" and (kind not in ("accuracy", "predictions")
                                     or task.kind != "localization"):
            self.fail(f"{where}.metric", "accuracy: iou and hits score the boxes of a "
                      "localization task's accuracy and predictions items", metric)
        return metric


def box_columns(value: tuple[str, ...], task: TaskSpec) -> tuple[str, ...]:
    """A localization task's predictions carry its box (the course writes
    Id,Label,x1,y1,x2,y2); the spec may rename the four columns."""
    if task.kind == "localization" and not value:
        return ("x1", "y1", "x2", "y2")
    return value
