"""The PNG files a learner looks at: training curves, image grids, mistakes, the confusion matrix.

Every figure has a fixed size in pixels (``DPI`` dots per inch, sizes below in inches), so a
grid looks the same whatever the number of images, and a test can check what was drawn. Files
are written to a temporary name and moved into place: a crash never leaves half a PNG.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge.files import atomic_path
from train.evaluation import Evaluation, top_k

DPI = 100
COLUMNS = 10  # images per row in every grid
HEADER = 0.7  # inches above a grid for its title
FOOTER = 0.1
CELL_WIDTH = 1.2  # inches per grid cell; a 10-column grid is 1200 px wide
IMAGE = 0.9  # inches: a 28x28 digit at 90 px, about 3 screen pixels per image pixel
LINE = 0.16  # inches per line of caption text (8 pt)
CORRECT, WRONG, MUTED = "#1a7f37", "#cf222e", "#57606a"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` atomically, at its own size (no tight bounding box: sizes stay exact)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=DPI, format="png")
    finally:
        _pyplot().close(fig)
    return path


def grid_size(count: int, caption_lines: int) -> tuple[int, int]:
    """(width, height) in pixels of a grid of ``count`` images with ``caption_lines`` lines above each."""
    rows = max(1, -(-count // COLUMNS))
    return round(COLUMNS * CELL_WIDTH * DPI), round((HEADER + rows * _cell_height(caption_lines) + FOOTER) * DPI)


def _cell_height(caption_lines: int) -> float:
    return IMAGE + caption_lines * LINE + 0.12


def image_grid(
    images: np.ndarray,
    captions: Sequence[Sequence[tuple[str, str]]],
    title: str,
    path: Path,
    frames: Sequence[str | None] | None = None,
    subtitle: str = "",
    empty: str = "no images",
) -> Path:
    """Draw uint8 (N, 28, 28) images in rows of ``COLUMNS``, each under its caption.

    A caption is a list of (text, colour) lines; ``frames`` optionally draws a coloured border
    round an image (the wrong predictions); ``empty`` is said in place of no images.
    """
    plt = _pyplot()
    lines = max((len(c) for c in captions), default=1)
    width, height = grid_size(len(images), lines)
    fig = plt.figure(figsize=(width / DPI, height / DPI))
    fig.text(0.5, 1 - 0.28 / (height / DPI), title, ha="center", va="center", fontsize=13, weight="bold")
    if subtitle:
        fig.text(0.5, 1 - 0.55 / (height / DPI), subtitle, ha="center", va="center", fontsize=9, color=MUTED)
    cell_h = _cell_height(lines)
    if len(images) == 0:
        fig.text(0.5, (FOOTER + cell_h / 2) / (height / DPI), empty, ha="center", va="center", fontsize=12, color=MUTED)
    for i, image in enumerate(images):
        row, col = divmod(i, COLUMNS)
        left = col * CELL_WIDTH + (CELL_WIDTH - IMAGE) / 2
        bottom = height / DPI - HEADER - (row + 1) * cell_h + 0.06
        ax = fig.add_axes(
            (left / (width / DPI), bottom / (height / DPI), IMAGE / (width / DPI), IMAGE / (height / DPI))
        )
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        frame = frames[i] if frames is not None else None
        for spine in ax.spines.values():
            spine.set_color(frame or "#d0d7de")
            spine.set_linewidth(3 if frame else 0.8)
        for j, (text, colour) in enumerate(captions[i]):
            y = 1 + (0.04 + (len(captions[i]) - 1 - j) * LINE) / IMAGE
            weight = "bold" if j == 0 else "normal"
            ax.text(
                0.5,
                y,
                text,
                transform=ax.transAxes,
                ha="center",
                va="bottom",
                fontsize=8,
                color=colour,
                weight=weight,
                clip_on=False,
            )
    return save(fig, path)


def percent(p: float) -> str:
    """A probability as a whole percentage that never rounds a doubt away: 0.997 is ">99%", not "100%"."""
    if 0.995 <= p < 1:
        return ">99%"
    if 0 < p < 0.005:
        return "<1%"
    return f"{p:.0%}"


def short(name: str, width: int = 14) -> str:
    """A class name that fits a grid cell."""
    return name if len(name) <= width else name[: width - 1] + "…"


def plot_curves(history: dict, best_epoch: int, path: Path, title: str) -> Path:
    """Accuracy and loss per epoch, training against validation, with the kept (best) epoch marked.

    The legend sits above the panels and the kept epoch's values in the panel titles, so that
    nothing is drawn over the curves, however they run.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    fig.subplots_adjust(left=0.07, right=0.98, top=0.79, bottom=0.16, wspace=0.2)  # fixed: room for the legend
    panels = ((axes[0], "accuracy", "Accuracy (higher is better)"), (axes[1], "loss", "Loss (lower is better)"))
    marker = 6 if len(epochs) <= 15 else 3
    for ax, key, label in panels:
        scale = 100.0 if key == "accuracy" else 1.0
        ax.plot(epochs, np.array(history[key]) * scale, "o-", color="#0969da", label="training", markersize=marker)
        val = np.array(history[f"val_{key}"]) * scale
        ax.plot(epochs, val, "s-", color="#bc4c00", label="validation", markersize=marker)
        if 1 <= best_epoch <= len(val):
            kept = f"{val[best_epoch - 1]:.2f} %" if key == "accuracy" else f"{val[best_epoch - 1]:.4f}"
            ax.axvline(best_epoch, color="grey", linestyle=":", label="kept epoch (best validation accuracy)")
            label += f": {kept} on validation at the kept epoch"
        ax.set_xlabel("epoch")
        ax.set_title(label, fontsize=11)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.7, len(epochs) + 0.3)
        ax.margins(y=0.1)
        if key == "accuracy":
            ax.yaxis.set_major_formatter(PercentFormatter(decimals=1))
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=13, weight="bold", y=0.965)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="center", bbox_to_anchor=(0.5, 0.895), ncols=3, frameon=False)
    fig.text(
        0.5,
        0.025,
        "training: averaged over each epoch while the weights change (with dropout and augmentation, if any); "
        "validation: measured at the end of the epoch",
        ha="center",
        fontsize=8,
        color=MUTED,
    )
    return save(fig, path)


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], path: Path, title: str) -> Path:
    """Confusion matrix (counts; rows: true class, columns: predicted) beside per-class accuracy.

    Right answers shade green by rate, mistakes red by count relative to the largest mistake,
    so the few errors of a good model stand out instead of fading next to a bright diagonal.
    """
    plt = _pyplot()
    from matplotlib.colors import to_rgba
    from matplotlib.ticker import PercentFormatter

    n = len(class_names)
    totals = matrix.sum(axis=1)
    rates = np.divide(np.diag(matrix), totals, out=np.full(n, np.nan), where=totals > 0)
    off = matrix.astype(float).copy()
    np.fill_diagonal(off, 0)
    worst = off.max() if off.max() > 0 else 1.0
    greens, reds = plt.get_cmap("Greens"), plt.get_cmap("Reds")
    colours = np.ones((n, n, 4))
    for i in range(n):
        for j in range(n):
            if i == j and np.isnan(rates[i]):
                colours[i, j] = to_rgba("#f6f8fa")  # no test images of this class
            elif i == j:
                colours[i, j] = greens(0.25 + 0.6 * rates[i])
            elif matrix[i, j]:
                colours[i, j] = reds(0.15 + 0.75 * matrix[i, j] / worst)
            else:
                colours[i, j] = to_rgba("white")

    long_names = max(len(c) for c in class_names) > 3
    fig = plt.figure(figsize=(13, 6.8 if long_names else 6.2), layout="constrained")
    matrix_ax, bars_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.35, 1]})
    matrix_ax.imshow(colours, interpolation="nearest", aspect="equal")
    size = 10 if n <= 10 else max(5, 100 // n)
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                dark = (i == j and rates[i] > 0.5) or (i != j and matrix[i, j] / worst > 0.6)
                matrix_ax.text(
                    j,
                    i,
                    f"{matrix[i, j]:,}",
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="white" if dark else "black",
                )
    ticks = np.arange(n)
    matrix_ax.set_xticks(
        ticks,
        [short(c, 12) for c in class_names],
        rotation=40 if long_names else 0,
        ha="right" if long_names else "center",
    )
    matrix_ax.set_yticks(ticks, [short(c, 12) for c in class_names])
    matrix_ax.set_xlabel("predicted class")
    matrix_ax.set_ylabel("true class")
    matrix_ax.set_title("Confusion matrix (image counts)", fontsize=11)
    matrix_ax.set_xticks(ticks[:-1] + 0.5, minor=True)
    matrix_ax.set_yticks(ticks[:-1] + 0.5, minor=True)
    matrix_ax.grid(which="minor", color="#eaeef2", linewidth=0.8)
    matrix_ax.tick_params(which="minor", length=0)

    shown = np.nan_to_num(rates) * 100
    low = max(0.0, np.floor((np.nanmin(rates) * 100 - 6) / 5) * 5) if np.isfinite(rates).any() else 0.0
    overall = np.trace(matrix) / max(1, matrix.sum()) * 100
    bar_colours = [CORRECT if r >= overall else WRONG for r in shown]
    bars_ax.barh(ticks, shown - low, left=low, color=bar_colours, alpha=0.75, height=0.7)
    bars_ax.set_ylim(n - 0.5, -0.5)
    bars_ax.set_yticks(ticks, [short(c, 12) for c in class_names])
    bars_ax.set_xlim(low, 100 + (100 - low) * 0.42)
    bars_ax.set_xticks([t for t in bars_ax.get_xticks() if low <= t <= 100])
    bars_ax.xaxis.set_major_formatter(PercentFormatter(decimals=0 if 100 - low >= 10 else 1))
    bars_ax.axvline(overall, color=MUTED, linestyle="--", linewidth=1)
    for i in range(n):
        label = "no images" if totals[i] == 0 else f"{shown[i]:.1f} %  ({matrix[i, i]:,} of {totals[i]:,})"
        bars_ax.text(100 + (100 - low) * 0.02, i, label, va="center", fontsize=8.5)
    bars_ax.set_title(f"Per-class accuracy (dashed: overall, {overall:.2f} %; red: below it)", fontsize=11)
    bars_ax.set_xlabel(f"share of the class's test images predicted right (axis starts at {low:.0f} %)")
    bars_ax.spines[["top", "right"]].set_visible(False)
    bars_ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=13, weight="bold")
    return save(fig, path)


