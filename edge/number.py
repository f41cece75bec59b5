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
3. Touching digits and broken ones: the line is divided into digits as a whole. Every stretch of
   it that may be one digit is a candidate: a group, a run of up to three neighbouring groups (a
   pencil 0 broken into two arcs, a 5's bar), a piece of a group cut along a seam that crosses
   little ink (digits that touch), or a group left out (a mark that is no digit). Each is scored
   by the model's confidence in it and its shape (height and width against the line's digits,
   the ink its cuts cross, how close its neighbours are); the division into digits with the best
   total (dynamic programming, weights fitted as a conditional random field) wins, and a second
   best close behind it is reported.
4. Each digit goes through the single digit's 28x28 preparation (fit 20x20, centre of mass), so
   the model sees what it was trained on.

Anything the reader cannot tell (a close split, a mark that is not a digit, a second line) makes
the number ``uncertain``, with the reason. numpy, Pillow and OpenCV, as the rest of the photo path.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

# Sizes relative to the line's digit height (the mass-weighted median height of its groups).
DIGIT = 0.55  # a group at least this tall is a digit (or several touching ones)
SPECK = 0.25  # a group smaller than this both ways, outside any digit's columns, is a speck
REACH = 1.1  # groups further apart than this (horizontal gap) are not on the same line
FAINT = 0.45  # a group whose ink is below this share of the writing's level is not writing
# Candidate digits of the line: runs of 1-3 groups, whose ends may be seams cut through a group.
SPLITS = 0.5  # a group at least this wide (per the line's digit height) gets seams tried
ONE_WIDE = 0.35  # (< SPLITS) a group this wide may hold a 1 written along its neighbour (a 7 and a 1)
RUN, RUN_WIDE = 3, 1.6  # a digit is made of at most RUN groups, at most RUN_WIDE of a height wide
HOPELESS = -9.0  # a candidate scoring less than this even were the model sure of it is not read
SURE = (np.eye(10)[0], np.eye(10)[1])  # the model sure of a digit (a 1 weighs apart)
# Weights of a candidate digit's score (_features): a conditional random field over the ways to
# divide a line, fitted by benchmarks/fit_number_weights.py on the number sets of seeds 7 and 0
# (benchmarks/number_set.py), each candidate labelled from the ink of each digit's photo alone.
# Set 23 was kept out to check it.
WEIGHTS = {
    "bias": -1.35,
    "logp": -0.12,
    "margin": 0.69,
    "short": -3.23,
    "tall": -0.03,
    "wide": 0.36,
    "wide2": -1.40,
    "typical": 0.18,
    "typical2": -1.30,
    "cut": -2.04,
    "crossed": -0.29,
    "joined": -0.72,
    "runs": -2.10,
    "gap": -0.30,
    "tight": 0.04,
    "aspect": -2.69,
    "one": -1.15,
    "one_cut": -1.74,
    "wide_over": -1.14,
    "typical_over": -0.77,
    "aspect_over": -0.35,
    "skip": -2.63,
    "skip_size": -1.41,
}
CLOSE = 0.8  # a second best way to read the line this close (log-probability) is said
UNCLEAR = 0.8  # a digit the model gives less than this probability is said
TALL = 1.8  # a group taller than this is no digit of the line (a margin, the sheet's edge)
SEAM_STEP, SEAM_BEND = 1, 0.1  # a seam moves at most this many columns a row, paying this a column
SEAMS = 4  # the cheapest seams tried, each way
THIN, CORE = 0.5, 0.4  # strokes thinned by up to this much of their width (each side) leave cores this tall
NARROW = 0.2  # a seam leaves at least this much of a digit height on either side
BAR, BAR_GAP = (0.15, 1.6), 0.35  # a flat bar this wide, this far beside a digit's top, may be its own (a 5's)
SHADE = 0.95  # ink a wider window adds, this much fainter than the strokes (unflattened), is a shadow
EDGE = 2  # groups this close to the frame's edge (pixels) are taken for clutter at the edge
ONE, LEAN = 0.7, 30.0  # a straight stroke this tall (of a digit), leaning this far (degrees), may be a 1 apart
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


def read_file(source: str | Path | bytes, predict: Predict, name: str | None = None) -> Number:
    """:func:`read_number` of an image file or an upload's bytes, boxes in the photo's own pixels, the
    photo named in any error (``name``, by default the path, as :func:`~edge.preprocess.load_image`)."""
    from .preprocess import ImageError, load_image

    image = load_image(source, name)
    try:
        return read_number(image, predict, original_size(source, image))
    except ImageError as e:
        raise type(e)(f"{name or source}: {e}") from None


