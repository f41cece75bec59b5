"""The record mnist-convert puts inside each .tflite file (convert/metadata.py, edge/model_metadata.py):
written with LiteRT's flatbuffer tools, read on the device by hand, and enough for a file copied
alone into an empty folder to print its own class names, digits or not.
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

from convert.manifest import PREPROCESSING
from convert.metadata import with_metadata, without_metadata
from convert.tflite_file import read_tflite
from edge.model_info import class_names
from edge.model_metadata import METADATA_NAME, metadata_entries, read_embedded
from edge.runtime import Classifier

ROOT = Path(__file__).resolve().parents[1]


def test_every_converted_file_carries_its_record(tflite_models):
    manifest = json.loads((next(iter(tflite_models.values())).parent / "manifest.json").read_text())
    entries = {m["variant"]: m for m in manifest["models"]}
    for variant, path in tflite_models.items():
        info = read_embedded(path)
        assert info is not None, path
        assert info.class_names == [str(d) for d in range(10)]
        assert (info.variant, info.dataset) == (variant, "mnist")
        assert info.preprocessing == PREPROCESSING
        assert info.accuracy == entries[variant]["accuracy"]  # the file that was evaluated is the one kept
        assert info.raw["evaluated_on"] == manifest["evaluated_on"]
        assert info.raw["converted"] == manifest["created"] and info.raw["architecture"] == "cnn"
        assert info.raw["trained"] and info.raw["keras_test_accuracy"] == manifest["source"]["keras_test_accuracy"]
        assert (info.raw["calibration"] is not None) == variant.startswith("int8")
        # The converter's own entries are still there, and the manifest describes the final bytes.
        parsed = read_tflite(path.read_bytes())
        assert parsed.metadata["min_runtime_version"] == entries[variant]["min_runtime_version"]
        assert "CONVERSION_METADATA" in parsed.metadata
        assert json.loads(parsed.metadata[METADATA_NAME]) == info.raw  # the schema's reader agrees with ours
        assert entries[variant]["bytes"] == path.stat().st_size


def test_the_record_changes_nothing_the_model_computes(tflite_models, mnist_test, tmp_path):
    images = mnist_test.images[:1000]
    for variant in ("float32", "int8", "int8_uint8_io"):
        original = tflite_models[variant].read_bytes()
        bare = tmp_path / f"bare_{variant}.tflite"
        bare.write_bytes(without_metadata(original))
        assert read_embedded(bare) is None and METADATA_NAME not in metadata_entries(bare.read_bytes())
        assert "min_runtime_version" in metadata_entries(bare.read_bytes())
        assert np.array_equal(Classifier(bare).predict(images), Classifier(tflite_models[variant]).predict(images))

        renamed = tmp_path / f"renamed_{variant}.tflite"
        names = [f"class {i}" for i in range(10)]
        renamed.write_bytes(with_metadata(original, {"class_names": names, "variant": variant}))
        assert list(metadata_entries(renamed.read_bytes())).count(METADATA_NAME) == 1  # replaced, not added
        assert read_embedded(renamed).class_names == names
        assert np.array_equal(Classifier(renamed).predict(images), Classifier(bare).predict(images))


def test_class_names_come_from_the_file_then_the_manifest_then_digits(tflite_models, tmp_path):
    original = tflite_models["int8"].read_bytes()
    model = tmp_path / "model.tflite"
    (tmp_path / "manifest.json").write_text(json.dumps({"class_names": list("abcdefghij")}))
    model.write_bytes(with_metadata(original, {"class_names": list("ABCDEFGHIJ")}))
    assert class_names(model, 10) == list("ABCDEFGHIJ")
    assert class_names(model, 3) == list("012")  # names for another number of classes are not this model's
    model.write_bytes(without_metadata(original))  # a file from before the record
    assert class_names(model, 10) == list("abcdefghij")
    (tmp_path / "manifest.json").unlink()
    assert class_names(model, 10) == [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def shapes_model(tmp_path_factory, mnist_dir) -> Path:
    """An int8 file of a model trained on a folder of three classes that are not digits."""
    from convert.converter import convert_all
    from edge.mnist_data import load_split
    from train.trainer import TrainConfig, train

    base = tmp_path_factory.mktemp("shapes")
    folder = base / "shapes"
    train_split = load_split(mnist_dir, "train")
    for digit, name in ((0, "ring"), (3, "snake"), (7, "hook")):
        (folder / name).mkdir(parents=True)
        for k, i in enumerate(np.flatnonzero(train_split.labels == digit)[:30]):
            # dark ink on light paper, four times the size: what a phone would give
            ink = np.asarray(Image.fromarray(255 - train_split.images[i]).resize((112, 112)), np.float32)
            Image.fromarray((ink * 0.8 + 32).astype(np.uint8)).save(folder / name / f"photo_{k:02d}.png")
    train(TrainConfig(model="mlp", epochs=5, data_dir=str(folder), out=str(base / "trained")), False)
    conversion = convert_all(base / "trained" / "saved_model", base / "out", variants=("int8",), progress=False)
    return base / "out" / conversion.models[0]["file"]


def test_a_file_of_your_own_classes_travels_alone(shapes_model, tmp_path):
    info = read_embedded(shapes_model)
    assert info.class_names == ["hook", "ring", "snake"]  # folder names, sorted: the labels it was trained with
    alone = tmp_path / "empty" / "shapes.tflite"
    alone.parent.mkdir()
    shutil.copy(shapes_model, alone)
    assert [p.name for p in alone.parent.iterdir()] == ["shapes.tflite"]
    photos = sorted((shapes_model.parents[1] / "shapes").rglob("photo_0*.png"))
    result = subprocess.run(
        [sys.executable, str(ROOT / "edge" / "classify.py"), "--model", str(alone), "--json", *map(str, photos)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == len(photos) == 30
    assert all(r["label"] == info.class_names[r["digit"]] for r in records)
    right = sum(r["label"] == Path(r["file"]).parent.name for r in records)
    assert right >= 24, records  # photos it was trained on, each printed with its class's own name
