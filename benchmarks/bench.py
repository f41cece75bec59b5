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
import contextlib
import io
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import machine
from edge.mnist_data import DataError
from edge.runtime import RuntimeProblem
from train.files import write_atomic

KERAS_RUNS_SHARE = 10  # Keras is ~100x slower per image: a tenth of the runs still gives stable percentiles


class BenchError(Exception):
    """Bad input or a setup that cannot be measured; the message is one line with the fix."""


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


QUICK = {"runs": 300, "warmup": 30, "throughput_images": 2048, "throughput_repeats": 1, "probe_repeats": 1,
         "startup_repeats": 1}


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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="mnist-bench",
        description="Size, accuracy, latency, throughput, memory and cold start of every model variant, "
        "side by side with ONNX Runtime. Writes results.json, results.md and results.png.",
        epilog="example: mnist-train && mnist-convert --quantize all && mnist-bench --quick",
    )
    p.add_argument("--artifacts", type=Path, default=Path("artifacts"), metavar="DIR",
                   help="mnist-train's model.keras and mnist-convert's .tflite files + manifest.json "
                   "(default: artifacts)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="the MNIST files (default: $MNIST_DATA_DIR, the user cache, else download)")
    p.add_argument("--out", type=Path, default=Path("bench-results"), metavar="DIR",
                   help="where to write results.json, results.md, results.png (default: bench-results)")
    p.add_argument("--threads", type=parse_threads, default="1,all", metavar="N,N",
                   help="thread counts to measure; 'all' = every core (default: 1,all)")
    p.add_argument("--runtime-python", action="append", default=[], metavar="PATH",
                   help="also measure the TFLite runtime of this Python, e.g. a venv with tflite-runtime and "
                   "numpy<2 (repeatable)")
    p.add_argument("--quick", action="store_true",
                   help="fewer timing runs, throughput on 2,048 images; accuracy still on the whole test set")
    p.add_argument("--runs", type=int, metavar="N",
                   help=f"timed single-image runs per measurement (default: 5000, --quick 300; Keras gets a "
                   f"{KERAS_RUNS_SHARE}th)")
    p.add_argument("--batch-size", type=int, default=256, metavar="N",
                   help="batch size for accuracy and throughput (default: 256)")
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


# --- the measuring processes ----------------------------------------------------------------


class Workers:
    """Runs benchmarks/worker.py in a fresh process of any Python, with only our packages on its path.

    A folder of links to edge/, benchmarks/ and train/ goes on PYTHONPATH: another Python must
    see our code but none of this environment's packages (its NumPy 2 would break tflite-runtime).
    """

    def __init__(self, folder: Path):
        import benchmarks  # noqa: PLC0415
        import edge  # noqa: PLC0415
        import train  # noqa: PLC0415

        self.folder = folder
        for package in (edge, benchmarks, train):
            source = Path(package.__file__).resolve().parent
            (folder / source.name).symlink_to(source, target_is_directory=True)
        self.env = {**os.environ, "PYTHONPATH": str(folder), "PYTHONDONTWRITEBYTECODE": "1"}

    def run(self, python: str, mode: str, job: dict[str, Any], on_progress: Callable[[dict], None] = lambda _m: None,
            ) -> tuple[dict[str, Any] | None, str | None, float]:
        """(result, error, seconds from process start to its result line)."""
        start = time.perf_counter()
        with tempfile.TemporaryFile(mode="w+") as stderr:
            try:
                process = subprocess.Popen(
                    [python, "-m", "benchmarks.worker", mode, json.dumps(job)],
                    stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=self.folder, env=self.env,
                )
            except OSError as e:
                return None, f"{python}: cannot run it ({e.strerror or e})", 0.0
            result, error, seconds = None, None, 0.0
            assert process.stdout is not None
            for line in process.stdout:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # a runtime's own chatter on stdout
                if "result" in message:
                    result, seconds = message["result"], time.perf_counter() - start
                elif "error" in message:
                    error = message["error"]
                elif "progress" in message:
                    on_progress(message)
            process.wait()
            if result is None and error is None:
                stderr.seek(0)
                lines = [line for line in stderr.read().strip().splitlines() if line.strip()]
                error = f"the measuring process failed (exit {process.returncode}): {lines[-1] if lines else 'no output'}"
        return result, error, seconds


# --- the plan: one row per (runtime, model file) --------------------------------------------


def _row(runtime: str, variant: str, path: Path, python: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"runtime": runtime, "variant": variant, "file": path.name, "path": str(path.resolve()),
                           "error": None}
    if python:
        row["python"] = python
    row["bytes"] = path.stat().st_size if path.is_file() else None
    if row["bytes"] is None:
        row["error"] = f"{path}: file not found; run mnist-convert --quantize all again"
    return row


def variant_of(entry: dict[str, Any]) -> str:
    return str(entry.get("variant") or Path(entry["file"]).stem)


def read_artifacts(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(manifest.json, metrics.json) of the artifacts folder, checked enough to plan a run."""
    if not folder.is_dir():
        raise BenchError(f"{folder}: no such folder; run mnist-train and mnist-convert --quantize all, or give --artifacts")
    if not (folder / "model.keras").is_file():
        raise BenchError(f"{folder}: no model.keras; run mnist-train --out {folder} first")
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except FileNotFoundError:
        raise BenchError(f"{folder}: no manifest.json; run mnist-convert --quantize all --out {folder} first") from None
    except (OSError, ValueError) as e:
        raise BenchError(f"{folder / 'manifest.json'}: cannot read it ({e}); run mnist-convert again") from None
    models = manifest.get("models") if isinstance(manifest, dict) else None
    if not isinstance(models, list) or not models or not all(isinstance(m, dict) and "file" in m for m in models):
        raise BenchError(f"{folder / 'manifest.json'}: lists no models; run mnist-convert --quantize all again")
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        metrics = {}
    return manifest, metrics


def check_out_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".mnist-bench-", suffix=".tmp"):
            pass
    except OSError as e:
        raise BenchError(f"{out}: cannot write there ({e.strerror or e}); choose another folder with --out") from None


# --- the run ----------------------------------------------------------------------------------


class Progress:
    """A tqdm bar counting measurement steps on a terminal; one line per task in a log."""

    def __init__(self, total: int, enabled: bool):
        from tqdm.auto import tqdm  # noqa: PLC0415

        self.lines = enabled and not sys.stderr.isatty()
        self.bar = tqdm(total=total, unit="step", disable=not enabled or self.lines, dynamic_ncols=True,
                        bar_format="{desc:<46.46} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]")
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


def measure_row(row: dict[str, Any], workers: Workers, settings: Settings, data: Path, progress: Progress) -> None:
    """Accuracy, latency and throughput of one row, in place; a failure becomes ``row['error']``."""
    python = row.get("python") or sys.executable
    keras = row["runtime"] == "keras"
    job = {
        "runtime": row["runtime"], "model": row["path"], "data": str(data), "batch_size": settings.batch_size,
        "runs": settings.keras_runs if keras else settings.runs,
        "warmup": settings.keras_warmup if keras else settings.warmup,
        "latency_images": settings.latency_images, "throughput_images": settings.throughput_images,
        "throughput_repeats": settings.throughput_repeats,
    }
    # TensorFlow sizes its thread pools once per process: one process per thread count.
    groups = [[t] for t in settings.threads] if keras else [list(settings.threads)]
    name = f"{row['runtime'].replace('ai_edge_litert', 'litert')} {row['variant']}"
    on_progress = progress.task(f"measuring {name}", 1 + 3 * len(settings.threads))
    for i, threads in enumerate(groups):
        result, error, _ = workers.run(python, "measure", {**job, "threads": threads, "accuracy": i == 0}, on_progress)
        if error:
            row["error"] = error
            break
        assert result is not None
        for key in ("latency_us", "throughput"):
            row.setdefault(key, {}).update(result.pop(key))
        row.update(result)
    progress.done()


def probe_row(row: dict[str, Any], workers: Workers, settings: Settings, image: Path, progress: Progress) -> None:
    """Peak memory and cold start of a fresh process that loads the model and classifies one image."""
    python = row.get("python") or sys.executable
    progress.task(f"memory, cold start {row['runtime'].replace('ai_edge_litert', 'litert')} {row['variant']}",
                  settings.probe_repeats)
    rss, seconds = [], []
    for _ in range(settings.probe_repeats):
        result, error, took = workers.run(python, "probe", {"runtime": row["runtime"], "model": row["path"],
                                                            "image": str(image), "threads": 1})
        progress.step()
        if error:
            row["error"] = error
            break
        assert result is not None
        rss.append(result["peak_rss_bytes"])
        seconds.append(took)
    if rss:
        row["peak_rss_bytes"] = int(statistics.median(rss))
        row["cold_start_s"] = statistics.median(seconds)
        row["probe_runs"] = len(rss)
    progress.done()


def edge_startup(artifacts: Path, model: Path, data: Path, repeats: int, folder: Path) -> dict[str, Any]:
    """edge/classify.py against TensorFlow loading model.keras: benchmarks/bench_edge_startup.py's measurement."""
    from benchmarks import bench_edge_startup as startup  # noqa: PLC0415

    try:
        image = startup.sample_image(data, folder)
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per run; our bar shows progress
            found = startup.measure_startup(sys.executable, model, artifacts / "model.keras", image, repeats)
    except (startup.BenchError, subprocess.SubprocessError, OSError) as e:
        return {"error": " ".join(str(e).split())[:300]}
    return {**found, "model": model.name, "image": image.name}


def foreign_rows(python: str, manifest: dict[str, Any], artifacts: Path, workers: Workers,
                 failures: list[str]) -> list[dict[str, Any]]:
    """Rows for the TFLite runtime of another Python, or a failure line if it has none."""
    info, error, _ = workers.run(python, "info", {})
    if error or not info or not info.get("runtime"):
        failures.append(f"--runtime-python {python}: {error or (info or {}).get('problem') or 'no TFLite runtime'}")
        return []
    rows = [_row(info["runtime"], variant_of(m), artifacts / m["file"], python) for m in manifest["models"]]
    for row in rows:
        row["runtime_version"], row["python_version"] = info.get("version"), info.get("python")
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    from train.data import resolve_data_dir  # noqa: PLC0415

    settings: Settings = args.settings
    # Absolute paths: each model is measured in a worker process that runs elsewhere.
    artifacts: Path = args.artifacts.expanduser().resolve()
    manifest, metrics = read_artifacts(artifacts)
    dataset = str(manifest.get("dataset") or metrics.get("dataset") or "mnist")
    for python in args.runtime_python:
        if not Path(python).is_file() or not os.access(python, os.X_OK):
            raise BenchError(f"--runtime-python {python}: not an executable file; give e.g. .venv-tflrt/bin/python")
    if not args.no_onnx:
        from benchmarks.onnx_peer import check_installed  # noqa: PLC0415

        check_installed()
    out: Path = args.out.expanduser()
    check_out_dir(out)
    data = resolve_data_dir(dataset, args.data_dir, progress=not args.no_progress).resolve()

    rows = [_row("keras", "keras", artifacts / "model.keras")]
    rows += [_row("ai_edge_litert", variant_of(m), artifacts / m["file"]) for m in manifest["models"]]
    failures: list[str] = []
    results: dict[str, Any] = {
        "format": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["mnist-bench", *args.argv]),
        "quick": args.quick,
        "machine": machine.describe(),
        "settings": {**asdict(settings), "threads": list(settings.threads), "keras_runs": settings.keras_runs,
                     "keras_warmup": settings.keras_warmup},
        "model": {"artifacts": str(artifacts.resolve()), "dataset": dataset, "name": metrics.get("model"),
                  "keras_test_accuracy_in_training": metrics.get("test_accuracy"), "data": str(data)},
        "onnx": None,
        "rows": rows,
        "failures": failures,
    }
    with tempfile.TemporaryDirectory(prefix="mnist-bench-") as tmp:
        workers = Workers(Path(tmp))
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
                from benchmarks.onnx_peer import PeerError  # noqa: PLC0415

                try:
                    results["onnx"] = make_onnx(artifacts, out / "onnx", dataset, manifest, data, args.verbose, progress)
                    for variant, path in results["onnx"].pop("files").items():
                        rows.append(_row("onnxruntime", variant, path))
                except PeerError as e:  # the rest is still worth measuring
                    results["onnx"] = {"error": str(e)}
                    failures.append(f"ONNX Runtime peer: {e}")
                    progress.done()
            for row in rows:
                if not row["error"]:
                    measure_row(row, workers, settings, data, progress)
            image = Path(tmp) / "one_image.npy"
            from edge.mnist_data import load_split  # noqa: PLC0415

            np.save(image, load_split(data, "test").images[0])
            for row in rows:
                if not row["error"]:
                    probe_row(row, workers, settings, image, progress)
            litert = {r["variant"]: r for r in rows if r["runtime"] == "ai_edge_litert" and not r["error"]}
            edge_model = litert.get("int8") or next(iter(litert.values()), None)
            progress.task("cold start: edge/classify.py vs TensorFlow", 1)
            if edge_model:
                results["edge_startup"] = edge_startup(artifacts, Path(edge_model["path"]), data,
                                                       settings.startup_repeats, Path(tmp))
            progress.done()
        finally:
            progress.close()
    results["settings"]["test_images"] = max((r.get("images", 0) for r in rows), default=0)
    return results


def make_onnx(artifacts: Path, folder: Path, dataset: str, manifest: dict[str, Any], data: Path, verbose: bool,
              progress: Progress) -> dict[str, Any]:
    """The ONNX Runtime peer's two files, made from model.keras and calibrated like the TFLite int8 files."""
    from benchmarks.onnx_peer import make_peer  # noqa: PLC0415
    from edge.mnist_data import load_split  # noqa: PLC0415

    progress.task("ONNX: export (tf2onnx), int8 quantization", 2)
    train = load_split(data, "train")
    peer = make_peer(artifacts / "model.keras", folder, dataset, manifest, train, verbose=verbose)
    progress.done()
    return peer


def write_outputs(results: dict[str, Any], out: Path) -> list[Path]:
    from benchmarks.chart import plot  # noqa: PLC0415
    from benchmarks.report import add_derived, markdown  # noqa: PLC0415

    add_derived(results)
    paths = [out / "results.json", out / "results.md", out / "results.png"]
    results["chart"] = {"file": paths[2].name, "points": plot(results, paths[2])}
    write_atomic(paths[1], markdown(results))
    write_atomic(paths[0], json.dumps(results, indent=2, default=str) + "\n")
    return paths


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    args.argv = argv
    from train.tf_quiet import quiet_tensorflow  # noqa: PLC0415

    quiet_tensorflow(args.verbose, native=True)
    from benchmarks.onnx_peer import PeerError  # noqa: PLC0415

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
    broken = [f"{r['runtime']} {r['variant']}: {r['error']}" for r in results["rows"] if r["error"] and not r.get("python")]
    if (results.get("onnx") or {}).get("error"):
        broken.append(f"ONNX Runtime peer: {results['onnx']['error']}")
    for text in broken:
        print(f"error: {text}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
