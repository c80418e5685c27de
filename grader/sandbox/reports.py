"""What the harness programs report, parsed once on the trusted side into frozen dataclasses.

The harness writes its reports as JSON (out/result.json, probes.json, partial.json) from the
process that runs student code, and student code can read the run's nonce and write those files
itself: the JSON is untrusted. Each parse function checks every field it reads (its type, and
its presence where the field is required) and leaves out an entry that does not fit, so a forged
or truncated entry counts as no report for that model (a failing check that says so), never a
KeyError in the grader. Nothing after these functions reads harness JSON by key.

A field that is missing or null takes its default; a list field defaults to empty.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar, get_args

T = TypeVar("T")

# Where inspect_models got to with one build (harness/inspect_models.py `reached`): it stops
# at the first stage that fails, and a run a limit stops leaves its last stage in partial.json.
ProbeStage = Literal["import", "build", "layers", "forward", "flops", "export", "done"]
TrainStage = Literal["import", "build", "train", "load", "predict", "done"]   # train_models
#                                 ("load" and "predict": an entry with the student's weights)
WeightsFormat = Literal["state_dict", "checkpoint", "pickled model", ""]   # harness/weights.py
GpuError = Literal["out_of_memory", "fault", ""]    # torch's own CUDA exception classes only
# conv and linear layers one checkpoint's export may list (a ResNet-152 has ~155): a report
# that lists more, or one member for two layers, is forged and its export is not measured
MAX_WEIGHT_LAYERS = 4096
MAX_BOX_FILES = 2                   # a training entry's box files: per-epoch and final
MAX_HEADS = 16                      # declared outputs per forward pass (specs declare 1 to 3)
MAX_HEAD_DIMS = 8                   # dimensions of one head's shape


class Malformed(ValueError):
    """A report entry that does not fit its program's report (the entry is left out)."""


@dataclass(frozen=True)
class HarnessError:
    """An exception the harness caught around student code (harness/common.describe_error)."""

    type: str = "Error"             # the exception's class name; "Deadline": its time was up
    message: str = ""
    traceback: str = ""             # the student's frames only
    missing_module: str = ""        # a ModuleNotFoundError's module
    memory: bool = False            # it looks like running out of memory
    processes: bool = False         # it looks like running out of processes or threads
    network: bool = False           # a download or connection failed (no network inside)
    gpu: GpuError = ""              # train_models: torch's CUDA out-of-memory or fault class
    qualname: str = ""              # the class's module and qualified name, as the harness saw
    #                                 it ("torch.OutOfMemoryError"); shown, never decided on

    def __str__(self) -> str:
        return f"{self.type}: {self.message}".strip()


@dataclass(frozen=True)
class Layer:
    """One leaf module as the harness saw it (no parameter figures: those are recounted)."""

    name: str                       # dotted module path ("layer1.0.conv1")
    type: str                       # class name ("Conv2d")
    output_shape: tuple[int, ...] | None = None   # for one image; None when it never ran
    weight_shape: tuple[int, ...] | None = None
    kernel: tuple[int, ...] | None = None         # kernel_size, where it is a tuple


@dataclass(frozen=True)
class Op:
    """One module or torch function a forward pass ran (harness/dataflow.py)."""

    kind: Literal["module", "function"]
    name: str                       # the module's path, or the function ("F.relu")
    inputs: tuple[int, ...]         # the earlier ops whose outputs it read, by index


@dataclass(frozen=True)
class ForwardHead:
    """One declared output ([interface] outputs) as one forward pass returned it."""

    name: str                       # the declared output's name ("label", "box", "h")
    shape: tuple[int, ...]          # a hidden output that is a tuple (an LSTM's (h, c)): its
    #                                 first tensor's
    dtype: str = ""                 # torch's name without "torch." ("float32")
    finite: bool = False            # no NaN or infinity in it
    log_softmax: bool = False       # a label output whose rows look like log-probabilities
    #                                 (reference/interface.py is_log_softmax)


@dataclass(frozen=True)
class ForwardOutput:
    """The output of one forward pass on random input of one batch size."""

    batch: int
    shape: tuple[int, ...] | None = None   # with an [interface]: the first head's
    dtype: str = ""                 # torch's name without "torch." ("float32")
    finite: bool = False            # no NaN or infinity in it
    note: str = ""                  # "returned a tuple; the first item was used"
    error: HarnessError | None = None
    heads: tuple[ForwardHead, ...] = ()   # with an [interface]: every declared output
    #                                 returned, in declared order (empty without one)
    length: int | None = None       # with an [interface]: the sequence length T the inputs had


