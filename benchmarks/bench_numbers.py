"""How well ``classify.py --number`` reads whole numbers, per condition and per length.

    python -m benchmarks.bench_numbers --model artifacts/mnist_int8.tflite --data-dir ../shared/mnist \
        [--per-condition 30] [--set DIR] [--out DIR] [--threads N]

The photos come from benchmarks/number_set.py (rendered from MNIST test digits into a temporary
folder, or an already written set with --set). For each number it measures, with edge/number.py
and the model:

- whole-number accuracy (every digit right, none missing, none extra);
- per-digit accuracy: the digits read right, aligned with the truth (longest common
  subsequence), over the longer of the two (a missed or an extra digit counts as wrong);
- the upper bound: each digit's photo alone (same paper, light and camera, the other digits not
  written) read by the single-digit preprocessing: what reading the number cannot beat;
- how often a wrong number was flagged ``uncertain``, and how often a right one was;
- milliseconds per photo (median and 90th percentile).

Prints a markdown table and writes OUT/numbers.json, OUT/numbers.md and OUT/misread.png (misread
numbers beside the 28x28 inputs the model saw). No TensorFlow: runs in the edge environment.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import number_set, photo_set, rendered_sets
from benchmarks.settings import BenchError

ROOT = Path(__file__).resolve().parents[1]
MISREAD_LIMIT = 24


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_numbers",
        description="Whole-number and per-digit accuracy of --number on photos of numbers of MNIST test digits.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    rendered_sets.add_model_arguments(p, "the numbers are written with")
    p.add_argument("--per-condition", type=int, default=30, help="numbers per condition (when rendering)")
    p.add_argument("--set", type=Path, default=None, help="reuse a set written by benchmarks.number_set")
    p.add_argument("--out", type=Path, default=ROOT / "bench-results" / "numbers", help="where the reports go")
    p.add_argument("--threads", type=int, default=1, help="interpreter threads")
    p.add_argument("--seed", type=int, default=0, help="seed of the rendered set")
    p.add_argument("--conditions", default=",".join(number_set.CONDITIONS), help="comma-separated (when rendering)")
    p.add_argument("--workers", type=int, default=None, help="processes that render the set (default: all cores)")
    return p.parse_args(argv)


def matched(truth: str, read: str) -> int:
    """Digits read right: the longest common subsequence of the two strings."""
    previous = [0] * (len(read) + 1)
    for a in truth:
        current = [0]
        for j, b in enumerate(read):
            current.append(previous[j] + 1 if a == b else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def measure(set_dir: Path, rows: list[dict], classifier) -> list[dict]:
    """Read every number (timed), and every digit's photo alone; one result per number."""
    from edge.number import read_file
    from edge.preprocess import ImageError, prepare_file

    results = []
    start = last = time.perf_counter()
    for i, row in enumerate(rows):
        t0 = time.perf_counter()
        try:
            number, error = read_file(set_dir / row["file"], classifier.predict), None
        except ImageError as e:
            number, error = None, str(e).splitlines()[0]
        ms = (time.perf_counter() - t0) * 1000.0
        read = number.text() if number else ""
        truth = row["number"]
        alone = []
        for k, name in enumerate(row["alone"]):
            try:
                probs = classifier.predict(prepare_file(set_dir / name)[None])[0]
                alone.append(str(int(np.argmax(probs))) == truth[k])
            except ImageError:
                alone.append(False)
        results.append(
            {
                "file": row["file"],
                "condition": row["condition"],
                "number": truth,
                "read": read,
                "error": error,
                "correct": read == truth,
                "digits": len(truth),
                "digits_right": matched(truth, read),
                "digits_scored": max(len(truth), len(read)),
                "alone_right": sum(alone) if alone else None,
                "alone_correct": all(alone) if alone else None,
                "uncertain": bool(number and number.uncertain),
                "reason": "; ".join(number.reasons) if number else error,
                "probabilities": [round(d.probability, 4) for d in number.digits] if number else [],
                "ms": ms,
                "_inputs": [d.image for d in number.digits] if number else [],
            }
        )
        now = time.perf_counter()
        if now - last > 5.0:
            last = now
            rendered_sets.progress(f"  read {i + 1}/{len(rows)} numbers ({now - start:.0f} s)")
    return results


def _summary(results: list[dict]) -> dict:
    n = len(results)
    times = np.array([r["ms"] for r in results]) if results else np.zeros(1)
    scored = sum(r["digits_scored"] for r in results)
    alone = [r for r in results if r["alone_right"] is not None]
    wrong = [r for r in results if not r["correct"]]
    right = [r for r in results if r["correct"]]
    return {
        "numbers": n,
        "correct": sum(r["correct"] for r in results),
        "accuracy": sum(r["correct"] for r in results) / n if n else 0.0,
        "digits": sum(r["digits"] for r in results),
        "digit_accuracy": sum(r["digits_right"] for r in results) / scored if scored else 0.0,
        "alone_digit_accuracy": (
            sum(r["alone_right"] for r in alone) / sum(r["digits"] for r in alone) if alone else None
        ),
        "alone_accuracy": sum(r["alone_correct"] for r in alone) / len(alone) if alone else None,
        "wrong_count": sum(len(r["read"]) != r["digits"] for r in results),
        "wrong_flagged": sum(r["uncertain"] or r["error"] is not None for r in wrong),
        "wrong": len(wrong),
        "right_flagged": sum(r["uncertain"] for r in right),
        "median_ms": float(np.median(times)),
        "p90_ms": float(np.percentile(times, 90)),
    }


