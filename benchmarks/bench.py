"""mnist-bench: which file goes on the Pi, and what does it cost? Every variant, side by side, with a peer.

For the Keras model in TensorFlow, each .tflite file in manifest.json (LiteRT, and tflite-runtime
in another Python with --runtime-python) and the same model in ONNX Runtime (float32 and static
int8): size, accuracy on the whole test set, latency one image at a time (invoke alone and end
to end), throughput in batches, peak memory and cold start of a fresh process. Each model is
measured in its own process by the same code (benchmarks/worker.py).

    mnist-bench [--artifacts artifacts] [--out bench-results] [--threads 1,all] [--quick]

Writes results.json (every figure and the machine), results.md (the tables) and results.png.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import machine
from benchmarks.edge_startup import edge_startup
from benchmarks.progress import Progress
from benchmarks.settings import KERAS_RUNS_SHARE, QUICK, BenchError, Settings, parse_threads
from benchmarks.workers import Workers, measure_row, probe_row
from convert.other_python import other_python
from edge.command_line import OneLineParser
from edge.files import cannot_write, write_atomic, write_json
from edge.mnist_data import DataError
from edge.model_info import Manifest, Metrics, ModelInfoError, read_manifest, read_metrics
from edge.runtime import RuntimeProblem
from train.defaults import ARTIFACTS


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = OneLineParser(
        prog="mnist-bench",
        description="Size, accuracy, latency, throughput, memory and cold start of every model variant, "
        "side by side with ONNX Runtime. Writes results.json, results.md and results.png.",
        epilog="example: mnist-train && mnist-convert --quantize all && mnist-bench --quick",
    )
    p.add_argument(
        "--artifacts",
        type=Path,
        default=ARTIFACTS,
        metavar="DIR",
        help="mnist-train's model.keras and mnist-convert's .tflite files + manifest.json (default: artifacts)",
    )
    p.add_argument(
        "--data-dir", metavar="DIR", help="the MNIST files (default: $MNIST_DATA_DIR, the user cache, else download)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("bench-results"),
        metavar="DIR",
        help="where to write results.json, results.md, results.png (default: bench-results)",
    )
    p.add_argument(
        "--threads",
        type=parse_threads,
        default="1,all",
        metavar="N,N",
        help="thread counts to measure; 'all' = every core (default: 1,all)",
    )
    p.add_argument(
        "--runtime-python",
        action="append",
        default=[],
        metavar="PATH",
        help="also measure the TFLite runtime of this Python, e.g. a venv with tflite-runtime and numpy<2 (repeatable)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="fewer timing runs, throughput on 2,048 images; accuracy still on the whole test set",
    )
    p.add_argument(
        "--runs",
        type=int,
        metavar="N",
        help=f"timed single-image runs per measurement (default: 5000, --quick 300; Keras gets a {KERAS_RUNS_SHARE}th)",
    )
    p.add_argument(
        "--batch-size", type=int, default=256, metavar="N", help="batch size for accuracy and throughput (default: 256)"
    )
    p.add_argument("--no-onnx", action="store_true", help="leave out the ONNX Runtime peer")
    p.add_argument("--no-progress", action="store_true", help="no progress display")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's and the converters' own log lines")
    args = p.parse_args(argv)
    settings = Settings(threads=args.threads, batch_size=args.batch_size)
    if args.quick:
        settings = replace(settings, **QUICK)
    if args.runs is not None:
        if args.runs < 1:
            p.error("--runs must be at least 1")
        settings = replace(settings, runs=args.runs, warmup=min(settings.warmup, args.runs))
    if args.batch_size < 1:
        p.error("--batch-size must be at least 1")
    args.settings = settings
    return args


# --- the plan: one row per (runtime, model file) --------------------------------------------


def _row(runtime: str, variant: str, path: Path, python: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "runtime": runtime,
        "variant": variant,
        "file": path.name,
        "path": str(path.resolve()),
        "error": None,
    }
    if python:
        row["python"] = python
    row["bytes"] = path.stat().st_size if path.is_file() else None
    if row["bytes"] is None:
        row["error"] = f"{path}: file not found; run mnist-convert --quantize all again"
    return row


def read_artifacts(folder: Path) -> tuple[Manifest, Metrics | None]:
    """(manifest.json, metrics.json) of the artifacts folder, checked enough to plan a run."""
    if not folder.is_dir():
        raise BenchError(
            f"{folder}: no such folder; run mnist-train and mnist-convert --quantize all, or give --artifacts"
        )
    if not (folder / "model.keras").is_file():
        raise BenchError(f"{folder}: no model.keras; run mnist-train --out {folder} first")
    try:
        manifest = read_manifest(folder)
    except ModelInfoError as e:
        raise BenchError(str(e)) from None
    if manifest is None:
        raise BenchError(f"{folder}: no manifest.json; run mnist-convert --quantize all --out {folder} first")
    if not manifest.models:
        raise BenchError(f"{manifest.path}: lists no models; run mnist-convert --quantize all again")
    try:
        metrics = read_metrics(folder)
    except ModelInfoError:
        metrics = None
    return manifest, metrics


# --- the run ----------------------------------------------------------------------------------


def foreign_rows(
    python: str, manifest: Manifest, artifacts: Path, workers: Workers, failures: list[str]
) -> list[dict[str, Any]]:
    """Rows for the TFLite runtime of another Python, or a failure line if it has none."""
    info, error, _ = workers.run(python, "info", {})
    if error or not info or not info.get("runtime"):
        failures.append(f"--runtime-python {python}: {error or (info or {}).get('problem') or 'no TFLite runtime'}")
        return []
    rows = [_row(info["runtime"], m.variant, artifacts / m.file, python) for m in manifest.models]
    for row in rows:
        row["runtime_version"], row["python_version"] = info.get("version"), info.get("python")
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    from train.data import resolve_data_dir

    settings: Settings = args.settings
    # Absolute paths: each model is measured in a worker process that runs elsewhere.
    artifacts: Path = args.artifacts.expanduser().resolve()
    manifest, metrics = read_artifacts(artifacts)
    dataset = manifest.dataset or (metrics.dataset if metrics else None) or "mnist"
    for python in args.runtime_python:
        if not Path(python).is_file() or not os.access(python, os.X_OK):
            raise BenchError(f"--runtime-python {python}: not an executable file; give e.g. .venv-tflrt/bin/python")
    if not args.no_onnx:
        from benchmarks.onnx_peer import check_installed

        check_installed()
    out: Path = args.out.expanduser()
    why = cannot_write(out)
    if why:
        raise BenchError(f"{out}: cannot write there ({why}); choose another folder with --out")
    data = resolve_data_dir(dataset, args.data_dir, progress=not args.no_progress).resolve()

    rows = [_row("keras", "keras", artifacts / "model.keras")]
    rows += [_row("ai_edge_litert", m.variant, artifacts / m.file) for m in manifest.models]
    failures: list[str] = []
    results: dict[str, Any] = {
        "format": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["mnist-bench", *args.argv]),
        "quick": args.quick,
        "machine": machine.describe(),
        "settings": {
            **asdict(settings),
            "threads": list(settings.threads),
            "keras_runs": settings.keras_runs,
            "keras_warmup": settings.keras_warmup,
        },
        "model": {
            "artifacts": str(artifacts.resolve()),
            "dataset": dataset,
            "name": metrics.model if metrics else None,
            "keras_test_accuracy_in_training": metrics.test_accuracy if metrics else None,
            "macs_per_image": manifest.raw.get("macs_per_image")
            or (metrics.raw.get("macs_per_image") if metrics else None),
            "data": str(data),
        },
        "onnx": None,
        "rows": rows,
        "failures": failures,
    }
    with other_python() as other:
        workers = Workers(other)
        for python in args.runtime_python:
            rows += foreign_rows(python, manifest, artifacts, workers, failures)
        measured = 1 + 3 * len(settings.threads)
        planned = len(rows) + (0 if args.no_onnx else 2)
        total = (0 if args.no_onnx else 2) + planned * (measured + settings.probe_repeats) + 1
        progress = Progress(total, enabled=not args.no_progress)
        try:
            if args.no_onnx:
                results["onnx"] = {"skipped": "--no-onnx"}
            else:
                from benchmarks.onnx_peer import PeerError, make_onnx

                try:
                    results["onnx"] = make_onnx(
                        artifacts, out / "onnx", dataset, manifest, data, args.verbose, progress
                    )
                    for variant, path in results["onnx"].pop("files").items():
                        rows.append(_row("onnxruntime", variant, path))
                except PeerError as e:  # the rest is still worth measuring
                    results["onnx"] = {"error": str(e)}
                    failures.append(f"ONNX Runtime peer: {e}")
                    progress.done()
            for row in rows:
                if not row["error"]:
                    measure_row(row, workers, settings, data, progress)
            image = other.folder / "one_image.npy"
            from edge.mnist_data import load_split

            np.save(image, load_split(data, "test").images[0])
            for row in rows:
                if not row["error"]:
                    probe_row(row, workers, settings, image, progress)
            litert = {r["variant"]: r for r in rows if r["runtime"] == "ai_edge_litert" and not r["error"]}
            edge_model = litert.get("int8") or next(iter(litert.values()), None)
            progress.task("cold start: edge/classify.py vs TensorFlow", 1)
            if edge_model:
                results["edge_startup"] = edge_startup(
                    other, artifacts, Path(edge_model["path"]), data, settings.startup_repeats
                )
            progress.done()
        finally:
            progress.close()
    results["settings"]["test_images"] = max((r.get("images", 0) for r in rows), default=0)
    return results


def write_outputs(results: dict[str, Any], out: Path) -> list[Path]:
    from benchmarks.chart import plot
    from benchmarks.report import add_derived, markdown

    add_derived(results)
    paths = [out / "results.json", out / "results.md", out / "results.png"]
    results["chart"] = {"file": paths[2].name, "points": plot(results, paths[2])}
    write_atomic(paths[1], markdown(results))
    write_json(paths[0], results)
    return paths


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    args.argv = argv
    from train.tf_quiet import import_tensorflow

    import_tensorflow(args.verbose)
    from benchmarks.onnx_peer import PeerError

    try:
        results = run(args)
        paths = write_outputs(results, args.out.expanduser())
    except (BenchError, DataError, RuntimeProblem, PeerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; results were not written", file=sys.stderr)
        return 130
    text = paths[1].read_text()
    print(text.split("## Latency in detail")[0].rstrip())
    print(f"\nWrote {', '.join(str(p) for p in paths)}")
    # A model another Python's runtime cannot load is a finding; our own runtimes failing is not.
    broken = [
        f"{r['runtime']} {r['variant']}: {r['error']}" for r in results["rows"] if r["error"] and not r.get("python")
    ]
    if (results.get("onnx") or {}).get("error"):
        broken.append(f"ONNX Runtime peer: {results['onnx']['error']}")
    for text in broken:
        print(f"error: {text}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
