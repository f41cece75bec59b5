"""mnist-bench's side of the measuring processes: one fresh process per model and measurement.

benchmarks/worker.py does the measuring in that process; this module starts it (in this Python
or another one), reads its JSON lines and puts the figures into the row of the results.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.progress import Progress
from benchmarks.settings import Settings
from convert.other_python import OtherPython


class Workers:
    """Runs benchmarks/worker.py in a fresh process of any Python, with only our packages on its path.

    Another Python must see our code but none of this environment's packages (its NumPy 2 would
    break tflite-runtime): convert/other_python.py sets that up.
    """

    def __init__(self, other: OtherPython):
        self.other = other

    def run(
        self,
        python: str,
        mode: str,
        job: dict[str, Any],
        on_progress: Callable[[dict], None] = lambda _m: None,
    ) -> tuple[dict[str, Any] | None, str | None, float]:
        """(result, error, seconds from process start to its result line)."""
        start = time.perf_counter()
        with tempfile.TemporaryFile(mode="w+") as stderr:
            try:
                process = self.other.popen(
                    python,
                    "benchmarks.worker",
                    [mode, json.dumps(job)],
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                )
            except OSError as e:
                return None, f"{python}: cannot run it ({e.strerror or e})", 0.0
            result, error, seconds = None, None, 0.0
            assert process.stdout is not None
            for line in process.stdout:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # a runtime's own chatter on stdout
                if "result" in message:
                    result, seconds = message["result"], time.perf_counter() - start
                elif "error" in message:
                    error = message["error"]
                elif "progress" in message:
                    on_progress(message)
            process.wait()
            if result is None and error is None:
                stderr.seek(0)
                lines = [line for line in stderr.read().strip().splitlines() if line.strip()]
                error = (
                    f"the measuring process failed (exit {process.returncode}): {lines[-1] if lines else 'no output'}"
                )
        return result, error, seconds


def measure_row(row: dict[str, Any], workers: Workers, settings: Settings, data: Path, progress: Progress) -> None:
    """Accuracy, latency and throughput of one row, in place; a failure becomes ``row['error']``."""
    python = row.get("python") or sys.executable
    keras = row["runtime"] == "keras"
    job = {
        "runtime": row["runtime"],
        "model": row["path"],
        "data": str(data),
        "batch_size": settings.batch_size,
        "runs": settings.keras_runs if keras else settings.runs,
        "warmup": settings.keras_warmup if keras else settings.warmup,
        "latency_images": settings.latency_images,
        "throughput_images": settings.throughput_images,
        "throughput_repeats": settings.throughput_repeats,
    }
    # TensorFlow sizes its thread pools once per process: one process per thread count.
    groups = [[t] for t in settings.threads] if keras else [list(settings.threads)]
    name = f"{row['runtime'].replace('ai_edge_litert', 'litert')} {row['variant']}"
    on_progress = progress.task(f"measuring {name}", 1 + 3 * len(settings.threads))
    for i, threads in enumerate(groups):
        result, error, _ = workers.run(python, "measure", {**job, "threads": threads, "accuracy": i == 0}, on_progress)
        if error:
            row["error"] = error
            break
        assert result is not None
        for key in ("latency_us", "throughput"):
            row.setdefault(key, {}).update(result.pop(key))
        row.update(result)
    progress.done()


def probe_row(row: dict[str, Any], workers: Workers, settings: Settings, image: Path, progress: Progress) -> None:
    """Peak memory and cold start of a fresh process that loads the model and classifies one image."""
    python = row.get("python") or sys.executable
    progress.task(
        f"memory, cold start {row['runtime'].replace('ai_edge_litert', 'litert')} {row['variant']}",
        settings.probe_repeats,
    )
    rss, seconds = [], []
    for _ in range(settings.probe_repeats):
        result, error, took = workers.run(
            python, "probe", {"runtime": row["runtime"], "model": row["path"], "image": str(image), "threads": 1}
        )
        progress.step()
        if error:
            row["error"] = error
            break
        assert result is not None
        rss.append(result["peak_rss_bytes"])
        seconds.append(took)
    if rss:
        row["peak_rss_bytes"] = int(statistics.median(rss))
        row["cold_start_s"] = statistics.median(seconds)
        row["probe_runs"] = len(rss)
    progress.done()
