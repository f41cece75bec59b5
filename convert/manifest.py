"""manifest.json: what each .tflite file is, so a device (or a person) can check it before use.

Per file: size, sha256, input/output tensors with their quantization, the operators with
their versions and the oldest runtime that has them, accuracy, and where it loads.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from train.files import write_json

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1

PREPROCESSING = {
    "function": "edge.preprocess.normalize",
    "image": "uint8 grey levels (N, 28, 28), white digit on black, as in MNIST",
    "model_input": "float32 (N, 28, 28, 1) = pixels / 255",
    "quantized_input": "round(pixels / 255 / scale + zero_point), clipped to the input type",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _tensor(detail: dict[str, Any]) -> dict[str, Any]:
    scale, zero_point = detail["quantization"]
    return {
        "name": detail["name"],
        "dtype": np.dtype(detail["dtype"]).name,
        "shape": [int(d) for d in detail.get("shape_signature", detail["shape"])],
        "quantization": {"scale": float(scale), "zero_point": int(zero_point)} if scale else None,
    }


def tensors(model_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (input, output) tensor descriptions, read by LiteRT as the device will read them."""
    from edge.runtime import interpreter_class  # noqa: PLC0415

    Interpreter, _ = interpreter_class()
    interpreter = Interpreter(model_path=str(model_path))
    return _tensor(interpreter.get_input_details()[0]), _tensor(interpreter.get_output_details()[0])


def operators_and_metadata(model_bytes: bytes) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The operators with their versions (what an older runtime may lack) and the string metadata.

    The converter stores ``min_runtime_version``: the oldest TFLite runtime with every operator
    version the model uses.
    """
    from tensorflow.lite.python import schema_py_generated as schema  # noqa: PLC0415
    from tensorflow.lite.python import schema_util  # noqa: PLC0415

    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    operators = []
    for code in model.operatorCodes or []:
        builtin = schema_util.get_builtin_code_from_operator_code(code)
        name = names.get(builtin, str(builtin))
        if name == "CUSTOM" and code.customCode:
            name = f"CUSTOM:{code.customCode.decode()}"
        operators.append({"name": name, "version": int(code.version)})
    metadata = {}
    for entry in model.metadata or []:
        data = model.buffers[entry.buffer].data
        key = entry.name.decode() if isinstance(entry.name, bytes) else str(entry.name)
        if key == "min_runtime_version" and data is not None:
            metadata[key] = bytes(data).rstrip(b"\0").decode()
    return sorted(operators, key=lambda op: op["name"]), metadata


def describe(model_path: Path) -> dict[str, Any]:
    """The facts about one .tflite file that do not need evaluation."""
    data = Path(model_path).read_bytes()
    operators, metadata = operators_and_metadata(data)
    model_input, model_output = tensors(model_path)
    return {
        "file": Path(model_path).name,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "input": model_input,
        "output": model_output,
        "operators": operators,
        "min_runtime_version": metadata.get("min_runtime_version"),
    }


def read(out_dir: Path) -> dict[str, Any] | None:
    """The manifest already in ``out_dir``, or None if there is none or it cannot be read."""
    try:
        manifest = json.loads((Path(out_dir) / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("models"), list) else None


def merged(out_dir: Path, header: dict[str, Any], models: list[dict[str, Any]]) -> dict[str, Any]:
    """The new manifest: this run's models, plus earlier entries whose files are still there untouched.

    Converting only int8 after ``--quantize all`` must not make the other files unlisted.
    """
    new_files = {m["file"] for m in models}
    kept = []
    earlier = read(out_dir)
    if earlier and earlier.get("dataset") == header.get("dataset"):
        for entry in earlier["models"]:
            path = Path(out_dir) / str(entry.get("file", ""))
            if entry.get("file") not in new_files and path.is_file() and sha256(path) == entry.get("sha256"):
                kept.append(entry)
    return {**header, "models": kept + models}


def write(out_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write manifest.json atomically (temp name in the same folder, then rename)."""
    path = Path(out_dir) / MANIFEST_NAME
    write_json(path, manifest)
    return path
