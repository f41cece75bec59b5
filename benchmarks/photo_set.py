"""Realistic photos of handwritten digits, rendered from MNIST *test* digits, to measure photo preprocessing.

Each MNIST digit is turned into a pen stroke (upscaled, thresholded, thinned to its centre line;
blobs where MNIST's thick pen filled a small loop become loops again; redrawn with a pen of the
chosen width and uneven pressure) and put on paper, on a desk, in a photo. Sets skip the ~1 % of
digits that do not survive this (:func:`usable`). Every condition imitates one thing real users send:

- ``ink``: dark ballpoint or gel pen on white or off-white paper, a phone photo, mild uneven light.
- ``paint``: a paint program's canvas: black or coloured brush on pure white, PNG, no noise,
  brush widths from thin to fat, some without anti-aliasing (MS Paint's pencil).
- ``transparent``: a PNG with alpha: opaque strokes on a fully transparent background, black,
  dark or white ink (what drawing apps and canvas exports give).
- ``exif``: a phone JPEG stored sideways or upside down with EXIF Orientation 3, 6 or 8: upright
  only for a loader that reads EXIF.
- ``ruled``: notebook paper: light blue lines 1.5-3 line gaps per digit (lines cross the digit),
  a red margin line sometimes in frame.
- ``squared``: maths paper, ~5 mm squares, the digit 2-4 squares tall and so small in the frame,
  sometimes bolder lines every 5 squares.
- ``pencil``: graphite: grey, lighter, thinner, grainy and uneven.
- ``shadow``: a hard shadow (a hand, a phone, an edge) over 20-60 % of the frame, 30-60 % darker,
  with a slightly soft edge; it may or may not cross the digit.
- ``desk``: the sheet does not fill the frame: wood, dark grey or light desk along one or two
  edges, the paper slightly rotated, a faint drop shadow at its edge.
- ``perspective``: the page photographed at an angle: a strong perspective warp (lines converge),
  desk in the corners, a lighting gradient.
- ``colour_pen``: red, blue, green or purple ballpoint or felt pen.
- ``webcam``: 160x120 and 320x240 frames: blurry, noisy, low contrast, colour cast, JPEG.
- ``marker``: thick felt-tip marker.

Phone conditions also vary digit size (8-60 % of the frame's short side), position (the whole
digit always in frame), stroke width, rotation (+-10 degrees), slant, paper tint, lighting
gradient and vignetting, sensor noise, focus, JPEG quality (60-95) and frame size (640x480 to
1280x960, some portrait, a few 4000x3000). Every digit stays clearly legible to a person.

numpy, Pillow and OpenCV only (no TensorFlow): importable from the edge runner's environment.
Deterministic: the same digit and the same ``numpy.random.default_rng`` seed give the same bytes.

    python -m benchmarks.photo_set OUT --data-dir ../shared/mnist --per-condition 100

writes OUT/<condition>/<index>_label<d>.<ext>, OUT/labels.csv and OUT/contact_sheet.png.
"""

from __future__ import annotations

import argparse
import contextvars
import csv
import functools
import io
import math
import multiprocessing
import os
import shutil
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = ROOT.parent / "shared" / "mnist"

CONDITIONS = (
    "ink",
    "paint",
    "transparent",
    "exif",
    "ruled",
    "squared",
    "pencil",
    "shadow",
    "desk",
    "perspective",
    "colour_pen",
    "webcam",
    "marker",
)
CLEAN_CONDITIONS = ("ink", "paint", "transparent", "exif")
# Photos with no digit at all, which must be answered "no digit found": paper, lines, a shadow,
# the desk, a webcam frame, each drawn as in its condition but with the pen lifted. Label -1.
NO_DIGIT = "blank"
NO_DIGIT_LIKE = ("ink", "ruled", "squared", "pencil", "shadow", "desk", "perspective", "webcam")
_PEN_DOWN = contextvars.ContextVar("pen_down", default=True)

# Frame sizes (width, height) and how often each is drawn. 4000x3000 is rare: slow to make and read.
PHOTO_SIZES = ((640, 480), (1024, 768), (1280, 960), (480, 640), (768, 1024), (960, 1280), (4000, 3000), (3000, 4000))
_PHOTO_WEIGHTS = np.array([0.30, 0.24, 0.23, 0.07, 0.07, 0.07, 0.01, 0.01])
CANVAS_SIZES = ((280, 280), (400, 400), (512, 512), (600, 400), (640, 480), (800, 600), (1024, 768))
WEBCAM_SIZES = ((160, 120), (320, 240))
# Sizes an image of each condition can have once loaded upright (EXIF applied).
FRAME_SIZES = dict.fromkeys(CONDITIONS, PHOTO_SIZES) | {
    NO_DIGIT: PHOTO_SIZES + WEBCAM_SIZES,
    "paint": CANVAS_SIZES,
    "transparent": CANVAS_SIZES,
    "webcam": WEBCAM_SIZES,
}

_WORK = 8  # an MNIST pixel is this many work pixels when the stroke's centre line is found
_FAR = 1e4  # distance "outside the digit"


# --------------------------------------------------------------------------------------------
# The digit as a pen stroke
# --------------------------------------------------------------------------------------------


def _thinning_tables() -> tuple[np.ndarray, np.ndarray]:
    """Zhang-Suen thinning as two 256-entry tables over the 8-neighbour code (bit k = P(k+2))."""
    first, second = np.zeros(256, bool), np.zeros(256, bool)
    for code in range(256):
        p = [(code >> k) & 1 for k in range(8)]  # N, NE, E, SE, S, SW, W, NW
        count = sum(p)
        transitions = sum(p[k] == 0 and p[(k + 1) % 8] == 1 for k in range(8))
        if 2 <= count <= 6 and transitions == 1:
            first[code] = p[0] * p[2] * p[4] == 0 and p[2] * p[4] * p[6] == 0
            second[code] = p[0] * p[2] * p[6] == 0 and p[0] * p[4] * p[6] == 0
    return first, second


_THIN_TABLES = _thinning_tables()
_NEIGHBOURS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def _neighbour_code(img: np.ndarray) -> np.ndarray:
    """For a 0/1 uint8 image padded by one pixel: the 8-neighbour code of each interior pixel."""
    h, w = img.shape[0] - 2, img.shape[1] - 2
    code = np.zeros((h, w), np.uint8)
    for k, (dy, dx) in enumerate(_NEIGHBOURS):
        code |= img[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] << k
    return code


def _thin(mask: np.ndarray) -> np.ndarray:
    """A shape -> its one-pixel centre line (Zhang & Suen 1984)."""
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for table in _THIN_TABLES:
            inner = img[1:-1, 1:-1]
            delete = (inner == 1) & table[_neighbour_code(img)]
            if delete.any():
                inner[delete] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def _prune(skeleton: np.ndarray, steps: int) -> np.ndarray:
    """Remove short spurs: end points eaten back ``steps`` times (real ends lose that much too)."""
    img = np.pad(skeleton.astype(np.uint8), 1)
    for _ in range(steps):
        inner = img[1:-1, 1:-1]
        neighbours = sum(
            img[1 + dy : img.shape[0] - 1 + dy, 1 + dx : img.shape[1] - 1 + dx].astype(np.int32)
            for dy, dx in _NEIGHBOURS
        )
        ends = (inner == 1) & (neighbours <= 1)
        if ends.sum() == inner.sum():  # a dot or a tiny line: keep it
            break
        inner[ends] = 0
    return img[1:-1, 1:-1].astype(bool)


@dataclass(frozen=True)
class Stroke:
    """An MNIST digit's centre line: distance (work px) from each work pixel to it, and its box."""

    distance: np.ndarray
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 of the centre line, work px
    half: float  # the MNIST stroke's typical half width, work px
    hole: float  # radius of the smallest loop's hole (work px; inf without loops): a pen must leave it open


