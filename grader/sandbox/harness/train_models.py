"""Sandboxed: retrain each model of one submission (or a reference model) with the canonical
routine (python -m harness.train_models job.json).

The held-out images come in without labels. After every epoch the predicted labels for the
first `eval_subset` of them (all when the job gives none) go to out/epochs-<key>.npy
(epochs x S, int16, no pickle), and the last epoch's to out/final-<key>.npy: the model's figure
is the last point of its curve, on the same images. The grader scores both on its side against
labels the sandbox never sees. The per-epoch history goes into result.json.

A plan with a `task` (localization or sequence; classification plans carry none) trains with
that task's routine through the plan's `interface`: reference/localization.py (the boxes of
the training images from data["train_boxes"]; the held-out boxes predicted after every epoch go
to out/epochs-boxes-<key>.npy, float32 epochs x S x 4, and out/final-boxes-<key>.npy, S x 4,
listed as the entry's `box_files`) or reference/sequence.py (token ids in train_images and
test_images, lengths in train_lengths and test_lengths, word vectors in `vectors` when the
interface takes embeddings).

An entry with `weights` (the student's checkpoint, a path in the submission) is not trained:
the model is built, the checkpoint loaded into it (harness.weights) and its predicted labels
for the same held-out images go to out/weights-<model>.npy (classification only).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np  # noqa: E402
import torch  # noqa: E402
from harness import (
    common,  # noqa: E402  (records the original torch functions first)
    weights,  # noqa: E402
)

# torch's own GPU exception classes, taken before any student code runs: the grader retries a
# model alone after an out-of-memory error and regrades MPS neighbours after a fatal CUDA error
# only when the exception is one of these (a student's class of the same name is not)
GPU_ERRORS = tuple((kind, cls) for kind, cls in (
    ("out_of_memory", getattr(torch.cuda, "OutOfMemoryError", None)),
    ("fault", getattr(torch, "AcceleratorError", None))) if isinstance(cls, type))


def gpu_error(exc: BaseException) -> str:
    """"out_of_memory", "fault" or "" for an exception raised while a model was trained."""
    return next((kind for kind, cls in GPU_ERRORS if isinstance(exc, cls)), "")


def build(factory, entry: dict, job: dict, result: dict) -> torch.nn.Module:
    """factory(**args) from the job's seed (the same initial weights every run), checked to be
    a nn.Module; result's stage says "build" while student code runs."""
    label = entry.get("object") or entry.get("reference")
    common.stage(f"building {label}")
    result["stage"] = "build"
    torch.manual_seed(job["config"].get("seed", 0))
    model = factory(**entry.get("args", {}))
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{label}(...) returned {type(model).__name__}, not a nn.Module")
    return model


def train_one(entry: dict, job: dict, data: dict) -> dict:
    from reference.train import TrainConfig, train

    key = entry["key"]
    label = entry.get("object") or entry.get("reference")
    result: dict = {"key": key, "ok": False, "stage": "import"}
    started = time.perf_counter()
    try:
        common.stage(f"importing {label}")
        factory = (common.reference_factory(entry["reference"]) if entry.get("reference")
                   else common.load_object(entry["module"], entry["object"], {}))
        model = build(factory, entry, job, result)
        common.stage(f"training {label}")
        result["stage"] = "train"
        config = TrainConfig(**job["config"])
        device = job.get("device", "cpu")
        task = job.get("task") or {}
        if task.get("kind", "classification") != "classification":
            history = train_task(model, task, job, data, config, device)
        else:
            test = data["test_images"]
            subset = test[:job.get("eval_subset") or len(test)]
            history = train(model, data["train_images"], data["train_labels"], config,
                            eval_images=subset, device=device)
        preds = [e.eval_predictions for e in history.epochs]
        if preds and all(p is not None for p in preds) and not history.diverged:
            final = preds[-1]
            np.save(os.path.join(common.OUT, f"epochs-{key}.npy"),
                    torch.stack(preds).numpy().astype(np.int16), allow_pickle=False)
            np.save(os.path.join(common.OUT, f"final-{key}.npy"),
                    final.numpy().astype(np.int16), allow_pickle=False)
            result["predictions_files"] = [f"epochs-{key}.npy", f"final-{key}.npy"]
            boxes = [e.eval_boxes for e in history.epochs]
            if all(b is not None for b in boxes):
                np.save(os.path.join(common.OUT, f"epochs-boxes-{key}.npy"),
                        torch.stack(boxes).numpy().astype(np.float32), allow_pickle=False)
                np.save(os.path.join(common.OUT, f"final-boxes-{key}.npy"),
                        boxes[-1].numpy().astype(np.float32), allow_pickle=False)
                result["box_files"] = [f"epochs-boxes-{key}.npy", f"final-boxes-{key}.npy"]
        summary = history.to_dict()
        for epoch in summary["epochs"]:
            epoch.pop("eval_predictions", None)
            epoch.pop("eval_boxes", None)
        result["history"] = summary
        result["ok"] = True
        result["stage"] = "done"
    except BaseException as exc:  # student code may raise anything, SystemExit included
        result["error"] = common.describe_error(exc)
        result["error"]["gpu"] = gpu_error(exc)
    finally:
        result["seconds"] = round(time.perf_counter() - started, 2)
        result["tampering"] = common.tampering()
    return result


