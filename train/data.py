"""Where the training data comes from, decided once, then read by one loader per kind of source.

:func:`resolve_source` picks the source, cheaply (no image decoded, nothing downloaded), so a
bad ``--data-dir`` fails before TensorFlow loads: the first of ``--data-dir`` (a folder of your
own images, a folder of IDX files, or a Keras-style .npz), the dataset's environment variable,
the user cache, Keras' own download, and last a download into the cache. :func:`load` reads it.
Only the splits a command uses are looked for, read and downloaded (``split``).

MNIST-format files are read by ``edge.mnist_data``, so training sees the bytes the device sees.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from edge.mnist_data import IDX_FILES, NPZ_NAME, DataError, Split, load_idx, load_npz
from train import download
from train.image_folder import check_layout, class_folders, held_out, is_image_folder, load_image_folder

DATASETS = ("mnist", "fashion")

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}

# One variable per dataset: both use the same file names, so one variable cannot point at both.
DATA_DIR_ENV = {"mnist": "MNIST_DATA_DIR", "fashion": "FASHION_MNIST_DATA_DIR"}

# What a command uses ("train", "test" or "all") -> the splits to find, read and download.
SPLITS = {"train": ("train",), "test": ("test",), "all": ("train", "test")}

KINDS = ("image_folder", "idx", "npz", "download")


@dataclass(frozen=True)
class Source:
    """One dataset's source, as :func:`resolve_source` decided it."""

    kind: str  # one of KINDS: your photos, a folder of IDX files, a Keras-style .npz, or IDX files to download
    path: Path  # the folder or .npz file (for "download": the cache folder the files go into)
    dataset: str  # "mnist" or "fashion": class names, checksums, mirrors
    given_by: str  # "--data-dir", the environment variable's name, "cache", "keras" or "download"
    mixed_with: Source | None = None  # an image folder's companion dataset (--mix-mnist)


class TrainingData(NamedTuple):
    train: Split
    test: Split
    class_names: list[str]
    source: dict  # where the images came from, as metrics.json records it under "data"
    test_parts: dict[str, slice]  # the test set's parts when it has several (your photos, MNIST's)


# --- deciding the source ---


def resolve_source(
    dataset: str = "mnist", data_dir: str | Path | None = None, *, mix: bool = False, split: str = "all"
) -> Source:
    """The source of ``dataset`` for a command that uses ``split``; a one-line DataError if it cannot be used."""
    _check_dataset(dataset)
    splits = _splits(split)
    if data_dir is not None and str(data_dir) != "":
        path = Path(data_dir).expanduser()
        if is_image_folder(path):
            check_layout(path)  # a bad folder fails now, before any image is decoded
            companion = _dataset_source(dataset, splits) if mix else None
            return Source("image_folder", path.resolve(), dataset, "--data-dir", companion)
        if not mix:
            return _files_source(path, dataset, splits, "--data-dir", "leave out --data-dir")
    if mix:
        raise DataError(
            "--mix-mnist adds MNIST to your own images; give them with --data-dir DIR "
            "(a folder laid out as DIR/<class>/*.png)"
        )
    return _dataset_source(dataset, splits)


def _dataset_source(dataset: str, splits: tuple[str, ...]) -> Source:
    """Without --data-dir: the environment variable, the user cache, Keras' copy, else a download."""
    variable = DATA_DIR_ENV[dataset]
    if os.environ.get(variable):
        return _files_source(Path(os.environ[variable]).expanduser(), dataset, splits, variable, f"unset {variable}")
    cache = download.default_cache_dir(dataset)
    if not _missing_idx(cache, splits):
        return Source("idx", cache, dataset, "cache")
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "datasets"
    if dataset == "mnist" and (home / NPZ_NAME).is_file():
        return Source("npz", home / NPZ_NAME, dataset, "keras")
    if dataset == "fashion" and (home / "fashion-mnist").is_dir() and not _missing_idx(home / "fashion-mnist", splits):
        return Source("idx", home / "fashion-mnist", dataset, "keras")
    return Source("download", cache, dataset, "download")


def _files_source(path: Path, dataset: str, splits: tuple[str, ...], given_by: str, alternative: str) -> Source:
    """A folder of IDX files or a .npz named by the user; otherwise a one-line DataError naming it and the fix."""
    own = "or a folder of your own images as DIR/<class>/*.png, " if given_by == "--data-dir" else ""
    fix = (
        f"give a folder holding the four {download.TITLES[dataset]} IDX files (or a Keras-style .npz), "
        f"{own}or {alternative} to download them"
    )
    if path.is_file() and path.suffix == ".npz":
        return Source("npz", path, dataset, given_by)
    if not path.exists():
        raise DataError(f"{path} (from {given_by}): no such folder; {fix}")
    if not path.is_dir():
        raise DataError(f"{path} (from {given_by}): not a folder or .npz file; {fix}")
    missing = _missing_idx(path, splits)
    if not missing:
        return Source("idx", path, dataset, given_by)
    if (path / NPZ_NAME).is_file():
        return Source("npz", path / NPZ_NAME, dataset, given_by)
    raise DataError(f"{path} (from {given_by}): missing {', '.join(missing)}; {fix}")


