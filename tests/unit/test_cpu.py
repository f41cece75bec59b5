"""edge/cpu.py names a CPU by the SIMD features that decide int8 against float32: read from
/proc/cpuinfo as each kind of machine writes it (excerpts of real files), and from this machine's own."""

from __future__ import annotations

from pathlib import Path

from benchmarks.machine import describe, one_line
from edge.cpu import cpu_model, simd_features, simd_summary

PI4_64BIT = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3

Revision\t: c03114
Serial\t\t: 10000000abcdef01
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""
PI5 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU part\t: 0xd0b

Model\t\t: Raspberry Pi 5 Model B Rev 1.0
"""
PI3_32BIT = """processor\t: 0
model name\t: ARMv7 Processor rev 4 (v7l)
Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32
CPU implementer\t: 0x41
CPU part\t: 0xd03

Hardware\t: BCM2835
Model\t\t: Raspberry Pi 3 Model B Plus Rev 1.3
"""
EPYC_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr cmov sse sse2 ssse3 fma cx16 sse4_1 avx f16c avx2
"""
XEON_AVX512 = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse sse2 ssse3 fma avx avx2 avx512f avx512dq avx512bw avx_vnni avx512_vnni avx512_bf16 amx_int8
"""


def test_raspberry_pis():
    assert cpu_model(PI4_64BIT) == "Raspberry Pi 4 Model B Rev 1.4 (Cortex-A72)"
    assert simd_features(PI4_64BIT) == ["NEON"]
    assert simd_summary(simd_features(PI4_64BIT)) == "NEON, no dot product"
    assert cpu_model(PI5) == "Raspberry Pi 5 Model B Rev 1.0 (Cortex-A76)"
    assert simd_features(PI5) == ["NEON", "FP16 arithmetic", "dot product"]
    assert cpu_model(PI3_32BIT) == "ARMv7 Processor rev 4 (v7l) (Cortex-A53)"
    assert simd_features(PI3_32BIT) == ["NEON"]


def test_x86():
    assert cpu_model(EPYC_AVX2) == "AMD EPYC 7B12"
    assert simd_features(EPYC_AVX2) == ["AVX2", "FMA"]
    assert simd_summary(simd_features(EPYC_AVX2)) == "AVX2, no AVX-512, no VNNI"
    features = simd_features(XEON_AVX512)
    assert features == ["AVX2", "FMA", "AVX-512F", "AVX-512 VNNI", "AVX-VNNI", "AVX-512 BF16", "AMX-INT8"]
    assert simd_summary(features) == "AVX2, AVX-512F, AVX-512 VNNI, AVX-VNNI, AMX-INT8"
    assert simd_features("") == [] and simd_summary([]) == "SIMD features unknown"


def test_this_machine_and_its_benchmark_description():
    machine = describe()
    assert machine["cpu"] and machine["cores"] >= 1
    if Path("/proc/cpuinfo").is_file():
        assert machine["simd"] == simd_features()
        assert machine["simd"], "Linux on x86 or ARM names its SIMD features"
    line = one_line(machine)
    assert line.startswith(f"{machine['cpu']} ({simd_summary(machine['simd'])}), {machine['cores']} core")
    old = {k: v for k, v in machine.items() if k != "simd"}  # results.json from before SIMD was recorded
    assert one_line(old).startswith(f"{machine['cpu']}, {machine['cores']} core")
