"""One worker process per core for the per-student reading work (notebooks, tokenizing,
predictions.csv files, result files). Not forked from the grader: `grader evaluate --integrity`
runs in its threaded process (the live display), which fork would copy mid-lock (see
grader.run.executors). The workers fork from a fork server instead, a fresh single-threaded
interpreter that has imported PRELOAD once. Nothing here needs the parent's memory: the k-gram
hashes are stable across processes (grader.integrity.code._kgram_hashes), so the workers'
fingerprints compare with each other's and the parent's."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# imported once by the fork server, so each worker forked from it starts with them (copydetect
# alone, which imports matplotlib, takes about a second to import)
PRELOAD = ["copydetect", "grader.integrity.code", "grader.integrity.models",
           "grader.integrity.run"]


def parallel_map(fn: Callable[..., R], *columns: Iterable, jobs: int) -> list[R]:
    """[fn(*row) for row in zip(*columns)], in `jobs` worker processes when that pays; fn
    must be a module-level function (the workers import it)."""
    rows = list(zip(*columns))
    if jobs <= 1 or len(rows) < 8:
        return [fn(*row) for row in rows]
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)     # read when the server starts (once)
    with ProcessPoolExecutor(max_workers=min(jobs, len(rows)), mp_context=context) as pool:
        return list(pool.map(fn, *zip(*rows), chunksize=max(1, len(rows) // (4 * jobs))))