@dataclass(frozen=True)
class WeightLayer:
    """One conv or linear module whose effective weight the harness exported."""

    name: str                       # module path ("layer1.0.conv1"), at most 200 characters
    type: str                       # class name ("Conv2d", a student's subclass), at most 100
    member: str                     # its array in the export ("w0"): the figures come from it


@dataclass(frozen=True)
class WeightsLoad:
    """harness/weights.py's report on the student's checkpoint for one build."""

    file: str                       # the path the grader asked for (relative to the submission)
    loaded: bool = False            # loaded into the built model (strict)
    format: WeightsFormat = ""
    problems: tuple[str, ...] = ()  # why it did not load: by key and shape (at most 50 kept)
    notes: tuple[str, ...] = ()     # what was adapted ("module." prefixes, prune's pairs)
    error: HarnessError | None = None   # what stopped the reading
    export: str | None = None       # the .npz of effective weights, in out/
    layers: tuple[WeightLayer, ...] = ()
    export_refused: str = ""        # why the listed layers were not believed (then export is
    #                                 None): over MAX_WEIGHT_LAYERS, or a member listed twice


@dataclass(frozen=True)
class ProbeReport:
    """inspect_models' report on one build (a student's candidate or a reference model)."""

    key: str                        # the job entry's key ("b0", "reference:simplenn")
    stage: ProbeStage | None = None  # the last stage reached
    ok: bool = False                # every stage finished and the parameters were exported
    error: HarnessError | None = None   # what stopped it at `stage`
    build_seconds: float | None = None
    layers: tuple[Layer, ...] = ()  # leaf modules in registration order
    order: tuple[str, ...] = ()     # leaf modules in the order forward ran them (repeats kept)
    trace: tuple[tuple[str, tuple[int, ...]], ...] = ()   # (module, output shape) as they ran
    layers_error: HarnessError | None = None   # the layer-table forward pass failed with it
    ops: tuple[Op, ...] = ()        # what forward ran, with which op fed which
    ops_truncated: bool = False     # the op record hit its cap
    outputs: tuple[ForwardOutput, ...] = ()   # one per batch size
    flops: int | None = None        # per image, forward pass
    param_file: str | None = None   # the .npz of trainable parameters, in out/
    tampering: tuple[str, ...] = ()  # torch functions student code replaced
    seconds_limit: float | None = None   # this build's share of the wall clock, if any
    weights: WeightsLoad | None = None   # the student's checkpoint, when the entry asked
    param_tensors: int | None = None    # len(list(model.parameters())) (ECE 60146 HW5's
    #                                 "at least 50 learnable layers"), as the harness counted


@dataclass(frozen=True)
class EpochReport:
    """One epoch of the canonical training routine (reference/train.py History)."""

    epoch: int | None = None
    train_loss: float | None = None     # None when not finite
    train_accuracy: float | None = None
    lr: float | None = None
    seconds: float | None = None
    images_per_second: float | None = None
    train_iou: float | None = None      # localization: mean IoU of the training boxes while
    #                                 training (None for other tasks, or not finite)


@dataclass(frozen=True)
class TrainHistory:
    """The training run's summary (reference/train.py History.to_dict)."""

    epochs: tuple[EpochReport, ...] = ()
    diverged: bool = False          # the loss became NaN or infinite
    seconds: float | None = None
    images_per_second: float | None = None
    device: str = ""                # torch's device name, at most 40 characters


@dataclass(frozen=True)
class TrainReport:
    """train_models' report on one model. Its held-out predictions are files (.npy) in out/."""

    key: str                        # the job entry's key: the model's
    ok: bool = False
    stage: TrainStage | None = None  # the last stage reached
    error: HarnessError | None = None
    seconds: float | None = None
    predictions_files: tuple[str, ...] = ()   # (per-epoch, final) .npy files in out/
    box_files: tuple[str, ...] = ()   # localization: (per-epoch [E, S, 4], final [S, 4])
    #                                 predicted boxes, .npy files in out/
    tampering: tuple[str, ...] = ()
    history: TrainHistory | None = None


@dataclass(frozen=True)
class CudaReport:
    """cuda_probe's answer: whether CUDA starts in a GPU sandbox (no student code runs)."""

    ok: bool = False
    error: HarnessError | None = None


def parse_probes(result: dict | None) -> dict[str, ProbeReport]:
    """inspect_models' reports (result.json, probes.json or partial.json) that fit, by key."""
    return _entries(result, _probe_report)


def parse_training(result: dict | None) -> dict[str, TrainReport]:
    """train_models' reports that fit, by key."""
    return _entries(result, _train_report)


