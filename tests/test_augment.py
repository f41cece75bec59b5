"""The photo augmentation (train/augment.py) on real MNIST training digits: what it promises, measured.

A few seconds: one batch of 256 digits, no model (one small training run at the end).
"""

from __future__ import annotations

import numpy as np
import pytest

N = 256


@pytest.fixture(scope="module")
def tf():
    from train.tf_quiet import import_tensorflow

    return import_tensorflow(False)


@pytest.fixture(scope="module")
def digits(mnist_dir):
    from edge.mnist_data import load_split
    from edge.preprocess import normalize

    return normalize(load_split(mnist_dir, "train").images[:N])


@pytest.fixture(scope="module")
def augmented(tf, digits):
    from train.augment import augmenter

    return augmenter("photo", seed=7)(tf.constant(digits)).numpy()


def centre_of_mass(images: np.ndarray) -> np.ndarray:
    """(N, 2): row and column of each image's centre of mass."""
    images = images[..., 0]
    index = np.arange(images.shape[1], dtype=np.float64)
    mass = images.sum(axis=(1, 2))
    return np.stack([(images.sum(axis=2) * index).sum(1) / mass, (images.sum(axis=1) * index).sum(1) / mass], 1)


def test_shape_type_and_range_as_the_model_takes_them(digits, augmented):
    assert augmented.shape == digits.shape == (N, 28, 28, 1) and augmented.dtype == np.float32
    assert augmented.min() >= 0.0 and augmented.max() <= 1.0
    # As the photo preprocessing makes them: every digit's core saturated, the paper exactly 0.
    np.testing.assert_allclose(augmented.max(axis=(1, 2, 3)), 1.0)
    assert (augmented == 0.0).mean() > 0.6


def test_same_seed_same_images_another_seed_others(tf, digits, augmented):
    from train.augment import augmenter

    np.testing.assert_array_equal(augmenter("photo", seed=7)(tf.constant(digits)).numpy(), augmented)
    assert not np.array_equal(augmenter("photo", seed=8)(tf.constant(digits)).numpy(), augmented)


def test_changes_every_digit_but_keeps_it_a_centred_digit(digits, augmented):
    changed = np.abs(augmented - digits).mean(axis=(1, 2, 3))
    assert (changed > 0.005).all()
    offset = np.linalg.norm(centre_of_mass(augmented) - centre_of_mass(digits), axis=1)
    # Moved by the shift (up to 2.8 pixels along each axis, a median of about 2.2 in all), plus a little
    # from slant, zoom and specks; on average still at MNIST's centre.
    assert np.median(offset) < 2.8 and offset.max() < 5.0
    assert np.abs(centre_of_mass(augmented).mean(axis=0) - 14.0).max() < 0.5
    ink = augmented.sum(axis=(1, 2, 3)) / digits.sum(axis=(1, 2, 3))
    assert 0.7 < np.median(ink) < 1.4 and ink.min() > 0.2  # thinner or bolder, never erased


def test_strokes_vary_in_width_more_than_mnist(digits, augmented):
    """Pen, marker and pencil: the spread of ink per digit grows, and edges get harder or softer."""
    ink_before, ink_after = (a.sum(axis=(1, 2, 3)) for a in (digits, augmented))
    assert np.std(ink_after / ink_before) > 0.15
    assert np.std(grey_share(augmented)) > 1.5 * np.std(grey_share(digits))


def grey_share(images: np.ndarray) -> np.ndarray:
    """Per image: the share of its ink that is edge grey, neither saturated nor faint."""
    grey = ((images > 0.05) & (images < 0.95)).sum(axis=(1, 2, 3))
    return grey / (images > 0).sum(axis=(1, 2, 3))


def stroke_width(images: np.ndarray) -> np.ndarray:
    """Per image: twice the ink's area over its outline's length (pixels above half), the mean stroke width."""
    ink = images[..., 0] > 0.5
    padded = np.pad(ink, ((0, 0), (1, 1), (1, 1)))
    inner = ink.copy()
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        inner &= padded[:, dy : dy + 28, dx : dx + 28]
    return 2.0 * ink.sum(axis=(1, 2)) / np.maximum((ink & ~inner).sum(axis=(1, 2)), 1)


def test_pen_redraws_the_centre_line_at_one_width(tf, digits):
    """A pen's stroke has one width where MNIST's swell and thin: redrawn along the centre line,
    every digit keeps its place and shape (its ink within a pixel of the original's) and the
    strokes of all digits come out about as wide as each other, wider with the wider pen."""
    from train.augment import _max3x3, _pen

    x = tf.constant(digits)
    thin, wide = (_pen(x, tf.fill([N, 1, 1, 1], width)).numpy() for width in (0.5, 1.5))
    near = _max3x3(tf.constant(digits > 0.5, tf.float32)).numpy() > 0
    for redrawn in (thin, wide):
        ink = redrawn > 0.5
        assert (ink & near).sum() / ink.sum() > 0.9  # drawn where the digit was
        assert (ink.sum(axis=(1, 2, 3)) > 0).all()  # and no digit lost
    spread = [np.std(w) / np.mean(w) for w in (stroke_width(digits), stroke_width(thin))]
    assert spread[1] < 0.7 * spread[0]
    assert np.median(stroke_width(wide)) > 1.3 * np.median(stroke_width(thin))


def test_works_in_the_training_pipeline(tf, digits, augmented):
    """In a tf.data map (graph mode, as train/trainer.py uses it) it gives what it gives eagerly."""
    from train.augment import augmenter

    augment = augmenter("photo", seed=7)
    dataset = tf.data.Dataset.from_tensor_slices(digits).batch(N).map(augment)
    np.testing.assert_allclose(next(iter(dataset)).numpy(), augmented, atol=1e-5)


def test_unknown_kind_is_refused():
    from train.augment import augmenter

    with pytest.raises(ValueError, match="unknown augmentation 'noise'; choose one of: shapes, photo"):
        augmenter("noise", seed=0)


def test_photo_augment_trains(tmp_path, mnist_dir):
    from train.trainer import TrainConfig, train

    metrics = train(
        TrainConfig(model="lenet", epochs=2, limit=3000, augment="photo", data_dir=str(mnist_dir), out=str(tmp_path)),
        progress=False,
    )
    assert metrics["augment"] == "photo" and metrics["test_accuracy"] > 0.5
