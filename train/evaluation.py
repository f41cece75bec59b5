"""Run a model on a test set and count what it gets wrong: for a Keras model and any .tflite alike.

A ``.tflite`` file runs in ``edge.runtime.Classifier`` (no TensorFlow needed), so the int8
model's mistakes are measured exactly as the device will make them and can be set beside the
float model's. Results are recorded in the ``metrics.json`` next to the model, under
``"evaluations"`` and the model's file name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.files import write_json
from edge.model_info import ModelInfoError, model_info, read_metrics
from edge.preprocess import normalize
from train.data import CLASS_NAMES


class ModelError(Exception):
    """A model file that cannot be used here; the message is one line with the fix."""


@dataclass
class Evaluation:
    model: Path
    labels: np.ndarray  # (N,) true classes
    probabilities: np.ndarray  # (N, C)
    class_names: list[str]

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean()) if len(self.labels) else float("nan")

    @property
    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.labels, self.predictions, len(self.class_names))

    @property
    def misclassified(self) -> np.ndarray:
        return misclassified(self.labels, self.probabilities)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class."""
    labels, predictions = np.asarray(labels, np.int64), np.asarray(predictions, np.int64)
    return np.bincount(labels * num_classes + predictions, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Share of each true class predicted right (NaN for a class with no test images)."""
    totals = matrix.sum(axis=1)
    return np.divide(np.diag(matrix), totals, out=np.full(len(matrix), np.nan), where=totals > 0)


def misclassified(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Indices of the wrong predictions, the most confident first: the most instructive mistakes."""
    predictions = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predictions != labels)
    confidence = probabilities[wrong, predictions[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")]


def top_k(probabilities: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(classes, probabilities) of the ``k`` most likely classes per image, most likely first."""
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(probabilities, order, axis=1)


def check_model_path(path: Path) -> None:
    """One-line error for a model this cannot run, before any heavy import."""
    if path.suffix not in (".keras", ".tflite"):
        raise ModelError(
            f"{path}: give a .keras model (from mnist-train) or a .tflite file (from mnist-convert)"
            + ("; for a SavedModel folder use the model.keras beside it" if path.is_dir() else "")
        )
    if not path.is_file():
        fix = "train one with mnist-train" if path.suffix == ".keras" else "convert one with mnist-convert"
        raise ModelError(f"{path}: no such model file; {fix}, or give --model")


def predict(model_path: str | Path, images: np.ndarray) -> np.ndarray:
    """Probabilities (N, C) of a .keras or .tflite model for uint8 images (N, 28, 28)."""
    path = Path(model_path)
    check_model_path(path)
    if path.suffix == ".tflite":
        from edge.runtime import Classifier, RuntimeProblem

        try:
            return Classifier(path).predict(images)
        except RuntimeProblem as e:
            raise ModelError(str(e)) from None
    import keras

    try:
        model = keras.models.load_model(path)
    except (ValueError, OSError) as e:
        raise ModelError(f"{path}: cannot load this Keras model ({str(e).splitlines()[0][:160]})") from None
    return np.asarray(model.predict(normalize(images), batch_size=512, verbose=0), dtype=np.float32)


def class_names_for(model_path: str | Path, num_classes: int) -> list[str]:
    """The model's class names: from its metrics.json or manifest.json, else the dataset's."""
    info = model_info(model_path)
    names = info.class_names or list(CLASS_NAMES.get(info.dataset or "mnist", ()))
    if len(names) != num_classes:
        names = list(CLASS_NAMES["mnist"]) if num_classes == 10 else [str(i) for i in range(num_classes)]
    return names


def evaluate(model_path: str | Path, images: np.ndarray, labels: np.ndarray) -> Evaluation:
    probabilities = predict(model_path, images)
    names = class_names_for(model_path, probabilities.shape[1])
    if len(labels) and int(labels.max()) >= len(names):
        raise ModelError(
            f"{model_path}: the test data has class {int(labels.max())}, the model only {len(names)} classes; "
            "give the --data-dir it was trained on"
        )
    return Evaluation(Path(model_path), np.asarray(labels, np.int64), probabilities, names)


def summary(evaluation: Evaluation, data: dict) -> dict:
    """The evaluation as metrics.json records it."""
    matrix = evaluation.confusion
    rates = per_class_accuracy(matrix)
    return {
        "sha256": hashlib.sha256(evaluation.model.read_bytes()).hexdigest(),
        "data": data,
        "test_images": len(evaluation.labels),
        "accuracy": round(evaluation.accuracy, 6),
        "per_class_accuracy": {
            name: (None if np.isnan(r) else round(float(r), 6))
            for name, r in zip(evaluation.class_names, rates, strict=True)
        },
        "confusion_matrix": matrix.tolist(),
        "confusion_matrix_axes": "rows: true class, columns: predicted class, in class_names order",
        "class_names": evaluation.class_names,
        "misclassified": [int(i) for i in sorted(evaluation.misclassified)],
    }


def record(evaluation: Evaluation, data: dict) -> Path:
    """Add the evaluation to ``metrics.json`` beside the model (written whole, then swapped in)."""
    path = evaluation.model.parent / "metrics.json"
    try:
        found = read_metrics(path.parent)
    except ModelInfoError as e:
        raise ModelError(str(e)) from None
    metrics = found.raw if found else {}
    metrics.setdefault("evaluations", {})[evaluation.model.name] = summary(evaluation, data)
    write_json(path, metrics)
    return path
