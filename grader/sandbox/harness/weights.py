"""Sandboxed: the student's own checkpoint for one model, loaded into the built model.

Used by inspect_models (`grader check`: load, then export the effective conv and linear
weights) and train_models (`grader evaluate`: load, then predict the held-out images). The
trusted side resolved the spec's glob and passes the file's path relative to the submission;
it never opens the file itself. Pickled checkpoints are opened only here.

How a file is read:

- `torch.load(path, map_location="cpu", weights_only=True)`; what weights_only refuses (a
  whole pickled model, `torch.save(model)`) is opened again with weights_only=False, here
  only, with the student's own classes taken from the module the model was built from (a
  notebook pickles them as `__main__.ResNet20`); format "pickled model".
- A plain state_dict (a dict of tensors) is format "state_dict"; a dict holding one (or a
  model) under `state_dict`, `model_state_dict`, `model`, `net` or `state` is "checkpoint".
- Keys that all start with `module.` (nn.DataParallel), `_orig_mod.` (torch.compile) or one
  other common prefix that the model's keys lack lose it; torch.nn.utils.prune's
  `<name>_orig` and `<name>_mask` pairs become `<name>` = orig * mask. Each is a note.
- The keys are compared with model.state_dict(): keys missing from the checkpoint, keys the
  model lacks, and wrong shapes, each named with both shapes, are problems. Only a checkpoint
  without problems is loaded (strict); BatchNorm's `num_batches_tracked`, which older
  checkpoints lack, is not required.

After loading, the effective weight of every convolution and linear module (isinstance of
torch's _ConvNd or Linear, subclasses included) goes to out/ as float32 in an .npz; the
report names each member's module and type. The grader computes every figure (zeros,
distinct values, bits) from that file, not from anything computed here.
"""

from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import torch
from harness import common

# taken when the harness starts, before any student code is imported
TORCH_LOAD = common.ORIGINAL["torch.load"]
STATE_DICT = common.ORIGINAL["torch.nn.Module.state_dict"]
LOAD_STATE_DICT = torch.nn.Module.load_state_dict
SAVEZ = np.savez
CONV = torch.nn.modules.conv._ConvNd
LINEAR = torch.nn.Linear
NESTED = ("state_dict", "model_state_dict", "model", "net", "state")
PREFIXES = {"module.": "saved from nn.DataParallel or DistributedDataParallel",
            "_orig_mod.": "saved from torch.compile"}
MAX_PROBLEMS = 20               # problems listed one by one; the rest are counted
TRUSTED_PACKAGES = ("torch", "collections", "builtins", "numpy", "_codecs", "copyreg",
                    "__builtin__", "functools", "typing")


class Unreadable(Exception):
    """The file holds no state_dict the grader can use (the message says what it holds)."""


def load(model, path: str, namespaces=()) -> dict:
    """Read the checkpoint at path and load it into model. The report: file, format, loaded,
    problems, notes, and error (what stopped the reading)."""
    report = {"file": path, "format": "", "loaded": False, "problems": [], "notes": []}
    try:
        state, report["format"], notes = read(path, namespaces)
    except Exception as exc:            # a corrupt file, a pickle whose classes are gone
        report["error"] = common.describe_error(exc)
        return report
    expected = STATE_DICT(model)
    state, adapted = adapt(state, expected)
    report["notes"] = notes + adapted
    report["problems"] = problems(state, expected)
    if report["problems"]:
        return report
    try:
        LOAD_STATE_DICT(model, state, strict=True)
    except Exception as exc:            # e.g. a quantized tensor into a float parameter
        report["problems"] = [f"load_state_dict failed: {str(exc)[:500]}"]
        return report
    report["loaded"] = True
    return report


def read(path: str, namespaces=()) -> tuple[dict, str, list[str]]:
    """(state_dict, format, notes) of the file."""
    try:
        obj = TORCH_LOAD(path, map_location="cpu", weights_only=True)
        pickled = False
    except Exception as first:
        if not refused(first):
            raise Unreadable(f"torch.load cannot read it ({type(first).__name__}: "
                             f"{str(first)[:300]}): not a file written by torch.save") from None
        try:
            obj = TORCH_LOAD(path, map_location="cpu", weights_only=False,
                             pickle_module=student_pickle(namespaces))
        except Exception as second:
            raise Unreadable(f"not a state_dict (weights_only=True refused it), and opened as a "
                             f"pickled model it failed: {type(second).__name__}: "
                             f"{str(second)[:500]}") from None
        pickled = True
    state, fmt, notes = state_of(obj)
    if pickled and fmt == "pickled model":
        notes.insert(0, "not a plain state_dict: opened as a pickle (torch.save of the "
                        "model object) inside the sandbox, and its state_dict used")
    elif pickled:
        notes.insert(0, "it holds objects torch.load(weights_only=True) refuses (numpy values, "
                        "a model object): opened as a pickle inside the sandbox")
    return state, fmt, notes


def refused(exc: Exception) -> bool:
    """Whether torch.load failed because weights_only=True refused an object (a pickled
    module), not because the file is not a checkpoint at all."""
    return isinstance(exc, pickle.UnpicklingError) and "Weights only load failed" in str(exc)


def student_pickle(namespaces) -> types.ModuleType:
    """A pickle module whose Unpickler finds the student's classes in the modules the model
    was built from (a notebook pickles `__main__.ResNet20`; the harness's __main__ is not the
    notebook), before importing anything the pickle names."""
    spaces = [ns for ns in namespaces if ns is not None]

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if module.split(".")[0] not in TRUSTED_PACKAGES:
                for ns in spaces:
                    found = ns
                    for part in name.split("."):
                        found = getattr(found, part, None)
                    if found is not None:
                        return found
            return super().find_class(module, name)

    shim = types.ModuleType("student_pickle")
    shim.__dict__.update({k: getattr(pickle, k) for k in dir(pickle) if not k.startswith("__")})
    shim.Unpickler = Unpickler
    shim.load = lambda fh, **kw: Unpickler(fh, **kw).load()
    return shim


