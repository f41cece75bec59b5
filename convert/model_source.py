"""The model the user gives mnist-convert: a SavedModel folder or a .keras file, checked before any work.

A model of the wrong shape, a damaged file or a folder that is not a SavedModel is refused with
one line saying what to give instead. A .keras file is exported to a temporary SavedModel.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convert.variants import ConvertError, first_line
from edge.model_info import Metrics, ModelInfoError, read_metrics
from edge.preprocess import INPUT_SHAPE
from train.tf_quiet import native_stderr_silenced


@dataclass
class ModelSource:
    """The model to convert, as a SavedModel folder, with what mnist-train wrote beside it."""

    path: Path  # what the user gave
    saved_model: Path  # a SavedModel folder (a temporary export for a .keras file)
    artifacts: Path  # the training output folder: default --out, where metrics.json lives
    metrics: Metrics | None = None  # metrics.json, when mnist-train wrote one


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
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(folder))
    except Exception as e:  # TF raises many types for a damaged SavedModel
        raise ConvertError(
            f"{folder}: cannot load this SavedModel ({first_line(e)}); export it again with mnist-train"
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


def _read_metrics(folder: Path) -> Metrics | None:
    try:
        return read_metrics(folder)
    except ModelInfoError as e:
        raise ConvertError(str(e)) from None


@contextlib.contextmanager
def open_model(path: str | Path, verbose: bool = False) -> Iterator[ModelSource]:
    """Check the user's model and yield it as a SavedModel; a .keras file is exported to a temp folder."""
    import tensorflow as tf

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
    import keras

    try:
        with native_stderr_silenced(not verbose):
            model = keras.saving.load_model(path, compile=False)
    except Exception as e:  # a damaged zip, missing custom objects, a file of another format...
        raise ConvertError(
            f"{path}: cannot load this .keras file ({first_line(e)}); save it again with model.save()"
        ) from None
    if len(model.inputs) != 1:
        raise ConvertError(f"{path}: {len(model.inputs)} inputs; mnist-convert takes one-input classifiers")
    _check_input_spec(list(model.inputs[0].shape), str(model.inputs[0].dtype), path)
    with tempfile.TemporaryDirectory(prefix="mnist-convert-") as tmp:
        export = Path(tmp) / "saved_model"
        with native_stderr_silenced(not verbose):
            model.export(str(export), format="tf_saved_model", verbose=False)
        yield ModelSource(path, export, path.parent, _read_metrics(path.parent))
