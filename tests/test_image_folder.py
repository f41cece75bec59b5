"""Your own digits as a dataset: DIR/<class>/*.png|jpg read through the edge runner's photo pipeline,
bad folders refused in one line, and mnist-train training, mixing and fine-tuning on such a folder.

The folder is made here from real MNIST training digits turned into "photos": dark ink on grey
paper, four times the size, with sensor noise, off-centre on a larger sheet, half of them JPEG.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.mnist_data import DataError, load_split
from edge.runtime import Classifier
from train.data import CLASS_NAMES, load_training_data
from train.image_folder import held_out, is_image_folder, load_image_folder

ROOT = Path(__file__).resolve().parents[1]
CLASSES = (0, 3, 7)
PER_CLASS = 30


def photograph(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit as a phone would see it written on paper."""
    big = np.asarray(Image.fromarray(255 - digit).resize((112, 112), Image.Resampling.BICUBIC), np.float32)
    sheet = np.full((140, 160), 232.0, np.float32)
    sheet[14:126, 24:136] = big * (200 / 255) + 32  # ink at ~32, paper at ~232
    sheet += rng.normal(0, 3, sheet.shape)
    return Image.fromarray(np.clip(sheet, 0, 255).astype(np.uint8)).convert("RGB")


def make_photo_folder(folder: Path, mnist_dir: Path) -> dict[str, np.ndarray]:
    """3 classes x 30 photos; returns the source MNIST digits per file name, to compare with."""
    train = load_split(mnist_dir, "train")
    rng = np.random.default_rng(0)
    sources = {}
    for label in CLASSES:
        (folder / str(label)).mkdir(parents=True)
        for k, i in enumerate(np.flatnonzero(train.labels == label)[:PER_CLASS]):
            name = f"{label}/photo_{k:02d}.{'jpg' if k % 2 else 'png'}"
            photograph(train.images[i], rng).save(folder / name, quality=92)
            sources[name] = train.images[i]
    (folder / "notes.txt").write_text("not an image, and not in a class folder: ignored")
    (folder / ".thumbnails").mkdir()  # hidden: not a class
    (folder / "3" / ".DS_Store").write_bytes(b"\0")  # hidden: not an image
    return sources


@pytest.fixture(scope="module")
def photos(tmp_path_factory, mnist_dir) -> tuple[Path, dict[str, np.ndarray]]:
    folder = tmp_path_factory.mktemp("photos") / "my_digits"
    return folder, make_photo_folder(folder, mnist_dir)


def copy_of(photos, tmp_path: Path) -> Path:
    folder = tmp_path / "my_digits"
    shutil.copytree(photos[0], folder)
    return folder


def test_folder_is_read_through_the_photo_pipeline(photos):
    folder, sources = photos
    assert is_image_folder(folder)
    data = load_image_folder(folder)
    assert data.class_names == ["0", "3", "7"]  # folder names, numeric order
    assert data.images.shape == (90, 28, 28) and data.images.dtype == np.uint8
    assert np.bincount(data.labels).tolist() == [30, 30, 30]
    assert data.skipped == []
    similarity = []
    for image, label, path in zip(data.images, data.labels, data.paths, strict=True):
        assert path.parent.name == data.class_names[label]
        source = sources[f"{path.parent.name}/{path.name}"].ravel().astype(float)
        assert np.median(image) == 0 and image.max() > 200  # a white digit on black, as MNIST
        similarity.append(np.corrcoef(image.ravel().astype(float), source)[0, 1])
    # The photos became MNIST digits again, close to the originals (the pipeline refits each
    # digit into its 20x20 box, so a few move by a pixel or change stroke width).
    assert np.median(similarity) > 0.93 and np.min(similarity) > 0.55, np.percentile(similarity, [0, 5, 50])


def test_class_names_given_fix_the_labels(photos):
    data = load_image_folder(photos[0], class_names=CLASS_NAMES["mnist"])
    assert data.class_names == list(CLASS_NAMES["mnist"])
    assert sorted(set(data.labels.tolist())) == list(CLASSES)  # folder "7" is label 7
    with pytest.raises(DataError) as error:
        load_image_folder(photos[0], class_names=["0", "7"])
    assert str(error.value) == (
        f"{photos[0] / '3'}: '3' is not one of the classes (0, 7) the model or dataset has; rename or remove the folder"
    )


def test_held_out_fifth_is_stratified_and_stable(photos):
    data = load_image_folder(photos[0])
    test = held_out(data.paths, data.labels)
    assert np.bincount(data.labels[test]).tolist() == [6, 6, 6]
    # The pick depends on each file's name alone: adding photos never moves an old one.
    more = data.paths + [photos[0] / "0" / f"new_{k}.png" for k in range(10)]
    again = held_out(more, np.concatenate([data.labels, np.zeros(10, np.uint8)]))
    kept = again[: len(data.paths)]
    moved = kept != test
    assert moved.sum() <= 3 and not moved[data.labels != 0].any()  # only class 0's quota changed (6 -> 8)


def test_load_training_data_detects_a_folder(photos):
    train, test, names, *_ = load_training_data("mnist", photos[0])
    assert names == list(CLASS_NAMES["mnist"])  # every folder is a digit: the model keeps 10 outputs
    assert (len(train.labels), len(test.labels)) == (72, 18)
    assert sorted(set(test.labels.tolist())) == list(CLASSES)


def test_mixing_with_mnist(photos, mnist_dir, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_dir))
    data = load_training_data("mnist", photos[0], mix=True)
    assert len(data.train.labels) == 72 + 60_000 and len(data.test.labels) == 18 + 10_000
    own = load_training_data("mnist", photos[0]).train
    assert np.array_equal(data.train.images[:72], own.images)  # your photos first: --limit keeps them
    assert data.test_parts == {"my_digits": slice(0, 18), "mnist": slice(18, None)}
    assert data.source["mixed_with"] == "mnist" and data.source["image_folder"] == str(photos[0].resolve())


