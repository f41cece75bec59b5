"""mnist-sweep: which model fits your budget? Train a family of shapes, measure each as int8, keep the Pareto front.

For every candidate (the presets' shapes with other widths and depths, cheapest first): train it
with mnist-train's trainer, convert it to int8 with mnist-convert's converter, and measure in
LiteRT its size, its latency (one image, one thread) and its accuracy on the validation split
(the test set stays untouched, for the model you finally pick), and in TensorFlow Lite Micro
(when installed) its tensor arena and accuracy. The front: the candidates within the budgets that
no other candidate within them beats on accuracy, size and latency at once.

    mnist-sweep --max-flash 32KiB --max-arena 16KiB --max-latency-us 50 --time 20m

Writes sweep.json (every figure; written after each candidate), sweep.md (the table) and
sweep.png (accuracy against size and latency, the front marked, the presets' shapes named) to
--out, with each candidate's training output in its own folder, converted to int8 already:
``mnist-convert --model sweep/tiny_8-12-16-16-16/saved_model --quantize all --micro`` makes the rest.
Ctrl-C keeps the finished candidates; ``--resume`` continues.

Here and not in train/: it converts and measures, and the layers import downwards only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge.command_line import HelpFormatter, OneLineParser
from edge.files import atomic_path, write_json
from edge.mnist_data import DataError
from train.presets import FAMILIES
from train.tables import format_table

SWEEP_JSON, SWEEP_MD, SWEEP_PNG = "sweep.json", "sweep.md", "sweep.png"
PRESET_SHAPES = {"tiny": (8, 12, 16, 16, 16, 16), "cnn": (16, 48, 64)}  # the presets' own widths (train/models.py)
DEFAULT_WIDTHS = (0.5, 0.75, 1.0, 1.5)
DEFAULT_DEPTHS = (2, 3, 4)  # tiny's layers after pooling (the preset has 4); cnn's shape keeps its 3 convolutions
DEFAULT_EPOCHS = 5  # a short recipe, for ranking; retrain the pick longer with mnist-train --model <shape>
LATENCY_RUNS = 300
UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 2**20, "mb": 10**6, "mib": 2**20}
SECONDS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}


class SweepError(Exception):
    """A bad setting or state; the message is one line with the fix."""


def parse_bytes(text: str) -> int:
    """'32KiB' -> 32768, '20k' -> 20480, '50000' -> 50000 (bytes)."""
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    if not found or found.group(2).lower() not in UNITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; write e.g. 32KiB, 20k or 50000")
    return int(float(found.group(1)) * UNITS[found.group(2).lower()])


def parse_duration(text: str) -> float:
    """'20m' -> 1200.0, '90s' -> 90.0, '1h' -> 3600.0, '45' -> 45.0 (seconds)."""
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    if not found or found.group(2).lower() not in SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; write e.g. 20m, 90s or 1h")
    return float(found.group(1)) * SECONDS[found.group(2).lower()]


def parse_list(kind: type, text: str) -> tuple:
    try:
        values = tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give positive numbers separated by commas, e.g. 0.5,1")
    return values


def parse_families(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in PRESET_SHAPES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown family {', '.join(unknown) or repr(text)}; choose from tiny, cnn")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = OneLineParser(
        prog="mnist-sweep",
        description="Train the presets' shapes at other widths and depths, measure each as int8 (LiteRT size, "
        "latency and validation accuracy; TFLM arena when installed) and write the Pareto front within your "
        "budgets: sweep.md, sweep.json and sweep.png.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--max-flash", type=parse_bytes, metavar="SIZE", help="int8 file size budget, e.g. 32KiB")
    p.add_argument("--max-arena", type=parse_bytes, metavar="SIZE", help="TFLM tensor arena budget, e.g. 16KiB")
    p.add_argument("--max-latency-us", type=float, metavar="US", help="LiteRT latency budget, one image, 1 thread")
    p.add_argument(
        "--time", type=parse_duration, default=parse_duration("20m"), metavar="DURATION",
        help="stop starting candidates that would not finish within it, e.g. 20m, 90s (default: 20m)",
    )  # fmt: skip
    p.add_argument("--family", type=parse_families, default=("tiny", "cnn"), metavar="NAMES",
                   help="shapes to vary: tiny, cnn (default: tiny,cnn)")  # fmt: skip
    p.add_argument(
        "--widths", type=lambda t: parse_list(float, t), default=DEFAULT_WIDTHS, metavar="LIST",
        help="width multipliers of the presets' filters (default: 0.5,0.75,1,1.5)",
    )  # fmt: skip
    p.add_argument(
        "--depths", type=lambda t: parse_list(int, t), default=DEFAULT_DEPTHS, metavar="LIST",
        help="layers after the pooling in tiny's shape, 1 to 5 (default: 2,3,4)",
    )  # fmt: skip
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="epochs per candidate")
    p.add_argument("--limit", type=int, help="train on the first N training images only (a quick sweep)")
    p.add_argument("--augment", help="augmentation (default: each family's recipe, train/presets.py)")
    p.add_argument("--data-dir", help="MNIST files (default: $MNIST_DATA_DIR, the user cache, else download)")
    p.add_argument("--seed", type=int, help="seed of every candidate's training (default: mnist-train's)")
    p.add_argument("--out", type=Path, default=Path("sweep"), help="where to write the candidates and the front")
    p.add_argument("--resume", action="store_true", help="continue the sweep in --out (same settings)")
    p.add_argument("--no-micro", dest="micro", action="store_false", help="skip TFLite Micro (no arena figure)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress lines")
    args = p.parse_args(argv)
    if any(d > 5 for d in args.depths):
        p.error("--depths: tiny's shape takes 1 to 5 layers after the pooling")
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    return args


# --- the candidates ---


@dataclass(frozen=True)
class Candidate:
    family: str
    filters: tuple[int, ...]

    @property
    def model(self) -> str:
        """The name mnist-train --model takes."""
        return f"{self.family}:{'-'.join(map(str, self.filters))}"

    @property
    def folder(self) -> str:
        return self.model.replace(":", "_")

    @property
    def preset(self) -> str | None:
        return self.family if self.filters == PRESET_SHAPES[self.family] else None


def candidates(families: tuple[str, ...], widths: tuple[float, ...], depths: tuple[int, ...]) -> list[Candidate]:
    """Every shape asked for, once each, cheapest first (by multiply-accumulates)."""
    from train.macs import multiply_accumulates
    from train.models import build_model

    found: dict[str, Candidate] = {}
    for family in families:
        base = PRESET_SHAPES[family]
        shapes = [base] if family == "cnn" else [base[:2] + (base[2:] + base[-1:] * 5)[:d] for d in depths]
        lo, hi = FAMILIES[family]
        for shape in shapes:
            for width in widths:
                filters = tuple(max(2, round(w * width)) for w in shape)
                if lo <= len(filters) <= hi:
                    c = Candidate(family, filters)
                    found.setdefault(c.model, c)
    work = {name: multiply_accumulates(build_model(name)) for name in found}
    return sorted(found.values(), key=lambda c: (work[c.model], c.model))


# --- measuring one ---


def latency_us(path: Path, images: Any) -> float:
    """LiteRT's median invoke time for one image on one thread, after warm-up (benchmarks/timing.py)."""
    from benchmarks.timing import time_calls
    from edge.runtime import Classifier

    classifier = Classifier(path, threads=1)
    inputs = classifier.model_input(images[:64])
    return time_calls(lambda x: classifier.invoke(x[None]), inputs, LATENCY_RUNS, warmup=30)["median"]


