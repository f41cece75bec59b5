"""Multiply-accumulates per image: the work a model does, to read latency and size against.

Counted on the Keras graph, layer by layer: convolutions (plain, depthwise, separable) and dense
layers, the operations that take nearly all of an inference. BatchNorm is left out because the
converter folds it into the convolution before it; pooling, activations and softmax are comparisons
and additions, not multiply-accumulates. The .tflite files of a model do the same work, whatever
their number format, so metrics.json's figure holds for each of them (mnist-convert copies it into
the manifest).
"""

from __future__ import annotations

import math
from typing import Any


def multiply_accumulates(model: Any) -> int:
    """Multiply-accumulates for one image through ``model`` (a built Keras model)."""
    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:  # a nested model
            total += multiply_accumulates(layer)
        else:
            total += _layer_macs(layer)
    return total


def _layer_macs(layer: Any) -> int:
    kind = type(layer).__name__
    if kind not in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense"):
        return 0
    inputs = layer.input.shape[1:]
    outputs = math.prod(layer.output.shape[1:-1])  # positions per image the kernel is applied at
    if kind == "Dense":
        return outputs * inputs[-1] * layer.units
    kernel = math.prod(layer.kernel_size)
    channels = inputs[-1]
    if kind == "Conv2D":
        return outputs * kernel * channels // layer.groups * layer.filters
    depthwise = outputs * kernel * channels * layer.depth_multiplier
    if kind == "DepthwiseConv2D":
        return depthwise
    return depthwise + outputs * channels * layer.depth_multiplier * layer.filters  # separable: then pointwise
