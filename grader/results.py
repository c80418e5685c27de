"""Typed, immutable results. They carry no formatting: terminal, JSON, HTML/PDF and CSV
output are produced by separate functions that read them.

A result file is JSON written atomically (temporary file in the same folder, fsync, rename),
so a crash mid-write never leaves a half-written result.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.errors import InputError

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CheckResult:
    """One step of `grader check`."""

    id: str                         # "simplenn.params", "predictions.format", ...
    passed: bool
    message: str                    # what was found, in one line
    hint: str = ""                  # what the student can do about it (empty when passed)
    model: str | None = None        # the model key the check is about, if any


@dataclass(frozen=True)
class LayerRow:
    """One leaf module of a model in the per-layer table."""

    name: str                       # dotted module path ("layer1.0.conv1")
    type: str                       # class name ("Conv2d")
    output_shape: list[int] | None  # for batch size 1; None when the module never ran
    weight_shape: list[int] | None
    params: int                     # trainable parameters owned directly by this module
    expected_params: int | None = None   # the reference model's figure for the same layer
    differs: bool = False           # params differ from the reference's matching layer


@dataclass(frozen=True)
class Candidate:
    """A class (and how it is built) that could serve a model, and why it won or lost."""

    name: str                       # as the student wrote it ("SimpleNN", "Outer.Net3")
    source: str                     # file (and cell): "simplenn-cifar10-dev.ipynb cell 3"
    line: int
    call: str = ""                  # how it was built: "ResNetCIFAR(BasicBlock, [3, 3, 3])"
    params: int | None = None       # trainable parameters when it was built
    chosen: bool = False            # the one graded
    status: str = "lost"            # chosen | lost | excluded (not built: the name rules it out)
    reason: str = ""                # why it won or lost, one sentence


@dataclass(frozen=True)
class LayerWeights:
    """One convolution or linear layer of a student's checkpoint, as loaded."""

    name: str                       # module path ("layer1.0.conv1")
    type: str                       # "Conv2d", "Linear", or the student's subclass of either
    params: int                     # weight elements (bias not counted)
    sparsity: float                 # fraction of exact zeros in the weight, 0..1
    distinct_values: int            # distinct weight values (a 4-bit layer has at most 16)
    bits: int                       # ceil(log2(distinct_values)): the bit width it fits in


@dataclass(frozen=True)
class Sparsity:
    """Fractions of exact zeros in the conv and linear weights of a checkpoint."""

    overall: float                  # over all conv and linear weights together
    conv: float | None = None       # over conv weights only (None: the model has none)
    linear: float | None = None     # over linear weights only


@dataclass(frozen=True)
class WeightsReport:
    """The student's own checkpoint for one model: how it loaded, and what its weights are."""

    file: str                       # path in the submission ("hw4/resnet20_pruned.pt")
    loaded: bool                    # the state was loaded into the built model
    format: str = ""                # "state_dict" | "checkpoint" (a dict holding one) |
    #                                 "pickled model" (torch.save(model), opened in the sandbox)
    bytes: int = 0                  # the file's size
    sparsity: Sparsity | None = None
    layers: list[LayerWeights] = field(default_factory=list)
    bits: int | None = None         # the widest layer's bits: the model's bit width
    nonzero: int | None = None      # nonzero conv and linear weights
    problems: list[str] = field(default_factory=list)   # why it did not load, by layer name and
    #                                 shape (missing, unexpected, wrong shape)
    notes: list[str] = field(default_factory=list)      # what was adapted ("module." prefixes)
    error: str | None = None        # could not be read at all
    accuracy: float | None = None   # held-out accuracy of these weights (set by evaluate); under
    #                                 a [held_out] split, on the private part
    public_accuracy: float | None = None   # on the public part of a split ([held_out])
    agreement: float | None = None  # fraction of held-out images where these weights' own
    #                                 predictions equal predictions.csv (set by evaluate)
    compared: int = 0               # images that agreement was computed on
    gpu_error: str = ""             # "out_of_memory" | "fault" when its held-out run failed with
    #                                 torch's own exception class for it (decides a GPU retry)


@dataclass(frozen=True)
class HeadShape:
    """One output of a model's forward as the probe saw it, beside what [interface] declares."""

    name: str                       # the declared output's name ("label", "box", "h")
    role: str                       # label | box | hidden
    shape: list[int] | None         # for the probe's first input (batch 1); None: not returned
    expected: str                   # the declared shape, symbols kept: "(B, 4)"; "any" for none