def measure(candidate: Candidate, folder: Path, args: argparse.Namespace, validation: Any) -> dict[str, Any]:
    """Convert the trained candidate to int8 and measure it; the row sweep.json keeps."""
    from convert.converter import convert_all
    from edge.runtime import Classifier

    metrics = json.loads((folder / "metrics.json").read_text())
    conversion = convert_all(
        folder / "saved_model", folder, variants=["int8"], evaluate_models=False, progress=False,
        data_dir=args.data_dir,
    )  # fmt: skip
    int8 = folder / conversion.models[0]["file"]
    images, labels = validation
    predicted = Classifier(int8, threads=1).predict(images).argmax(axis=1)
    row: dict[str, Any] = {
        "model": candidate.model,
        "family": candidate.family,
        "filters": list(candidate.filters),
        "preset": candidate.preset,
        "folder": str(folder),
        "parameters": metrics["parameters"],
        "macs_per_image": metrics["macs_per_image"],
        "train_time_s": metrics["wall_time_s"],
        "keras_val_accuracy": metrics["best_val_accuracy"],
        "val_accuracy": float((predicted == labels).mean()),  # int8 in LiteRT
        "flash_bytes": int8.stat().st_size,
        "latency_us": latency_us(int8, images),
        "arena_bytes": None,
        "micro_val_accuracy": None,
    }
    if args.micro:
        from convert import micro

        report = micro.micro_report(int8, images, labels, samples=1000, seed=metrics["seed"])
        row.update(
            arena_bytes=report["arena_bytes"], micro_val_accuracy=report["accuracy"], operators=report["operators"]
        )
    return row


