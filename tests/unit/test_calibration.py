"""Which images calibrate int8: the converter's balanced draw, and the ONNX peer repeating it from manifest.json."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.onnx_peer import calibration_images
from convert.calibration import DEFAULT_SAMPLES, balanced_indices, representative_dataset
from edge.mnist_data import Split
from edge.model_info import Calibration, Manifest
from train.defaults import SEED

LABELS = np.repeat(np.arange(10), [50, 60, 70, 80, 90, 100, 110, 120, 130, 3])


def test_draw_is_balanced_over_classes_and_repeatable():
    picked = balanced_indices(LABELS, 100, seed=7)
    assert len(set(picked.tolist())) == 100
    counts = np.bincount(LABELS[picked], minlength=10)
    assert counts[9] == 3 and counts[:9].max() - counts[:9].min() <= 1  # a small class gives all it has
    assert np.array_equal(picked, balanced_indices(LABELS, 100, seed=7))
    assert not np.array_equal(picked, balanced_indices(LABELS, 100, seed=8))


def test_small_draws_still_spread_and_large_ones_stop_at_the_data():
    assert len(set(LABELS[balanced_indices(LABELS, 7)].tolist())) == 7
    assert len(balanced_indices(LABELS, 10_000)) == len(LABELS)
    with pytest.raises(ValueError, match="at least 1 image"):
        balanced_indices(LABELS, 0)


def test_representative_dataset_feeds_one_normalized_image_per_step():
    images = np.stack([np.full((28, 28), v, np.uint8) for v in (0, 255, 51)])
    steps = list(representative_dataset(images)())
    assert len(steps) == 3 and all(len(s) == 1 and s[0].shape == (1, 28, 28, 1) for s in steps)
    assert steps[0][0].dtype == np.float32 and [float(s[0].max()) for s in steps] == pytest.approx([0, 1, 0.2])


def manifest(calibration):
    return Manifest(path=None, dataset="mnist", class_names=None, calibration=calibration, models=[], raw={})


def test_onnx_peer_repeats_the_converters_draw_when_it_can():
    train = Split(np.arange(len(LABELS) * 784, dtype=np.int64).reshape(-1, 28, 28) % 256, LABELS)
    images, info = calibration_images(manifest(Calibration("training images, balanced over classes", 40, 3)), train)
    assert info["samples"] == 40 and info["seed"] == 3 and "from manifest.json" in info["same_as"]
    assert np.array_equal(images, train.images[balanced_indices(LABELS, 40, seed=3)])
    for recorded in (None, Calibration("training part of my_digits, balanced over classes", 40, 3)):
        images, info = calibration_images(manifest(recorded), train)
        assert (info["samples"], info["seed"]) == (min(DEFAULT_SAMPLES, len(LABELS)), SEED)
        assert "cannot be repeated here" in info["same_as"]