def _reopen_loops(shape: np.ndarray, skeleton: np.ndarray, inside: np.ndarray, half: float) -> np.ndarray:
    """Blobs become loops again: MNIST's thick pen filled small loops (a 9's head, a 6's belly).

    A pen drawing such a loop thinly leaves a ring where the blob's edge is, less half the thick
    pen's width; the blob's own centre line would be a bare stick (a 9 read as a 1). So where the
    shape is much thicker than its typical stroke, that ring replaces the centre line.
    """
    core = inside > 1.9 * half
    if not core.any():
        return skeleton
    inner = (inside > 1.05 * half).astype(np.uint8)
    _, labels = cv2.connectedComponents(inner, connectivity=8)
    fat = np.isin(labels, np.unique(labels[core]))
    fat &= labels > 0
    # Only blobs big enough to have held a loop: a crossing of two strokes is merely thick.
    fat = cv2.morphologyEx(fat.astype(np.uint8), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    if int(fat.sum()) < (1.2 * half) ** 2 * math.pi:
        return skeleton
    ring = fat & ~cv2.erode(fat, np.ones((3, 3), np.uint8))
    hidden = cv2.erode(fat, np.ones((5, 5), np.uint8)) > 0  # the blob's stick centre line goes
    return (skeleton & ~hidden) | (ring > 0)


def _extend_ends(skeleton: np.ndarray, inside: np.ndarray, half: float) -> np.ndarray:
    """Lengthen each end of the centre line along its direction, to half a stroke width from the shape's edge."""
    img = np.pad(skeleton.astype(np.uint8), 1)
    neighbours = sum(
        img[1 + dy : img.shape[0] - 1 + dy, 1 + dx : img.shape[1] - 1 + dx].astype(np.int32) for dy, dx in _NEIGHBOURS
    )
    out = skeleton.astype(np.uint8)
    h, w = skeleton.shape
    back = max(3, round(half))
    for y, x in zip(*np.nonzero(skeleton & (neighbours == 1)), strict=True):
        # Walk back along the line to find its direction.
        seen, (py, px) = {(y, x)}, (y, x)
        for _ in range(back):
            step = [
                (py + dy, px + dx)
                for dy, dx in _NEIGHBOURS
                if 0 <= py + dy < h
                and 0 <= px + dx < w
                and skeleton[py + dy, px + dx]
                and (py + dy, px + dx) not in seen
            ]
            if not step:
                break
            py, px = step[0]
            seen.add((py, px))
        direction = np.array([y - py, x - px], float)
        norm = float(np.hypot(*direction))
        if norm < 2:
            continue
        direction /= norm
        end, point = None, np.array([y, x], float)
        for _ in range(int(3 * half) + 1):
            point = point + direction
            iy, ix = round(float(point[0])), round(float(point[1]))
            if not (0 <= iy < h and 0 <= ix < w) or inside[iy, ix] < 0.5 * half:
                break
            end = (ix, iy)
        if end is not None:
            cv2.line(out, (int(x), int(y)), end, 1, 1)
    return out.astype(bool)


def centre_line(digit: np.ndarray | Stroke) -> Stroke:
    """Upscale smoothly, threshold to a shape, thin to its centre line, measure distance to it.

    A :class:`Stroke` is already one (several digits laid out as one: benchmarks/number_set.py).
    """
    if isinstance(digit, Stroke):
        return digit
    digit = np.ascontiguousarray(digit, dtype=np.uint8)
    return _centre_line(digit.tobytes())


@functools.lru_cache(maxsize=4)
def _centre_line(raw: bytes) -> Stroke:
    digit = np.frombuffer(raw, np.uint8).reshape(28, 28)
    g = digit.astype(np.float32) / 255.0
    side = 28 * _WORK
    big = cv2.resize(g, (side, side), interpolation=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(big, (0, 0), 0.4 * _WORK)
    shape = big > 0.38 * float(big.max())
    # Specks and scanner lines in a few MNIST digits, small and away from the digit: nobody draws
    # them, so they go. Small pieces close to it (a 7's broken bar) stay.
    count, labels, stats, _ = cv2.connectedComponentsWithStats(shape.astype(np.uint8), connectivity=8)
    if count > 2:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = {k for k in range(1, count) if areas[k - 1] >= 0.15 * areas.max()}
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (6 * _WORK + 1,) * 2)  # 3 MNIST pixels around
        for _ in range(3):  # pieces near kept pieces are kept, and pieces near those
            near = cv2.dilate(np.isin(labels, list(keep)).astype(np.uint8), disc) > 0
            grown = keep | set(np.unique(labels[near & (labels > 0)]).tolist())
            if grown == keep:
                break
            keep = grown
        shape = np.isin(labels, list(keep))
    ys, xs = np.nonzero(shape)
    if len(xs) == 0:
        raise ValueError("blank digit")
    y0, y1, x0, x1 = max(ys.min() - 2, 0), min(ys.max() + 3, side), max(xs.min() - 2, 0), min(xs.max() + 3, side)
    crop = shape[y0:y1, x0:x1]
    inside = cv2.distanceTransform(np.pad(crop, 1).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    thin = _thin(crop)
    along = inside[thin]
    half = float(np.median(along)) if along.size else 1.0  # the MNIST stroke's typical half width
    # Thinning a thick shape leaves spurs at its corners, about a half width long: cut them, then
    # grow every end back out to where the stroke ended (thinning also shortens real ends).
    pruned = _extend_ends(_prune(thin, max(2, round(0.8 * half))), inside, half)
    skeleton = np.zeros_like(shape)
    skeleton[y0:y1, x0:x1] = _reopen_loops(crop, pruned, inside, half)
    ys, xs = np.nonzero(skeleton)
    distance, radii, areas = _holes(skeleton)
    # A small cycle where two lines ran side by side is no loop: a real one survived MNIST's thick
    # pen, so it is wider than about a stroke, or long (a flattened loop).
    tiny = (radii < 0.9 * _WORK) | ((radii < 1.4 * _WORK) & (areas < 9 * _WORK**2))
    if tiny.any():
        _, holes = cv2.connectedComponents((~skeleton).astype(np.uint8), connectivity=4)
        skeleton = _thin(skeleton | np.isin(holes, np.flatnonzero(tiny)))
        ys, xs = np.nonzero(skeleton)
        distance, radii, areas = _holes(skeleton)
    loops = radii[(radii >= 1.4 * _WORK) | (areas >= 9 * _WORK**2)]
    hole = float(loops.min()) if loops.size else math.inf
    distance = cv2.GaussianBlur(distance, (0, 0), 1.0)  # the centre line's pixel steps smoothed away
    box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    return Stroke(distance, box, half, hole)


def _holes(skeleton: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance to the centre line, and the radius and area of each hole it encloses (by label; inf if not one).

    Holes are the background enclosed by the line, 4-connected as the line is 8-connected.
    """
    distance = cv2.distanceTransform((~skeleton).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    count, holes = cv2.connectedComponents((~skeleton).astype(np.uint8), connectivity=4)
    radii = np.zeros(count, np.float32)
    np.maximum.at(radii, holes.ravel(), distance.ravel())
    radii[np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))] = np.inf
    radii[0] = np.inf  # the line itself
    return distance, radii, np.bincount(holes.ravel(), minlength=count)


def usable(digit: np.ndarray) -> bool:
    """Whether the digit survives as a pen stroke: its centre line passes near all its ink.

    About 1 % of MNIST digits do not: a thick 3 whose middle stroke is a blob, a 9 whose head is
    a solid mass, a 2 that is one smudge. Drawn thin, they would no longer read as their label,
    so sets leave them out.
    """
    digit = np.asarray(digit)
    ys, xs = np.nonzero(digit >= 128)
    if len(ys) == 0:
        return False
    stroke = centre_line(digit)
    dist = stroke.distance[ys * _WORK + _WORK // 2, xs * _WORK + _WORK // 2]
    return float((dist > stroke.half + _WORK).mean()) <= 0.045


@dataclass
class Pen:
    rgb: tuple[float, float, float]
    width: float  # stroke width / digit height
    min_px: float = 1.3  # never thinner than this, in final image pixels
    opacity: float = 0.95
    pressure: float = 0.15  # how much the ink's darkness varies along the stroke
    wobble: float = 0.12  # how much the width varies
    grain: float = 0.0  # pencil: paper grain breaks the stroke up
    bleed: float = 0.0  # felt-tip: ink spreads into the paper (px)
    hard: bool = False  # no anti-aliasing (a paint program's pencil tool)


@dataclass(frozen=True)
class Placement:
    centre: tuple[float, float]  # where the stroke's box centre goes, in sheet pixels
    matrix: np.ndarray  # 2x2: work px -> sheet px
    width: float  # stroke width, sheet px
    height: float  # digit height, sheet px


def _smooth_noise(shape: tuple[int, int], cell: float, rng: np.random.Generator, cubic: bool = False) -> np.ndarray:
    """Smooth random field of about unit standard deviation, features about ``cell`` pixels wide."""
    h, w = shape
    cell = max(cell, 1.0)
    gh, gw = math.ceil(h / cell) + 3, math.ceil(w / cell) + 3
    low = rng.standard_normal((gh, gw), dtype=np.float32)
    low -= low.mean()
    low *= 1.0 / max(float(low.std()), 1e-6)
    # Interpolation between independent values lowers the variance by about this much.
    cubic = cubic or cell < 16  # faint large features: linear interpolation is as good, and faster
    low *= 1.0 if cell < 1.5 else 1.16 if cubic else 1.5
    method = cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR
    up = cv2.resize(low, (round(gw * cell), round(gh * cell)), interpolation=method)
    oy, ox = int(cell), int(cell)
    out = up[oy : oy + h, ox : ox + w]
    if out.shape != (h, w):
        out = cv2.resize(up, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


_TILE = 1024
_tile: np.ndarray | None = None


def _white_noise(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Unit Gaussian noise, cut at a random place from a fixed tile (drawing it anew is the slowest step)."""
    global _tile
    if _tile is None:
        _tile = np.random.default_rng(20240601).standard_normal((_TILE, _TILE), dtype=np.float32)
    h, w = shape
    oy, ox = (int(v) for v in rng.integers(0, _TILE, size=2))
    flip_y, flip_x, turn = (bool(v) for v in rng.integers(0, 2, size=3))
    tile = _tile.T if turn else _tile
    tile = tile[::-1] if flip_y else tile
    tile = tile[:, ::-1] if flip_x else tile
    rows = np.arange(oy, oy + h) % _TILE
    cols = np.arange(ox, ox + w) % _TILE
    if h + oy <= _TILE and w + ox <= _TILE:
        return np.array(tile[oy : oy + h, ox : ox + w], order="C")  # a copy: callers change it
    return np.ascontiguousarray(tile[rows[:, None], cols[None, :]])


def _fine_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Pixel-scale noise of unit standard deviation, blurred by ``sigma`` pixels."""
    n = _white_noise(shape, rng)
    if sigma > 0.2:
        kernel = cv2.getGaussianKernel(2 * math.ceil(3 * sigma) + 1, sigma)
        n = cv2.sepFilter2D(n, -1, kernel, kernel)
        n *= 1.0 / float((kernel**2).sum())  # the blurred noise's standard deviation, exactly
    return n


def _ink_alpha(
    stroke: Stroke, place: Placement, pen: Pen, sheet_shape: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, int, int]:
    """The pen's ink coverage in [0, 1] over the digit's region of the sheet, and that region's corner."""
    x0, y0, x1, y1 = stroke.box
    cw = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    matrix = place.matrix
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) - cw
    mapped = corners @ matrix.T + np.array(place.centre)
    pad = place.width + 4
    left = int(max(math.floor(mapped[:, 0].min() - pad), 0))
    top = int(max(math.floor(mapped[:, 1].min() - pad), 0))
    right = int(min(math.ceil(mapped[:, 0].max() + pad), sheet_shape[1]))
    bottom = int(min(math.ceil(mapped[:, 1].max() + pad), sheet_shape[0]))
    w, h = max(right - left, 1), max(bottom - top, 1)
    offset = np.array(place.centre) - np.array([left, top]) - matrix @ cw
    forward = np.hstack([matrix, offset[:, None]]).astype(np.float64)
    dist = cv2.warpAffine(
        stroke.distance, forward, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=_FAR
    )
    dist *= math.sqrt(abs(np.linalg.det(matrix)))
    radius = place.width / 2 * (1.0 + pen.wobble * np.tanh(_smooth_noise((h, w), place.height / 3, rng)))
    # Coverage of each pixel by a pen of that radius: anti-aliased, or not (a paint program's pencil).
    alpha = (dist <= radius).astype(np.float32) if pen.hard else np.clip(radius + 0.5 - dist, 0.0, 1.0)
    darkness = pen.opacity * (1.0 - pen.pressure * (0.5 + 0.5 * np.tanh(_smooth_noise((h, w), place.height / 4, rng))))
    if pen.grain > 0:
        grain = _fine_noise((h, w), max(0.6, place.width / 8), rng)
        darkness = darkness * np.clip(1.0 - pen.grain + pen.grain * (0.55 + 0.45 * grain), 0.05, 1.0)
    alpha = alpha * darkness
    if pen.bleed > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), pen.bleed)
    if not _PEN_DOWN.get():
        alpha[:] = 0.0
    return alpha.astype(np.float32), left, top


