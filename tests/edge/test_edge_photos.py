"""The realistic photo set (benchmarks/photo_set.py): deterministic, readable files, a complete labels.csv;
and a few photos of every condition read as the MNIST digit they were made from (a regression guard).

numpy, Pillow, OpenCV and edge/ only: this also runs in the TensorFlow-free edge environment.
Accuracy on the whole set is measured by benchmarks/bench_photos.py.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from benchmarks import photo_set
from edge.preprocess import NoDigitError, load_image, prepare_image

PER_CONDITION = 6
SEED = 1234


def _rng(condition: str, i: int) -> np.random.Generator:
    return np.random.default_rng([SEED, photo_set.CONDITIONS.index(condition), i])


@pytest.fixture(scope="module")
def digits(mnist_test) -> tuple[np.ndarray, np.ndarray]:
    """A few test digits (never training ones), the same for every condition."""
    index = np.random.default_rng(SEED).choice(len(mnist_test.images), PER_CONDITION, replace=False)
    return mnist_test.images[index], mnist_test.labels[index]


@pytest.fixture(scope="module")
def rendered(digits) -> dict[str, list[tuple[bytes, str]]]:
    images, _ = digits
    return {
        condition: [photo_set.render(condition, images[i], _rng(condition, i)) for i in range(PER_CONDITION)]
        for condition in photo_set.CONDITIONS
    }


def test_conditions_are_the_documented_ones():
    for condition in ("ink", "paint", "transparent", "exif", "ruled", "squared", "pencil", "shadow", "desk"):
        assert condition in photo_set.CONDITIONS
    for condition in ("perspective", "colour_pen", "webcam", "marker"):
        assert condition in photo_set.CONDITIONS
    assert len(set(photo_set.CONDITIONS)) == len(photo_set.CONDITIONS)
    assert set(photo_set.CLEAN_CONDITIONS) <= set(photo_set.CONDITIONS)


@pytest.mark.parametrize("condition", photo_set.CONDITIONS)
def test_rendering_is_deterministic(condition, digits, rendered):
    images, _ = digits
    for i in (0, PER_CONDITION - 1):
        assert photo_set.render(condition, images[i], _rng(condition, i)) == rendered[condition][i]
    other = photo_set.render(condition, images[0], np.random.default_rng([SEED + 1, 0]))
    assert other[0] != rendered[condition][0][0]


def _allowed_sizes(condition: str) -> set[tuple[int, int]]:
    """Upright sizes, and the reduced sizes load_image decodes big JPEGs at (DCT scaling by 2, 4, 8)."""
    return {(w // k, h // k) for w, h in photo_set.FRAME_SIZES[condition] for k in (1, 2, 4, 8)} | {
        (-(-w // k), -(-h // k)) for w, h in photo_set.FRAME_SIZES[condition] for k in (2, 4, 8)
    }


@pytest.mark.parametrize("condition", photo_set.CONDITIONS)
def test_photos_of_every_condition_read_as_their_mnist_digit(condition, digits, rendered, int8_classifier):
    """The model answers the same for the photo as for the MNIST digit it was drawn from: its own
    mistakes on MNIST do not count against the preprocessing (the test model is small)."""
    images, _ = digits
    on_photos = []
    for data, _ in rendered[condition]:
        try:
            on_photos.append(int(int8_classifier.predict(prepare_image(Image.open(io.BytesIO(data)))).argmax()))
        except NoDigitError:
            on_photos.append(-1)
    on_photos = np.array(on_photos)
    on_mnist = int8_classifier.predict(images).argmax(axis=1)
    # At least 4 of 6: the small test model is less sure of small digits than the default one,
    # and a regression (no digit found, a line or a shadow read) loses most of a condition.
    assert (on_photos == on_mnist).sum() >= PER_CONDITION - 2, f"{condition}: {on_photos} vs {on_mnist}"


@pytest.mark.parametrize("like", ["ink", "webcam", "ruled", "desk"])
def test_photos_with_nothing_written_say_no_digit(like, digits):
    images, _ = digits
    for i in range(4):
        data, _ = photo_set.render_blank(like, images[i], np.random.default_rng([SEED, 99, i]))
        with pytest.raises(NoDigitError, match="no digit"):
            prepare_image(Image.open(io.BytesIO(data)))


def _photo_of_set(seed: int, per_condition: int, number: int, mnist_test, condition: str = photo_set.NO_DIGIT):
    """Photo ``number`` of a condition (blank by default) of the benchmark's set (python -m
    benchmarks.photo_set --seed S --per-condition N), rendered as the set renders it, byte for
    byte; and its digit's label."""
    candidates = photo_set.candidate_digits(len(mnist_test.images), per_condition, seed, condition)[number]
    index = next((i for i in candidates if photo_set.usable(mnist_test.images[i])), candidates[-1])
    rng = photo_set._photo_rng(seed, condition, number)
    data, _ = photo_set.render(condition, mnist_test.images[index], rng)
    return Image.open(io.BytesIO(data)), int(mnist_test.labels[index])


