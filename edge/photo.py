"""Finding the ink of a handwritten digit in a photo: paper, lighting, lines and clutter taken out.

A phone or webcam photo holds more than the digit: uneven light and hard shadows, the desk
beside the sheet, ruled or squared paper, a margin line, specks. The steps, each a standard
document-imaging technique, done with OpenCV (fast, and it has wheels for the Pi):

1. Flat-field: the paper's brightness is estimated by a morphological closing (strokes are
   thinner than the window, so it fills them in; shadows and the desk are larger, so it keeps
   them) and divided out, giving each pixel's darkness relative to its own patch of paper.
2. Lines: long straight structures (ruled and grid lines, a margin, the edge of a shadow or of
   the sheet) are found with a probabilistic Hough transform and their own darkness divided
   out, so ink that crosses a line is kept and the line is not.
3. Ink: hysteresis thresholding relative to the noise and to the ink's own level.
4. The digit: connected strokes are grouped, and the group that looks most like a digit (ink
   mass, not touching the frame's border, near the centre) is kept; nearby pieces of it (a
   pen lift, a gap left by a line) join it.

Returns the digit's ink in [0, 1] on an exact-zero background, cropped to the digit.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, replace

import numpy as np

WORK_SIDE = 640  # photos are searched at most this many pixels a side: a digit a tenth of it keeps 48
# A line is "long" when it spans this fraction of the frame along its direction: a ruled line
# crosses the sheet; a digit's straight stroke (a 1, a 7's bar) rarely spans half the frame.
LONG_LINE = 0.5
# The paper is estimated in windows at least this wide (pixels): a webcam frame's strokes are
# several pixels wide however small the frame.
MIN_WINDOW = 15
# The digit's ink, at its darkest tenth, is at least this much darker than the paper ...
INK_LEVEL = 0.08
# ... and this many times the paper's noise (leftovers in blank photos: 4-35x, median 14x;
# digits: 8-50x, faint ones on squared paper 9-15x).
INK_NOISE = 6.0
# Groups of strokes looked at, likeliest first, before a photo is said to hold no digit.
CHOICES = 3
# Ink this many times longer than wide is one straight stroke: a 1, or a piece of a line (which
# goes on beyond its ends, a 1 does not). Grid lines' leftovers at their crossings are short: 4-5:1.
STRAIGHT = 4.0
# ... and one this many times longer than wide that spans most of the frame (LONG_LINE and more)
# is a line whatever it crosses: a margin in a shadow, a fold; a pen's 1 is far wider for its length.
HAIRLINE = 20.0
# ... and a stroke more than this far from upright (degrees), three times longer than wide, is a
# line: MNIST's 60,000 training digits have no 6:1 straight stroke beyond 55 degrees.
LYING = 65.0
# A digit is at least this fraction of the photo's longer side (a tenth is comfortable): smaller
# marks are specks, and too few pixels to read.
SMALLEST = 0.03
# A pixel whose chromaticity differs from the paper's by more than this (in any channel's share)
# is off the sheet: a wooden desk differs by about 0.08 (up to 0.2), paper in a shadow by under 0.01.
DESK_CHROMA = 0.04
# Discs wider than this (pixels) open a mask through distance transforms instead of OpenCV's
# opening, whose cost grows with the disc's area (:func:`_opened`).
DISC = 61
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, what Pillow's convert("L") uses


class NoInkError(Exception):
    """No digit-like ink: the message says why, in words a user can act on."""


@dataclass(frozen=True)
class Blob:
    """A group of connected strokes: bounding box (x, y, w, h) in work pixels, and its ink."""

    box: tuple[int, int, int, int]
    mass: float
    solid: bool  # a filled patch (a shadow's corner), not strokes of a roughly even width
    label: int
    contact: int  # how many of the frame's edge pixels it covers
    grid: tuple[int, int] = (0, 0)  # grid lines each way, if it is a piece of a grid (_grid_lines)

    @property
    def touches_border(self) -> bool:
        return self.contact > 0


def digit_ink(pixels: np.ndarray, min_contrast: float) -> np.ndarray:
    """A photo, 0-255 grey (H, W) or colour (H, W, 3) -> the digit's ink in [0, 1], cropped to the digit.

    ``min_contrast`` (of 255) is the least difference between ink and paper that counts as ink.
    Raises :class:`NoInkError` when there is no digit.
    """
    work = _work_size(pixels)
    small = _ink_gray(work)
    desk = _off_the_sheet(work)
    if float(np.ptp(small)) < min_contrast:
        raise NoInkError("no digit found: the image is blank, or the ink has too little contrast with the paper")
    if not _ink_is_dark(small):
        small = 255.0 - small
    # The paper is estimated in a window wider than the strokes, and the narrower it is, the
    # closer it follows a shadow's edge. Start narrow (a pen); if the strokes seen through the
    # widest window are wider than that (a marker, a tight crop), look again with a wider one.
    window, widest = max(_window(small.shape, 0.035), MIN_WINDOW), _window(small.shape, 0.25)
    raw = _raw_darkness(small)  # for telling shadows from ink, once for every search and choice
    found = _find(small, raw, window, min_contrast, desk)
    x, y, w, h = found.box
    seen = stroke_width(found.digit[y : y + h, x : x + w])  # near the window's width: only half filled in
    width = max(_hollow_width(small, found, widest), seen if seen > 0.8 * window else 0.0)
    if width > 0.3 * window:
        # Nothing found that way: the strokes were a pen's after all, beside a shadow the wider window merged in.
        with contextlib.suppress(NoInkError):
            found = _find(small, raw, min(2 * round(2.0 * width) + 1, widest), min_contrast, desk)
    found = _without_shadow(raw, found)
    ink = found.darkness * found.digit
    x, y, w, h = found.box
    return ink_levels(ink[y : y + h, x : x + w])


def ink_levels(ink: np.ndarray) -> np.ndarray:
    """A digit's darkness (0 off its strokes) -> MNIST's levels, in [0, 1]: below a floor (paper
    grain, JPEG noise) exactly 0, as MNIST's background; the stroke's core 1, as MNIST's strokes
    are saturated. The one step every digit goes through, alone or in a number (edge/number.py)."""
    core = float(np.percentile(ink[ink > 0], 35))
    floor = 0.4 * core
    return np.clip((ink - floor) / max(core - floor, 1e-3), 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class _Found:
    darkness: np.ndarray  # relative to the paper, lines divided out, in [0, 1]
    digit: np.ndarray  # bool mask of the digit's ink
    box: tuple[int, int, int, int]  # x, y, w, h of the digit
    floor: float  # the darkness below which nothing counts as ink


def _find(
    gray: np.ndarray, raw: np.ndarray, window: int, min_contrast: float, desk: np.ndarray | None = None
) -> _Found:
    """One search for the digit, with the paper estimated in a window x window neighbourhood.

    ``raw``: :func:`_raw_darkness` of ``gray``. ``desk``: where the photo is not the sheet's colour
    (a wooden desk beside it), if known.
    """
    import cv2

    flat = _flat_field(gray, window)
    darkness = _without_lines(flat, _paper_sigma(flat))
    noise = _robust_sigma(darkness)
    mask, floor = _ink_mask(darkness, noise, min_contrast / 255.0)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(_grouped(mask), connectivity=8)
    blobs = _blobs(darkness, mask, labels, stats)
    # The likeliest group of strokes, unless it is no ink after all (what is left of a line, the
    # edge of the sheet or a shadow, paper texture): then the next likeliest, a few times.
    first_problem = None
    for _ in range(CHOICES):
        try:
            chosen = _choose(blobs, darkness.shape)
        except NoInkError:
            if first_problem:
                raise NoInkError(first_problem) from None
            raise
        digit = np.isin(labels, [b.label for b in chosen]) & mask
        problem = _not_ink(flat, darkness, digit, noise)
        if problem is None and _on_the_desk(desk, digit):
            problem = "no digit found: only the desk beside the sheet or the sheet's edge, no ink"
        if problem is None and not _is_a_shadow(raw, digit):
            break
        first_problem = first_problem or problem or "no digit found: only a shadow or the desk, no ink"
        blobs = [b for b in blobs if b not in chosen]
    else:
        raise NoInkError(first_problem)
    x0 = min(b.box[0] for b in chosen)
    y0 = min(b.box[1] for b in chosen)
    x1 = max(b.box[0] + b.box[2] for b in chosen)
    y1 = max(b.box[1] + b.box[3] for b in chosen)
    return _Found(darkness, digit, (x0, y0, x1 - x0, y1 - y0), floor)


def _not_ink(flat: np.ndarray, darkness: np.ndarray, digit: np.ndarray, noise: float) -> str | None:
    """Why the strokes found are not a digit's ink, or None if they may be.

    Ink stands out from the paper's noise and is no piece of a longer straight line.
    """
    if float(np.percentile(darkness[digit], 90)) < max(INK_LEVEL, INK_NOISE * noise):
        return "no digit found: only faint marks (lines, shadows, the paper's edge), no ink"
    ys, xs = np.nonzero(digit)
    height, width = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    if max(height, width) < SMALLEST * max(digit.shape):
        return "no digit found: only specks; write the digit larger or come closer (a tenth of the photo reads well)"
    if _is_a_line(flat, digit, noise):
        return "no digit found: only a straight line (ruled or grid paper, the edge of the sheet)"
    if _is_a_hairline(flat, darkness, digit):
        return "no digit found: only hairlines left beside ruled or grid lines, no pen strokes"
    return None


def _is_a_hairline(flat: np.ndarray, darkness: np.ndarray, digit: np.ndarray) -> bool:
    """Is the ink a hairline that line removal left beside a ruled or grid line (a line's edge,
    slightly off its straight course)? One pixel wide along its whole length, which no pen's
    stroke is at the sizes a digit is read (the photo sets' 2,730 digits: a fifth or more of
    their ink has inked pixels on all four sides), and lying along lines that were divided out:
    a 1 drawn one pixel wide on a plain canvas is still a 1."""
    import cv2

    area = int(digit.sum())
    padded = np.pad(digit, 1)
    inside = int((padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & digit).sum())
    ys, xs = np.nonzero(digit)
    if inside >= 0.05 * area or area >= 1.5 * (max(np.ptp(ys), np.ptp(xs)) + 1):
        return False
    removed = (flat - darkness) > 0.5 * float(np.percentile(darkness[digit], 90))
    near = cv2.dilate(removed.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    return float(near[digit].mean()) >= 0.8


def _is_a_shadow(raw: np.ndarray, ink: np.ndarray, percentile: float = 95) -> bool:
    """Is the ink a piece of a larger dark area that it does not stand out from: a finger of a
    hand's shadow, a shadow's or the desk's corner, which the paper estimate partly took out?

    In the photo as it is (``raw``: :func:`_raw_darkness`), the pixels nearly as dark as the strokes, relative
    to what surrounds them, are followed out from the strokes; thin lines are opened away. A
    shadow goes on, wide and as dark as the piece found, out of the frame; ink ends at its
    strokes, and where it crosses a shadow it is darker than the shadow.
    """
    import cv2

    ys, xs = np.nonzero(ink)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    ring, near = _around(ink)
    level = float(np.median(raw[ink]))
    around = float(np.median(raw[ring])) if ring.any() else 0.0
    if level <= around:
        return False
    dark = (raw > around + 0.7 * (level - around)).astype(np.uint8)
    # Followed through what is wider than a ruled line; counted where wider than the strokes.
    dark = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    _, labels = cv2.connectedComponents(dark | near.astype(np.uint8), connectivity=8)
    touched = np.unique(labels[ink])
    size = 2 * round(2.0 * stroke_width(ink)) + 1
    wide = _opened(dark, size)
    extra = np.isin(labels, touched[touched > 0]) & wide.astype(bool)
    extra[max(y0 - 2, 0) : y1 + 2, max(x0 - 2, 0) : x1 + 2] = False  # a marker's inside is no shadow
    edges = extra[0].any() or extra[-1].any() or extra[:, 0].any() or extra[:, -1].any()
    if extra.sum() <= 2 * ink.sum() or not edges:
        return False  # a shadow comes in from outside the frame; a marker's stroke goes on inside it
    shadow = float(np.median(raw[extra]))
    return float(np.percentile(raw[ink], percentile)) < shadow + max(0.1, 0.3 * shadow)  # ink is darker


def _opened(mask: np.ndarray, size: int) -> np.ndarray:
    """``mask`` (0/1 uint8) opened with a disc ``size`` pixels across: what a disc that wide fits in.

    OpenCV's opening costs the disc's area per pixel: half a second for a marker's 275-pixel disc.
    Past :data:`DISC`, the same from two exact distance transforms (the disc fits where the mask
    reaches its radius; the opening is what lies within a radius of those centres), in
    milliseconds; it differs from OpenCV's digitised ellipse in about 0.1 % of the pixels, at the edges.
    """
    import cv2

    if size <= DISC:
        return cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    radius = size // 2 + 0.5
    centres = cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > radius
    if not centres.any():
        return np.zeros_like(mask)
    reach = cv2.distanceTransform((~centres).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (reach < radius).astype(np.uint8)


def _is_a_line(darkness: np.ndarray, ink: np.ndarray, noise: float) -> bool:
    """Is the ink one thin straight stroke that is part of a longer line: a piece of a ruled or
    grid line or of the sheet's edge that line removal left behind?

    Lying (more than 45 degrees from upright) it is never a digit. Upright it may be a 1, which
    ends where it ends; a line's piece goes on beyond its ends, in the photo before the lines
    were taken out.
    """
    ys, xs = np.nonzero(ink)
    if len(xs) < 12:
        return False
    points = np.column_stack([xs, ys]).astype(np.float64)
    centre = points.mean(axis=0)
    spread, axes = np.linalg.eigh(np.cov((points - centre).T))
    length, width = math.sqrt(12.0 * spread[1]), math.sqrt(12.0 * max(spread[0], 0.0))  # of a uniform bar
    dx, dy = axes[:, 1]
    if length >= 3.0 * max(width, 1.0) and abs(dy) < math.cos(math.radians(LYING)):
        return True  # a bar lying flat: 12 of MNIST's 60,000 training digits are like it
    if length < STRAIGHT * max(width, 1.0):
        return False
    height, frame_width = darkness.shape
    span = abs(dx) * frame_width + abs(dy) * height  # the frame's extent along the stroke
    if length >= HAIRLINE * max(width, 1.0) and length >= 1.6 * LONG_LINE * span:
        return True
    # Along the frame's edge, as straight as it and right beside it: the sheet's edge or
    # vignetting, not a pen.
    beside = width + 3.0
    if abs(dx) < 0.1 and (xs.max() <= beside or xs.min() >= frame_width - 1 - beside):
        return True
    if abs(dy) < 0.1 and (ys.max() <= beside or ys.min() >= height - 1 - beside):
        return True
    level = float(np.median(darkness[ink]))
    reach = (points - centre) @ np.array([dx, dy])
    across = np.arange(-5, 6)
    for sign, end in ((1.0, reach.max()), (-1.0, -reach.min())):
        along = np.arange(end + 0.15 * length + 3, end + length)
        xs_out = centre[0] + sign * dx * along[:, None] - dy * across[None, :]
        ys_out = centre[1] + sign * dy * along[:, None] + dx * across[None, :]
        axis = xs_out[:, 5], ys_out[:, 5]
        rows = (axis[0] >= 0) & (axis[0] <= frame_width - 1) & (axis[1] >= 0) & (axis[1] <= height - 1)
        if rows.sum() < 0.3 * length:
            continue
        # Across the line's way on, the typical darkness: a line going on is darkest on its
        # axis (a grid line beside it, parallel, is darkest off it), and paper on one side at least.
        ys_in = np.clip(np.rint(ys_out[rows]).astype(int), 0, height - 1)
        xs_in = np.clip(np.rint(xs_out[rows]).astype(int), 0, frame_width - 1)
        profile = np.median(darkness[ys_in, xs_in], axis=0)
        centre_level = float(profile[4:7].max())
        if (
            centre_level > max(0.5 * level, 4.0 * noise)
            and centre_level >= 0.9 * float(profile.max())
            and min(profile[0], profile[-1]) < 0.5 * centre_level
        ):
            return True
    return False


def _off_the_sheet(pixels: np.ndarray) -> np.ndarray | None:
    """Where a colour photo is not the paper's colour: a wooden or coloured desk beside the sheet.

    The paper's colour is the chromaticity (each channel's share of the sum) of the brighter half
    of the photo; a shadow darkens the paper but keeps its chromaticity, ink covers too little to
    matter around a digit. None for grey photos, or where nothing differs.
    """
    import cv2

    if pixels.ndim != 3:
        return None
    size = (max(1, pixels.shape[1] // 4), max(1, pixels.shape[0] // 4))
    small = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    total = np.maximum(small.sum(axis=2, keepdims=True), 1.0)
    chroma = small / total
    bright = total[..., 0] >= np.median(total)
    paper = np.median(chroma[bright], axis=0)
    differs = (np.abs(chroma - paper).max(axis=2) > DESK_CHROMA).astype(np.uint8)
    if not differs.any():
        return None
    return cv2.resize(differs, (pixels.shape[1], pixels.shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)


def _on_the_desk(desk: np.ndarray | None, ink: np.ndarray) -> bool:
    """Is most of what surrounds the ink off the sheet? Then it is the desk's grain or the sheet's edge."""
    if desk is None:
        return False
    ring, _ = _around(ink)
    return bool(ring.any()) and float(desk[ring].mean()) > 0.5


def _around(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ink's surroundings (its box grown by half its size, without the ink and its edges), and
    the ink with its edges."""
    import cv2

    ys, xs = np.nonzero(ink)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    grow = max(x1 - x0, y1 - y0) // 2 + 2
    ring = np.zeros_like(ink, dtype=bool)
    ring[max(y0 - grow, 0) : y1 + grow, max(x0 - grow, 0) : x1 + grow] = True
    near = cv2.dilate(ink.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return ring & ~near, near


def _raw_darkness(gray: np.ndarray) -> np.ndarray:
    """Darkness relative to the brightest paper, with no paper estimate: a shadow stays whole."""
    paper = max(float(np.percentile(_sample(gray), 90)), 1.0)
    return np.clip(1.0 - gray / paper, 0.0, 1.0)


def _without_shadow(raw: np.ndarray, found: _Found) -> _Found:
    """The strokes without the pieces of a shadow that touch them (a finger's shadow under the
    digit): in the photo as it is (``raw``: :func:`_raw_darkness`), those are much fainter than the
    ink, and part of a shadow."""
    faint = found.digit & (raw < 0.6 * float(np.percentile(raw[found.digit], 90)))
    if faint.sum() < 0.2 * found.digit.sum() or not _is_a_shadow(raw, faint, 50):
        return found
    digit = found.digit & ~faint
    ys, xs = np.nonzero(digit)
    box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    return _Found(found.darkness, digit, box, found.floor)


def _hollow_width(gray: np.ndarray, found: _Found, widest: int) -> float:
    """The width of the found strokes as the widest window sees them, or 0 if they were not hollow.

    A marker's stroke, wider than the window, is seen as its two edges; through the widest
    window it is solid, and as dark inside as at its edges. A pen's stroke in a shadow is seen
    whole either way; through the widest window the shadow around it shows too, but fainter.
    """
    import cv2

    x, y, w, h = found.box
    grow = max(w, h) // 2  # and around it: a filled loop beside a stroke may have been left out
    x0, y0 = max(x - grow, 0), max(y - grow, 0)
    x1, y1 = min(x + w + grow, gray.shape[1]), min(y + h + grow, gray.shape[0])
    darkness = _flat_field(gray, widest)[y0:y1, x0:x1]
    narrow = found.digit[y0:y1, x0:x1]
    wide = darkness > found.floor
    level = float(np.median(darkness[narrow]))
    beyond = (darkness > 0.5 * level) & ~cv2.dilate(narrow.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if beyond.sum() <= 0.02 * narrow.sum() or np.median(darkness[beyond]) < 0.85 * level:
        return 0.0  # nothing more to see, or only a shadow around the strokes
    return stroke_width(wide)


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width: ink area over half its outline (a stroke has two edges)."""
    padded = np.pad(mask, 1)
    inside = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    outline = int((mask & ~inside).sum())
    return 2.0 * float(mask.sum()) / outline if outline else 0.0


def _work_size(pixels: np.ndarray) -> np.ndarray:
    import cv2

    side = max(pixels.shape[:2])
    if side <= WORK_SIDE:
        return pixels.astype(np.float32)
    scale = WORK_SIDE / side
    size = (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale)))
    return cv2.resize(pixels.astype(np.float32), size, interpolation=cv2.INTER_AREA)


def _ink_gray(pixels: np.ndarray) -> np.ndarray:
    """Colour -> grey that keeps the ink's contrast: the channels the ink darkens, weighted by how much.

    Black ink and shadows darken all three channels alike, and luma serves them; a red pen on
    green paper barely changes luma but darkens green and blue. The ink is taken to be the
    strongest deviations from the local paper colour (on a small copy: fast, and noise averages out).
    """
    import cv2

    if pixels.ndim == 2:
        return pixels
    luma = pixels @ LUMA
    scale = min(1.0, 160 / max(pixels.shape[:2]))
    size = (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale)))
    small = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    paper = cv2.medianBlur(np.clip(small, 0, 255).astype(np.uint8), _window(small.shape[:2], 0.1))
    darkness = 1.0 - small / np.maximum(paper.astype(np.float32), 8.0)
    strength = darkness.max(axis=2)
    strong = strength >= max(float(np.percentile(strength, 99.5)), 0.1)
    if not strong.any():
        return luma
    absorbed = np.clip(darkness[strong].mean(axis=0), 0.0, None)
    if absorbed.min() > 0.5 * absorbed.max():  # grey ink or a shadow: luma's noise is lowest
        return luma
    return pixels @ (absorbed / absorbed.sum()).astype(np.float32)


def _window(shape: tuple[int, ...], fraction: float) -> int:
    """An odd window size, a fraction of the image's longer side."""
    return max(3, 2 * round(fraction * max(shape) / 2) + 1)


def _ink_is_dark(gray: np.ndarray) -> bool:
    """Dark ink on light paper (a photo) or light on dark (a blackboard, MNIST itself)?

    Paper is most of the frame, so a frame that is mostly light holds dark ink (the desk beside
    a sheet or the corners of a page seen at an angle must not say otherwise). In a mostly dark
    frame, the paper is what a local median sees (ink is the minority in any large window), and
    the larger mass of strong deviations from it, darker or lighter, is the ink. On a small
    copy: fast, and noise averages out.
    """
    import cv2

    low, middle, high = np.percentile(_sample(gray), [2, 50, 98])
    if high - low > 16.0 and middle > (low + high) / 2:  # (a digit on 2 % of the frame: no range)
        return True
    scale = min(1.0, 320 / max(gray.shape))
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    small = np.clip(small, 0, 255).astype(np.uint8)
    paper = cv2.medianBlur(small, _window(small.shape, 0.1)).astype(np.float32)
    small = small.astype(np.float32)
    # A shadow's edge deviates from the median by the shadow's depth either way; ink deviates
    # further, relative to the brighter side: the most extreme deviations say which is ink.
    darker = np.clip((paper - small) / np.maximum(paper, 1.0), 0.0, 1.0)
    lighter = np.clip((small - paper) / np.maximum(small, 1.0), 0.0, 1.0)
    dark_top, light_top = np.percentile(darker, 99.99), np.percentile(lighter, 99.99)
    if abs(dark_top - light_top) > 0.1:
        return bool(dark_top > light_top)
    # Otherwise the larger mass of strong deviations, darker or lighter, is the ink.
    size = (max(1, round(small.shape[1] / 2)), max(1, round(small.shape[0] / 2)))
    small = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
    paper = cv2.medianBlur(np.clip(small, 0, 255).astype(np.uint8), _window(small.shape, 0.1)).astype(np.float32)
    deviation = small - paper
    strong = np.abs(deviation) > max(3.0 * _robust_sigma(deviation), 8.0)
    return float(-deviation[strong & (deviation < 0)].sum()) >= float(deviation[strong & (deviation > 0)].sum())


def _flat_field(gray: np.ndarray, window: int) -> np.ndarray:
    """Darkness relative to the paper around each pixel, in [0, 1]: lighting and shadows divided out."""
    import cv2

    smooth = cv2.GaussianBlur(gray, (3, 3), 0)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (window, window))
    paper = cv2.morphologyEx(smooth, cv2.MORPH_CLOSE, kernel)
    paper = cv2.blur(paper, (5, 5))
    return np.clip(1.0 - smooth / np.maximum(paper, 8.0), 0.0, 1.0)


def _without_lines(darkness: np.ndarray, noise: float) -> np.ndarray:
    """Divide out long straight lines: ruled and squared paper, a margin, a sheet's or shadow's edge.

    Ink crossing a line is darker than the line, and keeps its own darkness after the division.
    """
    import cv2

    height, width = darkness.shape
    candidates = darkness > max(4.0 * noise, 0.04)
    # A faint line is broken up by the paper's noise; averaged along itself (lines near the
    # frame's axes: ruled and squared paper), it is whole again and the noise a third.
    along = np.maximum(cv2.blur(darkness, (9, 1)), cv2.blur(darkness, (1, 9)))
    candidates = (candidates | (along > max(3.0 * _paper_sigma(along), 0.03))).astype(np.uint8)
    shortest = LONG_LINE * min(height, width)
    thickness = max(3, round(max(height, width) / 200))

    def hough(gap: int) -> np.ndarray:
        found = cv2.HoughLinesP(
            candidates,
            rho=1,
            theta=math.pi / 360,
            threshold=max(10, round(0.6 * shortest)),
            minLineLength=shortest,
            maxLineGap=gap,
        )
        return np.zeros((0, 4), np.int32) if found is None else found.reshape(-1, 4)

    segments = hough(max(2, round(0.01 * max(height, width))))
    # Each line found is taken out of the picture before the next is looked for, and on squared
    # paper a bold line's width cuts every line across it into pieces shorter than a line: look
    # again across a family of lines, bridging their width.
    if (across := _across_family(segments, thickness)) is not None:
        more = hough(4 * thickness)
        segments = np.concatenate([segments, more[_parallel(_segment_angles(more), across)]])
    if not len(segments):
        return darkness
    widen = cv2.dilate(darkness, np.ones((3, 3), np.uint8))  # the line's darkness, a pixel off or not
    found = []  # (darkness, angle, offset, crossing, long enough alone, start, end, width)
    for segment in segments:
        x1, y1, x2, y2 = (float(v) for v in segment)
        length = math.hypot(x2 - x1, y2 - y1)
        angle = math.atan2(y2 - y1, x2 - x1) % math.pi
        span = min(width / max(abs(math.cos(angle)), 1e-6), height / max(math.sin(angle), 1e-6))
        # Shorter than LONG_LINE of its way across the frame, it counts only as one of a family
        # (the noise breaks a faint ruled line into pieces).
        lone_ok = length >= LONG_LINE * span
        x1, y1, x2, y2 = _centred_on_line(darkness, (x1, y1, x2, y2), thickness)
        steps = np.linspace(0.0, 1.0, max(2, round(length)))
        xs = np.clip(np.rint(x1 + (x2 - x1) * steps).astype(int), 0, width - 1)
        ys = np.clip(np.rint(y1 + (y2 - y1) * steps).astype(int), 0, height - 1)
        level = float(np.median(widen[ys, xs]))
        crossing = length >= 0.9 * span  # frame to frame: no digit's stroke does that
        # A line is thin: paper on both sides of it (a double margin line: right beside it, or
        # a little further on). Beside the middle of a thick stroke is ink.
        sides = []
        for sign in (1, -1):
            levels = []
            for beside in range(thickness, (2 * thickness + 5) if crossing else (thickness + 3), 2):
                sx, sy = -math.sin(angle) * beside * sign, math.cos(angle) * beside * sign
                across = darkness[np.clip(ys + round(sy), 0, height - 1), np.clip(xs + round(sx), 0, width - 1)]
                levels.append(float(np.median(across)))
            sides.append(min(levels))
        if max(sides) > 0.5 * level:
            continue
        offset = x1 * math.sin(angle) - y1 * math.cos(angle)
        drawn = max(thickness, _line_width(darkness, xs, ys, angle, thickness) + 2)
        found.append(
            (level, angle, offset, crossing and lone_ok, lone_ok, (round(x1), round(y1)), (round(x2), round(y2)), drawn)
        )
    # A ruled or squared sheet has families of parallel lines; a lone straight line (a margin, an
    # edge) is taken out if it crosses the whole frame (a digit lies inside the frame) or is
    # fainter than the ink; a 7's bar in a tight crop is neither.
    peak = float(cv2.blur(darkness, (3, 3)).max())
    kept = []
    for level, angle, offset, crossing, lone_ok, start, end, drawn in found:
        shifts = sorted(
            shift
            for _, other, shift, _, _, _, _, _ in found
            if abs(math.remainder(other - angle, math.pi)) < 0.07 and abs(shift - offset) > 2 * thickness
        )
        # Other lines beside it (pieces of one line share its offset): a sheet's ruling has many.
        family = sum(1 for i, shift in enumerate(shifts) if i == 0 or shift - shifts[i - 1] > 2 * thickness)
        ruled = family >= 3
        if ruled:  # printed across the sheet: the noise may have hidden its ends
            start, end = _across_frame(start, end, angle, darkness.shape)
        if ruled or (lone_ok and (len(shifts) >= 2 or crossing or level < 0.6 * peak)):
            kept.append((level, start, end, drawn))
    lines = np.zeros_like(darkness)
    for level, start, end, drawn in sorted(kept):  # darkest last: where lines cross, the darker one counts
        cv2.line(lines, start, end, level, drawn)
    return np.clip(1.0 - (1.0 - darkness) / np.maximum(1.0 - lines, 0.05), 0.0, 1.0)


def _across_family(segments: np.ndarray, thickness: int) -> float | None:
    """The angle across the largest family of parallel lines among Hough segments (3 or more
    lines, their pieces counted once: a ruled or squared sheet), or None if there is none, or if
    lines across it were found already (a second search is a full-frame pass: only where needed)."""
    angles = _segment_angles(segments)
    offsets = segments[:, 0] * np.sin(angles) - segments[:, 1] * np.cos(angles)

    def lines(angle: float) -> int:  # lines at about this angle, a line's pieces counted once
        shifts = np.sort(offsets[_parallel(angles, angle)])
        return 1 + int((np.diff(shifts) > 2 * thickness).sum()) if shifts.size else 0

    if not len(angles):
        return None
    angle = float(max(angles, key=lines))  # the first of the largest families
    return angle + math.pi / 2 if lines(angle) >= 3 and lines(angle + math.pi / 2) < 3 else None


def _segment_angles(segments: np.ndarray) -> np.ndarray:
    """Hough segments (N, 4) -> their angles in [0, pi)."""
    return np.arctan2(segments[:, 3] - segments[:, 1], segments[:, 2] - segments[:, 0]) % math.pi


def _parallel(angles: np.ndarray, angle: float) -> np.ndarray:
    """Which angles are within 0.07 rad (4 degrees) of ``angle``, as lines (modulo pi)."""
    return np.abs(np.remainder(angles - angle + math.pi / 2, math.pi) - math.pi / 2) < 0.07


def _across_frame(start: tuple[int, int], end: tuple[int, int], angle: float, shape: tuple[int, int]) -> tuple:
    """A segment's line from one edge of the frame to the other."""
    height, width = shape
    dx, dy = math.cos(angle), math.sin(angle)
    reach = float(width + height)
    x, y = start
    ends = []
    for sign in (-1.0, 1.0):
        # the furthest point along the line still inside the frame
        limits = []
        if abs(dx) > 1e-6:
            limits.append(((width - 1 if sign * dx > 0 else 0) - x) / (sign * dx))
        if abs(dy) > 1e-6:
            limits.append(((height - 1 if sign * dy > 0 else 0) - y) / (sign * dy))
        t = max(0.0, min(min(limits, default=reach), reach))
        ends.append((round(x + sign * t * dx), round(y + sign * t * dy)))
    return ends[0], ends[1]


def _line_width(darkness: np.ndarray, xs: np.ndarray, ys: np.ndarray, angle: float, thin: int) -> int:
    """How many pixels wide a line is: across it, its typical darkness is over a third of its peak.

    A printed line is often wider than a pen's: taken out narrower, its two edges would be left
    behind as long thin strokes.
    """
    height, width = darkness.shape
    offsets = np.arange(-3 * thin, 3 * thin + 1)
    across_x = np.clip(np.rint(xs[:, None] - math.sin(angle) * offsets[None, :]).astype(int), 0, width - 1)
    across_y = np.clip(np.rint(ys[:, None] + math.cos(angle) * offsets[None, :]).astype(int), 0, height - 1)
    profile = np.median(darkness[across_y, across_x], axis=0)
    return int((profile > profile.max() / 3.0).sum())


def _centred_on_line(darkness: np.ndarray, segment: tuple[float, ...], reach: int) -> tuple[float, ...]:
    """A Hough segment moved onto the line's darkest pixels: its angle is a half degree coarse,
    a few pixels off at the ends of a long line, which would leave a trace of the line behind."""
    import cv2

    height, width = darkness.shape
    x1, y1, x2, y2 = segment
    length = math.hypot(x2 - x1, y2 - y1)
    nx, ny = -(y2 - y1) / length, (x2 - x1) / length
    steps = np.linspace(0.0, 1.0, max(2, round(length / 2)))[:, None]
    offsets = np.arange(-reach, reach + 1)[None, :]
    xs = np.clip(np.rint(x1 + (x2 - x1) * steps + nx * offsets).astype(int), 0, width - 1)
    ys = np.clip(np.rint(y1 + (y2 - y1) * steps + ny * offsets).astype(int), 0, height - 1)
    best = np.argmax(darkness[ys, xs], axis=1)
    rows = np.arange(len(best))
    points = np.column_stack([xs[rows, best], ys[rows, best]]).astype(np.float32)
    vx, vy, px, py = (float(v) for v in cv2.fitLine(points, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel())
    ends = [((x - px) * vx + (y - py) * vy) for x, y in ((x1, y1), (x2, y2))]
    return px + vx * ends[0], py + vy * ends[0], px + vx * ends[1], py + vy * ends[1]


def _ink_mask(darkness: np.ndarray, noise: float, min_contrast: float) -> tuple[np.ndarray, float]:
    """Hysteresis: strokes that reach half the ink's level somewhere, followed down to a quarter."""
    import cv2

    floor = max(5.0 * noise, 0.05)
    candidates = darkness > floor
    if candidates.sum() < 4:
        raise NoInkError("no digit found: the image is blank, or the ink has too little contrast with the paper")
    level = float(np.percentile(darkness[candidates], 99))
    if level < max(min_contrast, 2.0 * floor):
        raise NoInkError("no digit found: the image is blank, or the ink has too little contrast with the paper")
    low = (darkness > max(floor, 0.25 * level)).astype(np.uint8)
    count, labels = cv2.connectedComponents(low, connectivity=8)
    strong = np.zeros(count, bool)
    strong[np.unique(labels[darkness > max(floor, 0.5 * level)])] = True
    strong[0] = False
    return strong[labels], max(floor, 0.25 * level)


def _grouped(mask: np.ndarray) -> np.ndarray:
    """Join strokes a pen lift or a removed line cut apart: a small closing before labelling."""
    import cv2

    size = _window(mask.shape, 0.012)
    return cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))


