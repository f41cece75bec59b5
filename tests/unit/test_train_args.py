"""mnist-train's arguments and settings, fast: no TensorFlow, no trained model, no data read.

Also the helpers the command line tools share: TensorFlow's quiet import (its native output
captured, replayed on failure, a crash still reported) and the one line naming a GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from train.cli import main, parse_args
from train.presets import RECIPES, parse_model, recipe_of
from train.tf_quiet import describe_gpus
from train.trainer import TrainConfig, TrainError

ROOT = Path(__file__).resolve().parents[2]


def test_every_default_comes_from_train_config():
    assert vars(parse_args([])) == asdict(TrainConfig())


def test_each_flag_sets_its_field(tmp_path):
    args = parse_args(
        ["--model", "lenet", "--epochs", "3", "--batch-size", "64", "--lr", "0.01", "--augment", "--dataset", "fashion",
         "--data-dir", "d", "--mix-mnist", "--skip-bad-images", "--out", "o", "--resume", "--seed", "7", "--limit",
         "500", "--init-from", "m.keras", "--verbose"]
    )  # fmt: skip
    config = TrainConfig(**vars(args))
    assert (config.model, config.epochs, config.batch_size, config.lr) == ("lenet", 3, 64, 0.01)
    assert config.augment == "shapes"
    assert (config.dataset, config.data_dir, config.out, config.seed, config.limit) == ("fashion", "d", "o", 7, 500)
    assert config.mix_mnist and config.skip_bad_images and config.resume and config.verbose
    assert config.init_from == "m.keras"
    with pytest.raises(SystemExit):
        parse_args(["--augment", "colours"])


def test_augment_takes_every_kind_the_augmenter_has():
    from train.augment import AUGMENTATIONS

    assert AUGMENTATIONS == ("shapes", "photo")
    for kind in AUGMENTATIONS:
        assert parse_args(["--augment", kind]).augment == kind
        TrainConfig(augment=kind).validate()
    assert parse_args(["--augment"]).augment == "shapes" and parse_args([]).augment is None  # None: the recipe's
    assert parse_args(["--augment", "none"]).augment == "none"
    TrainConfig(augment="none").validate()


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"model": "resnet"}, "unknown model 'resnet'; choose one of: mlp, lenet, cnn, best, tiny, or a shape"),
        ({"model": "tiny:8-8"}, "model 'tiny:8-8': tiny takes 3 to 7 widths from 1 to 512 joined by '-'"),
        ({"model": "cnn:8-x-8"}, "model 'cnn:8-x-8': cnn takes 3 widths"),
        ({"epochs": 0}, "--epochs must be at least 1, got 0"),
        ({"batch_size": 0}, "--batch-size must be at least 1, got 0"),
        ({"lr": -1.0}, "--lr must be positive, got -1.0"),
        ({"limit": 5}, "--limit must be at least 20 images, got 5"),
        ({"augment": "noise"}, "unknown --augment 'noise'"),
        ({"init_from": "/nonexistent/model.keras"}, "--init-from /nonexistent/model.keras: no such model file"),
    ],
)
def test_bad_settings(settings, message):
    with pytest.raises(TrainError, match="^" + message.replace("(", r"\(").replace(".", r"\.")):
        TrainConfig(**settings).validate()


def test_every_model_has_a_recipe_and_shapes_take_their_familys():
    assert set(RECIPES) == {"mlp", "lenet", "cnn", "best", "tiny"}
    assert all(r.epochs >= 1 and r.lr > 0 and r.batch_size >= 1 for r in RECIPES.values())
    TrainConfig(model="whatever", init_from=__file__).validate()  # a model to fine-tune brings its own architecture
    assert parse_model("tiny:8-12-12-16") == ("tiny", (8, 12, 12, 16)) and parse_model("cnn") == ("cnn", ())
    TrainConfig(model="cnn:16-32-48").validate()
    assert recipe_of("tiny:8-12-12-16") == RECIPES["tiny"] and recipe_of("cnn:8-16-16") == RECIPES["cnn"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "error: --epochs must be at least 1, got 0\n"),
        (["--data-dir", "{tmp}/missing"], "error: {tmp}/missing (from --data-dir): no such folder; "),
        (["--mix-mnist"], "error: --mix-mnist adds MNIST to your own images; "),
        (["--resume"], "error: --resume: no interrupted training in {tmp}/out to continue; "),
    ],
)
def test_command_line_errors_are_one_line_and_come_before_tensorflow(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(message.replace("{tmp}", str(tmp_path))) and err.count("\n") == 1


def test_bad_arguments_fail_before_tensorflow_loads(tmp_path):
    """In a fresh process: an earlier test in the same run may have imported TensorFlow."""
    result = run_python(
        "import sys\n"
        "from train.cli import main\n"
        f"assert main(['--data-dir', {str(tmp_path / 'missing')!r}, '--out', {str(tmp_path / 'out')!r}]) == 2\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"


def test_gpu_line():
    assert describe_gpus([]) is None  # on the CPU: nothing said
    assert describe_gpus(["NVIDIA H100 80GB HBM3"]) == "Training on the GPU: NVIDIA H100 80GB HBM3"
    assert describe_gpus(["A", "B"]).startswith("Training on GPU 0 of 2: A")


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_native_output_is_dropped_on_success_and_replayed_on_failure():
    result = run_python(
        "import os\n"
        "from edge.native_output import native_output_captured\n"
        "with native_output_captured() as chatter:\n"
        "    os.write(2, b'chatter\\n')\n"
        "print(repr(chatter.text))\n"
        "try:\n"
        "    with native_output_captured():\n"
        "        os.write(2, b'why it failed\\n')\n"
        "        raise RuntimeError('boom')\n"
        "except RuntimeError:\n"
        "    pass\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "'chatter\\n'\n"
    assert result.stderr == "why it failed\n"


def test_a_native_abort_while_silenced_still_says_so():
    result = run_python(
        "import os\nfrom train.tf_quiet import native_stderr_silenced\nwith native_stderr_silenced():\n    os.abort()\n"
    )
    assert result.returncode != 0
    assert "Fatal Python error: Aborted" in result.stderr


def test_quiet_tensorflow_leaves_devices_and_performance_switches_alone(monkeypatch):
    from train.tf_quiet import quiet_tensorflow

    for variable in ("CUDA_VISIBLE_DEVICES", "TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY"):
        monkeypatch.delenv(variable, raising=False)  # and restored after the test
    monkeypatch.delenv("ABSL_MIN_LOG_LEVEL", raising=False)
    quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"

    assert "CUDA_VISIBLE_DEVICES" not in os.environ and "TF_ENABLE_ONEDNN_OPTS" not in os.environ
