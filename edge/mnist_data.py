"""Read MNIST-format data (IDX files, gzipped or not, or Keras' ``mnist.npz``) with numpy alone.

It lives in ``edge/`` so that a Raspberry Pi can measure accuracy on the test set without
TensorFlow, and so that training reads the digits byte for byte as the device does.
Fashion-MNIST uses the same files and layout.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np


class DataError(Exception):
    """Missing or malformed data. The message is one line naming the file and the fix."""


class Split(NamedTuple):
    images: np.ndarray  # uint8, (N, 28, 28)
    labels: np.ndarray  # uint8, (N,)


# Base names of the four IDX files; each may also carry a ".gz" suffix.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
NPZ_NAME = "mnist.npz"

# IDX type codes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_REFETCH = "delete it and download it again"


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file, gzip-compressed or not, checking its header against its length."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path or download the data again") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror}); check its permissions") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except EOFError:
            raise DataError(f"{path}: truncated gzip file; {_REFETCH}") from None
        except (gzip.BadGzipFile, zlib.error, OSError) as e:
            raise DataError(f"{path}: corrupt gzip file ({e}); {_REFETCH}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: wrong magic number {raw[:4].hex() or 'empty'}, not an IDX file; {_REFETCH}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: IDX header is cut short; {_REFETCH}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + math.prod(dims) * dtype.itemsize  # Python ints: a corrupt header cannot overflow
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(f"{path}: {what} ({len(raw)} bytes, header says {expected} for shape {dims}); {_REFETCH}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find_idx(folder: Path, base: str) -> Path:
    for name in (base + ".gz", base):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: missing {base}.gz (or {base}); put the four MNIST IDX files (or mnist.npz) there")


def _checked(images: np.ndarray, labels: np.ndarray, where: str) -> Split:
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DataError(f"{where}: images must be uint8 of shape (N, 28, 28), got {images.dtype} {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{where}: labels must be one-dimensional, got shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{where}: {len(images)} images but {len(labels)} labels; the files do not belong together, "
            "download them again"
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{where}: labels must be 0-9, found {labels.min()}..{labels.max()}")
    return Split(np.ascontiguousarray(images), labels.astype(np.uint8))


def has_mnist_files(folder: str | Path) -> bool:
    """Whether a folder looks like an MNIST-format data folder (IDX files or mnist.npz)."""
    folder = Path(folder)
    base = IDX_FILES["test"][0]
    return any((folder / n).is_file() for n in (base, base + ".gz", NPZ_NAME))


def load_split(source: str | Path, split: str) -> Split:
    """Load ``split`` ("train" or "test") from a folder of IDX files, a folder with mnist.npz, or an .npz file."""
    _check_split(split)
    source = Path(source)
    if source.is_file() and source.suffix == ".npz":
        return load_npz(source, split)
    if not source.is_dir():
        raise DataError(f"{source}: no such folder; give a folder that holds the MNIST IDX files or mnist.npz")
    image_base = IDX_FILES[split][0]
    if not any((source / n).is_file() for n in (image_base, image_base + ".gz")) and (source / NPZ_NAME).is_file():
        return load_npz(source / NPZ_NAME, split)
    return load_idx(source, split)


def load_idx(folder: str | Path, split: str) -> Split:
    """Load ``split`` from the two IDX files (gzipped or not) of a folder."""
    _check_split(split)
    folder = Path(folder)
    images_path, labels_path = (_find_idx(folder, base) for base in IDX_FILES[split])
    return _checked(read_idx(images_path), read_idx(labels_path), f"{images_path} + {labels_path.name}")


def load_npz(path: str | Path, split: str) -> Split:
    """Load ``split`` from a .npz in Keras' mnist.npz layout (x_train, y_train, x_test, y_test)."""
    _check_split(split)
    path = Path(path)
    keys = (f"x_{split}", f"y_{split}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise DataError(f"{path}: no {', '.join(missing)} array; expected Keras' mnist.npz layout")
            images, labels = npz[keys[0]], npz[keys[1]]
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path or download the data again") from None
    except (OSError, ValueError, zlib.error, EOFError) as e:
        raise DataError(f"{path}: not a readable .npz file ({e}); {_REFETCH}") from None
    return _checked(images, labels, str(path))


def _check_split(split: str) -> None:
    if split not in IDX_FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
