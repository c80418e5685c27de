"""Retraining in the sandbox and scoring on the trusted side.

The training data (images and labels) and the held-out images (no labels) are .npy files of
the prepared data (grader.inputs.prepared) linked read-only into each sandbox. What comes back,
per-epoch predicted labels for the held-out images (all, or the first `[training]
eval_images`), is scored here against their labels, so the curves and the final figure are on
the same images. The harness's report is parsed once (grader.sandbox.reports). Reference models
train the same way, under each of the spec's reference seeds, once per configuration, and are
cached (on a cluster, trained by one job on a node: grader.run.slurm.submit);
`reference_band` turns their runs into the band the rubric compares students with, and says
when the reference did not clearly beat chance under the budget. Under the spec's [held_out]
public/private split every figure is the private part's, with the public part's accuracy
beside it (Scores.public_accuracy, ReferenceBand.public_accuracies). An entry with `weights`
(the student's own checkpoint) is not trained: its predictions for the same held-out images
come back and are scored here as a grader.grading.weights.WeightsRun. A localization model's
boxes come back as files too and are scored by grader.grading.localization; the plan of a task
other than classification carries the task and the interface (classification's is unchanged).
"""

from __future__ import annotations

import hashlib
import json
import statistics
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grader.errors import InputError
from grader.grading import metrics
from grader.grading.localization import BoxTruth, box_truth, load_npy, with_boxes
from grader.grading.weights import WeightsRun
from grader.inputs.sources import SKIP_DIRS
from grader.results import (
    EpochStats,
    ReferenceBand,
    TrainingResult,
    from_dict,
    write_json_atomic,
)
from grader.sandbox.bwrap import RunOutcome, Sandbox
from grader.sandbox.limits import Limits
from grader.sandbox.reports import (
    HarnessError,
    TrainHistory,
    TrainReport,
    parse_training,
)
from grader.spec import Assignment

if TYPE_CHECKING:
    from grader.inputs.prepared import PreparedData

# "Clearly better than chance": the reference's mean accuracy, less its spread over seeds,
# must close at least this fraction of the gap between chance and 100% (10 balanced classes:
# 10% + 0.1 x 90% = 19%; 200 classes: 10.4%). A 1-epoch SimpleNN at 10.6% or a demo SimpleNN
# at 17% of 10 classes fails it; anything a relative rubric can sensibly divide by passes.
MIN_LIFT = 0.1
CACHE_VERSION = 2       # bump when what a cached reference run holds changes (2: per-epoch
#                         accuracies on the whole held-out split, seeds)


@dataclass(frozen=True)
class References:
    """The reference models under the grading budget."""

    runs: dict[str, TrainingResult]     # per model key, the run under the first reference seed
    #                                     (the students' seed): curves and per-class tables
    bands: dict[str, ReferenceBand]     # per model key with at least one finished run


def train_config(assignment: Assignment, epochs: int | None) -> dict:
    t = assignment.training
    config = {"epochs": epochs or t.epochs, "batch_size": t.batch_size, "lr": t.lr,
              "momentum": t.momentum, "weight_decay": t.weight_decay, "schedule": t.schedule,
              "milestones": list(t.milestones), "gamma": t.gamma, "augment": t.augment,
              "seed": t.seed, "eval_images": getattr(t, "eval_images", 0)}
    held_out = getattr(assignment, "held_out", None)
    if held_out is not None and held_out.split:     # absent without one: keys stay as they were
        config["held_out_split"] = [held_out.public_fraction, held_out.seed]
    if t.optimizer != "sgd":
        config["optimizer"] = t.optimizer
    task = assignment.task
    if task.kind != "classification":       # classification's config (and keys) stay as they were
        config["task"] = {"kind": task.kind, "box_loss": task.box_loss,
                          "box_weight": task.box_weight}
        config["interface"] = assignment.interface.to_job()
        if task.kind == "localization":
            config["iou_threshold"] = task.iou_threshold
    return config