@dataclass(frozen=True)
class ModelReport:
    """What `check` learned about one required model."""

    key: str                        # the spec's model key
    title: str
    found: bool                     # an accepted (or substitute) class/factory was found
    class_name: str | None = None   # the name used
    source: str | None = None       # file (and cell) it came from, e.g. "hw.ipynb cell 4"
    line: int | None = None
    substituted: bool = False       # not one of the accepted names; chosen by fit and name
    candidates: list[str] = field(default_factory=list)  # every nn.Module class seen
    params: int | None = None       # trainable parameters, recomputed on the trusted side
    expected_params: int | None = None   # the exact count expected (spec or reference), if one
    expected_range: list[int | None] | None = None   # [min, max] when the spec gives a range
    expected_text: str | None = None     # human description ("82,030", "269,722 to 272,474")
    call: str | None = None         # how it was built: "SimpleNN()", "ResNetCIFAR(BasicBlock, ...)"
    built_from: str | None = None   # where the student builds it that way, when the grader
    #                                 used the student's own construction (required arguments)
    considered: list[Candidate] = field(default_factory=list)   # every candidate, with the
    #                                 reason the chosen one won and each other lost
    output_shape: list[int] | None = None
    flops: int | None = None        # per image, forward pass
    layers: list[LayerRow] = field(default_factory=list)
    error: str | None = None        # why it could not be built or run
    weights: WeightsReport | None = None   # the student's checkpoint, when the spec asks for one
    built_kind: str | None = None   # what the graded candidate is: "class", "function" (a
    #                                 factory) or "binding" (a module-level variable, with the
    #                                 head surgery after it)
    offline_weights: list[str] = field(default_factory=list)   # pretrained weights the code
    #                                 asks for, not downloaded (built with weights=None):
    #                                 "pretrained=True (train.py, line 12)"
    frozen_params: bool = False     # its code freezes parameters (requires_grad = False); they
    #                                 were counted and trained all the same
    heads: list[HeadShape] = field(default_factory=list)   # each declared output's shape
    #                                 (empty: no [interface], the one output is output_shape)
    param_tensors: int | None = None   # len(list(model.parameters())): ECE 60146 HW5 counts
    #                                 these as "learnable layers" (at least 50)


@dataclass(frozen=True)
class PredictionError:
    line: int | None                # 1-based line in predictions.csv (None: whole file)
    message: str


@dataclass(frozen=True)
class PredictionsReport:
    present: bool
    valid: bool
    rows: int = 0
    errors: list[PredictionError] = field(default_factory=list)
    labels: list[int] | None = None  # label index per id (first_id order) when valid
    boxes: list[list[float]] | None = None   # localization: x1, y1, x2, y2 (0..1) per id
    faulty_lines: int = 0           # lines with at least one fault (errors shows a few)


@dataclass(frozen=True)
class SandboxReport:
    """How the student process ended."""

    status: str = "ok"              # ok | crashed | timeout | memory | processes | filesize | cpu
    exit_code: int | None = None
    reason: str = ""                # a sentence for the report ("memory limit of 4 GiB exceeded")
    seconds: float = 0.0
    output: str = ""                # captured stdout+stderr, truncated (never parsed)
    tampering: list[str] = field(default_factory=list)   # torch functions student code replaced
    sandboxed: bool = True          # False only under --no-sandbox


@dataclass(frozen=True)
class ParseNote:
    """A part of the hand-in's code that does not parse and that no required model needs (or
    the course's template, unchanged): skipped and named, not a failed check."""

    file: str                       # path in the submission ("save_test_predictions.ipynb")
    cell: int | None                # notebook code cell (1-based), None for a .py file
    line: int | None                # 1-based line in the file or cell
    message: str                    # Python's message ("expected an indented block ...")
    text: str = ""                  # the offending line, stripped
    template: bool = False          # the file or cell is the course's starter unchanged


@dataclass(frozen=True)
class CheckReport:
    submission: str
    assignment: str
    passed: bool
    models: list[ModelReport]
    checks: list[CheckResult]
    predictions: PredictionsReport | None
    sandbox: SandboxReport
    files: list[str] = field(default_factory=list)   # files found in the submission
    parse_notes: list[ParseNote] = field(default_factory=list)   # code skipped because it does
    #                                 not parse, where no required model needs it (files.syntax
    #                                 fails for the rest)


