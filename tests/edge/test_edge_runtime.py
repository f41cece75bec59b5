"""The interpreter wrapper on real .tflite files from the converter, in the real interpreter.

Broken or foreign models are made from real ones with LiteRT's own flatbuffer tools (part of
the ai-edge-litert package the device installs), so the interpreter's real errors are checked.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edge.runtime import Classifier, RuntimeProblem, explain_load_error, interpreter_class

VARIANTS = ["float32", "float16", "dynamic", "int8", "int8_float_io", "int8_uint8_io"]


@pytest.fixture(scope="module")
def test_digits(mnist_test) -> tuple[np.ndarray, np.ndarray]:
    return mnist_test.images[:2000], mnist_test.labels[:2000]


@pytest.fixture(scope="module")
def float_predictions(tflite_models, test_digits) -> np.ndarray:
    return Classifier(tflite_models["float32"]).predict(test_digits[0])


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_classifies_real_mnist(tflite_models, test_digits, float_predictions, variant):
    images, labels = test_digits
    classifier = Classifier(tflite_models[variant])
    probs = classifier.predict(images)
    assert probs.shape == (len(images), 10) and probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1.0, atol=0.02) and probs.min() >= 0.0
    assert (probs.argmax(axis=1) == labels).mean() >= 0.95
    # Quantization may move a borderline digit, not the model's answers as a whole.
    assert (probs.argmax(axis=1) == float_predictions.argmax(axis=1)).mean() >= 0.99


@pytest.mark.parametrize(
    "variant, dtype", [("int8", np.int8), ("int8_uint8_io", np.uint8), ("int8_float_io", np.float32)]
)
def test_input_is_quantized_with_the_models_own_scale(tflite_models, variant, dtype):
    classifier = Classifier(tflite_models[variant])
    assert classifier.input_dtype == dtype
    pixels = np.array([0.0, 0.5, 1.0], np.float32)
    quantized = classifier.quantize(pixels)
    assert quantized.dtype == dtype
    if dtype != np.float32:
        scale, zero_point = classifier.input["quantization"]
        info = np.iinfo(dtype)
        assert quantized[0] == zero_point and quantized[-1] in (info.max, info.max - 1)
        assert np.allclose((quantized.astype(float) - zero_point) * scale, pixels, atol=scale)


def test_batches_give_the_same_answers_as_one_image_at_a_time(int8_classifier, test_digits):
    images = test_digits[0][:300]
    batched = int8_classifier.predict(images, batch_size=128)
    assert int8_classifier.interpreter.get_input_details()[0]["shape"][0] == 300 - 2 * 128  # resized, not looped
    single = np.concatenate([int8_classifier.predict(image[None], batch_size=1) for image in images[:20]])
    assert np.array_equal(batched[:20].argmax(axis=1), single.argmax(axis=1))
    assert np.allclose(batched[:20], single, atol=1 / 128)


def test_softmax_is_applied_only_to_logits(tmp_path, tflite_models, test_digits):
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(tflite_models["float32"])
    graph = model.subgraphs[0]
    softmax = next(op for op in graph.operators if op.outputs[0] == graph.outputs[0])
    assert flatbuffer_utils.opcode_to_name(model, softmax.opcodeIndex) == "SOFTMAX"
    graph.outputs = list(softmax.inputs)
    graph.operators = [op for op in graph.operators if op is not softmax]
    flatbuffer_utils.write_model(model, tmp_path / "logits.tflite")

    images = test_digits[0][:200]
    logits_model = Classifier(tmp_path / "logits.tflite")
    raw = logits_model.invoke(logits_model.quantize(images.astype(np.float32)[..., None] / 255))
    assert raw.min() < 0  # really logits
    assert np.allclose(logits_model.predict(images), Classifier(tflite_models["float32"]).predict(images), atol=1e-4)


def test_the_installed_runtime_is_preferred_in_order():
    _, name = interpreter_class()
    assert name == "ai_edge_litert"  # installed everywhere these tests run
    with pytest.raises(RuntimeProblem, match="unknown runtime"):
        interpreter_class("onnxruntime")


def test_threads_default_to_every_core(int8_model):
    import os

    assert Classifier(int8_model).threads == os.cpu_count()
    assert Classifier(int8_model, threads=1).threads == 1
    with pytest.raises(RuntimeProblem, match="at least 1"):
        Classifier(int8_model, threads=0)


def _problem(path: Path) -> str:
    with pytest.raises(RuntimeProblem) as error:
        Classifier(path)
    message = str(error.value)
    assert message.startswith(str(path)) and "\n" not in message
    return message


def test_missing_model_and_folder(tmp_path):
    assert "not found" in _problem(tmp_path / "model.tflite")
    assert "SavedModel" in _problem(tmp_path)


def test_files_that_are_not_tflite(tmp_path):
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:
        archive.writestr("config.json", "{}")
    assert "Keras .keras model" in _problem(tmp_path / "model.keras")
    (tmp_path / "model.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    assert "Keras .h5 model" in _problem(tmp_path / "model.h5")
    (tmp_path / "empty.tflite").write_bytes(b"")
    assert "empty file" in _problem(tmp_path / "empty.tflite")
    (tmp_path / "photo.tflite").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    assert "not a TFLite model" in _problem(tmp_path / "photo.tflite")


def test_truncated_tflite_file(tmp_path, int8_model):
    data = int8_model.read_bytes()
    (tmp_path / "half.tflite").write_bytes(data[: len(data) // 2])
    assert "corrupt or truncated" in _problem(tmp_path / "half.tflite")


def test_model_from_a_newer_tensorflow_gets_advice(tmp_path, int8_model):
    """An operator version this runtime does not know, as a model from a newer converter has."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(int8_model)
    model.operatorCodes[0].version = 99
    flatbuffer_utils.write_model(model, tmp_path / "newer.tflite")
    message = _problem(tmp_path / "newer.tflite")
    assert "older than the TensorFlow that converted this model" in message
    assert "version 99" in message and "pip install --upgrade ai-edge-litert" in message


