"""Argument errors of mnist-convert, mnist-bench, bench_micro and mnist-export-weights: one line, before any work.

Also every command line's usage errors (edge/command_line.py): one line, exit status 2.

Also checks that this whole layer runs without TensorFlow: the modules these fast tests use
import none of it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from benchmarks import bench, bench_micro
from benchmarks.bench import parse_args as bench_args
from benchmarks.settings import QUICK, parse_threads
from convert import cli, micro
from convert.converter import ConvertError, ConvertOptions
from edge import classify
from train import cli as train_cli
from train import export_weights, show


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--io", "uint8"], "--io sets the int8 model's input/output type; add --quantize int8 (or all)"),
        (["--micro"], "--micro runs the full-integer model in TFLite Micro; add --quantize int8 (or all)"),
        (["--quantize", "int4"], "argument --quantize: invalid choice"),
        (["--micro-samples", "0", "--quantize", "int8"], "takes a number of test images or 'all', not '0'"),
    ],
)
def test_mnist_convert_refuses_bad_arguments_in_one_line(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("main", "prog"),
    [
        (train_cli.main, "mnist-train"),
        (cli.main, "mnist-convert"),
        (show.main, "mnist-show"),
        (export_weights.main, "mnist-export-weights"),
        (bench.main, "mnist-bench"),
        (bench_micro.main, "python -m benchmarks.bench_micro"),
        (classify.main, "classify.py"),
    ],
)
def test_every_command_says_a_usage_error_in_one_line(main, prog, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["classify.py"])  # argparse names a parser without prog after the script
    try:
        code = main(["--no-such-flag"])
    except SystemExit as done:
        code = done.code
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.endswith(f" (see {prog} --help)\n") and err.count("\n") == 1


def test_help_shows_only_defaults_that_say_something(capsys):
    with pytest.raises(SystemExit):
        train_cli.parse_args(["--help"])
    text = capsys.readouterr().out
    words = " ".join(text.split())  # argparse wraps lines at the terminal's width
    assert "(default: cnn)" in words  # --model
    assert "[default: the model's recipe]" in words  # --epochs: per model (train/presets.py)
    assert "(default: None)" not in text and "(default: False)" not in text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"variants": ["int4"]}, "unknown variant int4"),
        ({"variants": []}, "unknown variant (none)"),
        ({"calibration_samples": 0}, "--calibration-samples must be at least 1, not 0"),
        ({"max_accuracy_drop": 0.1, "evaluate_models": False}, "--max-accuracy-drop needs the accuracy"),
        ({"max_accuracy_drop": -1.0}, "--max-accuracy-drop must be 0 or more points"),
    ],
)
def test_conversion_options_that_cannot_work_together(options, message):
    with pytest.raises(ConvertError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ConvertOptions(**options).check()


def test_sample_counts_and_thread_counts():
    assert micro.parse_samples("all") is None and micro.parse_samples(" 300 ") == 300
    assert parse_threads("1,1,2") == (1, 2)
    assert parse_threads("all")[0] >= 1
    for bad in ("0", "two", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_threads(bad)


def test_mnist_bench_settings(capsys):
    quick = bench_args(["--quick", "--threads", "1"]).settings
    assert quick.runs == QUICK["runs"] and quick.threads == (1,) and quick.keras_runs == 30
    assert bench_args(["--runs", "10"]).settings.warmup == 10
    for argv in (["--runs", "0"], ["--batch-size", "0"], ["--threads", "x"]):
        with pytest.raises(SystemExit) as done:
            bench_args(argv)
        assert done.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_export_weights_refuses_a_model_that_is_not_keras(tmp_path, capsys):
    assert export_weights.main(["--model", str(tmp_path / "model.h5")]) == 2
    assert export_weights.main(["--model", str(tmp_path / "model.keras")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "give the .keras model mnist-train wrote" in err[0] and "no such file" in err[1]


def test_this_layer_imports_no_tensorflow():
    modules = [
        "convert.cli",
        "convert.converter",
        "convert.micro",
        "convert.report",
        "convert.compat",
        "benchmarks.bench",
        "benchmarks.bench_micro",
        "benchmarks.onnx_peer",
        "train.export_weights",
        "train.show",
        "train.tables",
        "edge.files",
        "edge.model_info",
    ]
    heavy = "sorted(n for n in sys.modules if n.split('.')[0] in ('tensorflow', 'keras'))"
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint({heavy})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
