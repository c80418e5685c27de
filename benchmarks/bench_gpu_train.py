"""Where a student's training time goes on a GPU, and what each speed switch of the canonical
routine is worth: reference/train.py in a fresh process per configuration, as a training
sandbox runs it (without the sandbox), timing `import torch`, CUDA's start and each model of
the assignment in the harness's order, each epoch apart, with the held-out accuracy.

The configurations: every switch on (TrainConfig's defaults: the training set resident on the
device, channels_last, bf16 autocast, cuDNN's autotuner), then each switch in --switches off
alone, in rotating order over --rounds (warm-up and drift favour none). Under --seeds N every
model trains under seeds 0..N-1 in each process, for accuracy parity both ways. Each switch is
kept only where its figures show a gain at equal accuracy (issue 25).

On the lent H200 (benchmarks/README.md), a process's first SimpleNN took 3.8 to 4.8 s of
training epochs and the BatchNorm SimpleNN with the same convolutions after it 0.42 to 0.44 s;
the first epoch against the later ones here shows that warm-up directly.

    python benchmarks/bench_gpu_train.py                          # CUDA, the spec's budget
    python benchmarks/bench_gpu_train.py --budget real --epochs 2 --switches cudnn_benchmark
    python benchmarks/bench_gpu_train.py --budget real --seeds 3 --switches bf16,channels_last
    python benchmarks/bench_gpu_train.py --device cpu --switches resident   # the script itself
"""

from __future__ import annotations

import argparse
import dataclasses
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
SWITCHES = ("resident", "channels_last", "bf16", "cudnn_benchmark")   # TrainConfig's


def child(spec: dict) -> None:
    """One fresh process: import torch, start CUDA, train every model under every seed; JSON
    on stdout."""
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
    torch.set_num_threads(spec["threads"])
    data = np.load(spec["data"], allow_pickle=False)
    labels = data["test_labels"][:spec["eval_images"]]
    models = []
    known = {f.name for f in dataclasses.fields(routine.TrainConfig)}   # not the grader's own
    for seed in range(spec["seeds"]):                                   # keys (held_out_split)
        config = routine.TrainConfig(**{**{k: v for k, v in spec["config"].items()
                                              if k in known}, "seed": seed})
        for model_id in spec["models"]:
            torch.manual_seed(seed)
            model = reference.build(model_id)
            t0 = time.perf_counter()
            history = routine.train(model, data["train_images"], data["train_labels"], config,
                                    eval_images=data["test_images"][:spec["eval_images"]],
                                    device=device)
            if device == "cuda":
                torch.cuda.synchronize()
            predicted = history.final_predictions.numpy()
            models.append({"id": model_id, "seed": seed, "seconds": time.perf_counter() - t0,
                           "epoch_seconds": [e.seconds for e in history.epochs],
                           "accuracy": float((predicted == labels[:len(predicted)]).mean()),
                           "formats": [history.channels_last, history.bf16]})
    print(json.dumps({"import": imported - started, "cuda": cuda_ready - imported,
                      "models": models, "process": time.perf_counter() - started}))


def configurations(switches: list[str]) -> list[tuple[str, dict]]:
    """("all on", {}), then ("<switch> off", {switch: False}) for each."""
    return [("all on", {})] + [(f"{s} off", {s: False}) for s in switches]