def parse_cuda(result: dict | None) -> CudaReport | None:
    """cuda_probe's report; None when there is none that fits."""
    models = result.get("models") if isinstance(result, dict) else None
    if not isinstance(models, list) or not models or not isinstance(models[0], dict):
        return None
    try:
        return CudaReport(ok=_get(models[0], "ok", bool) is True,
                          error=_object(models[0], "error", _error))
    except Malformed:
        return None


def _entries(result: dict | None, parse: Callable[[dict], T]) -> dict[str, T]:
    models = result.get("models") if isinstance(result, dict) else None
    if not isinstance(models, list):
        return {}
    found = {}
    for entry in models:
        try:
            report = parse(_dict(entry))
        except Malformed:
            continue
        found[report.key] = report
    return found


def _probe_report(raw: dict) -> ProbeReport:
    return ProbeReport(
        key=_get(raw, "key", str, required=True), stage=_literal(raw, "stage", ProbeStage),
        ok=bool(_get(raw, "ok", bool)), error=_object(raw, "error", _error),
        build_seconds=_get(raw, "build_seconds", float),
        layers=_list(raw, "layers", _layer), order=_list(raw, "order", _str),
        trace=_list(raw, "trace", _trace_step),
        layers_error=_object(raw, "layers_error", _error), ops=_list(raw, "ops", _op),
        ops_truncated=bool(_get(raw, "ops_truncated", bool)),
        outputs=_list(raw, "outputs", _output), flops=_get(raw, "flops", int),
        param_file=_get(raw, "param_file", str), tampering=_list(raw, "tampering", _str),
        seconds_limit=_get(raw, "seconds_limit", float),
        weights=_object(raw, "weights", _weights),
        param_tensors=_count(raw, "param_tensors"))


def _weights(raw: dict) -> WeightsLoad:
    fmt = _literal(raw, "format", WeightsFormat) or ""
    export, layers, refused = _get(raw, "export", str), (), ""
    listed = raw.get("layers")
    if isinstance(listed, list) and len(listed) > MAX_WEIGHT_LAYERS:
        refused = (f"the sandbox's report lists {len(listed):,} layers, over the "
                   f"{MAX_WEIGHT_LAYERS:,} measured")
    else:
        layers = _list(raw, "layers", _weight_layer)
        repeated = _first_repeat(layer.member for layer in layers)
        if repeated is not None:
            refused = f"the sandbox's report names the member '{repeated[:40]}' for several layers"
    if refused:
        export, layers = None, ()
    return WeightsLoad(
        file=_get(raw, "file", str, required=True)[:500], loaded=bool(_get(raw, "loaded", bool)),
        format=fmt, problems=tuple(p[:500] for p in _list(raw, "problems", _str)[:50]),
        notes=tuple(n[:500] for n in _list(raw, "notes", _str)[:20]),
        error=_object(raw, "error", _error), export=export, layers=layers,
        export_refused=refused)


def _first_repeat(names) -> str | None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


def _weight_layer(value) -> WeightLayer:
    raw = _dict(value)
    return WeightLayer(name=_get(raw, "name", str, required=True)[:200],
                       type=_get(raw, "type", str, required=True)[:100],
                       member=_get(raw, "member", str, required=True))


def _train_report(raw: dict) -> TrainReport:
    return TrainReport(
        key=_get(raw, "key", str, required=True), ok=bool(_get(raw, "ok", bool)),
        stage=_literal(raw, "stage", TrainStage), error=_object(raw, "error", _error),
        seconds=_get(raw, "seconds", float),
        predictions_files=_list(raw, "predictions_files", _str),
        box_files=_box_files(raw),
        tampering=_list(raw, "tampering", _str), history=_object(raw, "history", _history))


def _history(raw: dict) -> TrainHistory:
    return TrainHistory(
        epochs=_list(raw, "epochs", _epoch),
        diverged=bool(_get(raw, "diverged", bool)), seconds=_get(raw, "seconds", float),
        images_per_second=_get(raw, "images_per_second", float),
        device=str(raw.get("device") or "")[:40])     # shown only, never decided on


def _epoch(value) -> EpochReport:
    raw = _dict(value)
    return EpochReport(**{name: _get(raw, name, int if name == "epoch" else float)
                          for name in ("epoch", "train_loss", "train_accuracy", "lr", "seconds",
                                       "images_per_second", "train_iou")})


def _box_files(raw: dict) -> tuple[str, ...]:
    """A training entry's box files: at most MAX_BOX_FILES names of at most 200 characters
    (load_npy keeps them inside out/); more, or longer, is a forged entry."""
    files = _list(raw, "box_files", _str)
    if len(files) > MAX_BOX_FILES or any(len(name) > 200 for name in files):
        raise Malformed(f"box_files is not a list of at most {MAX_BOX_FILES} file names")
    return files