def _blank_of_set(seed: int, per_condition: int, number: int, mnist_test) -> Image.Image:
    return _photo_of_set(seed, per_condition, number, mnist_test)[0]


@pytest.mark.parametrize(
    "seed, per_condition, number",
    [(5, 60, 24), (5, 60, 45), (0, 100, 8), (0, 100, 21), (0, 100, 37), (0, 100, 93), (23, 50, 35)],
    ids=["margin-in-shadow", "grid-piece", "grid-corner", "seed0-21", "grid-line-piece", "seed0-93", "seed23-35"],
)
def test_blank_photos_once_read_as_a_1_say_no_digit(seed, per_condition, number, mnist_test):
    """Blank photos of the benchmark's sets (python -m benchmarks.photo_set --seed S --per-condition
    N) that an earlier version read as a 1: a red margin spanning the frame inside a phone's
    shadow (no room beyond its ends to see it go on), and the short thick leftovers of grid lines
    at their crossings (4-5 times longer than wide, below the 6:1 that once called for the look
    beyond the ends). Rendered as the set renders them, byte for byte."""
    with pytest.raises(NoDigitError, match="no digit"):
        prepare_image(_blank_of_set(seed, per_condition, number, mnist_test))


@pytest.mark.parametrize(
    "seed, per_condition, number",
    [(0, 100, 61), (0, 100, 69), (0, 100, 55), (0, 100, 51), (23, 100, 72), (23, 100, 21)],
    ids=["desk-wedge-corner", "desk-wedge-side", "sheet-edge-sliver", "shadow-corner", "seed23-72", "seed23-21"],
)
def test_marks_at_the_edge_of_a_blank_photo_say_no_digit(seed, per_condition, number, mnist_test):
    """Blank photos of the benchmark's sets that an earlier version read as a 1, 2 or 7: a wedge of
    desk past the sheet's edge, a sliver of the sheet's edge, a shadow's corner, all touching the
    frame off to one side (a tightly cropped digit touches the frame too, but in its middle)."""
    with pytest.raises(NoDigitError, match="no digit"):
        prepare_image(_blank_of_set(seed, per_condition, number, mnist_test))


@pytest.mark.parametrize(
    "seed, number",
    [(5, 17), (5, 25), (0, 58), (23, 38)],
    ids=["seed5-17", "seed5-25", "seed0-58", "seed23-38"],
)
def test_hairlines_left_beside_grid_lines_say_no_digit(seed, number, mnist_test):
    """Blank photos of the benchmark's blank sets (``--conditions blank --per-condition 100``) that
    an earlier version read as a 1 or a 2: one-pixel hairlines that line removal left right beside
    grid lines, slightly off their straight course."""
    with pytest.raises(NoDigitError, match="no digit"):
        prepare_image(_blank_of_set(seed, 100, number, mnist_test))


def test_a_one_pixel_1_on_a_plain_canvas_is_still_a_digit(int8_classifier):
    """A 1 drawn one pixel wide (a paint program's pencil) is no hairline: no line was removed
    beside it."""
    canvas = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(canvas).line([(104, 40), (96, 160)], fill=0, width=1)
    image = prepare_image(canvas)
    assert int(np.argmax(int8_classifier.predict(image[None])[0])) == 1


def test_a_mesh_of_grid_lines_beside_a_digit_is_left_out(mnist_test, int8_classifier, monkeypatch):
    """A squared photo of the benchmark's set (seed 5, 60 per condition, squared 0) where line
    removal left a mesh of the fine grid below a 7 (the grid's lines fainter than the paper's noise
    there): the mesh was joined to the 7 and the two read as an 8. Now the mesh is refused. Line
    removal's second look across the grid now takes that mesh out too, so it is left out here, to
    put the mesh back."""
    from edge import photo

    image, label = _photo_of_set(5, 60, 0, mnist_test, "squared")
    assert label == 7
    monkeypatch.setattr(photo, "_across_family", lambda segments, thickness: None)
    searches = []
    find = photo._find
    monkeypatch.setattr(photo, "_find", lambda *args, **kwargs: searches.append(find(*args, **kwargs)) or searches[-1])
    x = prepare_image(image)
    seven = searches[-1].box
    assert int(np.argmax(int8_classifier.predict(x[None])[0])) == label
    monkeypatch.setattr(photo, "_grid_lines", lambda ink: (0, 0))
    prepare_image(image)
    with_mesh = searches[-1].box
    assert seven[1] + seven[3] < with_mesh[1] + with_mesh[3] - 20  # the mesh below the 7 is left out