def reference_args(assignment: Assignment) -> dict:
    """The reference models' constructor arguments: the classes, and for a sequence task the
    vocabulary and the embedding size the spec's [dataset] gives (when set)."""
    d = assignment.dataset
    args: dict = {"num_classes": d.num_classes}
    if assignment.task.kind == "sequence":
        args.update({k: v for k, v in (("vocab_size", d.vocab_size),
                                       ("embedding_dim", d.embedding_dim)) if v > 0})
    return args


def scored_labels(data: PreparedData, config: dict) -> np.ndarray:
    """The held-out labels the retrained models are scored against: the first
    `eval_images` of them (0 or absent: all)."""
    n = int(config.get("eval_images") or 0)
    return data.labels[:n] if 0 < n < len(data.labels) else data.labels


def scored_public(data: PreparedData, config: dict) -> np.ndarray | None:
    """Which of the scored held-out images (scored_labels) are public under the spec's
    [held_out] split (the whole held-out set's mask, cut to them); None without a split.
    Raises SpecError when the scored images' public or private part is empty (scored_split)."""
    split = config.get("held_out_split")
    if not split:
        return None
    fraction, seed = split
    return metrics.scored_split(len(data.labels), len(scored_labels(data, config)),
                                float(fraction), int(seed))


def reference_seeds(assignment: Assignment, config: dict) -> list[int]:
    """The seeds the reference trains under: the spec's `[training] reference_seeds` (the
    parser turns a count n into seed, seed + 1, ..., seed + n - 1), else the one training seed;
    the students' seed first when it is among them (that run is the one the report draws)."""
    seeds = list(dict.fromkeys(getattr(assignment.training, "reference_seeds", ()) or ()))
    seed = int(config["seed"])
    if not seeds:
        return [seed]
    return [seed] + [s for s in seeds if s != seed] if seed in seeds else seeds


def run_training(entries: list[dict], data: PreparedData, config: dict, limits: Limits, *,
                 submission: Path | None, sandboxed: bool, gpu: bool, threads: int
                 ) -> tuple[RunOutcome, dict[str, TrainingResult]]:
    """Train the entries (each a reference id, or a student's generated module as "code") in
    a sandboxed process of their own."""
    with Sandbox(limits, sandboxed=sandboxed, gpu=gpu, threads=threads) as box:
        if submission is not None:
            box.add_submission(submission, skip=SKIP_DIRS)
        job_entries = []
        for entry in entries:
            entry = dict(entry)
            if "code" in entry:
                name = "".join(c if c.isalnum() else "_" for c in entry["key"])
                entry["module"] = box.add_job_file(f"train_{name}.py", entry.pop("code"))
            job_entries.append(entry)
        job, labels = _training_job(box, job_entries, data, config)
        outcome = box.run("train_models", job)
        return outcome, _scored(entries, outcome, labels, data.num_classes,
                                scored_public(data, config), _truth(data, config, labels))


def train_in_session(box: Sandbox, entries: list[dict], data: PreparedData, config: dict
                     ) -> tuple[RunOutcome, dict[str, TrainingResult]]:
    """Train the entries (modules the same process probed: "module" paths in the sandbox) in
    the process waiting in box.session (grader.grading.probe.run_probes with a box)."""
    job, labels = _training_job(box, entries, data, config)
    outcome = box.session.finish(job)
    return outcome, _scored(entries, outcome, labels, data.num_classes,
                            scored_public(data, config), _truth(data, config, labels))


def _truth(data: PreparedData, config: dict, labels: np.ndarray) -> BoxTruth | None:
    """The held-out boxes a localization task's models are scored against; None otherwise."""
    if (config.get("task") or {}).get("kind") != "localization":
        return None
    return box_truth(data, labels, float(config.get("iou_threshold", 0.5)),
                     scored_public(data, config))


