"""Fixtures for the edge runner's tests. numpy, Pillow and edge/ only: these tests also run in
a virtual environment without TensorFlow (tests/test_edge_without_tensorflow.py).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def photo_of(
    digit: np.ndarray,
    rng: np.random.Generator,
    size: tuple[int, int] = (640, 480),
    scale: int | None = None,
    noise: float = 4.0,
    quality: int = 85,
) -> Image.Image:
    """An MNIST digit as a phone would see it written on paper: dark blue ink on a larger, unevenly
    lit sheet, off-centre, with sensor noise, RGB, through JPEG compression."""
    scale = scale or int(rng.integers(6, 12))
    big = Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    ink = np.clip(np.asarray(big, np.float32) / 255.0, 0.0, 1.0)[..., None]
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    paper = 235.0 - 45.0 * xs / width - 25.0 * ys / height  # light from the top left
    canvas = np.repeat(paper[..., None], 3, axis=2)
    top = int(rng.integers(0, height - ink.shape[0]))
    left = int(rng.integers(0, width - ink.shape[1]))
    region = canvas[top : top + ink.shape[0], left : left + ink.shape[1]]
    region[:] = region * (1.0 - ink) + np.array([35.0, 30.0, 70.0]) * ink
    canvas += rng.normal(0.0, noise, canvas.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB").save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer)


@pytest.fixture(scope="session")
def render_photo() -> Callable[..., Image.Image]:
    return photo_of


def box_iou(a, b) -> float:
    """Intersection over union of two boxes given as (x, y, w, h)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / float(aw * ah + bw * bh - w * h)


@pytest.fixture(scope="session")
def iou() -> Callable[..., float]:
    return box_iou


@pytest.fixture(scope="session")
def int8_model(tflite_models) -> Path:
    return tflite_models["int8"]


@pytest.fixture(scope="session")
def int8_classifier(int8_model):
    from edge.runtime import Classifier

    return Classifier(int8_model)


@pytest.fixture(scope="session")
def sample(mnist_test) -> tuple[np.ndarray, np.ndarray]:
    """A fixed random sample of 300 test digits: images uint8 (300, 28, 28), labels."""
    index = np.random.default_rng(2024).choice(len(mnist_test.images), 300, replace=False)
    return mnist_test.images[index], mnist_test.labels[index]


@pytest.fixture(scope="session")
def png_folder(tmp_path_factory, sample) -> Path:
    """40 real test digits saved as PNG files named by their label."""
    folder = tmp_path_factory.mktemp("digits")
    images, labels = sample
    for i in range(40):
        Image.fromarray(images[i]).save(folder / f"{i:03d}_label{labels[i]}.png")
    return folder
