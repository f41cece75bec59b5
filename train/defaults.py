"""Defaults that several commands share, written once: where mnist-train's output goes, and the seed.

The same seed everywhere (training's data order and initial weights, the converter's calibration
draw, the images mnist-show and --micro-samples pick): one number to quote for a repeatable run.
"""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path("artifacts")  # mnist-train --out
KERAS_MODEL = ARTIFACTS / "model.keras"
SAVED_MODEL = ARTIFACTS / "saved_model"
SEED = 42
