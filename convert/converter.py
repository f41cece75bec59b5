"""SavedModel (or .keras) -> float32, float16, dynamic-range and int8 .tflite files, each one checked.

Every file is evaluated on the full test set in LiteRT with the edge runner's own preprocessing
(edge.runtime.Classifier), compared with the float32 model, checked in every runtime we can
reach, and described in manifest.json. TensorFlow is imported lazily so that the CLI can
silence it first (train/tf_quiet.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from convert import calibration, compat, manifest
from convert.calibration import DEFAULT_SAMPLES
from edge.mnist_data import Split
from edge.preprocess import INPUT_SHAPE
from edge.runtime import Classifier
from train.files import write_atomic
from train.tf_quiet import native_stderr_silenced


class ConvertError(Exception):
    """Bad input or a failed conversion; the message is one line naming the problem and the fix."""


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


# --- the model given by the user ------------------------------------------------------------


@dataclass
class ModelSource:
    """The model to convert, as a SavedModel folder, with what mnist-train wrote beside it."""

    path: Path  # what the user gave
    saved_model: Path  # a SavedModel folder (a temporary export for a .keras file)
    artifacts: Path  # the training output folder: default --out, where metrics.json lives
    metrics: dict[str, Any] = field(default_factory=dict)


def _check_input_spec(shape: Sequence[int | None], dtype: str, where: Path) -> None:
    if len(shape) != 4 or tuple(shape[1:]) != INPUT_SHAPE:
        dims = "x".join("N" if d is None else str(d) for d in shape)
        raise ConvertError(
            f"{where}: the model's input is {dims}, not Nx28x28x1; mnist-convert takes digit classifiers "
            "made by mnist-train (float pixels in [0, 1], shape 28x28x1)"
        )
    if dtype != "float32":
        raise ConvertError(
            f"{where}: the model's input is {dtype}, not float32; export the float model from mnist-train"
        )


def _saved_model_signature(folder: Path) -> Any:
    import tensorflow as tf  # noqa: PLC0415

    try:
        loaded = tf.saved_model.load(str(folder))
    except Exception as e:  # TF raises many types for a damaged SavedModel
        raise ConvertError(
            f"{folder}: cannot load this SavedModel ({_first_line(e)}); export it again with mnist-train"
        ) from None
    signatures = dict(loaded.signatures)
    if not signatures:
        raise ConvertError(f"{folder}: the SavedModel has no serving signature; export it with mnist-train")
    function = signatures.get("serving_default") or next(iter(signatures.values()))
    inputs = function.structured_input_signature[1]
    if len(inputs) != 1:
        raise ConvertError(f"{folder}: the model has {len(inputs)} inputs; mnist-convert takes one-input classifiers")
    spec = next(iter(inputs.values()))
    _check_input_spec(spec.shape.as_list(), spec.dtype.name, folder)
    return function


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def _read_metrics(folder: Path) -> dict[str, Any]:
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ConvertError(f"{folder / 'metrics.json'}: cannot read it ({e}); fix or delete it") from None
    return metrics if isinstance(metrics, dict) else {}


@contextlib.contextmanager
def open_model(path: str | Path, verbose: bool = False) -> Iterator[ModelSource]:
    """Check the user's model and yield it as a SavedModel; a .keras file is exported to a temp folder."""
    import tensorflow as tf  # noqa: PLC0415

    path = Path(path).expanduser()
    if not path.exists():
        raise ConvertError(
            f"{path}: no such file or folder; give --model a SavedModel folder or a .keras file (run mnist-train first)"
        )
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        raise ConvertError(f"{path}: cannot read it (permission denied); check its permissions")
    if path.is_dir():
        if not tf.saved_model.contains_saved_model(str(path)):
            hint = " (did you mean its saved_model/ folder?)" if (path / "saved_model").is_dir() else ""
            raise ConvertError(
                f"{path}: not a SavedModel folder (no saved_model.pb){hint}; "
                "give the saved_model/ folder that mnist-train writes, or a .keras file"
            )
        with native_stderr_silenced(not verbose):
            _saved_model_signature(path)
        yield ModelSource(path, path, path.parent, _read_metrics(path.parent))
        return
    if path.suffix != ".keras":
        raise ConvertError(
            f"{path}: not a SavedModel folder or a .keras file; give --model one of those (mnist-train writes both)"
        )
    if not zipfile.is_zipfile(path):
        raise ConvertError(
            f"{path}: not a .keras file (a .keras file is a zip archive); save the model again with model.save()"
        )
    import keras  # noqa: PLC0415

    try:
        with native_stderr_silenced(not verbose):
            model = keras.saving.load_model(path, compile=False)
    except Exception as e:  # a damaged zip, missing custom objects, a file of another format...
        raise ConvertError(
            f"{path}: cannot load this .keras file ({_first_line(e)}); save it again with model.save()"
        ) from None
    if len(model.inputs) != 1:
        raise ConvertError(f"{path}: {len(model.inputs)} inputs; mnist-convert takes one-input classifiers")
    _check_input_spec(list(model.inputs[0].shape), str(model.inputs[0].dtype), path)
    with tempfile.TemporaryDirectory(prefix="mnist-convert-") as tmp:
        export = Path(tmp) / "saved_model"
        with native_stderr_silenced(not verbose):
            model.export(str(export), format="tf_saved_model", verbose=False)
        yield ModelSource(path, export, path.parent, _read_metrics(path.parent))


