"""The one table formatter, and each table made with it, from synthetic figures."""

from __future__ import annotations

from pathlib import Path

from convert import micro, report
from convert.converter import Conversion
from train.export_weights import summary_table
from train.tables import format_table


def test_text_table_aligns_columns_under_a_rule():
    text = format_table([["name", "size"], ["a", "1 KiB"], ["longer", "10 KiB"]], "lr")
    assert text.splitlines() == ["name    size", "------  ------", "a        1 KiB", "longer  10 KiB"]
    assert format_table([["a", "b"], ["xx", ""]], rule=False).splitlines() == ["a   b", "xx"]  # no trailing spaces
    assert format_table([]) == ""


def test_markdown_table_carries_the_alignment():
    text = format_table([["Runtime", "µs"], ["LiteRT", "46"]], "lr", markdown=True)
    assert text.splitlines() == ["| Runtime | µs |", "|:--|--:|", "| LiteRT | 46 |"]


def entry(variant, size, accuracy, change, dtype="float32", loads=True):
    return {
        "variant": variant,
        "file": f"mnist_{variant}.tflite",
        "bytes": size,
        "ratio_to_float32": size / 760_000,
        "accuracy": accuracy,
        "accuracy_change_points": change,
        "status": "ok",
        "min_runtime_version": "1.14.0",
        "input": {"dtype": dtype},
        "output": {"dtype": dtype},
        "runtimes": {
            "ai_edge_litert 2.3.0": {"loads": True},
            "tflite_runtime 2.14.0 (/pi/python)": {"loads": loads, "version": "2.14.0", "error": "boom"},
        },
    }


def test_mnist_convert_table():
    models = [entry("float32", 760_000, 0.9951, 0.0), entry("dynamic", 200_000, 0.9950, -0.01, loads=False)]
    models[1]["min_runtime_version"] = "2.17.0"
    manifest = {"models": models, "reference": {"bytes": 760_000, "accuracy": 0.9951}}
    conversion = Conversion(Path("out"), Path("out/manifest.json"), manifest, [], ["float32", "dynamic"])
    lines = report.table(conversion).splitlines()
    assert lines[0].split() == [
        "variant",
        "file",
        "size",
        "vs",
        "float32",
        "in/out",
        "accuracy",
        "change",
        "min",
        "runtime",
        "loads",
        "in",
        "status",
    ]
    assert set(lines[1]) == {"-", " "}
    assert lines[2].split()[:8] == ["float32", "mnist_float32.tflite", "742.2", "KiB", "100.0", "%", "float32", "99.51"]
    assert "-0.01 pt" in lines[3] and "NOT tflite_runtime 2.14.0" in lines[3]
    advice = report.advice(conversion)
    assert len(advice) == 1 and "needs a TFLite runtime >= 2.17.0" in advice[0] and "deploy float32" in advice[0]


def test_micro_table_says_which_model_fits():
    reports = [
        {
            "label": "tiny",
            "file": "t.tflite",
            "flash_bytes": 53_900,
            "arena_bytes": 26_900,
            "accuracy": 0.9935,
            "litert_accuracy": 0.9935,
            "agreement": 1.0,
            "samples": 10_000,
            "operators": ["CONV_2D", "MEAN"],
        }
    ]
    lines = micro.table(reports, (64 * 1024, 32 * 1024)).splitlines()
    assert lines[0].startswith("model  flash") and lines[0].endswith("fits 64 KiB / 32 KiB")
    assert lines[2].split() == [
        "tiny",
        "52.6",
        "KiB",
        "26.3",
        "KiB",
        "99.35",
        "%",
        "99.35",
        "%",
        "100.00",
        "%",
        "10,000",
        "2",
        "yes",
    ]


def test_weights_table_lists_layers_without_weights_too():
    index = {
        "layers": [
            {
                "name": "conv2d",
                "class": "Conv2D",
                "weights": [{"name": "kernel", "shape": [3, 3, 1, 8], "count": 72, "file": "01_conv2d.kernel.txt"}],
            },
            {"name": "flatten", "class": "Flatten", "weights": []},
        ]
    }
    assert summary_table(index).splitlines() == [
        "layer    type     weight  shape    values  file",
        "conv2d   Conv2D   kernel  3x3x1x8  72      01_conv2d.kernel.txt",
        "flatten  Flatten  -",
    ]
