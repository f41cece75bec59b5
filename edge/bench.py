"""Which .tflite file, with how many threads, on this device: measured here, with no TensorFlow.

    python edge/bench.py MODELS_DIR [--eval-mnist DIR] [--quick] [--json results.json]

For every .tflite file in MODELS_DIR: its size, its accuracy (with --eval-mnist), the latency of
one image at a time (median, p90, p99) at 1, 2, ... up to all cores, the throughput in batches of
256, the peak memory and the cold start of a fresh process that loads it and answers. Then the
time of each operator of the recommended file, and one line: the file and thread count to use
here. Why measure on the device: whether int8 beats float32 depends on the CPU's SIMD features
(edge/cpu.py), and small models can get slower with more threads (edge/threads.py).

Runs as ``python edge/bench.py`` from a copy of the edge/ folder alone (numpy and ai-edge-litert
from edge/requirements.txt).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:
    # `python edge/bench.py` runs this file with no package around it (PEP 366). Load its folder,
    # whatever it is called, as the package `edge` (importlib's "import a source file directly"),
    # so that the relative imports below find this folder's modules and no installed copy.
    import importlib.util

    _spec = importlib.util.spec_from_file_location("edge", Path(__file__).with_name("__init__.py"))
    sys.modules["edge"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["edge"])
    __package__ = "edge"

FORMAT_VERSION = 1
BATCH = 256  # images per invoke for throughput, as edge/classify.py sends them
ACCURACY_TOLERANCE = 0.005  # a file may lose half a point against the most accurate one and still be chosen


@dataclass(frozen=True)
class Settings:
    """How long each measurement runs: --quick finishes in well under a minute on a Raspberry Pi 4."""

    latency_runs: int  # single-image runs per file and thread count (fewer if latency_seconds runs out)
    latency_seconds: float
    batches: int  # batches of BATCH images timed per file and thread count
    throughput_at_every_thread_count: bool
    accuracy_images: int  # of the 10,000 MNIST test images
    cold_starts: int  # fresh processes per file; the median is reported
    operator_runs: int


FULL = Settings(2000, 2.0, 5, True, 10_000, 3, 300)
QUICK = Settings(200, 0.25, 2, False, 2000, 1, 100)


def _parser() -> argparse.ArgumentParser:
    from .command_line import HelpFormatter, OneLineParser
    from .runtime_choice import add_runtime_argument

    parser = OneLineParser(
        description="Measure every .tflite file in a folder on this device and say which to use, "
        "with how many threads; no TensorFlow.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("models", metavar="MODELS_DIR", help="folder of .tflite files (mnist-convert's output)")
    parser.add_argument(
        "--eval-mnist", metavar="DIR", help="also measure accuracy on the MNIST test set in DIR (IDX or mnist.npz)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="shorter measurements: well under a minute on a Raspberry Pi 4"
    )
    parser.add_argument("--json", metavar="OUT", help="also write every figure to OUT as JSON")
    parser.add_argument(
        "--threads", metavar="N,N", help="thread counts to time, e.g. 1,2,4 (default: 1, 2, ... up to all cores)"
    )
    add_runtime_argument(parser)
    parser.add_argument("--cold-start-child", metavar="MODEL", help=argparse.SUPPRESS)  # the fresh process itself
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.cold_start_child:
        return _cold_start_child(args.cold_start_child, args.runtime)
    folder = Path(args.models)
    if not folder.is_dir():
        parser.error(f"{folder}: not a folder; give the folder with the .tflite files (mnist-convert's --out)")
    files = sorted(folder.glob("*.tflite"))
    if not files:
        parser.error(f"{folder}: no .tflite files in it; run mnist-convert --out {folder} first")
    threads = _thread_list(parser, args.threads)
    if args.json:
        from .files import cannot_write

        problem = cannot_write(Path(args.json).parent)
        if problem:
            parser.error(f"--json {args.json}: cannot write there ({problem}); choose another path")

    from .mnist_data import DataError
    from .runtime import RuntimeProblem

    try:
        results = run_bench(files, args.eval_mnist, QUICK if args.quick else FULL, threads, args.runtime)
    except (RuntimeProblem, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(report(results))
    if args.json:
        from .files import write_json

        write_json(args.json, results)
    return 0


def _thread_list(parser: argparse.ArgumentParser, text: str | None) -> list[int]:
    from .threads import thread_counts

    if not text:
        return thread_counts()
    try:
        counts = sorted({int(t) for t in text.split(",")})
    except ValueError:
        parser.error(f"--threads {text}: give whole numbers separated by commas, e.g. 1,2,4")
    if counts[0] < 1:
        parser.error(f"--threads {text}: thread counts must be at least 1")
    return counts


# --- measuring ------------------------------------------------------------------------------


class _Progress:
    """One line on stderr that says what is being measured, when someone is watching."""

    def __init__(self) -> None:
        self.shown = sys.stderr.isatty()

    def say(self, text: str) -> None:
        if self.shown:
            print(f"\r\033[K{text}", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.shown:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def _percentiles(times_ns: list[int]) -> dict[str, Any]:
    import numpy as np

    p50, p90, p99 = np.percentile(np.asarray(times_ns) / 1000, [50, 90, 99])
    return {"median_us": round(float(p50), 1), "p90_us": round(float(p90), 1), "p99_us": round(float(p99), 1)}


def run_bench(
    files: list[Path], mnist: str | None, settings: Settings, threads: list[int], runtime: str | None = None
) -> dict[str, Any]:
    """Every figure, as the JSON holds them."""
    import numpy as np

    from .cpu import describe as describe_cpu
    from .mnist_data import load_split
    from .runtime import Classifier

    test = load_split(mnist, "test") if mnist else None
    images = test.images if test else np.random.default_rng(0).integers(0, 256, (BATCH, 28, 28), dtype=np.uint8)
    progress = _Progress()
    entries = []
    try:
        for n, path in enumerate(files, 1):
            where = f"[{n}/{len(files)}] {path.name}"
            entry = _describe_file(path)
            latency, throughput = {}, {}
            for count in threads:
                progress.say(f"{where}: one image at a time, {count} thread{'s' if count > 1 else ''}")
                classifier = Classifier(path, threads=count, runtime=runtime)
                one = classifier.model_input(images[:1])
                times = _latencies(classifier, one, settings)
                latency[str(count)] = {**_percentiles(times), "runs": len(times)}
                if settings.throughput_at_every_thread_count or count in (threads[0], threads[-1]):
                    progress.say(f"{where}: batches of {BATCH}, {count} threads")
                    throughput[str(count)] = _throughput(classifier, images, settings.batches)
            entry.update(runtime=classifier.runtime, latency=latency, throughput_images_per_s=throughput)
            if test is not None:
                progress.say(f"{where}: accuracy on {settings.accuracy_images} MNIST test images")
                entry.update(_accuracy(classifier, test, settings.accuracy_images))
            progress.say(f"{where}: cold start in a fresh process")
            entry.update(_cold_start(path, runtime, settings.cold_starts))
            entries.append(entry)
        progress.say("memory of the runtime alone")
        baseline = _child(None, runtime)
        recommendation = recommend(entries)
        progress.say(f"operator times of {recommendation['file']}")
        operators = operator_times(
            files[[e["file"] for e in entries].index(recommendation["file"])],
            recommendation["threads"],
            settings.operator_runs,
            runtime,
        )
    finally:
        progress.done()
    return {
        "format": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {**describe_cpu(), **_versions(), "os": f"{platform.system()} {platform.release()}"},
        "settings": {
            "quick": settings is QUICK,
            "threads": threads,
            "batch": BATCH,
            "latency": "set_tensor + invoke + get_tensor for one image, after 10 warm-up runs",
            "accuracy_images": settings.accuracy_images if test is not None else None,
        },
        "runtime_alone_peak_rss_bytes": baseline["peak_rss_bytes"],
        "files": entries,
        "recommendation": recommendation,
        "operators": operators,
    }


def _describe_file(path: Path) -> dict[str, Any]:
    from .model_metadata import read_embedded

    info = read_embedded(path)
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "variant": (info.variant if info else None) or path.stem,
    }


def _latencies(classifier: Any, one: Any, settings: Settings) -> list[int]:
    from .threads import latencies_ns

    return latencies_ns(lambda: classifier.invoke(one), settings.latency_runs, settings.latency_seconds, warmup=10)


def _throughput(classifier: Any, images: Any, batches: int) -> float:
    batch = classifier.model_input(images[:BATCH])
    classifier.invoke(batch)  # resize and warm up
    start = time.perf_counter()
    for _ in range(batches):
        classifier.invoke(batch)
    return round(batches * len(batch) / (time.perf_counter() - start), 1)


def _accuracy(classifier: Any, test: Any, count: int) -> dict[str, Any]:
    count = min(count, len(test.labels))
    probabilities = classifier.predict(test.images[:count], batch_size=BATCH)
    correct = int((probabilities.argmax(axis=1) == test.labels[:count]).sum())
    return {"accuracy": correct / count, "accuracy_images": count}


def _versions() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("numpy", "ai-edge-litert", "tflite-runtime"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


# --- a fresh process: cold start and peak memory --------------------------------------------


def _child(model: Path | None, runtime: str | None) -> dict[str, Any]:
    """Run this script again as a fresh process that loads ``model`` (or only the runtime) and answers once."""
    command = [sys.executable, str(Path(__file__).resolve()), "x", "--cold-start-child", str(model or "-")]
    if runtime:
        command += ["--runtime", runtime]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    if result.returncode != 0:
        from .runtime import RuntimeProblem

        raise RuntimeProblem(f"{model}: a fresh process could not load it ({result.stderr.strip()[-300:]})")
    record = json.loads(result.stdout.strip().splitlines()[-1])
    record["cold_start_s"] = round(record.pop("answered_at") - started, 4)
    return record


def _cold_start(path: Path, runtime: str | None, repeats: int) -> dict[str, Any]:
    runs = [_child(path, runtime) for _ in range(repeats)]
    return {
        "cold_start_s": round(statistics.median(r["cold_start_s"] for r in runs), 4),
        "peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs),
    }


def _cold_start_child(model: str, runtime: str | None) -> int:
    """The fresh process: import, load, answer one image (the time is taken here), then one batch for
    the peak memory of real work; prints one JSON line."""
    import numpy as np

    from .runtime import Classifier

    answered_at = time.time()
    if model != "-":
        classifier = Classifier(model, threads=1, runtime=runtime)
        classifier.predict(np.zeros((1, 28, 28), np.uint8))
        answered_at = time.time()
        classifier.predict(np.zeros((BATCH, 28, 28), np.uint8))
    else:
        from .runtime import interpreter_class

        interpreter_class(runtime)
    print(json.dumps({"answered_at": answered_at, "peak_rss_bytes": peak_rss_bytes()}))
    return 0


def peak_rss_bytes() -> int:
    """This process's peak resident memory in bytes. On Linux from /proc (VmHWM), because getrusage's
    maximum also counts the parent's memory that a forked child held before its exec."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, kilobytes elsewhere