def test_model_whose_input_is_not_28x28x1(tmp_path):
    """A valid model for 32x32 colour images (one LOGISTIC op), built with LiteRT's schema."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.LOGISTIC
    code.version = 1
    tensors = []
    for name in (b"image", b"output"):
        tensor = schema.TensorT()
        tensor.shape, tensor.type, tensor.buffer, tensor.name = [1, 32, 32, 3], schema.TensorType.FLOAT32, 0, name
        tensors.append(tensor)
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    graph = schema.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators = tensors, [0], [1], [op]
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [graph], [schema.BufferT()]
    flatbuffer_utils.write_model(model, tmp_path / "cifar.tflite")
    assert "32x32x3, not 28x28 with one channel" in _problem(tmp_path / "cifar.tflite")


def test_tflite_runtime_under_numpy_2_gets_advice():
    """What tflite-runtime 2.14 (built for NumPy 1) raises and prints under NumPy 2, verbatim.

    tflite-runtime is not installed here (it has no wheels for current Pythons), so its real
    output is replayed into the function that turns it into advice.
    """
    error = SystemError(
        "<built-in method CreateWrapperFromFile of PyCapsule object at 0x7f> returned a result with an exception set"
    )
    printed = (
        "A module that was compiled using NumPy 1.x cannot be run in\nNumPy 2.4.6 as it may crash. ...\n"
        "AttributeError: _ARRAY_API not found\n"
    )
    advice = explain_load_error(Path("m.tflite"), "tflite_runtime", error, printed)
    assert "built for NumPy 1" in advice and "numpy<2" in advice and "ai-edge-litert" in advice


@pytest.mark.parametrize("variant", ["float32", "int8", "int8_uint8_io", "int8_float_io"])
def test_pixel_table_is_the_same_preprocessing(tflite_models, mnist_test, variant):
    """predict's lookup table must give exactly what normalize + quantize give, for all 256 grey levels."""
    from edge.preprocess import normalize
    from edge.runtime import Classifier

    classifier = Classifier(tflite_models[variant])
    images = np.concatenate([mnist_test.images[:50], np.resize(np.arange(256, dtype=np.uint8), (1, 28, 28))])
    looked_up = classifier.model_input(images)
    computed = classifier.quantize(normalize(images))
    assert looked_up.dtype == computed.dtype == classifier.input_dtype
    np.testing.assert_array_equal(looked_up.reshape(computed.shape), computed)


