"""The peer: the same trained model in ONNX Runtime, float32 and static int8, made as its users make it.

Export: Keras 3's own ``model.export(format="onnx")``, which drives tf2onnx's ``from_function``
(tf2onnx 1.17 on TF 2.21 / Keras 3 / NumPy 2 / protobuf 7). tf2onnx's ``from_keras`` fails on
Keras 3 models (``KeyError: 'keras_tensor_...'``, onnx/tensorflow-onnx#2448); its command line on
the SavedModel works too, but costs a second TensorFlow start.

int8: ONNX Runtime's static quantization in QDQ format, per-channel int8 weights, int8
activations, min/max calibration: the same scheme the TFLite converter uses, calibrated on the
same images (the balanced draw of training images recorded in manifest.json).
"""

from __future__ import annotations

import importlib.metadata
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from convert.calibration import DEFAULT_SAMPLES, balanced_indices
from edge.files import atomic_path
from edge.mnist_data import Split, load_split
from edge.model_info import Calibration, Manifest
from edge.preprocess import normalize
from train.defaults import SEED as DEFAULT_SEED
from train.tf_quiet import native_stderr_silenced

OPSET = 17  # QDQ per-channel needs >= 13; 17 is what current ONNX Runtime builds optimize best
PACKAGES = ("onnxruntime", "tf2onnx", "onnx")
INSTALL_ADVICE = "pip install -e '.[bench]' (onnxruntime, tf2onnx, onnx), or run with --no-onnx"


class PeerError(Exception):
    """The ONNX peer cannot be made; the message is one line with the fix."""


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def check_installed() -> None:
    missing = [name for name, v in versions().items() if v is None]
    if missing:
        raise PeerError(f"the ONNX Runtime peer needs {', '.join(missing)}: {INSTALL_ADVICE}")


def export_float(keras_path: Path, out_path: Path, verbose: bool = False) -> None:
    """model.keras -> a float32 .onnx file, written atomically."""
    import keras

    with native_stderr_silenced(not verbose):
        model = keras.saving.load_model(keras_path, compile=False)
        model(np.zeros((1, 28, 28, 1), np.float32))  # Keras' exporter refuses a model that was never called
        try:
            with atomic_path(out_path) as tmp:
                model.export(str(tmp), format="onnx", opset_version=OPSET, verbose=verbose)
        except Exception as e:  # tf2onnx raises many types; one line is what the user needs
            raise PeerError(
                f"{keras_path}: the ONNX export failed ({' '.join(str(e).split())[:200]}); {INSTALL_ADVICE}"
            ) from None


def calibration_images(manifest: Manifest, train: Split) -> tuple[np.ndarray, dict[str, Any]]:
    """The training images the converter calibrated the TFLite int8 models on, and how they were chosen."""
    recorded = manifest.calibration or Calibration()
    # "training images, balanced over classes": MNIST's training set, a draw we can repeat here.
    if (recorded.source or "").startswith("training images") and recorded.samples:
        samples, seed = recorded.samples, recorded.seed if recorded.seed is not None else DEFAULT_SEED
        note = "the converter's, from manifest.json"
    else:
        samples, seed = DEFAULT_SAMPLES, DEFAULT_SEED
        note = (
            "the converter's default draw (manifest.json records "
            f"{recorded.source or 'no calibration'!r}, which cannot be repeated here)"
        )
    picked = balanced_indices(train.labels, samples, seed=seed)
    return train.images[picked], {"source": "training images", "samples": len(picked), "seed": seed, "same_as": note}


def _reader(input_name: str, images: np.ndarray) -> Any:
    """ONNX Runtime's CalibrationDataReader: one normalized image per step, as the TFLite converter sees them."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            pixels = normalize(images)
            self._steps = iter([{input_name: pixels[i : i + 1]} for i in range(len(pixels))])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._steps, None)

    return Reader()


def quantize_int8(float_path: Path, out_path: Path, images: np.ndarray) -> None:
    """Static int8 (QDQ, per-channel, min/max calibration on ``images``), written atomically."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    input_name = ort.InferenceSession(str(float_path), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    with tempfile.TemporaryDirectory(prefix="mnist-bench-", dir=out_path.parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # ORT's recommended step before quantizing: shape inference and graph clean-up. ONNX's
        # own shape inference is enough for these models (the symbolic one would need sympy).
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        with atomic_path(out_path) as quantized:
            quantize_static(
                prepared,
                quantized,
                _reader(input_name, images),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )


def make_peer(
    keras_path: Path, out_dir: Path, dataset: str, manifest: Manifest, train: Split, verbose: bool = False
) -> dict[str, Any]:
    """Write ``<dataset>_float32.onnx`` and ``<dataset>_int8.onnx`` to ``out_dir``; returns how they were made."""
    check_installed()
    out_dir.mkdir(parents=True, exist_ok=True)
    float_path, int8_path = out_dir / f"{dataset}_float32.onnx", out_dir / f"{dataset}_int8.onnx"
    export_float(keras_path, float_path, verbose=verbose)
    images, calibration = calibration_images(manifest, train)
    try:
        with native_stderr_silenced(not verbose):
            quantize_int8(float_path, int8_path, images)
    except Exception as e:  # onnxruntime.quantization raises plain Exceptions
        raise PeerError(f"ONNX Runtime's int8 quantization failed ({' '.join(str(e).split())[:200]})") from None
    return {
        "files": {"float32": float_path, "int8": int8_path},
        "export": f"keras Model.export(format='onnx', opset_version={OPSET}) (tf2onnx from_function)",
        "quantization": "onnxruntime.quantization.quantize_static: QDQ, per-channel int8 weights, int8 activations, "
        "MinMax",
        "calibration": calibration,
        "opset": OPSET,
        **{f"{name}_version": v for name, v in versions().items()},
    }


def make_onnx(
    artifacts: Path, folder: Path, dataset: str, manifest: Manifest, data: Path, verbose: bool, progress: Any
) -> dict[str, Any]:
    """The ONNX Runtime peer's two files, made from model.keras and calibrated like the TFLite int8 files."""

    progress.task("ONNX: export (tf2onnx), int8 quantization", 2)
    train = load_split(data, "train")
    peer = make_peer(artifacts / "model.keras", folder, dataset, manifest, train, verbose=verbose)
    progress.done()
    return peer
