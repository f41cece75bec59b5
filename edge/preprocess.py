"""The one image preprocessing used everywhere: training, conversion, evaluation and the device.

Models take float32 pixels in [0, 1], shape (N, 28, 28, 1), white digit on black, as MNIST.

A photo or scan of a digit becomes such an image the way MNIST itself was made (LeCun et al.,
"Gradient-based learning applied to document recognition", 1998): the digit is cut out, scaled
to fit a 20x20 box keeping its aspect ratio, and placed in a 28x28 field so that its centre of
mass is at the centre. Before that, the things a camera adds and NIST's scanner did not are
taken out: EXIF rotation, transparency, colour, dark-on-light ink, uneven lighting and noise.
A 28x28 image is taken to be MNIST-style already and keeps its pixels (only its colours are
made grey, and dark-on-light ink inverted).

numpy and Pillow only; Pillow is imported when an image is first touched, so that importing
``normalize`` stays cheap.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .photo import LUMA

if TYPE_CHECKING:
    from PIL import Image

INPUT_SHAPE = (28, 28, 1)

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".pnm"}
)
# Pillow's own decompression-bomb threshold (about 9500 x 9500). Checked from the header,
# before a single pixel is decoded; Pillow's global setting is left alone.
MAX_PIXELS = 89_478_485
# Photos are worked on at most this many pixels a side: enough for a digit that fills a tenth
# of the frame to keep 100 pixels, and a JPEG is decoded at that size directly (DCT scaling).
WORK_SIDE = 1024

FIELD = 28  # MNIST: a 28x28 field ...
BOX = 20  # ... with the digit scaled to fit a 20x20 box, ...
CENTRE = 14.0  # ... its centre of mass at pixel (14, 14), as measured on the MNIST test set.
# An image needs this much contrast (of 255) between ink and paper to hold a digit.
MIN_CONTRAST = 24.0

_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


class ImageError(Exception):
    """An image that cannot be used. The message is one line: the file, the problem, the fix."""


class NotAnImageError(ImageError):
    """Not an image Pillow reads (a text file, a video, a HEIC without its plug-in), or a broken one."""


class TooManyPixelsError(ImageError):
    """More pixels than a digit photo needs and than the device should decode."""


class NoDigitError(ImageError):
    """The image holds no digit (blank, or too little contrast): saying so beats guessing."""


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) grey levels -> float32 (N, 28, 28, 1) in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    return (images.astype(np.float32) / 255.0).reshape((-1, *INPUT_SHAPE))


def list_images(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Image files in ``folder`` (and its subfolders), sorted; hidden files and folders skipped."""
    folder = Path(folder)
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p
        for p in found
        if p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()
    )


