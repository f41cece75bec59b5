"""The model zoo: the tutorials' MLP, the classic LeNet, and our default CNN.

Every model takes float32 pixels in [0, 1] of shape (28, 28, 1) (see edge/preprocess.py) and
ends in softmax, so the edge runner reads probabilities straight from the output.
"""

from __future__ import annotations

import keras
from keras import layers

from edge.preprocess import INPUT_SHAPE


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


def _conv_bn(filters: int) -> list[layers.Layer]:
    # No bias: BatchNorm's shift replaces it, and the converter folds BN into the convolution.
    # momentum 0.9: the moving statistics settle within a short run too (quick tries, tests).
    return [layers.Conv2D(filters, 3, use_bias=False), layers.BatchNormalization(momentum=0.9), layers.ReLU()]


def cnn(num_classes: int) -> keras.Model:
    """Our default: two pairs of 3x3 conv + BatchNorm, then a small dense head.

    Chosen for accuracy per second of training on a 2-core laptop (>= 99.4 % in a few
    minutes), and for a model whose int8 file stays well under 30 % of float32.
    """
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            *_conv_bn(32),
            *_conv_bn(32),
            layers.MaxPooling2D(),
            *_conv_bn(64),
            *_conv_bn(64),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.25),
            layers.Dense(128, use_bias=False),
            layers.BatchNormalization(momentum=0.9),
            layers.ReLU(),
            layers.Dropout(0.25),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="cnn",
    )


MODELS = {"mlp": mlp, "lenet": lenet, "cnn": cnn}


def build_model(name: str, num_classes: int = 10) -> keras.Model:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](num_classes)