def _training_job(box: Sandbox, entries: list[dict], data: PreparedData, config: dict
                  ) -> tuple[dict, np.ndarray]:
    """The train_models job for the entries (the data linked into the box), and the held-out
    labels its predictions are scored against."""
    labels = scored_labels(data, config)
    plan = {k: config[k] for k in ("task", "interface") if k in config}   # non-classification
    config = {k: v for k, v in config.items()            # not TrainConfig fields
              if k not in ("eval_images", "held_out_split", "task", "interface",
                           "iou_threshold")}
    paths = {name: box.add_data_file(f"{name}.npy", path) for name, path in data.files.items()}
    return {"models": entries, "data": paths, "config": config, "eval_subset": len(labels),
            "device": "cuda" if box.gpu else "cpu", **plan}, labels


def _scored(entries: list[dict], outcome: RunOutcome, labels: np.ndarray,
            num_classes: int, public: np.ndarray | None = None, truth: BoxTruth | None = None
            ) -> dict[str, TrainingResult | WeightsRun]:
    """Per entry key, a TrainingResult (with its boxes scored against `truth` when given),
    or a WeightsRun for an entry with `weights`."""
    reports = parse_training(outcome.result)   # an entry that does not fit counts as none
    scored: dict[str, TrainingResult | WeightsRun] = {}
    for entry in entries:
        key, report = entry["key"], reports.get(entry["key"])
        if entry.get("weights"):
            scored[key] = score_weights(entry["model"], report, outcome, labels, num_classes,
                                        public)
            continue
        scored[key] = score_training(key, report, outcome, labels, num_classes, public)
        if truth is not None:
            scored[key] = with_boxes(scored[key], report, outcome.out_dir, truth)
    return scored


def score_weights(model: str, report: TrainReport | None, outcome: RunOutcome,
                  labels: np.ndarray, num_classes: int,
                  public: np.ndarray | None = None) -> WeightsRun:
    """The student's weights' predictions for the scored held-out images (from the
    harness's untrusted entry and .npy file) and their accuracy against the labels (under a
    public/private split, `public`, the private part's, with the public part's beside it)."""
    if report is None:
        return WeightsRun(model, error=outcome.reason or "the sandboxed process ended before "
                                                         "the checkpoint was run")
    if report.tampering:
        return WeightsRun(model, error="the model code replaced torch functions ("
                          + ", ".join(sorted(set(report.tampering))) + "), so its predictions "
                          "cannot be trusted")
    if not report.ok:
        err = report.error or HarnessError()
        where = {"import": "importing", "build": "building", "load": "loading the checkpoint",
                 "predict": "predicting"}.get(report.stage or "", "running")
        return WeightsRun(model, error=f"{where} failed: {err.type}: {err.message[:500]}",
                          gpu_error=err.gpu)
    files = report.predictions_files
    preds = _load_predictions(outcome.out_dir, files[-1] if files else None, (len(labels),),
                              num_classes)
    if preds is None:
        return WeightsRun(model, error="no valid predictions for the held-out images came back")
    if public is None:
        return WeightsRun(model, predictions=preds,
                          accuracy=metrics.accuracy(preds, labels, num_classes))
    scores = metrics.split_scores(preds, labels, num_classes, public)
    return WeightsRun(model, predictions=preds, accuracy=scores.accuracy,
                      public_accuracy=scores.public_accuracy)