# --- conversion -----------------------------------------------------------------------------


def convert_variant(saved_model: Path, variant: str, calibration_images: np.ndarray | None = None) -> bytes:
    """The .tflite flatbuffer of one variant. int8 variants need ``calibration_images`` (uint8, N x 28 x 28)."""
    import tensorflow as tf  # noqa: PLC0415

    spec = VARIANTS[variant]
    converter = _converter(saved_model)
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
            f"{variant}: the TFLite converter failed ({_first_line(e)}); rerun with --verbose to see its log"
        ) from None


def _converter(saved_model: Path) -> Any:
    import tensorflow as tf  # noqa: PLC0415

    try:  # Keras' export has two identical signatures; convert one
        return tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=["serving_default"])
    except ValueError:  # a SavedModel without that signature: let the converter pick
        return tf.lite.TFLiteConverter.from_saved_model(str(saved_model))


def check_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` if needed and prove we can write there, before any work is done."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".mnist-convert-", suffix=".tmp"):
            pass
    except OSError as e:
        raise ConvertError(
            f"{out_dir}: cannot write there ({e.strerror or e}); choose another folder with --out"
        ) from None


# --- evaluation -----------------------------------------------------------------------------


def evaluate(
    model_path: Path, test: Split, progress: bool = False, label: str = "", chunk: int = 1000, quiet: bool = True
) -> float:
    """Top-1 accuracy (0..1) of a .tflite file on ``test``, in LiteRT, as the edge runner computes it."""
    from tqdm.auto import tqdm  # noqa: PLC0415

    with native_stderr_silenced(quiet):  # LiteRT announces its XNNPACK delegate on the first run
        classifier = Classifier(model_path)
        classifier.predict(test.images[:1])
    correct = 0
    bar = tqdm(total=len(test.labels), desc=f"evaluating {label}".strip(), unit="img", disable=None if progress else True,
               leave=False, file=sys.stderr)
    with bar:
        for start in range(0, len(test.labels), chunk):
            probabilities = classifier.predict(test.images[start : start + chunk])
            correct += int((probabilities.argmax(axis=1) == test.labels[start : start + chunk]).sum())
            bar.update(len(probabilities))
    return correct / len(test.labels)


def layer_hints(saved_model: Path, calibration_images: np.ndarray, debug_images: np.ndarray, top: int = 3
                ) -> list[dict[str, Any]]:
    """The layers with the largest int8 error on ``debug_images``, from TFLite's quantization debugger.

    The error is the RMSE between float and int8 outputs of a layer divided by its quantization
    step (scale): ~0.29 is rounding alone (a uniform error of one step has RMSE 1/sqrt(12));
    several times that means the layer's range was badly calibrated or is hard to quantize.
    """
    import csv  # noqa: PLC0415
    import io  # noqa: PLC0415

    import tensorflow as tf  # noqa: PLC0415

    converter = _converter(saved_model)
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
        rows.append({
            "layer": _layer_name(row["tensor_name"]),
            "op": row["op_name"],
            "tensor": row["tensor_name"],
            "rmse": rmse,
            "rmse_per_scale": rmse / scale if scale > 0 else float("inf"),
        })
    rows.sort(key=lambda r: -r["rmse_per_scale"])
    return rows[:top]


def _layer_name(tensor: str) -> str:
    """'cnn_1/re_lu_1_2/Relu;cnn_1/conv2d_1_2/convolution;...' -> 'conv2d_1', the Keras layer's name.

    A fused op lists every layer folded into it; the one that holds weights names it best. The
    SavedModel export adds one '_<n>' to each name scope, which we take off again.
    """
    parts = [p.split(":")[0] for p in tensor.split(";")]
    main = next((p for p in parts if re.search(r"/(convolution|Conv2D|MatMul|depthwise)", p)), parts[0])
    scopes = main.split("/")
    name = scopes[-2] if len(scopes) >= 2 else scopes[0]
    return re.sub(r"_\d+$", "", name)


# --- all together ---------------------------------------------------------------------------


@dataclass
class Conversion:
    """What one run wrote: the manifest (as written) and the failures, one line each."""

    out_dir: Path
    manifest_path: Path
    manifest: dict[str, Any]
    failures: list[str]
    variants: list[str]  # the ones this run converted, in table order
    test: Split | None = None  # the images the files were evaluated on (None if the run needed none)

    @property
    def models(self) -> list[dict[str, Any]]:
        """The manifest entries of this run's files (earlier, untouched files are left out)."""
        return [m for m in self.manifest["models"] if m["variant"] in self.variants]


def convert_all(
    model: str | Path,
    out_dir: str | Path | None = None,
    *,
    variants: Sequence[str] = ALL_VARIANTS,
    data_dir: str | Path | None = None,
    dataset: str | None = None,
    calibration_samples: int = DEFAULT_SAMPLES,
    calibration_images: np.ndarray | None = None,
    evaluate_models: bool = True,
    max_accuracy_drop: float | None = None,
    check_pythons: Sequence[str] = (),
    progress: bool = True,
    verbose: bool = False,
    seed: int = 0,
    skip_bad_images: bool = False,
) -> Conversion:
    """Convert ``model`` (SavedModel folder or .keras file) into ``variants`` in ``out_dir``, plus manifest.json.

    ``out_dir`` defaults to the training output folder (the model's parent). ``calibration_images``
    (uint8, N x 28 x 28) replaces the balanced draw of ``calibration_samples`` training images.
    A quantized model that loses more than ``max_accuracy_drop`` points against float32 is kept,
    marked "failed" in the manifest and listed in ``Conversion.failures``.
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    from train.data import CLASS_NAMES, load_training_data  # noqa: PLC0415

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ConvertError(f"unknown variant {', '.join(unknown) or '(none)'}; choose from {', '.join(VARIANTS)}")
    if calibration_samples < 1:
        raise ConvertError(f"--calibration-samples must be at least 1, not {calibration_samples}")
    if max_accuracy_drop is not None and not evaluate_models:
        raise ConvertError("--max-accuracy-drop needs the accuracy; leave out --no-evaluate")
    if max_accuracy_drop is not None and not max_accuracy_drop >= 0:
        raise ConvertError(f"--max-accuracy-drop must be 0 or more points, not {max_accuracy_drop}")
    variants = [v for v in ALL_VARIANTS if v in variants]
    for python in check_pythons:  # a wrong path should fail now, not after the conversion
        compat.check_in_python(python, [])

    def say(text: str) -> None:
        if progress:
            tqdm.write(text, file=sys.stderr)  # stdout is for the table

    def quiet() -> contextlib.AbstractContextManager[None]:
        return native_stderr_silenced(not verbose)

    with quiet():  # TF's import prints C++ lines whatever TF_CPP_MIN_LOG_LEVEL says
        import tensorflow as tf  # noqa: PLC0415

    with open_model(model, verbose=verbose) as source:
        out = Path(out_dir).expanduser() if out_dir is not None else source.artifacts
        check_out_dir(out)
        dataset = dataset or str(source.metrics.get("dataset", "mnist"))
        if dataset not in CLASS_NAMES:
            raise ConvertError(
                f"unknown dataset {dataset!r} (from {source.artifacts / 'metrics.json'}); "
                f"choose one of {', '.join(CLASS_NAMES)}"
            )
        class_names = [str(c) for c in source.metrics.get("class_names", CLASS_NAMES[dataset])]
        trained_on = source.metrics.get("data") or {}
        mix = False
        if data_dir is None and trained_on.get("image_folder"):  # trained on your photos: judge and calibrate on them
            data_dir, mix = trained_on["image_folder"], bool(trained_on.get("mixed_with"))

        needs_int8 = any(VARIANTS[v].quantize == "int8" for v in variants)
        train = test = None
        if evaluate_models or (needs_int8 and calibration_images is None):
            data = load_training_data(dataset, data_dir, mix=mix, class_names=class_names,
                                      skip_bad_images=skip_bad_images, progress=progress)
            train, test = data.train, data.test
        calibration_info = None
        if needs_int8 and calibration_images is None:
            picked = calibration.balanced_indices(train.labels, calibration_samples, seed=seed)
            calibration_images = train.images[picked]
            per_class = np.bincount(train.labels[picked], minlength=len(class_names))
            folder = data.source.get("image_folder")
            where = f"training part of {folder}" if folder else "training images"
            calibration_info = {"source": f"{where}, balanced over classes", "samples": len(picked),
                                "seed": seed, "per_class": per_class.tolist()}
        elif needs_int8:
            calibration_images = np.asarray(calibration_images, dtype=np.uint8).reshape(-1, 28, 28)
            calibration_info = {"source": "images given by the caller", "samples": len(calibration_images)}

        entries: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory(prefix="mnist-convert-") as tmp:
            # float32 is the yardstick for size and accuracy, so it is made even when not asked for.
            for name in ["float32", *(v for v in variants if v != "float32")]:
                spec = VARIANTS[name]
                path = out / output_name(dataset, name) if name in variants else Path(tmp) / output_name(dataset, name)
                calibrating = f" (calibrating on {len(calibration_images)} images)" if spec.quantize == "int8" else ""
                say(f"converting {name}{calibrating}...")
                with quiet():
                    data = convert_variant(source.saved_model, name, calibration_images)
                write_atomic(path, data)
                entry = {"variant": name, **manifest.describe(path), "summary": spec.summary}
                if evaluate_models:
                    entry["accuracy"] = evaluate(path, test, progress=progress, label=name, quiet=not verbose)
                if name == "float32":
                    reference = {"variant": "float32", "bytes": entry["bytes"], "accuracy": entry.get("accuracy")}
                if name in variants:
                    entries.append(entry)

        _apply_guard(entries, reference, max_accuracy_drop)
        failed = [e for e in entries if e["status"] == "failed"]
        if any(VARIANTS[e["variant"]].quantize == "int8" for e in failed):
            say("asking TFLite's quantization debugger which layers lose the most...")
            # Real digits, not the calibration set: what fails is how the model meets real data.
            debug = train.images[calibration.balanced_indices(train.labels, 100, seed=seed + 1)]
            with quiet():
                hints = layer_hints(source.saved_model, calibration_images, debug)
            for entry in failed:
                if VARIANTS[entry["variant"]].quantize == "int8":
                    entry["worst_layers"] = hints
        failures = [f"{e['file']}: {e['failure']}{_hint_text(e.get('worst_layers', []))}" for e in failed]

        say("checking which runtimes load each file...")
        _check_runtimes(entries, out, check_pythons, quiet)

        header = {
            "format": manifest.FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source": {"model": str(source.path.resolve()), "keras_test_accuracy": source.metrics.get("test_accuracy")},
            "dataset": dataset,
            "class_names": class_names,
            "preprocessing": manifest.PREPROCESSING,
            "tensorflow": tf.__version__,
            "reference": reference,
            "calibration": calibration_info,
            "evaluated_on": f"{len(test.labels)} test images" if evaluate_models else None,
        }
        for entry in entries:  # each entry stands alone: a device may read only its own
            entry.update(class_names=class_names, preprocessing=manifest.PREPROCESSING["function"],
                         tensorflow=tf.__version__, source=header["source"]["model"])
        written = manifest.merged(out, header, entries)
        path = manifest.write(out, written)
    return Conversion(out, path, written, failures, variants, test)


def _apply_guard(entries: list[dict[str, Any]], reference: dict[str, Any], max_drop: float | None) -> None:
    """Fill in size ratio and accuracy change; mark the models that lost more than ``max_drop`` points."""
    for entry in entries:
        entry["ratio_to_float32"] = entry["bytes"] / reference["bytes"]
        entry["status"] = "ok"
        if entry.get("accuracy") is None:
            continue
        change = 100 * (entry["accuracy"] - reference["accuracy"])
        entry["accuracy_change_points"] = round(change, 4)
        if max_drop is not None and entry["variant"] != "float32" and -change > max_drop + 1e-9:
            entry["status"] = "failed"
            entry["failure"] = f"loses {-change:.2f} points against float32, more than --max-accuracy-drop {max_drop:g}"


def _check_runtimes(entries: list[dict[str, Any]], out: Path, pythons: Sequence[str], quiet: Any) -> None:
    """entry["runtimes"]: {"ai_edge_litert 2.3.0": {"loads": True, ...}, ...} for each runtime reachable."""
    runtimes = compat.available_runtimes()
    for entry in entries:
        entry["runtimes"] = {}
        for runtime in runtimes:
            with quiet():
                result = compat.check(out / entry["file"], runtime)
            entry["runtimes"][compat.runtime_label(runtime, result.get("version"))] = result
    paths = [(out / e["file"]).resolve() for e in entries]  # the check runs in another folder
    for python in pythons:
        report = compat.check_in_python(python, paths)
        for runtime, per_file in report.items():
            for entry, path in zip(entries, paths, strict=True):
                result = per_file[str(path)]
                entry["runtimes"][compat.runtime_label(runtime, result.get("version"), python)] = result


def _hint_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    layers = ", ".join(f"{r['layer']} ({r['op']}, error {r['rmse_per_scale']:.2f} steps)" for r in rows)
    return (f"; layers to look at (quantization debugger, ideal ~0.29 steps): {layers}. "
            "Try more --calibration-samples, or keep the float or dynamic model")
