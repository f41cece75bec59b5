"""mnist-sweep on a CI budget: two tiny candidates on a few thousand real MNIST images, real int8 files,
LiteRT and TFLite Micro; the time budget, --resume, and outputs that hold together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from benchmarks.sweep import Candidate, candidates, main, pareto_front, parse_bytes, parse_duration

ROOT = Path(__file__).resolve().parents[1]
# Two of tiny's shapes (half and all its widths, 2 layers after the pooling), 2 epochs on 3,000 images:
# 44 steps, where tiny's averaged head is well past chance (after 22 the half-width one was at 0.28-0.35).
SWEEP = ["--family", "tiny", "--widths", "0.5,1", "--depths", "2", "--epochs", "2", "--limit", "3000"]


def sweep(*args: str, env_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MNIST_DATA_DIR": str(env_dir)}
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.sweep", *SWEEP, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.fixture(scope="module")
def swept(tmp_path_factory, mnist_dir) -> tuple[Path, subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """A sweep stopped by its time budget after the first candidate, then continued with --resume."""
    out = tmp_path_factory.mktemp("sweep") / "out"
    budget = ["--max-flash", "16KiB", "--max-arena", "16KiB", "--out", str(out)]
    first = sweep(*budget, "--time", "1s", env_dir=mnist_dir)
    assert first.returncode == 0, first.stderr
    resumed = sweep(*budget, "--time", "30m", "--resume", env_dir=mnist_dir)
    assert resumed.returncode == 0, resumed.stderr
    return out, first, resumed


def test_time_budget_stops_and_resume_continues(swept):
    out, first, resumed = swept
    assert "time budget" in first.stdout and "[1/2] tiny:4-6-8-8" in first.stdout
    assert "tiny:8-12-16-16" not in first.stdout.split("time budget")[0]
    assert "[2/2] tiny:8-12-16-16" in resumed.stdout and "[1/2]" not in resumed.stdout  # the first is not redone
    record = json.loads((out / "sweep.json").read_text())
    assert [r["model"] for r in record["rows"]] == ["tiny:4-6-8-8", "tiny:8-12-16-16"]
    assert record["skipped"] == []


def test_rows_are_measured_and_hold_together(swept, mnist_dir):
    out, _, _ = swept
    record = json.loads((out / "sweep.json").read_text())
    small, large = record["rows"]
    for row in record["rows"]:
        int8 = Path(row["folder"]) / "mnist_int8.tflite"
        assert int8.is_file() and row["flash_bytes"] == int8.stat().st_size
        assert 0.3 < row["val_accuracy"] <= 1 and 0.3 < row["micro_val_accuracy"] <= 1  # 2 epochs on 2,750 images
        assert abs(row["val_accuracy"] - row["micro_val_accuracy"]) < 0.02  # TFLM runs the same int8 file
        assert 0 < row["latency_us"] < 100_000 and 0 < row["arena_bytes"] < 16 * 1024
        assert row["operators"] == ["CONV_2D", "MAX_POOL_2D", "MEAN", "SOFTMAX"]
        metrics = json.loads((Path(row["folder"]) / "metrics.json").read_text())
        assert metrics["macs_per_image"] == row["macs_per_image"] > 0
        assert metrics["model"] == row["model"] and metrics["epochs"] == 2 and metrics["train_images"] == 2750
    assert small["macs_per_image"] < large["macs_per_image"] and small["flash_bytes"] < large["flash_bytes"]
    assert small["parameters"] < large["parameters"]
    # The budget: 16 KiB of flash. The front: within it, and no row within it beats a front row everywhere.
    assert record["budget"]["flash_bytes"] == 16 * 1024
    for row in record["rows"]:
        assert row["within_budget"] == (row["flash_bytes"] <= 16 * 1024 and row["arena_bytes"] <= 16 * 1024)
    inside = [r for r in record["rows"] if r["within_budget"]]
    assert record["front"] and set(record["front"]) <= {r["model"] for r in inside}
    assert record["front"] == pareto_front(inside)


def test_report_and_plot(swept):
    out, _, resumed = swept
    text = (out / "sweep.md").read_text()
    assert "| tiny:4-6-8-8 " in text and "| tiny:8-12-16-16 " in text and "Budget: flash 16 KiB, arena 16 KiB" in text
    assert "mnist-convert --model" in text
    assert "Front:" in resumed.stdout and "tiny:4-6-8-8" in resumed.stdout
    with Image.open(out / "sweep.png") as im:
        assert im.format == "PNG" and im.width > 800


def test_a_candidate_converts_with_one_more_command(swept, mnist_dir, tmp_path):
    from convert.cli import main as convert

    out, _, _ = swept
    folder = out / "tiny_4-6-8-8"
    assert convert(["--model", str(folder / "saved_model"), "--quantize", "float16", "--out", str(tmp_path),
                    "--data-dir", str(mnist_dir)]) == 0  # fmt: skip
    assert (tmp_path / "mnist_float16.tflite").is_file()


def test_earlier_sweep_is_kept_and_resume_needs_the_same_settings(swept, mnist_dir, capsys):
    out, _, _ = swept
    before = (out / "sweep.json").read_text()
    data = ["--data-dir", str(mnist_dir), "--out", str(out)]
    assert main([*SWEEP, *data]) == 2
    assert "holds an earlier sweep; --resume continues it" in capsys.readouterr().err
    assert main([*SWEEP[:-2], "--limit", "4000", *data, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --resume: the sweep in") and err.count("\n") == 1
    assert (out / "sweep.json").read_text() == before


def test_candidates_cheapest_first_and_include_the_presets_shape():
    plan = candidates(("tiny", "cnn"), (0.5, 1.0), (1, 2))
    names = [c.model for c in plan]
    assert "tiny:8-12-16-16" in names and "cnn:16-48-64" in names and "tiny:4-6-8" in names
    assert len(names) == len(set(names))
    assert Candidate("tiny", (8, 12, 16, 16, 16, 16)).preset == "tiny" and Candidate("tiny", (8, 12, 16)).preset is None
    from train.macs import multiply_accumulates
    from train.models import build_model

    work = [multiply_accumulates(build_model(n)) for n in names]
    assert work == sorted(work)


def test_budget_arguments():
    assert parse_bytes("32KiB") == 32768 and parse_bytes("20k") == 20480 and parse_bytes("50000") == 50000
    assert parse_duration("20m") == 1200 and parse_duration("90s") == 90 and parse_duration("1h") == 3600


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max-flash", "lots"], "'lots' is not a size"),
        (["--time", "soon"], "'soon' is not a duration"),
        (["--family", "resnet"], "unknown family resnet"),
        (["--widths", "0,1"], "give positive numbers"),
        (["--depths", "9"], "tiny's shape takes 1 to 5"),
    ],
)
def test_bad_arguments_are_one_line(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--out", str(tmp_path)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
