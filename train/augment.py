"""Training-time augmentation: the ways real inputs differ from MNIST's training digits.

``shapes`` imitates handwriting (small shifts, rotations, zoom). ``photo`` adds what the edge
preprocessing leaves behind when it cuts a digit out of a photo (edge/preprocess.py): strokes
of one even width, thinner or bolder than MNIST's, sharper or blurrier edges, small gaps where a
ruled line crossed the digit, and stray specks.

Both work on whole ``tf.data`` batches with TensorFlow ops, in parallel with the training step
(``photo``: about 30 ms per batch of 128 on a busy core, the pen's thinning 19 of them; a
training step takes 40-50): the default ``cnn`` trained in 105-109 s with the pen strokes with
other jobs on the two cores, 82 s without them on idle cores.
"""

from __future__ import annotations

from collections.abc import Callable

AUGMENTATIONS = ("shapes", "photo")

# shapes, and the geometry photo starts from: one home for each range.
SHIFT = 0.1  # of the side: +-2.8 pixels
ROTATION = 0.03  # of a full turn: +-11 degrees
ZOOM = 0.1  # +-10 % in size

# photo: what the edge preprocessing leaves behind (the 28x28 inputs of the photo benchmark,
# benchmarks/photo_set.py, compared with MNIST's training digits). Geometry, for every image:
SLANT = 0.25  # horizontal shear, x += SLANT * y at most: +-14 degrees of slant
ASPECT = 0.1  # +-10 % wider or narrower
KEYSTONE = 0.002  # a little perspective: a photo taken not quite square to the paper
# Then each of these to this share of the images, independently, so that many digits keep
# MNIST's own look in all but one or two respects.
PEN = 0.4  # redrawn along its centre line at one width, as a pen draws (0.6 cost MNIST 0.2 points)
STROKE = 0.7  # thicker (up to half a 3x3 dilation) or thinner (up to half a 3x3 erosion)
THICKER, THINNER = 0.5, 0.5
BLUR = 0.15  # softer edges: a webcam, a photo slightly out of focus
INK_LEVELS = 1.0  # saturated cores, a hard edge, exact-zero background
GAPS = 0.2  # ruled or squared paper's lines divided out of the ink
SPECKS = 0.15  # paper grain or dust kept as ink
STUBS = 0.15  # a short piece of a removed line left beside the digit

SIDE = 28
CENTRE = 14.0  # MNIST's centre of mass (edge/preprocess.py centres photos there)


def augmenter(kind: str, seed: int) -> Callable:
    """A function ``images -> images`` for ``tf.data`` batches of float32 (N, 28, 28, 1) in [0, 1]."""
    if kind == "shapes":
        shapes = _shapes(seed)
        return lambda images: shapes(images, training=True)
    if kind == "photo":
        import tensorflow as tf

        generator = tf.random.Generator.from_seed(seed)
        return lambda images: photo(images, generator)
    raise ValueError(f"unknown augmentation {kind!r}; choose one of: {', '.join(AUGMENTATIONS)}")


def _shapes(seed: int):
    from keras import Sequential, layers

    return Sequential(
        [
            layers.RandomTranslation(SHIFT, SHIFT, fill_mode="constant", seed=seed),
            layers.RandomRotation(ROTATION, fill_mode="constant", seed=seed + 1),
            layers.RandomZoom(ZOOM, fill_mode="constant", seed=seed + 2),
        ],
        name="augment",
    )