def summarize(results: list[dict]) -> dict:
    """Per condition, per number length, and overall."""
    conditions = list(dict.fromkeys(r["condition"] for r in results))
    lengths = sorted({r["digits"] for r in results})
    return {
        "conditions": {c: _summary([r for r in results if r["condition"] == c]) for c in conditions},
        "lengths": {str(k): _summary([r for r in results if r["digits"] == k]) for k in lengths},
        "overall": _summary(results) if results else None,
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def markdown(summary: dict, title: str) -> str:
    lines = [
        title,
        "",
        "| | numbers | whole number | per digit | digits alone (upper bound) | all digits alone | "
        "wrong count | wrong, flagged uncertain | right, flagged uncertain | median ms | p90 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def row(name: str, s: dict) -> str:
        return (
            f"| {name} | {s['numbers']} | {_pct(s['accuracy'])} | {_pct(s['digit_accuracy'])} "
            f"| {_pct(s['alone_digit_accuracy'])} | {_pct(s['alone_accuracy'])} | {s['wrong_count']} "
            f"| {s['wrong_flagged']} of {s['wrong']} | {s['right_flagged']} of {s['correct']} "
            f"| {s['median_ms']:.0f} | {s['p90_ms']:.0f} |"
        )

    for name, s in summary["conditions"].items():
        lines.append(row(name, s))
    for length, s in summary["lengths"].items():
        lines.append(row(f"**{length} digits**", s))
    if summary["overall"]:
        lines.append(row("**overall**", summary["overall"]))
    return "\n".join(lines) + "\n"


def misread_sheet(set_dir: Path, results: list[dict], out: Path, limit: int = MISREAD_LIMIT) -> int:
    """Up to ``limit`` misread numbers, taken in turn from each condition: the photo, what was read,
    and the 28x28 inputs the model saw."""
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
    columns, photo_w, photo_h, field, caption = 2, 260, 170, 56, 44
    tile_w, tile_h = photo_w + 8 * (field + 2) + 12, photo_h + caption
    rows = max(1, (len(chosen) + columns - 1) // columns)
    sheet = Image.new("RGB", (columns * tile_w, rows * tile_h), "white")
    draw = ImageDraw.Draw(sheet)
    if not chosen:
        draw.text((10, 10), "no misread numbers", fill="black")
    for i, r in enumerate(chosen):
        x, y = (i % columns) * tile_w, (i // columns) * tile_h
        try:
            thumb = photo_set.thumbnail(load_image(set_dir / r["file"]), (photo_w, photo_h))
            sheet.paste(thumb, (x + (photo_w - thumb.width) // 2, y + (photo_h - thumb.height) // 2))
        except ImageError:
            draw.text((x + 4, y + 4), "unreadable", fill="red")
        for k, image in enumerate(r["_inputs"][:8]):
            view = Image.fromarray(image).resize((field, field), Image.Resampling.NEAREST).convert("RGB")
            sheet.paste(view, (x + photo_w + 6 + k * (field + 2), y + (photo_h - field) // 2))
        answer = r["error"] or f"read {r['read'] or '-'}" + (" (uncertain)" if r["uncertain"] else "")
        draw.text((x + 2, y + photo_h + 2), f"{r['file']}: truth {r['number']}", fill="black")
        draw.text((x + 2, y + photo_h + 16), answer[:110], fill="red")
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return len(chosen)


def run(args: argparse.Namespace) -> dict:
    classifier = rendered_sets.classifier(args.model, args.threads)
    started = time.perf_counter()
    with rendered_sets.set_rows(args, number_set, "numbers") as (set_dir, rows, render_s):
        t0 = time.perf_counter()
        results = measure(set_dir, rows, classifier)
        measure_s = time.perf_counter() - t0
        summary = summarize(results)
        args.out.mkdir(parents=True, exist_ok=True)
        shown = misread_sheet(set_dir, results, args.out / "misread.png")
    source = f"set {args.set}" if args.set else f"seed {args.seed}"
    table = markdown(summary, f"Numbers: {args.model.name}, {len(results)} numbers ({source})")
    timing = {"render_s": render_s, "measure_s": measure_s, "total_s": time.perf_counter() - started}
    report = rendered_sets.write_report(args, "numbers", table, summary, results, timing, misread_shown=shown)
    print(table)
    print(
        f"reading: {measure_s:.1f} s"
        + (f"; rendering: {render_s:.1f} s" if render_s is not None else "")
        + f"; wrote {args.out / 'numbers.json'}, {args.out / 'numbers.md'}, {args.out / 'misread.png'}"
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
