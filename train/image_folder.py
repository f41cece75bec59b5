"""Your own digits as a dataset: a folder laid out as ``DIR/<class>/*.png|jpg``.

Every photo goes through ``edge.preprocess`` - the photo-to-MNIST pipeline the edge runner uses
on the device - so a model trained (or an int8 model calibrated) on the folder sees its digits
exactly as it will see them on the Pi. Folder names are the class names; with a model's class
names given (``"0"`` ... ``"9"``), a folder may hold any subset of them.

A folder has no test set of its own, so :func:`held_out` sets one aside: a fifth of each class,
picked by a hash of the file's name. The pick depends on nothing else (not the seed, not the
other files), so training, conversion and ``mnist-show`` hold out the same photos, and adding
photos later never moves an old one between the two sets.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

from edge.mnist_data import DataError, has_mnist_files
from edge.preprocess import IMAGE_SUFFIXES, list_images, prepare_files

TEST_FRACTION = 0.2  # of each class's photos, held out as the folder's test set
_LAYOUT = "lay it out as DIR/<class>/*.png (e.g. DIR/7/my_seven.jpg)"


class ImageFolder(NamedTuple):
    images: np.ndarray  # uint8 (N, 28, 28), MNIST-style: white digit on black
    labels: np.ndarray  # uint8 (N,), indices into class_names
    class_names: list[str]
    paths: list[Path]  # the file each image came from
    skipped: list[str]  # one line per file that could not be used (only with skip_bad=True)


def class_folders(folder: str | Path) -> list[Path]:
    """The non-hidden subfolders of ``folder``: one per class, in class order (numeric names by value)."""
    folder = Path(folder)
    subfolders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(subfolders, key=lambda p: (0, int(p.name), "") if p.name.isdigit() else (1, 0, p.name))


def is_image_folder(path: str | Path) -> bool:
    """Whether ``path`` is meant as a folder of your own images rather than MNIST's IDX files:
    it holds subfolders or images, and no MNIST files.
    """
    path = Path(path)
    if not path.is_dir() or has_mnist_files(path):
        return False
    return bool(class_folders(path)) or any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())


def check_layout(folder: str | Path) -> dict[str, list[Path]]:
    """Class name -> its image files, or a one-line :class:`DataError` saying what is wrong and how to fix it.

    Cheap (no image is decoded), so command lines call it before loading TensorFlow.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; give a folder of class subfolders ({_LAYOUT})")
    classes = class_folders(folder)
    if not classes:
        loose = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        plural = "s" if len(loose) != 1 else ""
        found = f"{len(loose)} image{plural} but no class subfolders" if loose else "no class subfolders"
        raise DataError(f"{folder}: {found}; {_LAYOUT}")
    files = {c.name: list_images(c) for c in classes}
    empty = [name for name, paths in files.items() if not paths]
    if empty:
        shown = ", ".join(str(folder / name) for name in empty[:3]) + (" ..." if len(empty) > 3 else "")
        where = "this class folder" if len(empty) == 1 else "these class folders"
        raise DataError(
            f"{shown}: no images (.png, .jpg, .jpeg, .bmp, .webp ...) in {where}; add some or remove the folder"
        )
    return files


def load_image_folder(
    folder: str | Path,
    class_names: list[str] | tuple[str, ...] | None = None,
    skip_bad: bool = False,
    progress: bool = False,
) -> ImageFolder:
    """Read and preprocess every image under ``folder``'s class subfolders.

    ``class_names`` fixes the label of each class (a model's classes: the folders must be among
    them); without it the folder names, in order, are the classes. An image that cannot be used
    (unreadable, not an image, no digit in it) is an error naming it, unless ``skip_bad``: then
    it is left out and listed in ``skipped``.
    """
    folder = Path(folder)
    files = check_layout(folder)
    names = [str(n) for n in class_names] if class_names is not None else list(files)
    unknown = [name for name in files if name not in names]
    if unknown:
        raise DataError(
            f"{folder / unknown[0]}: {unknown[0]!r} is not one of the classes ({_shorten(names)}) "
            "the model or dataset has; rename or remove the folder"
        )
    paths = [path for name in files for path in files[name]]
    labels_of = {path: names.index(name) for name in files for path in files[name]}
    images, used, errors = _prepare(paths, f"Preparing {folder.name}/", progress)
    if errors and not skip_bad:
        if len(errors) == 1:
            raise DataError(f"{errors[0]} (or pass --skip-bad-images to leave it out)")
        raise DataError(
            f"{len(errors)} of the {len(paths)} images in {folder} cannot be used, the first: {errors[0]} "
            "(fix or remove them, or pass --skip-bad-images to leave them out)"
        )
    if len(used) == 0:
        raise DataError(f"{folder}: none of its {len(paths)} images could be used; {errors[0]}")
    labels = np.array([labels_of[p] for p in used], dtype=np.uint8)
    return ImageFolder(images, labels, names, used, errors)


def held_out(paths: list[Path], labels: np.ndarray, fraction: float = TEST_FRACTION) -> np.ndarray:
    """Boolean mask of the test images: ``fraction`` of each class (rounded; one at least, of two or more)."""
    test = np.zeros(len(paths), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = min(max(round(len(members) * fraction), 1), len(members) - 1) if len(members) >= 2 else 0
        order = sorted(members, key=lambda i: hashlib.sha256(paths[i].name.encode()).hexdigest())
        test[order[:count]] = True
    return test


def report_skipped(skipped: list[str], shown: int = 20) -> None:
    """List the images left out by ``--skip-bad-images`` on stderr (the first ``shown`` of them)."""
    if not skipped:
        return
    print(f"Skipped {len(skipped)} images that cannot be used:", file=sys.stderr)
    for line in skipped[:shown]:
        print(f"  {line}", file=sys.stderr)
    if len(skipped) > shown:
        print(f"  ... and {len(skipped) - shown} more", file=sys.stderr)


def _prepare(paths: list[Path], what: str, progress: bool) -> tuple[np.ndarray, list[Path], list[str]]:
    """``prepare_files`` in chunks, with a progress bar for folders big enough to wait for."""
    if not progress or len(paths) < 200:
        return prepare_files(paths)
    from tqdm import tqdm

    chunks, used, errors = [], [], []
    with tqdm(total=len(paths), desc=what, unit="img", leave=False, disable=None) as bar:
        for start in range(0, len(paths), 64):
            images, ok, bad = prepare_files(paths[start : start + 64])
            chunks.append(images)
            used += ok
            errors += bad
            bar.update(len(paths[start : start + 64]))
    return np.concatenate(chunks), used, errors


def _shorten(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 12 else ", ".join(names[:10]) + f", ... ({len(names)} in all)"
