"""Reading a whole number from one photo: every digit on a line of writing, left to right.

The photo's ink is found as for a single digit (edge/photo.py: flat-field, ruled lines divided
out, hysteresis threshold), but every group of strokes is kept, not the one most like a digit:

1. The line: from the group a single-digit read would choose, groups beside it (overlapping its
   height, at most about a digit's height away) join, then their neighbours, and so on. Ink
   elsewhere (a second line, clutter) is left out, and said to be.
2. Digits: groups about as tall as the line's digits are digits; smaller pieces (a 5's bar
   written apart, a stroke broken by a pen lift or a ruled line) join the digit above, below or
   right beside them, and pieces stacked on each other join up. Specks far smaller than the
   digits, and marks that are fainter than the writing, are ignored.
3. Touching digits: a group wider than a digit is read whole and cut into two (or three) pieces
   along seams that cross the least ink (bending around strokes that reach into the neighbour's
   side); whether to cut is a log-odds of the group's width, the model's confidence in the whole
   and in the pieces, and the ink the cut crosses. A close call is reported, not hidden.
4. Each digit goes through the single digit's 28x28 preparation (fit 20x20, centre of mass), so
   the model sees what it was trained on.

Anything the reader cannot tell (a close split, a mark that is not a digit, a second line) makes
the number ``uncertain``, with the reason. numpy, Pillow and OpenCV, as the rest of the photo path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

# Sizes relative to the line's digit height (the mass-weighted median height of its groups).
DIGIT = 0.55  # a group at least this tall is a digit (or several touching ones)
SPECK = 0.25  # a group smaller than this both ways, outside any digit's columns, is a speck
REACH = 1.1  # groups further apart than this (horizontal gap) are not on the same line
WIDE = 0.8  # a digit group wider than this may be touching digits: cuts are tried
TRIPLE = 1.45  # wider than this: cuts into three are tried too
FAINT = 0.45  # a group whose ink is below this share of the writing's level is not writing
# A piece of a cut is a digit of the line: at least PIECE_TALL of its height tall, at most
# PIECE_WIDE wide; short of that it pays PIECE_COST a unit. A cut pays CUT_COST a stroke it crosses.
PIECE_TALL, PIECE_WIDE, PIECE_COST, CUT_COST = 0.7, 1.0, 4.0, 0.3
# Weights of the log-odds that a wide group is touching digits (_split_odds).
ODDS = {"width": 9.47, "typical": 0.53, "whole": -3.25, "pieces": 1.97, "cut": -2.5, "bias": -8.46}
# Neighbouring groups at most MERGE_GAP of a digit's height apart, together at most MERGE_WIDE wide,
# one of them read at less than MERGE_SURE, may be halves of one digit (_merged).
MERGE_GAP, MERGE_WIDE, MERGE_SURE = 0.1, 0.9, 0.9
CLOSE = 1.0  # a cut decided by log-odds closer to even than this is a guess, and said
TALL = 1.8  # a group taller than this is no digit of the line (a margin, the sheet's edge)
SEAM_STEP, SEAM_BEND = 1, 0.1  # a seam moves at most this many columns a row, paying this a column
SEAMS = 4  # the cheapest seams tried, each way
EDGE = 2  # groups this close to the frame's edge (pixels) are taken for clutter at the edge
STACK = 0.3  # pieces stacked this close (per the taller one's height) are one digit
SEEDS = 4  # lines grown from this many of the heaviest groups, the most digit-like kept

Predict = Callable[[np.ndarray], np.ndarray]  # uint8 (N, 28, 28) -> probabilities (N, classes)


@dataclass(frozen=True)
class Digit:
    """One digit of a number: the model's answer, its box in the photo's pixels, the model's input."""

    digit: int
    probability: float
    box: tuple[int, int, int, int]  # x, y, w, h in the original photo's pixels (EXIF-upright)
    image: np.ndarray  # uint8 28x28, as the model saw it


