"""Sandboxed: retrain each model of one submission (or a reference model) with the canonical
routine (python -m harness.train_models job.json).

The held-out images come in without labels. After every epoch the predicted labels for the
first `eval_subset` of them (all when the job gives none) go to out/epochs-<key>.npy
(epochs x S, int16, no pickle), and the last epoch's to out/final-<key>.npy: the model's figure
is the last point of its curve, on the same images. The grader scores both on its side against
labels the sandbox never sees. The per-epoch history goes into result.json.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np  # noqa: E402
import torch  # noqa: E402
from harness import common  # noqa: E402  (records the original torch functions first)

# torch's own GPU exception classes, taken before any student code runs: the grader retries a
# model alone after an out-of-memory error and regrades MPS neighbours after a fatal CUDA error
# only when the exception is one of these (a student's class of the same name is not)
GPU_ERRORS = tuple((kind, cls) for kind, cls in (
    ("out_of_memory", getattr(torch.cuda, "OutOfMemoryError", None)),
    ("fault", getattr(torch, "AcceleratorError", None))) if isinstance(cls, type))


def gpu_error(exc: BaseException) -> str:
    """"out_of_memory", "fault" or "" for an exception raised while a model was trained."""
    return next((kind for kind, cls in GPU_ERRORS if isinstance(exc, cls)), "")


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
        common.stage(f"building {label}")
        result["stage"] = "build"
        torch.manual_seed(job["config"].get("seed", 0))    # the same initial weights every run
        model = factory(**entry.get("args", {}))
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"{label}(...) returned {type(model).__name__}, not a nn.Module")
        common.stage(f"training {label}")
        result["stage"] = "train"
        config = TrainConfig(**job["config"])
        device = job.get("device", "cpu")
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
        summary = history.to_dict()
        for epoch in summary["epochs"]:
            epoch.pop("eval_predictions", None)
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


def run(job: dict, plan: dict) -> None:
    """Train plan["models"] (with the plan's data, config and device) and finish the job."""
    data = {name: np.load(path, allow_pickle=False)
            for name, path in (plan.get("data") or {}).items()}
    torch.set_num_threads(max(1, job.get("threads", 1)))
    results = [train_one(entry, plan, data) for entry in plan["models"]]
    common.finish(job, results)


def main() -> None:
    job = common.read_job(sys.argv[1])
    common.prepare_paths(job)
    run(job, job)


if __name__ == "__main__":
    main()