def _error(raw: dict) -> HarnessError | None:
    if not raw:                     # {}: no error said
        return None
    text = {name: _get(raw, name, str) for name in ("type", "message", "traceback",
                                                    "missing_module", "qualname")}
    flags = {name: bool(_get(raw, name, bool)) for name in ("memory", "processes", "network")}
    gpu = _get(raw, "gpu", str)
    return HarnessError(**{k: v for k, v in text.items() if v is not None}, **flags,
                        gpu=gpu if gpu in get_args(GpuError) else "")


def _layer(value) -> Layer:
    raw = _dict(value)
    return Layer(name=_get(raw, "name", str, required=True),
                 type=_get(raw, "type", str, required=True),
                 output_shape=_object(raw, "output_shape", _ints, kind=list),
                 weight_shape=_object(raw, "weight_shape", _ints, kind=list),
                 kernel=_object(raw, "kernel", _ints, kind=list))


def _output(value) -> ForwardOutput:
    raw = _dict(value)
    heads = raw.get("heads")
    if isinstance(heads, list) and len(heads) > MAX_HEADS:
        raise Malformed(f"more than {MAX_HEADS} heads")
    return ForwardOutput(batch=_get(raw, "batch", int, required=True),
                         shape=_object(raw, "shape", _ints, kind=list),
                         dtype=_get(raw, "dtype", str) or "",
                         finite=bool(_get(raw, "finite", bool)),
                         note=_get(raw, "note", str) or "", error=_object(raw, "error", _error),
                         heads=_list(raw, "heads", _head), length=_count(raw, "length"))


def _head(value) -> ForwardHead:
    raw = _dict(value)
    shape = _object(raw, "shape", _ints, kind=list)
    if shape is None or len(shape) > MAX_HEAD_DIMS or any(n < 0 for n in shape):
        raise Malformed("a head's shape is missing, negative or has too many dimensions")
    return ForwardHead(name=_get(raw, "name", str, required=True)[:100], shape=shape,
                       dtype=(_get(raw, "dtype", str) or "")[:40],
                       finite=bool(_get(raw, "finite", bool)),
                       log_softmax=bool(_get(raw, "log_softmax", bool)))


def _count(raw: dict, name: str) -> int | None:
    """A non-negative integer field (None when absent)."""
    value = _get(raw, name, int)
    if value is not None and value < 0:
        raise Malformed(f"{name} is negative")
    return value


def _trace_step(value) -> tuple[str, tuple[int, ...]]:
    if not isinstance(value, list) or len(value) != 2:
        raise Malformed("a trace step is [module, shape]")
    return _str(value[0]), _ints(value[1])


def _op(value) -> Op:
    if not isinstance(value, list) or len(value) != 3 or value[0] not in ("module", "function"):
        raise Malformed("an op is [kind, name, inputs]")
    return Op(kind=value[0], name=_str(value[1]), inputs=_ints(value[2]))


# ------------------------------------------------------------------ checking one value

def _is(value, kind: type) -> bool:
    """JSON's types: a bool is not a number here (though it is an int to Python), and a
    float field takes an integer."""
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _get(raw: dict, name: str, kind: type, *, required: bool = False):
    value = raw.get(name)
    if value is None:
        if required:
            raise Malformed(f"{name} is missing")
        return None
    if not _is(value, kind):
        raise Malformed(f"{name} is not a {kind.__name__}")
    if kind is float:               # json.loads reads NaN and Infinity; a result file cannot
        try:                        # hold them (allow_nan=False): a non-finite figure is none
            value = float(value)
        except OverflowError:       # an integer too large for a float
            return None
        return value if math.isfinite(value) else None
    return value


def _literal(raw: dict, name: str, allowed) -> str | None:
    value = raw.get(name)
    if value is not None and value not in get_args(allowed):
        raise Malformed(f"{name} is not one of {get_args(allowed)}")
    return value


def _object(raw: dict, name: str, parse: Callable, *, kind: type = dict):
    value = raw.get(name)
    if value is None:
        return None
    if not _is(value, kind):
        raise Malformed(f"{name} is not a {kind.__name__}")
    return parse(value)


def _list(raw: dict, name: str, parse: Callable[[object], T]) -> tuple[T, ...]:
    value = raw.get(name)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise Malformed(f"{name} is not a list")
    return tuple(parse(item) for item in value)


def _dict(value) -> dict:
    if not isinstance(value, dict):
        raise Malformed("not an object")
    return value


def _str(value) -> str:
    if not isinstance(value, str):
        raise Malformed("not a string")
    return value


def _ints(value) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(_is(v, int) for v in value):
        raise Malformed("not a list of integers")
    return tuple(value)
