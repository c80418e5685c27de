"""Assignment specs: TOML files an instructor writes, loaded into frozen dataclasses.

Every key is validated; a fault names the file, the key (with its line when it can be found)
and what was expected. Built-in specs live in grader/assignments/ and are listed by
`grader assignments`. The format is documented in README.md ("Writing an assignment").
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from grader.errors import SpecError

BUILTIN_DIR = Path(__file__).parent / "assignments"

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class ParamExpectation:
    """What the trainable-parameter count of a model must be."""

    exact: int | None = None        # the count must equal this
    min: int | None = None          # inclusive lower bound of an accepted range
    max: int | None = None          # inclusive upper bound of an accepted range
    reference: str | None = None    # "same as reference model X" (its count, resolved when built)

    def describe(self) -> str:
        if self.exact is not None:
            return f"{self.exact:,}"
        if self.reference is not None:
            return f"same as reference {self.reference}"
        lo = f"{self.min:,}" if self.min is not None else "0"
        hi = f"{self.max:,}" if self.max is not None else "any"
        return f"{lo} to {hi}"

    def accepts(self, count: int, reference_count: int | None = None) -> bool:
        if self.exact is not None:
            return count == self.exact
        if self.reference is not None:
            return reference_count is not None and count == reference_count
        return (self.min is None or count >= self.min) and (self.max is None or count <= self.max)


@dataclass(frozen=True)
class ModelSpec:
    """One model the submission must contain."""

    key: str                        # short id used in results and rubric ("simplenn")
    title: str                      # what students call it ("SimpleNN (Lab 1)")
    names: tuple[str, ...]          # accepted class or factory-function names, preferred first
    args: dict[str, Any] = field(default_factory=dict)   # keyword arguments for the constructor
    params: ParamExpectation | None = None               # expected trainable parameters
    reference: str | None = None    # reference/ registry id: layer-by-layer comparison, retraining
    weighted_layers: int | None = None       # conv + linear layers expected (ResNet-20: 20)
    batchnorm_after_conv: bool = False       # every Conv2d must be followed by a BatchNorm2d
    train: bool = True              # retrain it in `grader evaluate`
    files: tuple[str, ...] = ()     # file names it is expected in ("simplenn-cifar10.ipynb"),
    #                                 matched tolerantly; empty: anywhere in the submission


@dataclass(frozen=True)
class DatasetSpec:
    """The data the models take and the data evaluate trains on."""

    name: str = "cifar10"           # cifar10 | tiny-imagenet | npz
    input_shape: tuple[int, int, int] = (3, 32, 32)   # C, H, W of one image
    num_classes: int = 10
    class_names: tuple[str, ...] = CIFAR10_CLASSES
    synthetic_train: int = 4000     # images per split of the built-in synthetic data: small so
    synthetic_test: int = 1000      # the README's main job runs in minutes on a 2-core CPU


@dataclass(frozen=True)
class TrainingSpec:
    """The canonical training routine's budget; every model of the assignment gets the same."""

    epochs: int = 2                 # grading budget, not the students' (overridable: --epochs)
    batch_size: int = 128           # ECE 661 HW2
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "none"          # none | step | cosine | onecycle
    milestones: tuple[int, ...] = ()  # epochs where a step schedule multiplies lr by gamma
    gamma: float = 0.1
    augment: bool = True            # RandomCrop(padding=4) + horizontal flip, batch-wise
    seed: int = 0
    reference_seeds: tuple[int, ...] = ()   # seeds the reference trains under (TOML: a count n,
    #                                 meaning seed .. seed + n - 1, or a list); relative rubric
    #                                 items then use their mean and spread. Empty: (seed,)
    eval_images: int = 0            # held-out images every retrained model is scored on, per
    #                                 epoch and final (the first N); 0: all of them. Part of the
    #                                 budget: a CPU demo need not predict 10,000 images per epoch


