"""Sandboxed: build each model of one submission and probe it (python -m harness.inspect_models).

For every model in the job: import the generated module, build it with the spec's arguments,
run forward passes on random input for several batch sizes, record each leaf module's output
shape in execution order, count FLOPs (harness.dataflow.FlopCounter, FlopCounterMode's rules),
and export the trainable parameters' shapes as an .npz of .npy headers (no data) so the grader
recounts them without torch or pickle. An entry with `weights` (the student's checkpoint, a
path in the submission) then has it loaded (harness.weights), after every entry is probed, and
its conv and linear weights exported.

A job with "interface" (the spec's [interface], reference/interface.py) builds the declared
inputs instead of one image batch (token ids and lengths, embeddings and a hidden state from
init_hidden()) and reports every declared output ("heads") per forward pass; a stepped
interface (no batch symbol: one sequence per call) is probed at batch 1 with two sequence
lengths instead of several batch sizes. Without it the probe is exactly classification's.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import time
import zipfile

import numpy as np  # noqa: E402
import torch  # noqa: E402
from harness import (
    common,  # noqa: E402  (records the original torch functions first)
    dataflow,  # noqa: E402
    weights,  # noqa: E402
)

from reference.interface import Interface, InterfaceError, is_log_softmax  # noqa: E402

# taken before any student code is imported
ZIPFILE = zipfile.ZipFile
HEADERS = (np.lib.format.write_array_header_1_0, np.lib.format.write_array_header_2_0)
PARAMETERS = common.ORIGINAL["torch.nn.Module.parameters"]
LENGTH = 12                 # the sequence length T of a declared interface's probe
STEPPED_LENGTHS = (5, 12)   # a stepped interface (batch 1): two lengths instead of batch sizes


def probe(entry: dict, job: dict, done: list[dict], kept: dict | None = None) -> dict:
    """Build and probe one model. A student model gets job["entry_seconds"] for all of it;
    after each stage what is known is written out (common.write_partial), so a run the
    sandbox stops still tells which stage each model reached. The built model and its
    factory are left in `kept` (its checkpoint is loaded into it later)."""
    key = entry["key"]
    result: dict = {"key": key, "stage": "import", "ok": False}
    label = entry.get("label") or entry.get("object") or entry.get("reference")
    limit = None if entry.get("reference") else job.get("entry_seconds")
    if limit:
        result["seconds_limit"] = float(limit)

    def reached(stage: str, text: str) -> None:
        result["stage"] = stage
        common.stage(f"{text} {label}")
        common.write_partial(job, done + [result])

    reached("import", "importing")
    started = time.perf_counter()
    try:
        with common.deadline(limit):
            _probe(entry, job, result, reached, started, {} if kept is None else kept)
    except BaseException as exc:  # student code may raise anything, SystemExit included
        result["error"] = common.describe_error(exc)
        if isinstance(exc, common.Deadline):
            result["error"]["type"] = "Deadline"
    finally:
        result["tampering"] = common.tampering()
    return result


def _probe(entry: dict, job: dict, result: dict, reached, started: float, kept: dict) -> None:
    if entry.get("reference"):
        factory = common.reference_factory(entry["reference"])
    else:
        factory = common.load_object(entry["module"], entry["object"], {})
    reached("build", "building")
    model = factory(**entry.get("args", {}))
    kept.update(model=model, factory=factory)
    result["build_seconds"] = round(time.perf_counter() - started, 3)
    if not isinstance(model, torch.nn.Module):
        result["error"] = {"type": "TypeError", "message":
                           f"{entry.get('label') or entry.get('object')} returned "
                           f"{type(model).__name__}, not a torch.nn.Module", "traceback": ""}
        return
    # every parameter tensor, trainable or not: what len(list(net.parameters())) counts
    result["param_tensors"] = len(list(PARAMETERS(model)))
    model.eval()
    declared = Interface.from_job(job["interface"]) if job.get("interface") else None
    reached("layers", "running forward passes of")
    result.update(layer_table(model, job.get("input_shape"), declared))
    reached("forward", "running forward passes of")
    if declared is None:
        result["outputs"] = forward_shapes(model, job["input_shape"], job["batch_sizes"])
    else:
        result["outputs"] = forward_heads(model, declared, job["batch_sizes"])
    reached("flops", "counting FLOPs of")
    result["flops"] = count_flops(model, job.get("input_shape"), declared)
    result["stage"] = "export"
    path = os.path.join(common.OUT, f"params-{result['key']}.npz")
    export_shapes(path, [(name, tuple(p.shape)) for name, p in common.named_parameters(model)
                         if p.requires_grad])
    result["param_file"] = os.path.basename(path)
    result["stage"] = "done"
    result["ok"] = True


def export_shapes(path: str, shapes: list[tuple[str, tuple[int, ...]]]) -> None:
    """An .npz as np.savez writes it (one stored `<name>.npy` member per parameter), but each
    member only the .npy header: the trusted side reads the shapes from the headers
    (grader.grading.probe.param_shapes) without torch, pickle or array data, and a 77M-parameter
    model writes kilobytes, not 310 MB past the sandbox's file-size limit."""
    with ZIPFILE(path, "w", zipfile.ZIP_STORED) as zf:
        for name, shape in shapes:
            header = {"descr": "<f4", "fortran_order": False,
                      "shape": tuple(int(n) for n in shape)}
            buffer = io.BytesIO()
            try:
                HEADERS[0](buffer, header)
            except ValueError:              # a header over 64 KiB: version 2.0's
                buffer = io.BytesIO()
                HEADERS[1](buffer, header)
            zf.writestr(f"{name}.npy", buffer.getvalue())


