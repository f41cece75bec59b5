"""Fit the weights of ``--number``'s division of a line into digits (``WEIGHTS`` in edge/number.py).

    python -m benchmarks.fit_number_weights --model artifacts/mnist_int8.tflite \
        --set numbers-7 --set numbers-0 [--check numbers-23] [--iterations 800]

Each set is one written by benchmarks/number_set.py, with each digit's photo alone. For every
photo, the reader's own candidates (edge/number.py: groups, runs of groups, pieces between seams
or around a 1's straight stroke, marks left out) are read by the model and labelled: a candidate
is a whole digit when it holds at least 70 % of one digit's ink and at least 80 % of its ink is
that digit's (a digit's ink is what the reader finds in that digit's photo alone, which the set
renders with the same paper, light and camera); a mark left out is right when less than 30 % of
it is any digit's. The weights make a conditional random field over the ways to divide the line:
they maximise the likelihood of the divisions made only of whole digits, with as many as the
number has (forward-backward over the line's boundaries, Adam, a small L2 penalty), starting from
the model's log-probability alone.

Prints the fitted ``WEIGHTS`` (to paste into edge/number.py) and, for every set and ``--check``
set, the whole-number accuracy of the best division with edge/number.py's weights and with the
fitted ones. No TensorFlow: runs in the edge environment.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import number_set, rendered_sets
from benchmarks.settings import BenchError

WHOLE, OWN, FOREIGN = 0.7, 0.8, 0.3  # a candidate's share of a digit's ink, and of its own ink
L2 = 1e-3


@dataclass
class Lattice:
    """One photo's candidates: boundaries (start, end), features (rows in WEIGHTS' order), labels."""

    nodes: int
    start: np.ndarray
    end: np.ndarray
    features: np.ndarray
    whole: np.ndarray  # bool: a whole digit (or a mark rightly left out)
    read: np.ndarray  # the model's digit, -1 for a mark left out
    truth: str


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.fit_number_weights",
        description="Fit edge/number.py's WEIGHTS on number sets written by benchmarks.number_set.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", type=Path, required=True, help=".tflite file")
    p.add_argument("--set", type=Path, action="append", required=True, help="a set to fit on (repeat)")
    p.add_argument("--check", type=Path, action="append", default=[], help="a set kept out, only measured")
    p.add_argument("--iterations", type=int, default=800, help="Adam steps")
    p.add_argument("--workers", type=int, default=None, help="processes reading the photos (default: all cores)")
    return p.parse_args(argv)


_classifier = None


def _start(model: Path) -> None:
    global _classifier
    _classifier = rendered_sets.classifier(model, threads=1)


def lattice(job: tuple[Path, dict]) -> Lattice | None:
    """The labelled candidates of one photo of a set, or None where the reader finds no line."""
    import cv2
    from PIL import ImageOps

    from edge import number
    from edge.preprocess import ImageError, load_image, to_pixels

    set_dir, row = job

    def ink_of(name: str):
        return number._ink_field(to_pixels(ImageOps.exif_transpose(load_image(set_dir / name))))

    try:
        ink = ink_of(row["file"])
        line, marks, _ = number._line_groups(ink)
    except ImageError:
        return None
    if not line:
        return None
    atoms, height = number._line_atoms(ink, line, marks)
    candidates = number._candidates(ink, atoms, height)
    fields = [c for c in candidates if c.field is not None]
    probs = dict(zip(map(id, fields), _classifier.predict(np.stack([c.field for c in fields])), strict=True))
    # Each digit's ink: what the reader finds in its photo alone, less what every digit's photo has
    # (the paper's own marks), within the line's ink.
    shape = ink.mask.shape
    line_ink = np.zeros(shape, bool)
    for a in atoms:
        line_ink[a.box[1] : a.box[3], a.box[0] : a.box[2]] |= a.region
    own = np.zeros((len(row["alone"]), *shape), bool)
    for k, name in enumerate(row["alone"]):
        try:
            alone = ink_of(name).mask
        except ImageError:
            continue
        if alone.shape == shape:
            own[k] = cv2.dilate(alone.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if len(own) > 1:
        own &= ~own.all(axis=0)
    own &= line_ink
    totals = own.reshape(len(own), -1).sum(axis=1)
    whole = []
    for c in candidates:
        x0, y0, x1, y1 = c.box
        inside = own[:, y0:y1, x0:x1][:, c.ink]
        if c.field is None:
            whole.append(inside.any(axis=0).sum() < FOREIGN * c.ink.sum())
            continue
        counts = inside.sum(axis=1)
        k = int(np.argmax(counts))
        whole.append(counts[k] >= WHOLE * max(totals[k], 1) and counts[k] >= OWN * c.ink.sum())
    keys = list(number.WEIGHTS)
    return Lattice(
        nodes=len(number._nodes(atoms)),
        start=np.array([c.start for c in candidates]),
        end=np.array([c.end for c in candidates]),
        features=np.array([[number._features(c, probs.get(id(c)))[k] for k in keys] for c in candidates]),
        whole=np.array(whole, bool),
        read=np.array([int(np.argmax(probs[id(c)])) if id(c) in probs else -1 for c in candidates]),
        truth=row["number"],
    )


def best_path(lat: Lattice, score: np.ndarray, allowed: np.ndarray | None = None) -> list[int] | None:
    """The candidates of the best division (the reader's own dynamic programme), or None if there is none."""
    from edge.number import _best_paths

    steps = np.flatnonzero(allowed) if allowed is not None else np.arange(len(score))
    paths = _best_paths(lat.nodes, [(int(lat.start[c]), int(lat.end[c]), float(score[c])) for c in steps])
    return [int(steps[n]) for n in paths[0][1]] if paths else None


def read(lat: Lattice, weights: np.ndarray) -> str:
    path = best_path(lat, lat.features @ weights) or []
    return "".join(str(lat.read[c]) for c in path if lat.read[c] >= 0)


def _marginals(lat: Lattice, score: np.ndarray, allowed: np.ndarray) -> tuple[float, np.ndarray]:
    """log Z over the divisions using only ``allowed`` candidates, and the features' expectation."""
    order = np.argsort(lat.end, kind="stable")
    forward = np.full(lat.nodes, -np.inf)
    forward[0] = 0.0
    for c in order:
        if allowed[c]:
            forward[lat.end[c]] = np.logaddexp(forward[lat.end[c]], forward[lat.start[c]] + score[c])
    backward = np.full(lat.nodes, -np.inf)
    backward[-1] = 0.0
    for c in order[::-1]:
        if allowed[c]:
            backward[lat.start[c]] = np.logaddexp(backward[lat.start[c]], backward[lat.end[c]] + score[c])
    log_z = forward[-1]
    weight = np.where(allowed, np.exp(forward[lat.start] + score + backward[lat.end] - log_z), 0.0)
    return float(log_z), weight @ lat.features


def fit(lattices: list[Lattice], keys: list[str], iterations: int) -> np.ndarray:
    """Adam on the mean log-likelihood of the whole-digit divisions, less L2."""
    usable = [
        lat for lat in lattices if len(best_path(lat, np.zeros(len(lat.start)), lat.whole) or []) == len(lat.truth)
    ]
    rendered_sets.progress(
        f"fitting on {len(usable)} of {len(lattices)} photos (the others have no whole-digit division)"
    )
    weights = np.zeros(len(keys))
    weights[keys.index("logp")] = 1.0
    m, v = np.zeros_like(weights), np.zeros_like(weights)
    everything = [np.ones(len(lat.start), bool) for lat in usable]
    for step in range(1, iterations + 1):
        gradient, likelihood = np.zeros_like(weights), 0.0
        for lat, every in zip(usable, everything, strict=True):
            score = lat.features @ weights
            log_good, good = _marginals(lat, score, lat.whole)
            log_all, expected = _marginals(lat, score, every)
            likelihood += log_good - log_all
            gradient += good - expected
        gradient = gradient / len(usable) - 2 * L2 * weights
        m = 0.9 * m + 0.1 * gradient
        v = 0.999 * v + 0.001 * gradient**2
        weights += 0.05 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
        if step % 50 == 0 or step == iterations:
            rendered_sets.progress(f"  step {step}: log-likelihood {likelihood / len(usable):.4f}")
    return weights


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from edge import number

        for set_dir in args.set + args.check:
            if not (set_dir / "labels.csv").is_file():
                raise BenchError(f"{set_dir}: no labels.csv; write a set with python -m benchmarks.number_set OUT")
        rendered_sets.classifier(args.model, threads=1)  # a one-line error now, not in every worker
        lattices: dict[Path, list[Lattice]] = {}
        with ProcessPoolExecutor(args.workers, initializer=_start, initargs=(args.model,)) as pool:
            for set_dir in args.set + args.check:
                rows = number_set.read_set(set_dir)
                if any(len(r["alone"]) != len(r["number"]) for r in rows):
                    raise BenchError(f"{set_dir}: the set has no photos of each digit alone; write it again")
                rendered_sets.progress(f"reading {len(rows)} numbers of {set_dir} ...")
                found = pool.map(lattice, [(set_dir, r) for r in rows], chunksize=4)
                lattices[set_dir] = [lat for lat in found if lat is not None]
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    keys = list(number.WEIGHTS)
    fitted = fit([lat for s in args.set for lat in lattices[s]], keys, args.iterations)
    current = np.array([number.WEIGHTS[k] for k in keys])
    print("WEIGHTS = {")
    for k, w in zip(keys, fitted, strict=True):
        print(f'    "{k}": {w:.2f},')
    print("}")
    print("\n| set | numbers | whole number, current WEIGHTS | whole number, fitted |")
    print("| --- | ---: | ---: | ---: |")
    for set_dir, lats in lattices.items():
        n = len(number_set.read_set(set_dir))
        right = [sum(read(lat, w) == lat.truth for lat in lats) for w in (current, fitted)]
        kept = " (kept out)" if set_dir in args.check else ""
        print(f"| {set_dir}{kept} | {n} | {100 * right[0] / n:.1f} % | {100 * right[1] / n:.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
