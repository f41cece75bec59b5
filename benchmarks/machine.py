"""What the figures were measured on: little without the CPU, its SIMD features, the cores and the versions."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
from typing import Any

from edge.cpu import cpu_model, simd_features, simd_summary, usable_cores

__all__ = ["PACKAGES", "cpu_model", "describe", "one_line", "usable_cores"]

PACKAGES = {
    "numpy": "numpy",
    "tensorflow": "tensorflow",
    "keras": "keras",
    "ai_edge_litert": "ai-edge-litert",
    "onnxruntime": "onnxruntime",
    "tf2onnx": "tf2onnx",
    "onnx": "onnx",
}


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
        "simd": simd_features(),
        "cores": usable_cores(),
        "logical_cpus": os.cpu_count(),
        "memory_bytes": memory,
        "os": f"{platform.system()} {platform.release()}",
        "architecture": platform.machine(),
        "python": platform.python_version(),
        "versions": versions,
    }


def one_line(machine: dict[str, Any]) -> str:
    """E.g. 'AMD EPYC (AVX2, no AVX-512, no VNNI), 2 cores, 24 GiB, Linux 6.1 x86_64'.

    The SIMD features decide whether int8 beats float32 (edge/cpu.py); results.json files written
    before they were recorded just leave them out.
    """
    cpu = f"{machine['cpu']} ({simd_summary(machine['simd'])})" if "simd" in machine else machine["cpu"]
    parts = [cpu, f"{machine['cores']} core{'s' if machine['cores'] != 1 else ''}"]
    if machine.get("memory_bytes"):
        parts.append(f"{machine['memory_bytes'] / 2**30:.0f} GiB")
    parts.append(f"{machine['os']} {machine['architecture']}")
    return ", ".join(parts)