def _blobs(darkness: np.ndarray, mask: np.ndarray, labels: np.ndarray, stats: np.ndarray) -> list[Blob]:
    """Describe each group of strokes. Solidity: a stroke of width s is s/2 from its edge at
    most; a filled patch is as far from its edge, at its middle, as its mean width."""
    import cv2

    count = len(stats)
    inside = labels[mask]
    mass = np.bincount(inside, weights=darkness[mask], minlength=count)
    area = np.bincount(inside, minlength=count)
    eroded = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    outline = np.bincount(labels[mask & ~eroded], minlength=count)
    depth = np.zeros(count)
    np.maximum.at(depth, inside, cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)[mask])
    edge = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
    contact = np.bincount(edge, minlength=count)
    blobs = []
    for i in range(1, count):
        if mass[i] <= 0:
            continue
        x, y, w, h = (int(v) for v in stats[i, : cv2.CC_STAT_AREA])
        mean_width = 2.0 * area[i] / max(outline[i], 1)
        grid = (0, 0)
        if min(w, h) >= 12:  # a speck has no room for a grid's cell (_grid_lines): not worth cropping
            grid = _grid_lines(mask[y : y + h, x : x + w] & (labels[y : y + h, x : x + w] == i))
        blobs.append(Blob((x, y, w, h), float(mass[i]), bool(depth[i] > 0.85 * mean_width), i, int(contact[i]), grid))
    return _patches_told(blobs, mask, labels, area)