def warmup(models: list[dict]) -> dict[str, float]:
    """Per model, its first run's first epoch minus the median of its later epochs."""
    out = {}
    for m in models:
        if m["id"] not in out and len(m["epoch_seconds"]) > 1:
            out[m["id"]] = m["epoch_seconds"][0] - statistics.median(m["epoch_seconds"][1:])
    return out


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.1%} ± {sd:.1%}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--assignment", default="ece661-hw2")
    ap.add_argument("--budget", default="spec", help="grader.run.options.BUDGETS: spec or real")
    ap.add_argument("--epochs", type=int, default=None, help="default: the budget's")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--switches", default=",".join(SWITCHES),
                    help=f"each one off against all on (of {', '.join(SWITCHES)}; 'none': "
                    "all on only)")
    ap.add_argument("--rounds", type=int, default=1, help="rounds over the configurations, "
                    "in rotating order")
    ap.add_argument("--seeds", type=int, default=1, help="seeds per model per process")
    ap.add_argument("--models", default=None, help="model keys (default: every trained one)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads per process (a "
                    "GPU slot gets its share of the cores; 16 cores / --per-gpu 8 = 2)")
    ap.add_argument("--cache", type=Path, default=None, help="cache folder for the data "
                    "(default: a temporary one)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    switches = [] if args.switches == "none" else args.switches.split(",")
    if args.rounds < 1 or args.seeds < 1 or not set(switches) <= set(SWITCHES):
        ap.error(f"--rounds and --seeds: at least 1; --switches: of {', '.join(SWITCHES)}")

    sys.path.insert(0, str(ROOT))
    import numpy as np

    from grader.grading.retrain import train_config
    from grader.inputs.data import load_dataset
    from grader.run.options import BUDGETS
    from grader.spec import load

    assignment = BUDGETS[args.budget].apply(load(args.assignment))
    config = train_config(assignment, args.epochs)
    eval_images = int(config.pop("eval_images") or 0)
    keys = args.models.split(",") if args.models else None
    models = [m.reference for m in assignment.models if m.train and m.reference
              and (keys is None or m.key in keys)]
    with tempfile.TemporaryDirectory(prefix="bench-gpu-train-") as tmp:
        cache = args.cache or Path(tmp)
        ds = load_dataset(assignment.dataset, None, cache_dir=cache / "data")
        data = Path(tmp) / "data.npz"
        np.savez(data, train_images=ds.train_images, train_labels=ds.train_labels,
                 test_images=ds.test_images, test_labels=np.asarray(ds.test_labels))
        n_eval = eval_images or len(ds.test_labels)
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python "
              f"{platform.python_version()}, device {args.device}, {args.threads} threads; "
              f"{args.assignment} budget {args.budget}: {', '.join(models)}, "
              f"{config['epochs']} epochs of {len(ds.train_labels):,} images, batch "
              f"{config['batch_size']}, {args.seeds} seed(s), predictions on {n_eval:,} "
              "held-out images per epoch", flush=True)
        configs = configurations(switches)
        runs: dict[str, list[dict]] = {name: [] for name, _ in configs}
        for round_ in range(args.rounds):
            shift = round_ % len(configs)
            for name, off in configs[shift:] + configs[:shift]:
                spec = {"device": args.device, "data": str(data), "config": {**config, **off},
                        "models": models, "threads": args.threads, "seeds": args.seeds,
                        "eval_images": n_eval}
                run = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                                     capture_output=True, text=True)
                lines = run.stdout.strip().splitlines()
                if run.returncode or not lines:
                    sys.exit(f"the training process failed (exit {run.returncode}):\n"
                             f"{run.stderr[-3000:]}")
                r = json.loads(lines[-1])
                runs[name].append(r)
                parts = "  ".join(
                    f"{m['id']}/{m['seed']} {m['seconds']:.2f} s (epochs "
                    f"{'+'.join(f'{s:.2f}' for s in m['epoch_seconds'])}) {m['accuracy']:.1%}"
                    for m in r["models"])
                print(f"{name:<20} import torch {r['import']:.2f} s, CUDA start "
                      f"{r['cuda']:.2f} s | {parts} | process {r['process']:.2f} s", flush=True)
        summarise(runs, configs)


def summarise(runs: dict[str, list[dict]], configs: list[tuple[str, dict]]) -> None:
    def seconds(name: str) -> float:
        return statistics.median(sum(m["seconds"] for m in r["models"]) for r in runs[name])

    def accuracies(name: str) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for r in runs[name]:
            for m in r["models"]:
                out.setdefault(m["id"], []).append(m["accuracy"])
        return out
    on = seconds("all on")
    base = accuracies("all on")
    first = runs["all on"][0]["models"]
    print(f"all on: training {on:.2f} s (median over rounds); warm-up of the first process "
          "(first epoch minus the later ones' median): " + ", ".join(
              f"{k} {v:.2f} s" for k, v in warmup(first).items()))
    for name, _ in configs[1:]:
        off = seconds(name)
        acc = accuracies(name)
        print(f"{name}: training {off:.2f} s, {off / on:.2f}x the time of all on; accuracy "
              + "; ".join(f"{k} on {spread(base[k])} vs off {spread(acc[k])}" for k in base))


if __name__ == "__main__":
    main()
