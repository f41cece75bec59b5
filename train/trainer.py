"""Train a digit classifier and write everything the converter and a learner need.

:func:`train` reads top to bottom like a Keras example: data, model, fit, evaluate, export. What
it adds is what a tutorial leaves out: a validation split (the test set is touched once, at the
end), the best epoch kept and checkpoints after every epoch so ``--resume`` continues an
interrupted run (train/checkpoints.py), and artifacts that are written complete or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from edge.files import cannot_write
from edge.preprocess import normalize
from train.artifacts import training_metrics, write_artifacts
from train.checkpoints import CHECKPOINT_DIR, checkpoint_callbacks, fresh_state, has_interrupted_run, saved_run
from train.data import Source, TrainingData, load, resolve_source
from train.defaults import ARTIFACTS, SEED
from train.interrupt import deferred_interrupt
from train.presets import DEFAULT_MODEL, NO_AUGMENT, parse_model, recipe_of

VALIDATION_FRACTION = 1 / 12  # 5,000 of MNIST's 60,000 training images
# The learning rate's one cycle: a linear warm-up from a tenth of the peak over the first tenth of
# the steps (Adam's early steps are large while its moment estimates settle), then a cosine to zero.
WARMUP_FRACTION = 0.1
WARMUP_START = 0.1


class TrainError(Exception):
    """A bad setting or state; the message is one line with the fix."""


class TrainingInterrupted(Exception):
    """Ctrl-C during training; the last completed epoch is checkpointed."""


@dataclass
class TrainConfig:
    model: str = DEFAULT_MODEL
    # None: the model's recipe (train/presets.py) decides; --resume keeps the interrupted run's.
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    augment: str | None = None  # one of train.augment.AUGMENTATIONS, or "none"
    dataset: str = "mnist"
    data_dir: str | None = None
    out: str = str(ARTIFACTS)
    resume: bool = False
    seed: int = SEED
    limit: int | None = None  # train on the first N training images only (quick tries, tests)
    init_from: str | None = None  # start from a trained .keras model (fine-tuning)
    mix_mnist: bool = False  # data_dir is a folder of your own images: add the dataset's images to them
    skip_bad_images: bool = False  # leave out (and list) images of such a folder that cannot be used
    verbose: bool = False

    def validate(self) -> None:
        """Check the settings, cheaply: no TensorFlow, no data read (:func:`train.data.resolve_source` checks that)."""
        if not self.init_from:
            try:
                parse_model(self.model)
            except ValueError as e:
                raise TrainError(str(e)) from None
        if self.epochs is not None and self.epochs < 1:
            raise TrainError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            raise TrainError(f"--batch-size must be at least 1, got {self.batch_size}")
        from train.augment import AUGMENTATIONS

        if self.augment is not None and self.augment not in (*AUGMENTATIONS, NO_AUGMENT):
            choices = ", ".join((*AUGMENTATIONS, NO_AUGMENT))
            raise TrainError(f"unknown --augment {self.augment!r}; choose one of: {choices}")
        if self.lr is not None and not self.lr > 0:
            raise TrainError(f"--lr must be positive, got {self.lr}")
        if self.limit is not None and self.limit < 20:
            raise TrainError(f"--limit must be at least 20 images, got {self.limit}")
        if self.init_from and not Path(self.init_from).is_file():
            raise TrainError(f"--init-from {self.init_from}: no such model file; give a .keras file from mnist-train")


def split_validation(images: np.ndarray, labels: np.ndarray, seed: int):
    """(fit, validation) parts of the training images: the same 1/12 held out for a given seed (mnist-sweep too)."""
    order = np.random.default_rng(seed).permutation(len(images))
    n_val = max(1, round(len(images) * VALIDATION_FRACTION))
    val, fit = order[:n_val], order[n_val:]
    return (images[fit], labels[fit]), (images[val], labels[val])


def _dataset(x: np.ndarray, y: np.ndarray, config: TrainConfig):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True).batch(config.batch_size)
    if config.augment != NO_AUGMENT:
        from train.augment import augmenter

        augment = augmenter(config.augment, config.seed)
        ds = ds.map(lambda a, b: (augment(a), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _compile(model, config: TrainConfig, steps_per_epoch: int) -> None:
    import keras

    steps = config.epochs * steps_per_epoch
    warmup = round(steps * WARMUP_FRACTION)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.lr * WARMUP_START, decay_steps=steps - warmup, warmup_target=config.lr, warmup_steps=warmup
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def _load_resume_state(ckpt: Path, config: TrainConfig) -> tuple[TrainConfig, dict]:
    if not has_interrupted_run(ckpt):
        raise TrainError(
            f"--resume: no interrupted training in {ckpt.parent} to continue; run without --resume to start one"
        )
    saved, state = saved_run(ckpt)
    known = {f.name for f in fields(TrainConfig)}
    resumed = TrainConfig(**{k: v for k, v in saved.items() if k in known})
    # The interrupted run's settings win (its schedule and data depend on them); where to read
    # data and how much to print may differ on the new run.
    resumed.out, resumed.resume, resumed.verbose = config.out, True, config.verbose
    resumed.data_dir = config.data_dir or resumed.data_dir
    return resumed, state


def _class_names_of(model_file: str | None) -> list[str] | None:
    """The class names a model to fine-tune was trained with (metrics.json beside it), if recorded."""
    if not model_file:
        return None
    try:
        names = json.loads((Path(model_file).parent / "metrics.json").read_text()).get("class_names")
    except (OSError, ValueError):
        return None
    return [str(n) for n in names] if names else None


def _data_name(config: TrainConfig, source: Source) -> str:
    """What titles and messages call the data: the dataset, or your folder's name (+ the dataset)."""
    if source.kind != "image_folder":
        return config.dataset
    return f"{source.path.name} + {config.dataset}" if source.mixed_with else source.path.name


