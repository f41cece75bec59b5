"""mnist-convert: turn mnist-train's model into .tflite files, and show what each one costs.

mnist-convert                               # float32 model, next to artifacts/saved_model
mnist-convert --quantize int8               # full-integer model with int8 input and output
mnist-convert --quantize all                # float32, float16, dynamic and int8 side by side
mnist-convert --quantize all --io all       # ... with the int8 model in all three I/O types
mnist-convert --quantize int8 --micro       # ... also as a C array, checked in TFLite Micro
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from convert import micro
from convert.calibration import DEFAULT_SAMPLES
from convert.variants import IO_CHOICES, QUANTIZE_CHOICES, variant_names
from edge.command_line import OneLineParser
from train.defaults import SAVED_MODEL, SEED

if TYPE_CHECKING:
    from convert.converter import Conversion


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="mnist-convert",
        description="Convert a trained digit classifier to TensorFlow Lite (float32, float16, dynamic-range, int8), "
        "evaluate every file in LiteRT on the full test set, and write manifest.json beside them.",
        epilog="Exit status: 0 done, 1 a model lost more than --max-accuracy-drop (it is kept, marked failed), "
        "2 bad input.",
    )
    p.add_argument(
        "--model",
        type=Path,
        default=SAVED_MODEL,
        help="SavedModel folder or .keras file written by mnist-train [default: %(default)s]",
    )
    p.add_argument(
        "--quantize",
        choices=QUANTIZE_CHOICES,
        default="none",
        help="none: float32; float16: half-size weights; dynamic: int8 weights; "
        "int8: full-integer (calibrated on training images); all: all four [default: none]",
    )
    p.add_argument(
        "--io",
        choices=IO_CHOICES,
        default=None,
        help="input/output type of the int8 model: int8, uint8 (for accelerators that want it), "
        "float (quantize inside the model), or all three [default: int8]",
    )
    p.add_argument(
        "--calibration-samples",
        type=int,
        default=DEFAULT_SAMPLES,
        metavar="N",
        help="training images (balanced over the classes) that calibrate the int8 ranges [default: %(default)s]",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="folder with the MNIST IDX files, or your own images as DIR/<class>/*.png|jpg (int8 "
        "calibrates on its training part; accuracy is measured on its held-out fifth) [default: the "
        "data the model was trained on, else MNIST_DATA_DIR, the cache, or a download]",
    )
    p.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="leave out images in a --data-dir of your own that cannot be used",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the .tflite files and manifest.json go [default: the model's training folder]",
    )
    p.add_argument(
        "--max-accuracy-drop",
        type=float,
        default=None,
        metavar="POINTS",
        help="fail (exit 1) when a quantized model loses more than this many points against float32",
    )
    p.add_argument(
        "--no-evaluate",
        dest="evaluate",
        action="store_false",
        help="skip the accuracy run on the test set (sizes and runtime checks only)",
    )
    p.add_argument(
        "--dataset",
        choices=("mnist", "fashion"),
        default=None,
        help="dataset the model was trained on [default: from metrics.json beside the model, else mnist]",
    )
    p.add_argument(
        "--check-python",
        action="append",
        default=[],
        metavar="PYTHON",
        help="also check that each file loads in the TFLite runtimes of this Python interpreter "
        "(e.g. a venv with the Raspberry Pi's tflite-runtime); repeatable",
    )
    p.add_argument(
        "--micro",
        action="store_true",
        help="for microcontrollers: write each int8 model as a C array (.c/.h), run it in TensorFlow "
        "Lite Micro, and report flash, RAM (tensor arena) and the operators to register "
        "(needs: pip install 'mnist-edge[micro]')",
    )
    p.add_argument(
        "--micro-samples",
        type=micro.parse_samples,
        default=micro.DEFAULT_SAMPLES,
        metavar="N|all",
        help="test images (drawn at random) that TFLM and LiteRT must agree on [default: %(default)s]",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=SEED,
        help="seed of the calibration and --micro-samples draws [default: %(default)s]",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress lines or bars")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's and the converter's own log")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, or a usage error already printed on one line
        return int(done.code or 0)
    if args.io is not None and args.quantize not in ("int8", "all"):
        print("error: --io sets the int8 model's input/output type; add --quantize int8 (or all)", file=sys.stderr)
        return 2
    if args.micro and args.quantize not in ("int8", "all"):
        print(
            "error: --micro runs the full-integer model in TFLite Micro; add --quantize int8 (or all)", file=sys.stderr
        )
        return 2

    from train.tf_quiet import import_tensorflow

    import_tensorflow(args.verbose)
    from convert.converter import ConvertError, ConvertOptions, convert_all
    from edge.mnist_data import DataError
    from edge.runtime import RuntimeProblem

    try:
        if args.micro:
            micro.runtime_module()  # a missing tflite-micro is said before the conversion, not after
        options = ConvertOptions(
            variants=variant_names(args.quantize, args.io or "int8"),
            data_dir=args.data_dir,
            dataset=args.dataset,
            calibration_samples=args.calibration_samples,
            evaluate_models=args.evaluate,
            max_accuracy_drop=args.max_accuracy_drop,
            check_pythons=args.check_python,
            progress=args.progress,
            verbose=args.verbose,
            seed=args.seed,
            skip_bad_images=args.skip_bad_images,
        )
        conversion = convert_all(args.model, args.out, options)
        micro_reports = []
        if args.micro:
            micro_reports = micro.for_conversion(
                conversion, conversion.test, args.micro_samples, seed=args.seed, progress=args.progress
            )
    except (ConvertError, DataError, RuntimeProblem, micro.MicroError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; files already finished are complete, none is half-written", file=sys.stderr)
        return 130
    status = print_results(conversion)
    if micro_reports:
        print(f"\n{micro.summary(micro_reports)}")
    return status


def print_results(conversion: Conversion) -> int:
    """The table on stdout, advice and failures after it; the exit status (1 if a model failed)."""
    from convert import report

    print(report.table(conversion))
    print(report.runtimes_checked(conversion))
    print(f"\nwrote {len(conversion.models)} model(s) and {conversion.manifest_path.name} to {conversion.out_dir}")
    for line in report.advice(conversion):
        print(f"note: {line}")
    for failure in conversion.failures:
        print(f"error: {failure} (kept, marked failed in {conversion.manifest_path.name})", file=sys.stderr)
    return 1 if conversion.failures else 0


if __name__ == "__main__":
    sys.exit(main())
