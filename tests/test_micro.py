"""Microcontroller export: the C array compiled by the machine's C compiler, the model run in TFLite Micro.

Uses conftest's real .tflite files (a briefly trained CNN), real MNIST test images, the real TFLM
Python interpreter (the ``micro`` extra) and LiteRT side by side.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convert import c_array, micro
from edge.native_output import native_output_captured
from edge.runtime import Classifier, RuntimeProblem

SAMPLES = 300  # ~4 s of TFLM's reference kernels for the test CNN

MAIN_C = """
#include <stdint.h>
#include <stdio.h>
#include "HEADER"
int main(void) {
  if ((uintptr_t)NAME % 16 != 0) return 3;
  return fwrite(NAME, 1, NAME_len, stdout) == NAME_len ? 0 : 4;
}
"""


@pytest.fixture(scope="module")
def int8_report(tflite_models, mnist_test) -> dict:
    return micro.micro_report(tflite_models["int8"], mnist_test.images, mnist_test.labels, samples=SAMPLES)


def _compiler(name: str) -> str:
    path = shutil.which(name)
    assert path, f"no {name} on this machine: the C array cannot be checked"
    return path


def _run(*args: str | Path, cwd: Path) -> bytes:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, timeout=120)
    assert done.returncode == 0, f"{args[0]} failed ({done.returncode}): {done.stderr.decode()[-2000:]}"
    return done.stdout


@pytest.mark.parametrize("main_language", ["c", "c++"])
def test_c_array_compiles_to_the_model_bytes(tflite_models, tmp_path, main_language):
    """The .c file compiles warning-free; a program linked with it writes back the .tflite bytes, 16-byte aligned."""
    model = tflite_models["int8"]
    c_path, h_path = c_array.write_c_array(model, tmp_path)
    assert (c_path.name, h_path.name) == ("mnist_int8.c", "mnist_int8.h")
    name = c_array.c_identifier(model)
    assert name == "mnist_int8_tflite"
    assert f"extern const unsigned char {name}[];" in h_path.read_text()
    _run(
        _compiler("cc"),
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-pedantic",
        "-Werror",
        "-c",
        c_path,
        "-o",
        "model.o",
        cwd=tmp_path,
    )
    # The firmware side: TFLM is C++, so the header must give the C object's names C linkage.
    main = tmp_path / f"main.{'c' if main_language == 'c' else 'cc'}"
    main.write_text(MAIN_C.replace("HEADER", h_path.name).replace("NAME", name))
    _run(_compiler("cc" if main_language == "c" else "c++"), main, "model.o", "-o", "dump", cwd=tmp_path)
    assert _run(tmp_path / "dump", cwd=tmp_path) == model.read_bytes()


def test_c_array_is_written_whole(tflite_models, tmp_path):
    """A second write replaces both files and leaves no temporary file; a bad source leaves the first pair."""
    _, h_path = c_array.write_c_array(tflite_models["int8"], tmp_path, notes=["first"])
    c_array.write_c_array(tflite_models["int8"], tmp_path, notes=["second"])
    assert "second" in h_path.read_text()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(FileNotFoundError):
        c_array.write_c_array(tmp_path / "missing.tflite", tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert sorted(before) == ["mnist_int8.c", "mnist_int8.h"]


def test_c_identifier_follows_xxd():
    assert c_array.c_identifier("out/mnist_int8_uint8_io.tflite") == "mnist_int8_uint8_io_tflite"
    assert c_array.c_identifier("7-seg model.tflite") == "model_7_seg_model_tflite"


def test_tflm_agrees_with_litert(int8_report, tflite_models, mnist_test):
    """Same quantized inputs, same predictions; the accuracy matches LiteRT's, computed here independently."""
    picked = micro.pick_samples(len(mnist_test.labels), SAMPLES)
    assert len(picked) == SAMPLES == int8_report["samples"]
    litert = Classifier(tflite_models["int8"]).predict(mnist_test.images[picked]).argmax(axis=1)
    litert_accuracy = float((litert == mnist_test.labels[picked]).mean())
    assert int8_report["litert_accuracy"] == pytest.approx(litert_accuracy)
    assert int8_report["agreement"] >= 0.99
    assert abs(int8_report["accuracy"] - litert_accuracy) <= int8_report["disagreements"] / SAMPLES
    assert int8_report["accuracy"] > 0.9  # a trained model, not noise
    # In output quantization steps (1/256 of probability): TFLM's reference kernels round differently from XNNPACK.
    assert int8_report["max_output_difference"] <= 16


