"""Accuracy of a .tflite model on realistic digit photos, per condition, with the edge preprocessing.

    python -m benchmarks.bench_photos --model artifacts/mnist_int8.tflite --data-dir ../shared/mnist \
        [--per-condition 100] [--set DIR] [--out DIR] [--threads N]

The photos come from benchmarks/photo_set.py (rendered from MNIST test digits into a temporary
folder, or an already written set with --set). For each condition it measures:

- accuracy with ``edge.preprocess.prepare_file``, the edge runner's own preprocessing (an
  ImageError or NoDigitError counts as wrong, and is tallied as "no digit");
- accuracy of a naive baseline: load, grey, resize the whole photo to 28x28, invert, classify;
- the median and 90th percentile time of ``prepare_file`` per photo.

Prints a markdown table and writes OUT/photos.json, OUT/photos.md and OUT/misread.png (misread
photos next to the 28x28 input the model saw). No TensorFlow: runs in the edge environment.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import photo_set, rendered_sets
from benchmarks.settings import BenchError

ROOT = Path(__file__).resolve().parents[1]
MISREAD_LIMIT = 40


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_photos",
        description="Per-condition accuracy of a .tflite model on realistic photos of MNIST test digits.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    rendered_sets.add_model_arguments(p, "the photos are rendered from")
    p.add_argument("--per-condition", type=int, default=100, help="photos per condition (when rendering)")
    p.add_argument("--set", type=Path, default=None, help="reuse a set written by benchmarks.photo_set")
    p.add_argument("--out", type=Path, default=ROOT / "bench-results" / "photos", help="where the reports go")
    p.add_argument("--threads", type=int, default=None, help="interpreter threads")
    p.add_argument("--seed", type=int, default=0, help="seed of the rendered set")
    p.add_argument(
        "--conditions",
        default=",".join((*photo_set.CONDITIONS, photo_set.NO_DIGIT)),
        help=f"comma-separated (when rendering); {photo_set.NO_DIGIT}: photos with no digit, to be answered 'no digit'",
    )
    p.add_argument("--workers", type=int, default=None, help="processes that render the set (default: all cores)")
    p.add_argument(
        "--cold-starts", type=int, default=7,
        help="timed runs of edge/classify.py on a typical photo and on the slowest (0: none)",
    )  # fmt: skip
    p.add_argument(
        "--edge-python", type=Path, default=Path(sys.executable), help="the Python that runs edge/classify.py"
    )
    return p.parse_args(argv)


def _baseline_input(path: Path) -> np.ndarray | None:
    """The naive way: the whole photo, grey, squashed to 28x28, inverted. None if it cannot be read."""
    from PIL import Image

    from edge.preprocess import ImageError, load_image

    try:
        image = load_image(path)
    except ImageError:
        return None
    small = image.convert("L").resize((28, 28), Image.Resampling.BILINEAR)
    return 255 - np.asarray(small, np.uint8)


def measure(set_dir: Path, rows: list[dict], classifier) -> list[dict]:
    """Prepare every photo (timed), classify it and its naive baseline; one result per photo."""
    from edge.preprocess import ImageError, prepare_file

    results, prepared, baseline = [], [], []
    start = last = time.perf_counter()
    for i, row in enumerate(rows):
        path = set_dir / row["file"]
        t0 = time.perf_counter()
        try:
            image, error = prepare_file(path), None
        except ImageError as e:
            image, error = None, str(e).splitlines()[0]
        ms = (time.perf_counter() - t0) * 1000.0
        results.append(dict(row, ms=ms, error=error))
        prepared.append(image if image is not None else np.zeros((28, 28), np.uint8))
        base = _baseline_input(path)
        baseline.append(base if base is not None else np.zeros((28, 28), np.uint8))
        now = time.perf_counter()
        if now - last > 5.0:
            last = now
            rendered_sets.progress(f"  prepared {i + 1}/{len(rows)} photos ({now - start:.0f} s)")
    probabilities = classifier.predict(np.stack(prepared)) if rows else np.zeros((0, 10))
    base_probabilities = classifier.predict(np.stack(baseline)) if rows else np.zeros((0, 10))
    for result, probs, base_probs, image in zip(results, probabilities, base_probabilities, prepared, strict=True):
        answer = int(np.argmax(probs))
        result["predicted"] = None if result["error"] else answer
        result["confidence"] = None if result["error"] else float(probs[answer])
        if result["label"] < 0:  # a photo with no digit: right only when it says so
            result["correct"] = result["error"] is not None
        else:
            result["correct"] = result["error"] is None and answer == result["label"]
        result["baseline"] = int(np.argmax(base_probs))
        result["baseline_correct"] = result["baseline"] == result["label"]  # the naive way always answers
        result["_input"] = image if result["error"] is None else None
    return results


def _summary(results: list[dict]) -> dict:
    n = len(results)
    correct = sum(r["correct"] for r in results)
    base = sum(r["baseline_correct"] for r in results)
    times = np.array([r["ms"] for r in results]) if results else np.zeros(1)
    return {
        "photos": n,
        "correct": correct,
        "accuracy": correct / n if n else 0.0,
        "no_digit": sum(r["error"] is not None for r in results),
        "baseline_correct": base,
        "baseline_accuracy": base / n if n else 0.0,
        "median_ms": float(np.median(times)),
        "p90_ms": float(np.percentile(times, 90)),
    }


def summarize(results: list[dict]) -> dict:
    """Per condition; overall, clean and worst over the photos of digits (no-digit photos apart)."""
    digits = [r for r in results if r["label"] >= 0]
    blank = [r for r in results if r["label"] < 0]
    conditions = list(dict.fromkeys(r["condition"] for r in digits))
    per = {c: _summary([r for r in digits if r["condition"] == c]) for c in conditions}
    clean = [r for r in digits if r["condition"] in photo_set.CLEAN_CONDITIONS]
    worst = min(conditions, key=lambda c: per[c]["accuracy"]) if conditions else None
    return {
        "conditions": per,
        "overall": _summary(digits) if digits else None,
        "clean": _summary(clean) if clean else None,
        "worst": {"condition": worst, **per[worst]} if worst else None,
        "no_digit_photos": _summary(blank) if blank else None,
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def markdown(summary: dict, title: str) -> str:
    lines = [
        title,
        "",
        "| condition | photos | accuracy | no digit | baseline | median ms | p90 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def row(name: str, s: dict) -> str:
        return (
            f"| {name} | {s['photos']} | {_pct(s['accuracy'])} | {s['no_digit']} | {_pct(s['baseline_accuracy'])} "
            f"| {s['median_ms']:.1f} | {s['p90_ms']:.1f} |"
        )

    for name, s in summary["conditions"].items():
        lines.append(row(name, s))
    if summary["overall"]:
        lines.append(row("**overall**", summary["overall"]))
    if summary["clean"]:
        lines.append(row("**clean** (" + ", ".join(photo_set.CLEAN_CONDITIONS) + ")", summary["clean"]))
    if summary["worst"]:
        lines.append(row(f"**worst**: {summary['worst']['condition']}", summary["worst"]))
    blank = summary["no_digit_photos"]
    if blank:
        lines += [
            "",
            f"Photos with no digit ({photo_set.NO_DIGIT}: paper, lines, shadows, desks, webcam frames): "
            f"{blank['correct']} of {blank['photos']} answered 'no digit' ({_pct(blank['accuracy'])}); "
            f"median {blank['median_ms']:.1f} ms.",
        ]
    return "\n".join(lines) + "\n"


def misread_sheet(set_dir: Path, results: list[dict], out: Path, limit: int = MISREAD_LIMIT) -> int:
    """Up to ``limit`` misread photos, taken in turn from each condition: the photo, the model's input."""
    from PIL import Image, ImageDraw

    from edge.preprocess import ImageError, load_image

    wrong: dict[str, list[dict]] = {}
    for r in results:
        if not r["correct"]:
            wrong.setdefault(r["condition"], []).append(r)
    chosen: list[dict] = []
    while len(chosen) < limit and any(wrong.values()):
        for queue in wrong.values():
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    columns, photo_w, photo_h, field, caption = 4, 200, 150, 112, 30
    tile_w, tile_h = photo_w + field + 12, photo_h + caption + 8
    rows = max(1, (len(chosen) + columns - 1) // columns)
    sheet = Image.new("RGB", (columns * tile_w, rows * tile_h), "white")
    draw = ImageDraw.Draw(sheet)
    if not chosen:
        draw.text((10, 10), "no misread photos", fill="black")
    for i, r in enumerate(chosen):
        x, y = (i % columns) * tile_w, (i // columns) * tile_h
        try:
            thumb = photo_set.thumbnail(load_image(set_dir / r["file"]), (photo_w, photo_h))
            sheet.paste(thumb, (x + (photo_w - thumb.width) // 2, y + (photo_h - thumb.height) // 2))
        except ImageError:
            draw.text((x + 4, y + 4), "unreadable", fill="red")
        if r.get("_input") is not None:
            model_view = Image.fromarray(r["_input"]).resize((field, field), Image.Resampling.NEAREST)
            sheet.paste(model_view.convert("RGB"), (x + photo_w + 6, y + (photo_h - field) // 2))
        else:
            draw.rectangle([x + photo_w + 6, y + 19, x + photo_w + 6 + field, y + 19 + field], outline="red")
            draw.text((x + photo_w + 30, y + 70), "no digit", fill="red")
        answer = "no digit" if r["error"] else f"read {r['predicted']} ({100 * r['confidence']:.0f} %)"
        draw.text((x + 2, y + photo_h + 2), f"{r['condition']}: {Path(r['file']).name}", fill="black")
        truth = "no digit" if r["label"] < 0 else r["label"]
        draw.text((x + 2, y + photo_h + 15), f"truth {truth}, {answer}", fill="red")
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return len(chosen)


def startup_photos(results: list[dict]) -> tuple[str, str]:
    """The photos to time a cold start on: the one whose reading took the median time (a typical
    photo) and the slowest (in the seed-0 set a paint canvas with wide brush strokes)."""
    timed = sorted((r for r in results if r["label"] >= 0), key=lambda r: r["ms"]) or sorted(
        results, key=lambda r: r["ms"]
    )
    return timed[len(timed) // 2]["file"], timed[-1]["file"]


def cold_start(python: Path, model: Path, photo: Path, runs: int) -> dict:
    """Process start to the first printed prediction of ``python edge/classify.py -m MODEL PHOTO``.

    One untimed run first (files in the page cache, as on a device that has run before); the
    median of ``runs`` timed runs is the figure.
    """
    from benchmarks.edge_startup import time_to_first_line

    command = [str(python), str(ROOT / "edge" / "classify.py"), "-m", str(model), str(photo)]
    env = dict(os.environ)
    rendered_sets.progress(f"cold start: {runs} runs of edge/classify.py on {photo.name} ...")
    time_to_first_line(command, env, ROOT)
    seconds, line = [], ""
    for _ in range(runs):
        elapsed, line = time_to_first_line(command, env, ROOT)
        seconds.append(elapsed)
    return {
        "photo": f"{photo.parent.name}/{photo.name}",
        "python": str(python),
        "runs": runs,
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "answer": line.strip(),
    }


def run(args: argparse.Namespace) -> dict:
    classifier = rendered_sets.classifier(args.model, args.threads)
    started = time.perf_counter()
    with rendered_sets.set_rows(args, photo_set, "photos") as (set_dir, rows, render_s):
        t0 = time.perf_counter()
        results = measure(set_dir, rows, classifier)
        measure_s = time.perf_counter() - t0
        summary = summarize(results)
        args.out.mkdir(parents=True, exist_ok=True)
        shown = misread_sheet(set_dir, results, args.out / "misread.png")
        startup = None
        if args.cold_starts > 0:
            typical, slowest = startup_photos(results)
            startup = {
                "typical": cold_start(args.edge_python, args.model, set_dir / typical, args.cold_starts),
                "slowest": cold_start(args.edge_python, args.model, set_dir / slowest, args.cold_starts),
            }
    source = f"set {args.set}" if args.set else f"seed {args.seed}"
    title = f"Photos: {args.model.name}, {len(results)} photos ({source})"
    table = markdown(summary, title)
    timing = {"render_s": render_s, "measure_s": measure_s, "total_s": time.perf_counter() - started}
    report = rendered_sets.write_report(
        args, "photos", table, summary, results, timing, cold_start=startup, misread_shown=shown
    )
    print(table)
    for which, figures in (startup or {}).items():
        print(
            f"cold start, {which} photo (process start to the first printed answer, {figures['photo']}): "
            f"median {figures['median_s']:.3f} s of {figures['runs']} runs "
            f"({figures['min_s']:.3f}-{figures['max_s']:.3f} s)"
        )
    print(
        f"prepare + classify: {measure_s:.1f} s"
        + (f"; rendering: {render_s:.1f} s" if render_s is not None else "")
        + f"; wrote {args.out / 'photos.json'}, {args.out / 'photos.md'}, {args.out / 'misread.png'}"
    )
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
