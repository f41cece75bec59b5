"""SavedModel (or .keras) -> float32, float16, dynamic-range and int8 .tflite files, each one checked.

Every file is evaluated on the full test set in LiteRT with the edge runner's own preprocessing
(edge.runtime.Classifier), compared with the float32 model, checked in every runtime we can
reach, and described in manifest.json. The pieces: convert/variants.py (what each variant is
and how the TFLite converter makes it), convert/fold_flatten.py (Flatten as one constant RESHAPE,
for Arm NN), convert/model_source.py (the user's model, checked),
convert/calibration.py, convert/manifest.py, convert/compat.py (runtimes) and
convert/quantization_debug.py (the layers to blame when int8 loses too much).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from convert import calibration, compat, manifest, metadata
from convert.calibration import DEFAULT_SAMPLES
from convert.fold_flatten import fold_flatten
from convert.model_source import ModelSource, open_model
from convert.quantization_debug import hint_text, layer_hints
from convert.variants import (  # noqa: F401  (re-exported: the names callers know this module by)
    ALL_VARIANTS,
    IO_CHOICES,
    QUANTIZE_CHOICES,
    VARIANTS,
    ConvertError,
    Variant,
    convert_variant,
    output_name,
    variant_names,
)
from edge.files import cannot_write, write_atomic
from edge.mnist_data import Split
from edge.runtime import Classifier
from train.defaults import SEED
from train.tf_quiet import native_stderr_silenced


def check_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` if needed and prove we can write there, before any work is done."""
    why = cannot_write(out_dir)
    if why:
        raise ConvertError(f"{out_dir}: cannot write there ({why}); choose another folder with --out")


# --- evaluation -----------------------------------------------------------------------------


def evaluate(
    model_path: Path, test: Split, progress: bool = False, label: str = "", chunk: int = 1000, quiet: bool = True
) -> float:
    """Top-1 accuracy (0..1) of a .tflite file on ``test``, in LiteRT, as the edge runner computes it."""
    from tqdm.auto import tqdm

    with native_stderr_silenced(quiet):  # LiteRT announces its XNNPACK delegate on the first run
        classifier = Classifier(model_path)
        classifier.predict(test.images[:1])
    correct = 0
    bar = tqdm(
        total=len(test.labels),
        desc=f"evaluating {label}".strip(),
        unit="img",
        disable=None if progress else True,
        leave=False,
        file=sys.stderr,
    )
    with bar:
        for start in range(0, len(test.labels), chunk):
            probabilities = classifier.predict(test.images[start : start + chunk])
            correct += int((probabilities.argmax(axis=1) == test.labels[start : start + chunk]).sum())
            bar.update(len(probabilities))
    return correct / len(test.labels)


# --- all together ---------------------------------------------------------------------------


@dataclass
class ConvertOptions:
    """What mnist-convert's options ask of :func:`convert_all`."""

    variants: Sequence[str] = ALL_VARIANTS
    data_dir: str | Path | None = None  # default: the data the model was trained on, else the dataset's
    dataset: str | None = None  # default: from metrics.json beside the model, else mnist
    calibration_samples: int = DEFAULT_SAMPLES
    calibration_images: np.ndarray | None = None  # uint8 N x 28 x 28; replaces the balanced draw
    evaluate_models: bool = True
    max_accuracy_drop: float | None = None
    check_pythons: Sequence[str] = ()
    progress: bool = True
    verbose: bool = False
    seed: int = SEED
    skip_bad_images: bool = False

    def check(self) -> None:
        """One-line errors for options that cannot work together, before anything is loaded."""
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown or not self.variants:
            raise ConvertError(f"unknown variant {', '.join(unknown) or '(none)'}; choose from {', '.join(VARIANTS)}")
        if self.calibration_samples < 1:
            raise ConvertError(f"--calibration-samples must be at least 1, not {self.calibration_samples}")
        if self.max_accuracy_drop is not None and not self.evaluate_models:
            raise ConvertError("--max-accuracy-drop needs the accuracy; leave out --no-evaluate")
        if self.max_accuracy_drop is not None and not self.max_accuracy_drop >= 0:
            raise ConvertError(f"--max-accuracy-drop must be 0 or more points, not {self.max_accuracy_drop}")


