"""Which layers lose the most in int8? TFLite's quantization debugger, asked when a model fails --max-accuracy-drop."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from convert import calibration
from convert.variants import tflite_converter


def layer_hints(
    saved_model: Path, calibration_images: np.ndarray, debug_images: np.ndarray, top: int = 3
) -> list[dict[str, Any]]:
    """The layers with the largest int8 error on ``debug_images``, from TFLite's quantization debugger.

    The error is the RMSE between float and int8 outputs of a layer divided by its quantization
    step (scale): ~0.29 is rounding alone (a uniform error of one step has RMSE 1/sqrt(12));
    several times that means the layer's range was badly calibrated or is hard to quantize.
    """
    import csv
    import io

    import tensorflow as tf

    converter = tflite_converter(saved_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = calibration.representative_dataset(calibration_images)
    with warnings.catch_warnings():  # it runs tf.lite.Interpreter, which warns that it is deprecated
        warnings.simplefilter("ignore")
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=calibration.representative_dataset(debug_images)
        )
        debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    rows = []
    for row in csv.DictReader(io.StringIO(dump.getvalue())):
        scale, rmse = float(row["scale"] or 0), float(np.sqrt(float(row["mean_squared_error"])))
        if not np.isfinite(rmse):
            rmse = float("inf")
        rows.append(
            {
                "layer": layer_name(row["tensor_name"]),
                "op": row["op_name"],
                "tensor": row["tensor_name"],
                "rmse": rmse,
                "rmse_per_scale": rmse / scale if scale > 0 else float("inf"),
            }
        )
    rows.sort(key=lambda r: -r["rmse_per_scale"])
    return rows[:top]


def layer_name(tensor: str) -> str:
    """'cnn_1/re_lu_1_2/Relu;cnn_1/conv2d_1_2/convolution;...' -> 'conv2d_1', the Keras layer's name.

    A fused op lists every layer folded into it; the one that holds weights names it best. The
    SavedModel export adds one '_<n>' to each name scope, which we take off again.
    """
    parts = [p.split(":")[0] for p in tensor.split(";")]
    main = next((p for p in parts if re.search(r"/(convolution|Conv2D|MatMul|depthwise)", p)), parts[0])
    scopes = main.split("/")
    name = scopes[-2] if len(scopes) >= 2 else scopes[0]
    return re.sub(r"_\d+$", "", name)


def hint_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    layers = ", ".join(f"{r['layer']} ({r['op']}, error {r['rmse_per_scale']:.2f} steps)" for r in rows)
    return (
        f"; layers to look at (quantization debugger, ideal ~0.29 steps): {layers}. "
        "Try more --calibration-samples, or keep the float or dynamic model"
    )
