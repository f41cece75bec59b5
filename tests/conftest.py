"""Shared fixtures: the real MNIST files, a small model trained here, and real .tflite files.

Nothing here imports TensorFlow at module level: tests/edge/ also runs in a virtual
environment without it, where the .tflite files come ready-made via MNIST_EDGE_TEST_MODELS.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "mnist"
EDGE_TESTS = ROOT / "tests" / "edge"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/edge runs once, where the edge runner lives: test_edge_without_tensorflow.py runs it in
    the TensorFlow-free .venv-edge. Named on the command line (pytest tests/edge), it runs here too.
    """
    if collection_path != EDGE_TESTS:
        return None
    named = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    return not any(path == EDGE_TESTS or EDGE_TESTS in path.parents for path in named)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST IDX files (../shared/mnist, or MNIST_DATA_DIR)."""
    path = Path(os.environ.get("MNIST_DATA_DIR", SHARED_MNIST)).resolve()
    assert (path / "t10k-images-idx3-ubyte.gz").is_file(), f"MNIST files not found in {path}; set MNIST_DATA_DIR"
    return path


@pytest.fixture(scope="session")
def mnist_test(mnist_dir):
    from edge.mnist_data import load_split

    return load_split(mnist_dir, "test")


@pytest.fixture(scope="session")
def small_model(tmp_path_factory, mnist_dir) -> Path:
    """An output folder of mnist-train: the default CNN, trained briefly on part of real MNIST."""
    from train.tf_quiet import quiet_tensorflow

    quiet_tensorflow()
    out = tmp_path_factory.mktemp("small_model")
    from train.trainer import TrainConfig, train

    train(TrainConfig(model="cnn", epochs=3, data_dir=str(mnist_dir), out=str(out), limit=8000, seed=1), progress=False)
    return out


@pytest.fixture(scope="session")
def tflite_models(request, tmp_path_factory, mnist_dir) -> dict[str, Path]:
    """Variant name -> .tflite path, as mnist-convert --quantize all writes them.

    In the TensorFlow-free edge environment the files come from MNIST_EDGE_TEST_MODELS.
    """
    ready = os.environ.get("MNIST_EDGE_TEST_MODELS")
    folder = Path(ready) if ready else tmp_path_factory.mktemp("tflite")
    if not ready:
        from convert.converter import convert_all

        convert_all(request.getfixturevalue("small_model") / "saved_model", folder, data_dir=mnist_dir)
    manifest = json.loads((folder / "manifest.json").read_text())
    return {m["variant"]: folder / m["file"] for m in manifest["models"]}


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh, empty HOME, with every variable that could point at data removed."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for variable in ("MNIST_DATA_DIR", "FASHION_MNIST_DATA_DIR", "MNIST_CACHE_DIR", "XDG_CACHE_HOME", "KERAS_HOME"):
        monkeypatch.delenv(variable, raising=False)
    return home