def photo(images, generator):
    """MNIST digits made to look like the 28x28 inputs the edge preprocessing makes of photos.

    In this order; geometry and ink levels for every image, the others each for a random share
    of the batch (the module's constants); every image its own amounts:

    - geometry, in one resampling: shapes' shift, rotation and zoom, plus slant, aspect and a
      little keystone, because the digit cut out of a photo is written and photographed at an
      angle and refitted to 20x20 from its own bounding box;
    - pen: a ballpoint's or a felt pen's stroke keeps one width where MNIST's (a pen on a
      tablet, scanned) swell and thin, so the digit is thinned to its centre line (Zhang-Suen)
      and drawn again 2-5 pixels wide;
    - stroke width: pen strokes are thickened to about 12 % of the digit's height and never
      thinned, marker strokes stay bold, so widths differ from MNIST's both ways; a partial 3x3
      dilation or erosion;
    - line gaps: ink crossing a ruled or squared line is divided by the line's darkness and
      partly lost; a family of thin parallel bands (horizontal, or vertical for squares)
      weakens the strokes;
    - specks and stubs: paper grain, dust and pieces of a removed line that join the digit's
      ink; single pixels and short 1-pixel lines near the digit;
    - blur: a webcam's or an unfocused photo's soft edges;
    - ink levels: the preprocessing maps the stroke's core to 1.0 and everything below a floor
      to exactly 0, so a pen's uniform strokes come out with hard, saturated edges, unlike
      MNIST's pressure-varying grey (and unlike the resampling's soft edges); a random contrast
      stretch then a per-image scale so that the brightest pixel is 1.0, as in every photo input.
    """
    import tensorflow as tf

    n = tf.shape(images)[0]

    def uniform(low, high, shape=None):
        return generator.uniform(tf.stack([n, 1, 1, 1]) if shape is None else shape, low, high)

    def chosen(share):
        return tf.cast(uniform(0.0, 1.0) < share, tf.float32)

    x = _geometry(images, generator, n)

    # Pen: the centre line, drawn again 2-5 pixels wide, its edge softened by a blur.
    redrawn = _pen(x, uniform(0.3, 1.6))
    pen = chosen(PEN)
    x = pen * redrawn + (1.0 - pen) * x

    # Stroke width: t > 0 moves towards the 3x3 dilation, t < 0 towards the erosion.
    t = uniform(-THINNER, THICKER) * chosen(STROKE)
    dilated, eroded = _max3x3(x), -_max3x3(-x)
    x = x + tf.nn.relu(t) * (dilated - x) - tf.nn.relu(-t) * (x - eroded)

    rows, columns = _grid()
    # Gaps: bands 0.5-1 pixel wide, every 6-14 pixels, tilted a little, 40-100 % of the ink taken.
    vertical = uniform(0.0, 1.0) < 0.3
    across = tf.where(vertical, columns, rows)
    along = tf.where(vertical, rows, columns)
    spacing = uniform(6.0, 14.0)
    u = across + uniform(-0.05, 0.05) * (along - CENTRE) - uniform(0.0, 1.0) * spacing
    distance = tf.abs(u - spacing * tf.round(u / spacing))
    band = tf.nn.relu(1.0 - distance / uniform(0.5, 1.0))
    x = x * (1.0 - uniform(0.4, 1.0) * chosen(GAPS) * band)

    # Specks: 0-3 single pixels within the digit's 20x20 box and a pixel around it.
    inside = tf.cast((tf.abs(rows - CENTRE) < 11) & (tf.abs(columns - CENTRE) < 11), tf.float32)
    density = uniform(0.0, 3.0 / 484.0) * chosen(SPECKS)
    specks = tf.cast(uniform(0.0, 1.0, tf.shape(x)) < density, tf.float32) * inside
    x = tf.maximum(x, specks * uniform(0.5, 1.0))

    # Stubs: a 1-pixel line 2-6 pixels long, horizontal or vertical, somewhere near the digit.
    vertical = uniform(0.0, 1.0) < 0.5
    across = tf.where(vertical, columns, rows)
    along = tf.where(vertical, rows, columns)
    length = uniform(2.0, 6.0)
    start = uniform(4.0, 24.0) - length / 2
    line = tf.nn.relu(1.0 - tf.abs(across - uniform(4.0, 24.0)))
    span = tf.clip_by_value(tf.minimum(along - start, start + length - along) + 0.5, 0.0, 1.0)
    x = tf.maximum(x, line * span * uniform(0.6, 1.0) * chosen(STUBS))

    # Blur: part of the way to a 3x3 binomial blur.
    x = x + uniform(0.2, 0.6) * chosen(BLUR) * (_blur3x3(x) - x)

    # Ink levels: below `low` -> 0, above `high` -> 1, linear between; then the brightest pixel -> 1.
    stretch = chosen(INK_LEVELS)
    low = uniform(0.05, 0.3) * stretch
    high = 1.0 - uniform(0.1, 0.4) * stretch
    x = tf.clip_by_value((x - low) / (high - low), 0.0, 1.0)
    x = x / tf.maximum(tf.reduce_max(x, axis=(1, 2, 3), keepdims=True), 1e-3)
    return tf.clip_by_value(x, 0.0, 1.0)


