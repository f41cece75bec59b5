"""Will it fit a microcontroller? A .tflite file checked in TensorFlow Lite for Microcontrollers itself.

Flash and RAM are measured, not estimated: flash is the model's bytes (what the C array puts in
flash), RAM is the tensor arena that TFLM's recording allocator reports after a real inference,
and every test image is then run through an interpreter given exactly that arena, so the figure
is proven sufficient. The predictions are compared with LiteRT's on the same quantized inputs.

TFLM's Python package (``pip install tflite-micro``, the ``micro`` extra) runs TFLM's reference
kernels on this machine, one image at a time. Two things differ on a 32-bit board: the arena's
bookkeeping part (``arena_persistent_bytes``) holds pointers and shrinks a little, and optimized
kernels (CMSIS-NN) may ask for scratch buffers; keep a few KiB of margin.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convert.c_array import write_c_array
from convert.tflite_file import read_tflite, tensor_info
from edge.native_output import native_output_captured
from edge.preprocess import normalize
from edge.runtime import Classifier
from train.defaults import SEED
from train.tables import format_table

if TYPE_CHECKING:
    from convert.converter import Conversion
    from edge.mnist_data import Split

INSTALL_ADVICE = "pip install 'mnist-edge[micro]' (or: pip install tflite-micro; PyPI has it for Linux x86-64 only)"
MEASURING_ARENA = 8 * 1024 * 1024  # generous, only to measure; no microcontroller model needs more
# TFLM's reference kernels take 3-6 ms per image for our int8 models here: 1,000 random test images
# (~5 s a file) check the agreement with LiteRT well; --micro-samples all runs the 10,000.
DEFAULT_SAMPLES = 1000
# MicroMutableOpResolver's Add* methods whose names do not follow from the operator's name.
_RESOLVER_EXCEPTIONS = {
    "PADV2": "AddPadV2",
    "CUMSUM": "AddCumSum",
    "BATCH_MATMUL": "AddBatchMatMul",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
}


class MicroError(Exception):
    """TFLM is missing, or cannot run this model; the message is one line naming the problem and the fix."""


@dataclass(frozen=True)
class Arena:
    """What TFLM's recording allocator reports: the arena splits into activations (head) and bookkeeping (tail)."""

    total: int
    activations: int
    persistent: int


def runtime_module() -> Any:
    """``tflite_micro.runtime``, or a MicroError saying how to install it."""
    try:
        from tflite_micro import runtime
    except ImportError as e:
        raise MicroError(
            f"TensorFlow Lite Micro's Python interpreter is not installed ({e}); {INSTALL_ADVICE}"
        ) from None
    return runtime


def version() -> str:
    import tflite_micro

    return str(tflite_micro.__version__)


# --- what the model asks of TFLM --------------------------------------------------------------


def operators(data: bytes) -> list[str]:
    """The operators a firmware must register for this model, in the order they first run."""
    return read_tflite(data).operator_names


def resolver_call(operator: str) -> str:
    """The MicroMutableOpResolver call that registers ``operator``: CONV_2D -> AddConv2D()."""
    if operator.startswith("CUSTOM:"):
        return f'AddCustom("{operator[7:]}", /* your registration */)'
    name = _RESOLVER_EXCEPTIONS.get(operator) or "Add" + "".join(
        p.capitalize() if p.isalpha() else p.upper() for p in operator.split("_")
    )
    return f"{name}()"


def resolver_code(ops: Sequence[str]) -> list[str]:
    """C++ lines that build the op resolver for ``ops``."""
    return [
        f"static tflite::MicroMutableOpResolver<{len(ops)}> resolver;",
        *(f"resolver.{resolver_call(op)};" for op in ops),
    ]


def unsupported(data: bytes) -> tuple[str, int, str] | None:
    """(operator, node, why) for the first operator TFLM has no kernel for, from the tensor types alone.

    TFLM runs full-integer and float32 models; it has no float16 kernels and no dynamic-range
    ("hybrid") kernels, the two other kinds of file mnist-convert writes.
    """
    for op in read_tflite(data).operators:
        if "FLOAT16" in op.input_types:
            return op.name, op.index, "its input is float16 (a float16 model), and TFLM has no float16 kernels"
        if op.input_types[:1] == ("FLOAT32",) and "INT8" in op.input_types[1:]:
            return (
                op.name,
                op.index,
                "float activations with int8 weights (a dynamic-range model), and TFLM has no hybrid kernels",
            )
    return None


