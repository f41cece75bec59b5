"""What the benchmarks on rendered photos share (bench_photos, bench_numbers, bench_serve): the
model and MNIST arguments, the classifier, and the set, read from disk or rendered for the run."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from benchmarks import photo_set
from benchmarks.settings import BenchError


def add_model_arguments(parser: argparse.ArgumentParser, digits: str) -> None:
    """``--model`` and ``--data-dir`` (MNIST, whose test digits ``digits`` says what for)."""
    parser.add_argument("--model", type=Path, required=True, help=".tflite file")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("MNIST_DATA_DIR", photo_set.DEFAULT_DATA_DIR)),
        help=f"MNIST folder (the test digits {digits})",
    )


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def classifier(model: Path, threads: int | None):
    """The LiteRT classifier of ``model``, or a one-line :class:`BenchError`."""
    from edge.runtime import Classifier, RuntimeProblem

    if not model.exists():
        raise BenchError(f"{model}: model file not found; give the .tflite file mnist-convert wrote")
    try:
        return Classifier(model, threads=threads)
    except RuntimeProblem as e:
        raise BenchError(str(e)) from None


@contextmanager
def set_rows(args: argparse.Namespace, maker: ModuleType, what: str) -> Iterator[tuple[Path, list[dict], float | None]]:
    """(set folder, its rows, seconds spent rendering or None) of ``args.set``, or of a set that
    ``maker`` (benchmarks.photo_set or number_set) renders into a temporary folder for the run:
    ``args.per_condition`` ``what`` (photos, numbers) of each of ``args.conditions``."""
    with tempfile.TemporaryDirectory(prefix=f"{maker.__name__.rsplit('.', 1)[-1]}-") as temp:
        if args.set is not None:
            if not (args.set / "labels.csv").is_file():
                raise BenchError(f"{args.set}: no labels.csv; write a set with python -m {maker.__name__} OUT")
            yield args.set, maker.read_set(args.set), None
            return
        from edge.mnist_data import DataError, load_split

        if args.per_condition < 1:
            raise BenchError("--per-condition must be at least 1")
        conditions = tuple(c.strip() for c in args.conditions.split(",") if c.strip())
        try:
            test = load_split(args.data_dir, "test")
        except DataError as e:
            raise BenchError(str(e)) from None
        set_dir = Path(temp) / "set"
        progress(f"rendering {args.per_condition} {what} x {len(conditions)} conditions ...")
        started = time.perf_counter()
        try:
            rows = maker.write_set(
                set_dir, test.images, test.labels, args.per_condition, args.seed, conditions, args.workers, True
            )
        except ValueError as e:
            raise BenchError(str(e)) from None
        render_s = time.perf_counter() - started
        progress(f"rendered {len(rows)} {what} in {render_s:.1f} s")
        yield set_dir, rows, render_s