def _max3x3(x):
    """3x3 maximum filter (zero outside the field): nine shifted views, faster than a max pool without oneDNN."""
    import tensorflow as tf

    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    views = [padded[:, i : i + SIDE, j : j + SIDE] for i in range(3) for j in range(3)]
    return tf.reduce_max(tf.stack(views), axis=0)


def _zhang_suen_tables():
    """Which 3x3 neighbourhoods (as 8-bit codes, north first, clockwise) each Zhang-Suen pass deletes."""
    import numpy as np

    first, second = np.zeros(256, np.float32), np.zeros(256, np.float32)
    for code in range(256):
        p = [(code >> i) & 1 for i in range(8)]  # p2 (north), p3 (north-east), ..., p9 (north-west)
        neighbours = sum(p)
        transitions = sum(p[i] == 0 and p[(i + 1) % 8] == 1 for i in range(8))
        if 2 <= neighbours <= 6 and transitions == 1:
            p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
            first[code] = float(p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0)
            second[code] = float(p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0)
    return first, second


def _pen(x, width):
    """The digit's centre line (Zhang-Suen thinning of its ink above half) drawn ``width`` (0-2) dilations wide."""
    import tensorflow as tf

    passes = [tf.constant(table) for table in _zhang_suen_tables()]
    # Neighbour codes by one convolution: north=1, north-east=2, east=4, ... north-west=128.
    weights = tf.constant([[128.0, 1.0, 2.0], [64.0, 0.0, 4.0], [32.0, 16.0, 8.0]])
    weights = tf.reshape(weights, (3, 3, 1, 1))
    ink = tf.cast(x > 0.5, tf.float32)
    for _ in range(6):  # MNIST's strokes are at most about 6 pixels wide: 6 double passes thin them all
        for table in passes:
            code = tf.cast(tf.nn.conv2d(ink, weights, 1, "SAME"), tf.int32)
            ink = ink * (1.0 - tf.gather(table, code))
    once = _max3x3(ink)
    twice = _max3x3(once)
    one, two = tf.clip_by_value(width, 0.0, 1.0), tf.clip_by_value(width - 1.0, 0.0, 1.0)
    return _blur3x3(ink + one * (once - ink) + two * (twice - once))


def _blur3x3(x):
    """3x3 binomial blur: the soft edge of a stroke seen through a lens."""
    import tensorflow as tf

    kernel = tf.constant([0.25, 0.5, 0.25])
    return tf.nn.conv2d(x, tf.reshape(kernel[:, None] * kernel[None, :], (3, 3, 1, 1)), 1, "SAME")


def _grid():
    import tensorflow as tf

    index = tf.range(SIDE, dtype=tf.float32)
    return tf.reshape(index, (1, SIDE, 1, 1)), tf.reshape(index, (1, 1, SIDE, 1))


def _geometry(images, generator, n):
    """One random projective resampling per image: shift, rotation, zoom, slant, aspect, keystone."""
    import math

    import tensorflow as tf

    def uniform(limit):
        return generator.uniform(tf.stack([n]), -limit, limit)

    angle = uniform(ROTATION * 2 * math.pi)
    slant = uniform(SLANT)
    scale = 1.0 + uniform(ZOOM)
    aspect = tf.exp(uniform(ASPECT))
    sx, sy = scale * aspect, scale / aspect
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Forward map (input -> output, about the centre): rotation @ slant @ scale.
    m00, m01 = cos * sx, (cos * slant - sin) * sy
    m10, m11 = sin * sx, (sin * slant + cos) * sy
    det = m00 * m11 - m01 * m10
    # The op wants output -> input: the inverse, about the centre, less the shift.
    i00, i01, i10, i11 = m11 / det, -m01 / det, -m10 / det, m00 / det
    shift = SHIFT * SIDE
    tx, ty = uniform(shift), uniform(shift)
    cx, cy = CENTRE + tx, CENTRE + ty
    a2 = CENTRE - i00 * cx - i01 * cy
    b2 = CENTRE - i10 * cx - i11 * cy
    c0, c1 = uniform(KEYSTONE), uniform(KEYSTONE)
    transforms = tf.stack([i00, i01, a2, i10, i11, b2, c0, c1], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.constant([SIDE, SIDE]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
