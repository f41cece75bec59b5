"""The learner's workbench: mnist-show's PNG files and the evaluations behind them, training's
confusion matrix and curves, and mnist-export-weights' text files - checked against the real
models (the session's small CNN and its .tflite files) on real MNIST.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.runtime import Classifier
from train import plots
from train.evaluation import confusion_matrix, evaluate, misclassified, per_class_accuracy, top_k
from train.plots import plot_mistakes, plot_predictions

ROOT = Path(__file__).resolve().parents[1]


def png_size(path: Path) -> tuple[int, int]:
    """The size of a valid, non-blank PNG file."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"))
        assert pixels.std() > 10, f"{path} looks blank"
        return image.size


def run_show(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "train.show", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def tflite_copy(tflite_models, tmp_path) -> dict[str, Path]:
    """float32 and int8 models with their manifest in a folder of their own (mnist-show writes metrics.json there)."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(tflite_models["float32"].parent / "manifest.json", folder)
    return {v: Path(shutil.copy(tflite_models[v], folder)) for v in ("float32", "int8")}


def test_counting_functions():
    labels = np.array([0, 0, 1, 1, 2, 2])
    probabilities = np.array(
        [[0.9, 0.1, 0], [0.2, 0.7, 0.1], [0, 1, 0], [0.05, 0.4, 0.55], [0, 0, 1], [0.6, 0.3, 0.1]], np.float32
    )
    matrix = confusion_matrix(labels, probabilities.argmax(axis=1), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 1], [1, 0, 1]]
    assert per_class_accuracy(matrix).tolist() == [0.5, 0.5, 0.5]
    assert np.isnan(per_class_accuracy(np.zeros((2, 2), int))).all()
    assert misclassified(labels, probabilities).tolist() == [1, 5, 3]  # most confident mistake first: 0.7, 0.6, 0.55
    classes, top = top_k(probabilities[[3]], 2)
    assert classes.tolist() == [[2, 1]] and top[0].tolist() == pytest.approx([0.55, 0.4])


def test_mistakes_gallery_holds_exactly_the_misclassified(tflite_models, mnist_test, tmp_path):
    images, labels = mnist_test.images[:3000], mnist_test.labels[:3000]
    model = tflite_models["int8"]
    evaluation = evaluate(model, images, labels)
    # Independently: the interpreter's own answers.
    expected = np.flatnonzero(Classifier(model).predict(images).argmax(axis=1) != labels)
    assert 0 < len(expected) < 200

    shown = plot_mistakes(evaluation, images, 500, tmp_path / "all.png", "3,000 test images")
    assert sorted(shown.tolist()) == expected.tolist()
    confidence = evaluation.probabilities[shown].max(axis=1)
    assert (np.diff(confidence) <= 0).all()  # most confident first
    assert png_size(tmp_path / "all.png") == plots.grid_size(len(expected), 3)

    few = plot_mistakes(evaluation, images, 10, tmp_path / "few.png", "3,000 test images")
    assert few.tolist() == shown[:10].tolist()
    assert png_size(tmp_path / "few.png") == plots.grid_size(10, 3) == (1200, 70 + 150 + 10)  # header, a row, footer

    matrix = evaluation.confusion
    assert matrix.sum() == 3000 and matrix.sum() - np.trace(matrix) == len(expected)


def test_predictions_grid(tflite_models, mnist_test, tmp_path):
    images, labels = mnist_test.images[:2000], mnist_test.labels[:2000]
    evaluation = evaluate(tflite_models["float32"], images, labels)
    wrong = evaluation.misclassified
    picked = np.sort(np.concatenate([wrong[:5], np.setdiff1d(np.arange(40), wrong)[:35]]))  # 5 wrong, 35 right
    path = plot_predictions(evaluation, images, picked, tmp_path / "p.png", "2,000 test images")
    assert png_size(path) == plots.grid_size(40, 2) == (1200, 70 + 4 * 134 + 10)
    # The wrong ones are framed in red: look for red round each image (its caption is left out).
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 90)
    cell_height = plots.IMAGE + 2 * plots.LINE + 0.12
    framed = []
    for i in range(40):
        row, col = divmod(i, plots.COLUMNS)
        top = round((plots.HEADER + (row + 1) * cell_height - 0.06 - plots.IMAGE) * plots.DPI)
        left = round((col * plots.CELL_WIDTH + (plots.CELL_WIDTH - plots.IMAGE) / 2) * plots.DPI)
        size = round(plots.IMAGE * plots.DPI)
        framed.append(red[top - 2 : top + size + 3, left - 2 : left + size + 3].sum() > 600)  # a frame: ~1,400
    assert np.flatnonzero(framed).tolist() == [int(np.flatnonzero(picked == w)[0]) for w in sorted(wrong[:5])]


def test_show_cli_on_tflite_models(tflite_copy, mnist_dir, tmp_path):
    env = {"MNIST_DATA_DIR": str(mnist_dir)}
    out = tmp_path / "png"
    int8, float32 = tflite_copy["int8"], tflite_copy["float32"]
    result = run_show("mistakes", "--model", str(int8), "--model", str(float32), "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out / 'mistakes_mnist_int8.png'} (1200 x " in result.stdout
    assert "mnist_float32.tflite vs mnist_int8.tflite: " in result.stdout and " mistakes shared, " in result.stdout
    assert png_size(out / "mistakes_mnist_int8.png") == plots.grid_size(50, 3)

    metrics = json.loads((int8.parent / "metrics.json").read_text())
    manifest = {m["file"]: m for m in json.loads((int8.parent / "manifest.json").read_text())["models"]}
    for model in (int8, float32):
        record = metrics["evaluations"][model.name]
        matrix = np.array(record["confusion_matrix"])
        assert matrix.shape == (10, 10) and matrix.sum() == record["test_images"] == 10_000
        assert np.trace(matrix) / 10_000 == pytest.approx(record["accuracy"], abs=1e-6)
        # The converter measured the same file on the same images with its own code.
        assert record["accuracy"] == pytest.approx(manifest[model.name]["accuracy"], abs=1e-4)
        assert len(record["misclassified"]) == 10_000 - np.trace(matrix)
        rates = np.diag(matrix) / matrix.sum(axis=1)
        assert list(record["per_class_accuracy"].values()) == pytest.approx(rates.tolist(), abs=1e-6)

    result = run_show("confusion", "--model", str(int8), "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert png_size(out / "confusion_mnist_int8.png") == (1300, 620)

    result = run_show("predictions", "--model", str(int8), "--count", "20", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert png_size(out / "predictions_mnist_int8.png") == plots.grid_size(20, 2)

    result = run_show("data", "--data-dir", str(mnist_dir), "--count", "30", "--split", "test", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Wrote {out / 'data_MNIST_test.png'} (1200 x 434 px): 30 MNIST images with their labels\n"
    assert png_size(out / "data_MNIST_test.png") == plots.grid_size(30, 1) == (1200, 70 + 3 * 118 + 10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mistakes", "--model", "model.onnx"], "model.onnx: give a .keras model (from mnist-train) or a .tflite"),
        (
            ["confusion", "--model", "missing.tflite"],
            "missing.tflite: no such model file; convert one with mnist-convert",
        ),
        (["data", "--count", "0"], "--count must be at least 1, not 0"),
        (["data", "--data-dir", "no/such/folder"], "no/such/folder (from --data-dir): no such folder;"),
        (["pictures"], "argument COMMAND: invalid choice: 'pictures'"),
    ],
)
def test_show_bad_input_one_line(args, message):
    result = run_show(*args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {message}") and result.stderr.count("\n") == 1, result.stderr


def test_keras_model_evaluation_and_training_plots(small_model, tflite_models, mnist_test, tmp_path):
    images, labels = mnist_test.images[:1000], mnist_test.labels[:1000]
    keras_eval = evaluate(small_model / "model.keras", images, labels)
    lite_eval = evaluate(tflite_models["float32"], images, labels)
    assert keras_eval.class_names == [str(d) for d in range(10)]
    assert (keras_eval.predictions == lite_eval.predictions).mean() >= 0.998

    # mnist-train's own confusion matrix and per-class accuracy, over the whole test set.
    metrics = json.loads((small_model / "metrics.json").read_text())
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.sum() == metrics["test_images"] == 10_000
    assert np.trace(matrix) / 10_000 == pytest.approx(metrics["test_accuracy"], abs=1e-4)
    assert np.array_equal(matrix.sum(axis=1), np.bincount(mnist_test.labels, minlength=10))
    assert list(metrics["per_class_accuracy"]) == metrics["class_names"]
    assert png_size(small_model / "curves.png") == (1100, 500)
    assert png_size(small_model / "confusion.png") == (1300, 620)


def test_weights_export_loads_back_equal(small_model, tmp_path, monkeypatch):
    import keras

    from train.export_weights import export_weights, load_weights

    model = keras.models.load_model(small_model / "model.keras")
    out = tmp_path / "weights"
    index = export_weights(model, out, source="model.keras")
    assert index["parameters"] == model.count_params()
    loaded = load_weights(out)
    assert len(loaded) == len(model.weights)
    for weight in model.weights:
        array = loaded[weight.path]
        assert array.dtype == weight.numpy().dtype and np.array_equal(array, weight.numpy()), weight.path

    # Each file says how to read it; that very line works, from the export folder.
    first = out / index["layers"][0]["weights"][0]["file"]
    header = [line[2:] for line in first.read_text().splitlines() if line.startswith("# ")]
    assert header[0].startswith("layer 1: ") and "shape " in header[1]
    statement = header[3].removeprefix("read back: ")
    monkeypatch.chdir(out)
    assert np.array_equal(eval(statement, {"np": np}), model.layers[0].weights[0].numpy())
    listed = [layer["name"] for layer in index["layers"]]
    assert listed == [layer.name for layer in model.layers]  # also the layers without weights

    # A folder that is not an earlier export is never overwritten.
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    from train.evaluation import ModelError

    with pytest.raises(ModelError, match="exists and is not an earlier weights export"):
        export_weights(model, keep)
    assert (keep / "notes.txt").read_text() == "mine"
    export_weights(model, out)  # an earlier export is replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "weights"]  # no temporary folders left


def test_export_weights_cli(small_model, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "train.export_weights",
            "--model",
            str(small_model / "model.keras"),
            "--out",
            str(tmp_path / "w"),
        ],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["layer", "type", "weight", "shape", "values", "file"]
    assert result.stdout.endswith(f"and index.json to {tmp_path / 'w'}/\n")
    files = sorted(p.name for p in (tmp_path / "w").iterdir())
    assert "index.json" in files and "01_conv2d.kernel.txt" in files
