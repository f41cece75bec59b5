"""mnist-convert on a small CNN trained here (conftest's small_model) and real MNIST.

The six .tflite files and their manifest come from conftest's ``tflite_models`` (one call of
convert_all, shared with the edge runner's tests); everything is checked in the real interpreter.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from convert import calibration, cli, compat, metadata
from convert.converter import ALL_VARIANTS, VARIANTS, ConvertError, convert_all, variant_names
from convert.fold_flatten import fold_flatten
from convert.quantization_debug import layer_name
from convert.tflite_file import read_tflite
from edge.runtime import Classifier

FLATTEN_OPERATORS = {"SHAPE", "STRIDED_SLICE", "PACK"}  # Keras' Flatten with a variable batch; Arm NN 22 has no SHAPE
INT8_IO = {"int8": np.int8, "int8_float_io": np.float32, "int8_uint8_io": np.uint8}
# How far (points of test accuracy) each variant may land from the Keras model it came from.
# float32 only differs by summation order; float16 rounds weights; int8 rounds everything.
MAX_DISTANCE_POINTS = {
    "float32": 0.05,
    "float16": 0.1,
    "dynamic": 0.5,
    "int8": 0.5,
    "int8_float_io": 0.5,
    "int8_uint8_io": 0.5,
}


@pytest.fixture(scope="module")
def manifest(tflite_models) -> dict:
    return json.loads((next(iter(tflite_models.values())).parent / "manifest.json").read_text())


@pytest.fixture(scope="module")
def predictions(tflite_models, mnist_test) -> dict[str, np.ndarray]:
    """Each variant's predicted classes on the 10k test images, computed here, independently of the converter."""
    return {v: Classifier(p).predict(mnist_test.images).argmax(axis=1) for v, p in tflite_models.items()}


@pytest.fixture(scope="module")
def keras_accuracy(small_model, mnist_test) -> float:
    """The Keras model's own test accuracy, measured here in TensorFlow."""
    import keras

    from edge.preprocess import normalize

    model = keras.saving.load_model(small_model / "model.keras", compile=False)
    probabilities = model.predict(normalize(mnist_test.images), batch_size=1000, verbose=0)
    return float((probabilities.argmax(axis=1) == mnist_test.labels).mean())


def test_every_variant_is_written_under_its_name(tflite_models):
    assert set(tflite_models) == set(ALL_VARIANTS)
    for variant, path in tflite_models.items():
        assert path.name == f"mnist_{variant}.tflite" and path.stat().st_size > 10_000
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


def test_each_variant_loads_and_classifies(tflite_models, predictions, mnist_test):
    for variant, predicted in predictions.items():
        accuracy = (predicted == mnist_test.labels).mean()
        assert accuracy > 0.9, f"{variant}: {accuracy:.2%}"
        assert len(np.unique(predicted)) == 10, f"{variant} does not predict every digit"


def test_int8_models_are_integer_inside_with_the_chosen_io_type(tflite_models):
    for variant, io_type in INT8_IO.items():
        interpreter = Classifier(tflite_models[variant]).interpreter
        model_input, model_output = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        assert model_input["dtype"] == io_type and model_output["dtype"] == io_type, variant
        if io_type != np.float32:
            scale, zero_point = model_input["quantization"]
            # Pixels in [0, 1] map onto the whole integer range: one step per grey level.
            assert scale == pytest.approx(1 / 255, rel=0.01)
            assert zero_point == (-128 if io_type == np.int8 else 0)
        io_indices = {model_input["index"], model_output["index"]}
        kinds = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details() if t["index"] not in io_indices}
        # int8 activations and weights, int32 biases and shapes: no float tensor inside.
        assert kinds <= {"int8", "int32"}, f"{variant} has {kinds}"
        ops = set(read_tflite(tflite_models[variant].read_bytes()).operator_names)
        assert {"CONV_2D", "FULLY_CONNECTED"} <= ops
        # Float I/O converts at the edges only; otherwise not even that.
        assert ("DEQUANTIZE" in ops) == (io_type == np.float32)