def within(row: dict[str, Any], args: argparse.Namespace) -> bool:
    """Inside every budget given (an arena not measured counts as unknown, so not inside an arena budget)."""
    checks = [
        (args.max_flash, row["flash_bytes"]),
        (args.max_arena, row["arena_bytes"]),
        (args.max_latency_us, row["latency_us"]),
    ]
    return all(budget is None or (value is not None and value <= budget) for budget, value in checks)


def pareto_front(rows: list[dict[str, Any]]) -> list[str]:
    """The rows no other row beats on accuracy, size and latency at once (ties kept), cheapest first."""

    def beats(a: dict[str, Any], b: dict[str, Any]) -> bool:
        no_worse = (
            a["val_accuracy"] >= b["val_accuracy"]
            and a["flash_bytes"] <= b["flash_bytes"]
            and a["latency_us"] <= b["latency_us"]
        )
        return no_worse and (
            a["val_accuracy"] > b["val_accuracy"]
            or a["flash_bytes"] < b["flash_bytes"]
            or a["latency_us"] < b["latency_us"]
        )

    front = [r for r in rows if not any(beats(o, r) for o in rows if o is not r)]
    return [r["model"] for r in sorted(front, key=lambda r: r["flash_bytes"])]


# --- the sweep ---


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """What makes two sweeps the same (--resume checks it)."""
    return {
        "family": list(args.family),
        "widths": list(args.widths),
        "depths": list(args.depths),
        "epochs": args.epochs,
        "limit": args.limit,
        "augment": args.augment,
        "seed": args.seed,
    }


