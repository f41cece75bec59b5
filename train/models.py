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


def _conv_bn(filters: int, size: int) -> list[layers.Layer]:
    # No bias: BatchNorm's shift replaces it, and the converter folds BN into the convolution.
    # momentum 0.9: the moving statistics settle within a short run too (quick tries, tests).
    return [layers.Conv2D(filters, size, use_bias=False), layers.BatchNormalization(momentum=0.9), layers.ReLU()]


def cnn(num_classes: int) -> keras.Model:
    """Our default: a 5x5 then two 3x3 convolutions with BatchNorm, and a small dense head.

    Chosen by measurement for accuracy per second of training on a 2-core laptop: it matched
    a conv32-conv32-conv64-conv64 stack (99.4-99.5 % after a few epochs) at a third of the
    compute, because the 5x5 layer works on 28x28 with one input channel and the 3x3 ones
    only after pooling. 190k parameters keep the int8 file well under 30 % of float32.
    """
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            *_conv_bn(32, 5),
            layers.MaxPooling2D(),
            *_conv_bn(64, 3),
            *_conv_bn(64, 3),
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


def tiny(num_classes: int) -> keras.Model:
    """For microcontrollers. Budget: int8 flash <= 64 KiB, TFLM tensor arena <= 32 KiB, >= 99.0 % on MNIST.

    Measured in TFLite Micro (benchmarks/bench_micro.py): 53,816 bytes of flash (52.6 KiB), a
    26,928-byte arena (26.3 KiB), 99.35 % on the test set after 5 epochs at lr 2e-3 (100 s on
    2 cores). The arena is set by the 24x24x32 activations of the 5x5 layer (18 KiB, with its
    input or the pooled output beside it); 32 filters is the most the budget allows there. The dense layers are
    convolutions over the whole 4x4 map and a 1x1 one, and GlobalAveragePooling over 1x1 takes the
    place of Flatten: Flatten adds SHAPE, STRIDED_SLICE, PACK and RESHAPE for the variable batch
    size, so this way the firmware registers only CONV_2D, MAX_POOL_2D, MEAN and SOFTMAX.
    """
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            *_conv_bn(32, 5),  # 24x24x32
            layers.MaxPooling2D(),  # 12x12x32
            *_conv_bn(32, 3),  # 10x10x32
            *_conv_bn(32, 3),  # 8x8x32
            layers.MaxPooling2D(),  # 4x4x32
            *_conv_bn(48, 4),  # 1x1x48: a dense layer of 48 over the whole map
            layers.Dropout(0.25),
            layers.Conv2D(num_classes, 1),  # 1x1xclasses: the output layer
            layers.GlobalAveragePooling2D(),  # (N, classes), without Flatten's shape operators
            layers.Softmax(),
        ],
        name="tiny",
    )


MODELS = {"mlp": mlp, "lenet": lenet, "cnn": cnn, "tiny": tiny}


def build_model(name: str, num_classes: int = 10) -> keras.Model:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](num_classes)
