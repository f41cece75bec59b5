"""mnist-export-weights: a trained model's parameters as plain text, one file per weight array.

    mnist-export-weights                                  # artifacts/model.keras -> artifacts/weights/
    mnist-export-weights --model run2/model.keras --out /tmp/w

Each file is what ``numpy.savetxt`` writes - open it in any editor, or read it back anywhere with

    np.loadtxt("weights/01_conv2d.kernel.txt", dtype="float32", ndmin=2).reshape(3, 3, 1, 32)

A comment header names the layer and weight, its shape and dtype, and that very line. Arrays of
more than two dimensions are stored as a table whose columns are the last axis (a convolution's
output channels, a dense layer's units). ``index.json`` lists every layer in order - also those
without weights, so the architecture reads from top to bottom - with each file, shape and a few
statistics. Values are written with enough digits to read back bit for bit.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from edge.command_line import HelpFormatter, OneLineParser
from edge.files import replace_folder, write_json
from train.defaults import KERAS_MODEL
from train.evaluation import ModelError
from train.show import add_output_arguments
from train.tables import format_table

INDEX = "index.json"
# Significant digits that round-trip each float type exactly through text.
_DIGITS = {np.dtype("float16"): 5, np.dtype("float32"): 9, np.dtype("float64"): 17}


def _as_table(values: np.ndarray) -> np.ndarray:
    """The 1- or 2-D array savetxt writes: last axis as columns; a vector is one value per line."""
    if values.ndim == 0:
        return values.reshape(1)
    if values.ndim <= 2:
        return values
    return values.reshape(-1, values.shape[-1])


def _format(dtype: np.dtype) -> str:
    return f"%.{_DIGITS[dtype]}g" if dtype in _DIGITS else "%d"


def weight_file_name(layer_number: int, layer_name: str, weight_name: str) -> str:
    return f"{layer_number:02d}_{layer_name}.{weight_name}.txt"


def export_weights(model, out: str | Path, source: str = "") -> dict:
    """Write every weight of the Keras ``model`` as text into ``out``; returns the index.

    ``out`` is replaced whole: the new files are written to a temporary folder beside it and
    swapped in, so a failure leaves the earlier export as it was.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / INDEX).is_file())):
        raise ModelError(f"--out {out}: exists and is not an earlier weights export; choose another folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        index = _write_all(model, staging, source)
        replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return index


def _write_all(model, folder: Path, source: str) -> dict:
    layers, total = [], 0
    for number, layer in enumerate(model.layers, start=1):
        entries = []
        for weight in layer.weights:
            values = np.asarray(weight.numpy())
            # "conv2d/kernel" -> "kernel"; a nested layer's "block/conv/kernel" -> "conv.kernel"
            prefix = f"{layer.name}/"
            name = (weight.path[len(prefix) :] if weight.path.startswith(prefix) else weight.name).replace("/", ".")
            file = weight_file_name(number, layer.name, name)
            shape = "x".join(map(str, values.shape)) or "scalar"
            reshape = (
                ""
                if values.ndim == 1
                else f".reshape({values.shape})"
                if values.ndim == 0
                else (f".reshape({', '.join(map(str, values.shape))})")
            )
            table = _as_table(values)
            trained = "trained" if weight.trainable else "not trained: running statistics"
            stored = (
                f"{table.shape[0]} rows x {table.shape[1]} columns (the last axis)"
                if table.ndim == 2
                else f"{table.shape[0]} lines, one value each"
            )
            ndmin = ", ndmin=2" if table.ndim == 2 else ""
            header = "\n".join(
                [
                    f"layer {number}: {layer.name} ({type(layer).__name__}), weight: {name} ({trained})",
                    f"shape {shape} = {values.size:,} values, dtype {values.dtype}",
                    f"stored as {stored}",
                    f'read back: np.loadtxt("{file}", dtype="{values.dtype}"{ndmin}){reshape}',
                ]
            )
            np.savetxt(folder / file, table, fmt=_format(values.dtype), header=header)
            finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
            entries.append(
                {
                    "name": name,
                    "file": file,
                    "shape": list(values.shape),
                    "dtype": str(values.dtype),
                    "trainable": bool(weight.trainable),
                    "count": int(values.size),
                    **{stat: _rounded(getattr(np, stat), finite) for stat in ("min", "max", "mean", "std")},
                }
            )
            total += values.size
        layers.append({"number": number, "name": layer.name, "class": type(layer).__name__, "weights": entries})
    index = {
        "model": source or getattr(model, "name", ""),
        "parameters": int(total),
        "how_to_read": "np.loadtxt(file, dtype=dtype, ndmin=2).reshape(shape); each file's header says the same",
        "layers": layers,
    }
    write_json(folder / INDEX, index)
    return index


def _rounded(statistic, values: np.ndarray) -> float | None:
    return float(f"{float(statistic(values)):.6g}") if values.size else None


def load_weights(folder: str | Path) -> dict[str, np.ndarray]:
    """Read an export back: ``"<layer>/<weight>"`` -> array, in the model's order (numpy only)."""
    folder = Path(folder)
    index = json.loads((folder / INDEX).read_text())
    found = {}
    for layer in index["layers"]:
        for entry in layer["weights"]:
            values = np.loadtxt(folder / entry["file"], dtype=entry["dtype"], ndmin=2)
            found[f"{layer['name']}/{entry['name']}"] = values.reshape(entry["shape"])
    return found


def summary_table(index: dict) -> str:
    """The index as the aligned table the command prints."""
    rows = [("layer", "type", "weight", "shape", "values", "file")]
    for layer in index["layers"]:
        if not layer["weights"]:
            rows.append((layer["name"], layer["class"], "-", "", "", ""))
        for entry in layer["weights"]:
            shape = "x".join(map(str, entry["shape"])) or "scalar"
            rows.append((layer["name"], layer["class"], entry["name"], shape, f"{entry['count']:,}", entry["file"]))
    return format_table(rows, rule=False)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog="mnist-export-weights",
        description="Write a trained Keras model's weights as text files (numpy.savetxt format, one per weight "
        "array) plus index.json, to read in an editor or load with numpy anywhere.",
        epilog="Exit status: 0 done, 2 bad input.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--model", type=Path, default=KERAS_MODEL, metavar="FILE", help=".keras model written by mnist-train"
    )
    add_output_arguments(parser, "folder for the text files [default: weights/ beside the model]")
    parser.add_argument("--quiet", action="store_true", help="do not print the table of layers")
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, or a usage error already printed on one line
        return int(done.code or 0)
    out = args.out or args.model.parent / "weights"
    try:
        if args.model.suffix != ".keras":
            raise ModelError(f"--model {args.model}: give the .keras model mnist-train wrote (e.g. {KERAS_MODEL})")
        if not args.model.is_file():
            raise ModelError(f"--model {args.model}: no such file; train a model with mnist-train first")
        from train.tf_quiet import import_tensorflow

        import_tensorflow(args.verbose)
        import keras

        try:
            model = keras.models.load_model(args.model)
        except (ValueError, OSError) as e:
            raise ModelError(f"--model {args.model}: cannot load it ({str(e).splitlines()[0][:160]})") from None
        index = export_weights(model, out, source=str(args.model))
    except ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: --out {out}: cannot write there ({e.strerror}); choose another folder", file=sys.stderr)
        return 2
    if not args.quiet:
        print(summary_table(index))
    files = sum(len(layer["weights"]) for layer in index["layers"])
    print(f"Wrote {files} weight files ({index['parameters']:,} values) and {INDEX} to {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
