"""Where train/data.py finds the data, in which order, and what a user reads when the data is bad.

The sources are real folders and files built in tmp_path from ../shared/mnist (the download step,
the last source, is tested with a real local HTTP server in test_download.py). Only environment
variables and HOME are patched, so nothing reads or writes the real user cache.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.mnist_data import DataError, load_split
from train import data, download
from train.data import CLASS_NAMES, DATASETS, load_training_data, resolve_data_dir
from train.download import FILES

SHARED = Path(__file__).resolve().parents[2] / "shared" / "mnist"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


def idx_folder(path: Path) -> Path:
    """A folder with copies of the four real IDX files (copies: a test may damage them)."""
    path.mkdir(parents=True)
    for name in FILES:
        shutil.copy(SHARED / name, path / name)
    return path


def small_npz(path: Path) -> Path:
    """Keras' mnist.npz layout (x_train, y_train, x_test, y_test), with the first images of the real test set."""
    test = load_split(SHARED, "test")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        x_train=test.images[:300],
        y_train=test.labels[:300],
        x_test=test.images[300:400],
        y_test=test.labels[300:400],
    )
    return path


# --- source order: --data-dir > env > cache > Keras' copy (> download: see test_download.py) ---


def test_source_order(home, tmp_path, monkeypatch):
    explicit = idx_folder(tmp_path / "explicit")
    from_env = idx_folder(tmp_path / "from_env")
    cache = idx_folder(home / ".cache" / "mnist-edge" / "mnist")
    keras_npz = small_npz(home / ".keras" / "datasets" / "mnist.npz")
    monkeypatch.setenv("MNIST_DATA_DIR", str(from_env))

    assert resolve_data_dir("mnist", explicit) == explicit
    assert resolve_data_dir("mnist", str(explicit)) == explicit
    assert resolve_data_dir("mnist") == from_env
    monkeypatch.delenv("MNIST_DATA_DIR")
    assert resolve_data_dir("mnist") == cache
    shutil.rmtree(cache)
    assert resolve_data_dir("mnist") == keras_npz
    train, test, names, *_ = load_training_data("mnist")
    assert (len(train.labels), len(test.labels)) == (300, 100)
    assert names == ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]


def test_cache_honours_mnist_cache_dir(home, tmp_path, monkeypatch):
    cache = idx_folder(tmp_path / "elsewhere" / "mnist")
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert resolve_data_dir("mnist") == cache