# --- running it in TFLM -----------------------------------------------------------------------

_REFUSAL_ADVICE = "use the full-integer model: mnist-convert --quantize int8 --micro"


def explain(name: str, log: str, error: Exception, arena_size: int | None = None) -> str:
    """TFLM's log of a failed load -> one line naming the operator (or the arena that was too small)."""
    node = re.search(r"Node (\w+) \(number (\d+)\) failed to (\w+)", log)
    missing = re.search(r"(?:op code|opcode) '?(\w+)'?", log)
    reasons = [line.strip() for line in log.splitlines() if line.strip() and not line.startswith("Node ")]
    reason = reasons[0][:160] if reasons else str(error)
    if arena_size is not None and re.search(r"Failed to (allocate|resize buffer)", log):
        return (
            f"{name}: does not fit a tensor arena of {arena_size:,} bytes ({reason}); "
            "a model for a microcontroller needs a smaller one: mnist-train --model tiny"
        )
    if node:
        return (
            f"{name}: TensorFlow Lite Micro cannot run operator {node[1]} (node {node[2]}): {reason}; {_REFUSAL_ADVICE}"
        )
    if missing:
        return f"{name}: TensorFlow Lite Micro has no kernel for operator {missing[1]}; {_REFUSAL_ADVICE}"
    return f"{name}: TensorFlow Lite Micro cannot run this model ({reason}); {_REFUSAL_ADVICE}"


def _in_tflm(name: str, call: Callable[[], Any], arena_size: int | None = None) -> Any:
    """``call()`` with TFLM's log captured: what it prints on a failure becomes the MicroError's one line."""
    with native_output_captured(replay=False) as log:
        try:
            return call()
        except (RuntimeError, ValueError) as e:
            error = e
    raise MicroError(explain(name, log.text, error, arena_size))


def load(data: bytes, name: str, arena_size: int) -> Any:
    """A TFLM interpreter for the model bytes with ``arena_size`` bytes of arena; MicroError if it cannot run it."""
    runtime = runtime_module()
    problem = unsupported(data)
    if problem:
        op, node, why = problem
        raise MicroError(
            f"{name}: TensorFlow Lite Micro cannot run operator {op} (node {node}): {why}; {_REFUSAL_ADVICE}"
        )
    return _in_tflm(name, lambda: runtime.Interpreter.from_bytes(data, arena_size=arena_size), arena_size)


def _invoke(interpreter: Any, model_input: np.ndarray, name: str) -> np.ndarray:
    def run() -> np.ndarray:
        interpreter.set_input(model_input, 0)
        interpreter.invoke()
        return np.asarray(interpreter.get_output(0))

    return _in_tflm(name, run)


