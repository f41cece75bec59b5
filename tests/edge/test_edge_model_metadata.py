"""The record inside each .tflite file, read on the device with nothing but the standard library
(edge/model_metadata.py): a file copied alone keeps its class names; damaged or older files fall back."""

from __future__ import annotations

import json
import shutil

from edge.classify import main
from edge.model_info import class_names
from edge.model_metadata import METADATA_NAME, metadata_entries, read_embedded


def without_record(data: bytes) -> bytes:
    """The file as mnist-convert wrote it before the record existed (LiteRT's own flatbuffer tools)."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    model.metadata = [m for m in model.metadata if m.name not in (METADATA_NAME, METADATA_NAME.encode())]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def test_every_converted_file_says_what_it_is(tflite_models):
    manifest = json.loads((next(iter(tflite_models.values())).parent / "manifest.json").read_text())
    for entry in manifest["models"]:
        info = read_embedded(tflite_models[entry["variant"]])
        assert info.variant == entry["variant"] and info.dataset == manifest["dataset"] == "mnist"
        assert info.class_names == manifest["class_names"] == [str(d) for d in range(10)]
        assert info.accuracy == entry["accuracy"] and info.preprocessing == manifest["preprocessing"]


def test_a_file_copied_alone_evaluates_to_the_accuracy_it_carries(tmp_path, int8_model, mnist_dir, capsys):
    alone = tmp_path / "pi" / "model.tflite"
    alone.parent.mkdir()
    shutil.copy(int8_model, alone)
    info = read_embedded(alone)
    assert main(["-m", str(alone), "--eval-mnist", str(mnist_dir), "--json", "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == info.accuracy


def test_the_record_names_the_classes_before_the_manifest_does(tmp_path, int8_model, png_folder, capsys):
    """A record names the classes even against a manifest.json beside the file; older files use the manifest."""
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    (tmp_path / "manifest.json").write_text(json.dumps({"class_names": names}))
    model = tmp_path / "model.tflite"
    shutil.copy(int8_model, model)
    assert class_names(model, 10) == [str(d) for d in range(10)]
    model.write_bytes(without_record(int8_model.read_bytes()))
    assert read_embedded(model) is None and "min_runtime_version" in metadata_entries(model.read_bytes())
    assert class_names(model, 10) == names
    assert main(["-m", str(model), "--json", "--threads", "1", str(sorted(png_folder.iterdir())[0])]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["label"] == names[record["digit"]]


def test_damaged_files_have_no_record(tmp_path, int8_model):
    data = int8_model.read_bytes()
    cases = {
        "empty.tflite": b"",
        "text.tflite": b"not a model at all",
        "truncated.tflite": data[: len(data) // 3],
        "zeros.tflite": data[:8] + b"\0" * 64,
        "garbage.tflite": data[:8] + bytes(range(256)) * 4,
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        assert read_embedded(tmp_path / name) is None, name
        assert class_names(tmp_path / name, 10) == [str(d) for d in range(10)]
    assert read_embedded(tmp_path / "missing.tflite") is None