def _colour(field: np.ndarray, rgb) -> np.ndarray:
    """A grey field times a colour: (H, W) -> (H, W, 3). OpenCV: numpy's broadcast over 3 is slow."""
    return cv2.multiply(cv2.merge([field, field, field]), (*map(float, rgb), 0.0))


def _times(img: np.ndarray, field: np.ndarray) -> None:
    """img (H, W, 3) *= field (H, W), in place."""
    cv2.multiply(img, cv2.merge([field, field, field]), dst=img)


def _apply_ink(refl: np.ndarray, alpha: np.ndarray, left: int, top: int, rgb) -> None:
    """Ink is subtractive: it absorbs what the paper (and a printed line under it) would reflect."""
    h, w = alpha.shape
    region = refl[top : top + h, left : left + w]
    absorb = 1.0 - np.asarray(rgb, np.float32) / 255.0
    region *= 1.0 - alpha[..., None] * absorb


# --------------------------------------------------------------------------------------------
# Scenes
# --------------------------------------------------------------------------------------------


@dataclass
class Scene:
    size: tuple[int, int]  # final (width, height)
    digit: float  # digit height / short side of the frame
    pen: Pen
    paper: tuple[float, float, float] = (245.0, 245.0, 240.0)
    texture: float = 0.012
    lines: dict | None = None  # {"kind": "ruled" | "squared", ...}
    tilt: float = 0.0  # degrees: the page against the frame
    desk: dict | None = None
    perspective: dict | None = None
    gradient: float = 0.1
    vignette: float = 0.1
    blotch: float = 0.02
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    exposure: float = 0.95
    shadow: dict | None = None
    blur: float = 0.6  # px, final size
    motion: float = 0.0  # px of camera shake
    noise: float = 3.0  # grey levels
    sharpen: float = 0.0
    quality: int = 85
    webcam: dict | None = None
    extra: dict = field(default_factory=dict)


_PAPERS = (
    (247, 247, 244),  # white copier paper
    (250, 250, 252),  # bright white
    (242, 238, 228),  # off-white
    (244, 236, 214),  # cream
    (232, 232, 226),  # greyish
    (228, 222, 206),  # recycled
)
_DARK_INKS = ((22, 22, 28), (28, 36, 95), (12, 12, 15), (35, 48, 125), (45, 45, 52))
_BALLPOINT_COLOURS = ((185, 35, 45), (35, 60, 175), (25, 115, 65), (105, 45, 145))
_FELT_COLOURS = ((210, 40, 50), (30, 75, 200), (30, 145, 70), (130, 50, 170))
_MARKER_COLOURS = ((20, 20, 22), (20, 20, 22), (25, 50, 150), (195, 30, 40), (20, 110, 50), (90, 30, 120))
_TINTS = ((1.0, 1.0, 1.0), (1.02, 1.0, 0.95), (1.04, 1.0, 0.9), (0.97, 1.0, 1.04), (1.0, 1.01, 0.97))


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _jitter(rgb, rng: np.random.Generator, amount: float) -> tuple[float, float, float]:
    return tuple(float(np.clip(c + rng.uniform(-amount, amount), 0, 255)) for c in rgb)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _photo_size(rng: np.random.Generator, portrait: bool | None = None) -> tuple[int, int]:
    sizes, weights = list(PHOTO_SIZES), _PHOTO_WEIGHTS.copy()
    if portrait is not None:
        keep = [(w < h) == portrait for w, h in sizes]
        sizes = [s for s, k in zip(sizes, keep, strict=True) if k]
        weights = weights[np.array(keep)]
    weights = weights / weights.sum()
    return sizes[int(rng.choice(len(sizes), p=weights))]


def _phone_scene(rng: np.random.Generator, pen: Pen, digit: tuple[float, float] = (0.08, 0.6), **kw) -> Scene:
    """A phone photo of a sheet: the settings every photo condition varies."""
    size = kw.pop("size", None) or _photo_size(rng)
    return Scene(
        size=size,
        digit=_log_uniform(rng, *digit),
        pen=pen,
        paper=_jitter(_pick(rng, _PAPERS), rng, 4),
        texture=rng.uniform(0.006, 0.02),
        tilt=rng.uniform(-3, 3),
        gradient=rng.uniform(0.04, 0.18),
        vignette=rng.uniform(0.2, 0.35) if rng.random() < 0.15 else rng.uniform(0.03, 0.2),  # 0.2+: a flash
        blotch=rng.uniform(0.0, 0.025),
        tint=_pick(rng, _TINTS),
        exposure=rng.uniform(0.78, 1.06),  # over 1: bright paper clips, as phones often do
        blur=rng.uniform(0.3, 1.1),
        motion=rng.uniform(1.5, 4.0) if rng.random() < 0.1 else 0.0,
        noise=rng.uniform(1.0, 5.0),
        sharpen=rng.uniform(0.0, 0.7) if rng.random() < 0.5 else 0.0,
        quality=int(rng.integers(60, 96)),
        **kw,
    )


def _ballpoint(rng: np.random.Generator, rgb=None) -> Pen:
    return Pen(
        rgb=_jitter(rgb if rgb is not None else _pick(rng, _DARK_INKS), rng, 6),
        width=rng.uniform(1 / 25, 1 / 12),
        opacity=rng.uniform(0.8, 0.97),
        pressure=rng.uniform(0.08, 0.28),
        wobble=rng.uniform(0.05, 0.2),
    )


