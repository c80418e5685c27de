"""One forked process per core for the per-student reading work (notebooks, tokenizing,
predictions.csv files, result files). Forked, not spawned: copydetect hashes k-grams with
Python's salted `hash()`, and forked children share the parent's salt, so their fingerprints
compare with each other's and the parent's."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(fn: Callable[..., R], *columns: Iterable, jobs: int) -> list[R]:
    """[fn(*row) for row in zip(*columns)], in `jobs` forked processes when that pays."""
    rows = list(zip(*columns))
    if jobs <= 1 or len(rows) < 8:
        return [fn(*row) for row in rows]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        return list(pool.map(fn, *zip(*rows), chunksize=max(1, len(rows) // (4 * jobs))))
