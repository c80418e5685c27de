"""benchmarks/bench_class.py's way of running one configuration: `grader.run.evaluate.evaluate`
in a process of its own (spawned, so it inherits no threads), its events passed back as they
come, stopped with every process it started (sandboxes included, by id) at its deadline; and
GPU busy and memory sampled with nvidia-smi meanwhile."""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import signal
import subprocess
import threading
import time
from pathlib import Path

from grader.run.options import Options


class GpuSampler:
    """nvidia-smi utilisation and memory, sampled every 0.5 s while running."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float, float]] = []   # (time, busy %, MiB)
        self.proc = None

    def __enter__(self):
        try:
            self.proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                 "--format=csv,noheader,nounits", "-lms", "500"],
                stdout=subprocess.PIPE, text=True)
        except OSError:
            return self
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                util, mem = (float(v) for v in line.split(","))
            except ValueError:
                continue
            self.samples.append((time.time(), util, mem))

    def __exit__(self, *exc) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait()

    def summary(self, start: float | None = None, end: float | None = None) -> dict:
        """GPU busy (utilization.gpu: the share of time a kernel ran) and memory used, over
        the samples from `start` to `end` (Unix times; None: all)."""
        samples = [(u, m) for t, u, m in self.samples
                   if (start is None or t >= start) and (end is None or t <= end)]
        if not samples:
            return {}
        utils = sorted(u for u, _ in samples)
        return {"util_mean": sum(utils) / len(utils), "util_median": utils[len(utils) // 2],
                "samples": len(utils), "memory_max_gib": max(m for _, m in samples) / 1024}


def gpu_text(gpu: dict) -> str:
    if not gpu:
        return ""
    return (f"GPU busy mean {gpu['util_mean']:.0f}% (median {gpu['util_median']:.0f}%, "
            f"{gpu['samples']} samples), memory max {gpu['memory_max_gib']:.1f} GiB")


def _grade_child(klass: Path, assignment, out: Path, options: Options, queue) -> None:
    try:
        from grader.run.evaluate import evaluate
        evaluate(klass, assignment, out, options, on_event=lambda e: queue.put(("event", e)))
        queue.put(("done", None))
    except BaseException as exc:        # noqa: BLE001 - reported by the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _stop(proc) -> None:
    """Kill the grading process and every process it started (sandboxes included), by id."""
    for _ in range(2):          # twice: a process may have started one in the meantime
        for pid in [proc.pid] + _descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    proc.join(10)


def run_config(klass: Path, assignment, out: Path, options: Options,
               deadline: float | None) -> dict:
    """Grade with `options` in a fresh process; at `deadline` seconds stop it. Returns the
    events (as they came), the wall time, whether it was stopped, and an error if it failed."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_grade_child, args=(klass, assignment, out, options, queue))
    started = time.monotonic()
    start_time = time.time()
    proc.start()
    events, error, done = [], None, False
    try:                        # stopped below also on SIGTERM (main turns it into SystemExit)
        while not done:
            left = None if deadline is None else deadline - (time.monotonic() - started)
            if left is not None and left <= 0:
                break
            try:
                kind, value = queue.get(timeout=min(1.0, left) if left is not None else 1.0)
            except queue_module.Empty:
                if not proc.is_alive() and queue.empty():
                    error = f"the grading process ended (exit {proc.exitcode})"
                    break
                continue
            if kind == "event":
                events.append(value)
            else:
                done, error = True, value
    finally:
        wall = time.monotonic() - started
        _stop(proc)
    return {"events": events, "wall": wall, "stopped": not done and error is None,
            "error": error, "start_time": start_time}