def test_keras_home_is_honoured(home, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    npz = small_npz(tmp_path / "keras" / "datasets" / "mnist.npz")
    assert resolve_data_dir("mnist") == npz


def test_fashion_sources(home, tmp_path, monkeypatch):
    """MNIST_DATA_DIR points at digits and is ignored for Fashion-MNIST, which has its own variable."""
    monkeypatch.setenv("MNIST_DATA_DIR", str(idx_folder(tmp_path / "digits")))
    keras_fashion = idx_folder(home / ".keras" / "datasets" / "fashion-mnist")  # where Keras keeps it
    small_npz(home / ".keras" / "datasets" / "mnist.npz")  # digits: never a fashion source

    assert resolve_data_dir("fashion") == keras_fashion
    cache = idx_folder(home / ".cache" / "mnist-edge" / "fashion")
    assert resolve_data_dir("fashion") == cache
    fashion_dir = idx_folder(tmp_path / "fashion")
    monkeypatch.setenv("FASHION_MNIST_DATA_DIR", str(fashion_dir))
    assert resolve_data_dir("fashion") == fashion_dir

    train, test, names, *_ = load_training_data("fashion")
    assert len(train.labels) == 60000 and len(test.labels) == 10000
    assert names == list(CLASS_NAMES["fashion"]) and len(names) == 10
    assert names[0] == "T-shirt/top" and names[9] == "Ankle boot"


def test_datasets_and_unknown_name(home):
    assert DATASETS == ("mnist", "fashion")
    assert set(CLASS_NAMES) == set(DATASETS) == set(data.DATA_DIR_ENV)
    with pytest.raises(ValueError, match="unknown dataset 'kmnist'; choose one of mnist, fashion"):
        resolve_data_dir("kmnist")


# --- bad sources: one-line errors that name the folder or file and the fix ---


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message
    return message


def test_missing_data_dir(home, tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DataError) as error:
        resolve_data_dir("mnist", missing)
    message = one_line(error)
    assert message.startswith(f"{missing} (from --data-dir): no such folder;")
    assert "leave out --data-dir to download them" in message


def test_missing_env_folder_names_the_variable(home, tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DATA_DIR", str(tmp_path / "gone"))
    with pytest.raises(DataError) as error:
        resolve_data_dir("fashion")
    message = one_line(error)
    assert "(from FASHION_MNIST_DATA_DIR): no such folder" in message
    assert "Fashion-MNIST IDX files" in message and "unset FASHION_MNIST_DATA_DIR" in message


def test_data_dir_without_the_files(home, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    shutil.copy(SHARED / TEST_IMAGES, folder / TEST_IMAGES)
    with pytest.raises(DataError) as error:
        resolve_data_dir("mnist", folder)
    message = one_line(error)
    assert message.startswith(
        f"{folder} (from --data-dir): missing train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-labels-idx1-ubyte.gz;"
    )

    with pytest.raises(DataError) as error:  # load_split, called directly, says the same about the first gap
        load_split(folder, "test")
    assert f"{folder}: missing {TEST_LABELS.removesuffix('.gz')}.gz" in one_line(error)


def test_data_dir_that_is_a_file(home, tmp_path):
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("hello")
    with pytest.raises(DataError) as error:
        resolve_data_dir("mnist", not_a_folder)
    assert "not a folder or .npz file" in one_line(error)


def test_npz_file_as_data_dir(home, tmp_path):
    npz = small_npz(tmp_path / "digits.npz")
    assert resolve_data_dir("mnist", npz) == npz
    train, test, *_ = load_training_data("mnist", npz)
    assert len(train.labels) == 300 and len(test.labels) == 100


def bad_test_folder(tmp_path: Path, images: bytes | None = None, labels: bytes | None = None) -> Path:
    """A data folder holding the real test set, with the images or labels file replaced by ``bytes``."""
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / TEST_IMAGES).write_bytes(images if images is not None else (SHARED / TEST_IMAGES).read_bytes())
    (folder / TEST_LABELS).write_bytes(labels if labels is not None else (SHARED / TEST_LABELS).read_bytes())
    return folder


def raw(name: str) -> bytes:
    return gzip.decompress((SHARED / name).read_bytes())


def test_truncated_gzip(tmp_path):
    gz = (SHARED / TEST_IMAGES).read_bytes()
    folder = bad_test_folder(tmp_path, images=gz[: len(gz) // 2])
    with pytest.raises(DataError) as error:
        load_split(folder, "test")
    assert one_line(error) == f"{folder / TEST_IMAGES}: truncated gzip file; delete it and download it again"


def test_corrupt_gzip(tmp_path):
    gz = bytearray((SHARED / TEST_LABELS).read_bytes())
    gz[-8] ^= 0xFF  # the CRC-32 in the gzip trailer
    folder = bad_test_folder(tmp_path, labels=bytes(gz))
    with pytest.raises(DataError) as error:
        load_split(folder, "test")
    message = one_line(error)
    assert message.startswith(f"{folder / TEST_LABELS}: corrupt gzip file (")
    assert message.endswith("delete it and download it again")


def test_wrong_magic_number(tmp_path):
    labels = raw(TEST_LABELS)
    folder = bad_test_folder(tmp_path, labels=gzip.compress(b"\x12\x34\x56\x78" + labels[4:], compresslevel=1))
    with pytest.raises(DataError) as error:
        load_split(folder, "test")
    assert one_line(error).startswith(f"{folder / TEST_LABELS}: wrong magic number 12345678, not an IDX file;")


def test_not_gzip_at_all(tmp_path):
    """An HTML error page saved under the .gz name, as a captive portal would serve it."""
    folder = bad_test_folder(tmp_path, images=b"<!DOCTYPE html><html>Sign in to Wi-Fi</html>")
    with pytest.raises(DataError) as error:
        load_split(folder, "test")
    assert one_line(error).startswith(f"{folder / TEST_IMAGES}: wrong magic number 3c21444f, not an IDX file;")


def test_image_label_count_mismatch(tmp_path):
    labels = raw(TEST_LABELS)
    fewer = labels[:4] + (9999).to_bytes(4, "big") + labels[8:-1]  # a consistent IDX file of 9,999 labels
    folder = bad_test_folder(tmp_path, labels=gzip.compress(fewer, compresslevel=1))
    with pytest.raises(DataError) as error:
        load_split(folder, "test")
    message = one_line(error)
    assert message.startswith(f"{folder / TEST_IMAGES} + {TEST_LABELS}: 10000 images but 9999 labels;")


def test_idx_shorter_than_its_header(tmp_path):
    images = raw(TEST_IMAGES)
    folder = bad_test_folder(tmp_path, images=images[:-784])  # not gzipped: read as raw IDX
    with pytest.raises(DataError) as error:
        load_split(folder, "test")
    assert one_line(error).startswith(
        f"{folder / TEST_IMAGES}: truncated ({len(images) - 784} bytes, "
        f"header says {len(images)} for shape (10000, 28, 28));"
    )


def test_missing_folder_and_file(tmp_path):
    with pytest.raises(DataError) as error:
        load_split(tmp_path / "nope", "test")
    assert one_line(error).startswith(f"{tmp_path / 'nope'}: no such folder;")

    folder = bad_test_folder(tmp_path)
    (folder / TEST_LABELS).unlink()
    with pytest.raises(DataError) as error:
        load_split(folder, "test")
    message = one_line(error)
    assert message.startswith(f"{folder}: missing t10k-labels-idx1-ubyte.gz (or t10k-labels-idx1-ubyte);")


def test_bad_data_through_load_training_data(tmp_path, home):
    """The same errors reach a caller of load_training_data, e.g. mnist-train --data-dir."""
    folder = idx_folder(tmp_path / "data")
    gz = (SHARED / TEST_IMAGES).read_bytes()
    (folder / TEST_IMAGES).write_bytes(gz[:1000])
    with pytest.raises(DataError) as error:
        load_training_data("mnist", folder)
    assert one_line(error) == f"{folder / TEST_IMAGES}: truncated gzip file; delete it and download it again"


def test_absurd_header_is_reported_exactly(tmp_path):
    """A corrupt header claiming 4-billion-sized dimensions: the size in the message must not wrap around."""
    labels = raw(TEST_LABELS)
    huge = b"\x00\x00\x08\x03" + (2**32 - 1).to_bytes(4, "big") * 3 + labels[8:]
    folder = bad_test_folder(tmp_path, images=huge)
    with pytest.raises(DataError) as error:
        load_split(folder, "test")
    assert f"header says {16 + (2**32 - 1) ** 3} for shape (4294967295, 4294967295, 4294967295)" in one_line(error)


# --- a command loads only what it uses ---


def test_show_mistakes_with_only_the_test_files(home, tmp_path, tflite_models, monkeypatch, capsys):
    """mnist-show mistakes --model X.tflite judges on test images: the training files are neither read nor fetched."""
    from train.show import main

    cache = home / ".cache" / "mnist-edge" / "mnist"
    cache.mkdir(parents=True)
    for name in (TEST_IMAGES, TEST_LABELS):
        shutil.copy(SHARED / name, cache / name)
    monkeypatch.setattr(download, "fetch", lambda *a, **k: pytest.fail("mnist-show tried to download"))
    model = tflite_models["int8"]
    assert main(["mistakes", "--model", str(model), "--limit", "500", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert f"{model.name}: " in out and "right on 500 images of the MNIST test set" in out, err
    assert (tmp_path / f"mistakes_{model.stem}.png").is_file()
