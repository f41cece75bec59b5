"""mnist-train: train a digit classifier and export it for the converter."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from edge.command_line import HelpFormatter, OneLineParser
from edge.mnist_data import DataError
from train.augment import AUGMENTATIONS
from train.presets import NO_AUGMENT
from train.trainer import TrainConfig, TrainError, TrainingInterrupted


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line as TrainConfig's fields; every default is TrainConfig's own."""
    p = OneLineParser(
        prog="mnist-train",
        description="Train an MNIST (or Fashion-MNIST) classifier in Keras - on MNIST, on your own digit photos, "
        "or both - and export a SavedModel for mnist-convert.",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--model",
        help="architecture: mlp, lenet, cnn, best (the most accurate, slower to train) or tiny (for "
        "microcontrollers), or one of their shapes with other widths, e.g. tiny:8-12-12-16-16 (train/models.py)",
    )
    p.add_argument("--epochs", type=int, help="passes over the training set [default: the model's recipe]")
    p.add_argument("--batch-size", type=int, help="images per training step [default: the model's recipe]")
    p.add_argument(
        "--lr",
        type=float,
        help="peak learning rate: a short warm-up to it, then a cosine to zero [default: the model's recipe]",
    )
    p.add_argument(
        "--augment",
        nargs="?",
        const="shapes",
        choices=(*AUGMENTATIONS, NO_AUGMENT),
        help="shapes: random shifts, rotations and zoom; photo: also slant, thicker or thinner strokes, "
        "harder or softer edges, gaps from removed ruled lines and leftover specks, as the photo "
        "preprocessing leaves them (train/augment.py); none: the images as they are; --augment alone means "
        "shapes [default: the model's recipe, train/presets.py]",
    )
    p.add_argument("--dataset", choices=("mnist", "fashion"), help="which dataset (or, with --mix-mnist, which to add)")
    p.add_argument(
        "--data-dir",
        help="folder with the four IDX files or mnist.npz (default: $MNIST_DATA_DIR, "
        "the user cache, else download); or a folder of your own images laid out as DIR/<class>/*.png|jpg "
        "(a fifth of each class is held out for testing)",
    )
    p.add_argument(
        "--mix-mnist",
        action="store_true",
        help="with --data-dir DIR of your own images: also train "
        "on MNIST (or --dataset) and test on both; --limit then trims MNIST, never your images",
    )
    p.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="leave out (and list) images in --data-dir that cannot be used, instead of stopping",
    )
    p.add_argument("--out", help="where to write the model and reports")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    p.add_argument("--seed", type=int, help="same seed, same data: same model")
    p.add_argument("--limit", type=int, help="train on the first N training images only (a quick try)")
    p.add_argument("--init-from", help="start from this trained .keras model (fine-tuning)")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own log lines")
    p.set_defaults(**asdict(TrainConfig()))  # one home for each default: TrainConfig
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    config = TrainConfig(**vars(parse_args(argv)))
    try:
        from train.trainer import train

        metrics = train(config)
    except (TrainError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingInterrupted as e:
        print(f"\n{e}", file=sys.stderr)
        return 130
    out = config.out
    print(
        f"Test accuracy {metrics['test_accuracy']:.2%} (loss {metrics['test_loss']:.4f}) on "
        f"{metrics['test_images']:,} images; best epoch {metrics['best_epoch']} of {metrics['epochs']}; "
        f"{metrics['wall_time_s']:.0f} s of training"
    )
    for source, accuracy in metrics.get("test_accuracy_by_source", {}).items():
        print(f"  on {source}: {accuracy:.2%}")
    print(
        f"Wrote {out}/saved_model, {out}/model.keras, {out}/metrics.json, {out}/history.json, "
        f"{out}/curves.png, {out}/confusion.png"
    )
    print(f"Next: mnist-convert --model {out}/saved_model --quantize all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
