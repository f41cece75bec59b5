"""Put what the edge runner needs inside the .tflite file, so that a file copied alone keeps its class names.

TFLite's metadata mechanism: one more named entry in the flatbuffer's ``metadata`` list, pointing
at one more buffer, here UTF-8 JSON under :data:`edge.model_metadata.METADATA_NAME`. The graph, its
weights and the converter's own entries (min_runtime_version, CONVERSION_METADATA) are kept as
they are. The file is rewritten with LiteRT's own flatbuffer tools
(``ai_edge_litert.tools.flatbuffer_utils``): the object-API round trip that the TFLite converter
itself ends with when it adds CONVERSION_METADATA. tflite-support's MetadataWriter would do the
same, but has no wheels for current Python. edge/model_metadata.py reads the entry on the device.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from convert.variants import ConvertError
from edge.model_metadata import FORMAT_VERSION, METADATA_NAME


def with_metadata(flatbuffer: bytes, record: dict[str, Any], name: str = METADATA_NAME) -> bytes:
    """``flatbuffer`` with ``record`` as JSON in its metadata entry ``name`` (replaced if already there)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    try:
        model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    except Exception as e:  # flatbuffers raises struct.error, IndexError, ... on garbage
        raise ConvertError(f"cannot add metadata: not a TFLite model ({type(e).__name__})") from None
    payload = np.frombuffer(json.dumps(record, ensure_ascii=False).encode("utf-8"), np.uint8)
    buffer = schema.BufferT()
    buffer.data = payload
    _drop(model, name)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = name, len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def without_metadata(flatbuffer: bytes, name: str = METADATA_NAME) -> bytes:
    """``flatbuffer`` with its entry ``name`` removed: what a file from before this record looks like."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    _drop(model, name)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _drop(model: Any, name: str) -> None:
    """Remove the entry ``name``; its buffer stays, emptied, so that no tensor's buffer index moves."""
    for entry in model.metadata or []:
        if _name(entry) == name and entry.buffer:
            model.buffers[entry.buffer].data = None
    model.metadata = [m for m in model.metadata or [] if _name(m) != name] or None


def _name(entry: Any) -> str:
    return entry.name.decode() if isinstance(entry.name, bytes) else str(entry.name)


def trained_at(artifacts: Path) -> str | None:
    """When mnist-train finished: the time it wrote metrics.json (it records no date itself)."""
    try:
        stamp = (Path(artifacts) / "metrics.json").stat().st_mtime
    except OSError:
        return None
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="seconds")


def record(
    *,
    variant: str,
    summary: str,
    class_names: list[str],
    preprocessing: dict[str, str],
    dataset: str,
    converted: str,
    tensorflow: str,
    architecture: str | None = None,
    trained: str | None = None,
    keras_test_accuracy: float | None = None,
    image_folder: str | None = None,
    calibration: dict[str, Any] | None = None,
    accuracy: float | None = None,
    evaluated_on: str | None = None,
) -> dict[str, Any]:
    """The JSON record a file carries: what the runner needs (class names, preprocessing) and where
    it came from (variant, dataset, training data, accuracy, dates, TensorFlow version)."""
    return {
        "format": FORMAT_VERSION,
        "written_by": "mnist-convert",
        "variant": variant,
        "summary": summary,
        "class_names": list(class_names),
        "preprocessing": preprocessing,
        "dataset": dataset,
        "image_folder": image_folder,
        "architecture": architecture,
        "trained": trained,
        "keras_test_accuracy": keras_test_accuracy,
        "accuracy": accuracy,
        "evaluated_on": evaluated_on,
        "calibration": {k: calibration[k] for k in ("source", "samples", "seed") if k in calibration}
        if calibration
        else None,
        "converted": converted,
        "tensorflow": tensorflow,
    }
