"""The interpreters the edge runner can use, by name, and the ``--runtime`` flag that picks one.

The one list: edge/runtime.py tries them in this order (LiteRT, the old tflite_runtime,
TensorFlow's own, then Arm NN for 32-bit Pi OS), and every command offers the same names. A module
of its own, standard library only, so that building a command's parser (``--help``, a usage
error) does not import NumPy or an interpreter.
"""

from __future__ import annotations

import argparse

RUNTIMES = ("ai_edge_litert", "tflite_runtime", "tensorflow", "pyarmnn")


def add_runtime_argument(parser: argparse.ArgumentParser) -> None:
    """``--runtime NAME``: one of :data:`RUNTIMES`; left out, the first one installed."""
    parser.add_argument(
        "--runtime", choices=RUNTIMES, help="interpreter to use (default: the first of these installed)"
    )
