"""Which model fits a microcontroller? Flash, RAM and accuracy of int8 models in TensorFlow Lite Micro.

Each model runs in TFLM's own interpreter (the ``micro`` extra: pip install tflite-micro):
flash is the model's bytes, RAM the tensor arena TFLM's recording allocator reports (and that
every test image is then run in), accuracy TFLM's on the test set next to LiteRT's on the same
inputs. A model is labelled with the architecture named in the metrics.json beside it.

    python -m benchmarks.bench_micro                                   # artifacts/mnist_int8.tflite
    python -m benchmarks.bench_micro artifacts/mnist_int8.tflite tiny/mnist_int8.tflite

Prints a table and writes micro.json and micro.png (flash against RAM, with the budget) to --out.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from convert import micro
from convert.micro import MicroError, parse_samples
from edge.command_line import HelpFormatter, OneLineParser
from edge.files import write_json
from edge.mnist_data import DataError
from edge.model_info import model_info
from edge.runtime import RuntimeProblem
from train.defaults import ARTIFACTS

DEFAULT_MODELS = [ARTIFACTS / "mnist_int8.tflite"]
KIB = 1024


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = OneLineParser(
        prog="python -m benchmarks.bench_micro",
        description="Flash, RAM (tensor arena) and accuracy of int8 .tflite models in TensorFlow Lite Micro, "
        "checked against LiteRT. Writes micro.json and micro.png.",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "models",
        nargs="*",
        type=Path,
        default=DEFAULT_MODELS,
        metavar="MODEL.tflite",
        help=f"full-integer models written by mnist-convert --quantize int8 [default: {DEFAULT_MODELS[0]}]",
    )
    p.add_argument(
        "--samples",
        type=parse_samples,
        default=None,
        metavar="N|all",
        help="test images to run through TFLM, drawn at random [default: all]",
    )
    p.add_argument("--data-dir", help="MNIST files (default: $MNIST_DATA_DIR, the user cache, else download)")
    p.add_argument("--flash-budget", type=float, default=64, metavar="KiB", help="flash the model may take")
    p.add_argument("--ram-budget", type=float, default=32, metavar="KiB", help="RAM the tensor arena may take")
    p.add_argument(
        "--out", type=Path, default=Path("bench-results"), metavar="DIR", help="where to write micro.json and micro.png"
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return p.parse_args(argv)


def label(model: Path) -> str:
    """'tiny (mnist_int8.tflite)' for a file in the output folder of mnist-train --model tiny, else the file's path."""
    architecture = model_info(model).architecture
    return f"{architecture} ({model.name})" if architecture else str(model)


def dataset_of(models: list[Path]) -> str:
    """The dataset recorded beside the first model, else mnist."""
    return (model_info(models[0]).dataset if models else None) or "mnist"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from train.data import load_training_data

    micro.runtime_module()  # before the data is loaded: a missing package is the first thing to say
    missing = [str(m) for m in args.models if not m.is_file()]
    if missing:
        raise MicroError(f"no such model file: {', '.join(missing)}; run mnist-convert --quantize int8 first")
    dataset = dataset_of(args.models)
    test = load_training_data(dataset, args.data_dir, split="test", progress=args.progress).test
    rows = []
    for model in args.models:
        report = micro.micro_report(model, test.images, test.labels, args.samples, progress=args.progress)
        report["label"] = label(model)
        report["path"] = str(model)
        report["fits"] = (
            report["flash_bytes"] <= args.flash_budget * KIB and report["arena_bytes"] <= args.ram_budget * KIB
        )
        rows.append(report)
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": dataset,
        "budget": {"flash_bytes": int(args.flash_budget * KIB), "ram_bytes": int(args.ram_budget * KIB)},
        "tflite_micro": micro.version(),
        "rows": rows,
    }


def plot(results: dict[str, Any], path: Path) -> None:
    """Flash against RAM, one point per model, the budget as a shaded box: inside it fits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budget = results["budget"]
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    ax.add_patch(
        plt.Rectangle(
            (0, 0),
            budget["flash_bytes"] / KIB,
            budget["ram_bytes"] / KIB,
            color="tab:green",
            alpha=0.12,
            label=f"budget: {budget['flash_bytes'] // KIB} KiB flash, {budget['ram_bytes'] // KIB} KiB RAM",
        )
    )
    for r in results["rows"]:
        x, y = r["flash_bytes"] / KIB, r["arena_bytes"] / KIB
        ax.plot(x, y, "o", color="tab:green" if r["fits"] else "tab:red")
        ax.annotate(
            f"{r['label']}\n{100 * r['accuracy']:.2f} %", (x, y), xytext=(6, 4), textcoords="offset points", fontsize=8
        )
    ax.set_xscale("log")
    ax.set_xlim(
        left=min([8.0] + [r["flash_bytes"] / KIB / 2 for r in results["rows"]]),
        right=max([budget["flash_bytes"] / KIB * 2] + [r["flash_bytes"] / KIB * 3 for r in results["rows"]]),
    )
    ax.set_ylim(0, max([budget["ram_bytes"] / KIB * 1.5] + [r["arena_bytes"] / KIB * 1.25 for r in results["rows"]]))
    ax.set_xlabel("flash: model bytes (KiB, log scale)")
    ax.set_ylabel("RAM: TFLM tensor arena (KiB)")
    ax.set_title(f"int8 models in TensorFlow Lite Micro ({results['dataset']}, TFLM accuracy)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    from train.plots import save

    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = run(args)
        args.out.mkdir(parents=True, exist_ok=True)
        plot(results, args.out / "micro.png")
        write_json(args.out / "micro.json", results)
    except (MicroError, DataError, RuntimeProblem) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; results were not written", file=sys.stderr)
        return 130
    budget = results["budget"]
    print(micro.table(results["rows"], (budget["flash_bytes"], budget["ram_bytes"])))
    for r in results["rows"]:
        print(f"\n{r['label']}: register {', '.join(r['op_resolver'])}")
    print(f"\nWrote {args.out / 'micro.json'}, {args.out / 'micro.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