@dataclass
class Conversion:
    """What one run wrote: the manifest (as written) and the failures, one line each."""

    out_dir: Path
    manifest_path: Path
    manifest: dict[str, Any]
    failures: list[str]
    variants: list[str]  # the ones this run converted, in table order
    test: Split | None = None  # the images the files were evaluated on (None if the run needed none)

    @property
    def models(self) -> list[dict[str, Any]]:
        """The manifest entries of this run's files (earlier, untouched files are left out)."""
        return [m for m in self.manifest["models"] if m["variant"] in self.variants]


@dataclass
class _Run:
    """One conversion under way: the options, the model, where it goes, and what it found out."""

    options: ConvertOptions
    source: ModelSource
    out: Path
    dataset: str
    class_names: list[str]
    train: Split | None = None
    test: Split | None = None
    calibration_images: np.ndarray | None = None
    calibration_info: dict[str, Any] | None = None
    reference: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def say(self, text: str) -> None:
        if self.options.progress:
            from tqdm.auto import tqdm

            tqdm.write(text, file=sys.stderr)  # stdout is for the table

    def quiet(self) -> contextlib.AbstractContextManager[Any]:
        return native_stderr_silenced(not self.options.verbose)

    @property
    def needs_int8(self) -> bool:
        return any(VARIANTS[v].quantize == "int8" for v in self.options.variants)


def convert_all(
    model: str | Path, out_dir: str | Path | None = None, options: ConvertOptions | None = None, **settings: Any
) -> Conversion:
    """Convert ``model`` (SavedModel folder or .keras file) into the variants asked for, plus manifest.json.

    ``options`` (or its fields given as keywords) say what to make; ``out_dir`` defaults to the
    training output folder (the model's parent). A quantized model that loses more than
    ``max_accuracy_drop`` points against float32 is kept, marked "failed" in the manifest and
    listed in ``Conversion.failures``.
    """
    options = replace(options or ConvertOptions(), **settings)
    options.check()
    options.variants = [v for v in ALL_VARIANTS if v in options.variants]
    for python in options.check_pythons:  # a wrong path should fail now, not after the conversion
        compat.check_in_python(python, [])
    with native_stderr_silenced(not options.verbose):  # TF's import prints C++ lines whatever its log level
        import tensorflow as tf

    with open_model(model, verbose=options.verbose) as source:
        run = _start(options, source, out_dir)
        _load_data(run)
        entries = _convert_and_evaluate(run)
        _apply_guard(entries, run.reference, options.max_accuracy_drop)
        failures = _explain_failures(run, entries)
        run.say("checking which runtimes load each file...")
        _check_runtimes(entries, run.out, options.check_pythons, run.quiet)
        written = manifest.merged(run.out, _header(run, tf.__version__, entries), entries)
        path = manifest.write(run.out, written)
    return Conversion(run.out, path, written, failures, list(options.variants), run.test)


def _start(options: ConvertOptions, source: ModelSource, out_dir: str | Path | None) -> _Run:
    """Where the files go, which dataset and class names: from the options, else what mnist-train recorded."""
    from train.data import CLASS_NAMES

    out = Path(out_dir).expanduser() if out_dir is not None else source.artifacts
    check_out_dir(out)
    metrics = source.metrics
    dataset = options.dataset or (metrics.dataset if metrics else None) or "mnist"
    if dataset not in CLASS_NAMES:
        raise ConvertError(
            f"unknown dataset {dataset!r} (from {source.artifacts / 'metrics.json'}); "
            f"choose one of {', '.join(CLASS_NAMES)}"
        )
    class_names = (metrics.class_names if metrics else None) or list(CLASS_NAMES[dataset])
    return _Run(options, source, out, dataset, class_names)