def _felt(rng: np.random.Generator, rgb) -> Pen:
    return Pen(
        rgb=_jitter(rgb, rng, 8),
        width=rng.uniform(1 / 12, 1 / 7),
        opacity=rng.uniform(0.88, 1.0),
        pressure=rng.uniform(0.03, 0.12),
        wobble=rng.uniform(0.03, 0.1),
        bleed=rng.uniform(0.3, 0.9),
    )


def _ruled(rng: np.random.Generator) -> dict:
    return {
        "kind": "ruled",
        "per_digit": rng.uniform(1.5, 3.0),  # line gaps the digit spans
        "rgb": _jitter(_pick(rng, ((140, 180, 225), (150, 190, 230), (165, 175, 200), (120, 165, 215))), rng, 10),
        "strength": rng.uniform(0.45, 0.9),
        "thickness": rng.uniform(1 / 40, 1 / 18),  # of a line gap
        "margin": rng.random() < 0.65,
        "double_margin": rng.random() < 0.3,
        "margin_at": rng.uniform(-0.1, 0.45),  # of the sheet's width from its left
        "margin_rgb": _jitter((225, 95, 105), rng, 15),
    }


def _squared(rng: np.random.Generator) -> dict:
    return {
        "kind": "squared",
        "per_digit": rng.uniform(2.0, 4.0),  # squares the digit spans
        "rgb": _jitter(_pick(rng, ((150, 185, 225), (165, 180, 205), (175, 175, 180), (140, 175, 210))), rng, 10),
        "strength": rng.uniform(0.35, 0.8),
        "thickness": rng.uniform(1 / 30, 1 / 15),  # of a square
        "bold_every": 5 if rng.random() < 0.35 else 0,
    }


