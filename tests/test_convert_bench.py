"""benchmarks/bench_convert.py on the small model: it runs, checks its targets and writes its results."""

from __future__ import annotations

import json

from benchmarks import bench_convert


def test_bench_convert_reports_int8_size_and_accuracy_against_float(small_model, mnist_dir, tmp_path, capsys):
    code = bench_convert.main(["--artifacts", str(small_model), "--data-dir", str(mnist_dir),
                               "--results", str(tmp_path)])
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "convert.json").read_text())
    targets = summary["targets"]
    assert code == (0 if targets["size_ok"] and targets["accuracy_ok"] else 1)
    models = {m["variant"]: m for m in summary["models"]}
    assert summary["int8_size_ratio"] == models["int8"]["bytes"] / models["float32"]["bytes"]
    assert targets["size_ok"] == (summary["int8_size_ratio"] <= 0.30) and targets["size_ok"]
    assert f"{100 * summary['int8_size_ratio']:.1f} % of float32" in out
    assert "int8 accuracy:" in out and (tmp_path / "convert.png").stat().st_size > 10_000
    assert not list(small_model.glob("*.tflite")), "the benchmark must not write into the artifacts"