@dataclass(frozen=True)
class EpochStats:
    epoch: int                      # 1-based
    train_loss: float
    train_accuracy: float           # fraction 0..1, on augmented training batches
    val_accuracy: float             # fraction 0..1, on the held-out split, scored trusted-side
    lr: float
    val_iou: float | None = None    # localization: mean IoU of the epoch's held-out boxes


@dataclass(frozen=True)
class BoxExample:
    """One held-out image with its true and predicted box, for the report to draw."""

    index: int                      # position among the scored held-out images (its id - first)
    label: int                      # true class
    predicted: int                  # predicted class
    box: list[float]                # true x1, y1, x2, y2, scaled to 0..1
    predicted_box: list[float]      # predicted, likewise
    iou: float
    thumbnail: str = ""             # the image as a base64 PNG (at most 128 x 128): the report
    #                                 draws the boxes on it without the dataset


@dataclass(frozen=True)
class BoxScores:
    """Localization: the predicted boxes scored against the held-out boxes
    (torchvision.ops.box_iou on the trusted side)."""

    mean_iou: float                 # mean over the scored images, 0..1
    hits: float                     # fraction of them with IoU >= threshold
    threshold: float                # [task] iou_threshold (0.5)
    ious: list[float] = field(default_factory=list)   # per scored image (the histogram)
    examples: list[BoxExample] = field(default_factory=list)   # a few, for the report
    public_mean_iou: float | None = None   # under a [held_out] split: the public part's (the
    #                                 fields above are then the private part's)
    public_hits: float | None = None   # ... and the public part's hit rate


@dataclass(frozen=True)
class Scores:
    """Held-out scores computed on the trusted side from predictions and held-out labels."""

    accuracy: float                 # fraction 0..1
    per_class: list[float]          # recall per class, fraction 0..1 (nan-free: 0 when no samples)
    confusion: list[list[int]]      # counts; rows true class, columns predicted
    public_accuracy: float | None = None   # with a public/private split ([held_out]): the
    #                                 accuracy on the public part; the fields above are then
    #                                 the private part's. None: no split (or no public image)
    public_images: int = 0          # how many held-out images the public part holds
    boxes: BoxScores | None = None  # localization: the box head's scores


# TrainingResult.gpu_error's values: the model failed with torch.cuda.OutOfMemoryError, or with
# torch.AcceleratorError (a CUDA error; under MPS, maybe another client's fault)
GPU_ERRORS = frozenset({"out_of_memory", "fault"})


@dataclass(frozen=True)
class TrainingResult:
    model: str                      # model key
    ok: bool
    history: list[EpochStats] = field(default_factory=list)
    scores: Scores | None = None
    seconds: float = 0.0
    images_per_second: float = 0.0
    error: str | None = None
    seed: int | None = None         # the training seed (references run under several)
    tampering: list[str] = field(default_factory=list)   # torch functions replaced while training
    device: str = ""                # where it trained, as the harness reported it ("cuda:0", "cpu")
    gpu_error: str = ""             # "out_of_memory" | "fault" when it failed with torch's own
    #                                 exception class for it (what decides a GPU retry)


@dataclass(frozen=True)
class ReferenceBand:
    """What the reference model reached under the grading budget, over its seeds, and whether
    that is clearly better than chance (grader.grading.retrain.reference_band decides it)."""

    model: str                      # model key
    seeds: list[int]                # the training seeds of the reference runs that finished
    accuracies: list[float]         # held-out accuracy per seed, fractions 0..1
    mean: float                     # their mean: relative rubric thresholds are fractions of it
    spread: float                   # their sample standard deviation (0 with one seed): a
    #                                 student within it of the mean trained as well
    chance: float                   # accuracy of always guessing the most common held-out class
    threshold: float                # mean - spread must reach this for "learned" (see retrain)
    learned: bool                   # False: relative-accuracy items are not gradable
    epoch_low: list[float] = field(default_factory=list)    # per epoch, held-out accuracy's
    epoch_high: list[float] = field(default_factory=list)   # mean -/+ spread over the seeds
    note: str = ""                  # the warning sentence when not learned; empty otherwise
    public_accuracies: list[float] = field(default_factory=list)   # with a public/private
    #                                 split, each seed's accuracy on the public part (the
    #                                 fields above are the private part's); empty: no split
    ious: list[float] = field(default_factory=list)   # localization: each seed's mean IoU
    #                                 (relative iou items divide by their mean)
    hits: list[float] = field(default_factory=list)   # localization: each seed's hit rate
    #                                 (relative hits items divide by their mean)