def layer_table(model, input_shape, declared: Interface | None = None) -> dict:
    """Leaf modules (name, type, weight and kernel shape, output shape for one image), the
    order they run in, the feature-map trace, and `ops`: the modules and torch functions the
    forward pass runs, each with the ops that fed it (harness.dataflow), so the grader can
    judge the order of operations (F.relu between a conv and its BatchNorm, say).
    A leaf that never runs but whose weight a layer function is called on (FP_Conv's inner
    nn.Conv2d, called as F.conv2d(x, quantized(self.conv.weight)); the rules are
    harness.dataflow's) takes that call's place in the order and trace and its output shape.
    With a declared interface the pass gets its inputs (batch 1, T = LENGTH), and a leaf
    that returns a tuple (nn.GRU's and nn.LSTM's (out, h)) shows its first tensor's shape."""
    shape_of = _first_tensor if declared is not None else _tensor
    rows, order, trace = {}, [], []
    modules = list(common.named_modules(model))
    leaves = [(name, module) for name, module in modules
              if next(module.children(), None) is None]
    leaf_names = {id(module): name for name, module in leaves}
    parents = [(module, [leaf_names[id(child)] for child in module.children()
                         if id(child) in leaf_names])
               for name, module in modules if next(module.children(), None) is not None]
    for name, module in leaves:
        weight = getattr(module, "weight", None)
        rows[name] = {"name": name, "type": type(module).__name__, "output_shape": None,
                      "weight_shape": list(weight.shape) if isinstance(weight, torch.Tensor)
                      else None,
                      "kernel": list(getattr(module, "kernel_size", []) or [])
                      if isinstance(getattr(module, "kernel_size", None), tuple) else None}

    def hook(mod, inputs, output, name):
        order.append(name)
        output = shape_of(output)
        if output is not None and len(trace) < 10000:
            trace.append([name, list(output.shape)])
        if rows[name]["output_shape"] is None and output is not None:
            rows[name]["output_shape"] = list(output.shape)

    def called(name, output):           # a layer function called on the leaf's weight
        order.append(_Stand(name))
        if isinstance(output, torch.Tensor) and len(trace) < 10000:
            trace.append([_Stand(name), list(output.shape)])

    def run(recorder):
        # before the hooks: an init_hidden() that runs a module is not part of the table
        inputs = ([torch.randn(1, *input_shape)] if declared is None
                  else declared.example(model, 1, LENGTH))
        handles = [common.register_forward_hook(module, lambda m, i, o, name=name:
                                                hook(m, i, o, name))
                   for name, module in leaves]
        if recorder is not None:
            recorder.on_call = called
            handles += recorder.attach(leaves, common.register_forward_pre_hook,
                                       common.register_forward_hook, parents)
        try:
            with torch.no_grad():
                if recorder is None:
                    model(*inputs)
                else:
                    with recorder:
                        model(*inputs)
        finally:
            for h in handles:
                h.remove()

    error, ops = None, None
    recorder = dataflow.Recorder()
    try:
        run(recorder)
        ops = recorder.ops
        _stand_in(recorder.resolve(), order, trace, rows)
    except common.Deadline:         # the model's time is up (probe's deadline): stop here
        raise
    except BaseException as exc:
        error = common.describe_error(exc)
        ops = recorder.ops           # as far as it got: the layers before the error
        _stand_in(recorder.resolve(), order, trace, rows)
        if not isinstance(exc, (KeyboardInterrupt, SystemExit, MemoryError)):
            order.clear()            # in case recording itself broke it: run once without
            trace.clear()
            for row in rows.values():
                row["output_shape"] = None
            try:
                run(None)
                error, ops = None, None
            except BaseException as plain:
                error = common.describe_error(plain)
    return {"layers": list(rows.values()), "order": order, "trace": trace,
            "ops": ops, "ops_truncated": recorder.truncated, "layers_error": error}


