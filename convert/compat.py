"""Does each .tflite file load, and run, in each TFLite runtime we can reach?

A model from a new converter may use operator versions an older runtime lacks (measured:
tflite-runtime 2.14 refuses the dynamic-range model of TF 2.21, FULLY_CONNECTED version 12).
We check every runtime importable here, and optionally the runtime of other Python
interpreters (e.g. a virtual environment that mirrors the Raspberry Pi's), in a subprocess.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convert.other_python import other_python
from edge.runtime import RUNTIMES, Classifier, RuntimeProblem, interpreter_class

DEVICE_RUNTIMES = ("ai_edge_litert", "tflite_runtime")  # what a device has; TensorFlow there is only slow
_DISTRIBUTIONS = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime", "tensorflow": "tensorflow"}


def _version(runtime: str) -> str | None:
    try:
        return importlib.metadata.version(_DISTRIBUTIONS[runtime])
    except importlib.metadata.PackageNotFoundError:
        return None


def available_runtimes(candidates: Sequence[str] = RUNTIMES) -> list[str]:
    """The runtimes that import in this Python, in edge.runtime's order of preference."""
    found = []
    for name in candidates:
        try:
            interpreter_class(name)
        except RuntimeProblem:
            continue
        found.append(name)
    return found


def check(model_path: Path, runtime: str) -> dict[str, Any]:
    """Load ``model_path`` in ``runtime`` and classify one blank image: {"loads": bool, "version", "error"}."""
    result: dict[str, Any] = {"version": _version(runtime)}
    try:
        with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice: we know
            warnings.simplefilter("ignore")
            Classifier(model_path, threads=1, runtime=runtime).predict(np.zeros((1, 28, 28), np.uint8))
    except RuntimeProblem as e:
        return {**result, "loads": False, "error": str(e)}
    except Exception as e:  # a kernel that loads but fails to run (ValueError, RuntimeError, ...)
        return {**result, "loads": False, "error": " ".join(str(e).split())[:400]}
    return {**result, "loads": True}


def check_in_python(python: str, model_paths: list[Path]) -> dict[str, dict[str, dict[str, Any]]]:
    """{runtime: {path: result}} for LiteRT and tflite_runtime, as installed for the Python at ``python``.

    Runs :func:`main` there (``python -m convert.compat``) with only our packages added to its
    path. Raises RuntimeProblem (one line) when that interpreter cannot run the check at all.
    """
    try:
        with other_python(("edge", "convert")) as other:
            done = other.run(python, "convert.compat", model_paths, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeProblem(
            f"{python}: cannot run it to check runtimes ({e}); give the path of a Python executable"
        ) from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeProblem(
            f"{python}: the runtime check failed ({last}); it needs numpy and a TFLite runtime installed"
        )
    report = json.loads(lines[-1])
    if not report:
        raise RuntimeProblem(f"{python}: neither ai_edge_litert nor tflite_runtime imports there; install one in it")
    return report


def runtime_label(runtime: str, version: str | None, python: str | None = None) -> str:
    """The key under which a result is stored, e.g. 'tflite_runtime 2.14.0' or 'ai_edge_litert 2.3.0'."""
    label = f"{runtime} {version}" if version else runtime
    return f"{label} ({python})" if python else label


def main(argv: Sequence[str] | None = None) -> int:
    """Run by :func:`check_in_python` in the other Python: each file in each device runtime; one JSON line."""
    paths = list(sys.argv[1:] if argv is None else argv)
    runtimes = available_runtimes(DEVICE_RUNTIMES)
    print(json.dumps({runtime: {path: check(Path(path), runtime) for path in paths} for runtime in runtimes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
