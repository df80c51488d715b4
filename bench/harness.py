"""Timing helpers shared by the benchmarks: medians over repeats, same process, same run."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable


def per_step(run: Callable[[], int], repeats: int) -> float:
    """Median seconds per step; `run` does one whole run and returns how many steps it took."""
    run()  # warm up caches, imports, thread pools
    samples = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        steps = run()
        samples.append((time.perf_counter() - start) / steps)
    return statistics.median(samples)


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median seconds of `run()`."""
    run()
    samples = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def steady_per_step(stamps: list[float]) -> float:
    """Seconds per step from the times each step ended, leaving out the run's start-up."""
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)
