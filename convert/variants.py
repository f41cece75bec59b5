"""The .tflite variants mnist-convert makes, and how the TFLite converter makes each one.

TensorFlow is imported inside the functions, so that the command line can quiet it first
(train/tf_quiet.py) and ``--help`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convert import calibration


class ConvertError(Exception):
    """Bad input or a failed conversion; the message is one line naming the problem and the fix."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message (TensorFlow's run to pages), at most 200 characters."""
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


@dataclass(frozen=True)
class Variant:
    name: str
    quantize: str  # none | float16 | dynamic | int8
    io: str  # the model's input/output type: float | int8 | uint8
    summary: str


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("float32", "none", "float", "float32 weights and math; the reference"),
        Variant("float16", "float16", "float", "float16 weights, float32 math; half the size"),
        Variant("dynamic", "dynamic", "float", "int8 weights, activations quantized on the fly"),
        Variant("int8", "int8", "int8", "full integer, int8 input and output"),
        Variant("int8_float_io", "int8", "float", "full integer inside, float input and output"),
        Variant("int8_uint8_io", "int8", "uint8", "full integer, uint8 input and output (some accelerators)"),
    )
}
ALL_VARIANTS = tuple(VARIANTS)
QUANTIZE_CHOICES = ("none", "float16", "dynamic", "int8", "all")
IO_CHOICES = ("float", "int8", "uint8", "all")


def variant_names(quantize: str = "none", io: str = "int8") -> list[str]:
    """The variants that ``--quantize`` and ``--io`` ask for; --io applies to int8 models only."""
    ios = ["int8", "float", "uint8"] if io == "all" else [io]
    int8 = [{"int8": "int8", "float": "int8_float_io", "uint8": "int8_uint8_io"}[i] for i in ios]
    if quantize == "all":
        return ["float32", "float16", "dynamic", *int8]
    if quantize == "int8":
        return int8
    return [{"none": "float32", "float16": "float16", "dynamic": "dynamic"}[quantize]]


def output_name(dataset: str, variant: str) -> str:
    return f"{dataset}_{variant}.tflite"


# --- conversion -----------------------------------------------------------------------------


def convert_variant(saved_model: Path, variant: str, calibration_images: np.ndarray | None = None) -> bytes:
    """The .tflite flatbuffer of one variant. int8 variants need ``calibration_images`` (uint8, N x 28 x 28)."""
    import tensorflow as tf

    spec = VARIANTS[variant]
    converter = tflite_converter(saved_model)
    if spec.quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if spec.quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if spec.quantize == "int8":
        if calibration_images is None or len(calibration_images) == 0:
            raise ConvertError(f"{variant}: full-integer quantization needs calibration images")
        converter.representative_dataset = calibration.representative_dataset(calibration_images)
        # All ops int8: conversion fails loudly instead of silently leaving float ops behind.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_type = {"float": tf.float32, "int8": tf.int8, "uint8": tf.uint8}[spec.io]
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type
    try:
        return converter.convert()
    except Exception as e:  # the converter raises ConverterError, ValueError, RuntimeError...
        raise ConvertError(
            f"{variant}: the TFLite converter failed ({first_line(e)}); rerun with --verbose to see its log"
        ) from None


def tflite_converter(saved_model: Path) -> Any:
    import tensorflow as tf

    try:  # Keras' export has two identical signatures; convert one
        return tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=["serving_default"])
    except ValueError:  # a SavedModel without that signature: let the converter pick
        return tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
