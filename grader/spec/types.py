"""The assignment spec's typed data: frozen dataclasses, one per TOML section.

grader.spec loads a TOML file into these (parsing in grader.spec.sections) and re-exports
them, so other modules import them from grader.spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
TASK_KINDS = ("classification", "localization", "sequence")
INPUT_ROLES = ("image", "ids", "lengths", "embeddings", "hidden")
OUTPUT_ROLES = ("label", "box", "hidden")
DTYPES = ("float32", "int64")
SYMBOLS = ("B", "T")                # symbolic sizes: the batch and the sequence length
BOX_LOSSES = ("mse", "ciou", "mse+ciou")
ACTIVATIONS = ("auto", "logits", "log_softmax")


@dataclass(frozen=True)
class ParamExpectation:
    """What the trainable-parameter count of a model must be."""

    exact: int | None = None        # the count must equal this
    min: int | None = None          # inclusive lower bound of an accepted range
    max: int | None = None          # inclusive upper bound of an accepted range
    reference: str | None = None    # "same as reference model X" (its count, resolved when built)
    within: float = 0.0             # with reference: a family, the reference's count give or
    #                                 take this fraction (0.01: ResNet-18 with any stem, 7x7 or
    #                                 3x3, and any head of the spec's classes)

    def describe(self) -> str:
        if self.exact is not None:
            return f"{self.exact:,}"
        if self.reference is not None:
            return f"same as reference {self.reference}" + (
                f" within {100 * self.within:g}%" if self.within else "")   # 0.005: 0.5%
        lo = f"{self.min:,}" if self.min is not None else "0"
        hi = f"{self.max:,}" if self.max is not None else "any"
        return f"{lo} to {hi}"

    def accepts(self, count: int, reference_count: int | None = None) -> bool:
        if self.exact is not None:
            return count == self.exact
        if self.reference is not None:
            return reference_count is not None and (
                abs(count - reference_count) <= self.within * reference_count)
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
    weights: str | None = None      # glob of the student's own checkpoint ("*prun*.pt"): loaded
    #                                 into the built model in the sandbox and scored as handed
    #                                 in (with train = false: instead of retraining)
    min_param_tensors: int | None = None   # at least this many parameter tensors, counted as
    #                                 len(list(net.parameters())) (ECE 60146 HW5: 50 "layers")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model's forward, as [[interface.inputs]] and
    [[interface.outputs]] declare it. Inputs are passed positionally in the declared order;
    outputs are matched to a returned tuple by position, to a dict by name, and a single
    tensor is the first output."""

    name: str                       # "x", "ids", "length", "h"; outputs: "label", "box", "h"
    role: str                       # inputs: image | ids | lengths | embeddings | hidden;
    #                                 outputs: label (class scores) | box | hidden
    shape: tuple[int | str, ...] = ()   # sizes, or the symbols "B" (batch) and "T" (sequence
    #                                 length) the grader chooses; a hidden output's () is not
    #                                 checked (nn.GRU's h is layers x B x H, the student's choice)
    dtype: str = "float32"          # float32 | int64 (token ids and lengths)
    range: tuple[float, float] | None = None   # inputs: values drawn from [lo, hi] (ids:
    #                                 integers lo..hi-1; images: uniform); outputs: what the
    #                                 values mean (documentation: not checked on random input)
    init: str = "zeros"             # a hidden input: "init_hidden" (the model's method, called
    #                                 as init_hidden() or init_hidden(B); zeros of `shape` when it
    #                                 has none) | "zeros" (zeros of `shape`)
    activation: str = "auto"        # a label output: logits | log_softmax | auto (detected on
    #                                 random input: rows whose exp sums to 1 are log-softmax);
    #                                 the canonical loss fits it (NLL for log-softmax)

    def to_job(self) -> dict:
        """The plain-JSON form the sandboxed harness reads (reference/interface.py)."""
        return {"name": self.name, "role": self.role, "shape": list(self.shape),
                "dtype": self.dtype, "range": list(self.range) if self.range else None,
                "init": self.init, "activation": self.activation}

    def describe(self) -> str:
        return "[" + ", ".join(str(s) for s in self.shape) + "]" if self.shape else "any"