def state_of(obj) -> tuple[dict, str, list[str]]:
    """The state_dict in what the file holds, its format and how it was found."""
    if isinstance(obj, torch.nn.Module):
        return dict(STATE_DICT(obj)), "pickled model", []
    if isinstance(obj, dict):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj), "state_dict", []
        for key in NESTED:
            value = obj.get(key)
            others = [str(k) for k in obj if k != key][:6]
            rest = f" (the other entries: {', '.join(others)})" if others else ""
            if isinstance(value, torch.nn.Module):
                return dict(STATE_DICT(value)), "checkpoint", [
                    f"a checkpoint dict: the state_dict of the model under '{key}'{rest}"]
            if isinstance(value, dict) and value and all(
                    isinstance(v, torch.Tensor) for v in value.values()):
                return dict(value), "checkpoint", [
                    f"a checkpoint dict: the state_dict under '{key}'{rest}"]
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors and 2 * len(tensors) >= len(obj):    # model.state_dict() plus an epoch
            others = ", ".join(str(k)[:60] for k in obj if k not in tensors)
            return tensors, "state_dict", [f"entries that are not tensors were left out: "
                                           f"{others}"]
        keys = ", ".join(repr(k)[:60] for k in list(obj)[:10])
        raise Unreadable(f"a dict with keys {keys}, and no state_dict in it (a dict of "
                         f"tensors, or one under {', '.join(repr(k) for k in NESTED)})")
    raise Unreadable(f"a {type(obj).__name__}, not a state_dict (a dict of tensors) or a "
                     "model")


def adapt(state: dict, expected: dict) -> tuple[dict, list[str]]:
    """The state with the prefixes the model lacks removed and prune's pairs combined, and
    a note for each change."""
    notes = []
    keys = list(state)
    prefixes = dict(PREFIXES)
    first = {k.split(".", 1)[0] for k in keys}
    if len(first) == 1 and all("." in k for k in keys):
        prefixes.setdefault(f"{next(iter(first))}.", "the model was saved inside a wrapper")
    for prefix, why in prefixes.items():
        if not keys or not all(k.startswith(prefix) for k in keys):
            continue
        stripped = {k[len(prefix):]: v for k, v in state.items()}
        if len(stripped.keys() & expected.keys()) > len(state.keys() & expected.keys()):
            state, keys = stripped, list(stripped)
            notes.append(f"keys start with '{prefix}' ({why}): the prefix was removed")
    pruned = []
    for key in list(state):
        if key.endswith("_orig") and key not in expected:
            base = key[:-len("_orig")]
            mask = f"{base}_mask"
            if mask in state and base not in state and mask not in expected:
                orig, m = state.pop(key), state.pop(mask)
                state[base] = orig * m if orig.shape == m.shape else orig
                pruned.append(base)
    if pruned:
        notes.append(f"torch.nn.utils.prune's pairs were combined ({base_name(pruned)} = "
                     f"weight_orig * weight_mask, {len(pruned)} tensor"
                     f"{'s' if len(pruned) != 1 else ''})")
    return state, notes


def base_name(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else f"{keys[0]}, ..."


def problems(state: dict, expected: dict) -> list[str]:
    """Wrong shapes, then keys missing from the checkpoint, then keys the model lacks, each
    with its shape; past MAX_PROBLEMS the rest are counted."""
    wrong = [f"{k}: checkpoint {list(v.shape)}, model {list(expected[k].shape)}"
             for k, v in state.items()
             if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    missing = [f"missing from the checkpoint: {k} {list(v.shape)}"
               for k, v in expected.items()
               if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [f"not in the model: {k} {list(v.shape)}" for k, v in state.items()
                  if k not in expected]
    found = wrong + missing + unexpected
    if len(found) > MAX_PROBLEMS:
        rest = found[MAX_PROBLEMS - 1:]
        counts = [f"{n} {what}" for n, what in ((sum(p in wrong for p in rest), "wrong shapes"),
                                                (sum(p in missing for p in rest), "missing"),
                                                (sum(p in unexpected for p in rest),
                                                 "not in the model")) if n]
        found = found[:MAX_PROBLEMS - 1] + [f"... and {len(rest)} more ({', '.join(counts)})"]
    return found


def export(model, out_dir: str, name: str) -> dict:
    """The effective weight of every conv and linear module, float32, into out_dir/name
    (.npz of stored .npy members w0, w1, ...); the layers in module order."""
    arrays, layers = {}, []
    for module_name, module in common.named_modules(model):
        if not isinstance(module, (CONV, LINEAR)):
            continue
        weight = getattr(module, "weight", None)    # prune's hook: orig * mask, as forward
        if not isinstance(weight, torch.Tensor):
            continue
        member = f"w{len(layers)}"
        arrays[member] = weight.detach().to("cpu", torch.float32).contiguous().numpy()
        layers.append({"name": module_name or "(the model itself)",
                       "type": type(module).__name__[:100], "member": member})
    SAVEZ(os.path.join(out_dir, name), **arrays)
    return {"export": name, "layers": layers}


def namespaces(factory, model) -> list:
    """The modules the student's classes live in: the model's and the factory's."""
    names = {getattr(type(model), "__module__", None), getattr(factory, "__module__", None)}
    return [sys.modules.get(n) for n in names if n]
