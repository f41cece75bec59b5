"""Cold start and MNIST evaluation of the edge runner, measured side by side in one run.

1. Process start to first printed prediction for one image:
   ``python edge/classify.py --model mnist_int8.tflite digit.png`` (numpy + Pillow + LiteRT)
   vs a fresh python that loads model.keras in TensorFlow and predicts the same image, with the
   same preprocessing (edge.preprocess.prepare_file) and Keras' fastest single-image call.
   Runs alternate, after one untimed warm-up of each (files in the page cache, as on a device
   that has run once); medians are compared. Target: the edge runner at least 5x faster.
2. ``classify.py --eval-mnist`` on the 10,000 test images with the int8 model: the runner's own
   inference time and the whole command's wall time. Target: under 2 seconds.

    python benchmarks/bench_edge_startup.py [--artifacts artifacts/] [--edge-python .venv-edge/bin/python]

Writes bench-results/edge_startup.json and .png.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TARGET = 5.0  # x faster than TensorFlow
EVAL_TARGET_S = 2.0

KERAS_ONE_IMAGE = """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
sys.path.insert(0, {root!r})
import keras
from edge.preprocess import normalize, prepare_file
model = keras.models.load_model({model!r})
probs = model(normalize(prepare_file({image!r})), training=False).numpy()[0]
print(f"{image}: {{probs.argmax()}} ({{probs.max():.1%}})", flush=True)
"""


class BenchError(Exception):
    pass


def time_to_first_line(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Seconds from process start to its first line on stdout, and that line."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    line = process.stdout.readline()
    elapsed = time.perf_counter() - start
    rest, err = process.communicate(timeout=300)
    if process.returncode != 0 or not line:
        raise BenchError(f"{' '.join(command[:3])} ... failed ({process.returncode}): {(err or rest).strip()[-500:]}")
    return elapsed, line.strip()


def measure_startup(edge_python: str, model: Path, keras_model: Path, image: Path, repeats: int) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    edge = [edge_python, str(ROOT / "edge" / "classify.py"), "--model", str(model), str(image)]
    keras = [sys.executable, "-c", KERAS_ONE_IMAGE.format(root=str(ROOT), model=str(keras_model), image=str(image))]
    times: dict[str, list[float]] = {"edge": [], "keras": []}
    lines = {}
    for name, command in (("edge", edge), ("keras", keras)):  # warm-up: page cache, .pyc files
        _, lines[name] = time_to_first_line(command, env)
    for i in range(repeats):
        for name, command in (("edge", edge), ("keras", keras)):
            seconds, _ = time_to_first_line(command, env)
            times[name].append(seconds)
        print(f"  run {i + 1}/{repeats}: edge {times['edge'][-1]:.3f} s, keras {times['keras'][-1]:.3f} s", flush=True)
    same = lines["edge"].split(" (")[0] == lines["keras"].split(" (")[0]
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "image": str(image),
        "repeats": repeats,
        "seconds": times,
        "median_s": medians,
        "speedup": medians["keras"] / medians["edge"],
        "same_prediction": same,
        "edge_line": lines["edge"],
        "keras_line": lines["keras"],
    }


def measure_eval(edge_python: str, model: Path, data_dir: Path, repeats: int) -> dict:
    command = [
        edge_python,
        str(ROOT / "edge" / "classify.py"),
        "--model",
        str(model),
        "--eval-mnist",
        str(data_dir),
        "--json",
    ]
    walls, inference, result = [], [], {}
    for i in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
        walls.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise BenchError(f"--eval-mnist failed: {done.stderr.strip()[-500:]}")
        result = json.loads(done.stdout)
        inference.append(result["seconds"])
        print(f"  run {i + 1}/{repeats}: {walls[-1]:.2f} s command, {inference[-1]:.2f} s inference", flush=True)
    return {
        "images": result["images"],
        "accuracy": result["accuracy"],
        "threads": result["threads"],
        "runtime": result["runtime"],
        "command_s": walls,
        "inference_s": inference,
        "median_command_s": statistics.median(walls),
        "median_inference_s": statistics.median(inference),
    }


def sample_image(data_dir: Path, folder: Path) -> Path:
    from PIL import Image

    from edge.mnist_data import load_split

    test = load_split(data_dir, "test")
    path = folder / f"mnist_test_0_label{test.labels[0]}.png"
    Image.fromarray(test.images[0]).save(path)
    return path


def plot(results: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    startup = results["startup"]["median_s"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.barh(
        ["edge runner\n(int8, LiteRT)", "Keras in\nTensorFlow"],
        [startup["edge"], startup["keras"]],
        color=["tab:green", "tab:gray"],
    )
    left.set_xlabel("seconds, process start to first prediction (median)")
    left.set_title(f"one image: {results['startup']['speedup']:.1f}x faster\n(target {STARTUP_TARGET:.0f}x)")
    ev = results["eval"]
    right.barh(["whole command", "inference"], [ev["median_command_s"], ev["median_inference_s"]], color="tab:blue")
    right.axvline(EVAL_TARGET_S, color="tab:red", linestyle="--", label=f"target {EVAL_TARGET_S:.0f} s")
    right.set_xlabel("seconds (median)")
    right.set_title(f"--eval-mnist, {ev['images']} images, int8\naccuracy {ev['accuracy']:.2%}")
    right.legend(loc="lower right")
    fig.tight_layout()
    partial = path.with_name(path.name + ".partial.png")
    fig.savefig(partial, dpi=120)
    plt.close(fig)
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--artifacts", type=Path, default=ROOT / "artifacts", help="holds model.keras and mnist_int8.tflite"
    )
    parser.add_argument("--model", type=Path, help="the .tflite file (default: ARTIFACTS/mnist_int8.tflite)")
    default_edge = ROOT / ".venv-edge" / "bin" / "python"
    parser.add_argument(
        "--edge-python",
        default=str(default_edge) if default_edge.exists() else sys.executable,
        help="python of the TensorFlow-free environment (default: .venv-edge if made, else this one)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("MNIST_DATA_DIR", ROOT.parent / "shared" / "mnist"))
    )
    parser.add_argument("--image", type=Path, help="image to classify (default: the first MNIST test digit)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--eval-repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from edge.mnist_data import DataError

    model = args.model or args.artifacts / "mnist_int8.tflite"
    keras_model = args.artifacts / "model.keras"
    try:
        for needed in (model, keras_model):
            if not needed.is_file():
                raise BenchError(f"{needed}: not found; run mnist-train and mnist-convert first (or give --artifacts)")
        with tempfile.TemporaryDirectory() as tmp:
            image = args.image or sample_image(args.data_dir, Path(tmp))
            print(f"cold start, {args.repeats} runs each, alternating (edge python: {args.edge_python})", flush=True)
            startup = measure_startup(args.edge_python, model, keras_model, image, args.repeats)
        print(f"--eval-mnist on {args.data_dir}, {args.eval_repeats} runs", flush=True)
        evaluation = measure_eval(args.edge_python, model, args.data_dir, args.eval_repeats)
    except (BenchError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    results = {"model": str(model), "keras_model": str(keras_model), "startup": startup, "eval": evaluation}
    med = startup["median_s"]
    print()
    print(
        f"start to first prediction  edge {med['edge']:.3f} s   keras/TF {med['keras']:.3f} s   "
        f"{startup['speedup']:.1f}x faster (target >= {STARTUP_TARGET:.0f}x: "
        f"{'met' if startup['speedup'] >= STARTUP_TARGET else 'MISSED'})"
    )
    print(f"  same prediction: {startup['same_prediction']}  ({startup['edge_line']} | {startup['keras_line']})")
    ok = evaluation["median_command_s"] < EVAL_TARGET_S
    print(
        f"--eval-mnist {evaluation['images']} images  {evaluation['median_command_s']:.2f} s whole command, "
        f"{evaluation['median_inference_s']:.2f} s inference, accuracy {evaluation['accuracy']:.2%} "
        f"({evaluation['runtime']}, {evaluation['threads']} threads; target < {EVAL_TARGET_S:.0f} s: "
        f"{'met' if ok else 'MISSED'})"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    partial = args.out / "edge_startup.json.partial"
    partial.write_text(json.dumps(results, indent=2))
    os.replace(partial, args.out / "edge_startup.json")
    plot(results, args.out / "edge_startup.png")
    print(f"wrote {args.out / 'edge_startup.json'} and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