def test_bad_folders_are_refused_in_one_line(photos, tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    Image.new("L", (28, 28)).save(loose / "a.png")
    with pytest.raises(DataError) as error:
        load_image_folder(loose)
    assert (
        str(error.value) == f"{loose}: 1 image but no class subfolders; lay it out as DIR/<class>/*.png "
        "(e.g. DIR/7/my_seven.jpg)"
    )

    folder = copy_of(photos, tmp_path)
    (folder / "5").mkdir()
    with pytest.raises(DataError, match=r"my_digits/5: no images .* in this class folder; add some or remove"):
        load_image_folder(folder)
    (folder / "5").rmdir()

    (folder / "3" / "broken.jpg").write_bytes((folder / "3" / "photo_01.jpg").read_bytes()[:300])
    (folder / "7" / "text.png").write_text("not a picture")
    with pytest.raises(DataError) as error:
        load_image_folder(folder)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"2 of the 92 images in {folder} cannot be used, the first: ")
    assert "broken.jpg" in message and message.endswith("or pass --skip-bad-images to leave them out)")

    data = load_image_folder(folder, skip_bad=True)
    assert len(data.labels) == 90 and len(data.skipped) == 2
    assert any("broken.jpg" in s for s in data.skipped) and any("text.png: not an image" in s for s in data.skipped)


def run_train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "train.cli", *args], check=False, cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_mnist_train_refuses_bad_folders(photos, tmp_path):
    folder = copy_of(photos, tmp_path)
    (folder / "9").mkdir()
    result = run_train("--data-dir", str(folder), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and result.stdout == ""
    assert (
        result.stderr == f"error: {folder / '9'}: no images (.png, .jpg, .jpeg, .bmp, .webp ...) in this class "
        "folder; add some or remove the folder\n"
    )

    result = run_train("--mix-mnist", "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and result.stderr.startswith("error: --mix-mnist adds MNIST to your own images;")
    assert not (tmp_path / "out" / "model.keras").exists()

    (folder / "9").rmdir()
    (folder / "7" / "text.png").write_text("not a picture")
    args = ("--data-dir", str(folder), "--out", str(tmp_path / "out"), "--epochs", "1", "--model", "mlp")
    result = run_train(*args)
    assert result.returncode == 2
    assert (
        result.stderr == f"error: {folder / '7' / 'text.png'}: not an image Pillow can read; save it as PNG "
        "or JPEG (or pass --skip-bad-images to leave it out)\n"
    )

    result = run_train(*args, "--skip-bad-images")
    assert result.returncode == 0, result.stderr
    assert "Skipped 1 images that cannot be used:" in result.stderr and "text.png" in result.stderr
    assert "Training mlp (101,770 parameters) on 66 my_digits images, validating on 6" in result.stdout
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert len(metrics["data"]["skipped_images"]) == 1
    assert metrics["data"]["image_folder"] == str(folder.resolve()) and metrics["data"]["mixed_with"] is None
    assert metrics["test_images"] == 18 and metrics["train_images"] + metrics["validation_images"] == 72
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 18 and matrix.sum(axis=1)[list(CLASSES)].tolist() == [6] * 3
    assert np.trace(matrix) / 18 == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert (tmp_path / "out" / "confusion.png").is_file() and (tmp_path / "out" / "curves.png").is_file()


def test_train_and_fine_tune_on_a_folder(photos, small_model, mnist_dir, tmp_path, monkeypatch):
    from train.trainer import TrainConfig, train

    folder = photos[0]
    # Fine-tuning the MNIST model on the photos: it starts from what it knows, so one epoch on
    # 66 images keeps it right on the held-out ones.
    tuned = train(
        TrainConfig(
            epochs=1, data_dir=str(folder), out=str(tmp_path / "tuned"), init_from=str(small_model / "model.keras")
        ),
        False,
    )
    assert tuned["init_from"] == str(small_model / "model.keras")
    assert tuned["class_names"] == list(CLASS_NAMES["mnist"])
    assert tuned["test_accuracy"] >= 16 / 18, tuned["per_class_accuracy"]
    assert tuned["per_class_accuracy"]["1"] is None  # no photos of ones to test on

    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_dir))
    mixed = train(
        TrainConfig(model="mlp", epochs=1, data_dir=str(folder), mix_mnist=True, limit=600, out=str(tmp_path / "mix")),
        False,
    )
    assert mixed["test_images"] == 18 + 10_000 and mixed["train_images"] + mixed["validation_images"] == 600
    assert set(mixed["test_accuracy_by_source"]) == {"my_digits", "mnist"}
    weighted = mixed["test_accuracy_by_source"]["my_digits"] * 18 + mixed["test_accuracy_by_source"]["mnist"] * 10_000
    assert weighted / 10_018 == pytest.approx(mixed["test_accuracy"], abs=1e-4)


def test_converter_calibrates_on_a_folder(photos, small_model, tmp_path):
    """mnist-convert --data-dir DIR: int8 ranges from the folder's training part, accuracy on its held-out part."""
    from convert.converter import convert_all

    conversion = convert_all(
        small_model / "saved_model", tmp_path, variants=("int8",), data_dir=photos[0], progress=False
    )
    assert conversion.manifest["calibration"]["samples"] == 72  # the 18 held-out photos stay unseen
    int8 = conversion.models[0]
    test = load_training_data("mnist", photos[0]).test
    predicted = Classifier(tmp_path / int8["file"]).predict(test.images).argmax(axis=1)
    assert int8["accuracy"] == pytest.approx((predicted == test.labels).mean(), abs=1e-4)
