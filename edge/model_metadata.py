"""What a .tflite file says about itself: the record mnist-convert puts inside the model.

A .tflite file is a flatbuffer whose ``Model.metadata`` list holds named entries, each pointing at
one of the model's buffers (TFLite's metadata mechanism: the converter itself stores
``min_runtime_version`` and ``CONVERSION_METADATA`` there). mnist-convert adds one entry,
:data:`METADATA_NAME`, holding UTF-8 JSON: class names, the preprocessing the model expects, the
variant, and where it came from (dataset, accuracy, dates). So a file copied alone to a Pi still
knows its classes; manifest.json beside it stays the human-readable index.

Read by hand with ``struct``: LiteRT's Interpreter does not expose metadata, and the generated
schema module (``ai_edge_litert.schema_py_generated``, 690 kB of Python) takes 0.2-0.5 s to
import here, more than the whole read. The few fields below are the flatbuffer format's fixed
rules (root offset, vtables, vectors) and the field order of TFLite's schema.fbs. Standard library
only; nothing is written here (convert/metadata.py writes the entry).
"""

from __future__ import annotations

import json
import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METADATA_NAME = "mnist_edge"  # the Model.metadata entry mnist-convert writes and the runner reads
FORMAT_VERSION = 1

# Field numbers in TFLite's schema.fbs (table Model, table Metadata, table Buffer).
_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2


class _Flatbuffer:
    """Just enough of the flatbuffers wire format to follow tables, vectors and strings."""

    def __init__(self, data: Any):
        self.data = data

    def u16(self, at: int) -> int:
        return struct.unpack_from("<H", self.data, at)[0]

    def u32(self, at: int) -> int:
        return struct.unpack_from("<I", self.data, at)[0]

    def u64(self, at: int) -> int:
        return struct.unpack_from("<Q", self.data, at)[0]

    def root(self) -> int:
        return self.u32(0)

    def field(self, table: int, number: int) -> int | None:
        """Where field ``number`` of the table at ``table`` is stored, or None when it is absent."""
        vtable = table - struct.unpack_from("<i", self.data, table)[0]
        slot = 4 + 2 * number
        if slot >= self.u16(vtable):
            return None
        offset = self.u16(vtable + slot)
        return table + offset if offset else None

    def indirect(self, at: int) -> int:
        return at + self.u32(at)

    def vector(self, at: int) -> tuple[int, int]:
        """(first element, length) of the vector referenced at ``at``."""
        start = self.indirect(at)
        return start + 4, self.u32(start)

    def tables(self, at: int | None) -> list[int]:
        if at is None:
            return []
        first, length = self.vector(at)
        return [self.indirect(first + 4 * i) for i in range(length)]

    def bytes(self, at: int) -> bytes:
        first, length = self.vector(at)
        if first + length > len(self.data):
            raise IndexError("vector runs past the end of the file")
        return bytes(self.data[first : first + length])


def metadata_entries(data: Any) -> dict[str, bytes]:
    """Every named metadata entry of the flatbuffer ``data`` (bytes or mmap) with its buffer's bytes.

    Empty when ``data`` is not a TFLite flatbuffer or its metadata cannot be followed.
    """
    fb = _Flatbuffer(data)
    try:
        model = fb.root()
        buffers = fb.tables(fb.field(model, _MODEL_BUFFERS))
        entries = {}
        for entry in fb.tables(fb.field(model, _MODEL_METADATA)):
            name_at = fb.field(entry, _METADATA_NAME)
            index_at = fb.field(entry, _METADATA_BUFFER)
            index = fb.u32(index_at) if index_at is not None else 0
            if name_at is None or index >= len(buffers):
                continue
            entries[fb.bytes(name_at).decode("utf-8", "replace")] = _buffer_bytes(fb, buffers[index])
        return entries
    except (struct.error, IndexError, ValueError):
        return {}


def _buffer_bytes(fb: _Flatbuffer, buffer: int) -> bytes:
    data_at = fb.field(buffer, _BUFFER_DATA)
    if data_at is not None:
        return fb.bytes(data_at)
    offset_at, size_at = fb.field(buffer, _BUFFER_OFFSET), fb.field(buffer, _BUFFER_SIZE)
    if offset_at is None or size_at is None:  # an empty buffer
        return b""
    offset, size = fb.u64(offset_at), fb.u64(size_at)  # a model over 2 GB keeps buffers after the flatbuffer
    if offset + size > len(fb.data):
        raise IndexError("buffer runs past the end of the file")
    return bytes(fb.data[offset : offset + size])


@dataclass(frozen=True)
class EmbeddedInfo:
    """The record mnist-convert put inside a .tflite file; fields it lacks are None."""

    class_names: list[str] | None
    variant: str | None
    dataset: str | None
    accuracy: float | None  # this file's top-1 accuracy on the test set, as the converter measured it
    preprocessing: dict[str, Any] | None
    raw: dict[str, Any] = field(default_factory=dict)


def read_embedded(model_path: str | Path) -> EmbeddedInfo | None:
    """The :data:`METADATA_NAME` record inside ``model_path``, or None when there is none (an older
    file, another tool's model) or the file cannot be read: the caller falls back to manifest.json."""
    try:
        with open(model_path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data[4:8] != b"TFL3":
                return None
            raw = metadata_entries(data).get(METADATA_NAME)
    except (OSError, ValueError):  # missing, unreadable, or empty (mmap refuses 0 bytes)
        return None
    try:
        record = json.loads(raw.decode("utf-8")) if raw else None
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    names = record.get("class_names")
    accuracy = record.get("accuracy")
    preprocessing = record.get("preprocessing")
    return EmbeddedInfo(
        class_names=[str(n) for n in names] if isinstance(names, list) and names else None,
        variant=str(record["variant"]) if record.get("variant") else None,
        dataset=str(record["dataset"]) if record.get("dataset") else None,
        accuracy=float(accuracy) if isinstance(accuracy, (int, float)) else None,
        preprocessing=preprocessing if isinstance(preprocessing, dict) else None,
        raw=record,
    )