def _patches_told(blobs: list[Blob], mask: np.ndarray, labels: np.ndarray, area: np.ndarray) -> list[Blob]:
    """The heaviest group is the digit's strokes, not a filled patch, where the depth test alone
    called it solid (a pencil's grain leaves pinholes, a small loop fills in): taken for a patch,
    the digit's main piece was left out of it. Strokes fill little of their box (under 0.3) and are
    about as wide as the pen's (measured without the patches, which would widen it); a shadow's
    corner fills half its box or more. Where many patches weigh alike (the paper's grain, a grid's
    crossings), none stands out as the digit and all stay patches."""
    heaviest = max((b.mass for b in blobs), default=0.0)
    if sum(b.solid and b.mass >= 0.25 * heaviest for b in blobs) > 3:
        return blobs  # the paper's grain, many patches of a weight: none stands out as the digit

    def in_question(b: Blob) -> bool:  # called solid, heavy, upright enough, and filling little of its box
        _, _, w, h = b.box
        return b.solid and b.mass >= 0.5 * heaviest and w <= 2 * h and area[b.label] < 0.3 * w * h

    sparse = [b for b in blobs if in_question(b)]
    if not sparse:
        return blobs  # no full-frame pass for the pen's width where nothing is in question
    pen = pen_width(mask, labels, blobs, default=0.0)
    strokes_too = set()
    for blob in sparse:
        x, y, w, h = blob.box
        if stroke_width(mask[y : y + h, x : x + w] & (labels[y : y + h, x : x + w] == blob.label)) < 2.5 * pen:
            strokes_too.add(blob.label)
    return [replace(b, solid=False) if b.label in strokes_too else b for b in blobs]


