"""Fold Keras' Flatten into one RESHAPE with a constant shape, so Arm NN (pyarmnn) can read the file.

    python scripts/fold_flatten.py artifacts/mnist_float32.tflite mnist_float32_armnn.tflite

With a variable batch, TensorFlow converts Flatten into SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE
(the batch size read at run time). Debian bookworm's Arm NN 22 TFLite parser has no SHAPE and
refuses the file at that operator. The same RESHAPE with the constant shape [-1, N] means the same
(-1: whatever the batch is), keeps the variable batch for LiteRT (identical outputs, batch 1 or 256),
and parses in Arm NN. Every other part of the file (weights, metadata) is kept as it is.

Needs ai-edge-litert (its flatbuffer tools); no TensorFlow. Exit status 0 when written, 2 on bad
input (one line). The same rewrite belongs in mnist-convert, after the TFLite converter runs.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def fold_flatten(flatbuffer: bytes) -> tuple[bytes, int]:
    """``flatbuffer`` with every SHAPE/STRIDED_SLICE/PACK-fed RESHAPE given a constant shape; and how many."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    folded = 0
    for graph in model.subgraphs:
        names = [flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) for op in graph.operators]
        producer = {t: i for i, op in enumerate(graph.operators) for t in op.outputs}
        users: dict[int, int] = {}
        for op in graph.operators:
            for t in op.inputs:
                users[t] = users.get(t, 0) + 1
        drop: set[int] = set()
        for i, op in enumerate(graph.operators):
            chain = _flatten_chain(graph, names, producer, users, i)
            if chain is None:
                continue
            shape = graph.tensors[op.outputs[0]].shape
            buffer = schema.BufferT()
            buffer.data = np.array([-1, *shape[1:]], np.int32).view(np.uint8)
            model.buffers.append(buffer)
            tensor = schema.TensorT()
            tensor.shape, tensor.type, tensor.buffer = [2], schema.TensorType.INT32, len(model.buffers) - 1
            tensor.name = b"flatten_shape"
            graph.tensors.append(tensor)
            op.inputs[1] = len(graph.tensors) - 1
            drop.update(chain)
            folded += 1
        graph.operators = [op for i, op in enumerate(graph.operators) if i not in drop]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), folded


def _flatten_chain(graph: Any, names: list[str], producer: dict, users: dict, i: int) -> list[int] | None:
    """The SHAPE, STRIDED_SLICE and PACK operators feeding RESHAPE ``i`` its shape, if that is Flatten's pattern."""
    op = graph.operators[i]
    if names[i] != "RESHAPE" or len(op.inputs) < 2:
        return None
    out = graph.tensors[op.outputs[0]].shape
    if out is None or len(out) != 2 or out[1] < 1:
        return None
    pack = producer.get(op.inputs[1])
    if pack is None or names[pack] != "PACK":
        return None
    sliced = producer.get(graph.operators[pack].inputs[0])
    if sliced is None or names[sliced] != "STRIDED_SLICE":
        return None
    shape = producer.get(graph.operators[sliced].inputs[0])
    if shape is None or names[shape] != "SHAPE" or graph.operators[shape].inputs[0] != op.inputs[0]:
        return None
    chain = [shape, sliced, pack]
    if any(users.get(t, 0) != 1 for j in chain for t in graph.operators[j].outputs):
        return None  # something else reads the batch size: leave the graph alone
    return chain


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python scripts/fold_flatten.py IN.tflite OUT.tflite", file=sys.stderr)
        return 2
    source, target = Path(args[0]), Path(args[1])
    try:
        data = source.read_bytes()
    except OSError as e:
        print(f"error: {source}: cannot read ({e.strerror}); give a .tflite file", file=sys.stderr)
        return 2
    if data[4:8] != b"TFL3":
        print(f"error: {source}: not a TFLite model; give a .tflite file from mnist-convert", file=sys.stderr)
        return 2
    result, folded = fold_flatten(data)
    if not folded:
        print(
            f"error: {source}: no variable-batch Flatten to fold (already folded?); use the file as it is",
            file=sys.stderr,
        )
        return 2
    with tempfile.NamedTemporaryFile(dir=target.parent or ".", prefix=f".{target.name}.", delete=False) as f:
        f.write(result)
    os.replace(f.name, target)
    print(f"{target}: {folded} Flatten folded into a constant RESHAPE ({len(result)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