def test_samples_are_spread_over_the_test_set(mnist_test):
    picked = micro.pick_samples(len(mnist_test.labels), 1000)
    assert len(set(picked.tolist())) == 1000
    assert picked.min() < 1000 and picked.max() > 9000  # not the first (cleaner) half only
    assert len(micro.pick_samples(10, None)) == 10
    with pytest.raises(micro.MicroError, match="at least 1"):
        micro.pick_samples(10, 0)
    assert micro.parse_samples("all") is None and micro.parse_samples("250") == 250
    with pytest.raises(argparse.ArgumentTypeError, match="number of test images"):
        micro.parse_samples("-3")


def test_flash_and_arena_are_measured(int8_report, tflite_models):
    """Flash is the file; the arena is TFLM's own figure: enough to run in, and not padded."""
    data = tflite_models["int8"].read_bytes()
    assert int8_report["flash_bytes"] == len(data)
    arena = int8_report["arena_bytes"]
    assert arena == int8_report["arena_activation_bytes"] + int8_report["arena_persistent_bytes"]
    assert int8_report["arena_activation_bytes"] >= 28 * 28  # at least the int8 input image
    image = np.zeros((1, 28, 28, 1), np.int8)
    exact = micro.load(data, "mnist_int8.tflite", arena)
    exact.set_input(image, 0)
    exact.invoke()
    with pytest.raises(micro.MicroError, match=f"mnist_int8.tflite: does not fit a tensor arena of {arena - 1024:,}"):
        micro.load(data, "mnist_int8.tflite", arena - 1024)


def test_operators_for_the_op_resolver(int8_report, tflite_models):
    """The operator list matches the converter's manifest, and the C header says what the firmware needs."""
    manifest = json.loads((tflite_models["int8"].parent / "manifest.json").read_text())
    entry = next(m for m in manifest["models"] if m["variant"] == "int8")
    assert set(int8_report["operators"]) == {op["name"] for op in entry["operators"]}
    assert "AddConv2D()" in int8_report["op_resolver"] and "AddFullyConnected()" in int8_report["op_resolver"]
    assert micro.resolver_call("MAX_POOL_2D") == "AddMaxPool2D()"
    assert micro.resolver_call("DEPTHWISE_CONV_2D") == "AddDepthwiseConv2D()"
    assert micro.resolver_call("PADV2") == "AddPadV2()"
    notes = "\n".join(micro.header_notes(int8_report))
    assert f"MicroMutableOpResolver<{len(int8_report['operators'])}>" in notes
    assert f"{int8_report['arena_bytes']:,} bytes" in notes
    assert int8_report["input"]["dtype"] == "int8" and int8_report["input"]["shape"] == [1, 28, 28, 1]
    assert "Input:  int8 1x28x28x1" in notes and "q = round(x / " in notes


def test_tiny_preset_fits_its_budget(mnist_dir, mnist_test, tmp_path):
    """The tiny preset's int8 file within 20 KiB of flash and 16 KiB of arena, with four operators.

    Size and arena follow from the shape, not the weights, so an untrained tiny shows them in seconds
    (README's microcontroller table has the trained one's accuracy).
    """
    from convert.converter import convert_all
    from train.models import build_model

    model = tmp_path / "tiny.keras"
    build_model("tiny").save(model)
    conversion = convert_all(
        model, tmp_path, variants=["int8"], evaluate_models=False, progress=False, data_dir=mnist_dir
    )  # fmt: skip
    report = micro.micro_report(tmp_path / conversion.models[0]["file"], mnist_test.images, mnist_test.labels, 20)
    assert report["flash_bytes"] <= 20 * 1024 and report["arena_bytes"] <= 16 * 1024
    assert report["operators"] == ["CONV_2D", "MAX_POOL_2D", "MEAN", "SOFTMAX"]


