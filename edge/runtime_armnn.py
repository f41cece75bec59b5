"""Arm NN (Debian's ``python3-pyarmnn``) behind the part of LiteRT's Interpreter API that
:class:`edge.runtime.Classifier` uses: the fallback for 32-bit Raspberry Pi OS (armhf), where
neither ai-edge-litert nor tflite-runtime has a wheel for Python 3.11 or later.

What Debian bookworm's pyarmnn (Arm NN 22.0 library, 20.08 bindings) can run, measured under
emulated armhf (scripts/check_pi_os.sh armhf): float32 files whose Flatten is one RESHAPE with a
constant shape, as mnist-convert writes them (convert/fold_flatten.py). A file converted before
mnist-convert did that has Keras' variable-batch Flatten, SHAPE included, which the TFLite parser
refuses (one clear error: convert it again). Quantized files (int8, int8 I/O, dynamic) make Arm NN
*abort the process* (a C assertion, no exception), so they are refused here, from the file's
tensor types, before Arm NN sees them. The network is built for the file's stored batch (1); a
batch of N runs N times.
Trixie's pyarmnn (Arm NN 23.08, tried on arm64) reads the SHAPE and fails on int8 with an
exception instead; the float32-only rule holds there too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .model_metadata import _Flatbuffer

FALLBACK_ADVICE = "use the float32 file (mnist_float32.tflite), or the 64-bit Raspberry Pi OS image"
# TFLite schema.fbs: Model.subgraphs is field 2, SubGraph.tensors field 0, Tensor.type field 1.
_MODEL_SUBGRAPHS, _SUBGRAPH_TENSORS, _TENSOR_TYPE = 2, 0, 1
_FLOAT32, _INT32 = 0, 2  # TensorType values; every other type is quantized or half precision
_TYPE_NAMES = {1: "float16", 3: "uint8", 7: "int16", 9: "int8"}


class ArmNNRefused(ValueError):
    """The file is one Arm NN 22 cannot run (or would abort on); the message says what to use."""


def tensor_types(data: bytes) -> set[int]:
    """The TensorType of every tensor in every subgraph of a .tflite flatbuffer."""
    fb = _Flatbuffer(data)
    types = set()
    for subgraph in fb.tables(fb.field(fb.root(), _MODEL_SUBGRAPHS)):
        for tensor in fb.tables(fb.field(subgraph, _SUBGRAPH_TENSORS)):
            at = fb.field(tensor, _TENSOR_TYPE)
            types.add(data[at] if at is not None else _FLOAT32)
    return types


def check_float32(path: Path) -> None:
    """Refuse a quantized or float16 file before Arm NN aborts on it."""
    others = tensor_types(path.read_bytes()) - {_FLOAT32, _INT32}
    if others:
        kinds = ", ".join(sorted(_TYPE_NAMES.get(t, f"type {t}") for t in others))
        raise ArmNNRefused(
            f"{path}: pyarmnn (Arm NN) runs float32 files only, this one has {kinds} tensors; Fix: {FALLBACK_ADVICE}"
        )


class ArmNNInterpreter:
    """A .tflite file in Arm NN, answering like ``ai_edge_litert.interpreter.Interpreter``.

    Backends: CpuAcc (Arm Compute Library's NEON kernels) where installed, else CpuRef (the reference
    kernels; Debian bookworm packages no CpuAcc for armhf, only ``libarmnn-cpuref-backend22``).
    ``num_threads`` is accepted and unused: Arm NN 22's Python bindings cannot set it.
    """

    def __init__(self, model_path: str, num_threads: int | None = None):
        path = Path(model_path)
        check_float32(path)  # first: Arm NN would abort the process on a quantized file
        import pyarmnn as ann

        self._ann = ann
        parser = ann.ITfLiteParser()
        try:
            network = parser.CreateNetworkFromBinaryFile(str(path))
        except RuntimeError as e:
            if "SHAPE" in str(e):
                raise ArmNNRefused(
                    f"{path}: pyarmnn (Arm NN 22) cannot read Keras' Flatten with a variable batch (operator "
                    "SHAPE), as converted by an older mnist-convert. Fix: run mnist-convert again (it now writes "
                    "Flatten as one RESHAPE) and use its mnist_float32.tflite; or the 64-bit Raspberry Pi OS image"
                ) from None
            raise
        (input_name,), (output_name,) = parser.GetSubgraphInputTensorNames(0), parser.GetSubgraphOutputTensorNames(0)
        self._input_binding = parser.GetNetworkInputBindingInfo(0, input_name)
        self._output_binding = parser.GetNetworkOutputBindingInfo(0, output_name)
        self._runtime = ann.IRuntime(ann.CreationOptions())
        available = {str(b) for b in self._runtime.GetDeviceSpec().GetSupportedBackends()}
        self.backends = [b for b in ("CpuAcc", "CpuRef") if b in available]
        if not self.backends:  # python3-pyarmnn does not depend on a backend package
            raise ArmNNRefused(
                f"{path}: Arm NN has no CPU backend installed. Fix: sudo apt install libarmnn-cpuref-backend22"
            )
        optimized, _ = ann.Optimize(
            network, [ann.BackendId(b) for b in self.backends], self._runtime.GetDeviceSpec(), ann.OptimizerOptions()
        )
        self._network_id, error = self._runtime.LoadNetwork(optimized)
        if error:
            raise RuntimeError(f"Arm NN could not load the network: {error}")
        self._input_shape = tuple(self._input_binding[1].GetShape())
        self._output_shape = tuple(self._output_binding[1].GetShape())
        self._batch = self._input_shape[0]
        self._input: np.ndarray = np.zeros(self._input_shape, np.float32)
        self._output: np.ndarray = np.zeros(self._output_shape, np.float32)

    def _details(self, shape: tuple[int, ...], index: int, name: str) -> list[dict[str, Any]]:
        shape_now = np.array([self._batch, *shape[1:]], np.int32)
        return [
            {
                "name": name,
                "index": index,
                "shape": shape_now,
                "shape_signature": shape_now,
                "dtype": np.float32,
                "quantization": (0.0, 0),
            }
        ]

    def get_input_details(self) -> list[dict[str, Any]]:
        return self._details(self._input_shape, 0, "input")

    def get_output_details(self) -> list[dict[str, Any]]:
        return self._details(self._output_shape, 1, "output")

    def allocate_tensors(self) -> None:
        """Nothing to do: Arm NN allocated the network's tensors when it loaded it."""

    def resize_tensor_input(self, index: int, shape: Any) -> None:
        self._batch = int(shape[0])

    def set_tensor(self, index: int, value: np.ndarray) -> None:
        self._input = np.ascontiguousarray(value, np.float32)

    def invoke(self) -> None:
        ann, rows = self._ann, []
        for row in self._input.reshape((-1, *self._input_shape[1:])):
            inputs = ann.make_input_tensors([self._input_binding], [row.reshape(self._input_shape)])
            outputs = ann.make_output_tensors([self._output_binding])
            self._runtime.EnqueueWorkload(self._network_id, inputs, outputs)
            rows.append(ann.workload_tensors_to_ndarray(outputs)[0].reshape(self._output_shape))
        self._output = np.concatenate(rows) if rows else np.zeros((0, *self._output_shape[1:]), np.float32)

    def get_tensor(self, index: int) -> np.ndarray:
        return self._output


def cores() -> int:
    """The thread count to report: Arm NN's CpuAcc backend uses every core."""
    return os.cpu_count() or 1
