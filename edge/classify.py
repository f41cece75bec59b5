"""Classify digit images with a .tflite model, on a Raspberry Pi or anywhere: no TensorFlow.

    python edge/classify.py --model mnist_int8.tflite photo.jpg scans/ [--top-k 3] [--json]
    python edge/classify.py --model mnist_int8.tflite --eval-mnist path/to/mnist

Photos go through the same preprocessing as training (edge/preprocess.py); --raw feeds 28x28
images to the model as they are. Exit status: 0 when every image was classified, 1 when some
were not (the others still are), 2 when nothing could run (bad model, bad arguments).

Runs as ``python edge/classify.py`` from a copy of the edge/ folder alone, as
``python -m edge.classify`` in the repository, and as ``mnist-classify`` once installed.
Start-up is kept lean: numpy, Pillow and the interpreter are imported after the arguments
are read, and nothing else heavy at all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:
    # `python edge/classify.py` runs this file with no package around it (PEP 366). Load its folder,
    # whatever it is called, as the package `edge` (importlib's "import a source file directly"),
    # so that the relative imports below find this folder's modules and no installed copy.
    import importlib.util

    _spec = importlib.util.spec_from_file_location("edge", Path(__file__).with_name("__init__.py"))
    sys.modules["edge"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["edge"])
    __package__ = "edge"

BATCH = 256  # images per invoke: large enough to amortize, small enough to stream results


def _parser() -> argparse.ArgumentParser:
    from .command_line import OneLineParser
    from .runtime_choice import add_runtime_argument
    from .threads import AUTO, threads_argument

    parser = OneLineParser(
        description="Classify digit images (photos, scans, MNIST-style PNGs) with a TFLite model; no TensorFlow.",
        epilog="exit status: 0 all images classified, 1 some failed (the others are still classified), "
        "2 nothing could run",
    )
    parser.add_argument("inputs", nargs="*", metavar="IMAGE_OR_FOLDER", help="image files, or folders of them")
    parser.add_argument("-m", "--model", required=True, help=".tflite file written by mnist-convert")
    parser.add_argument("-k", "--top-k", type=int, default=1, metavar="K", help="also show the K most likely digits")
    parser.add_argument("--json", action="store_true", help="one JSON object per line, for scripts")
    parser.add_argument(
        "--threads",
        type=threads_argument,
        default=AUTO,
        metavar="N",
        help="interpreter threads, or 'auto': the count measured fastest for this model here, "
        "cached beside it (default: auto)",
    )
    parser.add_argument(
        "--raw", action="store_true", help="skip the photo preprocessing: 28x28 images go to the model as they are"
    )
    parser.add_argument(
        "--number",
        action="store_true",
        help="read each photo as one number: every digit on a line of writing, left to right "
        "(edge/number.py), each with its probability and box",
    )
    parser.add_argument(
        "--save-inputs",
        metavar="DIR",
        help="write the 28x28 input the model received for each image to DIR/<image name>.png, "
        "to see why a photo was misread",
    )
    parser.add_argument(
        "--eval-mnist",
        metavar="DIR",
        help="measure accuracy and speed on the MNIST test set in DIR (IDX files or mnist.npz) instead",
    )
    add_runtime_argument(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.eval_mnist and args.inputs:
        parser.error("give images or --eval-mnist DIR, not both")
    if not args.eval_mnist and not args.inputs:
        parser.error("give at least one image or folder (or --eval-mnist DIR)")
    if args.top_k < 1:
        parser.error("--top-k must be at least 1")
    if args.save_inputs and args.eval_mnist:
        parser.error("--save-inputs goes with images, not with --eval-mnist")
    if args.number and (args.eval_mnist or args.raw or args.top_k > 1):
        wrong = "--eval-mnist" if args.eval_mnist else "--raw" if args.raw else "--top-k"
        parser.error(f"--number reads photos of numbers; leave out {wrong}")
    if args.save_inputs:
        from .files import cannot_write

        problem = cannot_write(args.save_inputs)
        if problem:
            parser.error(f"--save-inputs {args.save_inputs}: cannot write there ({problem}); choose another folder")

    from .mnist_data import DataError
    from .runtime import Classifier, RuntimeProblem

    try:
        classifier = Classifier(args.model, threads=args.threads, runtime=args.runtime)
        if args.eval_mnist:
            return _evaluate(classifier, args.eval_mnist, args.json)
        return _classify(classifier, args)
    except (RuntimeProblem, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader has seen enough; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _classify(classifier: Any, args: argparse.Namespace) -> int:
    from .model_info import class_names

    names = class_names(args.model, classifier.num_classes)
    report = _Report(args.json, names, min(args.top_k, classifier.num_classes))
    if args.number:
        return _read_numbers(classifier, args, report)
    pending: list[tuple[str, Any]] = []  # (file, image or error), in the order given
    images = 0

    def flush() -> None:
        import numpy as np

        ready = [item for _, item in pending if not isinstance(item, str)]
        probs = iter(classifier.predict(np.stack(ready)) if ready else [])
        for name, item in pending:
            if isinstance(item, str):
                report.failure(name, item)
            else:
                report.result(name, next(probs))
        pending.clear()

    saver = _InputSaver(Path(args.save_inputs)) if args.save_inputs else None
    for name, image_or_error in _images(args.inputs, args.raw):
        if saver and not isinstance(image_or_error, str):
            saver.save(name, image_or_error)
        pending.append((name, image_or_error))
        images += not isinstance(image_or_error, str)
        if images == BATCH:  # one invoke per batch, results printed as each batch is done
            flush()
            images = 0
    flush()
    return report.finish()


def _read_numbers(classifier: Any, args: argparse.Namespace, report: _Report) -> int:
    """--number: each photo read as one number (edge/number.py), printed as soon as it is read."""
    from .number import read_file
    from .preprocess import ImageError

    saver = _InputSaver(Path(args.save_inputs)) if args.save_inputs else None
    for name, problem in _files(args.inputs):
        if problem:
            report.failure(name, problem)
            continue
        try:
            number = read_file(name, classifier.predict)
        except ImageError as e:
            report.failure(name, str(e) if str(e).startswith(name) else f"{name}: {e}")
            continue
        if saver:
            for k, digit in enumerate(number.digits, 1):
                saver.save(f"{Path(name).stem}-digit{k}.png", digit.image)
        report.number(name, number)
    return report.finish()


def _files(inputs: list[str]) -> Iterator[tuple[str, str | None]]:
    """(file name, None) for every file and every image in a folder; (folder, why) for a folder without images."""
    from .preprocess import list_images

    for given in inputs:
        path = Path(given)
        if not path.is_dir():
            yield given, None
            continue
        files = list_images(path)
        if not files:
            yield given, f"{given}: no images in this folder (looked for .png, .jpg and the like)"
        for file in files:
            yield str(file), None


def _images(inputs: list[str], raw: bool) -> Iterator[tuple[str, Any]]:
    """(file name, uint8 28x28 image or a one-line error), for every file and every image in a folder."""
    for name, problem in _files(inputs):
        yield name, problem or prepare_one(name, raw)


def prepare_one(name: str, raw: bool = False) -> Any:
    """The model's input for one file (uint8 28x28), or the one-line reason there is none (a str)."""
    import numpy as np

    from .preprocess import ImageError, load_image, prepare_image, to_gray

    try:
        image = load_image(name)
        if not raw:
            return prepare_image(image)
        if image.size != (28, 28):
            return (
                f"{name}: is {image.size[0]}x{image.size[1]}; --raw takes 28x28 images as they are "
                "(leave out --raw to preprocess it)"
            )
        return np.clip(np.rint(to_gray(image)), 0, 255).astype(np.uint8)
    except ImageError as e:
        return str(e) if str(e).startswith(name) else f"{name}: {e}"


