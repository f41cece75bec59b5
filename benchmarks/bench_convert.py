"""What quantization costs and saves on a trained model, measured side by side in one run.

Converts ``<artifacts>/saved_model`` with the real converter (into a temporary folder: the
artifacts are not touched), evaluates every file on the 10,000 test images in LiteRT, and
checks the two targets of issue 3 on the int8 model (int8 input and output):

- size: int8 <= 30 % of float32;
- accuracy: int8 loses at most 0.1 points against float32 (a gain passes).

    python benchmarks/bench_convert.py [--artifacts artifacts/] [--data-dir DIR]

Writes bench-results/convert.json and convert.png. Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZE_TARGET = 0.30  # int8 bytes / float32 bytes
ACCURACY_TARGET_POINTS = 0.1  # largest allowed int8 drop against float32


def plot(models: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [m["variant"] for m in models]
    fig, (size_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    bars = size_ax.bar(names, [m["bytes"] / 1024 for m in models], color="#4c72b0")
    size_ax.bar_label(bars, [f"{100 * m['ratio_to_float32']:.0f} %" for m in models], fontsize=8, padding=2)
    size_ax.axhline(SIZE_TARGET * models[0]["bytes"] / 1024, color="#c44e52", ls="--", lw=1, label="30 % of float32")
    size_ax.set_ylim(0, 1.15 * max(m["bytes"] for m in models) / 1024)
    size_ax.set_ylabel("KiB")
    size_ax.set_title("file size")
    size_ax.legend(fontsize=8)
    changes = [m["accuracy_change_points"] for m in models]
    bars = acc_ax.bar(names, changes, color="#55a868")
    acc_ax.bar_label(bars, [f"{c:+.2f}" for c in changes], fontsize=8, padding=2)
    limit = max(0.25, 1.3 * max(abs(c) for c in changes))
    acc_ax.set_ylim(-limit, limit)
    acc_ax.axhline(-ACCURACY_TARGET_POINTS, color="#c44e52", ls="--", lw=1, label="-0.1 point")
    acc_ax.axhline(0, color="black", lw=0.6)
    acc_ax.set_ylabel("points vs float32")
    acc_ax.set_title("test accuracy change")
    acc_ax.legend(fontsize=8)
    for ax in (size_ax, acc_ax):
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--artifacts", type=Path, default=ROOT / "artifacts", help="an mnist-train output folder")
    p.add_argument("--data-dir", default=None, help="MNIST IDX folder (default: as mnist-train finds it)")
    p.add_argument("--calibration-samples", type=int, default=None)
    p.add_argument("--results", type=Path, default=ROOT / "bench-results")
    args = p.parse_args(argv)

    from train.tf_quiet import quiet_tensorflow

    quiet_tensorflow(native=True)
    from convert.calibration import DEFAULT_SAMPLES
    from convert.converter import ALL_VARIANTS, ConvertError, convert_all
    from convert.report import table
    from edge.mnist_data import DataError

    samples = args.calibration_samples or DEFAULT_SAMPLES
    metrics_path = args.artifacts / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    with tempfile.TemporaryDirectory(prefix="bench-convert-") as tmp:
        start = time.perf_counter()
        try:
            conversion = convert_all(args.artifacts / "saved_model", tmp, variants=ALL_VARIANTS,
                                     data_dir=args.data_dir, calibration_samples=samples)
        except (ConvertError, DataError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        seconds = time.perf_counter() - start
        print(table(conversion))
    models = conversion.models
    by_name = {m["variant"]: m for m in models}
    float32, int8 = by_name["float32"], by_name["int8"]
    ratio, change = int8["ratio_to_float32"], int8["accuracy_change_points"]
    size_ok, accuracy_ok = ratio <= SIZE_TARGET, change >= -ACCURACY_TARGET_POINTS
    model_name = metrics.get("model", "?")
    print(f"\nmodel: {args.artifacts / 'saved_model'} ({model_name}, Keras test accuracy "
          f"{100 * metrics['test_accuracy']:.2f} %)" if "test_accuracy" in metrics else f"\nmodel: {args.artifacts}")
    print(f"all six variants converted and evaluated in {seconds:.0f} s ({samples} calibration images)")
    print(f"int8 size:     {int8['bytes']:,} of {float32['bytes']:,} bytes = {100 * ratio:.1f} % of float32 "
          f"(target <= {100 * SIZE_TARGET:.0f} %)  {'PASS' if size_ok else 'FAIL'}")
    print(f"int8 accuracy: {100 * int8['accuracy']:.2f} % vs float32 {100 * float32['accuracy']:.2f} % = "
          f"{change:+.2f} points (target: lose <= {ACCURACY_TARGET_POINTS} point)  {'PASS' if accuracy_ok else 'FAIL'}")

    args.results.mkdir(parents=True, exist_ok=True)
    summary = {
        "model": str(args.artifacts / "saved_model"), "keras_test_accuracy": metrics.get("test_accuracy"),
        "calibration_samples": samples, "seconds": round(seconds, 1),
        "int8_size_ratio": ratio, "int8_accuracy_change_points": change,
        "targets": {"size_ratio_max": SIZE_TARGET, "accuracy_drop_max_points": ACCURACY_TARGET_POINTS,
                    "size_ok": size_ok, "accuracy_ok": accuracy_ok},
        "models": [{k: m[k] for k in ("variant", "bytes", "ratio_to_float32", "accuracy", "accuracy_change_points",
                                      "min_runtime_version")} for m in models],
    }
    (args.results / "convert.json").write_text(json.dumps(summary, indent=2) + "\n")
    title = f"{model_name}: int8 is {100 * ratio:.1f} % of the size, {change:+.2f} points"
    plot(models, args.results / "convert.png", title)
    print(f"wrote {args.results / 'convert.json'} and convert.png")
    return 0 if size_ok and accuracy_ok else 1


if __name__ == "__main__":
    sys.exit(main())
