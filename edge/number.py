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
3. Touching digits: a group wider than a digit is read whole and cut at its thinnest columns into
   two (or three) pieces; the reading the model is surest of wins, with a prior against single
   digits much wider than tall. A close call is reported, not hidden.
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
# A single digit is rarely wider than tall: past this width the whole reading pays WIDE_COST a unit.
WIDE_FREE, WIDE_COST = 1.0, 8.0
SPLIT_PRIOR = -1.2  # log prior odds of a cut: most digit groups are one digit
CUT_FREE, CUT_COST = 2.0, 1.0  # a cut through more ink than two strokes pays CUT_COST a stroke width
CLOSE = 0.8  # a split decision won by less than this (log-probability) is a guess, and said
TALL = 1.8  # a group taller than this is no digit of the line (a margin, the sheet's edge)
SLANTS = (0.0, 0.25, -0.25)  # cuts upright, and leaning as handwriting leans (x per y)
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


def _cuts(crop: np.ndarray, height: float, pieces: int) -> list[tuple[np.ndarray, float]]:
    """Ways to cut a group of touching digits: along the thinnest columns of its ink, upright or
    slanted as handwriting slants, each piece at least a fifth of a digit's height wide. Each is a
    label image of the crop (piece 0, 1, ...) and the ink the cuts go through (pixels, the thickest cut)."""
    rows, width = crop.shape
    narrow = max(2, round(0.2 * height))
    ys, xs = np.nonzero(crop > 0)
    found = []
    for slant in SLANTS:
        # Slanted coordinates: a cut is a column of them, leaning by ``slant`` (x per y, up is +).
        shifted = np.rint(xs + slant * (ys - rows / 2)).astype(int)
        low = int(shifted.min())
        columns = np.bincount(shifted - low).astype(float)
        columns = np.convolve(columns, np.ones(3) / 3, mode="same")
        span = len(columns)
        minima = [
            c for c in range(narrow, span - narrow) if columns[c] <= columns[c - 1] and columns[c] <= columns[c + 1]
        ]
        minima.sort(key=lambda c: columns[c])
        chosen: list[int] = []
        for c in minima:
            if all(abs(c - other) >= 0.12 * height for other in chosen):
                chosen.append(c)
            if len(chosen) == 3:
                break
        grid_y, grid_x = np.mgrid[0:rows, 0:width]
        position = np.rint(grid_x + slant * (grid_y - rows / 2)).astype(int) - low
        if pieces == 2:
            cuts = [((c,), columns[c]) for c in chosen]
        else:
            cuts = [
                ((a, b), max(columns[a], columns[b]))
                for a in chosen
                for b in chosen
                if b - a >= max(narrow, 0.25 * height)
            ]
        for edges, through in cuts:
            found.append((np.searchsorted(np.array(edges), position, side="right"), float(through)))
    return found


@dataclass
class _Reading:
    """One way to read a digit group: whole, or cut into pieces."""

    pieces: list[tuple[int, tuple[int, int, int, int]]]  # (index of its 28x28 input, work box)
    width: float  # the group's width per digit height
    cut: float  # the ink the cuts go through, in stroke widths (0 when whole)

    def score(self, logp: np.ndarray) -> float:
        """Log-probability of the pieces' readings, and the prior: single digits are rarely much
        wider than tall, and touching digits touch at a thin place."""
        total = float(sum(logp[i] for i, _ in self.pieces))
        if len(self.pieces) == 1:
            return total - WIDE_COST * max(0.0, self.width - WIDE_FREE)
        return total + SPLIT_PRIOR - CUT_COST * max(0.0, self.cut - CUT_FREE) - 0.05 * self.cut


def _readings(ink: _Ink, group: _Group, height: float, fields: list[np.ndarray]) -> list[_Reading]:
    """The group read whole and, if wide, cut in two (or three) at its thinnest columns; their 28x28
    inputs appended to ``fields``."""
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
    """Each digit group read whole and, if wide, cut into pieces; the surest reading of each kept.

    Returns ((x0, y0, x1, y1) work box, 28x28 input, probabilities) per digit, and the close calls.
    """
    height = _digit_height([g for digit in line for g in digit])
    fields: list[np.ndarray] = []
    options = []
    for digit in line:
        group = digit[0]
        for g in digit[1:]:
            group = group.join(g)
        readings = _readings(ink, group, height, fields)
        if readings:
            options.append(readings)
    if not fields:
        return [], []
    probs = predict(np.stack(fields))
    logp = np.log(np.clip(probs.max(axis=1), 1e-9, 1.0))
    chosen, reasons = [], []
    for readings in options:
        scored = sorted(readings, key=lambda r: -r.score(logp))
        best = scored[0]
        rivals = [r for r in scored[1:] if len(r.pieces) != len(best.pieces)]
        if rivals and best.score(logp) - rivals[0].score(logp) < CLOSE:
            first = len(chosen) + 1
            if len(best.pieces) == 1:
                reasons.append(f"digit {first} may be two touching digits")
            else:
                reasons.append(f"digits {first}-{first + len(best.pieces) - 1} may be one digit")
        for i, box in best.pieces:
            chosen.append((box, fields[i], probs[i]))
    return chosen, reasons