@dataclass(frozen=True)
class LimitsSpec:
    """Sandbox limits for one student process (overridable on the command line)."""

    wall_seconds: int = 120         # `check`: building and probing models (torch import ~6 s)
    train_wall_seconds: int = 1800  # `evaluate`: retraining all of one student's models
    memory_mb: int = 4096           # resident memory of the whole process tree
    processes: int = 64             # tasks (processes and threads) alive at once
    file_size_mb: int = 256         # largest file the student code may write
    cpu_seconds: int = 7200         # CPU time of one process


@dataclass(frozen=True)
class PredictionsSpec:
    """The predictions.csv format students hand in."""

    file: str = "predictions.csv"
    id_column: str = "id"           # the header's names, as the course hands them out; matched
    label_column: str = "label"     # without regard to case or surrounding spaces
    id_aliases: tuple[str, ...] = ()      # other names accepted for the id column
    label_aliases: tuple[str, ...] = ()   # ... and for the label column (messages name only
    #                                       id_column,label_column: the course's own format)
    rows: int = 10000               # rows expected (one per held-out image)
    first_id: int = 0               # ids run first_id .. first_id + rows - 1
    labels: str = "index"           # index | name | either
    max_bytes: int = 8 * 1024 * 1024   # larger files are refused without being read


@dataclass(frozen=True)
class RubricItem:
    """One line of the rubric: points for checks, retrained accuracy or predictions.csv."""

    id: str
    title: str
    points: float
    kind: str                       # check | accuracy | predictions
    checks: tuple[str, ...] = ()    # check: check ids or globs ("simplenn.*") that must pass
    partial: bool = False           # check: points in proportion to checks passed
    model: str | None = None        # accuracy: the model key
    basis: str = "absolute"         # accuracy: absolute, or "reference" (fraction of its accuracy)
    full: float = 1.0               # accuracy at or above which all points are earned
    zero: float | None = None       # accuracy at or below which none; linear between (partial)


@dataclass(frozen=True)
class IntegritySpec:
    """`grader integrity`'s settings in the spec."""

    starter: tuple[str, ...] = ()   # starter code given to everyone (files or folders, relative
    #                                 to the spec file): boilerplate, never counted as copying
    free_models: tuple[str, ...] | None = None   # model keys whose architecture is the
    #                                 student's own choice (compared); None: those with no exact
    #                                 or reference count, no weighted_layers, and a range wider
    #                                 than 10% (DLStudio's Net3, not ResNet-20's two options)


@dataclass(frozen=True)
class Assignment:
    id: str
    course: str
    title: str
    path: str
    required_files: tuple[str, ...]
    models: tuple[ModelSpec, ...]
    dataset: DatasetSpec
    training: TrainingSpec
    limits: LimitsSpec
    predictions: PredictionsSpec | None
    rubric: tuple[RubricItem, ...]
    integrity: IntegritySpec = IntegritySpec()

    def model(self, key: str) -> ModelSpec:
        return next(m for m in self.models if m.key == key)

    @property
    def total_points(self) -> float:
        return sum(item.points for item in self.rubric)