def train_task(model: torch.nn.Module, task: dict, job: dict, data: dict, config, device: str):
    """Train with the routine of the plan's task kind (localization or sequence), through the
    plan's interface, predicting the first eval_subset held-out examples after every epoch."""
    from reference.interface import Interface

    kind = task.get("kind")
    if not isinstance(job.get("interface"), dict):
        raise ValueError(f"the training plan of a {kind} task carries no interface")
    interface = Interface.from_job(job["interface"])
    test = data["test_images"]
    count = job.get("eval_subset") or len(test)
    if kind == "localization":
        from reference.localization import train

        return train(model, data["train_images"], data["train_labels"], data["train_boxes"],
                     config, interface=interface, eval_images=test[:count], device=device,
                     box_loss=task.get("box_loss") or "mse",
                     box_weight=float(task.get("box_weight", 1.0)))
    if kind == "sequence":
        from reference.sequence import train

        return train(model, data["train_images"], data["train_lengths"], data["train_labels"],
                     config, interface=interface, vectors=data.get("vectors"),
                     eval_ids=test[:count], eval_lengths=data["test_lengths"][:count],
                     device=device)
    raise ValueError(f"the training plan's task kind is {kind!r}; expected classification, "
                     f"localization or sequence")


def predict_weights(entry: dict, job: dict, data: dict) -> dict:
    """Build the model, load the student's checkpoint into it and predict the held-out
    images (the same ones a retrained model is scored on); nothing is trained."""
    from reference.train import TrainConfig, channel_stats, predict

    key = entry["key"]
    label = entry.get("object")
    result: dict = {"key": key, "ok": False, "stage": "import"}
    started = time.perf_counter()
    try:
        common.stage(f"importing {label}")
        factory = common.load_object(entry["module"], entry["object"], {})
        model = build(factory, entry, job, result)
        common.stage(f"loading the checkpoint {entry['weights']} into {label}")
        result["stage"] = "load"
        loaded = weights.load(model, entry["weights"], weights.namespaces(factory, model))
        if not loaded["loaded"]:
            why = (loaded.get("error") or {}).get("message") or "; ".join(
                loaded["problems"][:3])
            raise RuntimeError(f"the checkpoint {entry['weights']} did not load: {why}")
        common.stage(f"predicting the held-out images with {entry['weights']}")
        result["stage"] = "predict"
        config = TrainConfig(**job["config"])
        mean, std = entry.get("mean") or config.mean, entry.get("std") or config.std
        if mean is None or std is None:     # normalised as the canonical routine does
            mean, std = channel_stats(data["train_images"])
        test = data["test_images"]
        subset = test[:job.get("eval_subset") or len(test)]
        # float32 on contiguous tensors: bf16 on the GPU could change the answers
        preds = predict(model, subset, device=job.get("device", "cpu"),
                        batch_size=config.eval_batch_size, mean=tuple(mean), std=tuple(std),
                        channels_last=False, bf16=False)
        name = f"weights-{key.split(':', 1)[-1]}.npy"
        np.save(os.path.join(common.OUT, name), preds.numpy().astype(np.int16),
                allow_pickle=False)
        result["predictions_files"] = [name]
        result["ok"] = True
        result["stage"] = "done"
    except BaseException as exc:  # student code (and the pickle's) may raise anything
        result["error"] = common.describe_error(exc)
        result["error"]["gpu"] = gpu_error(exc)
    finally:
        result["seconds"] = round(time.perf_counter() - started, 2)
        result["tampering"] = common.tampering()
    return result


def run(job: dict, plan: dict) -> None:
    """Train plan["models"] (with the plan's data, config and device), or predict with the
    student's checkpoint for an entry with `weights`, and finish the job."""
    data = {name: np.load(path, allow_pickle=False)
            for name, path in (plan.get("data") or {}).items()}
    torch.set_num_threads(max(1, job.get("threads", 1)))
    results = [predict_weights(entry, plan, data) if entry.get("weights")
               else train_one(entry, plan, data) for entry in plan["models"]]
    common.finish(job, results)


def main() -> None:
    job = common.read_job(sys.argv[1])
    common.prepare_paths(job)
    run(job, job)


if __name__ == "__main__":
    main()
