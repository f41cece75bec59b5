"""Load a .tflite digit classifier in whichever TFLite interpreter is installed, and run it.

Order of preference: LiteRT (``ai_edge_litert``, maintained, fastest here), then the old
``tflite_runtime``, then ``tensorflow.lite`` only when neither is installed, then Arm NN
(Debian's ``python3-pyarmnn``, edge/runtime_armnn.py: float32 files only) for 32-bit Pi OS,
where none of the others installs. Known failures
become one-line advice (:class:`RuntimeProblem`) instead of a traceback, and the interpreter's
own chatter on stderr ("Created TensorFlow Lite XNNPACK delegate", NumPy's ABI warning) is
kept off the user's screen.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import platform
import struct
from pathlib import Path
from typing import Any

import numpy as np

from .native_output import Captured, native_output_captured
from .preprocess import INPUT_SHAPE, normalize
from .runtime_armnn import ArmNNRefused
from .runtime_choice import RUNTIMES  # the names, in order of preference (re-exported)

_MODULES = {
    "ai_edge_litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
    "tensorflow": "tensorflow.lite.python.interpreter",
    "pyarmnn": "pyarmnn",
}
INSTALL_ADVICE = "pip install ai-edge-litert (or: pip install -r edge/requirements.txt)"
ARMHF_ADVICE = (
    "On 32-bit ARM (armhf) neither ai-edge-litert nor tflite-runtime has a wheel for Python 3.11 or "
    "later. Fix: install the 64-bit Raspberry Pi OS image, or on bookworm: sudo apt install python3-pyarmnn "
    "libarmnn-cpuref-backend22 python3-opencv, make the venv with --system-site-packages and use "
    "mnist_float32.tflite (Arm NN runs float32 files only)"
)
_TFLITE_ID = b"TFL3"  # flatbuffer file identifier, bytes 4-8 of every .tflite file


class RuntimeProblem(Exception):
    """The interpreter or the model cannot be used; the message says what to do."""


def _stderr_captured() -> contextlib.AbstractContextManager[Captured]:
    """Catch what C++ and Python write to file descriptor 2, to read it or drop it (edge/native_output.py)."""
    return native_output_captured(replay=False)


def _numpy_abi_advice(runtime: str) -> str:
    return (
        f"{runtime} was built for NumPy 1 and cannot run under NumPy {np.__version__}: "
        f"pip install 'numpy<2', or better, {INSTALL_ADVICE}"
    )


def _is_numpy_abi_error(text: str) -> bool:
    return "_ARRAY_API" in text or "compiled using NumPy 1.x" in text or "numpy.core.multiarray failed" in text


def is_32bit_arm() -> bool:
    """32-bit ARM userland: armv6l/armv7l, or a 32-bit Python on a 64-bit kernel (uname says aarch64)."""
    machine = platform.machine().lower()
    return (machine.startswith("arm") and machine != "arm64") or (machine == "aarch64" and struct.calcsize("P") == 4)


def install_advice() -> str:
    """How to get an interpreter on this machine."""
    return ARMHF_ADVICE if is_32bit_arm() else f"Fix: {INSTALL_ADVICE}"


def interpreter_class(runtime: str | None = None) -> tuple[type, str]:
    """The Interpreter class of ``runtime``, or of the first one installed, and its name."""
    problems = []
    for name in [runtime] if runtime else RUNTIMES:
        if name not in _MODULES:
            raise RuntimeProblem(f"unknown runtime {name!r}; choose one of {', '.join(RUNTIMES)}")
        if name == "tensorflow":
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before the first import of TF
        try:
            with _stderr_captured() as chatter:
                module = importlib.import_module(_MODULES[name])
            if name == "pyarmnn":
                from .runtime_armnn import ArmNNInterpreter

                return ArmNNInterpreter, name
            return module.Interpreter, name
        except ModuleNotFoundError:
            problems.append(f"{name} is not installed")
        except (ImportError, AttributeError) as e:
            if _is_numpy_abi_error(f"{e} {chatter.text}"):
                problems.append(_numpy_abi_advice(name))
            else:
                problems.append(f"{name} failed to import ({_first_line(e)})")
    raise RuntimeProblem(f"no TFLite interpreter could be loaded: {'; '.join(problems)}. {install_advice()}")


def _check_model_file(path: Path) -> None:
    """Refuse what is not a .tflite file before the interpreter sees it."""
    if path.is_dir():
        raise RuntimeProblem(f"{path}: is a folder (a SavedModel?); give the .tflite file that mnist-convert wrote")
    if not path.is_file():
        raise RuntimeProblem(f"{path}: model file not found; check the path or run mnist-convert")
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as e:
        raise RuntimeProblem(f"{path}: cannot read the model ({e.strerror})") from None
    if head[4:8] == _TFLITE_ID:
        return
    if head.startswith(b"PK\x03\x04"):
        what = "a zip archive (a Keras .keras model?)"
    elif head.startswith(b"\x89HDF"):
        what = "an HDF5 file (a Keras .h5 model?)"
    elif not head:
        what = "empty file"
    else:
        what = "not a TFLite model"
    raise RuntimeProblem(f"{path}: {what}; convert the model with mnist-convert and give its .tflite file")


def explain_load_error(path: Path, runtime: str, error: Exception, chatter: str) -> str:
    """A runtime's failure to load ``path`` (its exception and what it printed) as one line of advice."""
    if isinstance(error, ArmNNRefused):
        return str(error)
    text = " ".join(f"{error} {chatter}".split())
    if _is_numpy_abi_error(text):
        return f"{path}: {_numpy_abi_advice(runtime)}"
    if "Didn't find op for builtin opcode" in text or ("opcode" in text and "version" in text):
        op = text.split("opcode '")[1].split("'")[0] if "opcode '" in text else "an operator"
        version = text.split("version '")[1].split("'")[0] if "version '" in text else "?"
        upgrade = "pip install --upgrade ai-edge-litert" if runtime == "ai_edge_litert" else INSTALL_ADVICE
        return (
            f"{path}: {runtime} is older than the TensorFlow that converted this model ({op} version {version} "
            f"is unknown to it). Fix: {upgrade}, or deploy a variant it can load "
            "(float32 or int8; see manifest.json)"
        )
    if "not a valid Flatbuffer" in text or "model identifier" in text or "allocation is null" in text:
        return f"{path}: corrupt or truncated TFLite file; copy it again or rerun mnist-convert"
    return f"{path}: {runtime} cannot load this model ({text[:200]})"


