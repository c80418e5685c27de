"""The student's own checkpoint for a model (the spec's `weights` glob), on the trusted side.

`find` resolves the glob in the hand-in and stats the file (never opens it): a file over
`[weights] max_mb` is refused here, unopened. The harness (grader/sandbox/harness/weights.py)
loads the file into the built model inside the sandbox and exports the effective conv and
linear weights as an .npz; `figures` reads that file (stored members only, no pickle, a size
cap, no links followed) and computes every figure here: zeros per layer and overall, distinct
values and the bits they fit in, nonzero weights. `check` is the `<model>.weights` check.
In `grader evaluate`, `with_runs` adds the held-out accuracy of the weights and how often
their predictions agree with predictions.csv.

Several files matching the glob: the one nearest the top folder is taken, then the last in
natural order ("_0.7" after "_0.5", "epoch10" after "epoch9"); a note names the others.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from grader.inputs.sources import SKIP_DIRS
from grader.results import CheckReport, CheckResult, LayerWeights, Sparsity, WeightsReport
from grader.sandbox.bwrap import open_plain
from grader.sandbox.reports import WeightsLoad
from grader.spec import ModelSpec, WeightsSpec

MB = 1024 * 1024
MAX_LISTED = 12                 # files named in "no file matches"
REFUSED = "refused without being opened"    # the end of a too-large file's error


@dataclass(frozen=True)
class Found:
    """What the spec's glob found in one hand-in, before anything is opened."""

    glob: str
    file: str | None = None         # the checkpoint to load (relative, '/'-separated); None:
    #                                 nothing to load, and `refused` says why
    bytes: int = 0
    refused: WeightsReport | None = None   # missing or too large: the model's report as is
    notes: tuple[str, ...] = ()     # which of several matches was taken


@dataclass(frozen=True)
class WeightsRun:
    """The student's weights run on the held-out images in `grader evaluate` (no training)."""

    model: str                      # model key
    predictions: np.ndarray | None = None   # predicted label per scored held-out image
    accuracy: float | None = None   # against the held-out labels, scored here (under a
    #                                 [held_out] split: the private part's)
    public_accuracy: float | None = None   # the public part's, under a split
    error: str | None = None        # why there are no predictions
    gpu_error: str = ""             # "out_of_memory" | "fault": it failed with torch's own
    #                                 exception class for it (TrainingResult.gpu_error)


def stored_zip(fh: BinaryIO) -> bool:
    """Whether fh is a zip with every member stored uncompressed (np.savez writes them so):
    a deflated member of 1 MB could inflate to 1 GB here."""
    try:
        with zipfile.ZipFile(fh) as zf:
            return all(i.compress_type == zipfile.ZIP_STORED and i.compress_size == i.file_size
                       for i in zf.infolist())
    except (OSError, ValueError, zipfile.BadZipFile):
        return False


def _natural(text: str) -> list:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", text) if part]


def _files(root: Path) -> list[tuple[str, Path]]:
    """Every file of the hand-in as (relative path, path), links into it included, links out
    of it left out (as the sandbox's copy leaves them out), caches skipped."""
    found = []
    top = root.resolve()
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(s for s in subfolders if s not in SKIP_DIRS)
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_symlink():
                target = path.resolve()
                if top not in target.parents:
                    continue
            if path.is_file():
                found.append((path.relative_to(root).as_posix(), path))
    return found


