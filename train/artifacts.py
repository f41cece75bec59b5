"""What a finished training run leaves: its metrics, and the artifacts written complete or not at all."""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from pathlib import Path

import numpy as np

from edge.files import replace_folder, write_json
from train.evaluation import confusion_matrix, per_class_accuracy
from train.macs import multiply_accumulates
from train.plots import plot_confusion, plot_curves


def training_metrics(best, test, data, config, state: dict, sizes, versions: dict) -> dict:
    """The best epoch's model on the test set, and everything metrics.json records about the run.

    ``sizes``: (training images, validation images); ``versions``: TensorFlow's and Keras'.
    """
    x_test, y_test = test
    class_names = data.class_names
    test_loss, test_accuracy = best.evaluate(x_test, y_test, batch_size=512, verbose=0)
    predicted = best.predict(x_test, batch_size=512, verbose=0).argmax(axis=1)
    confusion = confusion_matrix(y_test, predicted, len(class_names))
    by_source = {
        name: round(float((predicted[part] == y_test[part]).mean()), 6)
        for name, part in data.test_parts.items()
        if len(y_test[part])
    }
    return {
        "model": config.model,
        "dataset": config.dataset,
        "class_names": class_names,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "test_images": len(x_test),
        "best_epoch": state["best_epoch"],
        "best_val_accuracy": state["best_val_accuracy"],
        "epochs": config.epochs,
        "parameters": int(best.count_params()),
        "macs_per_image": multiply_accumulates(best),
        "train_images": sizes[0],
        "validation_images": sizes[1],
        "batch_size": config.batch_size,
        "learning_rate": config.lr,
        "augment": config.augment,
        "seed": config.seed,
        "init_from": config.init_from,
        "data": data.source,
        **({"test_accuracy_by_source": by_source} if by_source else {}),
        "per_class_accuracy": {
            name: (None if np.isnan(rate) else round(float(rate), 6))
            for name, rate in zip(class_names, per_class_accuracy(confusion), strict=True)
        },
        "confusion_matrix": confusion.tolist(),
        "confusion_matrix_axes": "rows: true class, columns: predicted class, in class_names order",
        "wall_time_s": round(state["wall_time_s"], 1),
        "preprocessing": "uint8 grey levels / 255 -> float32 (N, 28, 28, 1), white digit on black (edge/preprocess.py)",
        **versions,
        "python_version": platform.python_version(),
    }


def write_artifacts(best, metrics: dict, state: dict, config, name: str) -> None:
    """Write the artifacts into a staging folder, then move them into --out: old ones are replaced only once
    the new ones are complete."""
    out = Path(config.out)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".staging-"))
    accuracy = metrics["test_accuracy"]
    try:
        best.export(str(staging / "saved_model"), format="tf_saved_model", verbose=False)
        best.save(staging / "model.keras")
        write_json(staging / "metrics.json", metrics)
        write_json(staging / "history.json", {**state["history"], "best_epoch": state["best_epoch"]})
        plot_curves(
            state["history"],
            state["best_epoch"],
            staging / "curves.png",
            f"{config.model} on {name}: test accuracy {accuracy:.2%}",
        )
        plot_confusion(
            np.array(metrics["confusion_matrix"]),
            metrics["class_names"],
            staging / "confusion.png",
            f"{config.model} on {name}: {metrics['test_images']:,} test images, accuracy {accuracy:.2%}",
        )
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, out: Path) -> None:
    """Move finished artifacts into ``out``, replacing old ones only once the new ones are whole."""
    for item in sorted(staging.iterdir()):
        target = out / item.name
        if item.is_dir():
            replace_folder(item, target)
        else:
            os.replace(item, target)
