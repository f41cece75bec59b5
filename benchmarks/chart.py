"""The chart: accuracy against latency and against size, one point per variant and runtime.

The user's trade-off at a glance: up is more accurate, left is faster (or smaller).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmarks.report import RUNTIME_NAMES, median, ok

STYLE = {  # runtime -> (colour, marker)
    "keras": ("tab:gray", "s"),
    "ai_edge_litert": ("tab:green", "o"),
    "tflite_runtime": ("tab:olive", "D"),
    "onnxruntime": ("tab:blue", "^"),
}


def _place_labels(ax: Any, points: list[tuple[float, float, str, str]]) -> None:
    """Label each point to its right, moving a label down a line at a time while it overlaps another."""
    ax.figure.canvas.draw()
    to_pixels = ax.transData.transform
    taken: list[tuple[float, float, float, float]] = []
    line = 11.0  # pixels between stacked labels at fontsize 8, dpi 100
    for x, y, text, colour in sorted(points, key=lambda p: (-p[1], p[0])):
        px, py = to_pixels((x, y))
        width = 5.2 * len(text) + 4
        dy = 0.0
        for _ in range(12):
            box = (px + 6, py + dy - 5, px + 6 + width, py + dy + 5)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in taken):
                break
            dy -= line
        taken.append(box)
        ax.annotate(
            text, (x, y), xytext=(6, dy), textcoords="offset pixels", fontsize=8, va="center", color=colour,
            arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.5, "alpha": 0.6} if dy else None,
        )


def plot(results: dict[str, Any], path: Path) -> None:
    """Write the PNG at ``path`` (atomically)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415

    one = results["settings"]["threads"][0]
    rows = [r for r in results["rows"] if ok(r)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), dpi=100, sharey=True)
    panels = (
        (left, lambda r: median(r, one, "end_to_end"),
         f"end-to-end latency per image, µs ({one} thread, median; log scale)"),
        (right, lambda r: r["bytes"] / 1024, "file size, KiB (log scale)"),
    )
    for ax, x_of, xlabel in panels:
        points = []
        for runtime, (colour, marker) in STYLE.items():
            mine = [r for r in rows if r["runtime"] == runtime and x_of(r) is not None]
            if not mine:
                continue
            name = RUNTIME_NAMES[runtime]
            ax.scatter([x_of(r) for r in mine], [100 * r["accuracy"] for r in mine], s=60, c=colour, marker=marker,
                       label=name, edgecolors="black", linewidths=0.5, zorder=3)
            points += [(x_of(r), 100 * r["accuracy"], r["variant"], colour) for r in mine]
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
        low, high = ax.get_xlim()
        ax.set_xlim(low / 1.3, high * 2.2)  # room for the labels on the right
        ys = [p[1] for p in points]
        if ys:
            pad = max(0.05, 0.15 * (max(ys) - min(ys)))
            ax.set_ylim(min(ys) - pad, max(ys) + pad)
        _place_labels(ax, points)
    left.set_ylabel(f"accuracy on {results['settings']['test_images']:,} test images, %")
    left.legend(loc="lower right", fontsize=9)
    model = results["model"]
    fig.suptitle(
        f"{model['dataset']} {model.get('name') or ''}: accuracy against latency and size, every variant "
        f"({results['machine']['cpu']}, {results['machine']['cores']} cores)"
        + (" — quick run" if results["quick"] else ""),
        fontsize=12,
    )
    fig.tight_layout()
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(partial)
        os.replace(partial, path)
    finally:
        plt.close(fig)
        partial.unlink(missing_ok=True)