@dataclass(frozen=True)
class ItemScore:
    """One rubric item: points earned and, for every lost point, the reason."""

    id: str
    title: str
    earned: float
    possible: float                 # 0 when the item was not gradable (left out of the total)
    reasons: list[str] = field(default_factory=list)
    gradable: bool = True           # False: the reference did not clearly beat chance under the
    #                                 budget, so the item's points are left out (reasons say so)
    public_earned: float | None = None   # a held-out item under a public/private split: the
    #                                 points its public part earns (what students see before
    #                                 the due date); `earned` is the private part's. None: no split
    public_reasons: list[str] = field(default_factory=list)   # why public points were lost


@dataclass(frozen=True)
class EvaluationResult:
    student: str                    # submission folder name
    assignment: str                 # assignment id
    course: str
    title: str
    grader_version: str
    created: str                    # ISO 8601 timestamp
    status: str                     # ok: every part ran (points may still be lost) |
    #                                 failed: a model was missing, did not build or train, or a
    #                                 limit was hit | crashed: nothing could be graded (zero)
    error: str | None
    check: CheckReport | None
    training: list[TrainingResult]
    reference: list[TrainingResult]
    predictions: Scores | None      # predictions.csv scored against the held-out labels
    rubric: list[ItemScore]
    total: float
    possible: float
    class_names: list[str]
    dataset: str                    # "synthetic (seed 0)" or the data folder
    device: str                     # "cpu", or "cuda (NVIDIA H200)" with the slot's GPU as
    #                                 nvidia-smi names it ("cuda" when it does not)
    schema: int = SCHEMA_VERSION
    reference_bands: list[ReferenceBand] = field(default_factory=list)   # per trained model
    public_fraction: float = 0.0    # the spec's [held_out] public_fraction: when above 0, every
    #                                 held-out figure and the points are the private part's
    #                                 (Scores.public_accuracy, ItemScore.public_earned: public)
    task: str = "classification"    # the spec's [task] kind: classification | localization |
    #                                 sequence (the reports say "sequences" where they are)


def to_dict(result: Any) -> dict:
    return dataclasses.asdict(result)


def _build(tp: Any, value: Any) -> Any:
    """Rebuild a dataclass tree from plain JSON data, following the type hints."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(args[0], value)
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_build(item, v) for v in value]
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        known = {f.name for f in dataclasses.fields(tp)}
        return tp(**{k: _build(hints[k], v) for k, v in value.items() if k in known})
    return value


def from_dict(cls: type, data: dict) -> Any:
    try:
        return _build(cls, data)
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise InputError(f"result does not match the {cls.__name__} schema: {exc}") from None


def _umask() -> int:
    """The process's umask, read without changing it: os.umask can only be read by setting
    it, and a thread creating a file in that moment would get world-writable permissions."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _UMASK_AT_IMPORT


_UMASK_AT_IMPORT = os.umask(0o022)   # read once at import (one thread), for systems without
os.umask(_UMASK_AT_IMPORT)           # /proc/self/status, then set back


def write_atomic(path: Path, data: bytes) -> Path:
    """Write a file so that readers see the old file or the new one, never a partial one
    (a temporary file in the same folder, fsync, rename), with the usual permissions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())    # mkstemp makes 0600; results are for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: Path, data: Any) -> None:
    write_atomic(path, (json.dumps(data, indent=2, allow_nan=False) + "\n").encode("utf-8"))


def save(result: EvaluationResult, path: Path) -> None:
    write_json_atomic(path, to_dict(result))


def load(path: Path) -> EvaluationResult:
    """Read one result file; a missing or corrupt file raises InputError naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("result file not found", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read result file: {exc}", path=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"corrupt result file (invalid JSON: {exc.msg})", path=str(path),
                         line=exc.lineno, column=exc.colno) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
        raise InputError(f"not a grader result (expected a JSON object with schema "
                         f"{SCHEMA_VERSION})", path=str(path))
    try:
        return from_dict(EvaluationResult, data)
    except InputError as exc:
        raise InputError(exc.message, path=str(path)) from None
