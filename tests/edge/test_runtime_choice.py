"""--runtime: every command of the edge runner offers the interpreters edge/runtime.py knows, by the same names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.runtime import RUNTIMES, RuntimeProblem, interpreter_class

EDGE = Path(__file__).resolve().parents[2] / "edge"
COMMANDS = ["classify.py", "serve.py", "camera.py", "bench.py"]


def _run(command: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EDGE / command), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_offers_the_runtimes_the_runner_tries(command):
    """A wrong name: one line listing exactly the runtimes edge/runtime.py tries, in its order."""
    result = _run(command, "--runtime", "litert")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: argument --runtime: invalid choice: ") and "litert" in line
    choices = line.split("choose from", 1)[1]
    assert [choices.index(name) for name in RUNTIMES] == sorted(choices.index(name) for name in RUNTIMES)
    assert choices.replace("'", "").count(",") == len(RUNTIMES) - 1  # these and no others
    assert "{" + ",".join(RUNTIMES) + "}" in _run(command, "--help").stdout


def test_arm_nn_by_name_is_one_line_whatever_is_installed(tflite_models):
    """--runtime pyarmnn with an int8 file: refused in one line, whether pyarmnn is installed here or not."""
    result = _run("classify.py", "--model", str(tflite_models["int8"]), "--runtime", "pyarmnn", str(EDGE))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "pyarmnn" in line
    with pytest.raises(RuntimeProblem, match="unknown runtime 'litert'; choose one of " + ", ".join(RUNTIMES)):
        interpreter_class("litert")
