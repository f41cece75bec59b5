"""What a .tflite file holds and what its quantization means, from synthetic flatbuffers and tensor details.

The flatbuffers are built here with LiteRT's own schema (no converter, no TensorFlow): a graph is
whatever the test says it is, so the reader and TFLite Micro's refusals are checked exactly.
"""

from __future__ import annotations

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from convert import micro
from convert.tflite_file import TfliteFileError, read_tflite, tensor_info

T = schema.TensorType


def tflite_bytes(operators, metadata=None):
    """A model whose graph runs ``operators``: (BuiltinOperator, version, [input TensorType...]) each."""
    model = schema.ModelT()
    model.version = 3
    model.buffers = [schema.BufferT()]
    codes, graph = [], schema.SubGraphT()
    graph.tensors, graph.operators = [], []
    for builtin, version, input_types in operators:
        code = schema.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), version
        codes.append(code)
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = len(codes) - 1, [], []
        for kind in input_types:
            tensor = schema.TensorT()
            tensor.type, tensor.shape, tensor.buffer = kind, [1], 0
            op.inputs.append(len(graph.tensors))
            graph.tensors.append(tensor)
        graph.operators.append(op)
    model.operatorCodes, model.subgraphs = codes, [graph]
    model.metadata = []
    for key, value in (metadata or {}).items():
        buffer = schema.BufferT()
        buffer.data = list(value.encode() + b"\0")
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = key, len(model.buffers) - 1
        model.metadata.append(entry)
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


OPS = schema.BuiltinOperator
INT8_CNN = [
    (OPS.CONV_2D, 3, [T.INT8, T.INT8, T.INT32]),
    (OPS.MAX_POOL_2D, 2, [T.INT8]),
    (OPS.CONV_2D, 3, [T.INT8, T.INT8, T.INT32]),
    (OPS.SOFTMAX, 2, [T.INT8]),
]


def test_operators_in_order_with_versions_input_types_and_metadata():
    parsed = read_tflite(tflite_bytes(INT8_CNN, {"min_runtime_version": "1.14.0"}))
    assert parsed.operator_names == ["CONV_2D", "MAX_POOL_2D", "SOFTMAX"]
    assert [op.index for op in parsed.operators] == [0, 1, 2, 3]
    assert parsed.operators[0].input_types == ("INT8", "INT8", "INT32")
    assert ("CONV_2D", 3) in parsed.operator_codes
    assert parsed.metadata == {"min_runtime_version": "1.14.0"}


def test_operator_codes_above_127_are_read_from_the_wide_field():
    parsed = read_tflite(tflite_bytes([(OPS.GELU, 1, [T.FLOAT32])]))
    assert OPS.GELU > 127 and parsed.operator_names == ["GELU"]


def test_garbage_is_one_line():
    with pytest.raises(TfliteFileError) as error:
        read_tflite(b"\xff" * 3)
    assert "\n" not in str(error.value) and "not a TFLite model" in str(error.value)


def test_tflite_micro_refuses_float16_and_hybrid_graphs_by_their_types():
    assert micro.unsupported(tflite_bytes(INT8_CNN)) is None
    assert micro.operators(tflite_bytes(INT8_CNN)) == ["CONV_2D", "MAX_POOL_2D", "SOFTMAX"]
    op, node, why = micro.unsupported(tflite_bytes([(OPS.DEQUANTIZE, 1, [T.FLOAT16])]))
    assert (op, node) == ("DEQUANTIZE", 0) and "float16" in why
    op, node, why = micro.unsupported(tflite_bytes([INT8_CNN[1], (OPS.FULLY_CONNECTED, 12, [T.FLOAT32, T.INT8])]))
    assert (op, node) == ("FULLY_CONNECTED", 1) and "hybrid" in why


def test_resolver_calls_follow_the_operator_names():
    assert [micro.resolver_call(n) for n in ("CONV_2D", "MAX_POOL_2D", "PADV2")] == [
        "AddConv2D()",
        "AddMaxPool2D()",
        "AddPadV2()",
    ]
    assert micro.resolver_code(["SOFTMAX"]) == [
        "static tflite::MicroMutableOpResolver<1> resolver;",
        "resolver.AddSoftmax();",
    ]


def detail(dtype, scale=0.0, zero_point=0):
    return {
        "name": "x",
        "dtype": dtype,
        "shape": np.array([1, 28, 28, 1]),
        "shape_signature": np.array([-1, 28, 28, 1]),
        "quantization": (scale, zero_point),
    }


def test_tensor_info_records_scale_and_zero_point_of_quantized_tensors_only():
    assert tensor_info(detail(np.float32))["quantization"] is None
    info = tensor_info(detail(np.int8, 1 / 255, -128))
    assert info == {
        "name": "x",
        "dtype": "int8",
        "shape": [-1, 28, 28, 1],
        "quantization": {"scale": pytest.approx(1 / 255), "zero_point": -128},
    }
    assert tensor_info(detail(np.uint8, 1 / 255, 0), batch=1)["shape"] == [1, 28, 28, 1]


def test_header_notes_write_out_the_quantization_arithmetic():
    report = {
        "arena_bytes": 28_000,
        "arena_activation_bytes": 20_000,
        "arena_persistent_bytes": 8_000,
        "input": tensor_info(detail(np.int8, 1 / 255, -128), batch=1),
        "output": tensor_info(detail(np.int8, 1 / 256, -128), batch=1),
        "operators": ["CONV_2D"],
    }
    notes = "\n".join(micro.header_notes(report))
    # int8 input: x in [0, 1] -> q = round(x / scale) + zero_point, so zero point -128 reads "- 128".
    assert "Input:  int8 1x28x28x1, x = pixel / 255 (white digit on black), q = round(x / 0.0039215686) - 128" in notes
    assert "Output: int8 1x28x28x1, x = probability of each class, x = (q + 128) * 0.00390625" in notes
    assert "28,000 bytes" in notes and "resolver.AddConv2D();" in notes
    float_report = {**report, "input": tensor_info(detail(np.float32), batch=1)}
    assert "Input:  float32 1x28x28x1, x = pixel / 255 (white digit on black)\n" in "\n".join(
        micro.header_notes(float_report)
    )
