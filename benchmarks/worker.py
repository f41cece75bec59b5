"""The measuring side of mnist-bench: runs in a fresh process per model, in whichever Python is given.

    python -m benchmarks.worker info
    python -m benchmarks.worker measure '{"runtime": "ai_edge_litert", "model": "...", "data": "...", ...}'
    python -m benchmarks.worker probe '{"runtime": "onnxruntime", "model": "...", "image": "one.npy"}'

Every model is measured in its own process, so no runtime pays for another's threads or
memory, and a Python with another runtime (tflite-runtime under NumPy 1) runs the very same
code. It prints JSON lines on stdout: ``{"progress": ...}`` while it works, then one
``{"result": ...}`` or ``{"error": "one line"}``. It needs numpy and edge/ only (plus the
runtime it measures).
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import sys
from typing import Any

import numpy as np

from benchmarks.engines import open_engine
from edge.bench import peak_rss_bytes
from edge.mnist_data import DataError
from edge.runtime import RuntimeProblem, interpreter_class

DISTRIBUTIONS = {
    "ai_edge_litert": "ai-edge-litert",
    "tflite_runtime": "tflite-runtime",
    "onnxruntime": "onnxruntime",
    "keras": "keras",
    "tensorflow": "tensorflow",
    "numpy": "numpy",
}


def version(runtime: str) -> str | None:
    try:
        return importlib.metadata.version(DISTRIBUTIONS.get(runtime, runtime))
    except importlib.metadata.PackageNotFoundError:
        return None


def emit(**message: Any) -> None:
    print(json.dumps(message), flush=True)


def info() -> dict[str, Any]:
    """This Python, its numpy, and the TFLite runtime the edge runner would pick here."""
    found: dict[str, Any] = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "numpy": version("numpy"),
    }
    try:
        _, runtime = interpreter_class()
    except RuntimeProblem as e:
        return {**found, "runtime": None, "problem": str(e)}
    return {**found, "runtime": runtime, "version": version(runtime)}


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Accuracy on the whole test set, latency one image at a time, throughput in batches."""
    from edge.mnist_data import load_split

    test = load_split(job["data"], "test")
    result: dict[str, Any] = {
        "runtime": job["runtime"],
        "runtime_version": version("tensorflow" if job["runtime"] == "keras" else job["runtime"]),
        "python_version": platform.python_version(),
        "numpy_version": version("numpy"),
        "latency_us": {},
        "throughput": {},
    }
    for threads in job["threads"]:
        engine = open_engine(job["runtime"], job["model"], threads)
        if job["accuracy"] and "accuracy" not in result:
            predictions = engine.predict(test.images, job["batch_size"]).argmax(axis=1)
            correct = int((predictions == test.labels).sum())
            result.update(correct=correct, images=len(test.labels), accuracy=correct / len(test.labels))
            emit(progress="accuracy", threads=threads)
        latency, throughput = _timings(engine, test.images, job)
        result["latency_us"][str(threads)], result["throughput"][str(threads)] = latency, throughput
        del engine  # free its threads and buffers before the next thread count
    return result


def _timings(engine: Any, images: np.ndarray, job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Latency (invoke alone, end to end) one image at a time, then throughput in batches."""
    from benchmarks.timing import images_per_second, time_calls

    singles = [images[i : i + 1] for i in range(min(job["latency_images"], len(images)))]
    prepared = [engine.prepare(image) for image in singles]
    invoke = time_calls(engine.invoke, prepared, job["runs"], job["warmup"])
    emit(progress="invoke")
    end_to_end = time_calls(lambda image: engine.predict(image, 1), singles, job["runs"], job["warmup"])
    emit(progress="end_to_end")
    batch_size = job["batch_size"]
    rate = images_per_second(
        lambda batch: engine.predict(batch, batch_size), images[: job["throughput_images"]], job["throughput_repeats"]
    )
    emit(progress="throughput")
    return {"invoke": invoke, "end_to_end": end_to_end}, {**rate, "batch_size": batch_size}


def probe(job: dict[str, Any]) -> dict[str, Any]:
    """Load the model and classify one image, as a user's program would: how much memory did it take?"""
    image = np.load(job["image"])
    engine = open_engine(job["runtime"], job["model"], job.get("threads") or 1)
    probabilities = np.asarray(engine.predict(image[None], 1))
    return {"prediction": int(probabilities.argmax()), "peak_rss_bytes": peak_rss_bytes()}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    mode, job = args[0], json.loads(args[1]) if len(args) > 1 else {}
    try:
        if mode == "info":
            emit(result=info())
        elif mode == "measure":
            emit(result=measure(job))
        elif mode == "probe":
            emit(result=probe(job))
        else:
            emit(error=f"unknown mode {mode!r}")
            return 2
    except (RuntimeProblem, DataError) as e:
        emit(error=str(e))
        return 1
    except (ValueError, RuntimeError, OSError) as e:  # a kernel that loads but fails to run, a bad file
        emit(error=f"{type(e).__name__}: {' '.join(str(e).split())[:300]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