def plot_predictions(evaluation: Evaluation, images: np.ndarray, picked: np.ndarray, path: Path, where: str) -> Path:
    """Grid of ``picked`` images: green prediction when right, red prediction in a red frame when wrong."""
    names, predicted = evaluation.class_names, evaluation.predictions
    captions, frames = [], []
    for i in picked:
        guess, truth = predicted[i], evaluation.labels[i]
        confidence = percent(evaluation.probabilities[i, guess])
        if guess == truth:
            captions.append([(f"✓ {short(names[guess], 12)}", CORRECT), (confidence, MUTED)])
            frames.append(None)
        else:
            captions.append(
                [
                    (f"✗ {short(names[guess], 12)} {confidence}", WRONG),
                    (f"true: {short(names[truth], 12)}", MUTED),
                ]
            )
            frames.append(WRONG)
    wrong = sum(f is not None for f in frames)
    overall = len(evaluation.misclassified)
    return image_grid(
        images[picked],
        captions,
        f"{evaluation.model.name}: {len(picked)} random of {where}, {wrong} wrong",
        path,
        frames=frames,
        subtitle=f"caption: the prediction and its probability; ✗ in a red frame: wrong (true class below). "
        f"Over all {len(evaluation.labels):,} images: {overall:,} wrong (see mnist-show mistakes)",
    )