# --- 32-bit Raspberry Pi OS (armhf): requirements, Arm NN's limits, and the advice ----------------

ROOT = Path(__file__).resolve().parents[2]
NO_RUNTIME = (
    "import sys, platform\n"
    "for name in ('ai_edge_litert', 'tflite_runtime', 'tensorflow', 'pyarmnn'):\n"
    "    sys.modules[name] = None  # as if not installed\n"
    "MACHINE\n"
    "sys.path.insert(0, ROOT)\n"
    "from edge.classify import main\n"
    "sys.exit(main(['--model', MODEL, '--raw', FOLDER]))\n"
)


def _classify_without_runtimes(model: Path, folder: Path, machine: str | None) -> subprocess.CompletedProcess:
    """edge/classify.py in a fresh Python where no interpreter imports, on this or another machine."""
    code = NO_RUNTIME.replace("ROOT", repr(str(ROOT))).replace("MODEL", repr(str(model)))
    code = code.replace("FOLDER", repr(str(folder)))
    code = code.replace("MACHINE", f"platform.machine = lambda: {machine!r}" if machine else "")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_requirements_leave_out_what_32_bit_arm_cannot_install():
    """pip must not stop with 'no matching distribution' on armhf: no ai-edge-litert or OpenCV wheel there."""
    from pip._vendor.packaging.requirements import Requirement  # pip is in every venv; packaging may not be

    lines = (ROOT / "edge" / "requirements.txt").read_text().splitlines()
    requirements = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]

    def wanted(machine: str) -> set[str]:
        env = {"platform_machine": machine}
        return {r.name for r in requirements if r.marker is None or r.marker.evaluate(env)}

    everything = {"numpy", "pillow", "ai-edge-litert", "opencv-python-headless"}
    assert wanted("x86_64") == wanted("aarch64") == everything
    for machine in ("armv6l", "armv7l", "armv8l"):
        assert wanted(machine) == {"numpy", "pillow"}, machine


def test_no_runtime_on_32_bit_arm_names_both_ways_out(tflite_models, png_folder):
    for machine, advice in [("armv7l", "64-bit Raspberry Pi OS image"), (None, "Fix: pip install ai-edge-litert")]:
        result = _classify_without_runtimes(tflite_models["float32"], png_folder, machine)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("error: no TFLite interpreter could be loaded") and advice in line
        assert ("python3-pyarmnn" in line) == (machine == "armv7l")


@pytest.mark.parametrize("variant, kind", [("int8", "int8"), ("int8_uint8_io", "int8, uint8"), ("float16", "float16")])
def test_arm_nn_refuses_what_it_would_abort_on_before_loading_it(tflite_models, variant, kind):
    """Arm NN 22 kills the process (a C assertion) on quantized files; the file's tensor types say so first."""
    from edge.runtime_armnn import ArmNNInterpreter, ArmNNRefused, tensor_types

    assert tensor_types(tflite_models["float32"].read_bytes()) == {0, 2}  # FLOAT32 and INT32 only
    with pytest.raises(ArmNNRefused) as error:  # before pyarmnn is imported: it is not installed here
        ArmNNInterpreter(str(tflite_models[variant]))
    message = explain_load_error(tflite_models[variant], "pyarmnn", error.value, "")
    assert f"float32 files only, this one has {kind} tensors" in message and "64-bit Raspberry Pi OS" in message
