"""Which CPU a figure was measured on, named by what decides it: the SIMD instructions the kernels use.

"AMD EPYC, 2 cores" is not enough: XNNPACK's int8 kernels are fast with AVX-512 VNNI or AVX-VNNI
(x86) or the dot-product extension (ARM: Pi 5's Cortex-A76 has it, Pi 4's Cortex-A72 has not),
and slower than float32 without them. Read from /proc/cpuinfo (Linux, every Raspberry Pi OS);
elsewhere the list is empty and the CPU is named by what :mod:`platform` knows. Standard library
only: edge/bench.py reports it on the device, benchmarks/machine.py on the workstation.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")

# /proc/cpuinfo flag -> the name people know it by, in the order they are shown.
X86_FEATURES = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512F",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "amx_int8": "AMX-INT8",
}
ARM_FEATURES = {
    "asimd": "NEON",  # aarch64 names NEON "asimd"
    "neon": "NEON",  # 32-bit ARM
    "asimdhp": "FP16 arithmetic",
    "asimddp": "dot product",  # SDOT/UDOT: what int8 kernels want (Cortex-A55/A76 and later)
    "i8mm": "I8MM",
}
# "CPU part" of ARM cores (the implementer 0x41) found in Raspberry Pis and similar boards.
ARM_CORES = {
    "0xb76": "ARM1176",
    "0xc07": "Cortex-A7",
    "0xc08": "Cortex-A8",
    "0xc09": "Cortex-A9",
    "0xd03": "Cortex-A53",
    "0xd04": "Cortex-A35",
    "0xd05": "Cortex-A55",
    "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72",
    "0xd09": "Cortex-A73",
    "0xd0a": "Cortex-A75",
    "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1",
    "0xd0d": "Cortex-A77",
    "0xd41": "Cortex-A78",
}


def cpuinfo(path: Path = CPUINFO) -> str:
    """The text of /proc/cpuinfo, or "" where there is none (macOS, Windows)."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _values(text: str, key: str) -> list[str]:
    found = []
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key and value.strip():
            found.append(value.strip())
    return found


def simd_features(text: str | None = None) -> list[str]:
    """The SIMD features of the first core that decide int8 against float speed, e.g. ["AVX2", "FMA"]
    or ["NEON", "dot product"]; empty when /proc/cpuinfo says nothing."""
    text = cpuinfo() if text is None else text
    flags = set((_values(text, "flags") or _values(text, "Features") or [""])[0].split())
    table = X86_FEATURES if "avx" in flags or "sse2" in flags else ARM_FEATURES
    return list(dict.fromkeys(name for flag, name in table.items() if flag in flags))


def simd_summary(features: list[str]) -> str:
    """One phrase for a machine description; says what is missing where it decides the answer."""
    if not features:
        return "SIMD features unknown"
    shown = [f for f in features if f not in ("FMA", "AVX-512 BF16")]
    if "AVX2" in features and "AVX-512F" not in features:
        shown.append("no AVX-512")
    if "AVX2" in features and not {"AVX-512 VNNI", "AVX-VNNI"} & set(features):
        shown.append("no VNNI")
    if "NEON" in features and "dot product" not in features:
        shown.append("no dot product")
    return ", ".join(shown)


def cpu_model(text: str | None = None) -> str:
    """The CPU's name: x86 "model name"; on a Raspberry Pi its "Model" with the core, e.g.
    "Raspberry Pi 4 Model B Rev 1.4 (Cortex-A72)"; else what platform knows."""
    text = cpuinfo() if text is None else text
    core = next((ARM_CORES[p.lower()] for p in _values(text, "CPU part") if p.lower() in ARM_CORES), None)
    for key in ("model name", "Model", "Hardware", "cpu model"):
        values = _values(text, key)
        if values:
            name = values[0]
            return f"{name} ({core})" if core and core not in name else name
    return core or platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on (a container or taskset may allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def describe() -> dict[str, object]:
    """The CPU as a benchmark's JSON records it."""
    text = cpuinfo()
    features = simd_features(text)
    return {
        "cpu": cpu_model(text),
        "simd": features,
        "simd_summary": simd_summary(features),
        "cores": usable_cores(),
        "logical_cpus": os.cpu_count(),
        "architecture": platform.machine(),
    }
