"""The one preprocessing: MNIST digits pass unchanged, photos become MNIST digits, blanks are refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from edge.preprocess import (
    INPUT_SHAPE,
    NoDigitError,
    list_images,
    load_image,
    normalize,
    prepare_file,
    prepare_files,
    prepare_image,
    to_gray,
)

ROOT = Path(__file__).resolve().parents[2]


def upscaled(digit: np.ndarray, side: int = 112) -> Image.Image:
    return Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)


def test_normalize_keeps_its_contract():
    images = np.array([[[0, 255] * 14] * 28], np.uint8)
    out = normalize(images)
    assert out.shape == (1, *INPUT_SHAPE) and out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == 1.0
    assert normalize(images[0]).shape == (1, 28, 28, 1)


def test_mnist_digits_pass_through_unchanged(sample):
    images, _ = sample
    for digit in images[:100]:
        assert np.array_equal(prepare_image(Image.fromarray(digit)), digit)


@pytest.mark.parametrize(
    "dress",
    [
        pytest.param(lambda d: Image.fromarray(np.stack([d] * 3, axis=-1)), id="rgb"),
        pytest.param(lambda d: Image.fromarray(255 - d), id="dark-on-light"),
        pytest.param(lambda d: Image.fromarray(d.astype(np.uint16) * 257), id="16-bit"),
        pytest.param(lambda d: Image.fromarray(d).convert("P"), id="palette"),
        pytest.param(lambda d: Image.fromarray(np.stack([255 - d] * 3, axis=-1)).convert("CMYK"), id="cmyk"),
        pytest.param(lambda d: Image.fromarray(d).convert("LA"), id="grey+alpha"),
        pytest.param(lambda d: Image.fromarray(d.astype(np.float32) / 255.0, "F"), id="float"),
    ],
)
def test_28x28_in_any_colour_mode_gives_the_mnist_pixels(sample, dress):
    images, _ = sample
    for digit in images[:10]:
        image = dress(digit)
        assert np.array_equal(prepare_image(image), digit), image.mode


def test_a_larger_mnist_style_image_is_brought_back_to_mnist(sample):
    images, _ = sample
    diffs = [np.abs(prepare_image(upscaled(d)).astype(int) - d).mean() for d in images[:50]]
    assert np.median(diffs) < 10.0  # of 255: the same digit, resampled twice and re-thresholded


def test_photo_becomes_an_mnist_digit(sample, render_photo):
    """Fit in 20x20, centre of mass at (14, 14), white on exact black: as MNIST was made."""
    images, _ = sample
    rng = np.random.default_rng(0)
    for digit in images[:20]:
        out = prepare_image(render_photo(digit, rng))
        assert out.shape == (28, 28) and out.dtype == np.uint8
        rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 20
        mass = out.astype(float) / out.sum()
        cy, cx = (mass.sum(axis=1) * np.arange(28)).sum(), (mass.sum(axis=0) * np.arange(28)).sum()
        assert abs(cy - 14) <= 0.75 and abs(cx - 14) <= 0.75
        assert out.max() == 255 and np.median(out[out > 0]) > 110  # mostly saturated strokes, like MNIST's
        assert (out == 0).mean() > 0.6  # paper grain and JPEG noise gone: exact 0 background
        assert np.abs(out.astype(int) - digit).mean() < 23  # pen strokes re-thresholded: not MNIST's greys


def test_exif_rotation_is_honoured(tmp_path, sample):
    digit = sample[0][3]
    upright = upscaled(255 - digit).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # the sensor's rows, counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    stored.save(tmp_path / "rotated.jpg", quality=95, exif=exif)
    expected = prepare_image(upright)
    got = prepare_file(tmp_path / "rotated.jpg")
    unrotated = prepare_image(stored)
    assert np.abs(got.astype(int) - expected).mean() < 5
    assert np.abs(unrotated.astype(int) - expected).mean() > 20  # the test would notice a missed rotation


def test_transparency_is_flattened_whatever_the_ink_colour(sample):
    digit = sample[0][5]
    alpha = np.asarray(upscaled(digit))
    expected = prepare_image(upscaled(digit))
    for ink in (0, 255):  # black ink on a transparent sheet, and white ink (flattened onto black)
        rgba = np.zeros((*alpha.shape, 4), np.uint8)
        rgba[..., :3], rgba[..., 3] = ink, alpha
        assert np.abs(prepare_image(Image.fromarray(rgba, "RGBA")).astype(int) - expected).mean() < 3


def test_uneven_light_a_table_edge_and_specks_are_ignored(sample):
    digit = sample[0][7]
    clean = prepare_image(upscaled(255 - digit, 196))
    rng = np.random.default_rng(3)
    _ys, xs = np.mgrid[0:480, 0:640].astype(np.float32)
    sheet = 240.0 - 90.0 * xs / 640  # a strong shadow towards the right
    sheet[:, :50] = 45.0  # the dark table beside the paper
    sheet[400:404, 560:564] = 30.0  # a speck of dirt
    sheet[20:23, 300:303] = 30.0
    ink = np.asarray(upscaled(digit, 196), np.float32) / 255.0
    region = sheet[150:346, 250:446]
    region[:] = region * (1.0 - ink) + 30.0 * ink
    photo = Image.fromarray(np.clip(sheet + rng.normal(0, 3, sheet.shape), 0, 255).astype(np.uint8))
    assert np.abs(prepare_image(photo).astype(int) - clean).mean() < 10  # with the table in: > 30


def test_pen_thin_strokes_are_thickened_to_mnist_width(sample):
    images, _ = sample
    for digit in images[:10]:
        thin = upscaled(digit, 280).filter(ImageFilter.MinFilter(13))  # a ballpoint, not a marker
        photo = Image.eval(thin, lambda v: 230 - v * 200 // 255)
        assert np.asarray(thin).mean() < 0.6 * np.asarray(upscaled(digit, 280)).mean()
        out = prepare_image(photo)
        ink_ratio = (out > 127).sum() / max(1, (digit > 127).sum())
        assert 0.5 < ink_ratio < 1.8


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(Image.new("L", (300, 200), 255), id="white-paper"),
        pytest.param(Image.new("RGB", (300, 200), (0, 0, 0)), id="black"),
        pytest.param(Image.new("L", (28, 28), 0), id="blank-28x28"),
        pytest.param(Image.new("RGBA", (64, 64), (0, 0, 0, 0)), id="transparent"),
        pytest.param(
            Image.fromarray(np.tile(np.linspace(90, 240, 400), (300, 1)).astype(np.uint8)), id="lighting-only"
        ),
        pytest.param(
            Image.fromarray(np.random.default_rng(0).normal(128, 20, (300, 300)).clip(0, 255).astype(np.uint8)),
            id="sensor-noise",
        ),
        pytest.param(
            Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 300), dtype=np.uint8)), id="static"
        ),
    ],
)
def test_an_image_without_a_digit_says_so(image):
    with pytest.raises(NoDigitError, match="no digit"):
        prepare_image(image)


def test_a_big_photo_is_worked_on_at_reduced_size(tmp_path, sample, render_photo):
    digit = sample[0][9]
    render_photo(digit, np.random.default_rng(1), size=(4000, 3000), scale=40).save(tmp_path / "big.jpg")
    image = load_image(tmp_path / "big.jpg")
    assert max(image.size) < 4000  # decoded with DCT scaling, not at full size
    assert to_gray(image).shape[1] <= 1024
    assert np.abs(prepare_image(image).astype(int) - digit).mean() < 20


def test_list_images_finds_images_in_subfolders_sorted(tmp_path):
    for name in ("b/2.PNG", "a/1.jpg", "c.webp", ".hidden/3.png", "a/.4.png", "notes.txt", "d/e/5.jpeg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert found == ["a/1.jpg", "b/2.PNG", "c.webp", "d/e/5.jpeg"]
    assert [p.name for p in list_images(tmp_path, recursive=False)] == ["c.webp"]


def test_importing_the_preprocessing_does_not_import_pillow():
    """Training and the converter import ``normalize``; Pillow comes only with the first image."""
    code = "import sys, edge.preprocess; print('PIL' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_prepare_files_reports_bad_files_and_keeps_the_rest(tmp_path, sample):
    images, _ = sample
    Image.fromarray(images[0]).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_text("not an image")
    Image.fromarray(255 - images[1]).save(tmp_path / "c.jpg", quality=95)
    Image.new("L", (28, 28)).save(tmp_path / "d.png")
    prepared, used, errors = prepare_files(sorted(tmp_path.iterdir()))
    assert prepared.shape == (2, 28, 28) and prepared.dtype == np.uint8
    assert used == [tmp_path / "a.png", tmp_path / "c.jpg"]
    assert np.array_equal(prepared[0], images[0]) and np.abs(prepared[1].astype(int) - images[1]).mean() < 3
    assert [e.split(": ")[0] for e in errors] == [str(tmp_path / "b.png"), str(tmp_path / "d.png")]
    assert "no digit" in errors[1]
    empty, used, errors = prepare_files([])
    assert empty.shape == (0, 28, 28) and used == [] and errors == []


@pytest.mark.parametrize("grid", [False, True], ids=["ruled", "squared"])
def test_ruled_and_squared_paper_lines_are_ignored(int8_classifier, sample, grid):
    """A notebook: light blue lines across the sheet, a dark table at the side, the digit over the lines."""
    images = sample[0][:30]
    rng = np.random.default_rng(4)
    prepared = []
    for digit in images:
        sheet = np.full((480, 640, 3), 232.0)
        for y in range(20, 480, 36):
            sheet[y : y + 2] = [170, 190, 225]
        if grid:
            for x in range(60, 640, 36):
                sheet[:, x : x + 2] = [170, 190, 225]
        sheet[:, :40] = [60, 50, 40]
        ink = np.asarray(upscaled(digit, 196), np.float32)[..., None] / 255.0
        region = sheet[140:336, 250:446]
        region[:] = region * (1.0 - ink) + np.array([25.0, 25.0, 30.0]) * ink
        photo = np.clip(sheet + rng.normal(0, 3, sheet.shape), 0, 255).astype(np.uint8)
        prepared.append(prepare_image(Image.fromarray(photo)))
    from_paper = int8_classifier.predict(np.stack(prepared)).argmax(axis=1)
    assert (from_paper == int8_classifier.predict(images).argmax(axis=1)).sum() >= 28
    assert np.median([np.abs(p.astype(int) - d).mean() for p, d in zip(prepared, images, strict=True)]) < 13