def measure_arena(data: bytes, name: str, model_input: np.ndarray) -> Arena:
    """The arena TFLM used for one inference, from its recording allocator."""
    interpreter = load(data, name, MEASURING_ARENA)
    _invoke(interpreter, model_input, name)
    with native_output_captured(replay=False) as log:
        interpreter.print_allocations()
    figures = {key: int(n) for key, n in re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", log.text)}
    if set(figures) != {"total", "head", "tail"}:
        raise MicroError(
            f"{name}: TFLM's recording allocator reported no arena figures (tflite-micro {version()}); "
            "pip install --upgrade tflite-micro"
        )
    return Arena(figures["total"], figures["head"], figures["tail"])


def pick_samples(count: int, samples: int | None, seed: int = SEED) -> np.ndarray:
    """Indices of ``samples`` test images drawn at random (all of them for None).

    Not the first N: MNIST's test set puts its cleaner half (Census employees' digits) first.
    """
    if samples is None or samples >= count:
        return np.arange(count)
    if samples < 1:
        raise MicroError(f"--micro-samples must be at least 1, not {samples}")
    return np.sort(np.random.default_rng(seed).choice(count, samples, replace=False))


def micro_report(
    tflite_path: str | Path,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    samples: int | None = None,
    *,
    seed: int = SEED,
    progress: bool = False,
) -> dict[str, Any]:
    """Flash, arena, operators and accuracy of ``tflite_path`` in TFLM, and its agreement with LiteRT.

    ``test_images`` are uint8 (N, 28, 28) as MNIST stores them; ``samples`` of them (all for None)
    are drawn at random with ``seed``. Raises MicroError for a model TFLM cannot run, and
    edge.runtime.RuntimeProblem for a file that is not a usable .tflite model.
    """
    from tqdm.auto import tqdm

    path = Path(tflite_path)
    runtime_module()
    litert = Classifier(path, threads=1)  # checks the file; the same quantization as on the Pi
    data = path.read_bytes()
    if len(test_labels) == 0:
        raise MicroError("no test images to run through TFLM")
    picked = pick_samples(len(test_labels), samples, seed)
    images, labels = np.asarray(test_images)[picked], np.asarray(test_labels)[picked]
    model_input = litert.quantize(normalize(images))
    shape = (1, *litert.input["shape"][1:])

    arena = measure_arena(data, path.name, np.zeros(shape, litert.input_dtype))
    # The evaluation runs in exactly the measured arena: the figure is proven, not just reported.
    tflm = load(data, path.name, arena.total)
    tflm_out = []
    for one in tqdm(
        model_input,
        desc=f"TFLM {path.name}",
        unit="img",
        disable=None if progress else True,
        leave=False,
        file=sys.stderr,
    ):
        tflm_out.append(_invoke(tflm, one.reshape(shape), path.name).reshape(-1))
    tflm_raw = np.array(tflm_out).reshape(len(labels), -1)
    with native_output_captured(replay=False):  # LiteRT announces its XNNPACK delegate on the first run
        litert_raw = np.concatenate([litert.invoke(model_input[i : i + 256]) for i in range(0, len(labels), 256)])
    tflm_pred, litert_pred = tflm_raw.argmax(axis=1), litert_raw.argmax(axis=1)
    difference = np.abs(tflm_raw.astype(np.float64) - litert_raw.astype(np.float64))
    ops = operators(data)
    return {
        "file": path.name,
        "flash_bytes": len(data),
        "arena_bytes": arena.total,
        "arena_activation_bytes": arena.activations,
        "arena_persistent_bytes": arena.persistent,
        "input": tensor_info(litert.input, batch=1),
        "output": tensor_info(litert.output, batch=1),
        "operators": ops,
        "op_resolver": [resolver_call(op) for op in ops],
        "samples": len(labels),
        "sample_seed": seed if len(labels) < len(test_labels) else None,
        "accuracy": float((tflm_pred == labels).mean()),
        "litert_accuracy": float((litert_pred == labels).mean()),
        "agreement": float((tflm_pred == litert_pred).mean()),
        "disagreements": int((tflm_pred != litert_pred).sum()),
        # in the output's own units: quantization steps for int8/uint8 outputs
        "max_output_difference": float(difference.max()),
        "tflite_micro": version(),
        "measured_on": "host, TFLM reference kernels, 64-bit",
    }


def _describe(tensor: dict[str, Any], meaning: str, quantized: str) -> str:
    """'int8 1x28x28x1, x = pixel / 255, q = round(x / 0.0039215689) - 128' for the header's notes."""
    text = f"{tensor['dtype']} {'x'.join(map(str, tensor['shape']))}, {meaning}"
    if tensor["quantization"] is None:
        return text
    scale, zp = tensor["quantization"]["scale"], tensor["quantization"]["zero_point"]
    plus, minus = f"{'+' if zp >= 0 else '-'} {abs(zp)}", f"{'-' if zp >= 0 else '+'} {abs(zp)}"
    return text + ", " + quantized.format(scale=f"{scale:.8g}", plus=plus, minus=minus)


def header_notes(report: dict[str, Any]) -> list[str]:
    """Lines for the C header: what the firmware needs besides the array."""
    return [
        f"Tensor arena: {report['arena_bytes']:,} bytes, measured by TFLM's recording allocator on a 64-bit host",
        f"({report['arena_activation_bytes']:,} activations + {report['arena_persistent_bytes']:,} bookkeeping); "
        "keep a few KiB of margin on the board.",
        "Input:  "
        + _describe(report["input"], "x = pixel / 255 (white digit on black)", "q = round(x / {scale}) {plus}"),
        f"Output: {_describe(report['output'], 'x = probability of each class', 'x = (q {minus}) * {scale}')}",
        "",
        "Operators to register:",
        *(f"  {line}" for line in resolver_code(report["operators"])),
    ]


def table(reports: Sequence[dict[str, Any]], budget: tuple[int, int] | None = None) -> str:
    """The reports as an aligned text table; with ``budget`` (flash, RAM bytes), a column saying which fit it."""
    head = ["model", "flash", "RAM (arena)", "TFLM accuracy", "LiteRT accuracy", "agreement", "images", "ops"]
    if budget:
        head.append(f"fits {budget[0] / 1024:g} KiB / {budget[1] / 1024:g} KiB")
    rows = [head]
    for r in reports:
        row = [
            r.get("label", r["file"]),
            f"{r['flash_bytes'] / 1024:,.1f} KiB",
            f"{r['arena_bytes'] / 1024:,.1f} KiB",
            f"{100 * r['accuracy']:.2f} %",
            f"{100 * r['litert_accuracy']:.2f} %",
            f"{100 * r['agreement']:.2f} %",
            f"{r['samples']:,}",
            str(len(r["operators"])),
        ]
        if budget:
            row.append("yes" if r["flash_bytes"] <= budget[0] and r["arena_bytes"] <= budget[1] else "no")
        rows.append(row)
    return format_table(rows, "l" + "r" * (len(head) - 1))


# --- mnist-convert --micro --------------------------------------------------------------------


def parse_samples(text: str) -> int | None:
    """The argparse type of --micro-samples: a number of test images, or 'all' (None)."""
    if text.strip().lower() == "all":
        return None
    if text.strip().isdigit() and int(text) > 0:
        return int(text)
    raise argparse.ArgumentTypeError(f"takes a number of test images or 'all', not {text!r}")


def for_conversion(
    conversion: Conversion,
    test: Split | None,
    samples: int | None = DEFAULT_SAMPLES,
    *,
    seed: int = SEED,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """``mnist-convert --micro``: for each full-integer file of this run, its TFLM report and its C array.

    ``test`` is the split the conversion evaluated on (the same images LiteRT was judged on). The
    figures go into each file's manifest entry under "micro", and manifest.json is written again
    (atomically). Returns the reports, in table order.
    """
    from convert import manifest
    from convert.variants import VARIANTS

    runtime_module()
    entries = [m for m in conversion.models if VARIANTS[m["variant"]].quantize == "int8"]
    if not entries:
        raise MicroError("--micro needs a full-integer model, and this run wrote none; add --quantize int8 (or all)")
    if test is None or len(test.labels) == 0:
        raise MicroError("--micro needs test images to run through TFLM, and the conversion had none")
    reports = []
    for entry in entries:
        path = conversion.out_dir / entry["file"]
        report = micro_report(path, test.images, test.labels, samples, seed=seed, progress=progress)
        c_path, h_path = write_c_array(path, conversion.out_dir, header_notes(report))
        report.update(c_source=c_path.name, c_header=h_path.name)
        entry["micro"] = {k: v for k, v in report.items() if k != "file"}
        reports.append(report)
    manifest.write(conversion.out_dir, conversion.manifest)
    return reports


def summary(reports: Sequence[dict[str, Any]]) -> str:
    """What mnist-convert --micro prints after its own table: figures, operators, files."""
    lines = [
        "TensorFlow Lite for Microcontrollers (flash: the model's bytes; RAM: the tensor arena TFLM measured):",
        table(reports),
        "",
    ]
    for r in reports:
        lines.append(
            f"{r['file']}: register {', '.join(r['op_resolver'])}; C array in {r['c_source']}, {r['c_header']}"
        )
    lines.append(
        "note: the arena is measured on this 64-bit machine with TFLM's reference kernels; "
        "keep a few KiB of margin on the board"
    )
    return "\n".join(lines)
