"""One interface over the runtimes we compare: a TFLite interpreter, ONNX Runtime, Keras in TensorFlow.

Each engine splits a classification the same way, so that every runtime is timed on the same
steps: ``prepare`` (uint8 images -> the model's input: normalize, and quantize for int8 models),
``invoke`` (the runtime alone, on prepared input) and ``predict`` (uint8 images -> probabilities,
everything included). The TFLite engine is the edge runner's own ``Classifier``; the others are
imported lazily, so this module loads in an interpreter that has only numpy and a TFLite runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge.preprocess import normalize
from edge.runtime import Classifier, RuntimeProblem

TFLITE_RUNTIMES = ("ai_edge_litert", "tflite_runtime")
RUNTIMES = (*TFLITE_RUNTIMES, "onnxruntime", "keras")


class Engine(Protocol):
    runtime: str

    def prepare(self, images: np.ndarray) -> np.ndarray: ...

    def invoke(self, model_input: np.ndarray) -> Any: ...

    def predict(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray: ...


class TFLiteEngine:
    """A .tflite file in LiteRT or tflite-runtime, through the edge runner's Classifier."""

    def __init__(self, path: Path, threads: int, runtime: str):
        self.classifier = Classifier(path, threads=threads, runtime=runtime)
        self.runtime = self.classifier.runtime

    def prepare(self, images: np.ndarray) -> np.ndarray:
        return self.classifier.quantize(normalize(images))

    def invoke(self, model_input: np.ndarray) -> Any:
        return self.classifier.invoke(model_input)

    def predict(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return self.classifier.predict(images, batch_size=batch_size)


class OnnxEngine:
    """An .onnx file in ONNX Runtime's CPU provider, with ``threads`` intra-op threads."""

    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int):
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeProblem("onnxruntime is not installed: pip install -e '.[bench]'") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own pybind exception types (Fail, InvalidGraph, NoSuchFile...)
            raise RuntimeProblem(f"{path}: ONNX Runtime cannot load it ({' '.join(str(e).split())[:200]})") from None
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def prepare(self, images: np.ndarray) -> np.ndarray:
        return normalize(images)

    def invoke(self, model_input: np.ndarray) -> Any:
        return self.session.run([self.output_name], {self.input_name: model_input})[0]

    def predict(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return _in_batches(lambda chunk: self.invoke(normalize(chunk)), images, batch_size)


class KerasEngine:
    """The trained Keras model in TensorFlow: the baseline a user starts from.

    ``predict_on_batch`` is Keras' fastest call for one image (measured on the default CNN: about
    1 ms, vs 10 ms for ``model(x)`` and 50 ms for ``model.predict(x)``); we time the fastest.
    TensorFlow fixes its thread pools when it starts, so one engine per process.
    """

    runtime = "keras"

    def __init__(self, path: Path, threads: int):
        from train.tf_quiet import native_stderr_silenced, quiet_tensorflow

        quiet_tensorflow()
        with native_stderr_silenced():
            import keras
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1 if threads == 1 else 0)
            try:
                self.model = keras.saving.load_model(path, compile=False)
            except Exception as e:  # a damaged zip, a file of another format...
                raise RuntimeProblem(f"{path}: Keras cannot load it ({' '.join(str(e).split())[:200]})") from None

    def prepare(self, images: np.ndarray) -> np.ndarray:
        return normalize(images)

    def invoke(self, model_input: np.ndarray) -> Any:
        return self.model.predict_on_batch(model_input)

    def predict(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return _in_batches(lambda chunk: self.invoke(normalize(chunk)), images, batch_size)


def _in_batches(run: Any, images: np.ndarray, batch_size: int) -> np.ndarray:
    chunks = [np.asarray(run(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 10), np.float32)


def open_engine(runtime: str, path: str | Path, threads: int) -> Engine:
    """The engine for ``runtime`` on ``path``; RuntimeProblem (one line) when it cannot load."""
    path = Path(path)
    if not path.exists():
        raise RuntimeProblem(f"{path}: model file not found")
    if runtime in TFLITE_RUNTIMES:
        return TFLiteEngine(path, threads, runtime)
    if runtime == "onnxruntime":
        return OnnxEngine(path, threads)
    if runtime == "keras":
        return KerasEngine(path, threads)
    raise RuntimeProblem(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