class _InputSaver:
    """Writes each model input as DIR/<image name>.png; names that repeat get -2, -3, ..."""

    def __init__(self, folder: Path):
        self.folder, self.used = folder, set()

    def save(self, name: str, image: Any) -> None:
        from PIL import Image

        from .files import atomic_path

        stem = Path(name).stem or "image"
        target, n = f"{stem}.png", 1
        while target in self.used:
            n += 1
            target = f"{stem}-{n}.png"
        self.used.add(target)
        with atomic_path(self.folder / target) as tmp:
            Image.fromarray(image).save(tmp, "PNG")


def result_record(name: str, probs: Any, names: list[str], top_k: int) -> dict[str, Any]:
    """What ``--json`` prints for one image (and what other front ends answer): the best class, its
    probability, its name when it is not the digit itself, and the ``top_k`` most likely."""
    ranked = probs.argsort()[::-1][:top_k]
    best = int(ranked[0])
    record: dict[str, Any] = {"file": name, "digit": best, "probability": round(float(probs[best]), 6)}
    if names[best] != str(best):
        record["label"] = names[best]
    record["top_k"] = [{"digit": int(i), "probability": round(float(probs[i]), 6)} for i in ranked]
    return record


class _Report:
    """Prints results as they come, text or JSON lines, and counts failures for the exit status."""

    def __init__(self, as_json: bool, names: list[str], top_k: int):
        self.as_json, self.names, self.top_k = as_json, names, top_k
        self.done = self.failed = 0

    def result(self, name: str, probs: Any) -> None:
        self.done += 1
        if self.as_json:
            print(json.dumps(result_record(name, probs, self.names, self.top_k)), flush=True)
            return
        ranked = probs.argsort()[::-1][: self.top_k]
        best = int(ranked[0])
        text = f"{name}: {self.names[best]} ({probs[best]:.1%})"
        if self.top_k > 1:
            text += "   top " + ", ".join(f"{self.names[i]} {probs[i]:.1%}" for i in ranked)
        print(text, flush=True)

    def number(self, name: str, number: Any) -> None:
        """One photo read as a number (edge/number.py's Number)."""
        self.done += 1
        text = json.dumps(number.record(name, self.names)) if self.as_json else number.line(name, self.names)
        print(text, flush=True)

    def failure(self, name: str, message: str) -> None:
        self.failed += 1
        if self.as_json:
            print(json.dumps({"file": name, "error": message}), flush=True)
        else:
            print(f"error: {message}", file=sys.stderr, flush=True)

    def finish(self) -> int:
        if self.failed and self.done + self.failed > 1 and not self.as_json:
            print(f"{self.done} classified, {self.failed} failed", file=sys.stderr)
        return 1 if self.failed else 0


