"""Photos of whole numbers (2 to 6 digits), rendered from MNIST *test* digits, to measure ``--number``.

Each number is a row of MNIST test digits written as one line: every digit is turned into a pen
stroke as in benchmarks/photo_set.py, the strokes are laid out left to right with a little
variation in size and height, and the whole line is drawn by photo_set's own scenes (ink,
pencil, ruled and squared paper, shadow, desk, perspective, webcam, ...), which size, slant,
rotate and place it as they do a single digit. Spacing is the gap a writer leaves between the
ink of neighbouring digits: the clearance between their centre lines is the condition's typical
pen width plus 0.08-0.4 of the digit height; one gap in five is near-touching (0-0.06), so
that those digits touch where the pen is wider than typical (a marker, a fat brush).

Besides each number's photo, a set holds what measuring needs: each digit's box in the photo
(upright, full resolution) and, in ``alone/``, the same photo with only that digit written
(same paper, light and camera: the same random draws), which the single-digit preprocessing
reads as the upper bound of reading the number.

numpy, Pillow and OpenCV only (no TensorFlow). Deterministic: the same seed gives the same bytes.

    python -m benchmarks.number_set OUT --data-dir ../shared/mnist --per-condition 30

writes OUT/<condition>/<index>_<number>.<ext>, OUT/alone/<condition>/<index>_<k>.<ext>,
OUT/labels.csv and OUT/contact_sheet.png.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import multiprocessing
import os
import shutil
import sys
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from benchmarks import photo_set
from benchmarks.photo_set import Stroke

CONDITIONS = photo_set.CONDITIONS
LENGTHS = (2, 3, 4, 5, 6)  # digits per number; number i of a condition has LENGTHS[i % 5]
NEAR = 0.2  # share of gaps that are near-touching
BACKUPS = 3  # spare candidate digits per number, for the ones that do not survive as a pen stroke
_HEIGHT = 20 * photo_set._WORK  # an MNIST digit's height in work pixels (fit to 20 of 28 pixels)
_PAD = 48  # work pixels added around each digit's distance field, so wide pens never reach its edge
FIELDS = ["file", "condition", "number", "mnist_indices", "boxes", "alone"]
# The typical pen width of each condition's scenes (photo_set's pens), per digit height: the
# ink's edges, not the centre lines, are what a writer keeps apart.
PEN = dict.fromkeys(CONDITIONS, 0.06) | {"paint": 0.09, "transparent": 0.09, "colour_pen": 0.08, "ruled": 0.065}
PEN |= {"pencil": 0.05, "webcam": 0.1, "marker": 0.16}


def _padded(distance: np.ndarray) -> np.ndarray:
    """A digit's distance field grown by _PAD on every side: the edge's distance plus the way to it
    (an upper bound, exact enough where no pen reaches)."""
    h, w = distance.shape
    grown = cv2.copyMakeBorder(distance, _PAD, _PAD, _PAD, _PAD, cv2.BORDER_REPLICATE)
    ys = np.maximum(np.maximum(_PAD - np.arange(h + 2 * _PAD), np.arange(h + 2 * _PAD) - (h + _PAD - 1)), 0)
    xs = np.maximum(np.maximum(_PAD - np.arange(w + 2 * _PAD), np.arange(w + 2 * _PAD) - (w + _PAD - 1)), 0)
    return grown + np.hypot(ys[:, None], xs[None, :]).astype(np.float32)


def layout(
    digits: Sequence[np.ndarray], rng: np.random.Generator, pen: float = 0.06
) -> list[tuple[float, float, float]]:
    """Where each digit's stroke goes in the line: (x, y, scale) of its distance field's corner, work px.

    Heights vary by about 5 %, centres by about 4 % of the height; each digit is moved left up to
    the clearance drawn for its gap (so slanted and overhanging digits space as a writer spaces them):
    ``pen`` (the pen's width per digit height) plus the gap between the ink.
    """
    strokes = [photo_set.centre_line(d) for d in digits]
    placed: list[tuple[float, float, float]] = []
    canvas = None
    for stroke in strokes:
        scale = math.exp(rng.normal(0.0, 0.05))
        field = _padded(cv2.resize(stroke.distance, None, fx=scale, fy=scale) * scale)
        x0, y0, x1, y1 = (v * scale + _PAD for v in stroke.box)
        y = -((y0 + y1) / 2) + rng.normal(0.0, 0.04) * _HEIGHT  # the line's middle is y = 0
        near = rng.random() < NEAR
        clearance = (pen + (rng.uniform(0.0, 0.06) if near else rng.uniform(0.08, 0.4))) * _HEIGHT
        if canvas is None:
            x = -x0
        else:
            origin, union = canvas
            ys, xs = np.nonzero(field < 1.0)  # the centre line's pixels
            right = origin[0] + union.shape[1]
            best = right - x0  # clear of everything drawn so far
            for x in np.arange(right - x0, origin[0] - x1 - 1, -2.0):
                py = np.rint(ys + y - origin[1]).astype(int)
                px = np.rint(xs + x - origin[0]).astype(int)
                inside = (py >= 0) & (py < union.shape[0]) & (px >= 0) & (px < union.shape[1])
                if inside.any() and float(union[py[inside], px[inside]].min()) < clearance:
                    break
                best = x
            x = best
        placed.append((float(x), float(y), scale))
        canvas = _paste(canvas, field, x, y)
    return placed


def _paste(canvas, field: np.ndarray, x: float, y: float):
    """Union of distance fields (the minimum), on a canvas that grows to hold them; (origin, field)."""
    ix, iy = round(x), round(y)
    if canvas is None:
        return (ix, iy), field.copy()
    (ox, oy), union = canvas
    left, top = min(ox, ix), min(oy, iy)
    right = max(ox + union.shape[1], ix + field.shape[1])
    bottom = max(oy + union.shape[0], iy + field.shape[0])
    grown = np.full((bottom - top, right - left), photo_set._FAR, np.float32)
    grown[oy - top : oy - top + union.shape[0], ox - left : ox - left + union.shape[1]] = union
    region = grown[iy - top : iy - top + field.shape[0], ix - left : ix - left + field.shape[1]]
    np.minimum(region, field, out=region)
    return (left, top), grown


def number_stroke(digits: Sequence[np.ndarray], places: list[tuple[float, float, float]], only: int | None = None):
    """The line of digits as one :class:`Stroke` for photo_set's scenes; with ``only``, that digit alone
    in the same frame (same box, so the scene is drawn with the same random draws)."""
    strokes = [photo_set.centre_line(d) for d in digits]
    canvas, boxes = None, []
    for k, (stroke, (x, y, scale)) in enumerate(zip(strokes, places, strict=True)):
        x0, y0, x1, y1 = (v * scale + _PAD for v in stroke.box)
        boxes.append((x + x0, y + y0, x + x1, y + y1))
        field = _padded(cv2.resize(stroke.distance, None, fx=scale, fy=scale) * scale)
        if only is not None and k != only:
            field = np.full_like(field, photo_set._FAR)
        canvas = _paste(canvas, field, x, y)
    (ox, oy), union = canvas
    box = (
        min(b[0] for b in boxes) - ox,
        min(b[1] for b in boxes) - oy,
        max(b[2] for b in boxes) - ox,
        max(b[3] for b in boxes) - oy,
    )
    half = float(np.median([s.half for s in strokes]))
    hole = min(s.hole * scale for s, (_, _, scale) in zip(strokes, places, strict=True))
    return Stroke(union, box, half, hole)


def _rngs(seed: int, condition: str, number: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(layout, photo) generators of one number: the photo's is recreated for every render of it."""
    key = [seed, zlib.crc32(condition.encode()), number]
    return np.random.default_rng([*key, 1]), np.random.default_rng([*key, 2])


def render_number(
    condition: str, digits: Sequence[np.ndarray], seed: int, number: int, alone: bool = False
) -> tuple[tuple[bytes, str], list[tuple[bytes, str]], list[tuple[int, int, int, int]]]:
    """One number's photo; with ``alone``, each digit's photo alone and each digit's box (x, y, w, h)
    in the upright photo's pixels. Boxes come from the difference with the blank photo."""
    layout_rng, _ = _rngs(seed, condition, number)
    places = layout(digits, layout_rng, PEN[condition])
    photo = photo_set.render(condition, number_stroke(digits, places), _rngs(seed, condition, number)[1])
    if not alone:
        return photo, [], []
    singles = [
        photo_set.render(condition, number_stroke(digits, places, k), _rngs(seed, condition, number)[1])
        for k in range(len(digits))
    ]
    blank = _upright(
        photo_set.render_blank(condition, number_stroke(digits, places), _rngs(seed, condition, number)[1])[0]
    )
    boxes = []
    for data, _ in singles:
        difference = np.abs(_upright(data) - blank).max(axis=2)
        ys, xs = np.nonzero(difference > 0.25 * float(difference.max()))
        boxes.append((int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)))
    return photo, singles, boxes


