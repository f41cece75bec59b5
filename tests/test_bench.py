"""mnist-bench end to end on the small model: a --quick run, as a user runs it, whose figures must hold together.

One run (module fixture) of the real command on the session's trained model and real .tflite
files, real MNIST, real LiteRT, ONNX Runtime and TensorFlow; then checks on what it wrote.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def bench(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, small_model, tflite_models) -> Path:
    """One folder as mnist-train + mnist-convert --quantize all leave it."""
    folder = tmp_path_factory.mktemp("artifacts")
    for name in ("model.keras", "metrics.json"):
        shutil.copy(small_model / name, folder / name)
    converted = next(iter(tflite_models.values())).parent
    for path in [*tflite_models.values(), converted / "manifest.json"]:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, artifacts, mnist_dir) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("bench")
    done = bench(
        "--artifacts",
        str(artifacts),
        "--data-dir",
        str(mnist_dir),
        "--out",
        str(out),
        "--quick",
        "--threads",
        "1,2",
        "--runs",
        "200",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done, out


@pytest.fixture(scope="module")
def results(quick_run) -> dict:
    return json.loads((quick_run[1] / "results.json").read_text())


def rows_of(results: dict, runtime: str) -> dict[str, dict]:
    return {r["variant"]: r for r in results["rows"] if r["runtime"] == runtime}


def test_every_variant_is_measured_in_every_runtime(results, tflite_models):
    assert set(rows_of(results, "ai_edge_litert")) == set(tflite_models)
    assert set(rows_of(results, "onnxruntime")) == {"float32", "int8"}
    assert set(rows_of(results, "keras")) == {"keras"}
    for row in results["rows"]:
        assert row["error"] is None, row
        assert set(row["latency_us"]) == {"1", "2"} and set(row["throughput"]) == {"1", "2"}


def test_int8_is_smaller_than_float32(results):
    for runtime in ("ai_edge_litert", "onnxruntime"):
        rows = rows_of(results, runtime)
        assert rows["int8"]["bytes"] < 0.35 * rows["float32"]["bytes"], runtime
        assert rows["int8"]["bytes"] == Path(rows["int8"]["path"]).stat().st_size
    litert = rows_of(results, "ai_edge_litert")
    assert litert["float32"]["size_vs_float32"] == 1.0
    assert 0.4 < litert["float16"]["size_vs_float32"] < 0.6


def test_accuracy_is_counted_on_all_10000_images(results, mnist_test):
    keras = rows_of(results, "keras")["keras"]
    for row in results["rows"]:
        assert row["images"] == len(mnist_test.labels) == 10_000
        assert row["accuracy"] == row["correct"] / 10_000
        assert row["accuracy"] > 0.9, row["variant"]  # the small model reaches ~97 %
        assert row["accuracy_change_points"] == pytest.approx(100 * (row["accuracy"] - keras["accuracy"]))
    # The float32 file computes what Keras computes; quantization may move a few images only.
    assert abs(rows_of(results, "ai_edge_litert")["float32"]["accuracy_change_points"]) <= 0.05
    assert abs(rows_of(results, "onnxruntime")["int8"]["accuracy_change_points"]) < 1.0


def test_latency_percentiles_are_ordered(results):
    for row in results["rows"]:
        for latency in row["latency_us"].values():
            for kind in ("invoke", "end_to_end"):
                t = latency[kind]
                assert 0 < t["min"] <= t["median"] <= t["p90"] <= t["p99"], (row["runtime"], row["variant"], kind)
                assert t["runs"] == (results["settings"]["keras_runs"] if row["runtime"] == "keras" else 200)
            # No timing comparison between the two here: end to end adds only ~3 us to invoke (a table
            # lookup), well inside the machine's noise; how they compare is the benchmark's to report.
        for rate in row["throughput"].values():
            assert rate["best"] >= rate["median"] > 0


def test_memory_and_cold_start_separate_tensorflow_from_the_edge_runtimes(results):
    keras = rows_of(results, "keras")["keras"]
    for row in results["rows"]:
        assert 10 * 2**20 < row["peak_rss_bytes"] < 4 * 2**30
        assert row["cold_start_s"] > 0
    for row in [*rows_of(results, "ai_edge_litert").values(), *rows_of(results, "onnxruntime").values()]:
        assert row["peak_rss_bytes"] < keras["peak_rss_bytes"] / 2, row["variant"]  # no TensorFlow in the process
        assert row["cold_start_s"] < keras["cold_start_s"], row["variant"]
    startup = results["edge_startup"]
    assert "error" not in startup, startup
    assert startup["speedup"] > 1 and startup["same_prediction"]


def test_litert_is_compared_with_onnx_runtime_as_ratios(results):
    pairs = {c["litert"]: c for c in results["comparisons"]}
    assert set(pairs) == set(rows_of(results, "ai_edge_litert"))
    litert, ort = rows_of(results, "ai_edge_litert"), rows_of(results, "onnxruntime")
    int8 = pairs["int8"]
    assert int8["onnxruntime"] == "int8" and pairs["float32"]["onnxruntime"] == "float32"
    assert int8["ratios"]["size"] == litert["int8"]["bytes"] / ort["int8"]["bytes"]
    one_thread = {
        name: rows["int8"]["latency_us"]["1"]["invoke"]["median"] for name, rows in (("litert", litert), ("ort", ort))
    }
    assert int8["ratios"]["invoke_median"]["1"] == one_thread["litert"] / one_thread["ort"]
    calibration = results["onnx"]["calibration"]
    assert calibration["samples"] == 500 and "manifest.json" in calibration["same_as"]


def test_machine_and_versions_are_recorded(results):
    machine = results["machine"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["python"]
    for package in ("tensorflow", "ai_edge_litert", "onnxruntime", "tf2onnx", "numpy"):
        assert machine["versions"][package], package


def test_table_and_chart_show_every_variant(results, quick_run):
    done, out = quick_run
    table = (out / "results.md").read_text()
    for row in results["rows"]:
        assert f"`{row['variant']}`" in table
    assert "## LiteRT against ONNX Runtime" in table and "× float32" in table
    assert "## Which file to put on your Pi" in done.stdout  # the table is printed too
    drawn = {(p["runtime"], p["variant"]) for p in results["chart"]["points"]}
    assert drawn == {(r["runtime"], r["variant"]) for r in results["rows"]}
    assert all(p["panels"] == 2 for p in results["chart"]["points"])  # latency and size panels
    with Image.open(out / "results.png") as image:
        assert image.size[0] >= 1000 and image.size[1] >= 400
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # something is drawn
    assert (out / "onnx" / "mnist_int8.onnx").is_file()
    assert not list(out.glob(".*tmp*"))  # no temporary files left behind


def test_missing_inputs_are_one_line_errors_and_write_nothing(tmp_path, artifacts):
    out = tmp_path / "out"
    done = bench("--artifacts", str(tmp_path / "nowhere"), "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert "mnist-train" in done.stderr and not out.exists()

    half = tmp_path / "half"
    half.mkdir()
    shutil.copy(artifacts / "model.keras", half / "model.keras")
    done = bench("--artifacts", str(half), "--out", str(out))
    assert done.returncode == 2 and "mnist-convert --quantize all" in done.stderr
    assert "Traceback" not in done.stderr

    done = bench("--artifacts", str(artifacts), "--out", str(out), "--runtime-python", str(tmp_path / "no-python"))
    assert done.returncode == 2 and "--runtime-python" in done.stderr and "Traceback" not in done.stderr
    assert not (out / "results.json").exists()


def test_measuring_process_reports_what_a_runtime_cannot_load(tmp_path, tflite_models, mnist_test):
    """The worker is what runs in another Python (--runtime-python): a model it cannot load is a reason, not a crash."""
    from benchmarks.workers import Workers
    from convert.other_python import OtherPython

    code = tmp_path / "code"
    code.mkdir()
    workers = Workers(OtherPython(code))
    info, error, _ = workers.run(sys.executable, "info", {})
    assert error is None and info["runtime"] == "ai_edge_litert" and info["version"]

    image = tmp_path / "digit.npy"
    np.save(image, mnist_test.images[0])
    job = {"runtime": "ai_edge_litert", "model": str(tflite_models["int8"]), "image": str(image)}
    result, error, seconds = workers.run(sys.executable, "probe", job)
    assert error is None and result["prediction"] == mnist_test.labels[0]
    assert 10 * 2**20 < result["peak_rss_bytes"] < 500 * 2**20 and seconds > 0

    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a model " * 100)
    result, error, _ = workers.run(sys.executable, "probe", {**job, "model": str(broken)})
    assert result is None and "not a TFLite model" in error
    result, error, _ = workers.run(sys.executable, "probe", {**job, "runtime": "onnxruntime", "model": str(broken)})
    assert result is None and "ONNX Runtime cannot load it" in error
