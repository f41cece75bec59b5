"""Training-time augmentation: the ways real inputs differ from MNIST's training digits.

``shapes`` imitates handwriting (small shifts, rotations, zoom). ``photo`` adds what the edge
preprocessing leaves behind when it cuts a digit out of a photo (edge/preprocess.py): strokes
thinner or bolder than MNIST's, sharper or blurrier edges, small gaps where a ruled line crossed
the digit, and stray specks.
"""

from __future__ import annotations

from collections.abc import Callable

AUGMENTATIONS = ("shapes",)  # "photo" (what photo preprocessing leaves behind) is planned


def augmenter(kind: str, seed: int) -> Callable:
    """A function ``images -> images`` for ``tf.data`` batches of float32 (N, 28, 28, 1) in [0, 1]."""
    from keras import Sequential, layers

    shapes = Sequential(
        [
            layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed),
            layers.RandomRotation(0.03, fill_mode="constant", seed=seed + 1),  # +-11 degrees
            layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 2),
        ],
        name="augment",
    )
    if kind == "shapes":
        return lambda images: shapes(images, training=True)
    raise ValueError(f"unknown augmentation {kind!r}; choose one of: {', '.join(AUGMENTATIONS)}")
