"""Keep what native code writes to file descriptor 2 off the screen, around one call at a time.

TensorFlow's import, the TFLite converter's MLIR passes and TFLite interpreters write straight
to descriptor 2 ("Could not find cuda drivers", "Created TensorFlow Lite XNNPACK delegate"),
whatever Python's ``sys.stderr`` is. :func:`native_output_captured` points descriptor 2 at a
temporary file for the duration of a ``with`` block only, and:

- on success, drops the text (``.text`` holds it, for a caller that wants to read it);
- when the block raises, writes the captured text to the real stderr before the error goes on
  (``replay=False`` leaves that to the caller, e.g. to turn it into one line of advice);
- when native code aborts or crashes inside the block, Python's ``faulthandler`` writes
  "Fatal Python error: Aborted" and the Python stack to the real stderr, so the process does
  not die without a word.

Standard library only: the edge runner uses it on the device.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import sys
import tempfile
from collections.abc import Iterator


class Captured:
    """What a block wrote to descriptor 2; filled in when the block ends."""

    text = ""


@contextlib.contextmanager
def native_output_captured(enabled: bool = True, replay: bool = True) -> Iterator[Captured]:
    """Capture descriptor 2 around a block (see above); ``enabled=False`` (``--verbose``) does nothing."""
    captured = Captured()
    try:
        if not enabled:
            raise ValueError("not enabled")
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # disabled, or no real stderr (embedded, closed)
        yield captured
        return
    real_stderr = os.fdopen(saved, "w", closefd=False)
    crash_report = not faulthandler.is_enabled()  # pytest or PYTHONFAULTHANDLER may have set it up already
    failed = False
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        if crash_report:
            faulthandler.enable(file=real_stderr)
        try:
            yield captured
        except Exception:  # not KeyboardInterrupt: Ctrl-C is no reason to show the chatter
            failed = True
            raise
        finally:
            if crash_report:
                faulthandler.disable()
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")
            if failed and replay and captured.text:
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.write(captured.text if captured.text.endswith("\n") else captured.text + "\n")
                    sys.stderr.flush()
