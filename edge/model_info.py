"""What mnist-train and mnist-convert wrote beside a model, read with the fields named.

``metrics.json`` (mnist-train): the architecture, dataset, class names, test accuracy and the
data it was trained on. ``manifest.json`` (mnist-convert): the dataset, class names, the int8
calibration and one entry per ``.tflite`` file. Both are read by every tool that meets a model
(the converter, mnist-show, mnist-bench, the edge runner), through :func:`read_metrics` and
:func:`read_manifest`: a missing file is ``None``, a missing optional field is ``None`` (or
empty), a file that cannot be read is a :class:`ModelInfoError` of one line. The whole JSON
object stays in ``.raw`` for a tool that rewrites the file.

Standard library only: the edge runner reads its class names here on the device (first from the
record inside the .tflite file, edge/model_metadata.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model_metadata import read_embedded

METRICS_NAME = "metrics.json"
MANIFEST_NAME = "manifest.json"


class ModelInfoError(Exception):
    """metrics.json or manifest.json exists but cannot be used; the message is one line naming the file."""


def _read(path: Path, fix: str) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        reason = " ".join(str(e).split())
        raise ModelInfoError(f"{path}: cannot read it ({reason}); {fix}") from None
    if not isinstance(data, dict):
        raise ModelInfoError(f"{path}: not a JSON object; {fix}")
    return data


def _names(value: Any) -> list[str] | None:
    return [str(n) for n in value] if isinstance(value, list) and value else None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _number(value: Any, kind: type) -> Any:
    try:
        return kind(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class TrainedOn:
    """The "data" record of metrics.json: a folder of your own images, mixed with a dataset or not."""

    image_folder: str | None = None
    mixed_with: str | None = None
    skipped_images: list[Any] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Any) -> TrainedOn:
        data = data if isinstance(data, dict) else {}
        skipped = data.get("skipped_images")
        return cls(
            _text(data.get("image_folder")),
            _text(data.get("mixed_with")),
            list(skipped) if isinstance(skipped, list) else [],
        )


@dataclass(frozen=True)
class Metrics:
    """metrics.json, as mnist-train writes it beside model.keras."""

    path: Path
    model: str | None  # the architecture: cnn, mlp, lenet, tiny
    dataset: str | None
    class_names: list[str] | None
    test_accuracy: float | None
    data: TrainedOn
    raw: dict[str, Any]


@dataclass(frozen=True)
class Calibration:
    """How the int8 files were calibrated: ``source`` says whether the draw can be repeated."""

    source: str | None = None
    samples: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class ModelEntry:
    """One .tflite file of manifest.json."""

    file: str
    variant: str  # e.g. int8_float_io; the file's stem when the entry does not say
    bytes: int | None
    sha256: str | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class Manifest:
    """manifest.json, as mnist-convert writes it beside the .tflite files."""

    path: Path
    dataset: str | None
    class_names: list[str] | None
    calibration: Calibration | None
    models: list[ModelEntry]
    raw: dict[str, Any]


def read_metrics(folder: str | Path) -> Metrics | None:
    """``folder/metrics.json``, or None when there is none; ModelInfoError when it cannot be read."""
    path = Path(folder) / METRICS_NAME
    raw = _read(path, "fix or delete it, or train the model again with mnist-train")
    if raw is None:
        return None
    return Metrics(
        path,
        _text(raw.get("model")),
        _text(raw.get("dataset")),
        _names(raw.get("class_names")),
        _number(raw.get("test_accuracy"), float),
        TrainedOn.from_json(raw.get("data")),
        raw,
    )


def read_manifest(folder: str | Path) -> Manifest | None:
    """``folder/manifest.json``, or None when there is none; ModelInfoError when it cannot be read.

    Entries without a "file" are left out of ``models`` (they name nothing to load).
    """
    path = Path(folder) / MANIFEST_NAME
    raw = _read(path, "run mnist-convert again")
    if raw is None:
        return None
    entries = raw.get("models") if isinstance(raw.get("models"), list) else []
    models = [
        ModelEntry(
            str(m["file"]),
            _text(m.get("variant")) or Path(str(m["file"])).stem,
            _number(m.get("bytes"), int),
            _text(m.get("sha256")),
            m,
        )
        for m in entries
        if isinstance(m, dict) and m.get("file")
    ]
    cal = raw.get("calibration")
    calibration = (
        Calibration(_text(cal.get("source")), _number(cal.get("samples"), int), _number(cal.get("seed"), int))
        if isinstance(cal, dict)
        else None
    )
    return Manifest(path, _text(raw.get("dataset")), _names(raw.get("class_names")), calibration, models, raw)


@dataclass(frozen=True)
class ModelInfo:
    """What the records beside a model say about it; the training's own record wins over the converter's."""

    dataset: str | None = None
    class_names: list[str] | None = None
    data: TrainedOn = field(default_factory=TrainedOn)
    architecture: str | None = None


def model_info(model_path: str | Path) -> ModelInfo:
    """The dataset, class names and training data of a model, from metrics.json or manifest.json beside it.

    Never raises: a record that cannot be read counts as absent (a model is still usable without one).
    """
    folder = Path(model_path).parent
    found: list[Metrics | Manifest] = []
    for read in (read_metrics, read_manifest):
        try:
            record = read(folder)
        except ModelInfoError:
            continue
        if record is not None:
            found.append(record)
    metrics = next((r for r in found if isinstance(r, Metrics)), None)
    return ModelInfo(
        dataset=next((r.dataset for r in found if r.dataset), None),
        class_names=next((r.class_names for r in found if r.class_names), None),
        data=metrics.data if metrics else TrainedOn(),
        architecture=metrics.model if metrics else None,
    )


def class_names(model_path: str | Path, count: int) -> list[str]:
    """The names of a model's ``count`` classes, as every runner prints them: from the record inside
    the .tflite file (edge/model_metadata.py: it travels with the file), else from the converter's
    manifest.json beside the model (older files), else the digits "0" .. str(count - 1)."""
    embedded = read_embedded(model_path)
    if embedded and embedded.class_names and len(embedded.class_names) == count:
        return embedded.class_names
    try:
        manifest = read_manifest(Path(model_path).parent)
    except ModelInfoError:
        manifest = None
    names = manifest.class_names if manifest else None
    if names and len(names) == count:
        return names
    return [str(i) for i in range(count)]