def pen_width(mask: np.ndarray, labels: np.ndarray, blobs: list[Blob], default: float) -> float:
    """The pen's width measured without the filled patches (a shadow's corner, a dark object), which
    would widen it: what tells a patch from the strokes. `default` where nothing but patches is left."""
    strokes = mask & ~np.isin(labels, [b.label for b in blobs if b.solid])
    return max(stroke_width(strokes), 1.0) if strokes.any() else default


def _grid_lines(ink: np.ndarray) -> tuple[int, int]:
    """How many straight lines each way (fewer, more) make up the ink (a blob's mask cropped to its
    box) if it is a piece of a grid: thin lines across it, evenly spaced, crossing, and holding
    nearly all of it; (0, 0) if it is not. Where a squared sheet's fine grid is fainter than the
    paper's noise in places, line removal misses pieces of it, and the crossings left behind are
    such a mesh. A digit is curved, or its straight bars are thick for their spacing."""
    import cv2

    ys, xs = np.nonzero(ink)
    if ys.size == 0:
        return 0, 0
    ink = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    height, width = ink.shape
    if min(height, width) < 12:
        return 0, 0  # no room for a cell of a grid: a single stroke
    lines, covered = [], np.zeros_like(ink)
    for axis, kernel in ((1, (5, 1)), (0, (1, 5))):  # rows (lying lines), then columns (upright ones)
        # A line a few degrees off the axis wanders over a few rows: follow it through a 5-pixel band.
        band = cv2.dilate(ink.astype(np.uint8), np.ones(kernel, np.uint8)).astype(bool)
        span = width if axis == 1 else height
        full = band.sum(axis=axis) >= 0.75 * span
        edges = np.flatnonzero(np.diff(np.concatenate([[0], full.astype(np.int8), [0]])))
        starts, ends = edges[::2], edges[1::2]
        widths, gaps = ends - starts - 4, starts[1:] - ends[:-1] + 4  # the band undone
        if len(starts) == 0 or (len(starts) > 1 and gaps.min() < max(7, 2 * widths.max())):
            return 0, 0  # no line, or not lines with paper between them: a stroke as wide as the digit
        lines.append(((starts + ends) / 2.0, widths))
        covered |= (full[:, None] if axis == 1 else full[None, :]) & band
    if (covered & ink).sum() < 0.9 * ink.sum():
        return 0, 0
    centres, _ = max(lines, key=lambda line: len(line[0]))
    if len(centres) < 2:
        return 0, 0
    spacing = np.diff(centres)
    even = np.abs(spacing - spacing.mean()).max() <= 0.25 * spacing.mean()
    thin = max(widths.max() for _, widths in lines) <= 0.4 * spacing.mean()
    if not (even and thin):
        return 0, 0
    few, many = sorted(len(centres) for centres, _ in lines)
    return few, many


