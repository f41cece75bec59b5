"""How many interpreter threads: ``--threads auto`` measures it once per model and device, and remembers.

Why measure instead of using every core: a digit classifier runs in tens of microseconds, and
waking more threads costs about as much as they save. On this project's 2-core machine the
default CNN took 72 us per image with one thread and 78 us with two (int8; float32 134 and 142,
dynamic 58 and 62: ``python edge/bench.py``, README), while a larger model, a batch, or a quiet
4-core Pi can gain from more. No fixed rule holds for
every file and CPU, so the first run with a model times one image at 1, 2, ... up to all cores
(about a quarter of a second in all) and picks the fewest threads within :data:`GAIN` of the
fastest. The answer is cached next to the model (``<model>.threads.json``), or in the user's
cache folder where the model's folder cannot be written, and measured again when the file, the
CPU, the core count or the runtime changes. edge/classify.py and edge/serve.py take
``--threads auto`` (the default) or ``--threads N``; edge/bench.py reports the same figures in full.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cpu import cpu_model, usable_cores

AUTO = "auto"  # the default of every front end's --threads
GAIN = 0.05  # one more thread must be at least 5 % faster to be worth a core (and the noise)
MEASURE_RUNS = 100  # single-image runs per thread count; at most MEASURE_SECONDS each
MEASURE_SECONDS = 0.1
CACHE_SUFFIX = ".threads.json"


def threads_argument(text: str) -> int | str:
    """argparse ``type`` of --threads: ``auto`` or a whole number of at least 1."""
    if text == AUTO:
        return AUTO
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a number of threads, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def thread_counts(cores: int | None = None) -> list[int]:
    """The thread counts worth timing: every one up to 8 cores, then doublings, and all cores."""
    cores = cores or usable_cores()
    counts = list(range(1, min(cores, 8) + 1))
    while counts[-1] * 2 < cores:
        counts.append(counts[-1] * 2)
    return sorted(set(counts) | {cores})


def latencies_ns(run: Callable[[], Any], runs: int, seconds: float, warmup: int = 10) -> list[int]:
    """Wall time of ``run()`` in nanoseconds, ``runs`` times or until ``seconds`` have passed (at least 5)."""
    for _ in range(warmup):
        run()
    times: list[int] = []
    deadline = time.perf_counter() + seconds
    while len(times) < runs and (len(times) < 5 or time.perf_counter() < deadline):
        start = time.perf_counter_ns()
        run()
        times.append(time.perf_counter_ns() - start)
    return times


def fewest_fast_threads(median_by_threads: dict[int, float]) -> int:
    """The fewest threads whose median is within :data:`GAIN` of the fastest."""
    best = min(median_by_threads.values())
    return min(t for t, median in median_by_threads.items() if median <= best * (1 + GAIN))


def _runtime_version(runtime: str) -> str:
    """``"ai_edge_litert 2.3.0"``: the loaded package's own ``__version__`` where it has one, which
    costs nothing; importlib.metadata (the fallback) takes 15-40 ms to import, a tenth of a cold start.
    """
    package = sys.modules.get(runtime)
    if isinstance(getattr(package, "__version__", None), str):
        return f"{runtime} {package.__version__}"
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{runtime} {version(runtime.replace('_', '-'))}"
    except PackageNotFoundError:
        return runtime


def _key(model_path: Path, runtime: str) -> dict[str, Any]:
    """What the answer depends on: the file's bytes, the CPU, the cores allowed, the runtime."""
    return {
        "sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "runtime": _runtime_version(runtime),
    }


def cache_paths(model_path: Path) -> list[Path]:
    """Where the answer is kept: beside the model, else in the user's cache folder."""
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnist-edge" / "threads"
    digest = hashlib.sha256(str(model_path.resolve()).encode()).hexdigest()[:16]
    return [model_path.with_name(model_path.name + CACHE_SUFFIX), user_cache / f"{model_path.stem}-{digest}.json"]


def _cached(model_path: Path, key: dict[str, Any]) -> int | None:
    for path in cache_paths(model_path):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("key") == key and isinstance(record.get("threads"), int):
            return record["threads"]
    return None


def _remember(model_path: Path, record: dict[str, Any]) -> Path | None:
    """Write the answer to the first place that takes it; None when none does (it is measured again next time)."""
    from .files import write_json

    for path in cache_paths(model_path):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, record)
            return path
        except OSError:
            continue
    return None


def measure(model_path: str | Path, runtime: str | None = None) -> dict[int, float]:
    """Median microseconds for one image at each of :func:`thread_counts`."""
    import numpy as np

    from .runtime import Classifier

    medians = {}
    image = np.zeros((1, 28, 28), np.uint8)
    for threads in thread_counts():
        classifier = Classifier(model_path, threads=threads, runtime=runtime)
        model_input = classifier.model_input(image)
        times = latencies_ns(lambda c=classifier, x=model_input: c.invoke(x), MEASURE_RUNS, MEASURE_SECONDS)
        medians[threads] = float(np.median(times)) / 1000
    return medians


def auto_threads(model_path: str | Path, runtime: str) -> int:
    """The thread count for ``model_path`` on this device: cached, or measured now and cached."""
    path = Path(model_path)
    if usable_cores() == 1:
        return 1
    key = _key(path, runtime)
    cached = _cached(path, key)
    if cached is not None:
        return cached
    medians = measure(path, runtime)
    threads = fewest_fast_threads(medians)
    record = {
        "threads": threads,
        "key": key,
        "median_us_by_threads": {str(t): round(us, 1) for t, us in medians.items()},
        "rule": f"fewest threads within {GAIN:.0%} of the fastest median for one image (edge/threads.py)",
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _remember(path, record)
    return threads