def _load_data(run: _Run) -> None:
    """The test images (to evaluate on) and the calibration images (for int8), as far as the run needs them."""
    from train.data import load_training_data

    options = run.options
    data_dir, mix = options.data_dir, False
    trained_on = run.source.metrics.data if run.source.metrics else None
    if data_dir is None and trained_on and trained_on.image_folder:  # trained on your photos: judge, calibrate on them
        data_dir, mix = trained_on.image_folder, bool(trained_on.mixed_with)
    given = options.calibration_images
    if options.evaluate_models or (run.needs_int8 and given is None):
        data = load_training_data(
            run.dataset,
            data_dir,
            mix=mix,
            class_names=run.class_names,
            skip_bad_images=options.skip_bad_images,
            progress=options.progress,
        )
        run.train, run.test = data.train, data.test
    if run.needs_int8 and given is None:
        picked = calibration.balanced_indices(run.train.labels, options.calibration_samples, seed=options.seed)
        run.calibration_images = run.train.images[picked]
        per_class = np.bincount(run.train.labels[picked], minlength=len(run.class_names))
        folder = data.source.get("image_folder")
        where = f"training part of {folder}" if folder else "training images"
        run.calibration_info = {
            "source": f"{where}, balanced over classes",
            "samples": len(picked),
            "seed": options.seed,
            "per_class": per_class.tolist(),
        }
    elif run.needs_int8:
        run.calibration_images = np.asarray(given, dtype=np.uint8).reshape(-1, 28, 28)
        run.calibration_info = {"source": "images given by the caller", "samples": len(run.calibration_images)}


def _convert_and_evaluate(run: _Run) -> list[dict[str, Any]]:
    """Write each variant's file and its manifest entry (evaluated unless --no-evaluate); float32 always."""
    entries: list[dict[str, Any]] = []
    wanted = run.options.variants
    with tempfile.TemporaryDirectory(prefix="mnist-convert-") as tmp:
        # float32 is the yardstick for size and accuracy, so it is made even when not asked for.
        for name in ["float32", *(v for v in wanted if v != "float32")]:
            spec = VARIANTS[name]
            path = (run.out if name in wanted else Path(tmp)) / output_name(run.dataset, name)
            calibrating = f" (calibrating on {len(run.calibration_images)} images)" if spec.quantize == "int8" else ""
            run.say(f"converting {name}{calibrating}...")
            with run.quiet():
                flatbuffer = convert_variant(run.source.saved_model, name, run.calibration_images)
            # Flatten as one constant RESHAPE (convert/fold_flatten.py): Arm NN, 32-bit Pi OS's runtime,
            # reads the file as written; LiteRT's answers stay the same, bit for bit.
            flatbuffer, _ = fold_flatten(flatbuffer)
            # The file carries its class names and provenance (convert/metadata.py); the one evaluated
            # is the one written, and its accuracy goes in once measured (the graph stays the same).
            record = _embedded_record(run, name)
            write_atomic(path, metadata.with_metadata(flatbuffer, record))
            accuracy = None
            if run.options.evaluate_models:
                accuracy = evaluate(
                    path, run.test, progress=run.options.progress, label=name, quiet=not run.options.verbose
                )
                record.update(accuracy=accuracy, evaluated_on=f"{len(run.test.labels)} test images")
                write_atomic(path, metadata.with_metadata(flatbuffer, record))
            entry = {"variant": name, **manifest.describe(path), "summary": spec.summary}
            if accuracy is not None:
                entry["accuracy"] = accuracy
            if name == "float32":
                run.reference = {"variant": "float32", "bytes": entry["bytes"], "accuracy": entry.get("accuracy")}
            if name in wanted:
                entries.append(entry)
    return entries


def _embedded_record(run: _Run, variant: str) -> dict[str, Any]:
    """What ``variant``'s file says about itself (convert/metadata.py), accuracy still to come."""
    import tensorflow as tf

    metrics = run.source.metrics
    return metadata.record(
        variant=variant,
        summary=VARIANTS[variant].summary,
        class_names=run.class_names,
        preprocessing=manifest.PREPROCESSING,
        dataset=run.dataset,
        converted=run.created,
        tensorflow=tf.__version__,
        architecture=metrics.model if metrics else None,
        trained=metadata.trained_at(run.source.artifacts) if metrics else None,
        keras_test_accuracy=metrics.test_accuracy if metrics else None,
        image_folder=metrics.data.image_folder if metrics else None,
        calibration=run.calibration_info if VARIANTS[variant].quantize == "int8" else None,
    )