def _upright(data: bytes) -> np.ndarray:
    """A rendered file upright (EXIF applied), RGBA as float: white ink on a transparent canvas differs too."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGBA"), np.float32)


def candidate_digits(count: int, per_condition: int, seed: int, condition: str) -> list[np.ndarray]:
    """Test digit indices each number of a condition may use (its length plus BACKUPS), disjoint
    across numbers and conditions until the test set runs out."""
    order = np.random.default_rng([seed, 11]).permutation(count)
    k = CONDITIONS.index(condition) if condition in CONDITIONS else len(CONDITIONS) + zlib.crc32(condition.encode())
    per_number = [LENGTHS[i % len(LENGTHS)] + BACKUPS for i in range(per_condition)]
    start = k * sum(per_number)
    ends = np.cumsum([0, *per_number])
    return [order[(start + np.arange(ends[i], ends[i + 1])) % count] for i in range(per_condition)]


def _render_job(job: tuple) -> tuple[dict, list[tuple[str, bytes]]]:
    condition, seed, number, length, candidates = job
    chosen = [(i, d, label) for i, d, label in candidates if photo_set.usable(d)][:length]
    if len(chosen) < length:  # pragma: no cover - BACKUPS spare digits are plenty
        chosen = candidates[:length]
    digits = [d for _, d, _ in chosen]
    text = "".join(str(label) for _, _, label in chosen)
    (data, suffix), singles, boxes = render_number(condition, digits, seed, number, alone=True)
    name = f"{condition}/{number:04d}_{text}{suffix}"
    files = [(name, data)]
    alone = []
    for k, (single, single_suffix) in enumerate(singles):
        alone.append(f"alone/{condition}/{number:04d}_{k}{single_suffix}")
        files.append((alone[-1], single))
    row = {
        "file": name,
        "condition": condition,
        "number": text,
        "mnist_indices": " ".join(str(i) for i, _, _ in chosen),
        "boxes": " ".join(",".join(map(str, b)) for b in boxes),
        "alone": " ".join(alone),
    }
    return row, files


def write_set(
    out_dir: str | Path,
    images: np.ndarray,
    labels: np.ndarray,
    per_condition: int = 30,
    seed: int = 0,
    conditions: Sequence[str] = CONDITIONS,
    workers: int | None = None,
    progress: bool = False,
) -> list[dict]:
    """Render ``per_condition`` numbers per condition from the given (test) digits into ``out_dir``.

    Written into a temporary folder next to ``out_dir`` and renamed at the end; returns the rows
    of labels.csv (see :func:`read_set`).
    """
    out_dir = Path(out_dir)
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise ValueError(f"unknown condition(s) {', '.join(unknown)}; choose from {', '.join(CONDITIONS)}")
    images, labels = np.asarray(images), np.asarray(labels)
    jobs = []
    for condition in conditions:
        for number, row in enumerate(candidate_digits(len(images), per_condition, seed, condition)):
            candidates = [(int(i), images[i], int(labels[i])) for i in row]
            jobs.append((condition, seed, number, LENGTHS[number % len(LENGTHS)], candidates))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    temp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    for condition in conditions:
        (temp / condition).mkdir(parents=True)
        (temp / "alone" / condition).mkdir(parents=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = workers or min(cores, 16)
    rows = []
    try:
        if workers > 1 and len(jobs) > 4:
            context = multiprocessing.get_context("spawn")  # a fork of a process whose OpenCV threads ran can hang
            with ProcessPoolExecutor(workers, mp_context=context, initializer=photo_set._init_worker) as pool:
                rows = _write(temp, pool.map(_render_job, jobs, chunksize=2), len(jobs), progress)
        else:
            rows = _write(temp, map(_render_job, jobs), len(jobs), progress)
        with open(temp / "labels.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
            out_dir.rename(old)
            temp.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            temp.rename(out_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return read_set(out_dir)


def _write(temp: Path, results, total: int, progress: bool) -> list[dict]:
    rows, start = [], time.perf_counter()
    for i, (row, files) in enumerate(results):
        for name, data in files:
            (temp / name).write_bytes(data)
        rows.append(row)
        if progress and (i + 1) % 20 == 0:
            print(f"  rendered {i + 1}/{total} numbers ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return rows


def read_set(set_dir: str | Path) -> list[dict]:
    """labels.csv's rows: file, condition, number (a str: leading zeros count), mnist_indices (ints),
    boxes ((x, y, w, h) per digit, upright photo pixels) and alone (files, one per digit), the last
    three empty lists in a set that lacks them."""
    with open(Path(set_dir) / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["mnist_indices"] = [int(i) for i in (r.get("mnist_indices") or "").split()]
        r["boxes"] = [tuple(int(v) for v in b.split(",")) for b in (r.get("boxes") or "").split()]
        r["alone"] = (r.get("alone") or "").split()
    return rows


def contact_sheet(set_dir: str | Path, rows: list[dict], per_condition: int = 5, out: str | Path | None = None) -> Path:
    """A PNG with the first few numbers of each condition, for a person to look at."""
    from PIL import ImageDraw

    from edge.preprocess import load_image

    set_dir = Path(set_dir)
    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    tile_w, tile_h, label_w, caption = 240, 180, 110, 16
    sheet = Image.new(
        "RGB", (label_w + per_condition * (tile_w + 6), len(conditions) * (tile_h + caption + 8)), "white"
    )
    draw = ImageDraw.Draw(sheet)
    for r, condition in enumerate(conditions):
        y = r * (tile_h + caption + 8) + 4
        draw.text((6, y + tile_h // 2), condition, fill="black")
        for c, row in enumerate([row for row in rows if row["condition"] == condition][:per_condition]):
            thumb = photo_set.thumbnail(load_image(set_dir / row["file"]), (tile_w, tile_h))
            x = label_w + c * (tile_w + 6)
            sheet.paste(thumb, (x + (tile_w - thumb.width) // 2, y + (tile_h - thumb.height) // 2))
            draw.text((x, y + tile_h + 2), Path(row["file"]).name, fill="black")
    out = Path(out) if out else set_dir / "contact_sheet.png"
    sheet.save(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.number_set",
        description="Render photos of whole numbers written with MNIST test digits, one folder per condition.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("out", type=Path, help="folder to write (replaced if it exists)")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("MNIST_DATA_DIR", photo_set.DEFAULT_DATA_DIR))
    )
    parser.add_argument("--per-condition", type=int, default=30, help="numbers per condition (a fifth of each length)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = parser.parse_args(argv)
    from edge.mnist_data import DataError, load_split

    conditions = tuple(c.strip() for c in args.conditions.split(",") if c.strip())
    try:
        if args.per_condition < 1:
            raise ValueError("--per-condition must be at least 1")
        test = load_split(args.data_dir, "test")
        start = time.perf_counter()
        rows = write_set(
            args.out, test.images, test.labels, args.per_condition, args.seed, conditions, args.workers, progress=True
        )
        elapsed = time.perf_counter() - start
    except (DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    sheet = contact_sheet(args.out, rows)
    print(f"{len(rows)} numbers in {args.out} ({elapsed:.1f} s); labels.csv and contact sheet: {sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
