"""One image through model.keras in TensorFlow, in a fresh process: the baseline of mnist-bench's cold start.

    python -m benchmarks.keras_first_prediction MODEL.keras IMAGE

Prints ``IMAGE: 7 (99.6%)`` as edge/classify.py does, so that the two predictions compare. The
image goes through the same preprocessing (edge.preprocess.prepare_file).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    model_path, image = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    import keras

    from edge.preprocess import normalize, prepare_file

    model = keras.models.load_model(model_path)
    probabilities = model(normalize(prepare_file(image)), training=False).numpy()[0]
    print(f"{image}: {probabilities.argmax()} ({probabilities.max():.1%})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
