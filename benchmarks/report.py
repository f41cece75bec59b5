"""results.json -> results.md: the tables a user reads to pick the file for their Pi.

Also the figures derived from the measurements: size against float32, accuracy against Keras,
and every LiteRT figure as a ratio against its ONNX Runtime peer.
"""

from __future__ import annotations

from typing import Any

from benchmarks.machine import one_line
from train.tables import format_table

RUNTIME_NAMES = {
    "keras": "Keras (TensorFlow)",
    "ai_edge_litert": "LiteRT",
    "tflite_runtime": "tflite-runtime",
    "onnxruntime": "ONNX Runtime",
}
# The ONNX Runtime model each LiteRT variant is compared with: float with float, int8 weights with int8.
ONNX_PEER = {
    "float32": "float32",
    "float16": "float32",
    "dynamic": "int8",
    "int8": "int8",
    "int8_float_io": "int8",
    "int8_uint8_io": "int8",
}


def ok(row: dict[str, Any]) -> bool:
    return not row.get("error")


def median(row: dict[str, Any], threads: int | str, kind: str) -> float | None:
    """Median latency in microseconds; ``kind`` is 'invoke' or 'end_to_end'."""
    per_threads = row.get("latency_us", {}).get(str(threads))
    return per_threads[kind]["median"] if per_threads else None


def throughput(row: dict[str, Any], threads: int | str) -> float | None:
    found = row.get("throughput", {}).get(str(threads))
    return found["best"] if found else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def add_derived(results: dict[str, Any]) -> None:
    """Size vs float32, accuracy change vs Keras, and the LiteRT / ONNX Runtime ratios, in place."""
    rows = results["rows"]
    float32 = next((r for r in rows if r["runtime"] == "ai_edge_litert" and r["variant"] == "float32"), None)
    keras = next((r for r in rows if r["runtime"] == "keras" and ok(r)), None)
    for row in rows:
        row["size_vs_float32"] = _ratio(row.get("bytes"), float32["bytes"] if float32 else None)
        if keras and row.get("accuracy") is not None:
            row["accuracy_change_points"] = 100 * (row["accuracy"] - keras["accuracy"])
    peers = {r["variant"]: r for r in rows if r["runtime"] == "onnxruntime" and ok(r)}
    comparisons = []
    for row in rows:
        peer = peers.get(ONNX_PEER.get(row["variant"], ""))
        if row["runtime"] != "ai_edge_litert" or not ok(row) or peer is None:
            continue
        threads = results["settings"]["threads"]
        comparisons.append(
            {
                "litert": row["variant"],
                "onnxruntime": peer["variant"],
                "ratios": {
                    "size": _ratio(row["bytes"], peer["bytes"]),
                    "invoke_median": {
                        str(t): _ratio(median(row, t, "invoke"), median(peer, t, "invoke")) for t in threads
                    },
                    "end_to_end_median": {
                        str(t): _ratio(median(row, t, "end_to_end"), median(peer, t, "end_to_end")) for t in threads
                    },
                    "throughput": {str(t): _ratio(throughput(row, t), throughput(peer, t)) for t in threads},
                    "peak_rss": _ratio(row.get("peak_rss_bytes"), peer.get("peak_rss_bytes")),
                    "cold_start": _ratio(row.get("cold_start_s"), peer.get("cold_start_s")),
                },
                "accuracy_points": 100 * (row["accuracy"] - peer["accuracy"]),
            }
        )
    results["comparisons"] = comparisons


# --- formatting: an en dash for no figure, a multiplication sign for ratios ---


def size(n: int | None) -> str:
    if n is None:
        return "–"
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def us(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.1f}" if x < 10 else f"{x:,.0f}"


