"""--threads auto (edge/threads.py): measured once per model and device, cached beside the model or,
where that cannot be written, in the user's cache folder; --threads N as before."""

from __future__ import annotations

import json
import shutil

import pytest

from edge.classify import main
from edge.cpu import usable_cores
from edge.runtime import Classifier
from edge.threads import CACHE_SUFFIX, auto_threads, fewest_fast_threads, thread_counts


@pytest.fixture
def model(tmp_path, int8_model, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    copy = tmp_path / "models" / "digits.tflite"
    copy.parent.mkdir()
    shutil.copy(int8_model, copy)
    return copy


def test_auto_measures_once_and_caches_beside_the_model(model):
    threads = auto_threads(model, "ai_edge_litert")
    cache = model.with_name(model.name + CACHE_SUFFIX)
    record = json.loads(cache.read_text())
    assert record["threads"] == threads and 1 <= threads <= usable_cores()
    medians = {int(t): us for t, us in record["median_us_by_threads"].items()}
    assert list(medians) == thread_counts() and threads == fewest_fast_threads(medians)
    record["threads"] = 99  # what the cache says is used, without measuring again
    cache.write_text(json.dumps(record))
    if usable_cores() > 1:
        assert Classifier(model, threads="auto").threads == 99
    model.write_bytes(model.read_bytes() + b"\0" * 16)  # another file: measured again
    assert auto_threads(model, "ai_edge_litert") != 99


def test_a_folder_that_cannot_take_the_cache_falls_back_to_the_user_cache(model, tmp_path):
    model.with_name(model.name + CACHE_SUFFIX).mkdir()  # in the way even for root, unlike a read-only folder
    threads = auto_threads(model, "ai_edge_litert")
    if usable_cores() == 1:
        return  # one core: nothing to measure or cache
    cached = list((tmp_path / "cache" / "mnist-edge" / "threads").glob("digits-*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["threads"] == threads


def test_thread_counts():
    assert thread_counts(1) == [1]
    assert thread_counts(4) == [1, 2, 3, 4]
    assert thread_counts(12) == [1, 2, 3, 4, 5, 6, 7, 8, 12]
    assert thread_counts(64) == [1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 64]
    assert fewest_fast_threads({1: 50.0, 2: 48.0, 4: 30.0}) == 4
    assert fewest_fast_threads({1: 50.0, 2: 48.0, 4: 49.0}) == 1


def test_classify_defaults_to_auto_and_takes_a_number(model, capsys, mnist_dir):
    assert main(["-m", str(model), "--eval-mnist", str(mnist_dir), "--json"]) == 0
    auto = json.loads(capsys.readouterr().out)
    if usable_cores() > 1:
        assert auto["threads"] == json.loads(model.with_name(model.name + CACHE_SUFFIX).read_text())["threads"]
    assert main(["-m", str(model), "--eval-mnist", str(mnist_dir), "--json", "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["threads"] == 1
    for bad in ("0", "many"):
        with pytest.raises(SystemExit) as exit_:
            main(["-m", str(model), "--threads", bad, "x.png"])
        assert exit_.value.code == 2
        assert len(capsys.readouterr().err.splitlines()) == 1