def _make_ink(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    pen = _ballpoint(rng)
    if rng.random() < 0.25:  # gel pen: darker, a little wider
        pen = replace(pen, opacity=rng.uniform(0.93, 1.0), width=rng.uniform(1 / 16, 1 / 10))
    return _jpeg(_shoot(_phone_scene(rng, pen), digit, rng), rng)


def _make_exif(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    orientation = int(_pick(rng, (3, 6, 6, 8)))
    size = _photo_size(rng, portrait=orientation != 3)
    upright = Image.fromarray(_shoot(_phone_scene(rng, _ballpoint(rng), size=size), digit, rng))
    # What exif_transpose undoes: 3 -> turn 180, 6 -> turn 90 clockwise, 8 -> 90 anticlockwise.
    stored = upright.transpose(
        {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    )
    exif = Image.Exif()
    exif[0x010F] = _pick(rng, ("Apple", "samsung", "Google", "Xiaomi"))  # Make
    exif[0x0110] = _pick(rng, ("iPhone 12", "SM-G991B", "Pixel 7", "Redmi Note 11"))  # Model
    exif[0x0112] = orientation
    exif[0x0132] = "2024:03:14 15:09:26"  # DateTime
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=int(rng.integers(60, 96)), exif=exif.tobytes())
    return buffer.getvalue(), ".jpg"


def _make_ruled(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    pen = _ballpoint(rng) if rng.random() < 0.8 else _felt(rng, _pick(rng, _FELT_COLOURS))
    paper = (252, 244, 180) if rng.random() < 0.12 else None  # a yellow legal pad
    scene = _phone_scene(rng, pen, digit=(0.1, 0.6), lines=_ruled(rng))
    if paper:
        scene.paper = _jitter(paper, rng, 5)
    return _jpeg(_shoot(scene, digit, rng), rng)


def _make_squared(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    pen = _ballpoint(rng) if rng.random() < 0.8 else _pencil(rng)
    pen.min_px = 1.5
    scene = _phone_scene(rng, pen, digit=(0.08, 0.25), lines=_squared(rng))
    return _jpeg(_shoot(scene, digit, rng), rng)


def _pencil(rng: np.random.Generator) -> Pen:
    grey = rng.uniform(65, 100)
    return Pen(
        rgb=(grey, grey, grey + rng.uniform(0, 10)),
        width=rng.uniform(1 / 30, 1 / 14),
        min_px=1.6,
        opacity=rng.uniform(0.5, 0.82),
        pressure=rng.uniform(0.15, 0.35),
        wobble=rng.uniform(0.1, 0.25),
        grain=rng.uniform(0.3, 0.6),
    )


def _make_pencil(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    lines = _ruled(rng) if rng.random() < 0.2 else None
    scene = _phone_scene(rng, _pencil(rng), digit=(0.12, 0.6), lines=lines)
    return _jpeg(_shoot(scene, digit, rng), rng)


def _make_shadow(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    lines = _ruled(rng) if rng.random() < 0.2 else None
    scene = _phone_scene(rng, _ballpoint(rng), lines=lines)
    scene.shadow = {
        "darkness": rng.uniform(0.3, 0.6),
        "softness": rng.uniform(0.002, 0.012),  # of the short side
        "kind": _pick(rng, ("hand", "hand", "phone", "edge", "polygon")),
    }
    return _jpeg(_shoot(scene, digit, rng), rng)


def _desk_spec(rng: np.random.Generator) -> dict:
    return {
        "kind": _pick(rng, ("wood", "wood", "dark", "light")),
        "drop": rng.uniform(0.15, 0.45),  # drop shadow darkness
        "drop_offset": rng.uniform(0.002, 0.01),
        "drop_blur": rng.uniform(0.004, 0.015),
    }


def _make_desk(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    roll = rng.random()
    lines = _ruled(rng) if roll < 0.2 else _squared(rng) if roll < 0.3 else None
    if lines and lines["kind"] == "ruled":
        lines["margin"] = False
    scene = _phone_scene(rng, _ballpoint(rng), digit=(0.08, 0.45), lines=lines)
    _on_desk(scene, rng, None, corner=None, insets=(0.07, 0.33), rotation=8)
    return _jpeg(_shoot(scene, digit, rng), rng)


def _on_desk(scene, rng: np.random.Generator, kind: str | None, corner: bool | None, insets, rotation: float) -> None:
    """The sheet lies on a desk seen along one side (or a corner, drawn when ``corner`` is None), turned a little."""
    scene.desk = (
        _desk_spec(rng)
        | ({} if kind is None else {"kind": kind})
        | {
            "corner": rng.random() < 0.5 if corner is None else corner,
            "side": int(rng.integers(4)),
            "insets": rng.uniform(*insets, size=2),
            "rotation": rng.uniform(-rotation, rotation),
        }
    )
    scene.tilt = scene.desk["rotation"]


def _make_perspective(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    roll = rng.random()
    lines = _ruled(rng) if roll < 0.45 else _squared(rng) if roll < 0.75 else None
    if lines and lines["kind"] == "squared":
        lines["per_digit"] = rng.uniform(2.0, 3.5)
    scene = _phone_scene(rng, _ballpoint(rng), digit=(0.1, 0.45), lines=lines)
    scene.perspective = {
        "far": rng.uniform(0.5, 0.78),  # far edge's length / near edge's
        "side": int(_pick(rng, (0, 0, 0, 1, 2, 3))),  # which edge is far: mostly the top
        "rotation": rng.uniform(-12, 12),
        "near": rng.uniform(1.05, 1.35),  # near edge's length / frame
        "skew": rng.uniform(-0.12, 0.12),
    }
    scene.desk = _desk_spec(rng)
    scene.gradient = rng.uniform(0.12, 0.3)
    return _jpeg(_shoot(scene, digit, rng), rng)


def _make_colour_pen(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    if rng.random() < 0.55:
        pen = _ballpoint(rng, _pick(rng, _BALLPOINT_COLOURS))
    else:
        pen = _felt(rng, _pick(rng, _FELT_COLOURS))
    lines = _ruled(rng) if rng.random() < 0.15 else None
    return _jpeg(_shoot(_phone_scene(rng, pen, lines=lines), digit, rng), rng)


def _make_marker(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    pen = Pen(
        rgb=_jitter(_pick(rng, _MARKER_COLOURS), rng, 8),
        width=rng.uniform(1 / 9, 1 / 5),
        opacity=rng.uniform(0.92, 1.0),
        pressure=rng.uniform(0.02, 0.1),
        wobble=rng.uniform(0.02, 0.08),
        bleed=rng.uniform(0.4, 1.2),
    )
    lines = _ruled(rng) if rng.random() < 0.15 else None
    return _jpeg(_shoot(_phone_scene(rng, pen, digit=(0.15, 0.6), lines=lines), digit, rng), rng)


def _make_webcam(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    size = WEBCAM_SIZES[int(rng.random() < 0.4)]
    if rng.random() < 0.6:
        pen = _felt(rng, _pick(rng, ((20, 20, 22), (25, 45, 140), *_FELT_COLOURS)))
        pen.width = rng.uniform(1 / 12, 1 / 6)
    else:
        pen = _ballpoint(rng)
        pen.width = rng.uniform(1 / 16, 1 / 10)
    pen.min_px = 1.6
    low = 0.35 if size[0] == 160 else 0.25
    scene = _phone_scene(rng, pen, digit=(low, 0.65), size=size)
    scene.webcam = {
        "contrast": rng.uniform(0.55, 0.85),
        "offset": rng.uniform(-20, 15),
        "cast": _pick(rng, ((1, 1, 1), (1.12, 1.0, 0.82), (0.88, 1.0, 1.15), (0.92, 1.08, 0.9), (1.08, 0.95, 1.05))),
    }
    scene.exposure = rng.uniform(0.6, 0.88)
    scene.blur = rng.uniform(0.6, 1.4)
    scene.noise = rng.uniform(2.5, 8.0)
    scene.sharpen = 0.0
    scene.quality = int(rng.integers(60, 86))
    if rng.random() < 0.25:
        _on_desk(scene, rng, "dark", corner=False, insets=(0.05, 0.15), rotation=6)
    return _jpeg(_shoot(scene, digit, rng), rng)


def _make_paint(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    w, h = _pick(rng, CANVAS_SIZES)
    rgb = (
        (0, 0, 0)
        if rng.random() < 0.55
        else _pick(rng, ((220, 20, 30), (0, 60, 220), (0, 150, 40), (120, 30, 160), (60, 60, 60), (240, 120, 0)))
    )
    pen = Pen(rgb=rgb, width=_log_uniform(rng, 1 / 30, 1 / 5), min_px=2.0, opacity=1.0, pressure=0.0, wobble=0.0)
    pen.hard = rng.random() < 0.3
    alpha = _canvas_alpha(digit, (w, h), rng.uniform(0.2, 0.85), pen, rng)
    canvas = 255.0 - alpha[..., None] * (255.0 - np.asarray(rgb, np.float32))
    image = Image.fromarray(np.clip(np.rint(canvas), 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.3:
        image = image.convert("RGBA")  # some programs save an opaque alpha channel
    return _png(image), ".png"


def _make_transparent(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    w, h = _pick(rng, CANVAS_SIZES)
    roll = rng.random()
    rgb = (
        (255, 255, 255)
        if roll < 0.25
        else (0, 0, 0)
        if roll < 0.65
        else _pick(rng, ((40, 40, 40), (20, 30, 80), (70, 20, 20), (10, 60, 30)))
    )
    pen = Pen(rgb=rgb, width=_log_uniform(rng, 1 / 25, 1 / 6), min_px=2.0, opacity=1.0, pressure=0.0, wobble=0.0)
    alpha = _canvas_alpha(digit, (w, h), rng.uniform(0.25, 0.85), pen, rng)
    background = _pick(rng, ((0, 0, 0), (255, 255, 255), rgb))
    colour = np.empty((h, w, 3), np.float32)
    colour[:] = np.asarray(background, np.float32)
    colour[alpha > 0] = np.asarray(rgb, np.float32)
    rgba = np.dstack([colour, alpha * 255.0])
    image = Image.fromarray(np.clip(np.rint(rgba), 0, 255).astype(np.uint8), "RGBA")
    if rng.random() < 0.15 and rgb[0] == rgb[1] == rgb[2]:
        image = image.convert("LA")
    return _png(image), ".png"


def _canvas_alpha(digit: np.ndarray, size: tuple[int, int], fraction: float, pen: Pen, rng: np.random.Generator):
    """A digit drawn on a flat canvas: coverage in [0, 1]."""
    w, h = size
    stroke = centre_line(digit)
    place = _place(stroke, w, h, fraction * min(w, h), pen, None, None, rng)
    alpha, left, top = _ink_alpha(stroke, place, pen, (h, w), rng)
    full = np.zeros((h, w), np.float32)
    full[top : top + alpha.shape[0], left : left + alpha.shape[1]] = alpha
    return full


# --------------------------------------------------------------------------------------------
# Geometry: where the digit goes, the sheet against the frame
# --------------------------------------------------------------------------------------------


def _rotation(degrees: float) -> np.ndarray:
    t = math.radians(degrees)
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


def _apply_h(hm: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.hstack([points, np.ones((len(points), 1))]) @ hm.T
    return p[:, :2] / p[:, 2:3]


def _jacobian(hm: np.ndarray, point: np.ndarray) -> np.ndarray:
    x, y = point
    wx = hm[0, 0] * x + hm[0, 1] * y + hm[0, 2]
    wy = hm[1, 0] * x + hm[1, 1] * y + hm[1, 2]
    wz = hm[2, 0] * x + hm[2, 1] * y + hm[2, 2]
    u, v = wx / wz, wy / wz
    return (hm[:2, :2] - np.array([[u], [v]]) @ hm[2:3, :2]) / wz


def _place(
    stroke: Stroke,
    w: int,
    h: int,
    height: float,
    pen: Pen,
    hm: np.ndarray | None,
    paper: np.ndarray | None,
    rng: np.random.Generator,
    min_px: float = 1.0,
    sheet: tuple[int, int] | None = None,
) -> Placement:
    """Size, rotate, slant and position the digit, wholly inside the frame (and on the paper).

    ``hm`` maps sheet pixels to frame pixels (a page seen at an angle); ``paper`` is the paper's
    outline in the frame when a desk shows; ``sheet`` is the sheet's (width, height).
    """
    x0, y0, x1, y1 = stroke.box
    half = np.array([(x1 - x0) / 2, (y1 - y0) / 2])
    short = min(w, h)
    margin = 0.025 * short + 2
    for attempt in range(400):
        if attempt and attempt % 25 == 0:
            height *= 0.9
        width = max(pen.min_px * min_px, pen.width * height)
        scale = max(height - width, 0.5 * height) / (y1 - y0)
        if width > 1.1 * stroke.hole * scale:  # a fat pen on a small loop: the loop must stay open
            ratio = 1.1 * stroke.hole / (y1 - y0)  # the widest pen that leaves it open, per digit height
            width = max(pen.min_px * min_px, 0.5 * width, ratio * height / (1 + ratio))
            scale = max(height - width, 0.5 * height) / (y1 - y0)
        aspect = math.exp(rng.uniform(-0.12, 0.12))
        shear = rng.uniform(-0.12, 0.12)
        matrix = _rotation(rng.uniform(-10, 10)) @ np.array([[1, shear], [0, 1]]) @ np.diag([scale * aspect, scale])
        extent = np.abs(matrix) @ half + width / 2 + margin
        if 2 * extent[0] >= w or 2 * extent[1] >= h:
            continue
        centre = np.array([rng.uniform(extent[0], w - extent[0]), rng.uniform(extent[1], h - extent[1])])
        corners = centre + np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * (extent - margin)
        if hm is None:
            if paper is not None and any(
                cv2.pointPolygonTest(paper, (float(x), float(y)), True) < margin for x, y in corners
            ):
                continue
            return Placement((float(centre[0]), float(centre[1])), matrix, width, height)
        inverse = np.linalg.inv(hm)
        at = _apply_h(inverse, centre[None])[0]
        jac = _jacobian(hm, at)
        local = math.sqrt(abs(np.linalg.det(jac)))
        sheet_matrix = np.linalg.inv(jac) @ matrix
        sheet_half = np.abs(sheet_matrix) @ half + width / local / 2
        sheet_corners = at + np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * sheet_half
        frame_corners = _apply_h(hm, sheet_corners)
        sw, sh = sheet
        inside_sheet = np.all(sheet_corners >= margin) and np.all(sheet_corners < np.array([sw, sh]) - margin)
        inside_frame = np.all(frame_corners >= 2) and np.all(frame_corners < np.array([w, h]) - 2)
        if inside_sheet and inside_frame:
            return Placement((float(at[0]), float(at[1])), sheet_matrix, width / local, height / local)
    raise RuntimeError("could not place the digit")  # pragma: no cover - every scene leaves room


def _desk_outline(w: int, h: int, desk: dict) -> np.ndarray:
    """The paper's outline in the frame when a desk shows along one edge or at a corner."""
    side, (a, b) = desk["side"], desk["insets"]
    far = 0.8
    x0, y0, x1, y1 = -far * w, -far * h, (1 + far) * w, (1 + far) * h
    edges = [side, (side + 1) % 4] if desk["corner"] else [side]
    for edge, inset in zip(edges, (a, b), strict=False):
        if edge == 0:
            x0 = inset * w
        elif edge == 1:
            y0 = inset * h
        elif edge == 2:
            x1 = (1 - inset) * w
        else:
            y1 = (1 - inset) * h
    rect = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    centre = np.array([w / 2, h / 2])
    return ((rect - centre) @ _rotation(desk["rotation"]).T + centre).astype(np.float32)


def _perspective_quad(w: int, h: int, spec: dict) -> np.ndarray:
    """The page's corners (TL, TR, BR, BL) in the frame, seen at an angle: the far edge shorter."""
    # Built with the far edge at the top of a frame of the right shape, then turned to its side.
    turn = spec["side"]
    fw, fh = (w, h) if turn % 2 == 0 else (h, w)
    near = spec["near"] * fw
    far = near * spec["far"]
    skew = spec["skew"] * fw
    top, bottom = -0.06 * fh, 1.08 * fh
    quad = np.array(
        [
            [fw / 2 - far / 2 + skew, top],
            [fw / 2 + far / 2 + skew, top],
            [fw / 2 + near / 2, bottom],
            [fw / 2 - near / 2, bottom],
        ]
    )
    for _ in range(turn):  # turn the frame a quarter anticlockwise: (x, y) -> (y, fw - x)
        quad = np.stack([quad[:, 1], fw - quad[:, 0]], axis=1)
        fw, fh = fh, fw
    centre = np.array([w / 2, h / 2])
    quad = (quad - centre) @ _rotation(spec["rotation"]).T + centre
    # Order the corners as the page's TL, TR, BR, BL, starting from the one nearest the frame's TL.
    start = int(np.argmin(quad.sum(axis=1)))
    quad = np.roll(quad, -start, axis=0)
    (ax, ay), (bx, by) = quad[1] - quad[0], quad[3] - quad[0]
    if ax * by - ay * bx < 0:
        quad = quad[[0, 3, 2, 1]]
    return quad.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Paper, lines, desk, light, shadow, camera
# --------------------------------------------------------------------------------------------


def _paper(shape: tuple[int, int], scene: Scene, rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    texture = _fine_noise((h, w), 0.7, rng)
    texture += 0.6 * _smooth_noise((h, w), 12, rng)
    texture *= scene.texture
    texture += 0.01 * _smooth_noise((h, w), max(h, w) / 4, rng)
    texture += 1.0
    return _colour(texture, np.asarray(scene.paper) / 255.0)


def _draw_family(mask: np.ndarray, angle: float, gap: float, phase: float, thickness: float, pick=None) -> None:
    """Parallel lines across the sheet, ``gap`` apart, at ``angle`` degrees (0 = horizontal)."""
    h, w = mask.shape
    t = math.radians(angle)
    direction = np.array([math.cos(t), math.sin(t)])
    normal = np.array([-math.sin(t), math.cos(t)])
    centre = np.array([w / 2, h / 2])
    reach = math.hypot(w, h)
    count = int(reach / gap) + 2
    width = max(1, round(thickness))
    level = 255 if thickness >= 1 else round(255 * thickness)
    for k in range(-count, count + 1):
        if pick is not None and not pick(k):
            continue
        p = centre + normal * (phase + k * gap)
        a, b = p - direction * reach, p + direction * reach
        cv2.line(
            mask, tuple(np.rint(a * 16).astype(int)), tuple(np.rint(b * 16).astype(int)), level, width, cv2.LINE_AA, 4
        )


def _print(refl: np.ndarray, mask: np.ndarray, rgb, strength: float) -> None:
    """Printed lines absorb light like ink: only where the mask has them (lines are sparse)."""
    ys, xs = np.nonzero(mask)
    absorb = (1.0 - np.asarray(rgb, np.float32) / 255.0) * strength
    refl[ys, xs] *= 1.0 - (mask[ys, xs].astype(np.float32) / 255.0)[:, None] * absorb


def _draw_lines(refl: np.ndarray, spec: dict, digit_height: float, tilt: float, rng: np.random.Generator) -> None:
    h, w = refl.shape[:2]
    gap = digit_height / spec["per_digit"]
    thickness = max(0.7, spec["thickness"] * gap)
    mask = np.zeros((h, w), np.uint8)
    if spec["kind"] == "ruled":
        _draw_family(mask, tilt, gap, rng.uniform(0, gap), thickness)
        _print(refl, mask, spec["rgb"], spec["strength"])
        if spec["margin"]:
            mask[:] = 0
            offset = (spec["margin_at"] - 0.5) * w  # along the ruled lines, from the sheet's centre
            pick = (lambda k: k in (0, 1)) if spec["double_margin"] else (lambda k: k == 0)
            _draw_family(mask, tilt + 90, max(3.0, 2 * thickness + 2), -offset, thickness, pick)
            _print(refl, mask, spec["margin_rgb"], min(1.0, spec["strength"] + 0.15))
        return
    phase_x, phase_y = rng.uniform(0, gap, size=2)
    _draw_family(mask, tilt, gap, phase_y, thickness)
    _draw_family(mask, tilt + 90, gap, phase_x, thickness)
    _print(refl, mask, spec["rgb"], spec["strength"])
    if spec["bold_every"]:
        n = spec["bold_every"]
        mask[:] = 0
        first = int(rng.integers(n))
        _draw_family(mask, tilt, gap, phase_y, thickness * 1.8, lambda k: (k - first) % n == 0)
        _draw_family(mask, tilt + 90, gap, phase_x, thickness * 1.8, lambda k: (k - first) % n == 0)
        _print(refl, mask, spec["rgb"], min(1.0, spec["strength"] * 0.8))


def _desk_texture(shape: tuple[int, int], kind: str, rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    if kind == "wood":
        base = np.asarray(_jitter(_pick(rng, ((176, 134, 92), (112, 76, 50), (150, 88, 56), (196, 160, 112))), rng, 10))
        along_x = rng.random() < 0.5
        fh, fw = (h, w) if along_x else (w, h)
        gh, gw = max(fh // 2, 2), max(fw // 2, 2)  # made at half size: grain is soft in a photo anyway
        low = rng.standard_normal((max(gh // 2, 2), 8), dtype=np.float32)
        grain = cv2.resize(low, (gw, gh), interpolation=cv2.INTER_CUBIC)
        rows = np.arange(gh, dtype=np.float32)[:, None]
        period = rng.uniform(0.05, 0.15) * gh
        warp = rng.uniform(0.2, 0.5) * _smooth_noise((gh, gw), gw / 2, rng, cubic=True)
        rings = (0.5 + 0.5 * np.sin(2 * math.pi * (rows / period + warp))) ** 6
        shade = 1.0 + 0.05 * grain - 0.2 * rings + 0.06 * _smooth_noise((gh, gw), gh / 4, rng)
        shade = cv2.resize(shade.astype(np.float32), (fw, fh), interpolation=cv2.INTER_LINEAR)
        desk = _colour(shade if along_x else np.ascontiguousarray(shade.T), base / 255.0)
    else:
        level = rng.uniform(40, 85) if kind == "dark" else rng.uniform(188, 228)
        base = np.asarray(_jitter((level, level, level + rng.uniform(-5, 8)), rng, 4))
        shade = 1.0 + 0.035 * _fine_noise((h, w), 0.8, rng) + 0.04 * _smooth_noise((h, w), max(h, w) / 4, rng)
        desk = _colour(shade.astype(np.float32), base / 255.0)
    return desk.astype(np.float32)


def _light(shape: tuple[int, int], scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Illumination across the frame, about 1: a gradient, vignetting, soft blotches (computed small)."""
    h, w = shape
    sh, sw = 48, max(2, round(48 * w / h))
    ys, xs = np.mgrid[0:sh, 0:sw].astype(np.float32)
    xs, ys = xs / (sw - 1) - 0.5, ys / (sh - 1) - 0.5
    angle = rng.uniform(0, 2 * math.pi)
    light = 1.0 + scene.gradient * 2 * (math.cos(angle) * xs + math.sin(angle) * ys)
    cx, cy = rng.uniform(-0.2, 0.2, size=2)
    light *= 1.0 - scene.vignette * ((xs - cx) ** 2 + (ys - cy) ** 2) / 0.5
    light *= 1.0 + scene.blotch * _smooth_noise((sh, sw), 20, rng)
    return cv2.resize(light.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def _capsule(p0, p1, radius: float, n: int = 12) -> np.ndarray:
    """A finger or arm: a thick line with round ends, as a polygon."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    t = math.atan2(d[1], d[0])
    arc1 = [
        p1 + radius * np.array([math.cos(a), math.sin(a)]) for a in np.linspace(t - math.pi / 2, t + math.pi / 2, n)
    ]
    arc0 = [
        p0 + radius * np.array([math.cos(a), math.sin(a)]) for a in np.linspace(t + math.pi / 2, t + 3 * math.pi / 2, n)
    ]
    return np.array(arc1 + arc0)


def _ellipse(centre, axes, angle: float, n: int = 40) -> np.ndarray:
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    pts = np.stack([axes[0] * np.cos(a), axes[1] * np.sin(a)], axis=1)
    return pts @ _rotation(angle).T + np.asarray(centre, float)


def _shadow_shapes(w: int, h: int, kind: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Polygons (frame pixels) of a hard shadow cast by a hand, a phone, an edge or some object."""
    short, centre = min(w, h), np.array([w / 2, h / 2])
    side = int(rng.integers(4))
    # Where the shadow comes from: a point outside the frame beyond one edge.
    along = rng.uniform(0.1, 0.9)
    entry = np.array([(-0.1 * w, along * h), (along * w, -0.1 * h), (1.1 * w, along * h), (along * w, 1.1 * h)][side])
    inward = centre + rng.uniform(-0.25, 0.25, size=2) * np.array([w, h]) - entry
    inward /= np.linalg.norm(inward)
    angle = math.degrees(math.atan2(inward[1], inward[0]))
    reach = rng.uniform(0.35, 0.85) * math.hypot(w, h) * 0.6
    if kind == "hand":
        # A hand held over the page: palm, four fingers side by side, a thumb, the wrist.
        unit = rng.uniform(0.4, 0.75) * short  # palm width
        palm_centre = entry + inward * reach
        across = np.array([-inward[1], inward[0]])
        palm = _ellipse(palm_centre, (0.55 * unit, 0.5 * unit), angle + rng.uniform(-10, 10))
        arm = _capsule(palm_centre - inward * 2 * short, palm_centre, 0.4 * unit)
        shapes = [palm, arm]
        fan = rng.uniform(3, 8)
        curl = rng.uniform(-10, 10)
        for i, (offset, length) in enumerate(zip((-0.36, -0.12, 0.12, 0.36), (0.75, 0.92, 0.95, 0.8), strict=True)):
            a = math.radians(angle + curl + (i - 1.5) * fan)
            direction = np.array([math.cos(a), math.sin(a)])
            start = palm_centre + inward * 0.25 * unit + across * offset * unit
            bent = rng.uniform(0.55, 1.05) if rng.random() < 0.3 else rng.uniform(0.9, 1.1)
            shapes.append(_capsule(start, start + direction * length * bent * unit, 0.11 * unit))
        side_sign = 1 if rng.random() < 0.5 else -1
        a = math.radians(angle + side_sign * rng.uniform(40, 75))
        thumb_start = palm_centre + across * side_sign * 0.35 * unit - inward * 0.1 * unit
        direction = np.array([math.cos(a), math.sin(a)])
        shapes.append(_capsule(thumb_start, thumb_start + direction * rng.uniform(0.5, 0.8) * unit, 0.13 * unit))
        return shapes
    if kind == "phone":
        width, length = rng.uniform(0.3, 0.5) * short, reach + short
        end = entry + inward * reach
        normal = np.array([-inward[1], inward[0]])
        start = end - inward * length
        r = 0.1 * width
        half = width / 2
        body = [
            start + normal * half,
            end + normal * half - inward * r,
            end + normal * (half - r),
            end - normal * (half - r),
            end - normal * half - inward * r,
            start - normal * half,
        ]
        return [np.array(body)]
    if kind == "edge":
        # The shadow of a book, a ruler or the photographer: a straight or slightly bent edge.
        far = entry - inward * 3 * max(w, h)
        normal = np.array([-inward[1], inward[0]])
        edge = entry + inward * reach
        bend = rng.uniform(-0.15, 0.15) * short
        big = max(w, h)
        points = [
            far + normal * 3 * big,
            edge + normal * 2 * big,
            edge + normal * bend * 0.5,
            edge - normal * bend * 0.5 + inward * bend,
            edge - normal * 2 * big,
            far - normal * 3 * big,
        ]
        return [np.array(points)]
    # Some object: a random convex polygon reaching in from outside the frame.
    n = int(rng.integers(5, 8))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = rng.uniform(0.25, 0.5, n) * math.hypot(w, h)
    middle = entry + inward * reach * 0.5
    return [middle + np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)]


def _fill(shape: tuple[int, int], polygons: list[np.ndarray], scale: float = 1.0) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    polys = [np.rint(p * scale * 16).astype(np.int32) for p in polygons]
    for poly in polys:
        cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA, 4)
    return mask.astype(np.float32) / 255.0


def _shadow_mask(shape: tuple[int, int], spec: dict, rng: np.random.Generator) -> np.ndarray:
    """A shadow covering 20-60 % of the frame, edge softened."""
    h, w = shape
    check = 64 / max(w, h)
    best, best_error = None, math.inf
    for _ in range(40):
        polygons = _shadow_shapes(w, h, spec["kind"], rng)
        cover = float(_fill((max(2, round(h * check)), max(2, round(w * check))), polygons, check).mean())
        error = max(0.22 - cover, cover - 0.58, 0.0)
        if error < best_error:
            best, best_error = polygons, error
        if error == 0:
            break
    mask = _fill((h, w), best)
    sigma = spec["softness"] * min(w, h)
    return cv2.GaussianBlur(mask, (0, 0), max(sigma, 0.5))


def _shoot(scene: Scene, digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Render the scene: the sheet with its lines and the digit, the desk, light, then the camera."""
    big_w, big_h = scene.size
    factor = 1 / 3 if max(big_w, big_h) > 2000 else 1.0  # 12-megapixel frames: rendered small, enlarged
    over = {160: 4, 320: 3}.get(big_w, 1) if scene.webcam else 1  # webcams: rendered large, then shrunk
    factor *= over
    w, h = round(big_w * factor), round(big_h * factor)
    height = scene.digit * min(w, h)
    stroke = centre_line(digit)

    hm = outline = quad = None
    sheet_shape = (h, w)
    if scene.perspective:
        quad = _perspective_quad(w, h, scene.perspective)
        sw = int(max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3])))
        sh = int(max(np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1])))
        rect = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32)
        hm = cv2.getPerspectiveTransform(rect, quad)
        sheet_shape = (sh, sw)
    elif scene.desk:
        outline = _desk_outline(w, h, scene.desk)
    place = _place(stroke, w, h, height, scene.pen, hm, outline, rng, factor, (sheet_shape[1], sheet_shape[0]))

    refl = _paper(sheet_shape, scene, rng)
    if scene.lines:
        _draw_lines(refl, scene.lines, place.height, 0.0 if hm is not None else scene.tilt, rng)
    alpha, left, top = _ink_alpha(stroke, place, scene.pen, sheet_shape, rng)
    _apply_ink(refl, alpha, left, top, scene.pen.rgb)

    paper_mask = None
    if hm is not None:
        refl = cv2.GaussianBlur(refl, (0, 0), 0.5)
        refl = cv2.warpPerspective(refl, hm, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        paper_mask = _fill((h, w), [quad])
    elif outline is not None:
        paper_mask = _fill((h, w), [outline])
    if paper_mask is not None and scene.desk:
        desk = _desk_texture((h, w), scene.desk["kind"], rng)
        short = min(w, h)
        shift = scene.desk["drop_offset"] * short
        angle = rng.uniform(0, 2 * math.pi)
        move = np.float32([[1, 0, shift * math.cos(angle)], [0, 1, shift * math.sin(angle)]])
        drop = cv2.warpAffine(paper_mask, move, (w, h))
        drop = cv2.GaussianBlur(drop, (0, 0), scene.desk["drop_blur"] * short)
        drop *= -scene.desk["drop"]
        drop += 1.0
        _times(desk, drop)
        refl -= desk  # refl * m + desk * (1 - m), in place
        _times(refl, paper_mask)
        refl += desk

    light = _light((h, w), scene, rng)
    if scene.shadow:
        light *= 1.0 - scene.shadow["darkness"] * _shadow_mask((h, w), scene.shadow, rng)
    img = refl
    _times(img, light)
    cv2.multiply(img, (*(float(t) * 255.0 * scene.exposure for t in scene.tint), 0.0), dst=img)

    blur = scene.blur * factor
    if blur > 0.25:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    if scene.motion > 0:
        length = max(2, round(scene.motion * factor))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        turn = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, turn, (length, length))
        img = cv2.filter2D(img, -1, kernel / max(float(kernel.sum()), 1e-6))
    if (w, h) != (big_w, big_h):
        shrink = w > big_w
        img = cv2.resize(img, (big_w, big_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    if scene.webcam:
        cam = scene.webcam
        mean = float(img[::4, ::4].mean())
        img = (img - mean) * cam["contrast"] + (mean + cam["offset"])
        cv2.multiply(img, (*map(float, cam["cast"]), 0.0), dst=img)
    if scene.sharpen > 0:
        img = cv2.addWeighted(img, 1 + scene.sharpen, cv2.GaussianBlur(img, (0, 0), 1.2), -scene.sharpen, 0)
    # Sensor noise: mostly in brightness, growing with the light (shot noise), some in colour.
    level = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    np.clip(level, 0, 255, out=level)
    level *= 1 / 200.0
    sigma = cv2.sqrt(level)
    sigma *= 0.55 * scene.noise
    sigma += 0.45 * scene.noise
    sigma *= _white_noise(level.shape, rng)
    img += cv2.merge([sigma, sigma, sigma])
    chroma = cv2.merge([_white_noise((big_h // 2 + 1, big_w // 2 + 1), rng) for _ in range(3)])
    chroma *= 0.4 * scene.noise
    img += cv2.resize(chroma, (big_w, big_h), interpolation=cv2.INTER_LINEAR)
    img += 0.5
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8)


def _jpeg(rgb: np.ndarray, rng: np.random.Generator, quality: int | None = None) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    q = quality if quality is not None else int(rng.integers(60, 96))
    Image.fromarray(rgb, "RGB").save(buffer, "JPEG", quality=q)
    return buffer.getvalue(), ".jpg"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def _make_blank(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """A photo of one of the NO_DIGIT_LIKE conditions with nothing written on it."""
    return render_blank(_pick(rng, NO_DIGIT_LIKE), digit, rng)


def render_blank(like: str, digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """A photo as ``render(like, digit, rng)`` would take it, with the pen lifted: no ink at all."""
    lifted = _PEN_DOWN.set(False)
    try:
        return render(like, digit, rng)
    finally:
        _PEN_DOWN.reset(lifted)


_MAKERS = {
    NO_DIGIT: _make_blank,
    "ink": _make_ink,
    "paint": _make_paint,
    "transparent": _make_transparent,
    "exif": _make_exif,
    "ruled": _make_ruled,
    "squared": _make_squared,
    "pencil": _make_pencil,
    "shadow": _make_shadow,
    "desk": _make_desk,
    "perspective": _make_perspective,
    "colour_pen": _make_colour_pen,
    "webcam": _make_webcam,
    "marker": _make_marker,
}


def render(condition: str, digit: np.ndarray | Stroke, rng: np.random.Generator) -> tuple[bytes, str]:
    """One photo of ``digit`` (uint8 28x28, MNIST style) under ``condition``: (file bytes, ".jpg" or ".png").

    ``digit`` may also be a :class:`Stroke`, drawn as it is (a whole number: benchmarks/number_set.py).
    """
    if condition not in _MAKERS:
        raise ValueError(f"unknown condition {condition!r}; choose from {', '.join(CONDITIONS)}")
    if isinstance(digit, Stroke):
        return _MAKERS[condition](digit, rng)
    digit = np.asarray(digit)
    if digit.shape != (28, 28):
        raise ValueError(f"digit must be 28x28, got {digit.shape}")
    return _MAKERS[condition](digit.astype(np.uint8), rng)


# --------------------------------------------------------------------------------------------
# Writing a set
# --------------------------------------------------------------------------------------------


def _photo_rng(seed: int, condition: str, number: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(condition.encode()), number])


def _render_job(job: tuple) -> tuple[str, int, int, bytes]:
    """Render one photo from the first usable of its candidate digits: (file, index, label, bytes)."""
    condition, seed, number, candidates = job
    for k, (index, digit, label) in enumerate(candidates):
        if usable(digit) or k == len(candidates) - 1:
            data, suffix = render(condition, digit, _photo_rng(seed, condition, number))
            if condition == NO_DIGIT:
                return f"{condition}/{number:04d}_nodigit{suffix}", -1, -1, data
            return f"{condition}/{number:04d}_label{label}{suffix}", index, label, data
    raise ValueError("no candidate digits")  # pragma: no cover


def _init_worker() -> None:
    cv2.setNumThreads(1)


BACKUPS = 3  # candidate digits per photo: the first usable one is drawn


def candidate_digits(count: int, per_condition: int, seed: int, condition: str) -> np.ndarray:
    """Test digit indices (per_condition, BACKUPS) one condition may use, disjoint across conditions and photos.

    Each photo shows the first of its row that is :func:`usable`. Indices repeat only when the
    set needs more than ``count`` candidates.
    """
    order = np.random.default_rng([seed, 7]).permutation(count)
    k = CONDITIONS.index(condition) if condition in CONDITIONS else len(CONDITIONS) + zlib.crc32(condition.encode())
    start = k * per_condition * BACKUPS
    return order[(start + np.arange(per_condition * BACKUPS)) % count].reshape(per_condition, BACKUPS)


def write_set(
    out_dir: str | Path,
    images: np.ndarray,
    labels: np.ndarray,
    per_condition: int = 100,
    seed: int = 0,
    conditions=CONDITIONS,
    workers: int | None = None,
    progress: bool = False,
) -> list[dict]:
    """Render ``per_condition`` photos per condition from the given (test) digits into ``out_dir``.

    Files: ``<condition>/<index>_label<d>.<ext>`` and ``labels.csv`` (file, condition, label,
    mnist_index). Written into a temporary folder next to ``out_dir``, renamed at the end.
    Returns the rows of labels.csv as dicts.
    """
    out_dir = Path(out_dir)
    unknown = [c for c in conditions if c not in _MAKERS]
    if unknown:
        raise ValueError(f"unknown condition(s) {', '.join(unknown)}; choose from {', '.join(CONDITIONS)}")
    images, labels = np.asarray(images), np.asarray(labels)
    rows, jobs = [], []
    for condition in conditions:
        for number, row in enumerate(candidate_digits(len(images), per_condition, seed, condition)):
            candidates = [(int(i), images[i], int(labels[i])) for i in row]
            jobs.append((condition, seed, number, candidates))
            rows.append({"file": "", "condition": condition, "label": -1, "mnist_index": -1})
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    temp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    for condition in conditions:
        (temp / condition).mkdir(parents=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = workers or min(cores, 16)
    try:
        if workers > 1 and len(jobs) > 8:
            # Fresh processes, not forks: a fork of a process whose OpenCV threads ran can hang.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
                results = pool.map(_render_job, jobs, chunksize=4)
                _write_results(temp, rows, results, progress)
        else:
            _write_results(temp, rows, map(_render_job, jobs), progress)
        with open(temp / "labels.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["file", "condition", "label", "mnist_index"])
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
    return rows


def _write_results(temp: Path, rows: list[dict], results, progress: bool) -> None:
    start = time.perf_counter()
    for i, (row, (name, index, label, data)) in enumerate(zip(rows, results, strict=True)):
        (temp / name).write_bytes(data)
        row.update(file=name, label=label, mnist_index=index)
        if progress and (i + 1) % 100 == 0:
            print(f"  rendered {i + 1}/{len(rows)} photos ({time.perf_counter() - start:.0f} s)", file=sys.stderr)


def read_set(set_dir: str | Path) -> list[dict]:
    """The rows of a written set's labels.csv (label and mnist_index as ints)."""
    with open(Path(set_dir) / "labels.csv", newline="") as f:
        return [r | {"label": int(r["label"]), "mnist_index": int(r["mnist_index"])} for r in csv.DictReader(f)]


def thumbnail(image: Image.Image, box: tuple[int, int]) -> Image.Image:
    """An RGB thumbnail for a person: transparency shown over a checkerboard."""
    image = image.copy()
    image.thumbnail(box, Image.Resampling.LANCZOS)
    if image.mode in ("RGBA", "LA", "PA", "P"):
        image = image.convert("RGBA")
        ys, xs = np.indices((image.height, image.width))
        cells = (ys // 8 + xs // 8) % 2
        board = Image.fromarray(np.where(cells[..., None], 200, 150).repeat(3, axis=2).astype(np.uint8), "RGB")
        board.paste(image, (0, 0), image)
        return board
    return image.convert("RGB")


def contact_sheet(set_dir: str | Path, rows: list[dict], per_condition: int = 6, out: str | Path | None = None) -> Path:
    """A PNG with the first few photos of each condition, labelled, for a person to look at."""
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
        chosen = [row for row in rows if row["condition"] == condition][:per_condition]
        for c, row in enumerate(chosen):
            image = load_image(set_dir / row["file"])
            thumb = thumbnail(image, (tile_w, tile_h))
            x = label_w + c * (tile_w + 6)
            sheet.paste(thumb, (x + (tile_w - thumb.width) // 2, y + (tile_h - thumb.height) // 2))
            text = f"{Path(row['file']).name}  {image.width}x{image.height}"
            draw.text((x, y + tile_h + 2), text, fill="black")
    out = Path(out) if out else set_dir / "contact_sheet.png"
    sheet.save(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.photo_set",
        description="Render realistic photos of MNIST test digits, one folder per condition.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("out", type=Path, help="folder to write (replaced if it exists)")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("MNIST_DATA_DIR", DEFAULT_DATA_DIR)))
    parser.add_argument("--per-condition", type=int, default=100)
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
    print(f"{len(rows)} photos in {args.out} ({elapsed:.1f} s); labels.csv and contact sheet: {sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