class Classifier:
    """A digit classifier in a TFLite interpreter: float, int8 or uint8 input alike.

    ``predict`` takes uint8 images (N, 28, 28) as MNIST stores them, quantizes them with the
    model's own scale and zero point, runs them in batches, and returns probabilities.
    ``threads`` defaults to every core; ``"auto"`` is the count measured fastest for this model on
    this device (edge/threads.py, cached after the first time).
    """

    def __init__(self, model_path: str | Path, threads: int | str | None = None, runtime: str | None = None):
        self.path = Path(model_path)
        if (isinstance(threads, int) and threads < 1) or (isinstance(threads, str) and threads != "auto"):
            raise RuntimeProblem(f"--threads must be 'auto' or at least 1, not {threads}")
        _check_model_file(self.path)
        Interpreter, self.runtime = interpreter_class(runtime)
        if threads == "auto" and self.runtime == "pyarmnn":
            threads = None  # Arm NN takes no thread count: nothing to measure
        elif threads == "auto":
            from .threads import auto_threads

            threads = auto_threads(self.path, self.runtime)
        self.threads = int(threads or os.cpu_count() or 1)
        chatter = Captured()
        try:
            with _stderr_captured() as chatter:
                self.interpreter: Any = Interpreter(model_path=str(self.path), num_threads=self.threads)
        except (ValueError, RuntimeError, SystemError, AttributeError, ImportError) as e:
            raise RuntimeProblem(explain_load_error(self.path, self.runtime, e, chatter.text)) from None
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise RuntimeProblem(
                f"{self.path}: expected one input and one output, found {len(inputs)} and {len(outputs)}"
            )
        self.input, self.output = inputs[0], outputs[0]
        if tuple(self.input["shape"][1:]) not in (INPUT_SHAPE, INPUT_SHAPE[:2]):
            raise RuntimeProblem(
                f"{self.path}: model input is {'x'.join(map(str, self.input['shape'][1:]))}, not 28x28 with "
                "one channel; this runner classifies MNIST-style digits"
            )
        if len(self.output["shape"]) != 2:
            raise RuntimeProblem(
                f"{self.path}: model output has shape {tuple(self.output['shape'])}, not (batch, classes)"
            )
        try:
            with _stderr_captured() as chatter:
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise RuntimeProblem(explain_load_error(self.path, self.runtime, e, chatter.text)) from None
        self.input_dtype = np.dtype(self.input["dtype"])
        self.output_dtype = np.dtype(self.output["dtype"])
        self.num_classes = int(self.output["shape"][-1])
        self._batch = int(self.input["shape"][0])
        self._pixel_table: np.ndarray | None = None
        self._outputs_logits: bool | None = None

    def quantize(self, pixels: np.ndarray) -> np.ndarray:
        """Float pixels in [0, 1] -> the model's input type, with its scale and zero point."""
        if self.input_dtype.kind == "f":
            return pixels.astype(self.input_dtype)
        scale, zero_point = self.input["quantization"]
        info = np.iinfo(self.input_dtype)
        return np.clip(np.round(pixels / scale + zero_point), info.min, info.max).astype(self.input_dtype)

    def _to_probabilities(self, raw: np.ndarray) -> np.ndarray:
        out = raw.astype(np.float32)
        if self.output_dtype.kind != "f":
            scale, zero_point = self.output["quantization"]
            out -= zero_point
            out *= scale
        # Models from mnist-train end in softmax; apply one only to a model that outputs logits.
        # A model is one or the other, so look once, at the first output it gives.
        if self._outputs_logits is None and out.size:
            self._outputs_logits = bool(out.min() < -1e-3 or np.abs(out.sum(axis=-1) - 1.0).max() > 0.05)
        if self._outputs_logits:
            out = np.exp(out - out.max(axis=-1, keepdims=True))
            out /= out.sum(axis=-1, keepdims=True)
        return out

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            self.interpreter.resize_tensor_input(self.input["index"], [batch, *self.input["shape"][1:]])
            with _stderr_captured():
                self.interpreter.allocate_tensors()
            self._batch = batch

    def invoke(self, model_input: np.ndarray) -> np.ndarray:
        """Run one already-quantized batch; returns the raw output tensor."""
        self._resize(len(model_input))
        batch = np.ascontiguousarray(model_input.reshape((len(model_input), *self.input["shape"][1:])))
        self.interpreter.set_tensor(self.input["index"], batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def model_input(self, images: np.ndarray) -> np.ndarray:
        """uint8 images -> the model's input values: normalize, then quantize, as one table lookup.

        The 256-entry table is built from ``normalize`` and ``quantize`` themselves, so it is the
        same preprocessing, at ~1 us per image instead of ~13 (it matters at ~50 us per invoke).
        """
        images = np.asarray(images)
        if images.dtype != np.uint8:
            return self.quantize(normalize(images))
        if self._pixel_table is None:
            grey_levels = np.resize(np.arange(256, dtype=np.uint8), (1, 28, 28))  # 0..255, then repeats
            self._pixel_table = self.quantize(normalize(grey_levels)).ravel()[:256]
        return self._pixel_table[images]

    def predict(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """uint8 images (N, 28, 28) -> probabilities (N, classes), in batches of ``batch_size``."""
        model_input = self.model_input(images)
        if model_input.ndim == 2:
            model_input = model_input[None]
        chunks = [self.invoke(model_input[i : i + batch_size]) for i in range(0, len(model_input), batch_size)]
        if not chunks:
            return np.zeros((0, self.num_classes), np.float32)
        return self._to_probabilities(chunks[0] if len(chunks) == 1 else np.concatenate(chunks))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
