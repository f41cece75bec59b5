"""What is inside a .tflite file: its operators, their versions and input types, its metadata, its I/O tensors.

One reader for the manifest (operator versions: what an older runtime may lack) and for the
TFLite Micro check (operators in execution order, with the types of their inputs). The
flatbuffer is parsed with the schema that LiteRT ships (``ai_edge_litert``, the base install),
so neither TensorFlow nor TFLite Micro is needed to read a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class TfliteFileError(Exception):
    """Not a TFLite flatbuffer that can be parsed; the message is one line."""


@dataclass(frozen=True)
class Operator:
    """One node of the graph, in execution order."""

    index: int
    name: str  # BuiltinOperator name, e.g. CONV_2D, or CUSTOM:<code> for a custom operator
    version: int
    input_types: tuple[str, ...]  # TensorType names of its inputs, e.g. ("INT8", "INT8", "INT32")


@dataclass(frozen=True)
class TfliteFile:
    operator_codes: tuple[tuple[str, int], ...]  # (name, version) per operator code, as stored
    operators: tuple[Operator, ...]  # every node of every subgraph, in execution order
    metadata: dict[str, str]  # string metadata, e.g. min_runtime_version

    @property
    def operator_names(self) -> list[str]:
        """The operators a runtime must provide, in the order they first run."""
        return list(dict.fromkeys(op.name for op in self.operators))


def _enum_names(enum: type) -> dict[int, str]:
    return {code: name for name, code in vars(enum).items() if not name.startswith("_")}


def read_tflite(data: bytes) -> TfliteFile:
    """Parse the flatbuffer ``data`` of a .tflite file."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as e:  # flatbuffers raises struct.error, IndexError, ... on garbage
        raise TfliteFileError(f"not a TFLite model ({type(e).__name__}: {str(e)[:100]})") from None
    op_names, type_names = _enum_names(schema.BuiltinOperator), _enum_names(schema.TensorType)
    codes = []
    for code in model.operatorCodes or []:
        # Codes above 127 live in builtinCode; the deprecated 8-bit field keeps older readers working.
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = op_names.get(builtin, str(builtin))
        if name == "CUSTOM" and code.customCode:
            custom = code.customCode
            name = f"CUSTOM:{custom.decode() if isinstance(custom, bytes) else custom}"
        codes.append((name, int(code.version)))
    operators = []
    for graph in model.subgraphs or []:
        for op in graph.operators if graph.operators is not None else []:
            name, version = codes[op.opcodeIndex]
            inputs = [] if op.inputs is None else [i for i in op.inputs if i >= 0]
            types = tuple(type_names.get(graph.tensors[i].type, "?") for i in inputs)
            operators.append(Operator(len(operators), name, version, types))
    metadata = {}
    for entry in model.metadata or []:
        value = model.buffers[entry.buffer].data
        key = entry.name.decode() if isinstance(entry.name, bytes) else str(entry.name)
        if value is not None:
            metadata[key] = bytes(value).rstrip(b"\0").decode("utf-8", "replace")
    return TfliteFile(tuple(codes), tuple(operators), metadata)


def tensor_info(detail: dict[str, Any], batch: int | None = None) -> dict[str, Any]:
    """An interpreter's input or output detail as manifest.json records it.

    The shape is the model's signature (-1 for a free batch size) unless ``batch`` fixes it;
    ``quantization`` is None for a float tensor.
    """
    scale, zero_point = detail["quantization"]
    shape = [int(d) for d in detail.get("shape_signature", detail["shape"])]
    if batch is not None and shape:
        shape[0] = batch
    return {
        "name": detail["name"],
        "dtype": np.dtype(detail["dtype"]).name,
        "shape": shape,
        "quantization": {"scale": float(scale), "zero_point": int(zero_point)} if scale else None,
    }


def io_tensors(model_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (input, output) tensor descriptions, read by LiteRT as the device will read them."""
    from edge.runtime import interpreter_class

    Interpreter, _ = interpreter_class()
    interpreter = Interpreter(model_path=str(model_path))
    return tensor_info(interpreter.get_input_details()[0]), tensor_info(interpreter.get_output_details()[0])