def original_size(source: str | Path | bytes, loaded: Image.Image) -> tuple[int, int]:
    """The upright size of the photo in ``source`` (a file, or an upload's bytes): a big JPEG is
    decoded reduced (load_image), but boxes are given in the photo's own pixels."""
    from PIL import Image

    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
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
    line, marks, reasons = _line_groups(ink)
    if not line:
        raise NoDigitError("no digit found: no ink on a line that looks like writing")
    digits, split_reasons = _read_groups(ink, line, marks, predict)
    if not digits:
        raise NoDigitError("no digit found: the marks on the line do not read as digits")
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
    unclear = [
        f"digit {k} is unclear (the model gives it {d.probability:.0%})"
        for k, d in enumerate(out, 1)
        if d.probability < UNCLEAR
    ]
    return Number(out, reasons + split_reasons + unclear)


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
            wide = _cleaned(small, min(2 * round(2.0 * width) + 1, widest))
            if not _shadow_seen_wide(photo._raw_darkness(small), mask, wide[2]):
                flat, darkness, mask, _ = wide
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        blobs = photo._blobs(darkness, mask, labels, stats)
        _, near = cv2.connectedComponents(photo._grouped(mask), connectivity=8)
    except photo.NoInkError as e:
        raise NoDigitError(str(e)) from None
    noise = photo._robust_sigma(darkness)
    stroke = max(photo.stroke_width(mask), 1.0)
    pen = photo.pen_width(mask, labels, blobs, default=stroke) if any(b.solid for b in blobs) else stroke
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
            if own > 2.5 * pen and stats[blob.label, cv2.CC_STAT_AREA] > 0.5 * w * h:
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
        group.near = _cluster(near, labels, group)
        groups.append(group)
    for bar in _digit_pieces(flat, labels, mask, lying, noise):
        lying.remove(bar)
        bar.near = _cluster(near, labels, bar)
        groups.append(bar)
    if not groups:
        raise NoDigitError("no digit found: only faint marks (lines, shadows, the paper's edge) or filled patches")
    return _Ink(darkness, mask, labels, groups, lying, noise, stroke)