def _tensor(value) -> torch.Tensor | None:
    return value if isinstance(value, torch.Tensor) else None


def _first_tensor(value, depth: int = 0) -> torch.Tensor | None:
    """The first tensor in a module's output: itself, or the first of a tuple or list (an
    RNN's (out, h), an LSTM's (out, (h, c)), a PackedSequence's data), a few levels deep."""
    if isinstance(value, torch.Tensor):
        return value
    if depth < 3 and isinstance(value, (tuple, list)):
        for item in value:
            found = _first_tensor(item, depth + 1)
            if found is not None:
                return found
    return None


class _Stand(str):
    """An order or trace entry for a layer function call that may stand for a leaf module
    (kept only if that module never runs itself: `_stand_in`)."""


def _stand_in(owners: set, order: list, trace: list, rows: dict) -> None:
    """Keeps the stand-in entries of the leaves in `owners` (they never ran; their weight's
    calls did), as plain names with the first call's output shape, and drops the others."""
    order[:] = [str(name) for name in order if not isinstance(name, _Stand) or name in owners]
    trace[:] = [[str(name), shape] for name, shape in trace
                if not isinstance(name, _Stand) or name in owners]
    for name, shape in trace:
        if name in owners and rows[name]["output_shape"] is None:
            rows[name]["output_shape"] = shape


def forward_shapes(model, input_shape, batch_sizes) -> list[dict]:
    outputs = []
    with torch.no_grad():
        for b in batch_sizes:
            entry = {"batch": b}
            try:
                out = model(torch.randn(b, *input_shape))
                if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
                    entry["note"] = f"returned a {type(out).__name__}; the first item was used"
                    out = out[0]
                if not isinstance(out, torch.Tensor):
                    entry["error"] = {"type": "TypeError", "traceback": "",
                                      "message": f"forward returned {type(out).__name__}, "
                                                 "not a tensor"}
                else:
                    entry["shape"] = list(out.shape)
                    entry["dtype"] = str(out.dtype).replace("torch.", "")
                    entry["finite"] = bool(torch.isfinite(out.float()).all()) \
                        if out.is_floating_point() else True
            except common.Deadline:
                raise
            except BaseException as exc:
                entry["error"] = common.describe_error(exc)
            outputs.append(entry)
    return outputs


def forward_heads(model, declared: Interface, batch_sizes) -> list[dict]:
    """forward_shapes for a declared interface: per run (a batch size at T = LENGTH, or a
    stepped interface's batch 1 at each of STEPPED_LENGTHS) every declared output as a head
    (name, shape, dtype, finite, log_softmax), `shape`/`dtype`/`finite` the first head's.
    What does not fit the declaration, and any exception (forward(x) given (x, h): "forward()
    takes 2 positional arguments but 3 were given"), is the run's error."""
    runs = ([(1, n) for n in STEPPED_LENGTHS] if declared.stepped
            else [(b, LENGTH) for b in batch_sizes])
    outputs = []
    with torch.no_grad():
        for batch, length in runs:
            entry: dict = {"batch": batch, "length": length}
            try:
                returned = declared.call(model, declared.example(model, batch, length))
                heads = [_head(spec, returned[spec.name]) for spec in declared.outputs
                         if spec.name in returned]
                entry["heads"] = heads
                if heads:
                    entry.update({k: heads[0][k] for k in ("shape", "dtype", "finite")})
            except common.Deadline:
                raise
            except BaseException as exc:
                entry["error"] = common.describe_error(exc)
            outputs.append(entry)
    return outputs


