"""Cold start: edge/classify.py against TensorFlow, from process start to the first printed prediction.

``python edge/classify.py --model mnist_int8.tflite digit.png`` (numpy + Pillow + LiteRT) against
a fresh Python that loads model.keras in TensorFlow and predicts the same image with the same
preprocessing (benchmarks/keras_first_prediction.py). Runs alternate, after one untimed warm-up
of each (files in the page cache, as on a device that has run once); medians are compared.
Part of mnist-bench's results ("Cold start: edge/classify.py against TensorFlow").
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.settings import BenchError
from convert.other_python import REPO_ROOT, OtherPython


def time_to_first_line(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """Seconds from process start to its first line on stdout, and that line."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    assert process.stdout is not None
    line = process.stdout.readline()
    elapsed = time.perf_counter() - start
    rest, err = process.communicate(timeout=300)
    if process.returncode != 0 or not line:
        raise BenchError(f"{' '.join(command[:3])} ... failed ({process.returncode}): {(err or rest).strip()[-500:]}")
    return elapsed, line.strip()


def measure_startup(other: OtherPython, model: Path, keras_model: Path, image: Path, repeats: int) -> dict[str, Any]:
    """Median seconds to the first prediction of each side over ``repeats`` alternating runs."""
    quiet = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    edge = [sys.executable, str(REPO_ROOT / "edge" / "classify.py"), "--model", str(model), str(image)]
    keras = other.command(sys.executable, "benchmarks.keras_first_prediction", [keras_model, image])
    runs = {
        "edge": (edge, quiet, REPO_ROOT),
        "keras": (keras, {**other.env, "TF_CPP_MIN_LOG_LEVEL": "3"}, other.folder),
    }
    times: dict[str, list[float]] = {"edge": [], "keras": []}
    lines = {name: time_to_first_line(*run)[1] for name, run in runs.items()}  # warm-up: page cache, .pyc files
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(time_to_first_line(*run)[0])
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "repeats": repeats,
        "seconds": times,
        "median_s": medians,
        "speedup": medians["keras"] / medians["edge"],
        "same_prediction": lines["edge"].split(" (")[0] == lines["keras"].split(" (")[0],
        "edge_line": lines["edge"],
        "keras_line": lines["keras"],
    }


def sample_image(data_dir: Path, folder: Path) -> Path:
    """The first test digit as a PNG file in ``folder``."""
    from PIL import Image

    from edge.mnist_data import load_split

    test = load_split(data_dir, "test")
    path = folder / f"mnist_test_0_label{test.labels[0]}.png"
    Image.fromarray(test.images[0]).save(path)
    return path


def edge_startup(other: OtherPython, artifacts: Path, model: Path, data: Path, repeats: int) -> dict[str, Any]:
    """The cold-start comparison for mnist-bench's results, or {"error": one line} when it cannot run."""
    try:
        image = sample_image(data, other.folder)
        found = measure_startup(other, model, artifacts / "model.keras", image, repeats)
    except (BenchError, subprocess.SubprocessError, OSError) as e:
        return {"error": " ".join(str(e).split())[:300]}
    return {**found, "model": model.name, "image": image.name}