@pytest.mark.parametrize(("variant", "operator"), [("float16", "DEQUANTIZE"), ("dynamic", "CONV_2D")])
def test_models_tflm_cannot_run_are_refused(tflite_models, mnist_test, variant, operator):
    """float16 and dynamic-range files: one line naming the operator and the fix, and TFLM indeed fails on them."""
    with pytest.raises(micro.MicroError) as refused:
        micro.micro_report(tflite_models[variant], mnist_test.images, mnist_test.labels, samples=10)
    message = str(refused.value)
    assert "\n" not in message
    assert f"operator {operator}" in message and "--quantize int8" in message
    # Not a guess of ours: TFLM itself refuses the file, and its log is explained the same way.
    runtime = micro.runtime_module()
    with native_output_captured(replay=False) as log, pytest.raises(RuntimeError):
        runtime.Interpreter.from_bytes(tflite_models[variant].read_bytes())
    assert f"operator {operator}" in micro.explain(f"mnist_{variant}.tflite", log.text, RuntimeError("x"))


def test_missing_tflite_micro_is_one_line_of_advice(monkeypatch):
    monkeypatch.setitem(sys.modules, "tflite_micro", None)  # as if not installed
    with pytest.raises(micro.MicroError, match=r"not installed .*pip install 'mnist-edge\[micro\]'"):
        micro.runtime_module()


def test_a_file_that_is_not_a_model_is_refused(tmp_path, mnist_test):
    fake = tmp_path / "model.tflite"
    fake.write_text("not a model")
    with pytest.raises(RuntimeProblem, match="not a TFLite model"):
        micro.micro_report(fake, mnist_test.images, mnist_test.labels, samples=5)


def test_for_conversion_records_figures_in_the_manifest(tflite_models, mnist_test, tmp_path):
    """What mnist-convert --micro does after converting: C arrays beside the files, figures in manifest.json."""
    from convert.converter import Conversion

    for path in tflite_models.values():
        shutil.copy(path, tmp_path)
    shutil.copy(next(iter(tflite_models.values())).parent / "manifest.json", tmp_path)
    written = json.loads((tmp_path / "manifest.json").read_text())
    conversion = Conversion(tmp_path, tmp_path / "manifest.json", written, [], ["int8", "float16", "int8_uint8_io"])
    reports = micro.for_conversion(conversion, mnist_test, samples=50)
    assert [r["file"] for r in reports] == ["mnist_int8.tflite", "mnist_int8_uint8_io.tflite"]
    on_disk = {m["variant"]: m for m in json.loads((tmp_path / "manifest.json").read_text())["models"]}
    for variant in ("int8", "int8_uint8_io"):
        figures = on_disk[variant]["micro"]
        assert figures["flash_bytes"] == on_disk[variant]["bytes"] > 0
        assert figures["arena_bytes"] > 0 and figures["samples"] == 50
        assert (tmp_path / figures["c_source"]).is_file() and (tmp_path / figures["c_header"]).is_file()
    assert "micro" not in on_disk["float16"] and "micro" not in on_disk["float32"]
    float_only = Conversion(tmp_path, tmp_path / "manifest.json", written, [], ["float16"])
    with pytest.raises(micro.MicroError, match="--quantize int8"):
        micro.for_conversion(float_only, mnist_test, samples=5)
    with pytest.raises(micro.MicroError, match="needs test images"):
        micro.for_conversion(conversion, None, samples=5)
    text = micro.summary(reports)
    assert "mnist_int8.tflite: register AddConv2D()" in text and "mnist_int8.c, mnist_int8.h" in text


def test_mnist_convert_micro(small_model, mnist_dir, tmp_path, capsys):
    """The command: C arrays beside the int8 file, the figures in manifest.json and on screen."""
    from convert import cli

    assert cli.main(["--micro"]) == 2
    assert "error: --micro runs the full-integer model" in capsys.readouterr().err
    status = cli.main(
        [
            "--model",
            str(small_model / "saved_model"),
            "--quantize",
            "int8",
            "--micro",
            "--micro-samples",
            "50",
            "--no-evaluate",
            "--no-progress",
            "--data-dir",
            str(mnist_dir),
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert "TensorFlow Lite for Microcontrollers" in out and "mnist_int8.tflite: register AddConv2D()" in out
    entry = json.loads((tmp_path / "manifest.json").read_text())["models"][0]
    assert entry["micro"]["flash_bytes"] == entry["bytes"] and entry["micro"]["samples"] == 50
    assert (tmp_path / "mnist_int8.c").is_file() and (tmp_path / "mnist_int8.h").is_file()