def score_training(key: str, report: TrainReport | None, outcome: RunOutcome,
                   labels: np.ndarray, num_classes: int,
                   public: np.ndarray | None = None) -> TrainingResult:
    """One model's TrainingResult from the harness's (untrusted) entry and prediction files:
    every epoch's predictions and the final ones are scored against the same held-out
    labels (scored_labels), so the last point of the curves is the model's figure. Under a
    public/private split (`public`, scored_public) that is the private part's figure, and
    the scores carry the public part's accuracy."""
    if report is None:
        why = outcome.reason or "the sandboxed process ended before training this model"
        return TrainingResult(model=key, ok=False, error=why)
    tampering = sorted(set(report.tampering))
    if not report.ok:
        err = report.error or HarnessError()
        where = {"import": "importing", "build": "building", "train": "training"}.get(
            report.stage or "", "running")
        return TrainingResult(model=key, ok=False, seconds=report.seconds or 0.0,
                              error=f"{where} failed: {err.type}: {err.message[:500]}",
                              tampering=tampering, gpu_error=err.gpu)
    files = report.predictions_files
    history = report.history or TrainHistory()
    per_epoch = _load_predictions(outcome.out_dir, files[0] if files else None,
                                  (len(history.epochs), len(labels)), num_classes)
    final = _load_predictions(outcome.out_dir, files[-1] if files else None, (len(labels),),
                              num_classes)
    epochs = []
    for i, e in enumerate(history.epochs):
        val = 0.0
        if per_epoch is not None:
            val = metrics.accuracy(per_epoch[i], labels, num_classes) if public is None \
                else metrics.accuracy(per_epoch[i][~public], labels[~public], num_classes)
        epochs.append(EpochStats(epoch=e.epoch if e.epoch is not None else i + 1,
                                 train_loss=_finite(e.train_loss),
                                 train_accuracy=_finite(e.train_accuracy),
                                 val_accuracy=val, lr=_finite(e.lr)))
    failed = dict(model=key, ok=False, history=epochs, tampering=tampering)
    if tampering:
        return TrainingResult(**failed, error=(
            "the model code replaced torch functions while it was retrained ("
            + ", ".join(tampering) + "), so its training and held-out predictions cannot be "
            "trusted; it earns no accuracy points"))
    if history.diverged:
        return TrainingResult(**failed, error="training diverged: the loss became NaN or "
                                              "infinite")
    if per_epoch is None or final is None:
        return TrainingResult(**failed, error="training produced no valid predictions for the "
                                              "held-out images")
    scores = metrics.scores(final, labels, num_classes) if public is None \
        else metrics.split_scores(final, labels, num_classes, public)
    return TrainingResult(model=key, ok=True, history=epochs, scores=scores,
                          seconds=_finite(history.seconds),
                          images_per_second=_finite(history.images_per_second),
                          device=history.device)


def _finite(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return value if np.isfinite(value) else 0.0


def _load_predictions(out_dir: Path, name: str | None, shape: tuple[int, ...],
                      num_classes: int) -> np.ndarray | None:
    """Predicted labels of the given shape; anything malformed (shape, range, a pickle) is
    refused."""
    preds = load_npy(out_dir, name)
    if preds is None or preds.shape != shape or not np.issubdtype(preds.dtype, np.integer):
        return None
    preds = preds.astype(np.int64)
    if preds.size and (preds.min() < 0 or preds.max() >= num_classes):
        return None
    return preds


def reference_results(assignment: Assignment, data: PreparedData, config: dict, limits: Limits,
                      *, cache_dir: Path, sandboxed: bool, gpu: bool, threads: int,
                      parallel: int = 1, cached_only: bool = False) -> References | None:
    """Train each model's reference under every reference seed, once per configuration; each
    run is cached as JSON by its inputs (on the CPU threads included: the summation order
    depends on them, and the reference trains with the students' per-sandbox thread count so an
    identical model scores identically; on a GPU they decide nothing, as in the job key). One
    sandboxed process per seed trains all models of that seed; up to `parallel` of them run at
    once (the grading slots: each has `threads` threads). With cached_only nothing is trained:
    None unless every run is in the cache (a cluster then trains them on a node)."""
    scored_public(data, config)     # a split that leaves a part empty stops here, untrained
    seeds = reference_seeds(assignment, config)
    # a model graded from the student's weights alone has a reference too: relative items
    models = [m for m in assignment.models if (m.train or m.weights) and m.reference]
    runs: dict[tuple[str, int], TrainingResult] = {}
    missing: list[int] = []
    args = reference_args(assignment)       # the classes alone: in the key as they always were
    built = args["num_classes"] if len(args) == 1 else args

    def one_seed(seed: int) -> None:
        seeded = {**config, "seed": seed}
        todo = []
        for model in models:
            key = hashlib.sha256(json.dumps([CACHE_VERSION, model.reference, built, seeded,
                                             data.fingerprint, gpu,
                                             None if gpu else threads],
                                            sort_keys=True).encode()).hexdigest()[:20]
            path = cache_dir / f"reference-{model.reference}-{key}.json"
            if path.is_file():
                try:
                    runs[model.key, seed] = from_dict(TrainingResult,
                                                      json.loads(path.read_text()))
                    continue
                except (ValueError, InputError):    # a corrupt cache entry is retrained
                    pass
            todo.append((model, path))
        if not todo:
            return
        if cached_only:
            missing.append(seed)
            return
        entries = [{"key": m.key, "reference": m.reference, "args": args} for m, _ in todo]
        _, trained = run_training(entries, data, seeded, limits, submission=None,
                                  sandboxed=sandboxed, gpu=gpu, threads=threads)
        for model, path in todo:
            result = replace(trained[model.key], seed=seed)
            runs[model.key, seed] = result
            if result.ok:
                write_json_atomic(path, asdict(result))

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(seeds)))) as pool:
        list(pool.map(one_seed, seeds))         # each seed is its own sandboxed process
    if missing:
        return None
    scored, public = scored_labels(data, config), scored_public(data, config)
    chance = chance_accuracy(scored if public is None else scored[~public], data.num_classes)
    bands = {}
    for model in models:
        band = reference_band(model.key, model.title, [runs[model.key, s] for s in seeds],
                              chance=chance, epochs=int(config["epochs"]))
        if band is not None:
            bands[model.key] = band
    return References(runs={m.key: runs[m.key, seeds[0]] for m in models}, bands=bands)