# --- choosing -------------------------------------------------------------------------------


def recommend(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest file and thread count for one image, among the files within
    :data:`ACCURACY_TOLERANCE` of the most accurate; with a thread count, the fewest within
    edge/threads.py's GAIN of that file's fastest (a core left free costs nothing)."""
    from .threads import fewest_fast_threads

    measured = [e for e in entries if e.get("accuracy") is not None]
    best_accuracy = max((e["accuracy"] for e in measured), default=None)
    candidates = [
        e for e in entries if best_accuracy is None or e.get("accuracy", 0.0) >= best_accuracy - ACCURACY_TOLERANCE
    ]
    choices = []
    for entry in candidates:
        medians = {int(t): figures["median_us"] for t, figures in entry["latency"].items()}
        threads = fewest_fast_threads(medians)
        choices.append((medians[threads], entry, threads))
    median, entry, threads = min(choices, key=lambda c: c[0])
    accuracy = entry.get("accuracy")
    line = f"{entry['file']} with {threads} thread{'s' if threads > 1 else ''}: {median:.0f} µs per image"
    if accuracy is not None:
        line += f", {accuracy:.2%} on {entry['accuracy_images']} MNIST test images"
    return {"file": entry["file"], "threads": threads, "median_us": median, "accuracy": accuracy, "line": line}


# --- per-operator times ---------------------------------------------------------------------


def operator_times(path: Path, threads: int, runs: int, runtime: str | None = None) -> dict[str, Any]:
    """The time of each operator of ``path``, as the difference between graph prefixes.

    LiteRT's Python API has no operator profiler (ai-edge-litert 2.3: no profiling option on the
    Interpreter, and its ``litert-benchmark`` has no per-operator output), so each prefix of the
    graph (operators 0..i, operator i's output made the model's output) is written with LiteRT's
    own flatbuffer tools and timed like the whole model; operator i costs prefix i minus prefix i-1.
    With XNNPACK the operators run fused, so a difference is what operator i adds, and noise can make
    it slightly negative.
    """
    import numpy as np

    from .runtime import interpreter_class
    from .threads import latencies_ns

    method = "graph prefixes timed one image at a time, each operator = prefix i - prefix i-1 (median of runs)"
    try:
        from ai_edge_litert.tools import flatbuffer_utils
    except ImportError:
        why = "needs ai-edge-litert's flatbuffer tools (pip install ai-edge-litert)"
        return {"file": path.name, "unavailable": why}
    model = flatbuffer_utils.read_model(str(path))
    graph = model.subgraphs[0]
    names = [flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) for op in graph.operators]
    operators = list(graph.operators)
    timed = _runs_per_image(graph)
    Interpreter, _ = interpreter_class(runtime)
    prefixes: dict[int, Any] = {}
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        for i, op in enumerate(operators):
            if not timed[i]:
                continue
            graph.operators, graph.outputs = operators[: i + 1], [op.outputs[0]]
            prefix = Path(tmp) / f"prefix{i}.tflite"
            flatbuffer_utils.write_model(model, str(prefix))
            try:
                interpreter = Interpreter(model_path=str(prefix), num_threads=threads)
                interpreter.allocate_tensors()
                detail = interpreter.get_input_details()[0]
                interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
                interpreter.invoke()
            except (RuntimeError, ValueError) as error:
                why = f"the graph cut after operator {i} ({names[i]}) does not run: {str(error).splitlines()[0]}"
                return {"file": path.name, "unavailable": why}
            prefixes[i] = interpreter
    # Round robin, a few runs of each prefix at a time: a machine that gets busier halfway through
    # slows every prefix alike instead of the last ones only.
    times: dict[int, list[int]] = {i: [] for i in prefixes}
    for _ in range(max(1, runs // 10)):
        for i, interpreter in prefixes.items():
            times[i] += latencies_ns(interpreter.invoke, 10, 1.0, warmup=1)
    rows, before = [], 0.0
    for i, name in enumerate(names):
        if i in times:
            median = float(np.median(times[i])) / 1000
            rows.append({"index": i, "operator": name, "us": round(median - before, 1)})
            before = median
        else:  # constants only (float16's weights turned to float32): done once, when the model loads
            rows.append({"index": i, "operator": name, "us": 0.0, "at_load": True})
    total = round(before, 1)
    return {"file": path.name, "threads": threads, "method": method, "total_us": total, "operators": rows}


def _runs_per_image(graph: Any) -> list[bool]:
    """Whether each operator depends on the image; the others work on constants and run once at load.

    A graph cut after such an operator has no image input, and XNNPACK refuses to set it up.
    """
    varying = set(graph.inputs)
    result = []
    for op in graph.operators:
        depends = any(t in varying for t in op.inputs if t >= 0)
        if depends:
            varying.update(op.outputs)
        result.append(depends)
    return result


# --- the report -----------------------------------------------------------------------------


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 1024**2 else f"{n / 1024**2:.1f} MiB"


def report(results: dict[str, Any]) -> str:
    """The figures as plain-text tables and the recommendation, for the terminal."""
    machine = results["machine"]
    threads = results["settings"]["threads"]
    lines = [
        f"{machine['cpu']} ({machine['simd_summary']}), {machine['cores']} cores, {machine['architecture']}, "
        f"{machine['os']}; Python {machine['python']}, ai-edge-litert {machine.get('ai-edge-litert', '-')}",
        "",
        "median µs for one image (p99) by threads:",
    ]
    width = max(len(e["file"]) for e in results["files"])
    header = f"{'file':<{width}}  {'size':>8}  {'accuracy':>8}  " + "  ".join(f"{t:>14}" for t in threads)
    lines.append(header + f"  {'images/s':>9}  {'cold start':>10}  {'peak RSS':>8}")
    for e in results["files"]:
        accuracy = f"{e['accuracy']:.2%}" if e.get("accuracy") is not None else "-"
        cells = "  ".join(
            f"{e['latency'][str(t)]['median_us']:>6.0f} ({e['latency'][str(t)]['p99_us']:>5.0f})" for t in threads
        )
        best_throughput = max(e["throughput_images_per_s"].values())
        lines.append(
            f"{e['file']:<{width}}  {_size(e['bytes']):>8}  {accuracy:>8}  {cells}  {best_throughput:>9.0f}  "
            f"{e['cold_start_s']:>9.2f}s  {e['peak_rss_bytes'] / 2**20:>5.0f} MiB"
        )
    lines.append(f"(the runtime alone: {results['runtime_alone_peak_rss_bytes'] / 2**20:.0f} MiB peak RSS)")
    operators = results["operators"]
    if "operators" in operators:
        count = operators["threads"]
        lines += ["", f"time of each operator in {operators['file']}, {count} thread{'s' if count > 1 else ''} (µs):"]
        lines += [
            f"  {row['index']:>3}  {row['operator']:<18} "
            + ("    at load" if row.get("at_load") else f"{row['us']:>8.1f}")
            for row in operators["operators"]
        ]
    else:
        lines += ["", f"no operator times: {operators['unavailable']}"]
    lines += ["", f"recommended here: {results['recommendation']['line']}"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
