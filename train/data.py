"""Where the training data comes from: the first of --data-dir, an environment variable, the user cache,
Keras' own download, or a fresh download from the mirrors.

All reading goes through ``edge.mnist_data.load_split``, so training sees the bytes the device sees.
"""

from __future__ import annotations

import os
from pathlib import Path

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


def load_dataset(
    dataset: str = "mnist", data_dir: str | Path | None = None, progress: bool = True
) -> tuple[Split, Split, list[str]]:
    """(train, test, class names) of ``dataset``, from wherever ``resolve_data_dir`` finds it."""
    source = resolve_data_dir(dataset, data_dir, progress=progress)
    return load_split(source, "train"), load_split(source, "test"), list(CLASS_NAMES[dataset])


def _checked_source(path: Path, dataset: str, given_by: str, alternative: str) -> Path:
    """``path`` if it can hold the data; otherwise a one-line DataError naming it and the fix."""
    fix = (
        f"give a folder holding the four {download.TITLES[dataset]} IDX files (or a Keras-style .npz), "
        f"or {alternative} to download them"
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