@dataclass(frozen=True)
class Number:
    """The digits on the line, left to right, and why the reading may be wrong (empty when it is sure)."""

    digits: list[Digit]
    reasons: list[str] = field(default_factory=list)

    @property
    def uncertain(self) -> bool:
        return bool(self.reasons)

    def text(self, names: list[str] | None = None) -> str:
        return "".join(names[d.digit] if names else str(d.digit) for d in self.digits)

    def record(self, name: str, names: list[str]) -> dict[str, Any]:
        """What ``--number --json`` prints (and what other front ends answer) for one photo."""
        digits = []
        for d in self.digits:
            entry: dict[str, Any] = {"digit": d.digit, "probability": round(d.probability, 6), "box": list(d.box)}
            if names[d.digit] != str(d.digit):
                entry["label"] = names[d.digit]
            digits.append(entry)
        record: dict[str, Any] = {"file": name, "number": self.text(names), "digits": digits}
        if self.uncertain:
            record["uncertain"] = True
            record["reason"] = "; ".join(self.reasons)
        return record

    def line(self, name: str, names: list[str]) -> str:
        """What ``--number`` prints: ``photo.jpg: 2026 (2 99.8%, 0 99.1%, 2 99.9%, 6 97.4%)``."""
        each = ", ".join(f"{names[d.digit]} {d.probability:.1%}" for d in self.digits)
        text = f"{name}: {self.text(names)} ({each})"
        return text + (f"  uncertain: {'; '.join(self.reasons)}" if self.uncertain else "")


def read_file(path: str | Path, predict: Predict) -> Number:
    """:func:`read_number` of an image file, boxes in the file's own pixels, the file named in any error."""
    from .preprocess import ImageError, load_image

    image = load_image(path)
    try:
        return read_number(image, predict, original_size(path, image))
    except ImageError as e:
        raise type(e)(f"{path}: {e}") from None


def original_size(path: str | Path, loaded: Image.Image) -> tuple[int, int]:
    """The upright size of the photo in ``path``: a big JPEG is decoded reduced (load_image), but boxes
    are given in the photo's own pixels."""
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    # Sanity: if the header disagrees with the loaded image's shape, trust the loaded one.
    if abs(width / height - loaded.width / loaded.height) > 0.05 * width / height:
        return loaded.size
    return width, height


def read_number(image: Image.Image, predict: Predict, size: tuple[int, int] | None = None) -> Number:
    """Every digit on the line of writing in ``image``, read by ``predict``.

    ``size`` is the photo's own (width, height) when ``image`` was decoded smaller; boxes are in
    its pixels. Raises :class:`~edge.preprocess.NoDigitError` when there is no digit.
    """
    from PIL import ImageOps

    from .preprocess import FIELD, NoDigitError, prepare_image, to_pixels

    image = ImageOps.exif_transpose(image)
    size = size or image.size
    pixels = to_pixels(image)
    if pixels.shape[:2] == (FIELD, FIELD):  # an MNIST-style image: one digit, kept as it is
        field_image = prepare_image(image)
        probs = predict(field_image[None])[0]
        best = int(np.argmax(probs))
        return Number([Digit(best, float(probs[best]), (0, 0, size[0], size[1]), field_image)])
    ink = _ink_field(pixels)
    line, reasons = _line_groups(ink)
    if not line:
        raise NoDigitError("no digit found: no ink on a line that looks like writing")
    digits, split_reasons = _read_groups(ink, line, predict)
    scale_x, scale_y = size[0] / ink.darkness.shape[1], size[1] / ink.darkness.shape[0]
    out = []
    for (x0, y0, x1, y1), image28, probs in digits:
        best = int(np.argmax(probs))
        box = (
            math.floor(x0 * scale_x),
            math.floor(y0 * scale_y),
            math.ceil((x1 - x0) * scale_x),
            math.ceil((y1 - y0) * scale_y),
        )
        out.append(Digit(best, float(probs[best]), box, image28))
    return Number(out, reasons + split_reasons)


# --------------------------------------------------------------------------------------------
# The ink, and its groups of strokes
# --------------------------------------------------------------------------------------------


@dataclass
class _Ink:
    darkness: np.ndarray  # relative to the paper, lines divided out, [0, 1], work pixels
    mask: np.ndarray  # bool: all the ink
    labels: np.ndarray  # connected groups of the mask
    groups: list[_Group]  # those that are not specks of a pixel or two, nor filled patches
    lying: list[_Group]  # straight bars lying flat, taken for pieces of lines (or a minus sign)
    noise: float
    stroke: float  # the writing's stroke width, work pixels


