"""How every runtime is timed, with one method: per-call wall clock after warm-up, then percentiles.

numpy and the standard library only: this module also runs inside other interpreters (a
virtual environment with tflite-runtime and NumPy 1, say) so that their figures come from the
same code as ours.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 99)


def summarize(samples_ns: Sequence[int]) -> dict[str, float]:
    """Median, p90, p99, mean and min of per-call times, in microseconds."""
    us = np.asarray(samples_ns, dtype=np.float64) / 1000.0
    p50, p90, p99 = np.percentile(us, PERCENTILES)
    return {
        "median": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "mean": float(us.mean()),
        "min": float(us.min()),
        "runs": len(us),
    }


def time_calls(call: Callable[[Any], Any], inputs: Sequence[Any], runs: int, warmup: int) -> dict[str, float]:
    """Time ``call(x)`` ``runs`` times, cycling through ``inputs``, after ``warmup`` untimed calls.

    The garbage collector is paused while timing (as timeit does): its pauses belong to the
    Python program around the model, not to the runtime being measured.
    """
    if runs < 1 or not len(inputs):
        raise ValueError("need at least one run and one input")
    for i in range(warmup):
        call(inputs[i % len(inputs)])
    samples = np.empty(runs, dtype=np.int64)
    clock = time.perf_counter_ns
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(runs):
            x = inputs[i % len(inputs)]
            start = clock()
            call(x)
            samples[i] = clock() - start
    finally:
        if was_enabled:
            gc.enable()
    return summarize(samples)


def images_per_second(predict: Callable[[np.ndarray], Any], images: np.ndarray, repeats: int) -> dict[str, float]:
    """Throughput of ``predict`` over all of ``images`` (it batches them itself): best and median of ``repeats``.

    The best run is the figure to compare (least disturbed by other programs); the median
    shows how much the machine moved under us.
    """
    predict(images[: min(len(images), 512)])  # warm-up: allocate the batch-sized tensors
    rates = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        predict(images)
        rates.append(len(images) / (time.perf_counter() - start))
    return {"best": float(max(rates)), "median": float(np.median(rates)), "images": len(images), "repeats": len(rates)}