def load_image(source: str | Path | bytes, name: str | None = None) -> Image.Image:
    """Open an image file, or the bytes of one (an upload), as the user sees it: fully decoded,
    first and only frame, EXIF-rotated.

    Refuses, with an :class:`ImageError` naming ``name`` (the file's path by default), what cannot
    be a digit photo or would hurt the device: a missing or unreadable file, a non-image
    (:class:`NotAnImageError`), a truncated file, a decompression bomb (:class:`TooManyPixelsError`),
    and an animated image (which frame holds the digit is anyone's guess; MPO photos, whose extra
    frames are depth maps or previews, use their main image). Bytes are decoded in memory.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    in_memory = isinstance(source, bytes | bytearray)
    name = name or ("upload" if in_memory else str(source))
    fix = "send it again" if in_memory else "copy or save the file again"
    if in_memory:
        if not source:
            raise NotAnImageError(f"{name}: empty; send the image's bytes")
        opened: Any = io.BytesIO(source)
    else:
        opened = Path(source)
        if opened.is_dir():
            raise ImageError(f"{name}: is a folder, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(opened)
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file; check the path") from None
    except PermissionError:
        raise ImageError(f"{name}: permission denied; check the file's permissions") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise TooManyPixelsError(f"{name}: too many pixels ({_first_line(e)}); scale the image down first") from None
    except UnidentifiedImageError:
        heic = not in_memory and opened.suffix.lower() in (".heic", ".heif")
        hint = " (HEIC photos need: pip install pillow-heif)" if heic else ""
        raise NotAnImageError(f"{name}: not an image Pillow can read{hint}; save it as PNG or JPEG") from None
    except OSError as e:
        if e.errno is not None:  # the file system's error: a device, a lost mount
            raise ImageError(f"{name}: cannot read it ({e.strerror})") from None
        raise NotAnImageError(f"{name}: truncated or corrupt image ({_first_line(e)}); {fix}") from None
    except (ValueError, SyntaxError, EOFError) as e:
        raise NotAnImageError(f"{name}: truncated or corrupt image ({_first_line(e)}); {fix}") from None
    with image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise TooManyPixelsError(
                f"{name}: {width}x{height} is {width * height / 1e6:.0f} megapixels, over the "
                f"{MAX_PIXELS / 1e6:.0f}-megapixel limit (a decompression bomb?); scale the image down first"
            )
        frames = getattr(image, "n_frames", 1)
        if frames > 1 and image.format != "MPO":
            raise ImageError(
                f"{name}: animated {image.format} with {frames} frames; save the frame with the digit as PNG or JPEG"
            )
        if image.format == "JPEG":
            image.draft(None, (WORK_SIDE, WORK_SIDE))  # decode big photos at reduced size: much faster
        try:
            image.load()
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise NotAnImageError(f"{name}: truncated or corrupt image data ({_first_line(e)}); {fix}") from None
        return ImageOps.exif_transpose(image)


def prepare_file(path: str | Path) -> np.ndarray:
    """``prepare_image(load_image(path))``, with the file named in any error."""
    image = load_image(path)
    try:
        return prepare_image(image)
    except ImageError as e:
        raise type(e)(f"{path}: {e}") from None


def prepare_files(paths: Iterable[str | Path]) -> tuple[np.ndarray, list[Path], list[str]]:
    """Many files -> (uint8 (N, 28, 28) images, the N files they came from, one-line errors for the rest).

    For training on folders of photos and for calibrating the converter on them: a file that
    cannot be used is reported, not fatal.
    """
    images, used, errors = [], [], []
    for path in map(Path, paths):
        try:
            images.append(prepare_file(path))
            used.append(path)
        except ImageError as e:
            errors.append(str(e))
    stacked = np.stack(images) if images else np.zeros((0, FIELD, FIELD), np.uint8)
    return stacked, used, errors


def prepare_image(image: Image.Image) -> np.ndarray:
    """Any image of one digit -> uint8 (28, 28), white digit on black, as MNIST was made.

    Raises :class:`NoDigitError` for an image with no digit in it, :class:`ImageError` for a
    colour mode that cannot be read.
    """
    from PIL import ImageOps

    pixels = to_pixels(ImageOps.exif_transpose(image))
    if pixels.shape[:2] == (FIELD, FIELD):
        return _as_mnist(_luma(pixels))
    return _photo_to_mnist(pixels)


def to_gray(image: Image.Image) -> np.ndarray:
    """Any Pillow image -> float32 grey levels 0-255 (H, W): :func:`to_pixels`, colour as luma."""
    return _luma(to_pixels(image))


def to_pixels(image: Image.Image) -> np.ndarray:
    """Any Pillow image -> float32 0-255, (H, W) grey or (H, W, 3) colour, transparency flattened onto white.

    Colour is kept because a red pen on green paper can have almost the luma of the paper.
    16-bit and float images are scaled to 0-255; pictures larger than WORK_SIDE are box-reduced
    first. Strokes of one colour on a transparent canvas become dark ink on white, white ones too.
    """
    image = _standard_mode(image)
    side = max(image.size)
    if side > WORK_SIDE:
        image = image.reduce(math.ceil(side / WORK_SIDE))
    pixels = np.asarray(image, dtype=np.float32)
    if image.mode in ("L", "F", "RGB"):
        return pixels
    color, alpha = pixels[..., :-1], pixels[..., -1:] / 255.0
    if image.mode == "LA":
        color, alpha = color[..., 0], alpha[..., 0]
    coverage = alpha[..., 0] if alpha.ndim == 3 else alpha
    opaque = coverage > 0.5
    if (coverage == 0).mean() > 0.5 and opaque.any() and float(np.std(_luma(color)[opaque])) < 20.0:
        # Strokes of one colour on a transparent canvas (a drawing app's export): the strokes are
        # the ink, whatever their colour (white ink would vanish on white, black on black).
        return 255.0 * (1.0 - coverage)
    return color * alpha + 255.0 * (1.0 - alpha)


def _luma(pixels: np.ndarray) -> np.ndarray:
    return pixels @ LUMA if pixels.ndim == 3 else pixels


def _standard_mode(image: Image.Image) -> Image.Image:
    """One of L, F, RGB, LA, RGBA, so that the rest has five cases, not twenty."""
    from PIL import Image

    mode = image.mode
    if mode in _WIDE_MODES:
        return Image.fromarray(_wide_to_255(np.asarray(image), mode), "F")
    if mode in ("1", "L"):
        return image.convert("L")
    if mode in ("LA", "La"):
        return image.convert("LA")
    if mode in ("P", "PA", "RGBA", "RGBa"):
        return image.convert("RGBA")  # a palette's transparent colour becomes alpha
    try:
        return image.convert("RGB")  # RGB, RGBX, CMYK, YCbCr, LAB, HSV
    except ValueError:
        raise ImageError(f"unsupported colour mode {mode}; save the image as PNG or JPEG") from None


def _wide_to_255(pixels: np.ndarray, mode: str) -> np.ndarray:
    """16-bit, 32-bit and float grey levels -> float32 0-255, keeping the image's contrast."""
    pixels = pixels.astype(np.float32)
    if mode.startswith("I;16"):
        return pixels / 257.0  # 65535 -> 255
    top = float(pixels.max()) if pixels.size else 0.0
    if pixels.dtype.kind == "f" and top <= 1.0 and pixels.min() >= 0.0:
        return pixels * 255.0  # float images in [0, 1]
    if top <= 255.0 and pixels.min() >= 0.0:
        return pixels  # already 8-bit levels
    if top <= 65535.0 and pixels.min() >= 0.0:
        return pixels / 257.0  # 16-bit: 65535 -> 255
    low = float(pixels.min())
    return (pixels - low) * (255.0 / max(top - low, 1e-6))


