"""Running our own code in another Python: the one way, for the runtime check and for mnist-bench's workers.

Another interpreter (a virtual environment with the Raspberry Pi's tflite-runtime and NumPy 1,
say) must see our packages but none of this environment's: its own NumPy would clash with
ours. A temporary folder holding a link to each of our packages goes on its ``PYTHONPATH``, and
the code runs as a module, ``python -m convert.compat ...``: real files, no source in strings.
Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edge", "convert", "benchmarks", "train")


class OtherPython:
    """A folder of links to our packages; runs ``python -m module args`` with it as the only extra path."""

    def __init__(self, folder: Path, packages: Sequence[str] = PACKAGES):
        self.folder = Path(folder)
        for name in packages:
            (self.folder / name).symlink_to(REPO_ROOT / name, target_is_directory=True)
        self.env = {**os.environ, "PYTHONPATH": str(self.folder), "PYTHONDONTWRITEBYTECODE": "1"}

    def command(self, python: str, module: str, args: Sequence[Any] = ()) -> list[str]:
        return [python, "-m", module, *map(str, args)]

    def run(self, python: str, module: str, args: Sequence[Any] = (), **kwargs: Any) -> subprocess.CompletedProcess:
        """``subprocess.run`` of the module; OSError when ``python`` cannot be started."""
        return subprocess.run(self.command(python, module, args), cwd=self.folder, env=self.env, **kwargs)

    def popen(self, python: str, module: str, args: Sequence[Any] = (), **kwargs: Any) -> subprocess.Popen:
        """``subprocess.Popen`` of the module, to read its output as it comes."""
        return subprocess.Popen(self.command(python, module, args), cwd=self.folder, env=self.env, **kwargs)


@contextlib.contextmanager
def other_python(packages: Sequence[str] = PACKAGES) -> Iterator[OtherPython]:
    """An :class:`OtherPython` whose folder of links is removed when the block ends."""
    with tempfile.TemporaryDirectory(prefix="mnist-edge-code-") as tmp:
        yield OtherPython(Path(tmp), packages)
