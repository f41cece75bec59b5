"""mnist-train on real MNIST: artifacts, bad arguments, interruption and --resume, determinism."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run_train(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "train.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=600, **kwargs
    )


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".checkpoint" not in p.parts
    }


def test_small_model_artifacts(small_model: Path):
    for name in ("saved_model/saved_model.pb", "model.keras", "metrics.json", "history.json", "curves.png"):
        assert (small_model / name).is_file(), name
    metrics = json.loads((small_model / "metrics.json").read_text())
    assert metrics["dataset"] == "mnist" and metrics["class_names"] == [str(d) for d in range(10)]
    assert metrics["test_images"] == 10_000
    assert metrics["test_accuracy"] > 0.9, metrics  # 3 epochs on 8,000 images
    assert metrics["train_images"] + metrics["validation_images"] == 8000
    for key in ("parameters", "epochs", "wall_time_s", "seed", "tensorflow_version", "test_loss"):
        assert key in metrics
    # What the fixture left to the cnn's recipe (train/presets.py), and the work per image (train/macs.py).
    assert (metrics["augment"], metrics["batch_size"]) == ("photo", 128)
    from train.macs import multiply_accumulates
    from train.models import build_model

    assert metrics["macs_per_image"] == multiply_accumulates(build_model("cnn")) > 1_000_000
    history = json.loads((small_model / "history.json").read_text())
    assert len(history["accuracy"]) == len(history["val_accuracy"]) == 3
    assert history["best_epoch"] == metrics["best_epoch"]
    assert metrics["best_val_accuracy"] == pytest.approx(max(history["val_accuracy"]))
    with Image.open(small_model / "curves.png") as im:
        assert im.format == "PNG" and im.width > 800 and im.height > 300
    assert not (small_model / ".checkpoint").exists()
    assert not [p for p in small_model.iterdir() if p.name.startswith(".")]  # no temp files left


def test_saved_model_matches_keras_model(small_model: Path, mnist_test):
    import keras
    import tensorflow as tf

    from edge.preprocess import normalize

    x = normalize(mnist_test.images[:64])
    keras_probs = keras.models.load_model(small_model / "model.keras").predict(x, verbose=0)
    serving = tf.saved_model.load(str(small_model / "saved_model")).signatures["serve"]
    saved_probs = next(iter(serving(tf.constant(x)).values())).numpy()
    np.testing.assert_allclose(saved_probs, keras_probs, atol=1e-5)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "resnet"], "unknown model 'resnet'"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--out", "/proc/version/out"], "cannot write there"),
        (["--resume", "--out", "{tmp}/empty"], "no interrupted training"),
        (["--data-dir", "{tmp}/missing"], "missing"),
        (["--init-from", "{tmp}/nothing.keras"], "no such model file"),
    ],
)
def test_bad_arguments_one_line_error(tmp_path, mnist_dir, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    env = {**os.environ, "MNIST_DATA_DIR": str(mnist_dir)}
    result = run_train(*args, env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("*.keras")) and not list(tmp_path.rglob("saved_model"))


def wait_for_epochs(out: Path, process: subprocess.Popen, epochs: int) -> None:
    state = out / ".checkpoint" / "state.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if state.is_file() and json.loads(state.read_text())["epochs_done"] >= epochs:
            return
        assert process.poll() is None, "training ended before it could be interrupted"
        time.sleep(0.05)
    raise AssertionError("no epoch completed in time")


TRAIN_ARGS = ["--model", "lenet", "--epochs", "3", "--limit", "6000", "--batch-size", "32"]


def test_killed_run_resumes_and_earlier_artifacts_survive(tmp_path, small_model, mnist_dir):
    out = tmp_path / "out"
    shutil.copytree(small_model, out)
    before = digest(out)
    env = {**os.environ, "MNIST_DATA_DIR": str(mnist_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "train.cli", *TRAIN_ARGS, "--out", str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_epochs(out, process, 1)
    finally:
        process.kill()  # no chance to clean up: as if the laptop lost power
        process.wait()
    assert digest(out) == before, "an interrupted run changed the earlier artifacts"

    resumed = run_train("--resume", "--out", str(out), env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming lenet on mnist after epoch" in resumed.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    history = json.loads((out / "history.json").read_text())
    assert metrics["model"] == "lenet" and metrics["epochs"] == 3
    assert len(history["accuracy"]) == 3  # the epochs before the kill are kept in the history
    assert metrics["test_accuracy"] > 0.9
    assert not (out / ".checkpoint").exists()


def test_ctrl_c_says_how_to_resume(tmp_path, mnist_dir):
    out = tmp_path / "out"
    env = {**os.environ, "MNIST_DATA_DIR": str(mnist_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "train.cli", *TRAIN_ARGS, "--out", str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_epochs(out, process, 1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert (out / ".checkpoint" / "state.json").is_file() and any((out / ".checkpoint" / "backup").iterdir())
    assert len(list((out / ".checkpoint").glob("best-*.keras"))) == 1
    assert not (out / "metrics.json").exists()


def test_same_seed_same_result(tmp_path, mnist_dir):
    """The default model with its recipe: the photo augmentation draws the same distortions too."""
    from train.trainer import TrainConfig, train

    runs = []
    for name in ("a", "b"):
        config = TrainConfig(epochs=1, limit=2000, data_dir=str(mnist_dir), out=str(tmp_path / name))
        runs.append(train(config, progress=False))
    assert runs[0]["model"] == "cnn" and runs[0]["augment"] == "photo"
    assert runs[0]["test_loss"] == runs[1]["test_loss"]
    assert runs[0]["test_accuracy"] == runs[1]["test_accuracy"]
    import keras

    a, b = (keras.models.load_model(tmp_path / n / "model.keras") for n in ("a", "b"))
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_fashion_records_class_names(tmp_path, mnist_dir, monkeypatch):
    # Fashion-MNIST has MNIST's file format; stand its folder in with the MNIST files.
    monkeypatch.setenv("FASHION_MNIST_DATA_DIR", str(mnist_dir))
    from train.data import CLASS_NAMES
    from train.trainer import TrainConfig, train

    metrics = train(TrainConfig(model="mlp", epochs=1, limit=500, dataset="fashion", out=str(tmp_path)), progress=False)
    assert metrics["dataset"] == "fashion"
    assert metrics["class_names"] == list(CLASS_NAMES["fashion"]) and metrics["class_names"][9] == "Ankle boot"


def test_augment_trains(tmp_path, mnist_dir):
    from train.trainer import TrainConfig, train

    metrics = train(
        TrainConfig(model="lenet", epochs=1, limit=3000, augment="shapes", data_dir=str(mnist_dir), out=str(tmp_path)),
        progress=False,
    )
    assert metrics["augment"] == "shapes" and metrics["test_accuracy"] > 0.5


def test_multiply_accumulates_counted_by_hand():
    import keras
    from keras import layers

    from train.macs import multiply_accumulates
    from train.models import build_model

    # LeNet-5: 28x28x6 outputs of a 5x5x1 kernel, 10x10x16 of 5x5x6, then 400->120->84->10.
    lenet = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 25 * 6 + 400 * 120 + 120 * 84 + 84 * 10
    assert multiply_accumulates(build_model("lenet")) == lenet == 416_520
    # Depthwise 3x3 over 8x8x3 (6x6 out), then separable: depthwise 3x3 (4x4 out) and pointwise 3->4.
    model = keras.Sequential([keras.Input((8, 8, 3)), layers.DepthwiseConv2D(3), layers.SeparableConv2D(4, 3)])
    assert multiply_accumulates(model) == 6 * 6 * 9 * 3 + (4 * 4 * 9 * 3 + 4 * 4 * 3 * 4)
