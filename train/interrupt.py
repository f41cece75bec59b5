"""Ctrl-C during training, taken between batches.

Python raises KeyboardInterrupt wherever the main thread happens to be; inside a TensorFlow op that
can crash the process (a segmentation fault, no message, no way to resume). Here the first Ctrl-C
only sets a flag, and a Keras callback raises KeyboardInterrupt at the end of the current batch,
where stopping is safe; a second Ctrl-C stops at once, as usual.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class DeferredInterrupt:
    """The flag the signal handler sets and the callback checks."""

    def __init__(self) -> None:
        self.pending = False

    def handle(self, signum: int, frame: Any) -> None:
        if self.pending:
            raise KeyboardInterrupt  # a second Ctrl-C: the user means now
        self.pending = True

    def check(self, *_: Any, **__: Any) -> None:
        if self.pending:
            raise KeyboardInterrupt

    def callback(self) -> Any:
        """A Keras callback that stops at the next batch or epoch end; put it last, after the checkpoints."""
        import keras

        return keras.callbacks.LambdaCallback(
            on_train_batch_end=self.check, on_test_batch_end=self.check, on_epoch_end=self.check
        )


@contextmanager
def deferred_interrupt() -> Iterator[DeferredInterrupt]:
    """Ctrl-C sets the flag while inside; the previous handler comes back on the way out."""
    interrupt = DeferredInterrupt()
    if threading.current_thread() is not threading.main_thread():
        yield interrupt  # signals reach the main thread only: nothing to defer
        return
    previous = signal.signal(signal.SIGINT, interrupt.handle)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)