def _evaluate(classifier: Any, folder: str, as_json: bool) -> int:
    """Accuracy and speed on the MNIST test set, measured on this device."""
    from .mnist_data import load_split

    test = load_split(folder, "test")
    show_progress = sys.stderr.isatty() and not as_json
    start = time.perf_counter()
    correct = 0
    for i in range(0, len(test.images), 2048):
        probs = classifier.predict(test.images[i : i + 2048], batch_size=BATCH)
        correct += int((probs.argmax(axis=1) == test.labels[i : i + 2048]).sum())
        if show_progress:
            print(f"\r{min(i + 2048, len(test.images))}/{len(test.images)} images", end="", file=sys.stderr)
    seconds = time.perf_counter() - start
    if show_progress:
        print("\r", end="", file=sys.stderr)
    total = len(test.images)
    result = {
        "model": str(classifier.path),
        "images": total,
        "correct": correct,
        "accuracy": correct / total if total else 0.0,
        "seconds": round(seconds, 4),
        "images_per_second": round(total / seconds, 1) if seconds > 0 else None,
        "runtime": classifier.runtime,
        "threads": classifier.threads,
    }
    if as_json:
        print(json.dumps(result))
    else:
        print(
            f"{classifier.path.name}: accuracy {result['accuracy']:.2%} ({correct}/{total} MNIST test images) "
            f"in {seconds:.2f} s, {result['images_per_second']:.0f} images/s "
            f"({classifier.runtime}, {classifier.threads} threads)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