def start(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep's record: a fresh one, or the one in --out with --resume."""
    path = args.out / SWEEP_JSON
    if args.resume:
        if not path.is_file():
            raise SweepError(f"--resume: no sweep in {args.out} to continue; run without --resume to start one")
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise SweepError(f"{path}: cannot read it ({e}); start afresh with another --out") from None
        if record.get("settings") != settings_of(args):
            raise SweepError(
                f"--resume: the sweep in {args.out} was started with other settings ({record.get('settings')}); "
                "give the same --family, --widths, --depths, --epochs, --limit, --augment and --seed"
            )
        return record
    if path.exists():
        raise SweepError(f"{args.out} holds an earlier sweep; --resume continues it, or choose another --out")
    return {"settings": settings_of(args), "rows": [], "skipped": []}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from edge.files import cannot_write
    from train.data import resolve_source

    resolve_source("mnist", args.data_dir)  # a bad --data-dir fails now, before TensorFlow loads
    why = cannot_write(args.out)
    if why:
        raise SweepError(f"--out {args.out}: cannot write there ({why}); choose another folder")
    record = start(args)
    args.out.mkdir(parents=True, exist_ok=True)
    say = print if args.progress else (lambda *a, **k: None)
    if args.micro:
        from convert import micro
        from convert.micro import MicroError

        try:
            micro.runtime_module()
        except MicroError as e:
            say(f"note: no TFLite Micro ({e}); no arena figures")
            args.micro = False
    from train.tf_quiet import import_tensorflow

    import_tensorflow()
    plan = candidates(args.family, args.widths, args.depths)
    validation = validation_images(args)
    done = {r["model"] for r in record["rows"]}
    began = time.monotonic()
    record["skipped"] = []
    for number, candidate in enumerate(plan, 1):
        if candidate.model in done:
            continue
        spent = time.monotonic() - began
        estimate = estimated_seconds(candidate, record["rows"])
        if estimate is not None and spent + estimate > args.time:
            record["skipped"] = [c.model for c in plan if c.model not in done]
            say(f"time budget: {spent:.0f} s spent, {candidate.model} would take about {estimate:.0f} s more; stopping")
            break
        say(f"[{number}/{len(plan)}] {candidate.model}: training {args.epochs} epochs...", flush=True)
        row = train_and_measure(candidate, args, validation)
        record["rows"].append(row)
        done.add(candidate.model)
        say(
            f"[{number}/{len(plan)}] {candidate.model}: int8 val {row['val_accuracy']:.2%}, "
            f"{row['flash_bytes'] / 1024:.1f} KiB, {row['latency_us']:.0f} µs"
            + (f", arena {row['arena_bytes'] / 1024:.1f} KiB" if row["arena_bytes"] else "")
            + f" ({row['train_time_s']:.0f} s of training)"
        )
        finish(record, args)
    finish(record, args)
    return record


def validation_images(args: argparse.Namespace) -> tuple[Any, Any]:
    """The validation split every candidate's trainer holds out (uint8 images, labels)."""
    from train.data import load_training_data
    from train.defaults import SEED
    from train.trainer import split_validation

    data = load_training_data("mnist", args.data_dir, split="train", progress=args.progress).train
    images, labels = data.images, data.labels
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    _, validation = split_validation(images, labels, SEED if args.seed is None else args.seed)
    return validation


def estimated_seconds(candidate: Candidate, rows: list[dict[str, Any]]) -> float | None:
    """Training and measuring time, scaled from the finished candidates by work per image (None before the first)."""
    if not rows:
        return None
    from train.macs import multiply_accumulates
    from train.models import build_model

    per_mac = max(r["sweep_seconds"] / r["macs_per_image"] for r in rows)  # the slowest rate seen: stay within
    return per_mac * multiply_accumulates(build_model(candidate.model))


def train_and_measure(candidate: Candidate, args: argparse.Namespace, validation: Any) -> dict[str, Any]:
    import keras

    from train.checkpoints import CHECKPOINT_DIR, has_interrupted_run
    from train.trainer import TrainConfig, train

    keras.backend.clear_session()
    folder = args.out / candidate.folder
    started = time.monotonic()
    interrupted = has_interrupted_run(folder / CHECKPOINT_DIR)
    if interrupted or not trained(folder, args):  # a candidate stopped while being measured is not trained again
        settings = {"seed": args.seed} if args.seed is not None else {}
        config = TrainConfig(
            model=candidate.model, epochs=args.epochs, limit=args.limit, augment=args.augment,
            data_dir=args.data_dir, out=str(folder), resume=interrupted, **settings,
        )  # fmt: skip
        train(config, progress=False)
    row = measure(candidate, folder, args, validation)
    row["sweep_seconds"] = time.monotonic() - started
    return row


def trained(folder: Path, args: argparse.Namespace) -> bool:
    """Whether ``folder`` holds this sweep's finished training of the candidate (only with --resume)."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return False
    return args.resume and metrics.get("epochs") == args.epochs and (folder / "saved_model").is_dir()


def finish(record: dict[str, Any], args: argparse.Namespace) -> None:
    """The front, then sweep.json, sweep.md and sweep.png (each written whole)."""
    rows = record["rows"]
    for row in rows:
        row["within_budget"] = within(row, args)
    record["budget"] = {
        "flash_bytes": args.max_flash,
        "arena_bytes": args.max_arena,
        "latency_us": args.max_latency_us,
        "time_s": args.time,
    }
    record["front"] = pareto_front([r for r in rows if r["within_budget"]])
    record["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_json(args.out / SWEEP_JSON, record)
    with atomic_path(args.out / SWEEP_MD) as tmp:
        tmp.write_text(markdown(record))
    if rows:
        plot(record, args.out / SWEEP_PNG)


def table(record: dict[str, Any]) -> str:
    front = set(record["front"])
    header = ["model", "front", "budget", "int8 val acc", "TFLM, 1,000 val", "flash", "arena", "latency", "MACs",
              "params", "training"]  # fmt: skip
    body = []
    for r in sorted(record["rows"], key=lambda r: r["flash_bytes"]):
        name = r["model"] + (f" (= {r['preset']} preset's shape)" if r["preset"] else "")
        body.append(
            [
                name,
                "*" if r["model"] in front else "",
                "in" if r["within_budget"] else "out",
                f"{100 * r['val_accuracy']:.2f} %",
                "–" if r["micro_val_accuracy"] is None else f"{100 * r['micro_val_accuracy']:.2f} %",
                f"{r['flash_bytes'] / 1024:.1f} KiB",
                "–" if r["arena_bytes"] is None else f"{r['arena_bytes'] / 1024:.1f} KiB",
                f"{r['latency_us']:.0f} µs",
                f"{r['macs_per_image'] / 1e6:.2f} M",
                f"{r['parameters']:,}",
                f"{r['train_time_s']:.0f} s",
            ]
        )
    return format_table([header, *body], "lllrrrrrrrr", markdown=True)


def markdown(record: dict[str, Any]) -> str:
    s, b = record["settings"], record["budget"]

    def size(n: int | None) -> str:
        return "none" if n is None else f"{n / 1024:g} KiB"

    latency = "none" if b["latency_us"] is None else f"{b['latency_us']:g} µs"
    lines = [
        "# mnist-sweep",
        "",
        f"Budget: flash {size(b['flash_bytes'])}, arena {size(b['arena_bytes'])}, latency "
        f"{latency}, time {b['time_s']:g} s. "
        f"Families {', '.join(s['family'])}; {s['epochs']} epochs each"
        + (f" on the first {s['limit']:,} training images" if s["limit"] else "")
        + ". Accuracy on the validation split (never the test set; TFLM on 1,000 of its images drawn at random); "
        "latency: LiteRT, one image, one thread, "
        "median; * marks the Pareto front within the budget (nothing else in the budget is more accurate, "
        "smaller and faster at once).",
        "",
        table(record),
        "",
    ]
    if record.get("skipped"):
        lines += [f"Not trained (time budget): {', '.join(record['skipped'])}; `--resume` continues.", ""]
    if record["front"]:
        best = max((r for r in record["rows"] if r["model"] in record["front"]), key=lambda r: r["val_accuracy"])
        pick, folder = best["model"], best["folder"]
        lines += [
            f"The most accurate on the front: `{pick}`. Its files: `{folder}`; the other variants and the C array: "
            f"`mnist-convert --model {folder}/saved_model --quantize all --micro`; trained longer: "
            f"`mnist-train --model {pick}`.",
            "",
        ]
    return "\n".join(lines)


def plot(record: dict[str, Any], path: Path) -> None:
    """Accuracy against flash and against latency; the front in green (a front in three measures: no line
    joins it in two), the budget shaded, the presets' shapes as stars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    rows, front, budget = record["rows"], record["front"], record["budget"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True, constrained_layout=True)
    for ax, key, scale, label, limit in (
        (axes[0], "flash_bytes", 1024, "int8 file (KiB, log scale)", budget["flash_bytes"]),
        (axes[1], "latency_us", 1, "LiteRT latency, one image, 1 thread (µs, log scale)", budget["latency_us"]),
    ):
        for i, r in enumerate(sorted(rows, key=lambda r: r["val_accuracy"])):
            colour = "tab:green" if r["model"] in front else ("tab:gray" if r["within_budget"] else "tab:red")
            ax.plot(r[key] / scale, 100 * r["val_accuracy"], "*" if r["preset"] else "o", color=colour,
                    markersize=12 if r["preset"] else 6)  # fmt: skip
            name = r["model"] + (f" ({r['preset']} preset)" if r["preset"] else "")
            # Neighbours in accuracy alternate above and below their points, so close names do not overprint.
            ax.annotate(name, (r[key] / scale, 100 * r["val_accuracy"]), xytext=(5, 3 if i % 2 else -9),
                        textcoords="offset points", fontsize=7)  # fmt: skip
        if limit is not None:
            low = min(min(r[key] for r in rows), limit) / scale / 1.5
            ax.axvspan(low, limit / scale, color="tab:green", alpha=0.08, label="budget")
        ax.set_xscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:g}")  # 20, not 2 x 10^1
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.tick_params(axis="x", which="both", labelsize=8)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("int8 accuracy on the validation split (%)")
    if budget["flash_bytes"] is not None:
        axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle("mnist-sweep: green = Pareto front, grey = within budget, red = over budget, star = a preset's shape")
    from train.plots import save

    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from convert.converter import ConvertError
    from convert.micro import MicroError
    from train.trainer import TrainError, TrainingInterrupted

    try:
        record = run(args)
    except (SweepError, TrainError, DataError, ConvertError, MicroError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (TrainingInterrupted, KeyboardInterrupt):
        print(
            f"\ninterrupted; the finished candidates are in {args.out / SWEEP_JSON}; "
            "run the same command with --resume to continue",
            file=sys.stderr,
        )
        return 130
    print(table(record))
    print(f"\nFront: {', '.join(record['front']) or '(nothing within the budget)'}")
    print(f"Wrote {args.out / SWEEP_JSON}, {args.out / SWEEP_MD}, {args.out / SWEEP_PNG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