def times(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def label(row: dict[str, Any]) -> str:
    name = RUNTIME_NAMES.get(row["runtime"], row["runtime"])
    if row.get("python"):  # a runtime of another Python (--runtime-python): its version tells it apart
        name += f" {row.get('runtime_version') or ''} (other Python)".replace("  ", " ")
    return name


def _table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    return format_table([header, *rows], align, markdown=True).split("\n")


def _work_line(model: dict[str, Any]) -> list[str]:
    """The model's work per image, to read the latencies against (none when metrics.json did not say)."""
    macs = model.get("macs_per_image")
    if not macs:
        return []
    return [f"Work per image: {macs / 1e6:.2f} M multiply-accumulates (the same for every file of the model).", ""]


def markdown(results: dict[str, Any]) -> str:
    settings, machine = results["settings"], results["machine"]
    threads = settings["threads"]
    one, most = threads[0], threads[-1]
    versions = machine["versions"]
    lines = [
        f"# mnist-bench: {results['model']['dataset']} `{results['model'].get('name') or 'model'}`",
        "",
        f"Measured {results['created'][:16].replace('T', ' ')} UTC on {one_line(machine)}; Python {machine['python']}, "
        f"TensorFlow {versions.get('tensorflow')}, LiteRT {versions.get('ai_edge_litert')}, "
        f"ONNX Runtime {versions.get('onnxruntime')} (tf2onnx {versions.get('tf2onnx')}).",
        f"Command: `{results['command']}`{' (quick run: fewer timing runs)' if results['quick'] else ''}.",
        "",
        *_work_line(results["model"]),
        f"Accuracy on all {settings['test_images']:,} test images. Latency: one image at a time after "
        f"{settings['warmup']} warm-up calls, median of {settings['runs']:,} runs "
        f"({settings['keras_runs']:,} for Keras); "
        "*invoke* is the runtime alone on a prepared input, *end-to-end* adds preprocessing, quantization and "
        f"dequantization. Throughput: batches of {settings['batch_size']}, best of {settings['throughput_repeats']}. "
        "Memory: peak RSS of a fresh process that loads the model and classifies one image (1 thread); "
        "cold start: from that process's start to its first prediction.",
        "",
        "## Which file to put on your Pi",
        "",
    ]
    header = [
        "Runtime",
        "Variant",
        "Size",
        "× float32",
        "Accuracy",
        "Δ vs Keras",
        f"Invoke µs, {one} thread",
        f"End-to-end µs, {one} thread",
    ]
    if most != one:
        header.append(f"End-to-end µs, {most} threads")
    header += [f"Images/s, {most} thread{'s' if most != 1 else ''}", "Peak RSS", "Cold start"]
    body = []
    for row in results["rows"]:
        if not ok(row):
            continue
        cells = [
            label(row),
            f"`{row['variant']}`",
            size(row.get("bytes")),
            times(row.get("size_vs_float32")),
            f"{100 * row['accuracy']:.2f} %",
            "–"
            if row.get("accuracy_change_points") is None or row["runtime"] == "keras"
            else f"{row['accuracy_change_points']:+.2f}",
            f"{us(median(row, one, 'invoke'))} ({us(row['latency_us'][str(one)]['invoke']['p90'])} / "
            f"{us(row['latency_us'][str(one)]['invoke']['p99'])})",
            us(median(row, one, "end_to_end")),
        ]
        if most != one:
            cells.append(us(median(row, most, "end_to_end")))
        rate = throughput(row, most)
        cells += [
            "–" if rate is None else f"{rate:,.0f}",
            size(row.get("peak_rss_bytes")),
            "–" if row.get("cold_start_s") is None else f"{1000 * row['cold_start_s']:,.0f} ms",
        ]
        body.append(cells)
    lines += _table(header, body, "llrrrr" + "r" * (len(header) - 6))
    lines += [
        "",
        "Invoke: median (p90 / p99). Δ vs Keras: accuracy change in points against the Keras model in TensorFlow.",
        "",
    ]

    if results.get("comparisons"):
        lines += [
            "## LiteRT against ONNX Runtime",
            "",
            "Each LiteRT figure divided by ONNX Runtime's for the same model (float with float32, "
            "quantized with static int8): **below 1 means LiteRT is smaller or faster**, except "
            "throughput, where above 1 means LiteRT is faster.",
            "",
        ]
        header = ["LiteRT", "ONNX Runtime", "Size", "Accuracy Δ"]
        for t in threads:
            header += [f"Invoke, {t} thr", f"End-to-end, {t} thr"]
        header += [f"Throughput, {most} thr", "Peak RSS", "Cold start"]
        body = []
        for c in results["comparisons"]:
            r = c["ratios"]
            cells = [f"`{c['litert']}`", f"`{c['onnxruntime']}`", times(r["size"]), f"{c['accuracy_points']:+.2f}"]
            for t in threads:
                cells += [times(r["invoke_median"][str(t)]), times(r["end_to_end_median"][str(t)])]
            cells += [times(r["throughput"][str(most)]), times(r["peak_rss"]), times(r["cold_start"])]
            body.append(cells)
        lines += _table(header, body, "ll" + "r" * (len(header) - 2))
        lines.append("")
        peer = results.get("onnx") or {}
        if peer.get("calibration"):
            cal = peer["calibration"]
            lines += [
                f"ONNX models: {peer['export']}; int8 by {peer['quantization']}, calibrated on {cal['samples']} "
                f"{cal['source']} (seed {cal['seed']}; {cal['same_as']}).",
                "",
            ]

    lines += ["## Latency in detail (µs, one image at a time)", ""]
    header = ["Runtime", "Variant", "Threads", "Invoke median", "p90", "p99", "End-to-end median", "p90", "p99"]
    body = []
    for row in results["rows"]:
        if not ok(row):
            continue
        for t in threads:
            lat = row["latency_us"].get(str(t))
            if lat:
                inv, e2e = lat["invoke"], lat["end_to_end"]
                body.append(
                    [
                        label(row),
                        f"`{row['variant']}`",
                        str(t),
                        us(inv["median"]),
                        us(inv["p90"]),
                        us(inv["p99"]),
                        us(e2e["median"]),
                        us(e2e["p90"]),
                        us(e2e["p99"]),
                    ]
                )
    lines += _table(header, body, "llr" + "r" * 6)
    lines.append("")

    start = results.get("edge_startup")
    if start:
        lines += ["## Cold start: `edge/classify.py` against TensorFlow", ""]
        if start.get("error"):
            lines += [f"Not measured: {start['error']}", ""]
        else:
            med = start["median_s"]
            lines += [
                f"Process start to the first printed prediction for one PNG digit, median of {start['repeats']} "
                f"alternating runs: `python edge/classify.py --model {start['model']}` **{med['edge']:.2f} s**, "
                f"a Python that loads `model.keras` in TensorFlow and predicts **{med['keras']:.2f} s**: "
                f"**{start['speedup']:.1f}× faster** (same prediction: {'yes' if start['same_prediction'] else 'NO'}).",
                "",
            ]

    failed = [row for row in results["rows"] if not ok(row)]
    if failed or results.get("failures"):
        lines += ["## Could not run", ""]
        lines += [f"- {label(row)}, `{row['variant']}`: {row['error']}" for row in failed]
        lines += [f"- {text}" for text in results.get("failures", [])]
        lines.append("")
    chart = (results.get("chart") or {}).get("file", "results.png")
    lines += [f"Files: `results.json` (every figure), `{chart}` (accuracy against latency and size).", ""]
    return "\n".join(lines)