def _as_mnist(gray: np.ndarray) -> np.ndarray:
    """A 28x28 image keeps its pixels: only dark-on-light ink is inverted."""
    background = float(np.median(_border(gray)))
    if _ink_is_dark(gray - background):
        gray = 255.0 - gray
        background = 255.0 - background
    if float(gray.max()) - background < MIN_CONTRAST:
        raise NoDigitError("no digit found: the image is blank or has too little contrast")
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def _photo_to_mnist(pixels: np.ndarray) -> np.ndarray:
    from .photo import NoInkError, digit_ink

    try:
        ink = digit_ink(pixels, MIN_CONTRAST)
    except NoInkError as e:
        raise NoDigitError(str(e)) from None
    return ink_to_mnist(ink)


def ink_to_mnist(ink: np.ndarray) -> np.ndarray:
    """A digit's ink in [0, 1], cropped to the digit -> the model's 28x28 uint8 input: pen strokes
    thickened towards MNIST's, fit into 20x20, centre of mass at the centre. A single digit's and
    each digit of a number's (edge/number.py) alike, so the model sees what it was trained on."""
    digit = _thickened(_fit(ink, 4 * BOX))
    return _centred(_fit(digit, BOX))


def _ink_is_dark(deviation: np.ndarray) -> bool:
    """Whether the ink is darker than the paper: the larger mass of strong deviations decides."""
    noise = _robust_sigma(deviation)
    strong = np.abs(deviation) > max(3.0 * noise, 8.0)
    return float(-deviation[strong & (deviation < 0)].sum()) > float(deviation[strong & (deviation > 0)].sum())


def _robust_sigma(values: np.ndarray) -> float:
    """Noise level from the median absolute deviation: the paper, not the ink, sets it."""
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


def _border(gray: np.ndarray) -> np.ndarray:
    edge = max(1, min(gray.shape) // 20)
    return np.concatenate([gray[:edge].ravel(), gray[-edge:].ravel(), gray[:, :edge].ravel(), gray[:, -edge:].ravel()])


def _fit(ink: np.ndarray, box: int) -> np.ndarray:
    """Scale to fit a box x box square keeping the aspect ratio, averaging pixels when shrinking."""
    from PIL import Image

    height, width = ink.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = Image.fromarray(ink.astype(np.float32), "F").resize(size, resample)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _thickened(digit: np.ndarray) -> np.ndarray:
    """Thicken pen-thin strokes towards MNIST's (about an eighth of the digit's height).

    A ballpoint line on a phone photo is a fifth as thick, relative to the digit, as the
    strokes the model learned from, and would shrink to faint grey at 20x20. Never thins.
    """
    from PIL import Image, ImageFilter

    from .photo import stroke_width

    width = stroke_width(digit > 0.5)
    wanted = 0.12 * max(digit.shape)
    if width >= 0.7 * wanted:
        return digit
    size = min(2 * round((wanted - width) / 2) + 1, 15)
    grown = Image.fromarray(digit, "F").filter(ImageFilter.MaxFilter(size))
    return np.asarray(grown, dtype=np.float32)


def _centred(digit: np.ndarray) -> np.ndarray:
    """Place in the 28x28 field with the centre of mass at (14, 14), as MNIST was made."""
    height, width = digit.shape
    total = float(digit.sum())
    cy = float((digit.sum(axis=1) * np.arange(height)).sum()) / total
    cx = float((digit.sum(axis=0) * np.arange(width)).sum()) / total
    top, left = round(CENTRE - cy), round(CENTRE - cx)
    # Keep the whole digit in the field even when its mass sits far off its box's centre.
    top, left = min(max(top, 0), FIELD - height), min(max(left, 0), FIELD - width)
    field = np.zeros((FIELD, FIELD), np.float32)
    field[top : top + height, left : left + width] = digit
    return np.rint(field * 255.0).astype(np.uint8)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
