"""The model zoo: the tutorials' MLP, the classic LeNet, and our default CNN.

Every model takes float32 pixels in [0, 1] of shape (28, 28, 1) (see edge/preprocess.py) and
ends in softmax, so the edge runner reads probabilities straight from the output.
"""

from __future__ import annotations

import keras
from keras import layers

from edge.preprocess import INPUT_SHAPE
from train.presets import parse_model


def mlp(num_classes: int) -> keras.Model:
    """The tutorials' first model: Flatten, Dense(128), Dense(10)."""
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="mlp",
    )


def lenet(num_classes: int) -> keras.Model:
    """LeCun et al. 1998 (LeNet-5), with ReLU and max pooling as it is usually taught today."""
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(6, 5, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(120, activation="relu"),
            layers.Dense(84, activation="relu"),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="lenet",
    )


def _conv_bn(filters: int, size: int, momentum: float = 0.9) -> list[layers.Layer]:
    # No bias: BatchNorm's shift replaces it, and the converter folds BN into the convolution.
    # momentum 0.9: the moving statistics settle within a short run too (quick tries, tests).
    return [
        layers.Conv2D(filters, size, use_bias=False),
        layers.BatchNormalization(momentum=momentum),
        layers.ReLU(),
    ]


def cnn_shaped(
    num_classes: int,
    filters: tuple[int, int, int] = (32, 64, 64),
    dense: int = 128,
    dropout: float = 0.25,
    name: str = "cnn",
) -> keras.Model:
    """A 5x5 then two 3x3 convolutions with BatchNorm, and a small dense head; ``filters`` per convolution.

    The 5x5 layer works on 28x28 with one input channel and the 3x3 ones only after pooling,
    which keeps the compute low for the accuracy.
    """
    first, second, third = filters
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            *_conv_bn(first, 5),
            layers.MaxPooling2D(),
            *_conv_bn(second, 3),
            *_conv_bn(third, 3),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(dropout),
            layers.Dense(dense, use_bias=False),
            layers.BatchNormalization(momentum=0.9),
            layers.ReLU(),
            layers.Dropout(dropout),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name=name,
    )


def cnn(num_classes: int) -> keras.Model:
    """Our default: 99.6 % in 3 minutes of training on 2 cores (README's presets table has the figures).

    Chosen by measurement for accuracy per second of training: the 5x5 layer's 24x24 maps cost the
    most time per filter (convolution, BatchNorm, ReLU and pooling over 576 positions), so it has
    16 filters, and the 3x3 layers after pooling carry the width. With the photo augmentation the
    network never sees the same digit twice, so a light dropout (0.1) is enough.
    """
    return cnn_shaped(num_classes, (16, 48, 64), dropout=0.1)


def best(num_classes: int) -> keras.Model:
    """The most accurate preset: the cnn's shape, wider in front, trained four times as long (train/presets.py)."""
    return cnn_shaped(num_classes, (32, 64, 64), name="best")


# tiny's BatchNorm: its seven layers compound the moving statistics' lag, which mnist-sweep's short runs
# (tens of steps) read in inference mode. Measured after 44 steps: 0.9 left validation accuracy 8-26 points
# below the training-mode figure; 0.7 matches it, and the 25-epoch preset reaches 99.45 % in TFLM with it.
TINY_BN_MOMENTUM = 0.7


def tiny_shaped(
    num_classes: int, filters: tuple[int, ...] = (8, 12, 16, 16, 16, 16), name: str = "tiny"
) -> keras.Model:
    """For microcontrollers: two 3x3 convolutions on the full image, pooling, more 3x3 ones, then the head.

    ``filters``: the two full-size layers' filters, then those of the ``len(filters) - 2`` layers after
    pooling (each trims the 12x12 map by 2). The head is a 1x1 convolution to the classes with BatchNorm
    (folded into it on conversion; without it the head learns too slowly for short runs), averaged over
    the final map: ``filters[-1] x classes`` weights whatever the map's size, where a convolution over the
    whole map needs side x side times as many. So the firmware registers only CONV_2D, MAX_POOL_2D, MEAN
    and SOFTMAX (Flatten would add SHAPE, STRIDED_SLICE, PACK and RESHAPE for the variable batch size).
    The TFLM arena is set by the two full-size layers' int8 outputs side by side: 26x26 bytes per filter
    of the first, 24x24 of the second.
    """
    side = 12 - 2 * (len(filters) - 2)  # the final map, after the layers that follow the pooling
    if len(filters) < 3 or side < 2:
        raise ValueError(f"tiny's shape takes 3 to 7 widths, not {len(filters)}")
    convolutions = [layer for width in filters[2:] for layer in _conv_bn(width, 3, TINY_BN_MOMENTUM)]
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            *_conv_bn(filters[0], 3, TINY_BN_MOMENTUM),  # 26x26
            *_conv_bn(filters[1], 3, TINY_BN_MOMENTUM),  # 24x24
            layers.MaxPooling2D(),  # 12x12
            *convolutions,
            layers.Dropout(0.1),
            layers.Conv2D(num_classes, 1, use_bias=False),  # side x side x classes
            layers.BatchNormalization(momentum=TINY_BN_MOMENTUM),
            layers.GlobalAveragePooling2D(),  # (N, classes), without Flatten's shape operators
            layers.Softmax(),
        ],
        name=name,
    )


def tiny(num_classes: int) -> keras.Model:
    """The preset for microcontrollers (see README's microcontroller table for its figures)."""
    return tiny_shaped(num_classes)


MODELS = {"mlp": mlp, "lenet": lenet, "cnn": cnn, "best": best, "tiny": tiny}
SHAPES = {"cnn": cnn_shaped, "tiny": tiny_shaped}  # the families of train/presets.py's FAMILIES


def build_model(name: str, num_classes: int = 10) -> keras.Model:
    """A preset by name (``cnn``), or a family's shape with other widths (``tiny:8-12-12-16-16``).

    A shape's Keras model is named after its family: the name prefixes every tensor's name in the
    ``.tflite`` file, so a longer one would make a shape's file larger than its preset's by bytes
    that say nothing about the model (mnist-sweep compares sizes to a budget in bytes).
    """
    family, filters = parse_model(name)  # ValueError for an unknown name
    if not filters:
        return MODELS[family](num_classes)
    return SHAPES[family](num_classes, filters, name=family)
