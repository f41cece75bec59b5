"""manifest.json: what each .tflite file is, so a device (or a person) can check it before use.

Per file: size, sha256, input/output tensors with their quantization, the operators with
their versions and the oldest runtime that has them, accuracy, and where it loads.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from convert.tflite_file import io_tensors, read_tflite
from edge.files import write_json
from edge.model_info import MANIFEST_NAME, Manifest, ModelInfoError, read_manifest

FORMAT_VERSION = 1

PREPROCESSING = {
    "function": "edge.preprocess.normalize",
    "image": "uint8 grey levels (N, 28, 28), white digit on black, as in MNIST",
    "model_input": "float32 (N, 28, 28, 1) = pixels / 255",
    "quantized_input": "round(pixels / 255 / scale + zero_point), clipped to the input type",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def describe(model_path: Path) -> dict[str, Any]:
    """The facts about one .tflite file that do not need evaluation."""
    data = Path(model_path).read_bytes()
    parsed = read_tflite(data)
    # The operators with their versions: what an older runtime may lack. The converter stores
    # min_runtime_version, the oldest TFLite runtime with every operator version the model uses.
    operators = sorted(
        ({"name": name, "version": version} for name, version in parsed.operator_codes), key=lambda op: op["name"]
    )
    model_input, model_output = io_tensors(model_path)
    return {
        "file": Path(model_path).name,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "input": model_input,
        "output": model_output,
        "operators": operators,
        "min_runtime_version": parsed.metadata.get("min_runtime_version"),
    }


def read(out_dir: Path) -> Manifest | None:
    """The manifest already in ``out_dir``, or None if there is none or it cannot be read."""
    try:
        return read_manifest(out_dir)
    except ModelInfoError:
        return None


def merged(out_dir: Path, header: dict[str, Any], models: list[dict[str, Any]]) -> dict[str, Any]:
    """The new manifest: this run's models, plus earlier entries whose files are still there untouched.

    Converting only int8 after ``--quantize all`` must not make the other files unlisted.
    """
    new_files = {m["file"] for m in models}
    kept = []
    earlier = read(out_dir)
    if earlier and earlier.dataset == header.get("dataset"):
        for entry in earlier.models:
            path = Path(out_dir) / entry.file
            if entry.file not in new_files and path.is_file() and sha256(path) == entry.sha256:
                kept.append(entry.raw)
    return {**header, "models": kept + models}


def write(out_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write manifest.json atomically (temp name in the same folder, then rename)."""
    path = Path(out_dir) / MANIFEST_NAME
    write_json(path, manifest)
    return path