def test_float16_and_dynamic_store_smaller_weights(tflite_models, manifest):
    def weight_kinds(variant):
        details = Classifier(tflite_models[variant]).interpreter.get_tensor_details()
        return {np.dtype(t["dtype"]).name for t in details if len(t["shape"]) >= 2 and t["shape"][0] >= 32}

    assert "float16" in weight_kinds("float16")
    assert "int8" in weight_kinds("dynamic")
    ratios = {m["variant"]: m["ratio_to_float32"] for m in manifest["models"]}
    assert ratios["float16"] == pytest.approx(0.5, abs=0.03)
    assert ratios["int8"] <= 0.30 and ratios["dynamic"] <= 0.30


def test_accuracy_of_each_variant_is_close_to_the_keras_model(predictions, mnist_test, keras_accuracy, manifest):
    for variant, predicted in predictions.items():
        accuracy = float((predicted == mnist_test.labels).mean())
        distance = 100 * abs(accuracy - keras_accuracy)
        assert distance <= MAX_DISTANCE_POINTS[variant], f"{variant}: {accuracy:.4f} vs Keras {keras_accuracy:.4f}"
    assert manifest["source"]["keras_test_accuracy"] == pytest.approx(keras_accuracy, abs=1e-4)


def test_manifest_matches_the_files(tflite_models, manifest, predictions, mnist_test):
    assert manifest["dataset"] == "mnist" and manifest["class_names"] == [str(d) for d in range(10)]
    assert manifest["preprocessing"]["function"] == "edge.preprocess.normalize"
    assert re.fullmatch(r"2\.\d+\.\d+.*", manifest["tensorflow"])
    assert manifest["calibration"]["per_class"] == [calibration.DEFAULT_SAMPLES // 10] * 10
    entries = {m["variant"]: m for m in manifest["models"]}
    assert set(entries) == set(tflite_models)
    reference = entries["float32"]["accuracy"]
    for variant, path in tflite_models.items():
        entry = entries[variant]
        data = path.read_bytes()
        assert entry["file"] == path.name and entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["ratio_to_float32"] == pytest.approx(len(data) / entries["float32"]["bytes"])
        accuracy = float((predictions[variant] == mnist_test.labels).mean())
        assert entry["accuracy"] == pytest.approx(accuracy, abs=1e-9)
        assert entry["accuracy_change_points"] == pytest.approx(100 * (accuracy - reference), abs=1e-3)
        assert entry["status"] == "ok" and entry["tensorflow"] == manifest["tensorflow"]
        assert entry["class_names"] == manifest["class_names"] and entry["preprocessing"] == "edge.preprocess.normalize"
        interpreter = Classifier(path).interpreter
        details = {"input": interpreter.get_input_details()[0], "output": interpreter.get_output_details()[0]}
        for key, detail in details.items():
            assert entry[key]["dtype"] == np.dtype(detail["dtype"]).name
            assert entry[key]["shape"][1:] == list(detail["shape"][1:])
            scale, zero_point = detail["quantization"]
            if scale:
                assert entry[key]["quantization"] == {"scale": pytest.approx(scale), "zero_point": zero_point}
            else:
                assert entry[key]["quantization"] is None
        ops = set(read_tflite(path.read_bytes()).operator_names)
        assert {op["name"] for op in entry["operators"]} == ops
        assert all(op["version"] >= 1 for op in entry["operators"])
        assert re.fullmatch(r"\d+\.\d+\.\d+", entry["min_runtime_version"])
        litert = [r for name, r in entry["runtimes"].items() if name.startswith("ai_edge_litert")]
        assert litert and litert[0]["loads"] is True


def test_operator_versions_explain_the_old_runtime_refusal(manifest):
    """FULLY_CONNECTED version 12 is why tflite-runtime 2.14 refuses the dynamic model: it is recorded."""
    entries = {m["variant"]: m for m in manifest["models"]}
    fc = {m: next(op["version"] for op in entries[m]["operators"] if op["name"] == "FULLY_CONNECTED") for m in entries}
    assert fc["dynamic"] > fc["int8"] >= fc["float32"]
    version = tuple(int(x) for x in entries["dynamic"]["min_runtime_version"].split("."))
    assert version > (2, 14, 0) >= tuple(int(x) for x in entries["int8"]["min_runtime_version"].split("."))


def _operators(flatbuffer: bytes) -> list[str]:
    """Every operator's name, in execution order, as LiteRT's own flatbuffer tools read the file."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    return [flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) for g in model.subgraphs for op in g.operators]


def test_every_file_written_has_flatten_as_one_constant_reshape(tflite_models, manifest):
    """32-bit Pi OS's Arm NN refuses SHAPE: no file mnist-convert writes has it, nor lists it in the manifest."""
    for variant, path in tflite_models.items():
        operators = _operators(path.read_bytes())
        assert operators.count("RESHAPE") == 1 and not FLATTEN_OPERATORS & set(operators), f"{variant}: {operators}"
        assert fold_flatten(path.read_bytes()) == (path.read_bytes(), 0)  # nothing left to fold: the file as it is
    for entry in manifest["models"]:
        assert not FLATTEN_OPERATORS & {op["name"] for op in entry["operators"]}, entry["variant"]


def test_folded_files_answer_as_the_converter_output_before_folding(small_model, mnist_dir, mnist_test, tmp_path):
    """The files written against the TFLite converter's own output: the same probabilities, bit for bit, on
    the 10,000 test images (batched and one at a time), the same accuracy, and no more bytes."""
    from convert.variants import convert_variant
    from edge.mnist_data import load_split

    train = load_split(mnist_dir, "train")
    calibration_images = train.images[calibration.balanced_indices(train.labels, 200, seed=5)]
    variants = ["float32", "int8"]
    conversion = convert_all(
        small_model / "saved_model",
        tmp_path / "out",
        variants=variants,
        data_dir=mnist_dir,
        calibration_images=calibration_images,
        progress=False,
    )
    entries = {m["variant"]: m for m in conversion.models}
    for variant in variants:
        before = convert_variant(small_model / "saved_model", variant, calibration_images)
        written = (tmp_path / "out" / f"mnist_{variant}.tflite").read_bytes()
        assert set(_operators(before)) >= FLATTEN_OPERATORS  # there was a Flatten to fold
        kept = [op for op in _operators(before) if op not in FLATTEN_OPERATORS]
        assert _operators(written) == kept
        folded, count = fold_flatten(before)
        assert count == 1 and len(folded) < len(before)
        assert len(metadata.without_metadata(written)) <= len(metadata.without_metadata(before))
        unfolded = tmp_path / f"unfolded_{variant}.tflite"
        unfolded.write_bytes(before)
        expected = Classifier(unfolded, threads=1).predict(mnist_test.images)
        answers = Classifier(tmp_path / "out" / f"mnist_{variant}.tflite", threads=1)
        np.testing.assert_array_equal(answers.predict(mnist_test.images), expected)
        np.testing.assert_array_equal(answers.predict(mnist_test.images[:8], batch_size=1), expected[:8])
        assert entries[variant]["accuracy"] == float((expected.argmax(axis=1) == mnist_test.labels).mean())


def test_runtime_check_in_another_python_matches_this_one(tflite_models, manifest):
    paths = [tflite_models["int8"], tflite_models["dynamic"]]
    report = compat.check_in_python(sys.executable, paths)
    assert report["ai_edge_litert"][str(paths[0])]["loads"] is True
    assert report["ai_edge_litert"][str(paths[1])]["loads"] is True


def test_accuracy_guard_fires_and_keeps_the_model_marked_failed(small_model, mnist_dir, tmp_path, capsys):
    # Calibrating on blank images squeezes every range to ~0: the int8 model cannot work.
    conversion = convert_all(
        small_model / "saved_model",
        tmp_path,
        variants=["int8"],
        data_dir=mnist_dir,
        calibration_images=np.zeros((20, 28, 28), np.uint8),
        max_accuracy_drop=1.0,
        progress=False,
    )
    (entry,) = conversion.models
    assert entry["status"] == "failed" and entry["accuracy_change_points"] < -1.0
    assert (tmp_path / "mnist_int8.tflite").is_file()
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["models"][0]["status"] == "failed" and "max-accuracy-drop" in on_disk["models"][0]["failure"]
    # The debugger, run on real digits, points at the first convolution: its input range is the broken one.
    layers = entry["worst_layers"]
    assert layers[0]["op"] == "CONV_2D" and layers[0]["rmse_per_scale"] > 5
    assert layers[0]["rmse_per_scale"] >= max(r["rmse_per_scale"] for r in layers)
    assert len(conversion.failures) == 1 and layers[0]["layer"] in conversion.failures[0]

    assert cli.print_results(conversion) == 1
    out, err = capsys.readouterr()
    assert "FAILED" in out
    assert err.startswith("error: mnist_int8.tflite: loses") and err.count("\n") == 1


def test_cli_quantize_all_from_a_keras_file_prints_the_table(small_model, mnist_dir, tmp_path, capsys, monkeypatch):
    litert_version = importlib.metadata.version("ai-edge-litert")
    code = cli.main(
        [
            "--model",
            str(small_model / "model.keras"),
            "--quantize",
            "all",
            "--out",
            str(tmp_path),
            "--data-dir",
            str(mnist_dir),
            "--no-progress",
            "--max-accuracy-drop",
            "1",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    files = sorted(p.name for p in tmp_path.glob("*.tflite"))
    assert files == ["mnist_dynamic.tflite", "mnist_float16.tflite", "mnist_float32.tflite", "mnist_int8.tflite"]
    rows = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in VARIANTS}
    assert set(rows) == {"float32", "float16", "dynamic", "int8"}
    assert "(reference)" in rows["float32"] and re.search(r"\d+\.\d+ %\s+[+-]\d\.\d\d pt", rows["int8"])
    assert "vs float32" in out and "accuracy" in out

    # A second, narrower run keeps the earlier files listed and never touches them; a relative
    # --out works, also for the runtime check in another Python (it runs in another folder).
    before = (tmp_path / "mnist_int8.tflite").read_bytes()
    monkeypatch.chdir(tmp_path.parent)
    assert (
        cli.main(
            [
                "--model",
                str(small_model / "saved_model"),
                "--quantize",
                "int8",
                "--io",
                "uint8",
                "--out",
                tmp_path.name,
                "--data-dir",
                str(mnist_dir),
                "--no-evaluate",
                "--no-progress",
                "--check-python",
                sys.executable,
            ]
        )
        == 0
    )
    entries = {m["file"]: m for m in json.loads((tmp_path / "manifest.json").read_text())["models"]}
    assert sorted(entries) == sorted([*files, "mnist_int8_uint8_io.tflite"])
    checked = entries["mnist_int8_uint8_io.tflite"]["runtimes"]
    assert checked[f"ai_edge_litert {litert_version} ({sys.executable})"]["loads"] is True
    assert (tmp_path / "mnist_int8.tflite").read_bytes() == before
    assert "accuracy" not in capsys.readouterr().out


@pytest.fixture(scope="module")
def wrong_shape_model(tmp_path_factory) -> Path:
    """An untrained colour 32x32 classifier: a model mnist-convert must refuse."""
    import keras

    folder = tmp_path_factory.mktemp("wrong_shape")
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(folder / "model.keras")
    model.export(str(folder / "saved_model"), format="tf_saved_model", verbose=False)
    return folder


BAD_INPUTS = {
    "missing model": (["--model", "{tmp}/nowhere"], "no such file or folder"),
    "folder that is not a SavedModel": (["--model", "{tmp}"], "not a SavedModel"),
    "file that is not a model": (["--model", "{tmp}/notes.keras"], "not a .keras file"),
    "wrong input shape (.keras)": (["--model", "{wrong}/model.keras"], "not Nx28x28x1"),
    "wrong input shape (SavedModel)": (["--model", "{wrong}/saved_model"], "not Nx28x28x1"),
    "calibration samples < 1": (["--quantize", "int8", "--calibration-samples", "0"], "at least 1"),
    "calibration samples not a number": (["--calibration-samples", "many"], "invalid int value"),
    "unwritable --out": (["--out", "{tmp}/notes.keras/out"], "cannot write there"),
    "--io without int8": (["--io", "uint8"], "add --quantize int8"),
    "negative accuracy drop": (["--max-accuracy-drop", "-1"], "0 or more"),
    "--check-python that is not a Python": (["--check-python", "{tmp}/notes.keras"], "cannot run it"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_nonzero_and_writes_nothing(
    case, small_model, wrong_shape_model, mnist_dir, tmp_path, capsys
):
    (tmp_path / "notes.keras").write_text("not a model")
    args, expected = BAD_INPUTS[case]
    args = [a.format(tmp=tmp_path, wrong=wrong_shape_model) for a in args]
    if "--model" not in args:
        args += ["--model", str(small_model / "saved_model")]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    code = cli.main([*args, "--data-dir", str(mnist_dir), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err
    assert "Traceback" not in err and out == ""
    assert not list(tmp_path.rglob("*.tflite")) and not list(tmp_path.rglob("*.tmp"))


def test_errors_from_the_api_are_convert_errors(small_model, tmp_path):
    with pytest.raises(ConvertError, match="unknown variant"):
        convert_all(small_model / "saved_model", tmp_path, variants=["int4"])
    assert not list(tmp_path.iterdir())


def test_calibration_draws_training_images_balanced_over_classes(mnist_dir):
    from edge.mnist_data import load_split

    train = load_split(mnist_dir, "train")
    picked = calibration.balanced_indices(train.labels, 500, seed=3)
    assert len(set(picked)) == 500
    assert np.bincount(train.labels[picked], minlength=10).tolist() == [50] * 10
    few = calibration.balanced_indices(train.labels, 7, seed=3)
    assert len(set(train.labels[few])) == 7  # seven images, seven different digits
    assert len(calibration.balanced_indices(train.labels[:30], 100)) == 30
    with pytest.raises(ValueError):
        calibration.balanced_indices(train.labels, 0)
    batches = list(calibration.representative_dataset(train.images[picked[:4]])())
    assert len(batches) == 4
    assert batches[0][0].shape == (1, 28, 28, 1) and batches[0][0].dtype == np.float32
    assert min(b[0].min() for b in batches) >= 0.0 and max(b[0].max() for b in batches) <= 1.0


def test_quantize_and_io_flags_name_the_variants():
    assert variant_names() == ["float32"]
    assert variant_names("int8") == ["int8"]
    assert variant_names("int8", "float") == ["int8_float_io"]
    assert variant_names("all") == ["float32", "float16", "dynamic", "int8"]
    assert variant_names("all", "all") == list(ALL_VARIANTS)


def test_layer_names_come_back_from_fused_tensor_names():
    fused = "cnn_1/re_lu_1_2/Relu;cnn_1/batch_normalization_1_2/batchnorm/add_1;cnn_1/conv2d_1_2/convolution;x"
    assert layer_name(fused) == "conv2d_1"
    assert layer_name("cnn_1/dense_1/MatMul;cnn_1/batch_normalization_4_1/batchnorm/mul_1") == "dense"