def find(root: Path, spec: ModelSpec, settings: WeightsSpec) -> Found:
    """The checkpoint spec.weights names in the hand-in at root. A glob with '/' is matched
    against the path in the submission, else against the file's name in any folder; without
    regard to case."""
    glob = spec.weights or ""
    files = _files(root)
    pattern = glob.lower()
    matches = [(rel, path) for rel, path in files
               if fnmatch.fnmatchcase((rel if "/" in glob else rel.rsplit("/", 1)[-1]).lower(),
                                      pattern)]
    if not matches:
        names = [rel for rel, _ in files]
        listed = ", ".join(names[:MAX_LISTED]) + (
            f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")
        return Found(glob, refused=WeightsReport(
            file="", loaded=False,
            error=f"no file matching '{glob}' in the submission (files handed in: "
                  f"{listed or 'none'})"))
    matches.sort(key=lambda m: (-m[0].count("/"), _natural(m[0])))
    rel, path = matches[-1]
    notes = ()
    if len(matches) > 1:
        others = ", ".join(r for r, _ in matches[:-1][:MAX_LISTED])
        notes = (f"{len(matches)} files match '{glob}': {rel} was graded (the one nearest "
                 f"the top folder, then the last in natural order); not graded: {others}",)
    size = path.stat().st_size
    if size > settings.max_mb * MB:
        return Found(glob, file=None, bytes=size, notes=notes, refused=WeightsReport(
            file=rel, loaded=False, bytes=size, notes=list(notes),
            error=f"{rel} is {size / MB:,.1f} MB, over the assignment's limit of "
                  f"{settings.max_mb:,} MB ([weights] max_mb): {REFUSED}"))
    return Found(glob, file=rel, bytes=size, notes=notes)


def figures(out_dir: Path, found: Found, load: WeightsLoad | None, built: bool,
            settings: WeightsSpec) -> WeightsReport:
    """The model's WeightsReport from what the harness reported on loading found.file and
    the weights it exported, every figure computed here from the .npz."""
    if found.refused is not None:
        return found.refused
    base = WeightsReport(file=found.file or "", loaded=False, bytes=found.bytes,
                         notes=list(found.notes))
    if load is None or load.file != found.file:
        why = ("the model did not build, so the checkpoint was not loaded" if not built else
               "no report on the checkpoint came back from the sandbox (the process ended "
               "while loading it, or student code overwrote the report)")
        return dataclasses.replace(base, error=why)
    base = dataclasses.replace(base, format=load.format, problems=list(load.problems),
                               notes=base.notes + list(load.notes))
    if load.error is not None:
        if load.error.type == "Deadline":
            text = f"loading it did not finish in time ({load.error.message})"
        elif load.error.type == "Unreadable":       # the harness's own sentence
            text = load.error.message
        else:
            text = f"{load.error.type}: {load.error.message}"
        return dataclasses.replace(base, error=f"{found.file} could not be read: {text[:800]}")
    if not load.loaded:
        if not built:
            return dataclasses.replace(base, error="the model did not build, so the "
                                                   "checkpoint was not loaded")
        return base
    if load.export_refused:
        return dataclasses.replace(base, loaded=True, error=f"the weights the sandbox exported "
                                   f"were not measured: {load.export_refused} (student code "
                                   "may have rewritten the report)")
    layers = _exported(out_dir, load, settings)
    if layers is None:
        return dataclasses.replace(base, loaded=True, error="the weights the sandbox exported "
                                   "could not be read safely (refused), so they were not "
                                   "measured")
    return dataclasses.replace(base, loaded=True, **summary(layers))


def summary(layers: list[tuple[LayerWeights, str]]) -> dict:
    """sparsity, bits and nonzero over (layer, kind) pairs, kind "conv" or "linear"."""
    def zeros_over(kind: str | None) -> float | None:
        chosen = [(w.params, w.sparsity) for w, k in layers if kind is None or k == kind]
        total = sum(n for n, _ in chosen)
        return None if not total else sum(n * s for n, s in chosen) / total

    total = sum(w.params for w, _ in layers)
    zeros = sum(round(w.params * w.sparsity) for w, _ in layers)
    return dict(layers=[w for w, _ in layers],
                sparsity=Sparsity(overall=zeros_over(None) or 0.0, conv=zeros_over("conv"),
                                  linear=zeros_over("linear")) if total else None,
                bits=max((w.bits for w, _ in layers), default=None),
                nonzero=total - zeros)


def _exported(out_dir: Path, load: WeightsLoad, settings: WeightsSpec
              ) -> list[tuple[LayerWeights, str]] | None:
    """Each exported layer's figures and kind ("conv": 3 or more dimensions, "linear": 2),
    from the .npz; None when anything about the file is odd. Each member is read at most once
    and the arrays read together fit in the file (a member listed twice, or zip entries that
    share their bytes, are refused), so a forged report costs at most one pass over it."""
    if load.export is None:
        return None
    # float32 of at most a checkpoint's size in int8 (4x), plus the zip's own bytes
    fh = open_plain(out_dir / Path(load.export).name, 4 * settings.max_mb * MB + 16 * MB)
    if fh is None:
        return None
    try:
        with fh:
            size = os.fstat(fh.fileno()).st_size
            if not stored_zip(fh):
                return None
            fh.seek(0)
            found, read, members = [], 0, set()
            with zipfile.ZipFile(fh) as zf:
                for layer in load.layers:
                    if layer.member in members:
                        return None
                    members.add(layer.member)
                    weights, kind = _layer(zf, layer)
                    read += 4 * weights.params
                    if read > size:
                        return None
                    found.append((weights, kind))
            return found
    except Exception:  # a malformed or malicious file is simply not trusted
        return None


def _layer(zf: zipfile.ZipFile, layer) -> tuple[LayerWeights, str]:
    info = zf.getinfo(f"{layer.member}.npy")
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        read = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}[version]
        shape, _, dtype = read(fh)
        n = math.prod(shape)
        if dtype != np.dtype("<f4") or len(shape) < 2 or n * 4 > info.file_size:
            raise ValueError(f"{layer.member}: not a float32 weight")
        values = np.frombuffer(fh.read(n * 4), dtype="<f4")
    if values.size != n:
        raise ValueError(f"{layer.member}: truncated")
    zeros = int(np.count_nonzero(values == 0))
    distinct = int(np.unique(values).size)
    bits = math.ceil(math.log2(distinct)) if distinct > 1 else 0
    return (LayerWeights(name=layer.name, type=layer.type, params=n,
                         sparsity=zeros / n if n else 0.0, distinct_values=distinct, bits=bits),
            "linear" if len(shape) == 2 else "conv")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def describe(w: WeightsReport) -> str:
    """One line: "resnet20_pruned.pt loaded, 70.0% zeros (conv 70.1%, linear 65.0%), 9 bits",
    with the held-out figures once evaluate has them."""
    if not w.loaded:
        why = w.error or (f"{len(w.problems)} problem{'s' if len(w.problems) != 1 else ''} "
                          f"({w.problems[0]})" if w.problems else "not loaded")
        return f"{w.file} not loaded: {why}" if w.file else why
    text = f"{w.file} loaded"
    if w.sparsity is not None:
        parts = [f"{k} {_pct(v)}" for k, v in (("conv", w.sparsity.conv),
                                              ("linear", w.sparsity.linear)) if v is not None]
        text += f", {_pct(w.sparsity.overall)} zeros" + (f" ({', '.join(parts)})"
                                                         if parts else "")
    if w.bits is not None:
        text += f", {w.bits} bits"
    if w.accuracy is not None:
        text += f", {_pct(w.accuracy)} held-out accuracy"
    if w.agreement is not None:
        text += f", agrees with predictions.csv on {_pct(w.agreement)} of {w.compared:,} images"
    if w.error:
        text += f" ({w.error})"
    return text


