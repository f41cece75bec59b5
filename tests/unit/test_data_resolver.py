"""train/data.py's resolver on small synthetic sources: which source wins, what each kind loads,
only the splits a command uses, and one-line errors. No TensorFlow, no network, no real MNIST.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.mnist_data import DataError
from train import download
from train.data import load, load_training_data, resolve_source

ROOT = Path(__file__).resolve().parents[2]
SIZES = {"train": 30, "test": 12}
NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def fake_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(len(split))
    n = SIZES[split]
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def idx_folder(path: Path, splits=("train", "test"), gz: bool = True) -> Path:
    """IDX files of small synthetic splits (train: 30 images, test: 12), gzipped or not."""
    path.mkdir(parents=True, exist_ok=True)
    for split in splits:
        for name, array in zip(NAMES[split], fake_split(split), strict=True):
            data = idx_bytes(array)
            (path / (name + ".gz" if gz else name)).write_bytes(gzip.compress(data) if gz else data)
    return path


def npz_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = fake_split("train"), fake_split("test")
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def photo_folder(path: Path, classes=("3", "7"), per_class: int = 5) -> Path:
    for name in classes:
        (path / name).mkdir(parents=True)
        for k in range(per_class):
            sheet = np.full((60, 60), 230, np.uint8)
            sheet[15:45, 27 + k % 3 : 33 + k % 3] = 20  # a dark vertical stroke on paper
            Image.fromarray(sheet).save(path / name / f"{k}.png")
    return path


def test_source_order(home, tmp_path, monkeypatch):
    explicit = idx_folder(tmp_path / "explicit")
    from_env = idx_folder(tmp_path / "env")
    cache = idx_folder(home / ".cache" / "mnist-edge" / "mnist")
    keras_npz = npz_file(home / ".keras" / "datasets" / "mnist.npz")
    monkeypatch.setenv("MNIST_DATA_DIR", str(from_env))

    assert resolve_source("mnist", explicit) == resolve_source("mnist", str(explicit))
    chosen = resolve_source("mnist", explicit)
    assert (chosen.kind, chosen.path, chosen.given_by) == ("idx", explicit, "--data-dir")
    assert resolve_source("mnist").path == from_env and resolve_source("mnist").given_by == "MNIST_DATA_DIR"
    monkeypatch.delenv("MNIST_DATA_DIR")
    assert (resolve_source("mnist").kind, resolve_source("mnist").path) == ("idx", cache)
    for name in NAMES["train"]:
        (cache / (name + ".gz")).unlink()
    assert (resolve_source("mnist").kind, resolve_source("mnist").path) == ("npz", keras_npz)
    assert resolve_source("mnist", split="test").path == cache  # the test files are all a test-only command needs
    keras_npz.unlink()
    source = resolve_source("mnist")
    assert (source.kind, source.path, source.given_by) == ("download", cache, "download")  # nothing fetched yet
    assert sorted(p.name for p in cache.iterdir()) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_each_kind_loads(home, tmp_path):
    for source in (
        resolve_source("mnist", idx_folder(tmp_path / "gz")),
        resolve_source("mnist", idx_folder(tmp_path / "raw", gz=False)),
        resolve_source("mnist", npz_file(tmp_path / "digits.npz")),
        resolve_source("fashion", npz_file(tmp_path / "with_npz" / "mnist.npz").parent),
    ):
        data = load(source, progress=False)
        assert source.kind in ("idx", "npz")
        assert (len(data.train.labels), len(data.test.labels)) == (30, 12), source
        np.testing.assert_array_equal(data.test.images, fake_split("test")[0])
        assert data.source == {"dataset_files": str(source.path)}
    assert data.class_names[9] == "Ankle boot"


def test_only_the_split_a_command_uses_is_needed(home, tmp_path, monkeypatch):
    """mnist-show mistakes (test images only) with the test files alone: no download of the training files."""
    test_only = idx_folder(tmp_path / "test_only", splits=("test",))
    monkeypatch.setattr(download, "fetch", lambda *a, **k: pytest.fail("nothing should be downloaded"))
    data = load_training_data("mnist", test_only, split="test", progress=False)
    assert (len(data.train.labels), len(data.test.labels)) == (0, 12)
    with pytest.raises(DataError, match=r"missing train-images-idx3-ubyte\.gz, train-labels-idx1-ubyte\.gz;"):
        resolve_source("mnist", test_only)  # training needs both

    cache = idx_folder(home / ".cache" / "mnist-edge" / "mnist", splits=("test",))
    data = load_training_data("mnist", split="test", progress=False)
    assert data.source == {"dataset_files": str(cache)} and len(data.train.labels) == 0
    with pytest.raises(ValueError, match="split must be one of train, test, all"):
        resolve_source("mnist", split="validation")


def test_download_is_asked_for_the_missing_splits_only(home, monkeypatch):
    asked = []

    def fake_fetch(dataset, folder, splits, progress):
        asked.append((dataset, splits))
        return idx_folder(folder, splits)

    monkeypatch.setattr(download, "fetch", fake_fetch)
    data = load_training_data("fashion", split="train", progress=False)
    assert asked == [("fashion", ("train",))] and (len(data.train.labels), len(data.test.labels)) == (30, 0)


def test_a_folder_of_photos(home, tmp_path, monkeypatch):
    folder = photo_folder(tmp_path / "my_digits")
    source = resolve_source("mnist", folder)
    assert (source.kind, source.path, source.mixed_with) == ("image_folder", folder.resolve(), None)
    data = load(source, progress=False)
    assert data.class_names == [str(d) for d in range(10)]  # every folder is a digit: ten outputs kept
    assert len(data.train.labels) + len(data.test.labels) == 10 and len(data.test.labels) == 2
    assert data.source["image_folder"] == str(folder.resolve()) and data.source["mixed_with"] is None

    monkeypatch.setenv("MNIST_DATA_DIR", str(idx_folder(tmp_path / "mnist")))
    mixed = resolve_source("mnist", folder, mix=True)
    assert mixed.mixed_with is not None and mixed.mixed_with.path == tmp_path / "mnist"
    data = load(mixed, progress=False)
    assert (len(data.train.labels), len(data.test.labels)) == (8 + 30, 2 + 12)
    assert data.test_parts == {"my_digits": slice(0, 2), "mnist": slice(2, None)}
    assert data.source["dataset_files"] == str(tmp_path / "mnist")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "nope", "{p}/nope (from --data-dir): no such folder; give a folder holding the four MNIST"),
        (lambda p: (p / "a.txt").write_text("x") and p / "a.txt", "{p}/a.txt (from --data-dir): not a folder or .npz"),
        (lambda p: (p / "loose").mkdir() or Image.new("L", (9, 9)).save(p / "loose" / "a.png") or p / "loose",
         "{p}/loose: 1 image but no class subfolders; lay it out as DIR/<class>/*.png"),
        (lambda p: (p / "d" / "3").mkdir(parents=True) or p / "d", "{p}/d/3: no images (.png, .jpg"),
    ],
)  # fmt: skip
def test_bad_data_dir_is_one_line(home, tmp_path, make, message):
    with pytest.raises(DataError) as error:
        resolve_source("mnist", make(tmp_path))
    assert str(error.value).startswith(message.replace("{p}", str(tmp_path))) and "\n" not in str(error.value)


def test_mix_needs_a_photo_folder(home, tmp_path):
    for data_dir in (None, idx_folder(tmp_path / "files")):
        with pytest.raises(DataError, match=r"^--mix-mnist adds MNIST to your own images; give them with --data-dir"):
            resolve_source("mnist", data_dir, mix=True)


def test_environment_variable_is_named_in_errors(home, tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DATA_DIR", str(tmp_path / "gone"))
    with pytest.raises(DataError, match=r"from FASHION_MNIST_DATA_DIR\): no such folder; .* or unset FASHION_MNIST"):
        resolve_source("fashion")
    with pytest.raises(ValueError, match="unknown dataset 'kmnist'"):
        resolve_source("kmnist")


def test_the_data_layer_needs_no_tensorflow():
    code = "import sys, train.data, train.download, train.image_folder; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.stdout == "False\n", result.stderr
