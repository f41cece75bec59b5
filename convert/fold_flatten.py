"""Keras' Flatten as one RESHAPE with a constant shape, in every file mnist-convert writes.

With a variable batch, the TFLite converter turns Flatten into SHAPE -> STRIDED_SLICE -> PACK ->
RESHAPE: the batch size read at run time. Debian bookworm's Arm NN 22 TFLite parser (the runtime
of 32-bit Raspberry Pi OS, edge/runtime_armnn.py) has no SHAPE and refuses such a file. The same
RESHAPE with the constant shape ``[-1, N]`` means the same (-1: whatever the batch is), so LiteRT
keeps the variable batch and gives the same outputs, bit for bit, and Arm NN parses the file. The
three operators, the tensors and constants only they used, and their operator codes are removed,
so the file gets a little smaller; every other part (weights, quantization, metadata, signatures)
is kept as it is. A graph without that pattern (``tiny``: no Flatten) comes back byte for byte.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_CHAIN = ("SHAPE", "STRIDED_SLICE", "PACK")  # what feeds a variable-batch Flatten's RESHAPE its shape


def fold_flatten(flatbuffer: bytes) -> tuple[bytes, int]:
    """``flatbuffer`` with every Flatten pattern's RESHAPE given a constant shape, and how many were folded."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    folded = 0
    for graph_index, graph in enumerate(model.subgraphs or []):
        names = [flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) for op in graph.operators or []]
        dropped: set[int] = set()
        for i, op in enumerate(graph.operators or []):
            chain = _flatten_chain(model, graph_index, names, i)
            if chain is None:
                continue
            # The PACK's output becomes a constant: the RESHAPE reads the same tensor, now with data.
            shape_tensor = graph.tensors[op.inputs[1]]
            buffer = schema.BufferT()
            buffer.data = np.array([-1, *graph.tensors[op.outputs[0]].shape[1:]], "<i4").view(np.uint8)
            model.buffers.append(buffer)
            shape_tensor.buffer = len(model.buffers) - 1
            dropped.update(chain)
            folded += 1
        if dropped:
            _drop_operators(model, graph_index, dropped)
    if not folded:
        return flatbuffer, 0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), folded


def _flatten_chain(model: Any, graph_index: int, names: list[str], i: int) -> list[int] | None:
    """The SHAPE, STRIDED_SLICE and PACK feeding RESHAPE ``i`` its shape, if that is Flatten's pattern."""
    graph = model.subgraphs[graph_index]
    op = graph.operators[i]
    if names[i] != "RESHAPE" or op.inputs is None or len(op.inputs) < 2:
        return None
    out = graph.tensors[op.outputs[0]].shape
    if out is None or len(out) != 2 or out[1] < 1:
        return None
    producer = {t: j for j, o in enumerate(graph.operators) for t in o.outputs}
    chain, tensor = [], op.inputs[1]
    for name in reversed(_CHAIN):  # PACK, STRIDED_SLICE, SHAPE: each one's first input is made by the next
        j = producer.get(tensor)
        if j is None or names[j] != name:
            return None
        chain.append(j)
        tensor = graph.operators[j].inputs[0]
    if tensor != op.inputs[0]:
        return None  # SHAPE reads another tensor than the one reshaped: not Flatten
    outputs = {t for j in chain for t in graph.operators[j].outputs}
    readers = [t for j, o in enumerate(graph.operators) if j not in chain and j != i for t in o.inputs]
    if outputs & (set(readers) | set(graph.outputs) | _signature_tensors(model, graph_index)):
        return None  # something else reads the batch size: leave the graph alone
    return chain


def _signature_tensors(model: Any, graph_index: int) -> set[int]:
    """The tensors of subgraph ``graph_index`` that a signature names."""
    return {
        t.tensorIndex
        for s in model.signatureDefs or []
        if s.subgraphIndex == graph_index
        for t in [*(s.inputs or []), *(s.outputs or [])]
    }


def _drop_operators(model: Any, graph_index: int, dropped: set[int]) -> None:
    """Remove operators ``dropped`` of one subgraph, then the tensors, buffers and operator codes only they used."""
    graph = model.subgraphs[graph_index]
    gone = [graph.operators[i] for i in sorted(dropped)]
    graph.operators = [op for i, op in enumerate(graph.operators) if i not in dropped]
    _remove_tensors(model, graph_index, {t for op in gone for t in [*op.inputs, *op.outputs] if t >= 0})
    _remove_operator_codes(model, {op.opcodeIndex for op in gone})


def _tensor_lists(model: Any, graph_index: int) -> list[Any]:
    """Every list of tensor indices in subgraph ``graph_index``, to read and to renumber."""
    graph = model.subgraphs[graph_index]
    lists = [graph.inputs, graph.outputs, *(ts for op in graph.operators for ts in (op.inputs, op.outputs))]
    lists += [op.intermediates for op in graph.operators]
    return [ts for ts in lists if ts is not None]


def _remove_tensors(model: Any, graph_index: int, candidates: set[int]) -> None:
    """Remove the ``candidates`` no operator, graph input/output or signature uses any more; renumber the rest."""
    graph = model.subgraphs[graph_index]
    used = {int(t) for ts in _tensor_lists(model, graph_index) for t in ts} | _signature_tensors(model, graph_index)
    unused = candidates - used
    if not unused:
        return
    buffers = {graph.tensors[i].buffer for i in unused}
    graph.tensors, new_index = _without(graph.tensors, unused)
    for ts in _tensor_lists(model, graph_index):
        ts[:] = [new_index[int(t)] if t >= 0 else t for t in ts]
    for signature in model.signatureDefs or []:
        if signature.subgraphIndex == graph_index:
            for t in [*(signature.inputs or []), *(signature.outputs or [])]:
                t.tensorIndex = new_index[t.tensorIndex]
    _remove_buffers(model, buffers)


def _remove_buffers(model: Any, candidates: set[int]) -> None:
    """Remove the ``candidates`` no tensor or metadata entry points at (never buffer 0, the empty one)."""
    used = {t.buffer for g in model.subgraphs for t in g.tensors}
    used |= {m.buffer for m in model.metadata or []} | set(model.metadataBuffer or [])
    unused = {b for b in candidates if b != 0} - used
    if not unused:
        return
    model.buffers, new_index = _without(model.buffers, unused)
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            tensor.buffer = new_index[tensor.buffer]
    for entry in model.metadata or []:
        entry.buffer = new_index[entry.buffer]
    if model.metadataBuffer is not None:
        model.metadataBuffer = [new_index[b] for b in model.metadataBuffer]


def _remove_operator_codes(model: Any, candidates: set[int]) -> None:
    """Remove the ``candidates`` no operator uses any more; renumber the operators' codes."""
    used = {op.opcodeIndex for g in model.subgraphs for op in g.operators}
    unused = candidates - used
    if not unused:
        return
    model.operatorCodes, new_index = _without(model.operatorCodes, unused)
    for graph in model.subgraphs:
        for op in graph.operators:
            op.opcodeIndex = new_index[op.opcodeIndex]


def _without(items: list[Any], unused: set[int]) -> tuple[list[Any], dict[int, int]]:
    """``items`` less the indices ``unused``, and where each kept item moved (old index -> new index)."""
    kept = [i for i in range(len(items)) if i not in unused]
    return [items[i] for i in kept], {old: new for new, old in enumerate(kept)}