def train(config: TrainConfig, progress: bool = True) -> dict:
    """Train per ``config``; returns the metrics written to ``metrics.json``."""
    say = print if progress else (lambda *a, **k: None)
    config, state = _settings(config, say)
    # Decided once, before TensorFlow loads: a bad --data-dir fails in a second, not after ten.
    source = resolve_source(config.dataset, config.data_dir, mix=config.mix_mnist)
    # A performance switch, decided here: oneDNN's CPU kernels, which TensorFlow 2.21 leaves off on CPUs
    # without AVX-512. The accuracy and time in the README were measured with them on; a user's setting wins.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    from train.tf_quiet import gpu_line, import_tensorflow

    tf = import_tensorflow(config.verbose)
    import keras

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()  # same seed, same data: same result
    device = gpu_line(tf, config.verbose)
    if device:
        say(device)

    data = load(
        source,
        class_names=_class_names_of(config.init_from),
        skip_bad_images=config.skip_bad_images,
        progress=progress,
    )
    if progress:
        from train.image_folder import report_skipped

        report_skipped(data.source.get("skipped_images", []))
    (x_fit, y_fit), validation, test = _arrays(data, config)
    ckpt = Path(config.out) / CHECKPOINT_DIR
    model = _model(config, len(data.class_names), -(-len(x_fit) // config.batch_size), ckpt)
    name = _data_name(config, source)
    say(
        f"Training {config.model} ({model.count_params():,} parameters) on {len(x_fit):,} {name} "
        f"images, validating on {len(validation[1]):,}, for {config.epochs} epochs"
    )
    try:
        with deferred_interrupt() as interrupt:  # Ctrl-C between batches: inside an op it can crash
            model.fit(
                _dataset(x_fit, y_fit, config),
                validation_data=validation,
                epochs=config.epochs,
                callbacks=[*checkpoint_callbacks(ckpt, config, state), interrupt.callback()],
                verbose=(1 if sys.stdout.isatty() else 2) if progress else 0,
            )
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"interrupted after epoch {state['epochs_done']} of {config.epochs}; "
            "run the same command with --resume to continue"
        ) from None

    best = keras.models.load_model(ckpt / state["best_file"])
    versions = {"tensorflow_version": tf.__version__, "keras_version": keras.__version__}
    metrics = training_metrics(best, test, data, config, state, (len(x_fit), len(validation[1])), versions)
    write_artifacts(best, metrics, state, config, name)
    shutil.rmtree(ckpt, ignore_errors=True)
    return metrics


def _settings(config: TrainConfig, say) -> tuple[TrainConfig, dict]:
    """The run's settings and state: checked, and the interrupted run's with --resume."""
    config.validate()
    out = Path(config.out)
    why = cannot_write(out)
    if why:
        raise TrainError(f"--out {out}: cannot write there ({why}); choose another folder")
    ckpt = out / CHECKPOINT_DIR
    state = fresh_state()
    if config.resume:
        config, state = _load_resume_state(ckpt, config)
        config.validate()
        say(
            f"Resuming {config.model} on {config.dataset} after epoch {state['epochs_done']} of {config.epochs} "
            f"(seed {config.seed}, batch {config.batch_size}, augment {config.augment})"
        )
    elif has_interrupted_run(ckpt):
        say(f"note: starting afresh; the interrupted run in {ckpt} will be replaced (use --resume to continue it)")
    _apply_recipe(config)
    return config, state


def _apply_recipe(config: TrainConfig) -> None:
    """Fill the settings the command line left open from the model's recipe (a model to fine-tune: the default's)."""
    recipe = recipe_of(config.model)
    for name in ("epochs", "lr", "batch_size", "augment"):
        if getattr(config, name) is None:
            setattr(config, name, getattr(recipe, name))


def _arrays(data: TrainingData, config: TrainConfig):
    """(fit, validation, test) as (float32 images, int32 labels): --limit applied, 1/12 held out for validation."""
    images, labels = data.train.images, data.train.labels
    if config.limit:
        images, labels = images[: config.limit], labels[: config.limit]
    (x_fit, y_fit), (x_val, y_val) = split_validation(images, labels, config.seed)
    x_fit, x_val, x_test = normalize(x_fit), normalize(x_val), normalize(data.test.images)
    y_fit, y_val, y_test = (a.astype("int32") for a in (y_fit, y_val, data.test.labels))
    return (x_fit, y_fit), (x_val, y_val), (x_test, y_test)


def _model(config: TrainConfig, num_classes: int, steps_per_epoch: int, ckpt: Path):
    """The compiled model to train: new, or --init-from's. With --resume, Keras' BackupAndRestore then puts
    back the interrupted run's weights and optimizer state when ``fit`` starts."""
    import keras

    if not config.resume:
        shutil.rmtree(ckpt, ignore_errors=True)  # an earlier interrupted run's checkpoints
        ckpt.mkdir(parents=True)
    if config.init_from:
        model = keras.models.load_model(config.init_from)
        if model.output_shape[-1] != num_classes:
            raise TrainError(
                f"--init-from {config.init_from}: the model has {model.output_shape[-1]} classes, "
                f"the data has {num_classes}"
            )
    else:
        from train.models import build_model

        model = build_model(config.model, num_classes)
    _compile(model, config, steps_per_epoch)
    return model