def check(spec: ModelSpec, w: WeightsReport | None, *, call: str = "") -> CheckResult:
    """`<model>.weights`: the checkpoint was found, read and loaded into the built model."""
    def result(passed: bool, message: str, hint: str = "") -> CheckResult:
        return CheckResult(id=f"{spec.key}.weights", passed=passed, message=message,
                           hint="" if passed else hint, model=spec.key)

    save = "torch.save(model.state_dict(), PATH)"
    if w is None:
        return result(False, f"not checked: {spec.title} was not found or did not build, so "
                             "its checkpoint could not be loaded", "Fix the failures above first.")
    notes = "; ".join(w.notes)
    if w.loaded and not w.error:
        return result(True, describe(w) + (f" ({w.format})" if w.format else "")
                      + (f"; {notes}" if notes else ""))
    if w.loaded:
        return result(False, describe(w), "Do not write to the grader's output folder.")
    if not w.file:
        return result(False, w.error or "no checkpoint", f"Hand in the checkpoint of your "
                      f"{spec.title} as a file whose name matches '{spec.weights}', saved with "
                      f"{save} after training.")
    if w.error and w.error.endswith(REFUSED):
        return result(False, w.error, f"Save only the model's state_dict ({save}), not the "
                      "optimizer or a whole training state.")
    if w.error:
        return result(False, w.error + (f"; {notes}" if notes else ""),
                      f"Save the weights with {save} and check that torch.load(PATH, "
                      "weights_only=True) reads them back in a fresh Python session.")
    listed = "; ".join(w.problems)
    built = f" the grader builds ({call})" if call else " the grader builds from your code"
    if any(": checkpoint [" in p for p in w.problems):
        hint = (f"The checkpoint was saved from a different architecture than the one{built}: "
                f"hand in the state_dict of the model your code defines, after training it "
                f"({save}).")
    else:
        hint = (f"The keys of the checkpoint do not match the model{built}: save "
                f"{save} of that same model (not of a wrapper or a part of it).")
    return result(False, f"{w.file} does not fit {spec.title}: {listed}"
                  + (f"; {notes}" if notes else ""), hint)


def with_runs(report: CheckReport, runs: dict[str, WeightsRun], csv_labels: list[int] | None,
              held_out: int, settings: WeightsSpec) -> CheckReport:
    """The check report with each model's weights scored on the held-out images (accuracy)
    and compared with predictions.csv (agreement over the images the weights predicted)."""
    models = []
    for m in report.models:
        run = runs.get(m.key)
        if m.weights is None or run is None:
            models.append(m)
            continue
        w = m.weights
        if run.error or run.predictions is None:
            w = dataclasses.replace(w, error=f"its held-out predictions failed: "
                                             f"{run.error or 'none came back'}",
                                    gpu_error=run.gpu_error)
        else:
            w = dataclasses.replace(w, accuracy=run.accuracy,
                                    public_accuracy=run.public_accuracy)
            w = _agreement(w, run.predictions, csv_labels, held_out, settings)
        models.append(dataclasses.replace(m, weights=w))
    return dataclasses.replace(report, models=models)


def _agreement(w: WeightsReport, predictions: np.ndarray, csv_labels: list[int] | None,
               held_out: int, settings: WeightsSpec) -> WeightsReport:
    if csv_labels is None or len(csv_labels) < len(predictions) or not len(predictions):
        return w
    n = len(predictions)
    agreement = float(np.mean(np.asarray(csv_labels[:n], dtype=np.int64) == predictions))
    notes = list(w.notes)
    if n < held_out:
        notes.append(f"compared with predictions.csv on the first {n:,} of the {held_out:,} "
                     "held-out images ([training] eval_images)")
    if agreement < settings.agreement:
        notes.append(f"your predictions.csv does not match the predictions of the weights you "
                     f"handed in: they agree on {_pct(agreement)} of the {n:,} held-out images "
                     f"compared (expected at least {_pct(settings.agreement)})")
    return dataclasses.replace(w, agreement=agreement, compared=n, notes=notes)
