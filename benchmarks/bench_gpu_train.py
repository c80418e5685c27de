"""Where a student's training time goes on a GPU: the canonical routine (reference/train.py)
in a fresh process per configuration, as a training sandbox runs it (without the sandbox),
timing `import torch`, CUDA's start and each model of the assignment in the harness's order,
with cuDNN's autotuner on (the routine's default) and off, alternately, in one run.

On the lent H200 (benchmarks/README.md), a process's first SimpleNN took 3.8 to 4.8 s of
training epochs and the BatchNorm SimpleNN with the same convolutions after it 0.42 to 0.44 s;
ResNet-20 took 6.3 to 9.8 s for 126 steps. This separates the training epochs from the rest
(formats probe, predictions) and shows what the autotuner costs, with the held-out accuracy
each way.

    python benchmarks/bench_gpu_train.py                   # CUDA, the ece661-hw2 spec
    python benchmarks/bench_gpu_train.py --rounds 2
    python benchmarks/bench_gpu_train.py --device cpu      # the script itself, anywhere
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(spec: dict) -> None:
    """One fresh process: import torch, start CUDA, train every model; JSON on stdout."""
    started = time.perf_counter()
    import numpy as np
    import torch
    imported = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    import reference
    from reference import train as routine

    device = spec["device"]
    if device == "cuda":
        torch.zeros(1, device="cuda")
        torch.cuda.synchronize()
    cuda_ready = time.perf_counter()
    routine.CUDNN_BENCHMARK = spec["cudnn_benchmark"]
    torch.set_num_threads(spec["threads"])
    data = np.load(spec["data"], allow_pickle=False)
    config = routine.TrainConfig(**spec["config"])
    models = []
    for model_id in spec["models"]:
        torch.manual_seed(config.seed)
        model = reference.build(model_id)
        t0 = time.perf_counter()
        history = routine.train(model, data["train_images"], data["train_labels"], config,
                                eval_images=data["test_images"][:spec["eval_images"]],
                                device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        predicted = history.epochs[-1].eval_predictions.numpy()
        models.append({"id": model_id, "seconds": seconds,
                       "epochs": sum(e.seconds for e in history.epochs),
                       "accuracy": float((predicted == data["test_labels"][:len(predicted)])
                                         .mean())})
    print(json.dumps({"import": imported - started, "cuda": cuda_ready - imported,
                      "models": models, "process": time.perf_counter() - started}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--assignment", default="ece661-hw2")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--rounds", type=int, default=1, help="on/off pairs (alternating)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads per process (a "
                    "GPU slot gets its share of the cores; 16 cores / --per-gpu 8 = 2)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds: at least 1")
    if args.child:
        child(json.loads(args.child))
        return

    sys.path.insert(0, str(ROOT))
    import numpy as np

    from grader.inputs.data import load_dataset
    from grader.grading.retrain import train_config
    from grader.spec import load

    assignment = load(args.assignment)
    config = train_config(assignment, None)
    eval_images = int(config.pop("eval_images") or 0)
    models = [m.reference for m in assignment.models if m.train and m.reference]
    with tempfile.TemporaryDirectory(prefix="bench-gpu-train-") as tmp:
        ds = load_dataset(assignment.dataset, None, cache_dir=Path(tmp) / "data")
        data = Path(tmp) / "data.npz"
        np.savez(data, train_images=ds.train_images, train_labels=ds.train_labels,
                 test_images=ds.test_images, test_labels=np.asarray(ds.test_labels))
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python "
              f"{platform.python_version()}, device {args.device}, {args.threads} threads; "
              f"{args.assignment}: {', '.join(models)}, {config['epochs']} epochs of "
              f"{len(ds.train_labels)} images, batch {config['batch_size']}, predictions on "
              f"{eval_images or len(ds.test_labels)} held-out images per epoch")
        totals: dict[bool, list[float]] = {True: [], False: []}
        for round_ in range(args.rounds):       # on, off, then off, on: warm-up favours neither
            for benchmark in ((True, False) if round_ % 2 == 0 else (False, True)):
                spec = {"device": args.device, "cudnn_benchmark": benchmark, "data": str(data),
                        "config": config, "models": models, "threads": args.threads,
                        "eval_images": eval_images or len(ds.test_labels)}
                run = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                                     capture_output=True, text=True)
                lines = run.stdout.strip().splitlines()
                if run.returncode or not lines:
                    sys.exit(f"the training process failed (exit {run.returncode}):\n"
                             f"{run.stderr[-3000:]}")
                r = json.loads(lines[-1])
                parts = "  ".join(f"{m['id']} {m['seconds']:.2f} s (epochs {m['epochs']:.2f}) "
                                  f"{m['accuracy']:.1%}" for m in r["models"])
                print(f"cudnn.benchmark {'on ' if benchmark else 'off'}: import torch "
                      f"{r['import']:.2f} s, CUDA start {r['cuda']:.2f} s | {parts} | "
                      f"process {r['process']:.2f} s", flush=True)
                totals[benchmark].append(sum(m["seconds"] for m in r["models"]))
        on, off = (statistics.median(totals[b]) for b in (True, False))
        print(f"training time, median of {args.rounds}: autotuner on {on:.2f} s, off "
              f"{off:.2f} s: off takes {off / on:.2f}x the time of on")


if __name__ == "__main__":
    main()
