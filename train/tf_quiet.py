"""Keep TensorFlow's C++ log lines and CUDA probing off the user's screen unless --verbose.

TF 2.21 logs through absl straight to file descriptor 2 ("oneDNN custom operations are on",
"Could not find cuda drivers"), whatever TF_CPP_MIN_LOG_LEVEL says. So a command line tool
points descriptor 2 at /dev/null and gives Python's own ``sys.stderr`` (our errors, progress
bars, tracebacks) a private copy of the real one. Call before TensorFlow is first imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator


def quiet_tensorflow(verbose: bool = False, native: bool = False) -> None:
    """Quiet TF's Python-side logs; with ``native`` (command line tools only) also its C++ lines."""
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ INFO/WARNING/ERROR lines
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")  # no CUDA probing on machines without a GPU
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", module="tensorflow")
    warnings.filterwarnings("ignore", module="keras")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    # Only when stderr is still the process's own: pytest, notebooks and programs embedding us
    # have replaced sys.stderr, and must keep it.
    if native and sys.stderr is sys.__stderr__:
        sys.stderr.flush()
        private = os.fdopen(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        sys.stderr = private


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool = True) -> Iterator[None]:
    """Send file descriptor 2 to /dev/null: the TFLite converter's MLIR passes write there directly."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