def _explain_failures(run: _Run, entries: list[dict[str, Any]]) -> list[str]:
    """One line per failed file; for int8 ones, the layers TFLite's quantization debugger finds worst."""
    failed = [e for e in entries if e["status"] == "failed"]
    if any(VARIANTS[e["variant"]].quantize == "int8" for e in failed):
        run.say("asking TFLite's quantization debugger which layers lose the most...")
        # Real digits, not the calibration set: what fails is how the model meets real data.
        debug = run.train.images[calibration.balanced_indices(run.train.labels, 100, seed=run.options.seed + 1)]
        with run.quiet():
            hints = layer_hints(run.source.saved_model, run.calibration_images, debug)
        for entry in failed:
            if VARIANTS[entry["variant"]].quantize == "int8":
                entry["worst_layers"] = hints
    return [f"{e['file']}: {e['failure']}{hint_text(e.get('worst_layers', []))}" for e in failed]


def _header(run: _Run, tensorflow: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest's header; each entry also gets the facts a device reading only its own entry needs."""
    header = {
        "format": manifest.FORMAT_VERSION,
        "created": run.created,
        "source": {
            "model": str(run.source.path.resolve()),
            "keras_test_accuracy": run.source.metrics.test_accuracy if run.source.metrics else None,
        },
        # The work per image (train/macs.py), the same in every file of the model: latency reads against it.
        "macs_per_image": run.source.metrics.raw.get("macs_per_image") if run.source.metrics else None,
        "dataset": run.dataset,
        "class_names": run.class_names,
        "preprocessing": manifest.PREPROCESSING,
        "tensorflow": tensorflow,
        "reference": run.reference,
        "calibration": run.calibration_info,
        "evaluated_on": f"{len(run.test.labels)} test images" if run.options.evaluate_models else None,
    }
    for entry in entries:  # each entry stands alone: a device may read only its own
        entry.update(
            class_names=run.class_names,
            preprocessing=manifest.PREPROCESSING["function"],
            tensorflow=tensorflow,
            source=header["source"]["model"],
            macs_per_image=header["macs_per_image"],
        )
    return header


def _apply_guard(entries: list[dict[str, Any]], reference: dict[str, Any], max_drop: float | None) -> None:
    """Fill in size ratio and accuracy change; mark the models that lost more than ``max_drop`` points."""
    for entry in entries:
        entry["ratio_to_float32"] = entry["bytes"] / reference["bytes"]
        entry["status"] = "ok"
        if entry.get("accuracy") is None:
            continue
        change = 100 * (entry["accuracy"] - reference["accuracy"])
        entry["accuracy_change_points"] = round(change, 4)
        if max_drop is not None and entry["variant"] != "float32" and -change > max_drop + 1e-9:
            entry["status"] = "failed"
            entry["failure"] = f"loses {-change:.2f} points against float32, more than --max-accuracy-drop {max_drop:g}"


def _check_runtimes(
    entries: list[dict[str, Any]],
    out: Path,
    pythons: Sequence[str],
    quiet: Callable[[], contextlib.AbstractContextManager[Any]],
) -> None:
    """entry["runtimes"]: {"ai_edge_litert 2.3.0": {"loads": True, ...}, ...} for each runtime reachable."""
    runtimes = compat.available_runtimes()
    for entry in entries:
        entry["runtimes"] = {}
        for runtime in runtimes:
            with quiet():
                result = compat.check(out / entry["file"], runtime)
            entry["runtimes"][compat.runtime_label(runtime, result.get("version"))] = result
    paths = [(out / e["file"]).resolve() for e in entries]  # the check runs in another folder
    for python in pythons:
        report = compat.check_in_python(python, paths)
        for runtime, per_file in report.items():
            for entry, path in zip(entries, paths, strict=True):
                result = per_file[str(path)]
                entry["runtimes"][compat.runtime_label(runtime, result.get("version"), python)] = result