def chance_accuracy(labels: np.ndarray, num_classes: int) -> float:
    """What always guessing the most common held-out class scores (1 / classes when the split
    is balanced): the floor a trained model must clearly beat."""
    labels = np.asarray(labels, dtype=np.int64)
    if not labels.size:
        return 1.0 / max(1, num_classes)
    return float(np.bincount(labels, minlength=num_classes).max() / labels.size)


def reference_band(key: str, title: str, runs: list[TrainingResult], *, chance: float,
                   epochs: int) -> ReferenceBand | None:
    """The reference's accuracy over its finished runs (mean and sample standard deviation),
    its per-epoch band, and whether it clearly beat chance (MIN_LIFT); None when no run
    finished (the rubric then names the missing reference)."""
    done = [r for r in runs if r.ok and r.scores]
    if not done:
        return None
    accuracies = [r.scores.accuracy for r in done]
    mean = statistics.fmean(accuracies)
    spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    threshold = chance + MIN_LIFT * (1.0 - chance)
    learned = mean - spread >= threshold
    n_epochs = min(len(r.history) for r in done)
    low, high = [], []
    for i in range(n_epochs):
        values = [r.history[i].val_accuracy for r in done]
        m = statistics.fmean(values)
        s = statistics.stdev(values) if len(values) > 1 else 0.0
        low.append(max(0.0, m - s))
        high.append(min(1.0, m + s))
    over = f" ± {100 * spread:.1f}% over {len(done)} seeds" if len(done) > 1 else ""
    note = "" if learned else (
        f"The reference {title} reached only {100 * mean:.1f}%{over} after {epochs} "
        f"epoch{'s' if epochs != 1 else ''}, with chance at {100 * chance:.1f}%: under this "
        f"training budget it does not clearly beat chance (it needs {100 * threshold:.1f}%), "
        "so its accuracy says nothing about the students' models. Accuracy points relative to "
        "it are not awarded and are left out of the total; raise [training] epochs (or "
        "--epochs) and grade again.")
    public = [r.scores.public_accuracy for r in done]
    boxes = [r.scores.boxes for r in done if r.scores.boxes is not None]
    boxes = boxes if len(boxes) == len(done) else []
    return ReferenceBand(model=key, seeds=[r.seed if r.seed is not None else i
                                           for i, r in enumerate(done)],
                         accuracies=accuracies, mean=mean, spread=spread, chance=chance,
                         threshold=threshold, learned=learned, epoch_low=low, epoch_high=high,
                         note=note,
                         public_accuracies=public if None not in public else [],
                         ious=[b.mean_iou for b in boxes], hits=[b.hits for b in boxes])
