"""Keep TensorFlow's log lines off the user's screen unless --verbose, without changing what it runs on.

Python's side (``tensorflow``/``absl`` loggers, Keras warnings) is quieted by log levels. The
C++ side writes straight to file descriptor 2 at import ("Could not find cuda drivers",
"All log messages before absl::InitializeLog() ...") whatever TF_CPP_MIN_LOG_LEVEL says, so
:func:`import_tensorflow` imports it inside :func:`edge.native_output.native_output_captured`:
that output is dropped when the import works, shown when it fails, and a native crash still
reports itself. Nothing here touches the devices TensorFlow uses or its performance switches.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from types import ModuleType

from edge.native_output import Captured, native_output_captured


def quiet_tensorflow(verbose: bool = False) -> None:
    """Quiet TensorFlow's Python-side logs and its C++ log levels; call before it is first imported."""
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ INFO/WARNING/ERROR lines
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", module="tensorflow")
    warnings.filterwarnings("ignore", module="keras")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)


def import_tensorflow(verbose: bool = False) -> ModuleType:
    """``import tensorflow``, quietly (see above), for the command line tools; returns the module."""
    quiet_tensorflow(verbose)
    with native_output_captured(enabled=not verbose):
        import tensorflow as tf
    return tf


def native_stderr_silenced(enabled: bool = True) -> contextlib.AbstractContextManager[Captured]:
    """Around a call whose native code writes to descriptor 2 (the TFLite converter's MLIR passes):
    dropped when it works, shown when it raises. The same mechanism as :func:`import_tensorflow`.
    """
    return native_output_captured(enabled=enabled)


def gpu_line(tf: ModuleType, verbose: bool = False) -> str | None:
    """One line naming the GPUs TensorFlow will use, or None when it has none (it then trains on the CPU)."""
    with native_output_captured(enabled=not verbose):  # CUDA's probing may print, even when it finds a GPU
        gpus = tf.config.list_physical_devices("GPU")
        names = [tf.config.experimental.get_device_details(gpu).get("device_name") or gpu.name for gpu in gpus]
    return describe_gpus(names)


def describe_gpus(names: list[str]) -> str | None:
    """``["NVIDIA H100"]`` -> "Training on the GPU: NVIDIA H100"; no names -> None."""
    if not names:
        return None
    if len(names) == 1:
        return f"Training on the GPU: {names[0]}"
    return f"Training on GPU 0 of {len(names)}: {names[0]} (Keras uses one GPU unless told otherwise)"