def builtin_ids() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    """A built-in id ("ece661-hw2") or a path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise SpecError(f"assignment file not found (built-in ids: {', '.join(builtin_ids())})",
                            path=str(path))
        return path
    builtin = BUILTIN_DIR / f"{name_or_path}.toml"
    if not builtin.is_file():
        raise SpecError(f"unknown assignment '{name_or_path}': expected a built-in id "
                        f"({', '.join(builtin_ids())}) or a path to a .toml file")
    return builtin


def load(name_or_path: str) -> Assignment:
    path = resolve(name_or_path)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line, col = (int(match[1]), int(match[2])) if match else (None, None)
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise SpecError(f"invalid TOML: {msg}", path=str(path), line=line, column=col) from None
    return _Parser(path, text).assignment(data)


class _Parser:
    """Turns the parsed TOML into dataclasses, naming the file, key and line of any fault."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def fail(self, key: str, expected: str, got: Any = None, *, missing: bool = False) -> None:
        detail = "is missing" if missing else f"got {got!r}"
        raise SpecError(f"key '{key}': expected {expected}; {detail}",
                        path=str(self.path), line=self.line_of(key))

    def line_of(self, key: str) -> int | None:
        """The line of a key such as 'models[2].params': searched in the third [[models]]
        table (or the [training] table for 'training.lr'), else anywhere in the file."""
        match = re.fullmatch(r"([\w-]+)(?:\[(\d+)\])?(?:\.(.+))?", key)
        if not match:
            return None
        section, index, rest = match[1], match[2], match[3]
        leaf = rest.rsplit(".", 1)[-1] if rest else None
        headers = [i for i, text in enumerate(self.lines) if re.match(r"\s*\[", text)]
        mine = [i for i in headers if re.match(
            rf"\s*\[\[?\s*{re.escape(section)}\s*\]\]?\s*(#.*)?$", self.lines[i])]
        begin, end = 0, len(self.lines)
        if mine and (index is None or int(index) < len(mine)):
            begin = mine[int(index or 0)]
            end = next((i for i in headers if i > begin), len(self.lines))
            if leaf is None:
                return begin + 1
        if leaf is None:
            leaf = section
        for lo, hi in ((begin, end), (0, len(self.lines))):
            hit = next((i + 1 for i in range(lo, hi)
                        if re.match(rf"\s*{re.escape(leaf)}\s*=", self.lines[i])), None)
            if hit is not None:
                return hit
        return None

    def table(self, data: dict, key: str, allowed: set[str], where: str) -> dict:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.fail(where, "a table", value)
        for unknown in sorted(set(value) - allowed):
            self.fail(f"{where}.{unknown}", f"one of the known keys ({', '.join(sorted(allowed))})",
                      unknown)
        return value

    def get(self, table: dict, key: str, where: str, kind: type | tuple, default: Any = ...,
            expected: str = "") -> Any:
        if key not in table:
            if default is ...:
                self.fail(f"{where}.{key}", expected or kind.__name__, missing=True)
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            self.fail(f"{where}.{key}", expected or " or ".join(k.__name__ for k in kinds), value)
        return value

    def names(self, table: dict, key: str, where: str) -> tuple[str, ...]:
        """A list of strings (column aliases, ...); () when absent."""
        value = self.get(table, key, where, list, [], "a list of strings")
        if not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(f"{where}.{key}", "a list of non-empty strings", value)
        return tuple(value)

    def positive(self, table: dict, key: str, where: str, default: Any) -> Any:
        value = self.get(table, key, where, type(default), default)
        if value <= 0:
            self.fail(f"{where}.{key}", "a positive number", value)
        return value

    def assignment(self, data: dict) -> Assignment:
        known = {"assignment", "dataset", "training", "limits", "predictions", "models", "rubric",
                 "cluster", "integrity"}   # [cluster] is read by grader.cluster, not here
        for unknown in sorted(set(data) - known):
            self.fail(unknown, f"one of the sections [{'], ['.join(sorted(known))}]", unknown)
        head = self.table(data, "assignment", {"course", "title", "required_files"}, "assignment")
        dataset = self.dataset(data)
        models = data.get("models", [])
        if not isinstance(models, list) or not models:
            self.fail("models", "at least one [[models]] table", models, missing="models" not in data)
        parsed = tuple(self.model(m, i, dataset) for i, m in enumerate(models))
        keys = [m.key for m in parsed]
        if len(set(keys)) != len(keys):
            self.fail("models.key", "unique model keys", keys)
        predictions = self.predictions(data) if "predictions" in data else None
        rubric = tuple(self.rubric_item(r, i, set(keys), predictions)
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
            integrity=self.integrity(data))

    def integrity(self, data: dict) -> IntegritySpec:
        t = self.table(data, "integrity", {"starter", "free_models"}, "integrity")
        starter = self.get(t, "starter", "integrity", list, [])
        if not all(isinstance(p, str) and p for p in starter):
            self.fail("integrity.starter", "a list of paths (files or folders)", starter)
        free = self.get(t, "free_models", "integrity", list, None)
        keys = {m.get("key") for m in data.get("models", []) if isinstance(m, dict)}
        if free is not None and not all(k in keys for k in free):
            self.fail("integrity.free_models", f"model keys ({', '.join(sorted(keys))})", free)
        base = self.path.parent
        return IntegritySpec(starter=tuple(str(base / p) for p in starter),
                             free_models=tuple(free) if free is not None else None)

    def dataset(self, data: dict) -> DatasetSpec:
        d = DatasetSpec()
        t = self.table(data, "dataset", {"name", "input_shape", "num_classes", "class_names",
                                         "synthetic_train", "synthetic_test"}, "dataset")
        name = self.get(t, "name", "dataset", str, d.name)
        if name not in ("cifar10", "tiny-imagenet", "npz"):
            self.fail("dataset.name", "cifar10, tiny-imagenet or npz", name)
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
                                                        d.synthetic_test))

    def model(self, m: Any, index: int, dataset: DatasetSpec) -> ModelSpec:
        where = f"models[{index}]"
        if not isinstance(m, dict):
            self.fail(where, "a [[models]] table", m)
        allowed = {"key", "title", "names", "args", "params", "reference", "weighted_layers",
                   "batchnorm_after_conv", "train", "files"}
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
        return ModelSpec(
            key=key, title=self.get(m, "title", where, str, key), names=tuple(names),
            args=self.get(m, "args", where, dict, {}), params=self.params(m, where),
            reference=reference, weighted_layers=layers,
            batchnorm_after_conv=self.get(m, "batchnorm_after_conv", where, bool, False),
            train=self.get(m, "train", where, bool, True), files=tuple(files))

    def params(self, m: dict, where: str) -> ParamExpectation | None:
        value = m.get("params")
        expected = 'an integer, {min = N, max = M} or {reference = "model-id"}'
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return ParamExpectation(exact=value)
        if isinstance(value, dict) and set(value) <= {"min", "max"} and value and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
            return ParamExpectation(min=value.get("min"), max=value.get("max"))
        if isinstance(value, dict) and set(value) == {"reference"} and isinstance(
                value["reference"], str):
            return ParamExpectation(reference=value["reference"])
        self.fail(f"{where}.params", expected, value)
        return None

    def training(self, data: dict) -> TrainingSpec:
        d = TrainingSpec()
        w = "training"
        t = self.table(data, w, {"epochs", "batch_size", "lr", "momentum", "weight_decay",
                                 "schedule", "milestones", "gamma", "augment", "seed",
                                 "reference_seeds", "eval_images"}, w)
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
            eval_images=self.eval_images(t))

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

    def predictions(self, data: dict) -> PredictionsSpec:
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
            labels=labels, max_bytes=self.positive(t, "max_bytes", w, d.max_bytes))

    def rubric_item(self, r: Any, index: int, model_keys: set[str],
                    predictions: PredictionsSpec | None) -> RubricItem:
        where = f"rubric[{index}]"
        if not isinstance(r, dict):
            self.fail(where, "a [[rubric]] table", r)
        allowed = {"id", "title", "points", "kind", "checks", "partial", "model", "basis",
                   "full", "zero"}
        for unknown in sorted(set(r) - allowed):
            self.fail(f"{where}.{unknown}", f"one of {', '.join(sorted(allowed))}", unknown)
        kind = self.get(r, "kind", where, str)
        if kind not in ("check", "accuracy", "predictions"):
            self.fail(f"{where}.kind", "check, accuracy or predictions", kind)
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
        if zero is not None and zero >= full:
            self.fail(f"{where}.zero", f"a value below full ({full})", zero)
        return RubricItem(
            id=item_id, title=self.get(r, "title", where, str, item_id),
            points=self.positive(r, "points", where, 1.0), kind=kind,
            checks=tuple(str(c) for c in checks), partial=self.get(r, "partial", where, bool, False),
            model=model, basis=basis, full=full, zero=zero)
