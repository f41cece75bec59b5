"""edge/model_info.py: metrics.json and manifest.json read with named fields, from synthetic files."""

from __future__ import annotations

import json

import pytest

from edge.model_info import ModelInfoError, TrainedOn, model_info, read_manifest, read_metrics

METRICS = {
    "model": "tiny",
    "dataset": "fashion",
    "class_names": ["T-shirt", "Trouser"],
    "test_accuracy": 0.91,
    "data": {"image_folder": "/photos", "mixed_with": "mnist", "skipped_images": ["a.png"]},
    "epochs": 5,
}
MANIFEST = {
    "dataset": "mnist",
    "class_names": [0, 1, 2],
    "calibration": {"source": "training images, balanced over classes", "samples": 500, "seed": 42},
    "models": [
        {"file": "mnist_int8.tflite", "variant": "int8", "bytes": 1234, "sha256": "ab"},
        {"file": "mnist_float32.tflite"},
        {"variant": "no file: left out"},
        "not an entry",
    ],
}


def write(folder, name, data):
    (folder / name).write_text(data if isinstance(data, str) else json.dumps(data))


def test_no_file_is_none(tmp_path):
    assert read_metrics(tmp_path) is None and read_manifest(tmp_path) is None


def test_metrics_fields_are_named(tmp_path):
    write(tmp_path, "metrics.json", METRICS)
    metrics = read_metrics(tmp_path)
    assert (metrics.model, metrics.dataset, metrics.test_accuracy) == ("tiny", "fashion", 0.91)
    assert metrics.class_names == ["T-shirt", "Trouser"]
    assert metrics.data == TrainedOn("/photos", "mnist", ["a.png"])
    assert metrics.raw["epochs"] == 5 and metrics.path == tmp_path / "metrics.json"


def test_missing_optional_fields_are_none_or_empty(tmp_path):
    write(tmp_path, "metrics.json", {"data": "not a record", "test_accuracy": "n/a", "class_names": []})
    metrics = read_metrics(tmp_path)
    assert (metrics.model, metrics.dataset, metrics.class_names, metrics.test_accuracy) == (None, None, None, None)
    assert metrics.data == TrainedOn()
    write(tmp_path, "manifest.json", {})
    manifest = read_manifest(tmp_path)
    assert manifest.models == [] and manifest.calibration is None and manifest.dataset is None


def test_manifest_entries_and_calibration(tmp_path):
    write(tmp_path, "manifest.json", MANIFEST)
    manifest = read_manifest(tmp_path)
    assert [(m.file, m.variant, m.bytes) for m in manifest.models] == [
        ("mnist_int8.tflite", "int8", 1234),
        ("mnist_float32.tflite", "mnist_float32", None),  # no variant recorded: the file's stem
    ]
    assert manifest.models[0].raw == MANIFEST["models"][0]
    assert manifest.class_names == ["0", "1", "2"]
    assert (manifest.calibration.samples, manifest.calibration.seed) == (500, 42)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_a_file_that_cannot_be_read_is_one_line_naming_it(tmp_path, text):
    write(tmp_path, "manifest.json", text)
    with pytest.raises(ModelInfoError) as error:
        read_manifest(tmp_path)
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / "manifest.json") in message and "mnist-convert" in message


def test_model_info_prefers_the_training_record_and_tolerates_broken_files(tmp_path):
    model = tmp_path / "mnist_int8.tflite"
    write(tmp_path, "manifest.json", MANIFEST)
    assert model_info(model).dataset == "mnist" and model_info(model).architecture is None
    write(tmp_path, "metrics.json", METRICS)
    info = model_info(model)
    assert (info.dataset, info.class_names, info.architecture) == ("fashion", ["T-shirt", "Trouser"], "tiny")
    assert info.data.image_folder == "/photos"
    write(tmp_path, "metrics.json", "{broken")
    assert model_info(model).dataset == "mnist"
    assert model_info(tmp_path / "elsewhere" / "model.keras").dataset is None