def test_a_mesh_is_told_from_digits(mnist_test):
    """The mesh test refuses a grid's crossings but none of MNIST's test digits, drawn at three
    sizes with three stroke widths (the boxy 8s and 0s with straight bars are the risk)."""
    import cv2

    from edge.photo import _grid_lines, _is_a_mesh

    grid = np.zeros((40, 66), bool)
    grid[[5, 6, 19, 20, 33, 34], :] = True
    grid[:, [3, 4, 17, 18, 31, 32, 45, 46, 59, 60]] = True
    assert _grid_lines(grid) == (3, 5) and _is_a_mesh((3, 5))
    comb = grid.copy()
    comb[:10] = comb[28:] = False  # one lying line and the stubs of five upright ones
    assert _is_a_mesh(_grid_lines(comb))
    refused = [
        (size, level, i)
        for size in (34, 56, 84)
        for level in (60, 100, 160)
        for i, digit in enumerate(mnist_test.images[:3000])
        if _is_a_mesh(_grid_lines(cv2.resize(digit, (size, size), interpolation=cv2.INTER_LINEAR) > level))
    ]
    assert refused == []


def test_a_digit_cropped_tight_to_the_frame_is_read(int8_classifier, sample):
    """A photo cropped so tightly that the strokes touch the frame's top and bottom is still the digit."""
    images, labels = sample
    right = 0
    for digit, label in zip(images[:20], labels[:20], strict=True):
        ys, _ = np.nonzero(digit > 60)
        crop = 255 - digit[ys.min() : ys.max() + 1]
        photo = Image.fromarray(crop).resize((crop.shape[1] * 12, crop.shape[0] * 12), Image.BICUBIC)
        right += int(np.argmax(int8_classifier.predict(prepare_image(photo)[None])[0])) == label
    assert right >= 18  # 18 before the frame-edge rule came in, too: a digit cut at its own edges loses a little


def test_a_hands_shadow_with_nothing_written_is_mostly_no_digit(digits):
    """A finger's shadow looks like a stroke once the paper estimate has taken the palm out; it is
    refused as a piece of a shadow. Not always yet (4 of 6 here, none before; 4 of 5 of all blanks in the benchmark)."""
    images, _ = digits
    refused = []
    for i in range(PER_CONDITION):
        data, _ = photo_set.render_blank("shadow", images[i], np.random.default_rng([SEED, 99, i]))
        try:
            prepare_image(Image.open(io.BytesIO(data)))
        except NoDigitError as e:
            refused.append(str(e))
    assert len(refused) >= 4, refused


@pytest.mark.parametrize("condition", photo_set.CONDITIONS)
def test_every_file_decodes_at_the_expected_size(condition, rendered, tmp_path):
    for i, (data, suffix) in enumerate(rendered[condition]):
        path = tmp_path / f"{condition}_{i}{suffix}"
        path.write_bytes(data)
        raw = Image.open(io.BytesIO(data))
        assert raw.format == {".jpg": "JPEG", ".png": "PNG"}[suffix]
        image = load_image(path)
        assert image.size in _allowed_sizes(condition), f"{path.name}: {image.size}"
        if condition in ("paint", "transparent"):
            assert suffix == ".png" and raw.size in photo_set.CANVAS_SIZES
        elif condition == "webcam":
            assert suffix == ".jpg" and raw.size in photo_set.WEBCAM_SIZES
        else:
            assert suffix == ".jpg" and image.mode == "RGB"
            assert raw.size in photo_set.PHOTO_SIZES or raw.size[::-1] in photo_set.PHOTO_SIZES
        if condition == "transparent":
            alpha = np.asarray(raw.convert("RGBA"))[..., 3]
            assert alpha.min() == 0 and alpha.max() == 255 and (alpha == 0).mean() > 0.5
        if condition == "paint":
            rgb = np.asarray(raw.convert("RGB"))
            assert (rgb == 255).all(axis=2).mean() > 0.5  # pure white canvas, no noise