@dataclass
class _Group:
    labels: set[int]
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), work pixels
    mass: float
    level: float  # the ink's darkness at its darkest tenth
    border: bool
    near: set[int]  # the groups of strokes within a pen lift of it (photo's own grouping)

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    def join(self, other: _Group) -> _Group:
        a, b = self.box, other.box
        box = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
        level = max(self.level, other.level)
        border = self.border or other.border
        return _Group(self.labels | other.labels, box, self.mass + other.mass, level, border, self.near | other.near)


def _ink_field(pixels: np.ndarray) -> _Ink:
    """All the ink in the photo, found as edge/photo.py finds a single digit's."""
    import cv2

    from . import photo
    from .preprocess import MIN_CONTRAST, NoDigitError

    # TODO(lead): public hook - the cleaned ink field of the whole photo that photo.digit_ink
    # searches (work size, ink grey, polarity, flat-field in a window for the pen, lines divided
    # out, hysteresis mask), before one digit is chosen. Until then its private steps are called
    # here; photo._find itself is not, as it rejects a photo whose likeliest single group is no digit.
    small = photo._ink_gray(photo._work_size(pixels))
    if float(np.ptp(small)) < MIN_CONTRAST:
        raise NoDigitError("no digit found: the image is blank, or the ink has too little contrast with the paper")
    if not photo._ink_is_dark(small):
        small = 255.0 - small
    try:
        window, widest = max(photo._window(small.shape, 0.035), photo.MIN_WINDOW), photo._window(small.shape, 0.25)
        flat, darkness, mask, floor = _cleaned(small, window)
        # A marker's strokes, wider than the window, are seen as their two edges: look again wider
        # (as photo.digit_ink does, over all the ink rather than one digit's).
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
        seen = photo.stroke_width(mask)
        found = photo._Found(darkness, mask, box, floor)
        width = max(photo._hollow_width(small, found, widest), seen if seen > 0.8 * window else 0.0)
        if width > 0.3 * window:
            flat, darkness, mask, _ = _cleaned(small, min(2 * round(2.0 * width) + 1, widest))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        blobs = photo._blobs(darkness, mask, labels, stats)
        _, near = cv2.connectedComponents(photo._grouped(mask), connectivity=8)
    except photo.NoInkError as e:
        raise NoDigitError(str(e)) from None
    noise = photo._robust_sigma(darkness)
    stroke = max(photo.stroke_width(mask), 1.0)
    inside = labels[mask]
    order = np.argsort(inside, kind="stable")
    values = darkness[mask][order]
    starts = np.searchsorted(inside[order], np.arange(count + 1))
    # Ink stands out from the paper, as photo.py requires of a single digit's.
    faint = max(photo.INK_LEVEL, photo.INK_NOISE * noise)
    groups, lying = [], []
    for blob in blobs:
        x, y, w, h = blob.box
        if max(w, h) < 2:
            continue
        # A filled patch (a shadow's corner, a dark object), not strokes: far wider than the
        # writing's strokes ("solid" alone also fits thin strokes, and a small filled loop).
        if blob.solid:
            own = photo.stroke_width(labels[y : y + h, x : x + w] == blob.label)
            if own > 2.5 * stroke and stats[blob.label, cv2.CC_STAT_AREA] > 0.5 * w * h:
                continue
        ink = values[starts[blob.label] : starts[blob.label + 1]]
        level = float(np.percentile(ink, 90)) if ink.size else 0.0
        if level < faint:  # what is left of a line, a shadow's edge, paper texture: no ink
            continue
        # A piece of a ruled or grid line, or of the sheet's edge, that line removal left. Only
        # lying ones: an upright stroke on a line of digits is more likely a 1 than a grid line.
        group = _Group({blob.label}, (x, y, x + w, y + h), blob.mass, level, blob.touches_border, set())
        if w >= max(h, 8) and photo._is_a_line(flat, labels == blob.label, noise):
            lying.append(group)
            continue
        where = np.argmax(labels[y : y + h, x : x + w] == blob.label)
        cluster = int(near[y + where // w, x + where % w])
        groups.append(_Group({blob.label}, (x, y, x + w, y + h), blob.mass, level, blob.touches_border, {cluster}))
    if not groups:
        raise NoDigitError("no digit found: only faint marks (lines, shadows, the paper's edge) or filled patches")
    return _Ink(darkness, mask, labels, groups, lying, noise, stroke)


def _cleaned(small: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The darkness with the paper in a ``window`` wide neighbourhood divided out, then long lines
    too; the ink's mask, and the darkness below which nothing counts as ink."""
    from . import photo
    from .preprocess import MIN_CONTRAST

    flat = photo._flat_field(small, window)
    darkness = photo._without_lines(flat, photo._robust_sigma(flat))
    # Again: fainter lines stand out once the darker ones are gone (a squared sheet's fine grid).
    darkness = photo._without_lines(darkness, photo._robust_sigma(darkness))
    mask, floor = photo._ink_mask(darkness, photo._robust_sigma(darkness), MIN_CONTRAST / 255.0)
    return flat, darkness, mask, floor


# --------------------------------------------------------------------------------------------
# The line, and its digits
# --------------------------------------------------------------------------------------------


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return min(a[1], b[1]) - max(a[0], b[0])


def _gap(a: _Group, b: _Group) -> int:
    """Horizontal gap between two boxes (negative: they overlap by that much)."""
    return max(a.box[0], b.box[0]) - min(a.box[2], b.box[2])


def _digit_height(groups: list[_Group]) -> float:
    """The mass-weighted median height: the digits outweigh their pieces and the specks."""
    heights = np.array([g.height for g in groups], float)
    weights = np.array([g.mass for g in groups], float)
    order = np.argsort(heights)
    cumulative = np.cumsum(weights[order])
    return float(heights[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def _beside(group: _Group, line: list[_Group], height: float) -> bool:
    """On the line: level with a member and near it, or stacked on one (a digit's detached bar)."""
    for member in line:
        vertical = _overlap((group.box[1], group.box[3]), (member.box[1], member.box[3]))
        if _gap(group, member) <= REACH * height and vertical >= 0.5 * min(group.height, member.height):
            return True
        horizontal = _overlap((group.box[0], group.box[2]), (member.box[0], member.box[2]))
        vertical_gap = -vertical
        if horizontal >= 0.3 * min(group.width, member.width) and vertical_gap <= 0.3 * height:
            return True
    return False


def _grow(seed: _Group, pool: list[_Group]) -> tuple[list[_Group], float]:
    """The groups on the seed's line, and the line's digit height."""
    height = float(seed.height)
    candidates = [g for g in pool if g is not seed and max(g.width, g.height) >= 0.08 * height]
    line = [seed]
    for _ in range(2):  # once with the seed's height, once with the line's
        grown = True
        while grown:
            grown = False
            for g in candidates:
                if g not in line and g.height <= TALL * height and _beside(g, line, height):
                    line.append(g)
                    grown = True
        height = _digit_height(line)
    return line, height


def _stacked(groups: list[_Group]) -> list[_Group]:
    """Pieces of one digit joined: digits on a line stand side by side, never one above the other
    nor one inside the other, so pieces that share their columns and nearly touch (a ruled or grid
    line taken out between them, a 5's bar written apart), or lie mostly in each other's box, are
    one digit."""
    groups = sorted(groups, key=lambda g: g.box[1])
    joined = True
    while joined:
        joined = False
        for i, a in enumerate(groups):
            for j in range(i + 1, len(groups)):
                b = groups[j]
                shared = _overlap((a.box[0], a.box[2]), (b.box[0], b.box[2]))
                vertical = _overlap((a.box[1], a.box[3]), (b.box[1], b.box[3]))
                stacked = vertical <= 0.3 * min(a.height, b.height)
                close = shared >= 0.5 * min(a.width, b.width) and -vertical <= STACK * max(a.height, b.height)
                # Mostly in each other's box: halves of a loop a line cut apart, a piece inside a digit.
                within = max(shared, 0) * max(vertical, 0) >= 0.5 * min(a.width * a.height, b.width * b.height)
                if within or (stacked and (close or a.near & b.near)):
                    groups[i] = a.join(b)
                    del groups[j]
                    joined = True
                    break
            if joined:
                break
    return groups


def _line_score(line: list[_Group], height: float) -> float:
    """How much the line looks like writing: the ink of groups of the line's digit height."""
    return sum(g.mass for g in line if DIGIT * height <= g.height <= 1.5 * height and g.width <= 3 * height)


def _line_groups(ink: _Ink) -> tuple[list[list[_Group]], list[str]]:
    """The digits on the line of writing: each a list of groups, left to right; and what was left out.

    The line is grown from each of the heaviest groups near the middle in turn (clear of the
    frame's border: the desk, the sheet's edge), and the one with the most digit-like ink wins.
    """
    from .preprocess import NoDigitError

    rows, columns = ink.darkness.shape

    def at_edge(g: _Group) -> bool:  # the desk, the sheet's edge, a shadow coming in: not writing
        x0, y0, x1, y1 = g.box
        return g.border or min(x0, y0) <= EDGE or x1 >= columns - EDGE or y1 >= rows - EDGE

    pool = _stacked([g for g in ink.groups if not at_edge(g)])
    if not pool:
        # A number cropped tightly touches the frame; clutter at the edge spans little of it.
        every = _stacked(ink.groups)
        if max(g.box[2] for g in every) - min(g.box[0] for g in every) < 0.6 * columns:
            raise NoDigitError("no digit found: only marks at the edge of the picture (the desk, the sheet's edge)")
        pool = every

    def centred(g: _Group) -> float:
        dx = ((g.box[0] + g.box[2]) / 2 - columns / 2) / columns
        dy = ((g.box[1] + g.box[3]) / 2 - rows / 2) / rows
        return g.mass * (1.0 - 0.8 * math.hypot(dx, dy))

    best_line, best_score, height = None, -1.0, 1.0
    for seed in sorted(pool, key=centred, reverse=True)[:SEEDS]:
        if best_line is not None and seed in best_line:
            continue
        line, line_height = _grow(seed, pool)
        score = _line_score(line, line_height)
        if score > best_score:
            best_line, best_score, height = line, score, line_height
    line = best_line or []
    groups = ink.groups
    seed = max(line, key=lambda g: g.mass)
    level = float(np.median([g.level for g in line if g.height >= DIGIT * height] or [seed.level]))
    line = [g for g in line if g.level >= FAINT * level]
    height = _digit_height(line) if line else height
    majors = sorted((g for g in line if g.height >= DIGIT * height), key=lambda g: g.box[0])
    minors = [g for g in line if g.height < DIGIT * height]
    reasons: list[str] = []
    leftover: list[_Group] = []
    for piece in sorted(minors, key=lambda g: -g.mass):
        host = _host(piece, majors, height)
        if host is not None:
            majors[host] = majors[host].join(piece)
        else:
            leftover.append(piece)
    # Pieces stacked on each other (a digit broken in two, neither part tall enough alone).
    merged: list[_Group] = []
    for piece in sorted(leftover, key=lambda g: g.box[1]):
        for k, other in enumerate(merged):
            if _overlap((piece.box[0], piece.box[2]), (other.box[0], other.box[2])) >= 0.5 * min(
                piece.width, other.width
            ):
                merged[k] = other.join(piece)
                break
        else:
            merged.append(piece)
    typical = float(np.median([g.mass for g in majors])) if majors else max(g.mass for g in merged)
    for g in merged:
        if g.height >= DIGIT * height:
            majors.append(g)
        elif max(g.width, g.height) >= SPECK * height and g.mass >= 0.08 * typical:
            reasons.append(_mark_reason(g, majors, height))
    majors.sort(key=lambda g: g.box[0])
    if majors:  # a bar lying on the line's middle, about a digit wide: a dash, not a piece of a line
        top, bottom = np.median([g.box[1] for g in majors]), np.median([g.box[3] for g in majors])
        for g in ink.lying:
            middle = (g.box[1] + g.box[3]) / 2
            near = min(abs(_gap(g, d)) for d in majors) <= REACH * height
            if (
                0.25 * height <= g.width <= 1.5 * height
                and top + 0.2 * height < middle < bottom - 0.2 * height
                and near
            ):
                reasons.append(_mark_reason(g, majors, height))
    others = [
        g
        for g in groups
        if g not in line
        and g.height <= TALL * height
        and g.height >= DIGIT * height
        and g.level >= FAINT * level
        and not g.border
    ]
    if len(others) >= 2 or any(g.mass >= 0.5 * typical for g in others):
        above = any(g.box[3] <= min(m.box[1] for m in majors) for g in others) if majors else False
        reasons.append(
            f"more writing {'above' if above else 'below or beside'} the line was left out "
            "(--number reads one line of digits)"
        )
    return [[g] for g in majors], reasons


def _host(piece: _Group, digits: list[_Group], height: float) -> int | None:
    """The digit a small piece belongs to: one whose columns it shares, or right beside it; None if none."""
    best, best_distance = None, math.inf
    for k, digit in enumerate(digits):
        shared = _overlap((piece.box[0], piece.box[2]), (digit.box[0], digit.box[2]))
        gap = _gap(piece, digit)
        vertical_gap = -_overlap((piece.box[1], piece.box[3]), (digit.box[1], digit.box[3]))
        if shared >= 0.3 * min(piece.width, digit.width) or (gap <= 0.12 * height and vertical_gap <= 0.1 * height):
            distance = max(gap, 0) + max(vertical_gap, 0) - 0.01 * shared
            if distance < best_distance:
                best, best_distance = k, distance
    if best is not None and best_distance > 0.35 * height:
        return None
    return best


def _mark_reason(mark: _Group, digits: list[_Group], height: float) -> str:
    """Why a mark on the line that is not a digit was left out, in words that say where it was."""
    before = sum(d.box[2] <= mark.box[0] + mark.width / 2 for d in digits)
    if not digits:
        where = ""
    elif before == 0:
        where = " before the first digit"
    elif before == len(digits):
        where = " after the last digit"
    else:
        where = f" between digits {before} and {before + 1}"
    flat = mark.width >= 2.0 * mark.height
    low = digits and mark.box[1] >= np.median([d.box[1] + 0.6 * d.height for d in digits])
    kind = "a dash (a minus sign?)" if flat else "a dot (a decimal point?)" if low else "a mark"
    return f"{kind}{where} is not a digit and was left out"


# --------------------------------------------------------------------------------------------
# Reading the digits: touching ones cut apart where the model is surest
# --------------------------------------------------------------------------------------------


def _crop(ink: _Ink, labels: set[int], box: tuple[int, int, int, int], keep: np.ndarray | None = None):
    """The group's ink within its box (only where ``keep``, a mask of the box, says so):
    (darkness crop, tight box), or None if nothing is left."""
    x0, y0, x1, y1 = box
    region = np.isin(ink.labels[y0:y1, x0:x1], list(labels)) & ink.mask[y0:y1, x0:x1]
    if keep is not None:
        region &= keep
    if not region.any():
        return None
    ys, xs = np.nonzero(region)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = (ink.darkness[y0:y1, x0:x1] * region)[top:bottom, left:right]
    return crop, (x0 + left, y0 + top, x0 + right, y0 + bottom)


def _to_field(crop: np.ndarray) -> np.ndarray:
    """A digit's ink -> the model's 28x28 input, exactly as a single digit's."""
    from . import preprocess

    # TODO(lead): public hook - photo.digit_ink's last step (the ink's levels: paper grain to 0, the
    # stroke's core to 1), repeated here for each digit of a number.
    core = float(np.percentile(crop[crop > 0], 35))
    floor = 0.4 * core
    levels = np.clip((crop - floor) / max(core - floor, 1e-3), 0.0, 1.0).astype(np.float32)
    # TODO(lead): public hook - preprocess._photo_to_mnist's last line (digit ink -> 28x28), as a
    # public function such as preprocess.ink_to_mnist(ink).
    digit = preprocess._thickened(preprocess._fit(levels, 4 * preprocess.BOX))
    return preprocess._centred(preprocess._fit(digit, preprocess.BOX))


def _seam_paths(ink: np.ndarray, height: float) -> list[tuple[np.ndarray, float]]:
    """Ways down through a group of touching digits: seams from top to bottom that cross as little
    ink as they can, free to bend around a stroke that reaches into the neighbour's side (a 6 tucked
    under a 3's curve) and to lean as the writing leans. Each is (column per row, ink pixels crossed),
    the cheapest few that leave at least a fifth of a digit's height on either side."""
    rows, width = ink.shape
    narrow = max(2, round(0.2 * height))
    if width < 2 * narrow + 1:
        return []
    cost = ink.astype(np.float64)
    shifts = np.arange(-SEAM_STEP, SEAM_STEP + 1)
    found = []
    for flip in (False, True):  # seams that are cheapest from the bottom, and from the top
        grid = cost[::-1] if flip else cost
        total = grid[0].copy()
        back = np.zeros((rows, width), np.int8)
        for y in range(1, rows):
            padded = np.pad(total, SEAM_STEP, constant_values=np.inf)
            options = np.stack([padded[SEAM_STEP + d : SEAM_STEP + d + width] for d in shifts])
            options = options + SEAM_BEND * np.abs(shifts)[:, None]
            pick = np.argmin(options, axis=0)
            back[y] = shifts[pick]
            total = options[pick, np.arange(width)] + grid[y]
        ends = [c for c in range(narrow, width - narrow) if total[c] <= total[c - 1] and total[c] <= total[c + 1]]
        ends.sort(key=lambda c: total[c])
        for c in ends[:SEAMS]:
            path = np.empty(rows, int)
            x = c
            for y in range(rows - 1, -1, -1):
                path[y] = x
                x += int(back[y, x]) if y else 0
            if flip:
                path = path[::-1]
            found.append((path, float((ink[np.arange(rows), path]).sum())))
    return found


def _cuts(crop: np.ndarray, height: float, pieces: int) -> list[tuple[np.ndarray, float]]:
    """Ways to cut a group of touching digits into ``pieces``: along seams that cross the least ink
    (:func:`_seam_paths`). Each is a label image of the crop (piece 0, 1, ...) and the ink the cuts
    go through (pixels, the thickest cut)."""
    ink = crop > 0
    width = ink.shape[1]
    columns = np.arange(width)[None, :]
    seams = _seam_paths(ink, height)
    found, seen = [], set()
    if pieces == 2:
        options = [([path], through) for path, through in seams]
    else:
        options = []
        for i, (a, ta) in enumerate(seams):
            for b, tb in seams[i + 1 :]:
                left, right = (a, b) if np.median(a) < np.median(b) else (b, a)
                if np.median(right - left) >= 0.25 * height:
                    options.append(([left, np.maximum(left, right)], max(ta, tb)))
    for paths, through in options:
        sides = sum((columns >= p[:, None]).astype(np.int8) for p in paths)
        key = tuple(int((ink & (sides == k)).sum()) for k in range(pieces))
        if key in seen or min(key) < 0.05 * ink.sum():
            continue
        seen.add(key)
        found.append((sides, through))
    return found


@dataclass
class _Reading:
    """One way to read a digit group: whole, or cut into pieces."""

    pieces: list[tuple[int, tuple[int, int, int, int]]]  # (index of its 28x28 input, work box)
    width: float  # the group's width per digit height
    cut: float  # the ink the cuts go through, in stroke widths (0 when whole)

    def fit(self, logp: np.ndarray, height: float) -> float:
        """How well the pieces read as digits: the model's log-probability of each, less what a
        piece's shape costs (a digit of the line is nearly as tall as the line's digits, and rarely
        wider than tall), less a little for each stroke the cuts go through."""
        total = 0.0
        for i, (x0, y0, x1, y1) in self.pieces:
            tall, wide = (y1 - y0) / height, (x1 - x0) / height
            total += float(logp[i]) - PIECE_COST * (max(0.0, PIECE_TALL - tall) + max(0.0, wide - PIECE_WIDE))
        return total - CUT_COST * self.cut


def _split_odds(whole: float, best: _Reading, logp: np.ndarray, height: float, typical: float) -> float:
    """Log-odds that a wide group is touching digits rather than one digit, from its width (per the
    line's digit height, and per the line's typical digit width), how sure the model is of it whole,
    how well the best cut's pieces read as digits, and how much ink that cut goes through. Weighed
    by a logistic fit on groups of the number set (benchmarks/number_set.py)."""
    w = ODDS
    return (
        w["width"] * best.width
        + w["typical"] * best.width * height / typical
        + w["whole"] * whole
        + w["pieces"] * best.fit(logp, height)
        + w["cut"] * best.cut
        + w["bias"]
    )


def _readings(ink: _Ink, group: _Group, height: float, fields: list[np.ndarray]) -> list[_Reading]:
    """The group read whole and, if wide, cut in two (or three) along seams; their 28x28 inputs
    appended to ``fields``. The whole reading comes first."""
    whole = _crop(ink, group.labels, group.box)
    if whole is None:
        return []
    crop, box = whole
    fields.append(_to_field(crop))
    width = (box[2] - box[0]) / height
    readings = [_Reading([(len(fields) - 1, box)], width, 0.0)]
    if width <= WIDE:
        return readings
    for count in (2, 3) if width > TRIPLE else (2,):
        for sides, through in _cuts(crop, height, count):
            pieces = []
            for k in range(count):
                piece = _crop(ink, group.labels, box, sides == k)
                if piece is None:
                    break
                fields.append(_to_field(piece[0]))
                pieces.append((len(fields) - 1, piece[1]))
            if len(pieces) == count:
                readings.append(_Reading(pieces, width, through / ink.stroke))
    return readings


def _read_groups(ink: _Ink, line: list[list[_Group]], predict: Predict):
    """Each digit group read whole and, if wide, cut into pieces; whether to cut is decided by
    :func:`_split_odds`, and a close call is reported.

    Returns ((x0, y0, x1, y1) work box, 28x28 input, probabilities) per digit, and the close calls.
    """
    height = _digit_height([g for digit in line for g in digit])
    fields: list[np.ndarray] = []
    options, groups = [], []
    for digit in line:
        group = digit[0]
        for g in digit[1:]:
            group = group.join(g)
        readings = _readings(ink, group, height, fields)
        if readings:
            options.append(readings)
            groups.append(group)
    if not fields:
        return [], []
    probs = predict(np.stack(fields))
    logp = np.log(np.clip(probs.max(axis=1), 1e-9, 1.0))
    widths = [r[0].width for r in options if r[0].width > 0.4]
    typical = float(np.median(widths)) * height if widths else height
    reasons: list[str] = []
    options, probs, logp = _merged(ink, groups, options, fields, probs, logp, height, typical, predict, reasons)
    chosen = []
    for readings in options:
        best = readings[0]
        cuts = readings[1:]
        if cuts:
            best_cut = max(cuts, key=lambda r: r.fit(logp, height))
            odds = _split_odds(float(logp[best.pieces[0][0]]), best_cut, logp, height, typical)
            if odds > 0:
                best = best_cut
            if abs(odds) < CLOSE:
                first = len(chosen) + 1
                if len(best.pieces) == 1:
                    reasons.append(f"digit {first} may be two touching digits")
                else:
                    reasons.append(f"digits {first}-{first + len(best.pieces) - 1} may be one digit")
        for i, box in best.pieces:
            chosen.append((box, fields[i], probs[i]))
    return chosen, reasons


def _merged(ink, groups, options, fields, probs, logp, height, typical, predict, reasons):
    """Neighbouring narrow groups that are halves of one digit (a 0 whose pencil stroke broke into
    two arcs) joined: read together, when one of them reads poorly alone, they are weighed as one
    digit against two by :func:`_split_odds`, as a touching pair is. Returns the options (merged
    ones read whole), and the probabilities with the merged readings' appended."""
    pairs = []
    for k in range(len(groups) - 1):
        a, b = groups[k], groups[k + 1]
        if len(options[k]) > 1 or len(options[k + 1]) > 1:
            continue
        union = a.join(b)
        vertical = _overlap((a.box[1], a.box[3]), (b.box[1], b.box[3]))
        unsure = min(probs[options[k][0].pieces[0][0]].max(), probs[options[k + 1][0].pieces[0][0]].max())
        if (
            _gap(a, b) <= MERGE_GAP * height
            and union.width <= MERGE_WIDE * height
            and vertical >= 0.5 * min(a.height, b.height)
            and unsure < MERGE_SURE
        ):
            whole = _crop(ink, union.labels, union.box)
            if whole is not None:
                fields.append(_to_field(whole[0]))
                pairs.append((k, len(fields) - 1, whole[1]))
    if not pairs:
        return options, probs, logp
    probs = np.concatenate([probs, predict(np.stack(fields[len(probs) :]))])
    logp = np.log(np.clip(probs.max(axis=1), 1e-9, 1.0))
    merged, skip = [], set()
    for k, index, box in pairs:
        if k in skip:
            continue
        apart = _Reading(options[k][0].pieces + options[k + 1][0].pieces, (box[2] - box[0]) / height, 0.0)
        odds = _split_odds(float(logp[index]), apart, logp, height, typical)
        if odds < 0:
            merged.append((k, _Reading([(index, box)], apart.width, 0.0)))
            skip |= {k, k + 1}
        if abs(odds) < CLOSE:
            reasons.append(f"digits {k + 1}-{k + 2} may be one digit")
    out, joined = [], dict(merged)
    k = 0
    while k < len(options):
        if k in joined:
            out.append([joined[k]])
            k += 2
        else:
            out.append(options[k])
            k += 1
    return out, probs, logp