def _missing_idx(folder: Path, splits: tuple[str, ...]) -> list[str]:
    """The IDX files of ``splits`` (gzipped or not) that ``folder`` lacks, as .gz names."""
    bases = [base for split in splits for base in IDX_FILES[split]]
    return [base + ".gz" for base in bases if not any((folder / n).is_file() for n in (base + ".gz", base))]


# --- reading it: one loader per kind ---


def load(
    source: Source,
    *,
    split: str = "all",
    class_names: list[str] | None = None,
    skip_bad_images: bool = False,
    progress: bool = True,
) -> TrainingData:
    """Everything in ``source`` that a command using ``split`` needs; the other split comes back empty."""
    if source.kind == "image_folder":
        return _load_image_folder(source, split, class_names, skip_bad_images, progress)
    return _load_files(source, split, progress)


def _load_files(source: Source, split: str, progress: bool) -> TrainingData:
    """MNIST-format files: a folder of IDX files, a .npz, or IDX files downloaded into the cache first."""
    splits = _splits(split)
    path = source.path
    if source.kind == "download":
        path = download.fetch(source.dataset, path, splits=splits, progress=progress)
    read = load_npz if source.kind == "npz" else load_idx
    train, test = (read(path, part) if part in splits else _EMPTY for part in ("train", "test"))
    return TrainingData(train, test, list(CLASS_NAMES[source.dataset]), {"dataset_files": str(path)}, {})


def _load_image_folder(
    source: Source, split: str, class_names: list[str] | None, skip_bad_images: bool, progress: bool
) -> TrainingData:
    """A folder of your own photos through the edge runner's preprocessing; a fifth of each class held out
    as the test set. With a companion dataset (--mix-mnist) its images are added: your photos first in the
    training set (``--limit`` keeps all of them), and the test set is your held-out photos, then the dataset's.
    Class names: ``class_names`` (a model being fine-tuned) if given, else the dataset's when every folder is
    one of its classes (folders ``0`` ... ``9``), else the folder names.
    """
    folder, mix = source.path, source.mixed_with
    if class_names is None:
        own = [p.name for p in class_folders(folder)]
        standard = list(CLASS_NAMES[source.dataset])
        class_names = standard if mix or all(name in standard for name in own) else own
    photos = load_image_folder(folder, class_names, skip_bad=skip_bad_images, progress=progress)
    test = held_out(photos.paths, photos.labels)
    if not test.any() and not mix:
        raise DataError(
            f"{folder}: too few images to hold out a test set; put at least two images in each class folder"
        )
    train = Split(photos.images[~test], photos.labels[~test])
    tested = Split(photos.images[test], photos.labels[test])
    described = {
        "image_folder": str(folder),
        "image_folder_images": {"train": int((~test).sum()), "test": int(test.sum())},
        "skipped_images": photos.skipped,
        "mixed_with": source.dataset if mix else None,
    }
    parts: dict[str, slice] = {}
    if mix:
        base = _load_files(mix, split, progress)
        parts = {folder.name: slice(0, len(tested.labels)), source.dataset: slice(len(tested.labels), None)}
        train, tested = _joined(train, base.train), _joined(tested, base.test)
        described.update(base.source)
    return TrainingData(train, tested, list(photos.class_names), described, parts)


# --- the same, in one call ---


def load_training_data(
    dataset: str = "mnist",
    data_dir: str | Path | None = None,
    *,
    mix: bool = False,
    class_names: list[str] | None = None,
    skip_bad_images: bool = False,
    progress: bool = True,
    split: str = "all",
) -> TrainingData:
    """``load(resolve_source(...))``: everything ``mnist-train`` trains and tests on (see :func:`load`)."""
    source = resolve_source(dataset, data_dir, mix=mix, split=split)
    return load(source, split=split, class_names=class_names, skip_bad_images=skip_bad_images, progress=progress)


def resolve_data_dir(dataset: str = "mnist", data_dir: str | Path | None = None, progress: bool = True) -> Path:
    """The folder (or .npz file) of ``dataset``'s MNIST-format files, downloading them if no copy is found."""
    _check_dataset(dataset)
    splits = SPLITS["all"]
    if data_dir is not None and str(data_dir) != "":
        source = _files_source(Path(data_dir).expanduser(), dataset, splits, "--data-dir", "leave out --data-dir")
    else:
        source = _dataset_source(dataset, splits)
    if source.kind == "download":
        return download.fetch(dataset, source.path, splits=splits, progress=progress)
    return source.path


_EMPTY = Split(np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))


def _joined(first: Split, second: Split) -> Split:
    return Split(np.concatenate([first.images, second.images]), np.concatenate([first.labels, second.labels]))


def _splits(split: str) -> tuple[str, ...]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    return SPLITS[split]


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
