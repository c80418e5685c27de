"""The section parsers of an assignment spec: [assignment], [[models]], [dataset],
[training], [limits], [predictions], [[rubric]], [integrity], [gradescope], [held_out] and
[weights], each into its dataclass ([task] and [interface]: grader.spec.task_sections).

Built on grader.spec.reader.TableReader, so every fault names the file, key and line.
"""

from __future__ import annotations

import re
from typing import Any

from grader.spec.task_sections import TaskSections, box_columns
from grader.spec.types import (
    LEADERBOARD_COLUMNS,
    VISIBILITIES,
    Assignment,
    DatasetSpec,
    GradescopeSpec,
    HeldOutSpec,
    IntegritySpec,
    LimitsSpec,
    ModelSpec,
    ParamExpectation,
    PredictionsSpec,
    RubricItem,
    TaskSpec,
    TrainingSpec,
    WeightsSpec,
)

WEIGHTS_KINDS = ("weights", "sparsity", "bits")     # rubric kinds of a model's own checkpoint


class SectionParser(TaskSections):
    """Turns the parsed TOML into an Assignment, section by section."""

    def assignment(self, data: dict) -> Assignment:
        # [cluster] is read by grader.run.slurm.settings, not here
        known = {"assignment", "dataset", "training", "limits", "predictions", "models", "rubric",
                 "cluster", "integrity", "gradescope", "held_out", "weights", "task",
                 "interface"}
        for unknown in sorted(set(data) - known):
            self.fail(unknown, f"one of the sections [{'], ['.join(sorted(known))}]", unknown)
        head = self.table(data, "assignment", {"course", "title", "required_files", "starter"},
                          "assignment")
        task = self.task(data)
        dataset = self.dataset(data, task)
        interface = self.interface(data, task, dataset)
        models = data.get("models", [])
        if not isinstance(models, list) or not models:
            self.fail("models", "at least one [[models]] table", models,
                      missing="models" not in data)
        parsed = tuple(self.model(m, i, dataset) for i, m in enumerate(models))
        keys = [m.key for m in parsed]
        self.check_models(parsed, task)
        if len(set(keys)) != len(keys):
            self.fail("models.key", "unique model keys", keys)
        predictions = self.predictions(data, task) if "predictions" in data else None
        rubric = tuple(self.rubric_item(r, i, set(keys), predictions, parsed, task)
                       for i, r in enumerate(data.get("rubric", [])))
        files = self.get(head, "required_files", "assignment", list, [])
        return Assignment(
            id=self.path.stem,
            course=self.get(head, "course", "assignment", str),
            title=self.get(head, "title", "assignment", str),
            path=str(self.path),
            required_files=tuple(str(f) for f in files),
            models=parsed, dataset=dataset, training=self.training(data),
            limits=self.limits(data), predictions=predictions, rubric=rubric,
            integrity=self.integrity(data, self.starter(head, "assignment")),
            gradescope=self.gradescope(data, rubric), held_out=self.held_out(data),
            weights=self.weights(data), task=task, interface_spec=interface)

    def weights(self, data: dict) -> WeightsSpec:
        d = WeightsSpec()
        t = self.table(data, "weights", {"max_mb", "agreement", "mean", "std"}, "weights")
        agreement = self.get(t, "agreement", "weights", float, d.agreement)
        if not 0.0 <= agreement <= 1.0:
            self.fail("weights.agreement", "a fraction of the held-out images from 0 to 1 "
                      "(0.95: the weights' predictions equal predictions.csv on 95%)", agreement)
        channels = self.dataset(data).input_shape[0]
        stats = {}
        for key in ("mean", "std"):
            value = self.get(t, key, "weights", list, None)
            if value is None:
                continue
            low = 0.0 if key == "mean" else 1e-6
            if len(value) != channels or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= 1
                    for v in value):
                self.fail(f"weights.{key}", f"{channels} numbers in 0..1, one per channel "
                          f"({'above 0, ' if key == 'std' else ''}e.g. the course's "
                          "transforms.Normalize values)", value)
            stats[key] = tuple(float(v) for v in value)
        if len(stats) == 1:
            (given, value), = stats.items()
            self.fail(f"weights.{given}", "mean and std given together "
                      f"({'std' if given == 'mean' else 'mean'} is missing)", list(value))
        return WeightsSpec(max_mb=self.positive(t, "max_mb", "weights", d.max_mb),
                           agreement=agreement, **stats)

    def gradescope(self, data: dict, rubric: tuple[RubricItem, ...]) -> GradescopeSpec:
        t = self.table(data, "gradescope", {"visibility", "leaderboard", "daily_cap"},
                       "gradescope")
        shown = self.get(t, "visibility", "gradescope", dict, {})
        ids = {item.id for item in rubric}
        for item_id, value in shown.items():
            if item_id not in ids:
                self.fail(f"gradescope.visibility.{item_id}",
                          f"a rubric item id ({', '.join(sorted(ids))})", item_id)
            if value not in VISIBILITIES:
                self.fail(f"gradescope.visibility.{item_id}", " | ".join(VISIBILITIES), value)
        board = self.get(t, "leaderboard", "gradescope", list, list(LEADERBOARD_COLUMNS))
        if not all(c in LEADERBOARD_COLUMNS for c in board):
            self.fail("gradescope.leaderboard",
                      f"a list of columns from {', '.join(LEADERBOARD_COLUMNS)}", board)
        cap = self.get(t, "daily_cap", "gradescope", int, None)
        if cap is not None and cap < 1:
            self.fail("gradescope.daily_cap", "a whole number of runs, 1 or more", cap)
        return GradescopeSpec(visibility=tuple(sorted(shown.items())), leaderboard=tuple(board),
                              daily_cap=cap)

    def held_out(self, data: dict) -> HeldOutSpec:
        t = self.table(data, "held_out", {"public_fraction", "seed"}, "held_out")
        fraction = self.get(t, "public_fraction", "held_out", float, 0.0)
        if not 0.0 <= fraction < 1.0:
            self.fail("held_out.public_fraction", "a fraction of the held-out images from 0 "
                      "(no split) up to, not including, 1 (0.3: 30% public, 70% private)",
                      fraction)
        return HeldOutSpec(public_fraction=fraction,
                           seed=self.get(t, "seed", "held_out", int, 0))

    def starter(self, t: dict, where: str) -> list[str]:
        """`starter` of [assignment] or [integrity]: files or folders relative to the spec."""
        starter = self.get(t, "starter", where, list, [])
        if not all(isinstance(p, str) and p for p in starter):
            self.fail(f"{where}.starter", "a list of paths (files or folders)", starter)
        return [str(self.path.parent / p) for p in starter]

    def integrity(self, data: dict, starter: list[str] | None = None) -> IntegritySpec:
        """[integrity]; its starter list also holds [assignment] starter's paths (`starter`),
        first: one list, which check and integrity both read."""
        t = self.table(data, "integrity", {"starter", "free_models"}, "integrity")
        paths = list(dict.fromkeys([*(starter or []), *self.starter(t, "integrity")]))
        free = self.get(t, "free_models", "integrity", list, None)
        keys = {m.get("key") for m in data.get("models", []) if isinstance(m, dict)}
        if free is not None and not all(k in keys for k in free):
            self.fail("integrity.free_models", f"model keys ({', '.join(sorted(keys))})", free)
        return IntegritySpec(starter=tuple(paths),
                             free_models=tuple(free) if free is not None else None)

    def dataset(self, data: dict, task: TaskSpec = TaskSpec()) -> DatasetSpec:
        d = DatasetSpec()
        t = self.table(data, "dataset", {"name", "input_shape", "num_classes", "class_names",
                                         "synthetic_train", "synthetic_test", "vocab_size",
                                         "lengths", "embedding_dim"}, "dataset")
        classify = task.kind == "classification"
        name = self.get(t, "name", "dataset", str, d.name if classify else "npz")
        if name not in ("cifar10", "tiny-imagenet", "npz") or (not classify and name != "npz"):
            self.fail("dataset.name", "cifar10, tiny-imagenet or npz" if classify else
                      f"npz (a {task.kind} task's data is one .npz)", name)
        extra = {} if classify else self.sequence_dataset(t, d)
        shape = self.get(t, "input_shape", "dataset", list, list(d.input_shape))
        if len(shape) != 3 or not all(isinstance(s, int) and s > 0 for s in shape):
            self.fail("dataset.input_shape", "three positive integers [C, H, W]", shape)
        num_classes = self.positive(t, "num_classes", "dataset", d.num_classes)
        default_names = d.class_names if num_classes == 10 else tuple(
            f"class_{i}" for i in range(num_classes))
        names = tuple(self.get(t, "class_names", "dataset", list, list(default_names)))
        if len(names) != num_classes:
            self.fail("dataset.class_names", f"{num_classes} names (num_classes)", len(names))
        return DatasetSpec(name=name, input_shape=tuple(shape), num_classes=num_classes,
                           class_names=names,
                           synthetic_train=self.positive(t, "synthetic_train", "dataset",
                                                         d.synthetic_train),
                           synthetic_test=self.positive(t, "synthetic_test", "dataset",
                                                        d.synthetic_test), **extra)

    def model(self, m: Any, index: int, dataset: DatasetSpec) -> ModelSpec:
        where = f"models[{index}]"
        if not isinstance(m, dict):
            self.fail(where, "a [[models]] table", m)
        allowed = {"key", "title", "names", "args", "params", "reference", "weighted_layers",
                   "batchnorm_after_conv", "train", "files", "weights", "min_param_tensors"}
        for unknown in sorted(set(m) - allowed):
            self.fail(f"{where}.{unknown}", f"one of {', '.join(sorted(allowed))}", unknown)
        key = self.get(m, "key", where, str)
        if not re.fullmatch(r"[a-z0-9_-]+", key):
            self.fail(f"{where}.key", "lower-case letters, digits, '-' and '_'", key)
        names = self.get(m, "names", where, list)
        if not names or not all(isinstance(n, str) and n.isidentifier() for n in names):
            self.fail(f"{where}.names", "a list of Python class or function names", names)
        reference = self.get(m, "reference", where, str, None)
        if reference is not None:
            from reference import MODELS  # light: model files import torch lazily
            if reference not in MODELS:
                self.fail(f"{where}.reference", f"a reference model ({', '.join(MODELS)})",
                          reference)
        layers = self.get(m, "weighted_layers", where, int, None)
        files = self.get(m, "files", where, list, [])
        if not all(isinstance(f, str) and f.strip() for f in files):
            self.fail(f"{where}.files", "a list of file names such as \"hw2.ipynb\"", files)
        weights = self.get(m, "weights", where, str, None)
        if weights is not None and (not weights.strip() or weights.startswith(("/", "\\"))
                                    or ".." in weights.split("/")):
            self.fail(f"{where}.weights", "a glob of the checkpoint's file name in the "
                      "submission, such as \"*prun*.pt\"", weights)
        return ModelSpec(
            key=key, title=self.get(m, "title", where, str, key), names=tuple(names),
            args=self.get(m, "args", where, dict, {}), params=self.params(m, where),
            reference=reference, weighted_layers=layers,
            batchnorm_after_conv=self.get(m, "batchnorm_after_conv", where, bool, False),
            train=self.get(m, "train", where, bool, True), files=tuple(files), weights=weights,
            min_param_tensors=self.get(m, "min_param_tensors", where, int, None))

    def params(self, m: dict, where: str) -> ParamExpectation | None:
        value = m.get("params")
        expected = ('an integer, {min = N, max = M}, {reference = "model-id"} or '
                    '{reference = "model-id", within = 0.01}')
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return ParamExpectation(exact=value)
        if isinstance(value, dict) and set(value) <= {"min", "max"} and value and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
            return ParamExpectation(min=value.get("min"), max=value.get("max"))
        if isinstance(value, dict) and {"reference"} <= set(value) <= {"reference", "within"} \
                and isinstance(value["reference"], str):
            within = value.get("within", 0.0)
            if isinstance(within, bool) or not isinstance(within, (int, float)) or not (
                    0 <= within < 1):
                self.fail(f"{where}.params.within", "a fraction from 0 to 1 such as 0.01",
                          within)
            return ParamExpectation(reference=value["reference"], within=float(within))
        self.fail(f"{where}.params", expected, value)
        return None

    def training(self, data: dict) -> TrainingSpec:
        d = TrainingSpec()
        w = "training"
        t = self.table(data, w, {"epochs", "batch_size", "lr", "momentum", "weight_decay",
                                 "schedule", "milestones", "gamma", "augment", "seed",
                                 "reference_seeds", "eval_images", "optimizer"}, w)
        schedule = self.get(t, "schedule", w, str, d.schedule)
        if schedule not in ("none", "step", "cosine", "onecycle"):
            self.fail("training.schedule", "none, step, cosine or onecycle", schedule)
        milestones = self.get(t, "milestones", w, list, [])
        if not all(isinstance(x, int) and x > 0 for x in milestones):
            self.fail("training.milestones", "a list of positive epoch numbers", milestones)
        return TrainingSpec(
            epochs=self.positive(t, "epochs", w, d.epochs),
            batch_size=self.positive(t, "batch_size", w, d.batch_size),
            lr=self.positive(t, "lr", w, d.lr),
            momentum=self.get(t, "momentum", w, float, d.momentum),
            weight_decay=self.get(t, "weight_decay", w, float, d.weight_decay),
            schedule=schedule, milestones=tuple(milestones),
            gamma=self.positive(t, "gamma", w, d.gamma),
            augment=self.get(t, "augment", w, bool, d.augment),
            seed=self.get(t, "seed", w, int, d.seed),
            reference_seeds=self.reference_seeds(t, self.get(t, "seed", w, int, d.seed)),
            eval_images=self.eval_images(t), optimizer=self.optimizer(t))

    def optimizer(self, t: dict) -> str:
        value = self.get(t, "optimizer", "training", str, "sgd")
        if value not in ("sgd", "adam"):
            self.fail("training.optimizer", "sgd or adam", value)
        return value

    def eval_images(self, t: dict) -> int:
        value = self.get(t, "eval_images", "training", int, 0)
        if value < 0:
            self.fail("training.eval_images", "0 (all held-out images) or a number of images",
                      value)
        return value

    def reference_seeds(self, t: dict, seed: int) -> tuple[int, ...]:
        expected = "a number of seeds (1 to 20) or a list of distinct integer seeds"
        value = self.get(t, "reference_seeds", "training", (int, list), 1, expected)
        if isinstance(value, int):
            if not 1 <= value <= 20:
                self.fail("training.reference_seeds", expected, value)
            return tuple(range(seed, seed + value))
        if not value or len(value) > 20 or len(set(map(repr, value))) != len(value) or not all(
                isinstance(x, int) and not isinstance(x, bool) for x in value):
            self.fail("training.reference_seeds", expected, value)
        return tuple(value)

    def limits(self, data: dict) -> LimitsSpec:
        d = LimitsSpec()
        names = {f for f in LimitsSpec.__dataclass_fields__}
        t = self.table(data, "limits", names, "limits")
        return LimitsSpec(**{n: self.positive(t, n, "limits", getattr(d, n)) for n in names})

    def predictions(self, data: dict, task: TaskSpec = TaskSpec()) -> PredictionsSpec:
        d = PredictionsSpec()
        w = "predictions"
        names = {f for f in PredictionsSpec.__dataclass_fields__}
        t = self.table(data, w, names, w)
        labels = self.get(t, "labels", w, str, d.labels)
        if labels not in ("index", "name", "either"):
            self.fail("predictions.labels", "index, name or either", labels)
        return PredictionsSpec(
            file=self.get(t, "file", w, str, d.file),
            id_column=self.get(t, "id_column", w, str, d.id_column),
            label_column=self.get(t, "label_column", w, str, d.label_column),
            id_aliases=self.names(t, "id_aliases", w),
            label_aliases=self.names(t, "label_aliases", w),
            rows=self.positive(t, "rows", w, d.rows),
            first_id=self.get(t, "first_id", w, int, d.first_id),
            labels=labels, max_bytes=self.positive(t, "max_bytes", w, d.max_bytes),
            box_columns=self.box_names(t, task))

    def box_names(self, t: dict, task: TaskSpec) -> tuple[str, ...]:
        names = box_columns(self.names(t, "box_columns", "predictions"), task)
        if names and (len(names) != 4 or task.kind != "localization"):
            self.fail("predictions.box_columns", "four column names (x1, y1, x2, y2) for a "
                      "localization task", list(names))
        return names

    def rubric_item(self, r: Any, index: int, model_keys: set[str],
                    predictions: PredictionsSpec | None,
                    models: tuple[ModelSpec, ...] = (), task: TaskSpec = TaskSpec()
                    ) -> RubricItem:
        where = f"rubric[{index}]"
        if not isinstance(r, dict):
            self.fail(where, "a [[rubric]] table", r)
        allowed = {"id", "title", "points", "kind", "checks", "partial", "model", "basis",
                   "full", "zero", "floor", "metric"}
        for unknown in sorted(set(r) - allowed):
            self.fail(f"{where}.{unknown}", f"one of {', '.join(sorted(allowed))}", unknown)
        kind = self.get(r, "kind", where, str)
        if kind not in ("check", "accuracy", "predictions", *WEIGHTS_KINDS):
            self.fail(f"{where}.kind", "check, accuracy, predictions, weights, sparsity or bits",
                      kind)
        item_id = self.get(r, "id", where, str)
        model = self.get(r, "model", where, str, None)
        checks = self.get(r, "checks", where, list, [])
        if kind == "check" and not checks:
            self.fail(f"{where}.checks", "check ids or globs such as \"simplenn.*\"", checks,
                      missing="checks" not in r)
        if kind == "accuracy" and model not in model_keys:
            self.fail(f"{where}.model", f"one of the model keys ({', '.join(sorted(model_keys))})",
                      model, missing=model is None)
        if kind == "predictions" and predictions is None:
            self.fail(f"{where}.kind", "a [predictions] section for a predictions item", kind)
        basis = self.get(r, "basis", where, str, "absolute")
        if basis not in ("absolute", "reference"):
            self.fail(f"{where}.basis", "absolute or reference", basis)
        full = self.get(r, "full", where, float, 1.0)
        zero = self.get(r, "zero", where, float, None)
        floor = None
        if kind in WEIGHTS_KINDS:
            floor = self.weights_item(r, where, kind, models, basis, full, zero)
        elif "floor" in r:
            self.fail(f"{where}.floor", "no floor: it belongs to sparsity and bits items", kind)
        elif zero is not None and zero >= full:
            self.fail(f"{where}.zero", f"a value below full ({full})", zero)
        return RubricItem(
            id=item_id, title=self.get(r, "title", where, str, item_id),
            points=self.positive(r, "points", where, 1.0), kind=kind,
            checks=tuple(str(c) for c in checks),
            partial=self.get(r, "partial", where, bool, False),
            model=model, basis=basis, full=full, zero=zero, floor=floor,
            metric=self.metric(r, where, kind, task))

    def weights_item(self, r: dict, where: str, kind: str, models: tuple[ModelSpec, ...],
                     basis: str, full: float, zero: float | None) -> float | None:
        """Checks a weights, sparsity or bits item; gives its floor. weights: the accuracy
        of the student's own weights (full, zero as an accuracy item); sparsity: full and zero
        are fractions of zero weights; bits: full points at or below `full` bits, none at or
        above `zero`."""
        own = {m.key: m for m in models if m.weights}
        model = r.get("model")
        if model not in own:
            keys = ", ".join(sorted(own)) or "none of the [[models]] tables has `weights`"
            self.fail(f"{where}.model", f"the key of a model with a weights glob ({keys})",
                      model, missing=model is None)
        if basis == "reference" and own[model].reference is None:
            self.fail(f"{where}.basis", f"absolute: {model} has no reference model", basis)
        if kind in ("sparsity", "bits") and "full" not in r:
            self.fail(f"{where}.full", "the fraction of zero weights for full points (0.7)"
                      if kind == "sparsity" else "the bit width for full points (4)",
                      missing=True)
        if kind in ("weights", "sparsity") and not 0.0 < full <= 1.0:
            self.fail(f"{where}.full", "a fraction above 0, at most 1", full)
        if kind in ("weights", "sparsity") and zero is not None and not 0.0 <= zero < full:
            self.fail(f"{where}.zero", f"a fraction from 0 up to full ({full})", zero)
        if kind == "bits" and not (full.is_integer() and 1 <= full <= 32):
            self.fail(f"{where}.full", "a whole number of bits from 1 to 32", full)
        if kind == "bits" and zero is not None and not (zero.is_integer() and full < zero <= 32):
            self.fail(f"{where}.zero", f"a whole number of bits above full ({full:g}), at most "
                      "32: none at or above it", zero)
        floor = self.get(r, "floor", where, float, None)
        if floor is not None and kind == "weights":
            self.fail(f"{where}.floor", "no floor: it belongs to sparsity and bits items", floor)
        if floor is not None and not 0.0 < floor <= 1.0:
            self.fail(f"{where}.floor", "an accuracy above 0, at most 1 (with basis "
                      "\"reference\": a fraction of the reference's)", floor)
        return floor