def _head(spec, value) -> dict:
    """One declared output as returned; a hidden output may be a tuple (an LSTM's (h, c)):
    its first tensor is described. Anything else that is not a tensor is an InterfaceError."""
    tensor = _first_tensor(value) if spec.role == "hidden" else _tensor(value)
    if tensor is None:
        raise InterfaceError(f"forward's output '{spec.name}' (declared "
                             f"{_declared(spec.shape)}) is {type(value).__name__}, "
                             "not a tensor")
    return {"name": spec.name, "shape": list(tensor.shape),
            "dtype": str(tensor.dtype).replace("torch.", ""),
            "finite": bool(torch.isfinite(tensor.float()).all())
            if tensor.is_floating_point() else True,
            "log_softmax": spec.role == "label" and is_log_softmax(tensor)}


def _declared(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]" if shape else "any shape"


def count_flops(model, input_shape, declared: Interface | None = None) -> int | None:
    """FLOPs of one forward pass of one example (a declared interface: batch 1, T = LENGTH)."""
    try:
        counter = dataflow.FlopCounter()
        inputs = ([torch.randn(1, *input_shape)] if declared is None
                  else declared.example(model, 1, LENGTH))
        with torch.no_grad(), counter:
            model(*inputs)
        return counter.total
    except common.Deadline:
        raise
    except BaseException:
        return None


def load_weights(entry: dict, job: dict, result: dict, kept: dict, done: list[dict]) -> None:
    """Load the entry's checkpoint into its probed model and export the conv and linear
    weights (result["weights"]); a failure is the checkpoint's, never the probe's (the
    build stays ok). Run after every entry is probed, so a hostile or endless pickle cannot
    take another model's probe with it; what is known is written out first."""
    label = entry.get("label") or entry.get("object")
    common.write_partial(job, done)
    common.stage(f"loading the checkpoint {entry['weights']} into {label}")
    found: dict = {"file": entry["weights"], "loaded": False}
    try:
        with common.deadline(job.get("entry_seconds")):
            found = weights.load(kept["model"], entry["weights"],
                                 weights.namespaces(kept["factory"], kept["model"]))
            if found["loaded"]:
                found.update(weights.export(kept["model"], common.OUT,
                                            f"weights-{result['key']}.npz"))
    except BaseException as exc:    # the pickle's own code may raise anything
        found["error"] = common.describe_error(exc)
        if isinstance(exc, common.Deadline):
            found["error"]["type"] = "Deadline"
    finally:
        result["tampering"] = sorted(set(result.get("tampering", [])) | set(common.tampering()))
    result["weights"] = found


def probe_all(job: dict) -> list[dict]:
    torch.manual_seed(job.get("seed", 0))
    torch.set_num_threads(max(1, job.get("probe_threads") or job.get("threads", 1)))
    results: list[dict] = []
    loads = []
    for entry in job["models"]:
        kept: dict = {}
        results.append(probe(entry, job, results, kept))
        if entry.get("weights") and results[-1]["ok"]:
            loads.append((entry, results[-1], kept))
        elif entry.get("weights"):
            results[-1]["weights"] = {"file": entry["weights"], "loaded": False}
    for entry, result, kept in loads:
        load_weights(entry, job, result, kept, results)
    return results


def probe_then_train(job: dict) -> None:
    """`grader evaluate` on the CPU: one sandboxed process per student. A forked child probes
    every candidate (student code runs there), writes the report and exits; this process,
    which has imported torch but never student code, waits for the grader's plan (the chosen
    candidates) and trains them as a fresh process would: nothing the probed code did (state,
    threads, monkeypatching, memory, cached modules) reaches training, and one `import torch`
    serves both. Fork before any thread exists: torch has run no parallel work here yet."""
    child = os.fork()
    if child == 0:
        code = 1
        try:
            if common.PLAN_IN is not None:      # student code never reads the plan channel
                os.close(common.PLAN_IN)
            common.report(job, job["then"], probe_all(job))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    if job.get("sandboxed"):
        common.end_others()                     # what the probed code left running
    if not os.path.exists(os.path.join(common.OUT, job["then"])):
        # the probing ended without its report: end the same way, so the grader's verdict
        # (killed by signal 9, a limit, exit(0) from student code) is the one it earned
        if os.WIFSIGNALED(status):
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
            os.kill(os.getpid(), os.WTERMSIG(status))
        os._exit(os.waitstatus_to_exitcode(status))
    from harness import train_models

    train_models.run(job, common.plan() or {"models": []})


def main() -> None:
    job = common.read_job(sys.argv[1])
    common.prepare_paths(job)
    if job.get("then"):
        probe_then_train(job)
    common.finish(job, probe_all(job))


if __name__ == "__main__":
    main()