def _is_a_mesh(grid: tuple[int, int]) -> bool:
    """Grid lines (:func:`_grid_lines`) that are no digit: three one way and two the other make a
    boxy 8, so a mesh has more, or is a comb (a line and the stubs of four or more crossing it)."""
    few, many = grid
    return few >= 1 and (many >= 4 or few + many >= 6)


def _choose(blobs: list[Blob], shape: tuple[int, int]) -> list[Blob]:
    """The digit: the heaviest group of ink, favouring the middle and what stays clear of the edges."""
    if not blobs:
        raise NoInkError("no digit found: the image is blank, or the ink has too little contrast with the paper")
    height, width = shape
    inside = [b for b in blobs if not b.touches_border]
    heaviest = max(b.mass for b in blobs)
    # A tightly cropped digit touches the frame; clutter at the edge does not outweigh ink inside.
    pool = inside if inside and max(b.mass for b in inside) >= 0.1 * heaviest else blobs
    # ... but a tightly cropped digit is in the middle of its crop: what runs along the frame's
    # edge off to one side (a wedge of desk past the sheet's edge, a shadow's corner) is no digit.
    # A stroke that only grazes the edge (a marker near it) may still be one.
    pool = [b for b in pool if b.contact < 0.2 * max(b.box[2:]) or _centred(b, shape)]
    if not pool:
        raise NoInkError("no digit found: only marks at the edge of the picture (the desk, the sheet's edge, a shadow)")
    pool = [b for b in pool if not _is_a_mesh(b.grid)]
    if not pool:
        raise NoInkError("no digit found: only pieces of the paper's grid")

    def score(blob: Blob) -> float:
        x, y, w, h = blob.box
        dx = (x + w / 2 - width / 2) / width
        dy = (y + h / 2 - height / 2) / height
        return blob.mass * (1.0 - 0.8 * math.hypot(dx, dy)) * (0.2 if blob.solid else 1.0)

    best = max(pool, key=score)
    x, y, w, h = best.box
    reach = 0.3 * max(w, h)
    chosen = [best]
    for blob in pool:
        # Pieces of the digit (a 5's bar, a stroke broken by a lifted pen) are no grid's cells.
        if blob is best or blob.solid or blob.mass < 0.02 * best.mass or min(blob.grid) >= 2:
            continue
        bx, by, bw, bh = blob.box
        gap_x = max(bx - (x + w), x - (bx + bw), 0)
        gap_y = max(by - (y + h), y - (by + bh), 0)
        near = max(gap_x, gap_y) <= reach
        # A piece larger than the digit's main one is another thing (a line, a shadow's edge)
        # unless the two boxes meet: a 6's stem written apart from its loop.
        if near and (max(bw, bh) <= 1.2 * max(w, h) or (max(gap_x, gap_y) == 0 and max(bw, bh) <= 2.0 * max(w, h))):
            chosen.append(blob)
    if len(chosen) == 1 and best.mass < 1e-3:
        raise NoInkError("no digit found: only specks")
    return chosen


def _centred(blob: Blob, shape: tuple[int, int]) -> bool:
    """Is the blob's box centred in the frame: its middle within the frame's middle half both ways?"""
    x, y, w, h = blob.box
    return abs(x + w / 2 - shape[1] / 2) <= 0.25 * shape[1] and abs(y + h / 2 - shape[0] / 2) <= 0.25 * shape[0]


def _paper_sigma(darkness: np.ndarray) -> float:
    """The paper's noise where lines cover much of it (a quarter of squared paper's pixels): from
    the lighter half alone, the median less its 16th percentile (one sigma of a normal spread)."""
    p16, p50 = np.percentile(_sample(darkness), [15.87, 50.0])
    return float(p50 - p16)


def _robust_sigma(values: np.ndarray) -> float:
    """Noise level from the median absolute deviation: the paper, not the ink, sets it."""
    values = _sample(values)
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


def _sample(values: np.ndarray) -> np.ndarray:
    """Every other row and column of a large image, for the paper's statistics: the same
    percentiles to a fraction of a grey level, four times faster (a median of a 640x480 photo
    takes 3 ms, and a search takes a dozen)."""
    return values[::2, ::2] if values.ndim == 2 and values.size > 40_000 else values
