"""Reading whatever a user throws at the runner: every bad file gets one line naming it and the fix."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.preprocess import MAX_PIXELS, ImageError, load_image, prepare_file


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims width x height pixels: a few bytes that would decode to gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")
    )
    return path


def assert_one_line_about(error: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    message = str(error.value)
    assert message.startswith(str(path)) and "\n" not in message
    for word in words:
        assert word in message


@pytest.fixture
def digit(sample) -> np.ndarray:
    return sample[0][0]


def test_missing_file(tmp_path):
    with pytest.raises(ImageError) as error:
        load_image(tmp_path / "nope.png")
    assert_one_line_about(error, tmp_path / "nope.png", "no such file")


def test_a_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageError) as error:
        load_image(tmp_path)
    assert_one_line_about(error, tmp_path, "folder")


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", ("not an image", "PNG or JPEG")),
        (b"hello, I am a text file\n", ("not an image", "PNG or JPEG")),
        (b"\x89PNG\r\n\x1a\n garbage", ("truncated or corrupt", "save the file again")),
    ],
    ids=["empty", "text", "png-signature-then-garbage"],
)
def test_not_an_image(tmp_path, content, words):
    path = tmp_path / "digit.png"
    path.write_bytes(content)
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert_one_line_about(error, path, *words)


def test_heic_gets_a_hint(tmp_path):
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(b"\0\0\0\x18ftypheic" + bytes(100))
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert_one_line_about(error, path, "pillow-heif")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image(tmp_path, digit, render_photo, fmt):
    path = tmp_path / f"cut.{fmt.lower()}"
    render_photo(digit, np.random.default_rng(0)).save(path, fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert_one_line_about(error, path, "truncated")


@pytest.mark.parametrize("side", [9500, 20000], ids=["just-over-the-limit", "over-pillows-hard-limit"])
def test_decompression_bomb_is_refused_before_decoding(tmp_path, side):
    path = png_header_only(tmp_path / "bomb.png", side, side)
    assert side * side > MAX_PIXELS
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert_one_line_about(error, path, "scale the image down")


def test_largest_allowed_size_is_not_refused_for_its_size(tmp_path):
    path = png_header_only(tmp_path / "big.png", 9000, 9000)  # 81 megapixels: allowed, but no pixel data
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert "truncated or corrupt" in str(error.value)  # reached decoding: the size passed


def test_animated_image_is_refused(tmp_path, digit):
    path = tmp_path / "anim.gif"
    frames = [Image.fromarray(digit), Image.fromarray(255 - digit)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert_one_line_about(error, path, "animated", "2 frames")


def test_single_frame_gif_and_mpo_are_read(tmp_path, digit):
    Image.fromarray(digit).save(tmp_path / "one.gif")
    assert np.array_equal(prepare_file(tmp_path / "one.gif"), digit)
    # Cameras write MPO: a main image plus previews or depth maps; the main image is the photo.
    main = Image.fromarray(np.stack([255 - digit] * 3, axis=-1)).resize((112, 112))
    main.save(tmp_path / "photo.mpo", "MPO", save_all=True, append_images=[Image.new("RGB", (112, 112))], quality=95)
    assert Image.open(tmp_path / "photo.mpo").n_frames == 2
    assert np.abs(prepare_file(tmp_path / "photo.mpo").astype(int) - digit).mean() < 13


@pytest.mark.parametrize(
    "name, make",
    [
        ("16bit.png", lambda d: Image.fromarray(d.astype(np.uint16) * 257)),
        ("palette.png", lambda d: Image.fromarray(d).convert("P")),
        ("palette_transparent.png", lambda d: Image.fromarray(255 - d).convert("P")),
        ("cmyk.tif", lambda d: Image.fromarray(np.stack([255 - d] * 3, axis=-1)).convert("CMYK")),
        ("bilevel.png", lambda d: Image.fromarray(d).point(lambda v: 255 if v > 127 else 0).convert("1")),
    ],
)
def test_unusual_modes_read_as_the_digit(tmp_path, digit, name, make):
    path = tmp_path / name
    image = make(digit)
    extra = {"transparency": 255} if name == "palette_transparent.png" else {}
    image.save(path, **extra)
    assert load_image(path).mode == image.mode
    expected = (digit > 127) * 255 if name == "bilevel.png" else digit
    assert np.array_equal(prepare_file(path), expected)


def test_cmyk_jpeg_reads_as_the_digit(tmp_path, digit):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(np.stack([255 - digit] * 3, axis=-1)).resize((112, 112)).convert("CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    assert np.abs(prepare_file(path).astype(int) - digit).mean() < 13


def test_no_digit_names_the_file(tmp_path):
    path = tmp_path / "blank.jpg"
    Image.new("RGB", (640, 480), (225, 222, 215)).save(path)
    with pytest.raises(ImageError) as error:
        prepare_file(path)
    assert_one_line_about(error, path, "no digit")
