"""mnist-bench's settings: how many runs, warm-ups, images and repeats each measurement takes; its error."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from benchmarks import machine


class BenchError(Exception):
    """Bad input or a setup that cannot be measured; the message is one line with the fix."""


KERAS_RUNS_SHARE = 10  # Keras is ~100x slower per image: a tenth of the runs still gives stable percentiles


@dataclass(frozen=True)
class Settings:
    threads: tuple[int, ...]
    runs: int = 5000
    warmup: int = 200
    latency_images: int = 100  # distinct test images the single-image runs cycle through
    batch_size: int = 256
    throughput_images: int = 10_000
    throughput_repeats: int = 3
    probe_repeats: int = 3
    startup_repeats: int = 5

    @property
    def keras_runs(self) -> int:
        return max(20, self.runs // KERAS_RUNS_SHARE)

    @property
    def keras_warmup(self) -> int:
        return max(5, self.warmup // KERAS_RUNS_SHARE)


QUICK = {
    "runs": 300,
    "warmup": 30,
    "throughput_images": 2048,
    "throughput_repeats": 1,
    "probe_repeats": 1,
    "startup_repeats": 1,
}


def parse_threads(text: str) -> tuple[int, ...]:
    """'1,all' -> (1, cores): the thread counts to measure, in increasing order."""
    cores = machine.usable_cores()
    counts = set()
    for part in (p.strip().lower() for p in text.split(",")):
        if part == "all":
            counts.add(cores)
        elif part.isdigit() and int(part) > 0:
            counts.add(int(part))
        else:
            raise argparse.ArgumentTypeError(f"{part!r} is not a thread count; give e.g. 1,all or 1,2,4")
    return tuple(sorted(counts))
