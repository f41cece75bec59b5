"""mnist-show: look at the data, a model's predictions, its mistakes and its confusion matrix, as PNG files.

    mnist-show data                                   # 50 MNIST training digits with their labels
    mnist-show data --data-dir my_digits              # your own photos, as the model sees them
    mnist-show predictions                            # artifacts/model.keras on 50 test digits
    mnist-show mistakes --model artifacts/mnist_int8.tflite --model artifacts/mnist_float32.tflite
    mnist-show confusion --model artifacts/mnist_int8.tflite

A ``.tflite`` model runs in the edge runner's interpreter (no TensorFlow needed), so the int8
model's mistakes are the ones the device will make. An evaluation of the whole test set is also
recorded in the ``metrics.json`` beside the model, under "evaluations".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from edge.command_line import HelpFormatter, OneLineParser
from edge.mnist_data import DataError, Split
from edge.model_info import model_info
from train import plots
from train.data import CLASS_NAMES, DATASETS, TrainingData, load_training_data
from train.defaults import ARTIFACTS, KERAS_MODEL, SEED
from train.evaluation import Evaluation, ModelError, check_model_path, evaluate, record
from train.image_folder import report_skipped

DEFAULT_COUNT = 50


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="mnist-show",
        description="Draw the data, a model's predictions, its mistakes or its confusion matrix as a PNG file "
        "and print where it is.",
        epilog="Exit status: 0 done, 2 bad input.",
    )
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)
    about = "a grid of training (or test) images with their labels"
    data = commands.add_parser(
        "data",
        help=about,
        description=about[0].upper() + about[1:],
        formatter_class=HelpFormatter,
    )
    data.add_argument("--dataset", choices=DATASETS, default="mnist", help="which dataset, unless --data-dir says")
    _data_arguments(data, "[default: MNIST_DATA_DIR, the cache, or a download]")
    data.add_argument("--out", type=Path, default=ARTIFACTS, metavar="DIR", help="folder for the PNG")
    data.set_defaults(split="train")

    helps = {
        "predictions": "test images titled with the model's prediction; wrong ones framed in red",
        "mistakes": "only the misclassified test images, most confident first, with the top-2 probabilities",
        "confusion": "confusion matrix and per-class accuracy",
    }
    for name, text in helps.items():
        cmd = commands.add_parser(
            name, help=text, description=text[0].upper() + text[1:], formatter_class=HelpFormatter
        )
        cmd.add_argument(
            "--model",
            type=Path,
            action="append",
            metavar="FILE",
            help=f".keras or .tflite model; repeat to compare several [default: {KERAS_MODEL}]",
        )
        cmd.add_argument(
            "--dataset",
            choices=DATASETS,
            default=None,
            help="[default: the model's, from the metrics.json or manifest.json beside it]",
        )
        _data_arguments(
            cmd, "[default: the data the model was trained on, else MNIST_DATA_DIR, the cache, or a download]"
        )
        cmd.add_argument("--limit", type=int, metavar="N", help="use the first N images of the split only")
        add_output_arguments(cmd, "folder for the PNG files [default: the model's folder]")
        cmd.set_defaults(split="test")
    return p


def add_output_arguments(parser: argparse.ArgumentParser, out_help: str) -> None:
    """``--out DIR`` and ``--verbose``, as the commands that load a Keras model take them."""
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help=out_help)
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own log lines")


def _data_arguments(cmd: argparse.ArgumentParser, default: str) -> None:
    cmd.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"folder of MNIST IDX files, or of your own images as DIR/<class>/*.png {default}",
    )
    cmd.add_argument(
        "--split",
        choices=("train", "test", "all"),
        help="which images (of a folder of your own: its held-out fifth is the test set)",
    )
    cmd.add_argument("--count", type=int, default=DEFAULT_COUNT, metavar="N", help="images to draw (at most)")
    cmd.add_argument("--seed", type=int, default=SEED, help="which random images to draw")
    cmd.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="leave out images of a folder that cannot be used, instead of stopping",
    )


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, or a usage error already printed on one line
        return int(done.code or 0)
    try:
        if args.count < 1:
            raise DataError(f"--count must be at least 1, not {args.count}")
        if args.command == "data":
            show_data(args)
        else:
            show_model(args)
    except (DataError, ModelError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _split(data: TrainingData, split: str) -> Split:
    if split == "all":
        return Split(
            np.concatenate([data.train.images, data.test.images]), np.concatenate([data.train.labels, data.test.labels])
        )
    return data.train if split == "train" else data.test


def _data_name(data: TrainingData, dataset: str) -> str:
    """ "MNIST", "my_digits/" or "my_digits/ + MNIST": what a title calls the data."""
    title = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}[dataset]
    folder = data.source.get("image_folder")
    if not folder:
        return title
    return f"{Path(folder).name}/ + {title}" if data.source.get("mixed_with") else f"{Path(folder).name}/"


def _set_name(split: str) -> str:
    return {"train": "training set", "test": "test set", "all": "training and test sets"}[split]


def _sample(count: int, total: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).permutation(total)[: min(count, total)])


def _say_written(path: Path, what: str) -> None:
    from PIL import Image

    with Image.open(path) as image:
        size = f"{image.width} x {image.height} px"
    print(f"Wrote {path} ({size}): {what}")


def show_data(args: argparse.Namespace) -> Path:
    data = load_training_data(args.dataset, args.data_dir, skip_bad_images=args.skip_bad_images, split=args.split)
    _report_skipped(data)
    split = _split(data, args.split)
    if len(split.labels) == 0:
        raise DataError(f"the {_data_name(data, args.dataset)} {_set_name(args.split)} has no images; try --split all")
    picked = _sample(args.count, len(split.labels), args.seed)
    picked = picked[np.argsort(split.labels[picked], kind="stable")]  # a row of 0s, then 1s, ...: easy to scan
    names = data.class_names
    captions = [[(plots.short(names[split.labels[i]]), "black")] for i in picked]
    name = _data_name(data, args.dataset)
    subtitle = (
        "your photos after the edge runner's preprocessing (edge/preprocess.py): what the model sees"
        if data.source.get("image_folder")
        else f"randomly drawn (seed {args.seed}), sorted by class"
    )
    slug = name.replace("/ + ", "+").replace("/", "").replace(" ", "_")
    path = plots.image_grid(
        split.images[picked],
        captions,
        f"{name} {_set_name(args.split)}: {len(picked):,} of {len(split.labels):,} images",
        args.out / f"data_{slug}_{args.split}.png",
        subtitle=subtitle,
    )
    _say_written(path, f"{len(picked)} {name} images with their labels")
    return path


def _report_skipped(data: TrainingData) -> None:
    report_skipped(data.source.get("skipped_images") or [])


def _data_for(model: Path, args: argparse.Namespace) -> tuple[TrainingData, dict]:
    """The images a model is judged on: --data-dir, else what it was trained on, else its dataset."""
    info = model_info(model)
    dataset = args.dataset or info.dataset or "mnist"
    if dataset not in CLASS_NAMES:
        raise DataError(f"{model.parent / 'metrics.json'}: unknown dataset {dataset!r}; give --dataset")
    names = info.class_names
    trained_on = info.data
    if args.data_dir or not trained_on.image_folder:
        data = load_training_data(
            dataset, args.data_dir, class_names=names, skip_bad_images=args.skip_bad_images, split=args.split
        )
    else:
        data = load_training_data(
            dataset,
            trained_on.image_folder,
            mix=bool(trained_on.mixed_with),
            class_names=names,
            skip_bad_images=args.skip_bad_images or bool(trained_on.skipped_images),
            split=args.split,
        )
    return data, {"dataset": dataset, **data.source, "split": args.split}


def show_model(args: argparse.Namespace) -> list[Path]:
    models = args.model or [KERAS_MODEL]
    for model in models:
        check_model_path(model)
    if args.limit is not None and args.limit < 1:
        raise DataError(f"--limit must be at least 1, not {args.limit}")
    if any(m.suffix == ".keras" for m in models):
        from train.tf_quiet import import_tensorflow

        import_tensorflow(args.verbose)
    loaded: dict[str, tuple[TrainingData, dict]] = {}
    written, evaluations = [], []
    for model in models:
        info = model_info(model)
        key = repr((info.data, info.dataset, info.class_names))
        if key not in loaded:
            loaded[key] = _data_for(model, args)
            _report_skipped(loaded[key][0])
        data, source = loaded[key]
        split = _split(data, args.split)
        if args.limit:
            split = Split(split.images[: args.limit], split.labels[: args.limit])
        if len(split.labels) == 0:
            raise DataError(f"no {args.split} images to evaluate {model} on")
        evaluation = evaluate(model, split.images, split.labels)
        evaluations.append(evaluation)
        wrong = len(evaluation.misclassified)
        where = f"{len(split.labels):,} images of the {_data_name(data, source['dataset'])} {_set_name(args.split)}"
        print(f"{model.name}: {evaluation.accuracy:.2%} right on {where} ({wrong:,} wrong)")
        out = args.out or model.parent
        path = out / f"{args.command}_{model.stem}.png"
        if args.command == "predictions":
            picked = _sample(args.count, len(split.labels), args.seed)
            plots.plot_predictions(evaluation, split.images, picked, path, where)
            shown_wrong = int((evaluation.predictions[picked] != evaluation.labels[picked]).sum())
            _say_written(path, f"{len(picked)} predictions, {shown_wrong} of them wrong (framed in red)")
        elif args.command == "mistakes":
            shown = plots.plot_mistakes(evaluation, split.images, args.count, path, where)
            what = (
                f"all {wrong} mistakes"
                if len(shown) == wrong
                else f"the {len(shown)} most confident of {wrong} mistakes"
            )
            _say_written(path, what if wrong else "no mistakes to show")
        else:
            plots.plot_confusion(
                evaluation.confusion,
                evaluation.class_names,
                path,
                f"{model.name} on {where}: accuracy {evaluation.accuracy:.2%}",
            )
            _say_written(path, "confusion matrix and per-class accuracy")
        written.append(path)
        if args.split == "test" and args.limit is None:
            try:
                print(f"Recorded the evaluation in {record(evaluation, source)} under evaluations/{model.name}")
            except OSError as e:
                print(f"note: could not record the evaluation beside {model} ({e.strerror})", file=sys.stderr)
    if len(evaluations) > 1 and len(loaded) == 1:  # the same images for all: their mistakes compare
        _compare_mistakes(evaluations)
    return written


def _compare_mistakes(evaluations: list[Evaluation]) -> None:
    """Which images one model gets wrong and another right: what quantization changed."""
    first = evaluations[0]
    mine = set(first.misclassified.tolist())
    for other in evaluations[1:]:
        theirs = set(other.misclassified.tolist())
        print(
            f"{other.model.name} vs {first.model.name}: {len(theirs & mine)} mistakes shared, "
            f"{len(theirs - mine)} only {other.model.name}, {len(mine - theirs)} only {first.model.name}"
        )


if __name__ == "__main__":
    sys.exit(main())
