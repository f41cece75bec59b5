"""What the benchmarks on rendered photos share (bench_photos, bench_numbers, bench_serve): the
model and MNIST arguments, the classifier, and the set, read from disk or rendered for the run."""

from __future__ import annotations

import argparse
import json
import os
import platform
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


def write_report(
    args: argparse.Namespace, name: str, table: str, summary: dict, results: list[dict], timing: dict, **extra
) -> dict:
    """The run's report (what was measured, how, on what machine, each result): written with the
    markdown ``table`` to OUT/``name``.json and OUT/``name``.md (each whole or not at all)."""
    from edge.files import write_atomic

    report = {
        "model": str(args.model),
        "set": str(args.set) if args.set else None,
        "seed": None if args.set else args.seed,
        "per_condition": None if args.set else args.per_condition,
        "threads": args.threads,
        **summary,
        "timing": timing,
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        **extra,
        "results": [{k: v for k, v in r.items() if not k.startswith("_")} for r in results],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / f"{name}.json", json.dumps(report, indent=1) + "\n")
    write_atomic(args.out / f"{name}.md", table)
    return report