def _cluster(near: np.ndarray, labels: np.ndarray, group: _Group) -> set[int]:
    """The photo's own grouping (within a pen lift) that a group of one blob falls in."""
    x0, y0, x1, _ = group.box
    where = int(np.argmax(labels[y0 : group.box[3], x0:x1] == min(group.labels)))
    return {int(near[y0 + where // (x1 - x0), x0 + where % (x1 - x0)])}


def _digit_pieces(
    flat: np.ndarray, labels: np.ndarray, mask: np.ndarray, lying: list[_Group], noise: float
) -> list[_Group]:
    """Bars lying flat that are pieces of one digit, not of a line: a flat 2 that a ruled line
    crossed comes apart into its top and its base, each a bar, and together they are no line."""
    from . import photo

    out = []
    for k, a in enumerate(lying):
        for b in lying[k + 1 :]:
            gap = max(_gap(a, b), -_overlap((a.box[1], a.box[3]), (b.box[1], b.box[3])))
            joined = a.join(b)
            if gap > 0.3 * max(a.width, b.width) or joined.height < 1.4 * max(a.height, b.height):
                continue
            if not photo._is_a_line(flat, np.isin(labels, list(joined.labels)) & mask, noise):
                out += [g for g in (a, b) if not any(g is o for o in out)]
    return out


def _shadow_seen_wide(raw: np.ndarray, narrow: np.ndarray, wide: np.ndarray) -> bool:
    """Is what the wider window adds to the ink a shadow (a hand's fingers across the line) rather
    than the inside of a marker's strokes? Seen through the wide window, fingers are as dark as
    the strokes; in the photo as it is (``raw``), a marker's inside is as dark as its edges, and a
    shadow is fainter than the strokes of the pen beside it."""
    import cv2

    added = wide & ~cv2.dilate(narrow.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if added.sum() < 0.1 * narrow.sum():
        return False
    return float(np.median(raw[added])) < SHADE * float(np.median(raw[narrow]))


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


def _line_groups(ink: _Ink) -> tuple[list[list[_Group]], list[_Group], list[str]]:
    """The digits on the line of writing: each a list of groups, left to right; the marks on the
    line too small to be digits alone (pieces of one, or not digits: the reading decides); and
    what was left out.

    The line is grown from each of the heaviest groups near the middle in turn (clear of the
    frame's border: the desk, the sheet's edge), and the one with the most digit-like ink wins.
    """
    from .preprocess import NoDigitError

    rows, columns = ink.darkness.shape

    def at_edge(g: _Group) -> bool:  # the desk, the sheet's edge, a shadow coming in: not writing
        x0, y0, x1, y1 = g.box
        return g.border or min(x0, y0) <= EDGE or x1 >= columns - EDGE or y1 >= rows - EDGE

    pool = _stacked([g for g in ink.groups if not at_edge(g)])
    edge = _stacked([g for g in ink.groups if at_edge(g)])
    if not pool:
        # A number cropped tightly touches the frame; clutter at the edge spans little of it.
        every = _stacked(ink.groups)
        if max(g.box[2] for g in every) - min(g.box[0] for g in every) < 0.6 * columns:
            raise NoDigitError("no digit found: only marks at the edge of the picture (the desk, the sheet's edge)")
        pool, edge = every, []

    def centred(g: _Group) -> float:
        dx = ((g.box[0] + g.box[2]) / 2 - columns / 2) / columns
        dy = ((g.box[1] + g.box[3]) / 2 - rows / 2) / rows
        return g.mass * (1.0 - 0.8 * math.hypot(dx, dy))

    best_line, best_score, best_seed, height = None, -1.0, None, 1.0
    for seed in sorted(pool, key=centred, reverse=True)[:SEEDS]:
        if best_line is not None and seed in best_line:
            continue
        line, line_height = _grow(seed, pool)
        score = _line_score(line, line_height)
        if score > best_score:
            best_line, best_score, best_seed, height = line, score, seed, line_height
    line = best_line or []
    if best_seed is not None:
        line, height = _regrown(ink, best_seed, line, height, pool, edge)
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
    marks: list[_Group] = []  # pieces too small to be digits alone: the reading decides (_read_groups)
    for g in merged:
        if g.height >= DIGIT * height:
            majors.append(g)
        elif max(g.width, g.height) >= SPECK * height and g.mass >= 0.08 * typical:
            marks.append(g)
    majors.sort(key=lambda g: g.box[0])
    # Bars lying flat at a digit's top: a 5's or a 7's bar written apart, or a piece of a line. The
    # reading decides (a mark, joined or left out), and says nothing when it leaves one out.
    marks += [g for g in ink.lying if g.level >= FAINT * level and _by_a_digit(g, majors + marks, height)]
    if majors:  # a bar lying on the line's middle, about a digit wide: a dash, not a piece of a line
        top, bottom = np.median([g.box[1] for g in majors]), np.median([g.box[3] for g in majors])
        for g in ink.lying:
            middle = (g.box[1] + g.box[3]) / 2
            near = min(abs(_gap(g, d)) for d in majors) <= REACH * height
            if (
                0.25 * height <= g.width <= 1.5 * height
                and top + 0.2 * height < middle < bottom - 0.2 * height
                and near
                and not any(g is m for m in marks)  # a 5's bar, maybe: the division decides, silently
            ):
                reasons.append(_mark_reason(g, [d.box for d in majors], height))
    on_line = set().union(*(g.labels for g in line))
    others = [
        g
        for g in groups
        if not g.labels <= on_line
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
    return [[g] for g in majors], marks, reasons


def _regrown(
    ink: _Ink, seed: _Group, line: list[_Group], height: float, pool: list[_Group], edge: list[_Group]
) -> tuple[list[_Group], float]:
    """The line grown again with what its first growth could not take: the part within the line's
    band of a group too tall to be a digit (a margin line or a sheet's edge, whose pieces were
    stacked with the strokes of a digit written on it), and a digit-sized group at the frame's
    edge, level with the line (a number written up to the photo's edge, or a ruled line's end
    joined to its last digit)."""
    digits = [g for g in line if g.height >= DIGIT * height] or line
    top = float(np.median([g.box[1] for g in digits])) - 0.3 * height
    bottom = float(np.median([g.box[3] for g in digits])) + 0.3 * height
    added: list[_Group] = []
    kept = []
    for g in pool:
        if g.height > TALL * height and len(g.labels) > 1 and g not in line:
            parts, rest = [], []
            for r in ink.groups:
                if r.labels <= g.labels:
                    (parts if r.box[1] >= top and r.box[3] <= bottom else rest).append(r)
            if parts:
                added += _stacked(parts)
                kept += _stacked(rest)
                continue
        kept.append(g)
    level = [
        g
        for g in edge
        if _frame_contact(ink, g) <= 2.0 * ink.stroke  # a stroke's end, not the desk nor a shadow
        and DIGIT * height <= g.height <= 1.5 * height
        and g.width <= 3 * height
        and any(
            _gap(g, m) <= REACH * height
            and _overlap((g.box[1], g.box[3]), (m.box[1], m.box[3])) >= 0.5 * min(g.height, m.height)
            for m in digits
        )
    ]
    if not added and not level:
        return line, height
    return _grow(seed, kept + added + level)


def _frame_contact(ink: _Ink, group: _Group) -> float:
    """How far (pixels) a group's ink runs along the frame's edge, within ``EDGE`` of it."""
    rows, columns = ink.mask.shape
    x0, y0, x1, y1 = group.box
    ys, xs = np.nonzero(np.isin(ink.labels[y0:y1, x0:x1], list(group.labels)) & ink.mask[y0:y1, x0:x1])
    ys, xs = ys + y0, xs + x0
    near = (ys <= EDGE) | (ys >= rows - 1 - EDGE) | (xs <= EDGE) | (xs >= columns - 1 - EDGE)
    return float(near.sum()) / (EDGE + 1)


def _by_a_digit(bar: _Group, digits: list[_Group], height: float) -> bool:
    """May a bar lying flat, which line removal took for a piece of a line, be a digit's stroke
    written apart? A top bar (a 5's, a 7's) beside or over a digit, level with its top; or a bar
    across a digit's own columns (a 2's base, a 4's or a 7's cross-bar)."""
    if not BAR[0] * height <= bar.width <= BAR[1] * height:
        return False
    middle = (bar.box[1] + bar.box[3]) / 2
    for d in digits:
        gap = max(d.box[0] - bar.box[2], bar.box[0] - d.box[2])
        if gap <= BAR_GAP * height and d.box[1] - 0.25 * height <= middle <= d.box[1] + 0.3 * d.height:
            return True
        shared = _overlap((bar.box[0], bar.box[2]), (d.box[0], d.box[2]))
        if shared >= 0.3 * min(bar.width, d.width) and d.box[1] <= middle <= d.box[3] + 0.15 * height:
            return True
    return False


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


def _mark_reason(mark: _Group, digits: list[tuple[int, int, int, int]], height: float) -> str:
    """Why a mark on the line that is not a digit was left out, in words that say where it was."""
    before = sum(d[2] <= mark.box[0] + mark.width / 2 for d in digits)
    if not digits:
        where = ""
    elif before == 0:
        where = " before the first digit"
    elif before == len(digits):
        where = " after the last digit"
    else:
        where = f" between digits {before} and {before + 1}"
    flat = mark.width >= 2.0 * mark.height
    low = digits and mark.box[1] >= np.median([d[1] + 0.6 * (d[3] - d[1]) for d in digits])
    kind = "a dash (a minus sign?)" if flat else "a dot (a decimal point?)" if low else "a mark"
    return f"{kind}{where} is not a digit and was left out"


# --------------------------------------------------------------------------------------------
# Reading the digits: the line divided where the digits are likeliest whole digits
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
    from .photo import ink_levels
    from .preprocess import ink_to_mnist

    return ink_to_mnist(ink_levels(crop))


def _seam_paths(ink: np.ndarray, height: float) -> list[tuple[np.ndarray, float]]:
    """Ways down through a group of touching digits: seams from top to bottom that cross as little
    ink as they can, free to bend around a stroke that reaches into the neighbour's side (a 6 tucked
    under a 3's curve) and to lean as the writing leans. Each is (column per row, ink pixels crossed),
    the cheapest few that leave at least a fifth of a digit's height on either side."""
    rows, width = ink.shape
    narrow = max(2, round(NARROW * height))
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


def _thinned_apart(region: np.ndarray, stroke: float, height: float) -> list[tuple[np.ndarray, float]]:
    """Digits touching where no seam from top to bottom parts them (one reaching over or under the
    other, a 1 leaning on its neighbour) come apart when their strokes are thinned: each pixel then
    goes to the nearest of the digit-tall cores. Each way is (the left part, contact in stroke widths)."""
    import cv2

    source = region.astype(np.uint8)
    for radius in range(1, max(1, round(THIN * stroke)) + 1):
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        count, labels, stats, centres = cv2.connectedComponentsWithStats(cv2.erode(source, disc), connectivity=8)
        cores = [k for k in range(1, count) if stats[k, cv2.CC_STAT_HEIGHT] >= CORE * height]
        if len(cores) < 2:
            continue
        # Each pixel to its nearest core: the distance transform labels each pixel with its nearest
        # zero's component, and the cores are the zeros.
        _, nearest = cv2.distanceTransformWithLabels(
            (~np.isin(labels, cores)).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_CCOMP
        )
        place = np.zeros(int(nearest.max()) + 1, int)
        for k, core in enumerate(sorted(cores, key=lambda c: centres[c][0])):
            place[nearest[labels == core][0]] = k
        part = place[nearest]
        out = []
        for k in range(1, len(cores)):
            left = region & (part < k)
            right = region & ~left
            grown = cv2.dilate(right.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            out.append((left, float((left & grown).sum()) / stroke))
        return out
    return []


def _straight_strokes(region: np.ndarray, stroke: float, height: float) -> list[_Stroke]:
    """The two straightest strokes near upright, each at least :data:`ONE` of a digit tall: runs of
    ink down the columns of the group sheared by each lean in turn, ranked by how many of their rows
    have ink right on the line."""
    import cv2

    rows, cols = region.shape
    source = region.astype(np.uint8)
    half, gap = max(1, round(0.5 * stroke)), max(1, round(0.05 * height))
    middle = (rows - 1) / 2
    found = []
    for angle in np.arange(-LEAN, LEAN + 0.1, 3.0):
        lean = math.tan(math.radians(angle))
        pad = math.ceil(abs(lean) * rows / 2) + 1
        shear = np.float32([[1, lean, pad - lean * middle], [0, 1, 0]])  # x' = x + lean (y - middle) + pad
        sheared = cv2.warpAffine(source, shear, (cols + 2 * pad, rows), flags=cv2.INTER_NEAREST)
        # A stroke's width of columns, small breaks closed (a pencil's grain).
        band = cv2.dilate(sheared, np.ones((1, 2 * half + 1), np.uint8))
        band = cv2.morphologyEx(band, cv2.MORPH_CLOSE, np.ones((gap + 1, 1), np.uint8))
        down = np.arange(rows, dtype=np.int32)[:, None]
        run = down - np.maximum.accumulate(np.where(band == 0, down, np.int32(-1)), axis=0)  # ink rows so far
        longest, end = run.max(axis=0), run.argmax(axis=0)
        for c in np.flatnonzero(longest >= ONE * height):
            top, bottom = int(end[c] - longest[c] + 1), int(end[c] + 1)
            centred = int(sheared[top:bottom, c].sum())  # rows with ink right on the line: how straight
            found.append((centred, _Stroke(int(longest[c]), float(c - pad), lean, top, bottom)))
    out: list[_Stroke] = []
    for _, line in sorted(found, key=lambda f: -f[0]):
        if len(out) == 2:
            break
        if all(abs(line.column - o.column) >= 2 * stroke for o in out):
            out.append(line)
    return out


class _Stroke(NamedTuple):
    """A straight stroke: along x = column - lean (y - the group's middle row), rows top to bottom."""

    length: int
    column: float
    lean: float
    top: int
    bottom: int


def _runs(region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel, the first and the last column of the run of ink along its row it is in."""
    across = np.arange(region.shape[1], dtype=np.int32)
    first = np.maximum.accumulate(np.where(region, -1, across), axis=1) + 1
    mirrored = np.maximum.accumulate(np.where(region[:, ::-1], -1, across), axis=1) + 1
    return first, region.shape[1] - 1 - mirrored[:, ::-1]


def _stroke_ink(
    region: np.ndarray, runs: tuple[np.ndarray, np.ndarray], line: _Stroke, stroke: float
) -> np.ndarray | None:
    """The ink of a straight stroke (a 1's), followed beyond its straight part while no other
    stroke crosses it; where one does, only the 1's own width. None if the stroke has gaps."""
    rows, cols = region.shape
    slant = math.sqrt(1 + line.lean**2)
    wide, reach = 1.6 * stroke * slant, 0.5 * stroke * slant + 1.5

    def run(y: int) -> tuple[int, int, bool] | None:  # the row's run of ink on the stroke: a, b, alone
        x = line.column - line.lean * (y - (rows - 1) / 2)
        lo, hi = max(0, math.floor(x - reach)), min(cols, math.ceil(x + reach) + 1)
        xs = np.flatnonzero(region[y, lo:hi]) + lo
        if xs.size == 0:
            return None
        nearest = int(xs[np.argmin(np.abs(xs - x))])
        a, b = int(runs[0][y, nearest]), int(runs[1][y, nearest])
        if b - a + 1 > wide:  # another stroke crosses here
            return max(a, lo), min(b, hi - 1), False
        return a, b, True

    ink = np.zeros_like(region)
    hits = 0
    for y in range(line.top, line.bottom):
        if found := run(y):
            hits += 1
            ink[y, found[0] : found[1] + 1] = True
    if hits < 0.8 * (line.bottom - line.top):
        return None
    for y, step in ((line.top - 1, -1), (line.bottom, 1)):
        while 0 <= y < rows and (found := run(y)) and found[2]:
            ink[y, found[0] : found[1] + 1] = True
            y += step
    return ink


def _one_apart(region: np.ndarray, stroke: float, height: float) -> list[_Seam]:
    """A 1 written into its neighbour (crossing a 3's curve, leaning on a 4) is a straight stroke
    that no seam nor thinning parts from it: the stroke is one digit, the ink either side of it the
    others. Each way is two boundaries, before the 1 and after it. Their contact is told apart by
    where it is along the stroke: a 1 crosses or touches its neighbour along its length, while a
    6's or a 0's own straight side joins the rest of the digit at its ends."""
    import cv2

    cross = np.ones((3, 3), np.uint8)
    middle = (region.shape[0] - 1) / 2
    runs = _runs(region)
    out = []
    for line in _straight_strokes(region, stroke, height):
        one = _stroke_ink(region, runs, line, stroke)
        if one is None:
            continue
        count, labels, stats, centres = cv2.connectedComponentsWithStats(
            (region & ~one).astype(np.uint8), connectivity=8
        )
        touching = set(np.unique(labels[cv2.dilate(one.astype(np.uint8), cross).astype(bool)]).tolist())
        small = {k for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] < 1.5 * stroke * stroke}
        big = [k for k in range(1, count) if k not in small]
        if not big:
            continue
        one |= np.isin(labels, list(small & touching))  # slivers of the 1's own edges
        left = np.zeros(count, bool)
        for k in big:  # each other piece to its side of the 1; a loose speck with the nearest piece
            left[k] = centres[k][0] < line.column - line.lean * (centres[k][1] - middle)
        for k in small - touching:
            left[k] = left[min(big, key=lambda b: float(np.hypot(*(centres[b] - centres[k]))))]
        before = left[labels] & region & ~one
        rows = np.flatnonzero(one.any(axis=1))
        ends = np.zeros(region.shape[0], bool)
        ends[: int(rows[0] + 1.5 * stroke)] = ends[int(rows[-1] + 1 - 1.5 * stroke) :] = True
        for part in (before, before | one):
            after = cv2.dilate((region & ~part).astype(np.uint8), cross).astype(bool)
            contact = part & after
            joined = float(contact[ends].sum()) / stroke
            out.append(_Seam(part, 0.0, float(contact.sum()) / stroke - joined, joined))
    return out


class _Seam(NamedTuple):
    """A boundary inside a group: the ink left of it, and what parting there costs in stroke
    widths: ink a cut crosses, or a 1 apart's contact with its neighbour along its length
    (crossed) and at its ends (joined)."""

    left: np.ndarray
    cut: float
    crossed: float = 0.0
    joined: float = 0.0


@dataclass
class _Atom:
    """A group of the line, with the seams that may cut it."""

    group: _Group
    box: tuple[int, int, int, int]  # tight box of its ink, work pixels
    region: np.ndarray  # bool, its ink within box
    seams: list[_Seam]  # left to right
    minor: bool  # too small to be a digit alone: a piece of one, or a mark that is no digit
    bar: bool  # a bar lying flat (a 5's top bar written apart, or a piece of a line): silent when left out


@dataclass
class _Candidate:
    """A stretch of the line that may be one digit: from boundary ``start`` to ``end``."""

    start: int
    end: int
    box: tuple[int, int, int, int]
    field: np.ndarray | None  # None: the stretch (one group) is left out as no digit
    features: dict[str, float]
    ink: np.ndarray  # bool, its ink within box (whose digit's ink it is labels it, to fit WEIGHTS)


def _atoms(ink: _Ink, groups: list[_Group], marks: list[_Group], height: float) -> list[_Atom]:
    """The groups and marks of the line, left to right, with the seams that may cut them."""
    atoms = []
    for group in sorted(groups + marks, key=lambda g: (g.box[0] + g.box[2]) / 2):
        whole = _crop(ink, group.labels, group.box)
        if whole is None:
            continue
        crop, box = whole
        region = crop > 0
        seams = []
        width = box[2] - box[0]
        if width >= ONE_WIDE * height:
            columns = np.arange(region.shape[1])[None, :]
            cuts = []
            if width >= SPLITS * height:
                cuts += [
                    _Seam(region & (columns < path[:, None]), through / ink.stroke)
                    for path, through in _seam_paths(region, height)
                ]
                cuts += [_Seam(part, contact) for part, contact in _thinned_apart(region, ink.stroke, height)]
            cuts += _one_apart(region, ink.stroke, height)
            found, seen = [], set()
            for seam in cuts:
                left = int(seam.left.sum())
                if left in seen or min(left, region.sum() - left) < 0.05 * region.sum():
                    continue
                seen.add(left)
                found.append(seam)
            seams = sorted(found, key=lambda s: int(s.left.sum()))
        minor = any(group is m for m in marks)
        atoms.append(_Atom(group, box, region, seams, minor, any(group is g for g in ink.lying)))
    return atoms


def _nodes(atoms: list[_Atom]) -> list[tuple[int, int]]:
    """The boundaries a digit may start or end at, left to right: (atom, -1) before an atom (and
    (len, -1) after the last), (atom, k) at seam k of the atom."""
    nodes = []
    for i, atom in enumerate(atoms):
        nodes.append((i, -1))
        nodes += [(i, k) for k in range(len(atom.seams))]
    nodes.append((len(atoms), -1))
    return nodes


def _candidates(ink: _Ink, atoms: list[_Atom], height: float) -> list[_Candidate]:
    """Every stretch of the line between two boundaries that may be one digit, with its 28x28 input
    and its shape (features but the model's)."""
    nodes = _nodes(atoms)
    out = []
    # A digit's typical width on this line: of the groups that are about one digit (not a 1, not
    # touching digits).
    widths = [a.box[2] - a.box[0] for a in atoms if 0.4 * height < a.box[2] - a.box[0] < 1.2 * height]
    typical = float(np.median(widths)) if widths else 0.7 * height
    for s, (i, ka) in enumerate(nodes):
        if ka < 0 and i < len(atoms) and atoms[i].minor:  # a mark left out: no digit (a dash, a dot)
            atom = atoms[i]
            size = max(atom.box[2] - atom.box[0], atom.box[3] - atom.box[1]) / height
            skip = {"skip": 1.0, "skip_size": size}
            out.append(_Candidate(s, nodes.index((i + 1, -1)), atom.box, None, skip, atom.region))
        for e in range(s + 1, len(nodes)):
            j, kb = nodes[e]
            last = j - 1 if kb < 0 else j
            if last - i + 1 > RUN:
                break
            if atoms[last].box[0] - atoms[i].box[2] > RUN_WIDE * height and last > i:
                break
            x0 = min(a.box[0] for a in atoms[i : last + 1])
            y0 = min(a.box[1] for a in atoms[i : last + 1])
            x1 = max(a.box[2] for a in atoms[i : last + 1])
            y1 = max(a.box[3] for a in atoms[i : last + 1])
            canvas = np.zeros((y1 - y0, x1 - x0), bool)
            body = np.zeros_like(canvas)  # all but bars lying flat (a 5's top bar): what its width is
            used: list[_Seam] = []  # the seams it is cut along, at its start and its end
            for m in range(i, last + 1):
                atom = atoms[m]
                keep = atom.region.copy()
                if m == i and ka >= 0:
                    used.append(atom.seams[ka])
                    keep &= ~atom.seams[ka].left
                if m == j and kb >= 0:
                    used.append(atom.seams[kb])
                    keep &= atom.seams[kb].left
                bx0, by0, bx1, by1 = atom.box
                canvas[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] |= keep
                if not atom.bar:
                    body[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] |= keep
            single = ka < 0 and kb < 0 and last == i  # one group whole: always a way across
            if canvas.sum() < 0.02 * height * height and not single:
                continue
            ys, xs = np.nonzero(canvas)
            top, bottom, lft, rgt = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            columns = np.flatnonzero(body.any(axis=0)) if body.any() else xs
            span = int(columns.max() - columns.min() + 1)
            if span > RUN_WIDE * height and not single:
                if kb >= 0:  # a 1 apart's boundaries are not nested in the seams: one further on may be narrower
                    continue
                break
            crop = (ink.darkness[y0:y1, x0:x1] * canvas)[top:bottom, lft:rgt]
            gaps = [_gap(atoms[m].group, atoms[m + 1].group) for m in range(i, last)]
            # How close the neighbours are, where the stretch ends at a gap between groups.
            outer = [_gap(atoms[i - 1].group, atoms[i].group)] if ka < 0 and i > 0 else []
            outer += [_gap(atoms[j - 1].group, atoms[j].group)] if kb < 0 and j < len(atoms) else []
            features = {
                "tall": (bottom - top) / height,
                "wide": span / height,
                "typical": span / typical,
                "cut": sum(seam.cut for seam in used),
                "crossed": sum(seam.crossed for seam in used),
                "joined": sum(seam.joined for seam in used),
                "runs": float(last - i),
                "gap": max(gaps) / height if gaps else 0.0,
                "outer": min(outer) / height if outer else 0.15,
                "aspect": span / (bottom - top),
            }
            box = (x0 + lft, y0 + top, x0 + rgt, y0 + bottom)
            candidate = _Candidate(s, e, box, None, features, canvas[top:bottom, lft:rgt])
            # Its score if the model were sure of it: too low, and it is not worth reading.
            if max(_score(candidate, sure) for sure in SURE) >= HOPELESS or single:
                candidate.field = _to_field(crop)
                out.append(candidate)
    return out


def _score(candidate: _Candidate, probs: np.ndarray | None) -> float:
    return sum(WEIGHTS[k] * v for k, v in _features(candidate, probs).items())


def _features(candidate: _Candidate, probs: np.ndarray | None) -> dict[str, float]:
    """What a candidate's score weighs (its sum, weighted by WEIGHTS): the model's confidence (the top
    class, and its margin over the second, which saturates later than the top one does), and its
    shape against the line's digits; a group left out weighs only its size."""
    f = candidate.features
    if probs is None or "skip" in f:
        return {k: f.get(k, 0.0) for k in WEIGHTS}
    top2 = np.sort(probs)[-2:]
    logp = math.log(max(float(top2[1]), 1e-4))
    return {
        "bias": 1.0,
        "logp": logp,
        "margin": logp - math.log(max(float(top2[0]), 1.0 / 512)),
        "short": max(0.0, 0.75 - f["tall"]),
        "tall": max(0.0, f["tall"] - 1.2),
        "wide": f["wide"],
        "wide2": (f["wide"] - 0.6) ** 2,
        "typical": f["typical"],
        "typical2": (f["typical"] - 1.0) ** 2,
        "cut": f["cut"],
        "crossed": f["crossed"],
        "joined": f["joined"],
        "runs": f["runs"],
        "gap": f["gap"],
        "tight": max(0.0, 0.15 - f["outer"]),
        "aspect": f["aspect"],
        "one": float(np.argmax(probs) == 1),
        "one_cut": float(np.argmax(probs) == 1) * min(f["cut"], 1.0),
        "wide_over": max(0.0, f["wide"] - 0.85),
        "typical_over": max(0.0, f["typical"] - 1.3),
        "aspect_over": max(0.0, f["aspect"] - 1.0),
        "skip": 0.0,
        "skip_size": 0.0,
    }


def _best_paths(count: int, scored: list[tuple[int, int, float]]) -> list[tuple[float, list[int]]]:
    """The two best ways across the boundaries 0..count-1: (score, indices of the scored steps)."""
    into: list[list[tuple[int, int, float]]] = [[] for _ in range(count)]
    for n, (s, e, score) in enumerate(scored):
        into[e].append((n, s, score))
    best: list[list[tuple[float, list[int]]]] = [[] for _ in range(count)]
    best[0] = [(0.0, [])]
    for e in range(1, count):
        options = [(b + score, [*path, n]) for n, s, score in into[e] for b, path in best[s]]
        options.sort(key=lambda o: -o[0])
        best[e] = options[:2]
    return best[-1]


def _line_atoms(ink: _Ink, line: list[list[_Group]], marks: list[_Group]) -> tuple[list[_Atom], float]:
    """The line's digits (each its groups joined) and marks as atoms, and the line's digit height."""
    groups = []
    for digit in line:
        group = digit[0]
        for g in digit[1:]:
            group = group.join(g)
        groups.append(group)
    height = _digit_height([g for digit in line for g in digit])
    return _atoms(ink, groups, marks, height), height


def _read_groups(ink: _Ink, line: list[list[_Group]], marks: list[_Group], predict: Predict):
    """The line's digits: of every way to divide it into digits (whole groups, runs of groups that
    are pieces of one digit, pieces of groups cut along seams, groups left out as no digit), the one
    whose digits are likeliest whole digits (:func:`_features`); a close second best is reported.

    Returns ((x0, y0, x1, y1) work box, 28x28 input, probabilities) per digit, and the reasons
    (marks left out, close calls).
    """
    atoms, height = _line_atoms(ink, line, marks)
    if not atoms:
        return [], []
    candidates = _candidates(ink, atoms, height)
    read = [c for c in candidates if c.field is not None]
    probs = dict(zip(map(id, read), predict(np.stack([c.field for c in read])), strict=True))
    scored = []
    for c in candidates:
        scored.append((c.start, c.end, _score(c, probs.get(id(c)))))
    paths = _best_paths(len(_nodes(atoms)), scored)
    if not paths:
        return [], []
    chosen = [candidates[n] for n in paths[0][1]]
    digits = [c for c in chosen if c.field is not None]
    boxes = [c.box for c in digits]
    left_out = [_left_out(c, atoms) for c in chosen if c.field is None]
    reasons = [_mark_reason(a.group, boxes, height) for a in left_out if not a.bar]
    if len(paths) > 1 and paths[0][0] - paths[1][0] < CLOSE:
        reasons.append(_close_call(chosen, [candidates[n] for n in paths[1][1]]))
    return [(c.box, c.field, probs[id(c)]) for c in digits], reasons


def _left_out(candidate: _Candidate, atoms: list[_Atom]) -> _Atom:
    return next(a for a in atoms if a.box == candidate.box)


def _close_call(best: list[_Candidate], other: list[_Candidate]) -> str:
    """Where the best reading and a close second differ, in words."""

    def key(c: _Candidate) -> tuple[int, int, bool]:
        return c.start, c.end, c.field is None

    mine, theirs = {key(c) for c in best}, {key(c) for c in other}
    differ = [c for c in best if key(c) not in theirs] + [c for c in other if key(c) not in mine]
    lo, hi = min(c.start for c in differ), max(c.end for c in differ)
    ours = [c for c in best if c.field is not None]
    first = sum(c.end <= lo for c in ours) + 1
    count = sum(lo <= c.start and c.end <= hi for c in ours)
    count_other = sum(lo <= c.start and c.end <= hi and c.field is not None for c in other)
    which = f"digit {first}" if count == 1 else f"digits {first}-{first + count - 1}"
    if count == 0:
        return "a mark left out may be a digit"
    if count_other == count:
        return f"{which} may be divided differently"
    if count_other == 0:
        return f"{which} may be no digit"
    if count == 1:
        return f"{which} may be {count_other} touching digits"
    return f"{which} may be {'one digit' if count_other == 1 else f'{count_other} digits'}"
