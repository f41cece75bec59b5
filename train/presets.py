"""Each model's training recipe: the one home of mnist-train's per-model defaults.

Kept apart from train/models.py, which imports Keras, so that settings are checked in a moment
before TensorFlow loads. A flag given on the command line overrides its part of the recipe.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_AUGMENT = "none"  # --augment none: train on the images as they are


@dataclass(frozen=True)
class Recipe:
    """How a model is trained when the command line says nothing else."""

    epochs: int
    lr: float  # the peak of the one-cycle schedule (train/trainer.py)
    batch_size: int = 128
    augment: str = NO_AUGMENT  # or one of train.augment.AUGMENTATIONS


RECIPES: dict[str, Recipe] = {
    "mlp": Recipe(epochs=5, lr=1e-3),
    "lenet": Recipe(epochs=5, lr=1e-3),
    # The default: the photo augmentation costs no MNIST accuracy (it adds some) and reads photos better.
    "cnn": Recipe(epochs=6, lr=2e-3, augment="photo"),
    # The most accurate single model: the same augmentation, a wider network, five times the epochs
    # (30: 99.73 %, where 20 gave 99.62 % and 25 gave 99.66 % on the same machine; README's presets table).
    "best": Recipe(epochs=30, lr=2e-3, augment="photo"),
    # Small networks learn slowly: four times the epochs and a higher peak, on the images as they are
    # (99.45 % in TFLite Micro, README's microcontroller table).
    "tiny": Recipe(epochs=25, lr=3e-3),
}
MODELS = tuple(RECIPES)  # the architectures of train/models.py, by name
DEFAULT_MODEL = "cnn"
# Shapes with other widths and depths: "tiny:8-12-12-16-16" is tiny's shape with those filters per
# convolution (mnist-sweep trains such families; mnist-train --model takes them too).
FAMILIES = {"cnn": (3, 3), "tiny": (3, 7)}  # family -> (fewest, most) widths
MAX_WIDTH = 512


def parse_model(name: str) -> tuple[str, tuple[int, ...]]:
    """``"tiny:8-12-12-16-16"`` -> ``("tiny", (8, 12, 12, 16, 16))``; a preset's name -> ``(name, ())``.

    Raises ValueError with a one-line message naming the fix.
    """
    if name in RECIPES:
        return name, ()
    family, _, widths = name.partition(":")
    if family not in FAMILIES or not widths:
        raise ValueError(
            f"unknown model {name!r}; choose one of: {', '.join(MODELS)}, "
            f"or a shape such as {', '.join(f'{f}:{SHAPE_EXAMPLES[f]}' for f in FAMILIES)}"
        )
    fewest, most = FAMILIES[family]
    try:
        filters = tuple(int(w) for w in widths.split("-"))
    except ValueError:
        filters = ()
    if not fewest <= len(filters) <= most or not all(1 <= w <= MAX_WIDTH for w in filters):
        raise ValueError(
            f"model {name!r}: {family} takes {fewest}"
            + (f" to {most}" if most != fewest else "")
            + f" widths from 1 to {MAX_WIDTH} joined by '-', e.g. {family}:{SHAPE_EXAMPLES[family]}"
        )
    return family, filters


def recipe_of(name: str) -> Recipe:
    """The recipe of a preset, or of the preset whose shape ``name`` varies; the default's for anything else."""
    try:
        family, _ = parse_model(name)
    except ValueError:
        family = DEFAULT_MODEL
    return RECIPES.get(family, RECIPES[DEFAULT_MODEL])


SHAPE_EXAMPLES = {"cnn": "16-32-48", "tiny": "8-12-12-16-16"}
