"""The edge runner where it will live: a virtual environment with numpy, Pillow and ai-edge-litert
from edge/requirements.txt, and no TensorFlow. Its own tests (tests/edge/) run there on the
.tflite files the real converter made here, and a copy of edge/ alone classifies a real image.

The environment is made once at <repo>/.venv-edge (git-ignored) and remade when
edge/requirements.txt changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-edge"
REQUIREMENTS = ROOT / "edge" / "requirements.txt"


def _python_in(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@pytest.fixture(scope="session")
def edge_python() -> Path:
    """The edge environment's python, made or brought up to date with edge/requirements.txt."""
    python = _python_in(VENV)
    stamp = VENV / ".requirements-sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes() + b"\npytest").hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, text=True)
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "-r",
            str(REQUIREMENTS),
            "pytest",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, f"pip install into {VENV} failed:\n{install.stdout[-3000:]}{install.stderr[-3000:]}"
    stamp.write_text(wanted)
    return python


def _run(python: Path, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 120):
    return subprocess.run([str(python), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


def test_the_edge_environment_has_no_tensorflow(edge_python):
    result = _run(edge_python, "-c", "import tensorflow", cwd=ROOT)
    assert result.returncode != 0 and "No module named 'tensorflow'" in result.stderr
    result = _run(edge_python, "-c", "import keras", cwd=ROOT)
    assert result.returncode != 0
    result = _run(edge_python, "-c", "import numpy, PIL, ai_edge_litert.interpreter", cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_edge_tests_pass_without_tensorflow(edge_python, tflite_models, mnist_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["MNIST_EDGE_TEST_MODELS"] = str(tflite_models["int8"].parent)  # the folder with manifest.json
    env["MNIST_DATA_DIR"] = str(mnist_dir)
    result = _run(
        edge_python, "-m", "pytest", "tests/edge", "-q", "-p", "no:cacheprovider", cwd=ROOT, env=env, timeout=600
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    summary = output.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "skipped" not in summary and "error" not in summary


def test_a_copy_of_edge_alone_classifies_real_images(edge_python, tmp_path, tflite_models, mnist_test):
    """`python edge/classify.py` from the folder a user copies to a Pi, in the Pi's environment."""
    shutil.copytree(ROOT / "edge", tmp_path / "edge", ignore=shutil.ignore_patterns("__pycache__"))
    images = [tmp_path / f"digit{i}.png" for i in range(5)]
    for i, path in enumerate(images):
        Image.fromarray(mnist_test.images[i]).save(path)
    photo = tmp_path / "photo.jpg"  # the first digit as dark ink on a larger white sheet
    sheet = np.full((300, 400), 230, np.uint8)
    sheet[50:162, 200:312] = 230 - np.asarray(Image.fromarray(mnist_test.images[0]).resize((112, 112))) * 0.8
    Image.fromarray(sheet).convert("RGB").save(photo)

    result = _run(
        edge_python,
        "edge/classify.py",
        "--model",
        str(tflite_models["int8"]),
        *(p.name for p in images),
        photo.name,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    from edge.runtime import Classifier

    expected = Classifier(tflite_models["int8"]).predict(mnist_test.images[:5]).argmax(axis=1)
    lines = result.stdout.splitlines()
    assert [int(line.split(": ")[1].split(" ")[0]) for line in lines[:5]] == list(expected)
    assert lines[5].startswith(f"photo.jpg: {expected[0]} ")
