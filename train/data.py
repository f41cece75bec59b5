"""Where the training data comes from: the first of --data-dir, an environment variable, the user cache,
Keras' own download, or a fresh download from the mirrors.

All reading goes through ``edge.mnist_data.load_split``, so training sees the bytes the device sees.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from edge.mnist_data import IDX_FILES, NPZ_NAME, DataError, Split, load_split
from train import download

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


def resolve_data_dir(dataset: str = "mnist", data_dir: str | Path | None = None, progress: bool = True) -> Path:
    """The folder (or .npz file) to read ``dataset`` from, downloading it if no copy is found.

    Order: ``data_dir`` (the --data-dir flag), the dataset's environment variable
    (MNIST_DATA_DIR or FASHION_MNIST_DATA_DIR), the user cache, Keras' cached copy, a download.
    """
    _check_dataset(dataset)
    if data_dir is not None and str(data_dir) != "":
        return _checked_source(Path(data_dir).expanduser(), dataset, "--data-dir", "leave out --data-dir")
    variable = DATA_DIR_ENV[dataset]
    if os.environ.get(variable):
        return _checked_source(Path(os.environ[variable]).expanduser(), dataset, variable, f"unset {variable}")
    cache = download.default_cache_dir(dataset)
    if not _missing_idx(cache):
        return cache
    keras_copy = _keras_copy(dataset)
    if keras_copy is not None:
        return keras_copy
    return download.fetch(dataset, cache, progress=progress)


class TrainingData(NamedTuple):
    train: Split
    test: Split
    class_names: list[str]
    source: dict  # where the images came from, as metrics.json records it under "data"
    test_parts: dict[str, slice]  # the test set's parts when it has several (your photos, MNIST's)


def load_dataset(
    dataset: str = "mnist",
    data_dir: str | Path | None = None,
    progress: bool = True,
    *,
    class_names: list[str] | None = None,
    skip_bad_images: bool = False,
) -> tuple[Split, Split, list[str]]:
    """(train, test, class names) of ``dataset``, from wherever ``resolve_data_dir`` finds it.

    ``data_dir`` may also be a folder of your own images, ``DIR/<class>/*.png`` (see
    :func:`load_training_data`).
    """
    data = load_training_data(
        dataset, data_dir, class_names=class_names, skip_bad_images=skip_bad_images, progress=progress
    )
    return data.train, data.test, data.class_names


def load_training_data(
    dataset: str = "mnist",
    data_dir: str | Path | None = None,
    *,
    mix: bool = False,
    class_names: list[str] | None = None,
    skip_bad_images: bool = False,
    progress: bool = True,
) -> TrainingData:
    """Everything ``mnist-train`` trains and tests on.

    ``data_dir`` is a folder of MNIST IDX files (or an .npz), or a folder of your own images laid
    out as ``DIR/<class>/*.png|jpg``. Such a folder's photos go through the edge runner's photo
    preprocessing; a fifth of each class is held out as the test set. With ``mix`` the
    ``dataset`` (found as without ``data_dir``) is added: your photos come first in the training
    set, so ``--limit`` keeps all of them, and the test set is your held-out photos, then MNIST's.
    Class names: ``class_names`` (a model being fine-tuned) if given, else the dataset's when
    every folder is one of its classes (folders ``0`` ... ``9``), else the folder names.
    """
    from train.image_folder import held_out, is_image_folder, load_image_folder

    _check_dataset(dataset)
    if data_dir is None or str(data_dir) == "" or not is_image_folder(Path(data_dir).expanduser()):
        if mix:
            raise DataError(
                "--mix-mnist adds MNIST to your own images; give them with --data-dir DIR "
                "(a folder laid out as DIR/<class>/*.png)"
            )
        source = resolve_data_dir(dataset, data_dir, progress=progress)
        names = list(CLASS_NAMES[dataset])
        return TrainingData(
            load_split(source, "train"), load_split(source, "test"), names, {"dataset_files": str(source)}, {}
        )

    folder = Path(data_dir).expanduser().resolve()
    if class_names is None:
        from train.image_folder import class_folders

        own = [p.name for p in class_folders(folder)]
        standard = list(CLASS_NAMES[dataset])
        class_names = standard if mix or all(name in standard for name in own) else own
    photos = load_image_folder(folder, class_names, skip_bad=skip_bad_images, progress=progress)
    test = held_out(photos.paths, photos.labels)
    if not test.any() and not mix:
        raise DataError(
            f"{folder}: too few images to hold out a test set; put at least two images in each class folder"
        )
    train = Split(photos.images[~test], photos.labels[~test])
    tested = Split(photos.images[test], photos.labels[test])
    source = {
        "image_folder": str(folder),
        "image_folder_images": {"train": int((~test).sum()), "test": int(test.sum())},
        "skipped_images": photos.skipped,
        "mixed_with": dataset if mix else None,
    }
    parts: dict[str, slice] = {}
    if mix:
        files = resolve_data_dir(dataset, None, progress=progress)
        base_train, base_test = load_split(files, "train"), load_split(files, "test")
        parts = {folder.name: slice(0, len(tested.labels)), dataset: slice(len(tested.labels), None)}
        train = _joined(train, base_train)
        tested = _joined(tested, base_test)
        source["dataset_files"] = str(files)
    return TrainingData(train, tested, list(photos.class_names), source, parts)


def _joined(first: Split, second: Split) -> Split:
    return Split(np.concatenate([first.images, second.images]), np.concatenate([first.labels, second.labels]))


def _checked_source(path: Path, dataset: str, given_by: str, alternative: str) -> Path:
    """``path`` if it can hold the data; otherwise a one-line DataError naming it and the fix."""
    own = "or a folder of your own images as DIR/<class>/*.png, " if given_by == "--data-dir" else ""
    fix = (
        f"give a folder holding the four {download.TITLES[dataset]} IDX files (or a Keras-style .npz), "
        f"{own}or {alternative} to download them"
    )
    if path.is_file() and path.suffix == ".npz":
        return path
    if not path.exists():
        raise DataError(f"{path} (from {given_by}): no such folder; {fix}")
    if not path.is_dir():
        raise DataError(f"{path} (from {given_by}): not a folder or .npz file; {fix}")
    missing = _missing_idx(path)
    if missing and not (path / NPZ_NAME).is_file():
        raise DataError(f"{path} (from {given_by}): missing {', '.join(missing)}; {fix}")
    return path


def _missing_idx(folder: Path) -> list[str]:
    """The IDX files (gzipped or not) that ``folder`` lacks, as .gz names."""
    bases = [base for split in ("train", "test") for base in IDX_FILES[split]]
    return [base + ".gz" for base in bases if not any((folder / n).is_file() for n in (base + ".gz", base))]


def _keras_copy(dataset: str) -> Path | None:
    """What keras.datasets.<dataset>.load_data() has already downloaded, if anything."""
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "datasets"
    if dataset == "mnist":
        npz = home / NPZ_NAME
        return npz if npz.is_file() else None
    folder = home / "fashion-mnist"
    return folder if folder.is_dir() and not _missing_idx(folder) else None


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
