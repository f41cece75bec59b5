"""What the figures were measured on: they mean little without the CPU, the cores and the versions."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

PACKAGES = {
    "numpy": "numpy",
    "tensorflow": "tensorflow",
    "keras": "keras",
    "ai_edge_litert": "ai-edge-litert",
    "onnxruntime": "onnxruntime",
    "tf2onnx": "tf2onnx",
    "onnx": "onnx",
}


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo (x86 "model name", a Raspberry Pi's "Model"), else what platform knows."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on (a container or taskset may allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def describe() -> dict[str, Any]:
    versions = {}
    for key, distribution in PACKAGES.items():
        try:
            versions[key] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            versions[key] = None
    memory = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "logical_cpus": os.cpu_count(),
        "memory_bytes": memory,
        "os": f"{platform.system()} {platform.release()}",
        "architecture": platform.machine(),
        "python": platform.python_version(),
        "versions": versions,
    }


def one_line(machine: dict[str, Any]) -> str:
    """E.g. 'AMD EPYC, 2 cores, 24 GiB, Linux 6.1 x86_64'."""
    parts = [machine["cpu"], f"{machine['cores']} core{'s' if machine['cores'] != 1 else ''}"]
    if machine.get("memory_bytes"):
        parts.append(f"{machine['memory_bytes'] / 2**30:.0f} GiB")
    parts.append(f"{machine['os']} {machine['architecture']}")
    return ", ".join(parts)