@dataclass(frozen=True)
class InterfaceSpec:
    """What a model's forward takes and returns ([interface]); every model of the assignment
    has the same one. Without the section: one image batch in ([B, C, H, W] of [dataset]
    input_shape) and class scores out ([B, num_classes])."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    declared: bool = False          # written in the spec (False: derived from [dataset])

    def output(self, role: str) -> TensorSpec | None:
        return next((o for o in self.outputs if o.role == role), None)

    def input(self, role: str) -> TensorSpec | None:
        return next((i for i in self.inputs if i.role == role), None)

    @property
    def stepped(self) -> bool:
        """Batch size 1, one sequence per step: no input has the batch symbol "B"."""
        return not any("B" in i.shape for i in self.inputs)

    def to_job(self) -> dict:
        return {"inputs": [i.to_job() for i in self.inputs],
                "outputs": [o.to_job() for o in self.outputs]}


def default_interface(input_shape: tuple[int, ...], num_classes: int) -> InterfaceSpec:
    """Classification's interface: one image batch in, class scores out."""
    return InterfaceSpec(inputs=(TensorSpec("x", "image", ("B", *input_shape)),),
                         outputs=(TensorSpec("label", "label", ("B", num_classes)),))


@dataclass(frozen=True)
class TaskSpec:
    """[task]: what the models do, which decides the canonical loss, the metrics, the
    predictions file and the report's sections (grader.grading.tasks)."""

    kind: str = "classification"    # classification | localization (one object: its class
    #                                 and box) | sequence (one label per token sequence)
    box_loss: str = "mse"           # localization: mse | ciou (torchvision.ops.
    #                                 complete_box_iou_loss) | mse+ciou, added to cross-entropy
    box_weight: float = 1.0         # localization: loss = CE + box_weight * box loss
    iou_threshold: float = 0.5      # localization: a box "hits" at IoU >= this (the hit rate)


@dataclass(frozen=True)
class DatasetSpec:
    """The data the models take and the data evaluate trains on."""

    name: str = "cifar10"           # cifar10 | tiny-imagenet | npz
    input_shape: tuple[int, int, int] = (3, 32, 32)   # C, H, W of one image
    num_classes: int = 10
    class_names: tuple[str, ...] = CIFAR10_CLASSES
    synthetic_train: int = 4000     # images per split of the built-in synthetic data: small so
    synthetic_test: int = 1000      # the README's main job runs in minutes on a 2-core CPU
    vocab_size: int = 0             # sequence: token ids run 1..vocab_size-1 (0 pads)
    lengths: tuple[int, int] = (8, 32)   # sequence: the stand-in's shortest and longest
    #                                 sequence (tokens); real data keeps its own
    embedding_dim: int = 0          # sequence with an embeddings input: the "word2vec" vector
    #                                 size (ECE 60146 HW8: 300)


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
    #                                 (classification only: boxes and sequences are not augmented)
    optimizer: str = "sgd"          # sgd (lr, momentum, weight_decay) | adam (lr, weight_decay;
    #                                 DLStudio's RNN and detection loops use Adam)
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
class WeightsSpec:
    """How the students' own checkpoints (a model's `weights`) are read and judged."""

    max_mb: int = 100               # larger checkpoint files are refused without being opened
    agreement: float = 0.95         # below this fraction of held-out images on which the
    #                                 weights' own predictions equal predictions.csv, the PDF
    #                                 says so (a neutral note) and `grader integrity` finds it
    mean: tuple[float, ...] | None = None   # per-channel mean and std (in 0..1) the students'
    std: tuple[float, ...] | None = None    # transforms normalise with (the course's
    #                                 Normalize(...)): their weights expect inputs normalised so;
    #                                 None: the training images' own statistics, as retraining uses


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
    box_columns: tuple[str, ...] = ()   # localization: the box's columns after the label,
    #                                 ("x1", "y1", "x2", "y2"), values scaled to 0..1
    max_bytes: int = 8 * 1024 * 1024   # larger files are refused without being read