def plot_mistakes(evaluation: Evaluation, images: np.ndarray, count: int, path: Path, where: str) -> np.ndarray:
    """Gallery of the misclassified images, most confident first; returns the indices drawn."""
    wrong = evaluation.misclassified
    shown = wrong[:count]
    names = evaluation.class_names
    classes, probabilities = top_k(evaluation.probabilities[shown], 2)
    captions = []
    for i, index in enumerate(shown):
        truth = evaluation.labels[index]
        second = CORRECT if classes[i, 1] == truth else MUTED
        captions.append(
            [
                (f"true: {short(names[truth], 12)}", "black"),
                (f"{short(names[classes[i, 0]], 12)}: {percent(probabilities[i, 0])}", WRONG),
                (f"{short(names[classes[i, 1]], 12)}: {percent(probabilities[i, 1])}", second),
            ]
        )
    total = len(evaluation.labels)
    heading = f"{evaluation.model.name}: {len(wrong):,} of {total:,} wrong ({evaluation.accuracy:.2%} right)"
    if len(shown) < len(wrong):
        heading += f"; the {len(shown)} most confident mistakes"
    image_grid(
        images[shown],
        captions,
        heading,
        path,
        subtitle=f"{where}. Caption: true class, then the model's two likeliest classes "
        "(red: its wrong answer; green: the right one came second)",
        empty="No mistakes: every image is classified right.",
    )
    return shown
