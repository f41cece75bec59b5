"""mnist-bench's progress display: a bar on a terminal, a line per task in a log."""

from __future__ import annotations

import sys
from collections.abc import Callable


class Progress:
    """A tqdm bar counting measurement steps on a terminal; one line per task in a log."""

    def __init__(self, total: int, enabled: bool):
        from tqdm.auto import tqdm

        self.lines = enabled and not sys.stderr.isatty()
        self.bar = tqdm(
            total=total,
            unit="step",
            disable=not enabled or self.lines,
            dynamic_ncols=True,
            bar_format="{desc:<46.46} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]",
        )
        self._left = 0
        self.count, self.total = 0, total

    def task(self, text: str, steps: int) -> Callable[[dict], None]:
        """Start a task of ``steps`` steps; returns the callback for its progress messages."""
        self.bar.set_description_str(text)
        if self.lines:
            print(f"[{self.count}/{self.total} steps] {text}", file=sys.stderr, flush=True)
        self._left = steps
        return self.step

    def step(self, _message: dict | None = None) -> None:
        if self._left > 0:
            self._left -= 1
            self.count += 1
            self.bar.update(1)

    def done(self) -> None:
        """Skip what a failed task did not get to."""
        if self._left:
            self.count += self._left
            self.bar.update(self._left)
        self._left = 0

    def close(self) -> None:
        self.bar.close()
