"""Train a digit classifier and write everything the converter and a learner need.

Reads top to bottom like a Keras example: data, model, fit, evaluate, export. What it adds
is what a tutorial leaves out: a validation split (the test set is touched once, at the end),
the best epoch kept, checkpoints after every epoch so ``--resume`` continues an interrupted
run, and artifacts that are written complete or not at all.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from edge.preprocess import normalize
from train.evaluation import confusion_matrix, per_class_accuracy
from train.files import replace_folder, write_json
from train.plots import plot_confusion, plot_curves

CHECKPOINT_DIR = ".checkpoint"
DEFAULT_EPOCHS = 5
DEFAULT_LR = {"mlp": 1e-3, "lenet": 1e-3, "cnn": 2e-3, "tiny": 2e-3}
VALIDATION_FRACTION = 1 / 12  # 5,000 of MNIST's 60,000 training images


class TrainError(Exception):
    """A bad setting or state; the message is one line with the fix."""


class TrainingInterrupted(Exception):
    """Ctrl-C during training; the last completed epoch is checkpointed."""


@dataclass
class TrainConfig:
    model: str = "cnn"
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = 128
    lr: float | None = None  # None: the model's default from DEFAULT_LR
    augment: str | None = None  # None, or one of train.augment.AUGMENTATIONS
    dataset: str = "mnist"
    data_dir: str | None = None
    out: str = "artifacts"
    resume: bool = False
    seed: int = 42
    limit: int | None = None  # train on the first N training images only (quick tries, tests)
    init_from: str | None = None  # start from a trained .keras model (fine-tuning)
    mix_mnist: bool = False  # data_dir is a folder of your own images: add the dataset's images to them
    skip_bad_images: bool = False  # leave out (and list) images of such a folder that cannot be used
    verbose: bool = False

    def validate(self) -> None:
        from train.models import MODELS

        if self.model not in MODELS and not self.init_from:
            raise TrainError(f"unknown model {self.model!r}; choose one of: {', '.join(MODELS)}")
        if self.epochs < 1:
            raise TrainError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise TrainError(f"--batch-size must be at least 1, got {self.batch_size}")
        from train.augment import AUGMENTATIONS

        if self.augment is not None and self.augment not in AUGMENTATIONS:
            raise TrainError(f"unknown --augment {self.augment!r}; choose one of: {', '.join(AUGMENTATIONS)}")
        if self.lr is not None and not self.lr > 0:
            raise TrainError(f"--lr must be positive, got {self.lr}")
        if self.limit is not None and self.limit < 20:
            raise TrainError(f"--limit must be at least 20 images, got {self.limit}")
        if self.init_from and not Path(self.init_from).is_file():
            raise TrainError(f"--init-from {self.init_from}: no such model file; give a .keras file from mnist-train")
        from train.image_folder import check_layout, is_image_folder

        own_images = bool(self.data_dir) and is_image_folder(Path(self.data_dir).expanduser())
        if own_images:
            check_layout(Path(self.data_dir).expanduser())  # a bad folder fails now, not after loading TensorFlow
        if self.mix_mnist and not own_images:
            raise TrainError(
                "--mix-mnist adds MNIST to your own images; give them with --data-dir DIR "
                "(a folder laid out as DIR/<class>/*.png)"
            )


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as e:
        raise TrainError(f"--out {out}: cannot write there ({e.strerror}); choose another folder") from None


def _save_model_atomically(model, path: Path) -> None:
    tmp = path.with_name(f".tmp-{path.name}")  # keeps the .keras suffix Keras insists on
    model.save(tmp)
    os.replace(tmp, path)


def _split_validation(images: np.ndarray, labels: np.ndarray, seed: int):
    order = np.random.default_rng(seed).permutation(len(images))
    n_val = max(1, round(len(images) * VALIDATION_FRACTION))
    val, fit = order[:n_val], order[n_val:]
    return (images[fit], labels[fit]), (images[val], labels[val])


def _dataset(x: np.ndarray, y: np.ndarray, config: TrainConfig):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True).batch(config.batch_size)
    if config.augment:
        from train.augment import augmenter

        augment = augmenter(config.augment, config.seed)
        ds = ds.map(lambda a, b: (augment(a), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _epoch_checkpoint(ckpt: Path, config: TrainConfig, state: dict):
    """A Keras callback that saves last/best models and the run's state after every epoch."""
    import keras

    class EpochCheckpoint(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            self.started, self.earlier = time.perf_counter(), state["wall_time_s"]

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            for key, value in logs.items():
                state["history"].setdefault(key, []).append(float(value))
            val_acc = float(logs.get("val_accuracy", 0.0))
            if val_acc > state["best_val_accuracy"]:
                state["best_val_accuracy"], state["best_epoch"] = val_acc, epoch + 1
                _save_model_atomically(self.model, ckpt / "best.keras")
            _save_model_atomically(self.model, ckpt / "last.keras")
            state["epochs_done"] = epoch + 1
            state["wall_time_s"] = self.earlier + time.perf_counter() - self.started
            write_json(ckpt / "state.json", {"config": asdict(config), **state})

    return EpochCheckpoint()


def _compile(model, config: TrainConfig, steps_per_epoch: int) -> None:
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(config.lr, decay_steps=config.epochs * steps_per_epoch)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def _load_resume_state(ckpt: Path, config: TrainConfig) -> tuple[TrainConfig, dict]:
    state_file = ckpt / "state.json"
    if not state_file.is_file() or not (ckpt / "last.keras").is_file():
        raise TrainError(
            f"--resume: no interrupted training in {ckpt.parent} to continue; run without --resume to start one"
        )
    saved = json.loads(state_file.read_text())
    known = {f.name for f in fields(TrainConfig)}
    resumed = TrainConfig(**{k: v for k, v in saved.pop("config").items() if k in known})
    # The interrupted run's settings win (its schedule and data depend on them); where to read
    # data and how much to print may differ on the new run.
    resumed.out, resumed.resume, resumed.verbose = config.out, True, config.verbose
    resumed.data_dir = config.data_dir or resumed.data_dir
    return resumed, saved


def _plot_curves(history: dict, best_epoch: int, path: Path, title: str) -> None:
    plot_curves(history, best_epoch, path, title)


def _class_names_of(model_file: str | None) -> list[str] | None:
    """The class names a model to fine-tune was trained with (metrics.json beside it), if recorded."""
    if not model_file:
        return None
    try:
        names = json.loads((Path(model_file).parent / "metrics.json").read_text()).get("class_names")
    except (OSError, ValueError):
        return None
    return [str(n) for n in names] if names else None


def _publish(staging: Path, out: Path) -> None:
    """Move finished artifacts into ``out``, replacing old ones only once the new ones are whole."""
    for item in sorted(staging.iterdir()):
        target = out / item.name
        if item.is_dir():
            replace_folder(item, target)
        else:
            os.replace(item, target)


def _data_name(config: TrainConfig) -> str:
    from train.image_folder import is_image_folder

    if config.data_dir and is_image_folder(Path(config.data_dir).expanduser()):
        folder = Path(config.data_dir).expanduser().resolve().name
        return f"{folder} + {config.dataset}" if config.mix_mnist else folder
    return config.dataset


def train(config: TrainConfig, progress: bool = True) -> dict:
    """Train per ``config``; returns the metrics written to ``metrics.json``."""
    config.validate()
    out = Path(config.out)
    _check_writable(out)
    ckpt = out / CHECKPOINT_DIR
    state = {"history": {}, "best_val_accuracy": -1.0, "best_epoch": 0, "epochs_done": 0, "wall_time_s": 0.0}
    if config.resume:
        config, state = _load_resume_state(ckpt, config)
        say = print if progress else (lambda *a, **k: None)
        say(
            f"Resuming {config.model} on {config.dataset} after epoch {state['epochs_done']} of {config.epochs} "
            f"(seed {config.seed}, batch {config.batch_size}, augment {config.augment or 'off'})"
        )
    elif (ckpt / "state.json").is_file() and progress:
        print(f"note: starting afresh; the interrupted run in {ckpt} will be replaced (use --resume to continue it)")
    if config.lr is None:
        config.lr = DEFAULT_LR.get(config.model, 1e-3)

    from train.tf_quiet import quiet_tensorflow

    quiet_tensorflow(config.verbose)
    import keras
    import tensorflow as tf

    from train.data import load_training_data
    from train.image_folder import report_skipped
    from train.models import build_model

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()  # same seed, same data: same result

    data = load_training_data(
        config.dataset,
        config.data_dir,
        mix=config.mix_mnist,
        class_names=_class_names_of(config.init_from),
        skip_bad_images=config.skip_bad_images,
        progress=progress,
    )
    train_split, test_split, class_names = data.train, data.test, data.class_names
    if progress:
        report_skipped(data.source.get("skipped_images", []))
    images, labels = train_split.images, train_split.labels
    if config.limit:
        images, labels = images[: config.limit], labels[: config.limit]
    (x_fit, y_fit), (x_val, y_val) = _split_validation(images, labels, config.seed)
    x_fit, x_val, x_test = normalize(x_fit), normalize(x_val), normalize(test_split.images)
    y_fit, y_val, y_test = (a.astype("int32") for a in (y_fit, y_val, test_split.labels))
    steps_per_epoch = -(-len(x_fit) // config.batch_size)

    if config.resume:
        model = keras.models.load_model(ckpt / "last.keras")  # weights and optimizer state
    else:
        ckpt.mkdir(parents=True, exist_ok=True)
        for stale in ckpt.iterdir():
            stale.unlink()
        if config.init_from:
            model = keras.models.load_model(config.init_from)
            if model.output_shape[-1] != len(class_names):
                raise TrainError(
                    f"--init-from {config.init_from}: the model has {model.output_shape[-1]} classes, "
                    f"the data has {len(class_names)}"
                )
        else:
            model = build_model(config.model, len(class_names))
        _compile(model, config, steps_per_epoch)
    if progress:
        print(
            f"Training {config.model} ({model.count_params():,} parameters) on {len(x_fit):,} {_data_name(config)} "
            f"images, validating on {len(x_val):,}, for {config.epochs} epochs"
        )

    try:
        model.fit(
            _dataset(x_fit, y_fit, config),
            validation_data=(x_val, y_val),
            epochs=config.epochs,
            initial_epoch=state["epochs_done"],
            callbacks=[_epoch_checkpoint(ckpt, config, state)],
            verbose=(1 if sys.stdout.isatty() else 2) if progress else 0,
        )
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"interrupted after epoch {state['epochs_done']} of {config.epochs}; "
            "run the same command with --resume to continue"
        ) from None

    best = keras.models.load_model(ckpt / "best.keras")
    test_loss, test_accuracy = best.evaluate(x_test, y_test, batch_size=512, verbose=0)
    predicted = best.predict(x_test, batch_size=512, verbose=0).argmax(axis=1)
    confusion = confusion_matrix(y_test, predicted, len(class_names))
    by_source = {
        name: round(float((predicted[part] == y_test[part]).mean()), 6)
        for name, part in data.test_parts.items()
        if len(y_test[part])
    }
    metrics = {
        "model": config.model,
        "dataset": config.dataset,
        "class_names": class_names,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "test_images": len(x_test),
        "best_epoch": state["best_epoch"],
        "best_val_accuracy": state["best_val_accuracy"],
        "epochs": config.epochs,
        "parameters": int(best.count_params()),
        "train_images": len(x_fit),
        "validation_images": len(x_val),
        "batch_size": config.batch_size,
        "learning_rate": config.lr,
        "augment": config.augment,
        "seed": config.seed,
        "init_from": config.init_from,
        "data": data.source,
        **({"test_accuracy_by_source": by_source} if by_source else {}),
        "per_class_accuracy": {
            name: (None if np.isnan(rate) else round(float(rate), 6))
            for name, rate in zip(class_names, per_class_accuracy(confusion))
        },
        "confusion_matrix": confusion.tolist(),
        "confusion_matrix_axes": "rows: true class, columns: predicted class, in class_names order",
        "wall_time_s": round(state["wall_time_s"], 1),
        "preprocessing": "uint8 grey levels / 255 -> float32 (N, 28, 28, 1), white digit on black (edge/preprocess.py)",
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "python_version": platform.python_version(),
    }

    staging = Path(tempfile.mkdtemp(dir=out, prefix=".staging-"))
    try:
        best.export(str(staging / "saved_model"), format="tf_saved_model", verbose=False)
        best.save(staging / "model.keras")
        write_json(staging / "metrics.json", metrics)
        write_json(staging / "history.json", {**state["history"], "best_epoch": state["best_epoch"]})
        _plot_curves(
            state["history"],
            state["best_epoch"],
            staging / "curves.png",
            f"{config.model} on {_data_name(config)}: test accuracy {test_accuracy:.2%}",
        )
        plot_confusion(
            confusion,
            class_names,
            staging / "confusion.png",
            f"{config.model} on {_data_name(config)}: {len(y_test):,} test images, accuracy {test_accuracy:.2%}",
        )
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(ckpt, ignore_errors=True)
    return metrics
