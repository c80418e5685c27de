"""Retraining in the sandbox and scoring on the trusted side.

The training data (images and labels) and the held-out images (no labels) are written once as
.npy files and linked read-only into each sandbox. What comes back, per-epoch predicted labels,
is scored here against the held-out labels. Reference models train the same way, once per
configuration, and are cached.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from grader import metrics
from grader.errors import InputError
from grader.limits import Limits
from grader.results import EpochStats, Scores, TrainingResult, from_dict, write_json_atomic
from grader.sandbox import RunOutcome, Sandbox
from grader.probe import ERROR, Need, fits
from grader.spec import Assignment

# The harness's entry for one trained model; like probe.REPORT, untrusted data: an entry that
# does not fit counts as no report (the model gets "the process ended before training it").
TRAIN_REPORT = {
    "key": Need(str), "ok": bool, "stage": str, "error": ERROR, "seconds": float,
    "predictions_files": [str], "tampering": [str],
    "history": {"epochs": [{"epoch": int, "train_loss": float, "train_accuracy": float,
                            "lr": float, "seconds": float, "images_per_second": float}],
                "diverged": bool, "seconds": float, "images_per_second": float}}

EVAL_SUBSET = 2000      # per-epoch validation curves use the first 2,000 held-out images; the
#                         final scores use all of them (keeps a 10,000-image split cheap on CPU)


class TrainingData:
    """The dataset as .npy files for the sandbox; held-out labels stay in this process."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset
        self._dir = tempfile.TemporaryDirectory(prefix="grader-data-")
        root = Path(self._dir.name)
        self.files = {}
        for name, array in (("train_images", dataset.train_images),
                            ("train_labels", dataset.train_labels),
                            ("test_images", dataset.test_images)):
            np.save(root / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
            self.files[name] = root / f"{name}.npy"
        self.labels = np.asarray(dataset.test_labels, dtype=np.int64)
        self.num_classes = len(dataset.class_names)
        digest = hashlib.sha256()
        for name in ("train_images", "train_labels", "test_images"):
            digest.update(self.files[name].read_bytes()[:1 << 20])
            digest.update(str(self.files[name].stat().st_size).encode())
        self.fingerprint = digest.hexdigest()[:16]

    def close(self) -> None:
        self._dir.cleanup()


def train_config(assignment: Assignment, epochs: int | None) -> dict:
    t = assignment.training
    return {"epochs": epochs or t.epochs, "batch_size": t.batch_size, "lr": t.lr,
            "momentum": t.momentum, "weight_decay": t.weight_decay, "schedule": t.schedule,
            "milestones": list(t.milestones), "gamma": t.gamma, "augment": t.augment,
            "seed": t.seed}


def run_training(entries: list[dict], data: TrainingData, config: dict, limits: Limits, *,
                 submission: Path | None, sandboxed: bool, gpu: bool, threads: int
                 ) -> tuple[RunOutcome, dict[str, TrainingResult]]:
    with Sandbox(limits, sandboxed=sandboxed, gpu=gpu, threads=threads) as box:
        if submission is not None:
            box.add_submission(submission)
        paths = {name: box.add_data_file(f"{name}.npy", path) for name, path in data.files.items()}
        job_entries = []
        for entry in entries:
            entry = dict(entry)
            if "code" in entry:
                entry["module"] = box.add_job_file(f"train_{entry['key'].replace('-', '_')}.py",
                                                   entry.pop("code"))
            job_entries.append(entry)
        outcome = box.run("train_models", {"models": job_entries, "data": paths,
                                           "config": config, "eval_subset": EVAL_SUBSET,
                                           "device": "cuda" if gpu else "cpu"})
        models = (outcome.result or {}).get("models")
        reports = {m["key"]: m for m in (models if isinstance(models, list) else [])
                   if fits(m, TRAIN_REPORT)}
        results = {}
        for entry in entries:
            report = reports.get(entry["key"])
            results[entry["key"]] = score_training(entry["key"], report, outcome, data)
        return outcome, results


def score_training(key: str, report: dict | None, outcome: RunOutcome,
                   data: TrainingData) -> TrainingResult:
    if report is None:
        why = outcome.reason or "the sandboxed process ended before training this model"
        return TrainingResult(model=key, ok=False, error=why)
    if not report.get("ok"):
        err = report.get("error") or {}
        where = {"import": "importing", "build": "building", "train": "training"}.get(
            report.get("stage"), "running")
        return TrainingResult(model=key, ok=False, seconds=float(report.get("seconds") or 0),
                              error=f"{where} failed: {err.get('type', 'Error')}: "
                                    f"{str(err.get('message', ''))[:500]}")
    files = report.get("predictions_files") or [None, None]
    history = report.get("history") or {}
    n_epochs = len(history.get("epochs") or [])
    subset = data.labels[:EVAL_SUBSET]
    per_epoch = _load_predictions(outcome.out_dir, files[0], (n_epochs, len(subset)),
                                  data.num_classes)
    final = _load_predictions(outcome.out_dir, files[-1], (len(data.labels),), data.num_classes)
    epochs = []
    for i, e in enumerate(history.get("epochs") or []):
        val = metrics.accuracy(per_epoch[i], subset, data.num_classes) \
            if per_epoch is not None else 0.0
        epochs.append(EpochStats(epoch=int(e.get("epoch", i + 1)),
                                 train_loss=_finite(e.get("train_loss")),
                                 train_accuracy=_finite(e.get("train_accuracy")),
                                 val_accuracy=val, lr=_finite(e.get("lr"))))
    if history.get("diverged"):
        return TrainingResult(model=key, ok=False, history=epochs,
                              error="training diverged: the loss became NaN or infinite")
    if per_epoch is None or final is None:
        return TrainingResult(model=key, ok=False, history=epochs,
                              error="training produced no valid predictions for the held-out "
                                    "images")
    scores = metrics.scores(final, data.labels, data.num_classes)
    return TrainingResult(model=key, ok=True, history=epochs, scores=scores,
                          seconds=_finite(history.get("seconds")),
                          images_per_second=_finite(history.get("images_per_second")))


def _finite(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return value if np.isfinite(value) else 0.0


def _load_predictions(out_dir: Path, name, shape: tuple[int, ...],
                      num_classes: int) -> np.ndarray | None:
    """Predicted labels of the given shape; anything malformed (shape, range, a pickle) is
    refused."""
    if not isinstance(name, str):
        return None
    path = out_dir / Path(name).name
    try:
        if path.is_symlink() or path.stat().st_size > 64 * 1024 * 1024:
            return None
        preds = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if preds.shape != shape or not np.issubdtype(preds.dtype, np.integer):
        return None
    preds = preds.astype(np.int64)
    if preds.size and (preds.min() < 0 or preds.max() >= num_classes):
        return None
    return preds


def reference_results(assignment: Assignment, data: TrainingData, config: dict, limits: Limits,
                      *, cache_dir: Path, sandboxed: bool, gpu: bool, threads: int
                      ) -> dict[str, TrainingResult]:
    """Train each model's reference once per configuration; cached as JSON by its inputs."""
    results, todo = {}, []
    for model in assignment.models:
        if not (model.train and model.reference):
            continue
        key = hashlib.sha256(json.dumps([model.reference, assignment.dataset.num_classes,
                                         config, data.fingerprint, gpu],
                                        sort_keys=True).encode()).hexdigest()[:20]
        path = cache_dir / f"reference-{model.reference}-{key}.json"
        if path.is_file():
            try:
                results[model.key] = from_dict(TrainingResult, json.loads(path.read_text()))
                continue
            except (ValueError, InputError):    # a corrupt cache entry is retrained
                pass
        todo.append((model, path))
    if todo:
        entries = [{"key": m.key, "reference": m.reference,
                    "args": {"num_classes": assignment.dataset.num_classes}} for m, _ in todo]
        _, trained = run_training(entries, data, config, limits, submission=None,
                                  sandboxed=sandboxed, gpu=gpu, threads=threads)
        for model, path in todo:
            result = trained[model.key]
            results[model.key] = result
            if result.ok:
                write_json_atomic(path, asdict(result))
    return results


def scores_or_none(result: TrainingResult | None) -> Scores | None:
    return result.scores if result and result.ok else None
