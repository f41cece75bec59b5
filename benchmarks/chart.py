"""The chart: accuracy against latency and against size, one point per variant and runtime.

The user's trade-off at a glance: up is more accurate, left is faster (or smaller).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.report import RUNTIME_NAMES, median, ok
from edge.files import atomic_path

STYLE = {  # runtime -> (colour, marker)
    "keras": ("tab:gray", "s"),
    "ai_edge_litert": ("tab:green", "o"),
    "tflite_runtime": ("tab:olive", "D"),
    "onnxruntime": ("tab:blue", "^"),
}


SHORT = {"keras": "TF", "ai_edge_litert": "LiteRT", "tflite_runtime": "tflite-rt", "onnxruntime": "ORT"}
# Where a label may go, in pixels from its point, tried in order: right, left, then above and below.
OFFSETS = [
    (7, 0),
    (-7, 0),
    (7, 11),
    (7, -11),
    (-7, 11),
    (-7, -11),
    (0, 16),
    (0, -16),
    (7, 22),
    (7, -22),
    (-7, 22),
    (-7, -22),
    (0, 30),
    (0, -30),
]


def _clusters(ax: Any, points: list[tuple[float, float, str, str]], reach: float = 9.0) -> list[list[tuple]]:
    """Points closer than ``reach`` pixels share one label: 'int8, int8_float_io' instead of a pile of text."""
    to_pixels = ax.transData.transform
    groups: list[list[tuple]] = []
    for point in sorted(points, key=lambda p: (p[0], -p[1])):
        px, py = to_pixels((point[0], point[1]))
        for group in groups:
            gx, gy = to_pixels((group[0][0], group[0][1]))
            if abs(px - gx) < reach and abs(py - gy) < reach:
                group.append(point)
                break
        else:
            groups.append([point])
    return groups


def _cluster_text(group: list[tuple]) -> tuple[str, str]:
    """'int8, int8_float_io' in the runtime's colour; in black with the runtimes named when they mix."""
    runtimes = list(dict.fromkeys(p[3] for p in group))
    if len(runtimes) == 1:
        return ", ".join(dict.fromkeys(p[2] for p in group)), STYLE[runtimes[0]][0]
    by_variant: dict[str, list[str]] = {}
    for _, _, variant, runtime in group:
        by_variant.setdefault(variant, []).append(SHORT[runtime])
    by_runtimes: dict[str, list[str]] = {}
    for variant, names in by_variant.items():
        by_runtimes.setdefault(", ".join(names), []).append(variant)
    return "; ".join(f"{', '.join(variants)} ({names})" for names, variants in by_runtimes.items()), "black"


def _place_labels(ax: Any, points: list[tuple[float, float, str, str]]) -> None:
    """Label every point (or cluster of points) where its text covers no marker and no other label."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_pixels = ax.transData.transform
    frame = ax.get_window_extent(renderer)
    taken = []
    for x, y, _, _ in points:  # the markers themselves
        px, py = to_pixels((x, y))
        taken.append((px - 5, py - 5, px + 5, py + 5))
    for group in _clusters(ax, points):
        text, colour = _cluster_text(group)
        x, y = group[0][0], group[0][1]
        for dx, dy in OFFSETS:
            note = ax.annotate(
                text,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset pixels",
                fontsize=8,
                color=colour,
                va="center",
                ha="left" if dx > 0 else "right" if dx < 0 else "center",
            )
            box = note.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.x0 < b[2] and b[0] < box.x1 and box.y0 < b[3] and b[1] < box.y1 for b in taken):
                break
            note.remove()
        else:  # nowhere free: keep the first choice, readable if crowded
            note = ax.annotate(
                text, (x, y), xytext=OFFSETS[0], textcoords="offset pixels", fontsize=8, color=colour, va="center"
            )
            box = note.get_window_extent(renderer)
        taken.append((box.x0, box.y0, box.x1, box.y1))


def plot(results: dict[str, Any], path: Path) -> list[dict[str, str]]:
    """Write the PNG at ``path`` (atomically); returns the points drawn, one per runtime and variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    one = results["settings"]["threads"][0]
    rows = [r for r in results["rows"] if ok(r)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), dpi=100, sharey=True)
    panels = (
        (
            left,
            lambda r: median(r, one, "end_to_end"),
            f"end-to-end latency per image, µs ({one} thread, median; log scale)",
        ),
        (right, lambda r: r["bytes"] / 1024, "file size, KiB (log scale)"),
    )
    drawn: dict[tuple[str, str], int] = {}
    for ax, x_of, xlabel in panels:
        points = []
        for runtime, (colour, marker) in STYLE.items():
            mine = [r for r in rows if r["runtime"] == runtime and x_of(r) is not None]
            if not mine:
                continue
            name = RUNTIME_NAMES[runtime]
            ax.scatter(
                [x_of(r) for r in mine],
                [100 * r["accuracy"] for r in mine],
                s=60,
                c=colour,
                marker=marker,
                label=name,
                edgecolors="black",
                linewidths=0.5,
                zorder=3,
            )
            points += [(x_of(r), 100 * r["accuracy"], r["variant"], runtime) for r in mine]
            for r in mine:
                drawn[(runtime, r["variant"])] = drawn.get((runtime, r["variant"]), 0) + 1
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
        low, high = ax.get_xlim()
        ax.set_xlim(low / 1.6, high * 2.5)  # room for the labels
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
    try:
        with atomic_path(path) as partial:
            fig.savefig(partial)
    finally:
        plt.close(fig)
    return [{"runtime": runtime, "variant": variant, "panels": panels} for (runtime, variant), panels in drawn.items()]