@dataclass(frozen=True)
class RubricItem:
    """One line of the rubric: points for checks, retrained accuracy or predictions.csv."""

    id: str
    title: str
    points: float
    kind: str                       # check | accuracy | predictions | weights | sparsity | bits
    metric: str = "accuracy"        # accuracy, predictions: what is scored: accuracy | iou
    #                                 (mean IoU of the boxes) | hits (share with IoU at or above
    #                                 [task] iou_threshold); full and zero are in its units
    checks: tuple[str, ...] = ()    # check: check ids or globs ("simplenn.*") that must pass
    partial: bool = False           # check: points in proportion to checks passed
    model: str | None = None        # accuracy: the model key
    basis: str = "absolute"         # accuracy: absolute, or "reference" (fraction of its accuracy)
    full: float = 1.0               # accuracy at or above which all points are earned
    zero: float | None = None       # accuracy at or below which none; linear between (partial)
    #                                 weights: the same, for the accuracy of the student's own
    #                                 weights; sparsity: the fraction of zero conv and linear
    #                                 weights for full points (full) and for none (zero); bits:
    #                                 the bit width for full points (full) and for none (zero)
    floor: float | None = None      # sparsity, bits: the weights must keep this accuracy
    #                                 (absolute, or a fraction of the reference's with basis
    #                                 "reference"), or the item earns nothing


@dataclass(frozen=True)
class IntegritySpec:
    """`grader integrity`'s settings in the spec."""

    starter: tuple[str, ...] = ()   # starter code given to everyone (files or folders, relative
    #                                 to the spec file; [assignment] starter and [integrity]
    #                                 starter, one list): boilerplate, never counted as copying,
    #                                 and its unchanged files and cells are named as the template
    free_models: tuple[str, ...] | None = None   # model keys whose architecture is the
    #                                 student's own choice (compared); None: those with no exact
    #                                 or reference count, no weighted_layers, and a range wider
    #                                 than 10% (DLStudio's Net3, not ResNet-20's two options)


@dataclass(frozen=True)
class HeldOutSpec:
    """[held_out]: a public/private split of the held-out images (Kaggle's public and private
    leaderboards). Students see scores on the public part before the due date; the private
    part decides the points (`grader evaluate`, its PDFs, Gradescope after the due date)."""

    public_fraction: float = 0.0    # share of the held-out images in the public part (0.3:
    #                                 30% public, 70% private); 0: no split, every score is on
    #                                 all held-out images (as without the section)
    seed: int = 0                   # the split is a fixed permutation of the held-out ids by
    #                                 this seed: the same for every student and every run

    @property
    def split(self) -> bool:
        return self.public_fraction > 0


LEADERBOARD_COLUMNS = ("accuracy", "params", "predictions")
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


@dataclass(frozen=True)
class GradescopeSpec:
    """How `grader gradescope` shows a result on Gradescope (its results.json)."""

    visibility: tuple[tuple[str, str], ...] = ()   # (rubric item id, Gradescope visibility):
    #                                 items not named are "visible" (students see them at once)
    leaderboard: tuple[str, ...] = LEADERBOARD_COLUMNS   # columns: "accuracy" (held-out
    #                                 accuracy of each retrained model), "params" (each model's
    #                                 trainable parameters), "predictions" (predictions.csv
    #                                 accuracy); () for no leaderboard
    daily_cap: int | None = None    # scored runs of the held-out items (kinds "predictions"
    #                                 and "accuracy") a student gets in 24 hours; beyond it
    #                                 they are graded but shown only after the due date, and
    #                                 left out of the score shown until then. None: no cap

    def visibility_of(self, item_id: str) -> str:
        return dict(self.visibility).get(item_id, "visible")


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
    gradescope: GradescopeSpec = GradescopeSpec()
    weights: WeightsSpec = WeightsSpec()
    held_out: HeldOutSpec = HeldOutSpec()
    task: TaskSpec = TaskSpec()
    interface_spec: InterfaceSpec | None = None   # [interface]; None: derived (`interface`)

    @property
    def interface(self) -> InterfaceSpec:
        return self.interface_spec or default_interface(self.dataset.input_shape,
                                                        self.dataset.num_classes)

    def model(self, key: str) -> ModelSpec:
        return next(m for m in self.models if m.key == key)

    @property
    def total_points(self) -> float:
        return sum(item.points for item in self.rubric)