def test_exif_photos_are_stored_turned(rendered):
    orientations = set()
    for data, _ in rendered["exif"]:
        raw = Image.open(io.BytesIO(data))
        orientation = raw.getexif().get(0x0112)
        assert orientation in (3, 6, 8)
        orientations.add(orientation)
        raw.load()
        upright = ImageOps.exif_transpose(raw)
        expected = raw.size[::-1] if orientation in (6, 8) else raw.size
        assert upright.size == expected
        if orientation in (6, 8):
            assert upright.height > upright.width  # held upright: a portrait photo stored sideways
    assert len(orientations) >= 2


def test_render_refuses_unknown_conditions_and_shapes(digits):
    images, _ = digits
    with pytest.raises(ValueError, match="unknown condition"):
        photo_set.render("fog", images[0], np.random.default_rng(0))
    with pytest.raises(ValueError, match="28x28"):
        photo_set.render("ink", np.zeros((14, 14), np.uint8), np.random.default_rng(0))


def test_write_set_lists_every_file_with_its_condition(mnist_test, tmp_path):
    images, labels = mnist_test.images[:300], mnist_test.labels[:300]
    out = tmp_path / "set"
    rows = photo_set.write_set(out, images, labels, per_condition=2, seed=3, workers=1)
    with open(out / "labels.csv", newline="") as f:
        listed = list(csv.DictReader(f))
    assert list(listed[0]) == ["file", "condition", "label", "mnist_index"]
    assert len(listed) == len(rows) == 2 * len(photo_set.CONDITIONS)
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != "labels.csv"}
    assert on_disk == {r["file"] for r in listed}
    for row, returned in zip(listed, rows, strict=True):
        condition, name = row["file"].split("/")
        assert condition == row["condition"] == returned["condition"]
        assert row["file"] == returned["file"]
        index, label = int(row["mnist_index"]), int(row["label"])
        assert label == labels[index] == returned["label"]
        assert name.split(".")[0].endswith(f"_label{label}")
        assert load_image(out / row["file"]).size[0] > 0
    assert {r["condition"] for r in listed} == set(photo_set.CONDITIONS)
    # Different digits per condition.
    assert len({r["mnist_index"] for r in listed}) == len(listed)
    assert not list(tmp_path.glob(".set.*"))  # no temporary folder left behind


def test_write_set_is_the_same_in_parallel_and_replaces_a_set(mnist_test, tmp_path):
    images, labels = mnist_test.images[:100], mnist_test.labels[:100]
    conditions = ("ink", "transparent", "webcam")
    serial = photo_set.write_set(tmp_path / "a", images, labels, 3, seed=5, conditions=conditions, workers=1)
    parallel = photo_set.write_set(tmp_path / "b", images, labels, 3, seed=5, conditions=conditions, workers=2)
    assert serial == parallel
    for row in serial:
        assert (tmp_path / "a" / row["file"]).read_bytes() == (tmp_path / "b" / row["file"]).read_bytes()
    again = photo_set.write_set(tmp_path / "a", images, labels, 1, seed=5, conditions=("ink",), workers=1)
    assert {p.name for p in (tmp_path / "a").iterdir()} == {"ink", "labels.csv"}
    assert len(again) == 1


def test_usable_digits_are_most_of_them(mnist_test):
    images = mnist_test.images[:200]
    assert sum(photo_set.usable(d) for d in images) >= 190
    assert not photo_set.usable(np.zeros((28, 28), np.uint8))


def test_a_squared_digit_the_depth_test_called_a_patch_is_chosen(mnist_test, monkeypatch):
    """Squared photo 52 of the benchmark's set (seed 0, 100 per condition): the 8's strokes pass
    the depth test for a filled patch, and the 8 was passed over for a thin piece of the grid beside
    it (read 1). Strokes that fill little of their box, as wide as the pen's, are the digit's."""
    from edge import photo

    image, label = _photo_of_set(0, 100, 52, mnist_test, "squared")
    assert label == 8
    searches = []
    find = photo._find
    monkeypatch.setattr(photo, "_find", lambda *args, **kwargs: searches.append(find(*args, **kwargs)) or searches[-1])
    prepare_image(image)
    _, _, w, h = searches[-1].box
    assert min(w, h) >= 50, searches[-1].box  # the 8 (68x66 work pixels), not a sliver of the grid
