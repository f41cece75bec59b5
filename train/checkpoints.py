"""Checkpoints after every epoch, so ``--resume`` continues a run stopped by Ctrl-C or a killed process.

Keras does the saving: ``BackupAndRestore`` keeps the weights, the optimizer's state and the epoch
(two copies, so a process killed while writing one still has the other) and restores them when
``fit`` starts again; ``ModelCheckpoint`` keeps the model of the best validation accuracy. What
they lack is kept here, in ``state.json``, written last after every epoch:

- the run's settings, so ``--resume`` needs no other argument;
- the history of every epoch, across interruptions (Keras' History covers one ``fit`` call);
- the best epoch, its accuracy and its file. The best model goes to a new file per improvement
  (``best-003.keras``), never over the last one, and ``state.json`` names it only once it is
  complete: a kill while Keras writes it leaves the earlier best as it was;
- the training time, across interruptions.

Everything lives in ``<out>/.checkpoint/``, removed once the run's artifacts are written.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edge.files import write_json

CHECKPOINT_DIR = ".checkpoint"
STATE_FILE = "state.json"
BACKUP_DIR = "backup"  # BackupAndRestore's folder


def fresh_state() -> dict[str, Any]:
    return {
        "history": {},
        "best_val_accuracy": -1.0,
        "best_epoch": 0,
        "best_file": None,
        "epochs_done": 0,
        "wall_time_s": 0.0,
    }


def has_interrupted_run(ckpt: Path) -> bool:
    return (ckpt / STATE_FILE).is_file() and (ckpt / BACKUP_DIR).is_dir() and any((ckpt / BACKUP_DIR).iterdir())


def saved_run(ckpt: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the interrupted run's settings, its state) from ``state.json``."""
    state = json.loads((ckpt / STATE_FILE).read_text())
    return state.pop("config"), state


def checkpoint_callbacks(ckpt: Path, config: Any, state: dict[str, Any]) -> list:
    """Keras callbacks, in the order they must run after each epoch: backup, best model, then state.json."""
    import keras

    backup = keras.callbacks.BackupAndRestore(str(ckpt / BACKUP_DIR), double_checkpoint=True, delete_checkpoint=False)
    best = keras.callbacks.ModelCheckpoint(
        str(ckpt / "best-{epoch:03d}.keras"),
        monitor="val_accuracy",
        mode="max",
        save_best_only=True,
        initial_value_threshold=state["best_val_accuracy"] if state["best_file"] else None,
    )

    class RunState(keras.callbacks.Callback):
        """Writes state.json after the two above have saved the epoch."""

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.started, self.earlier, self.first = time.perf_counter(), state["wall_time_s"], True

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            if self.first:  # the epoch BackupAndRestore resumes at: forget what came after its backup
                self.first = False
                for values in state["history"].values():
                    del values[epoch:]

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            for key, value in (logs or {}).items():
                state["history"].setdefault(key, []).append(float(value))
            if best.best is not None and best.best > state["best_val_accuracy"]:  # ModelCheckpoint saved it
                state.update(best_val_accuracy=float(best.best), best_epoch=epoch + 1)
                state["best_file"] = f"best-{epoch + 1:03d}.keras"
            state["epochs_done"] = epoch + 1
            state["wall_time_s"] = self.earlier + time.perf_counter() - self.started
            write_json(ckpt / STATE_FILE, {"config": asdict(config), **state})
            for stale in ckpt.glob("best-*.keras"):
                if stale.name != state["best_file"]:
                    stale.unlink()

    return [backup, best, RunState()]
