"""A .tflite file as C source: the way TensorFlow Lite for Microcontrollers embeds a model in firmware.

A microcontroller has no file system: the model is compiled into flash as a byte array and TFLM
reads the flatbuffer in place. What ``xxd -i`` gives, plus what firmware needs from it:
``const`` (the array stays in flash instead of being copied to RAM at boot), 16-byte alignment
(TFLM reads tensor data straight out of the buffer), and a header with ``extern "C"`` so the
C++ of TFLM links against it.

    mnist_int8.tflite -> mnist_int8.c: const unsigned char mnist_int8_tflite[] = {0x1c, ...};
                                       const unsigned int mnist_int8_tflite_len = 212656;
                         mnist_int8.h: the two extern declarations
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from edge.files import write_all_atomic

BYTES_PER_LINE = 12  # as xxd -i


def c_identifier(path: str | Path) -> str:
    """The array's name, as ``xxd -i`` derives it from the file name: mnist_int8.tflite -> mnist_int8_tflite."""
    name = re.sub(r"[^0-9A-Za-z_]", "_", Path(path).name)
    return f"model_{name}" if name[:1].isdigit() or not name else name


def _comment(lines: Sequence[str]) -> str:
    body = "\n".join(f" * {line}".rstrip() for line in lines)
    return f"/*\n{body}\n */\n"


def source_texts(data: bytes, file_name: str, notes: Sequence[str] = ()) -> tuple[str, str]:
    """The (.c, .h) texts for the model bytes ``data`` read from ``file_name``."""
    name = c_identifier(file_name)
    stem = Path(file_name).stem
    guard = re.sub(r"[^0-9A-Za-z]", "_", stem).upper() + "_H_"
    align = f"{name.upper()}_ALIGN"
    about = [
        f"{file_name} as a C array for TensorFlow Lite for Microcontrollers (written by mnist-convert --micro).",
        f"{len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}.",
        *(["", *notes] if notes else []),
    ]
    header = (
        _comment([f"{stem}.h: {about[0]}", *about[1:]])
        + f"#ifndef {guard}\n#define {guard}\n\n"
        + '#ifdef __cplusplus\nextern "C" {\n#endif\n\n'
        + f"/* The model: pass it to tflite::GetModel({name}). */\n"
        + f"extern const unsigned char {name}[];\n"
        + f"extern const unsigned int {name}_len;\n\n"
        + '#ifdef __cplusplus\n}  /* extern "C" */\n#endif\n\n'
        + f"#endif  /* {guard} */\n"
    )
    rows = [
        "  " + ", ".join(f"0x{b:02x}" for b in data[i : i + BYTES_PER_LINE])
        for i in range(0, len(data), BYTES_PER_LINE)
    ]
    source = (
        _comment([f"{stem}.c: {about[0]}", *about[1:2]])
        + f'#include "{stem}.h"\n\n'
        + "/* 16-byte aligned: TFLM reads the tensors' data in place, out of this array. */\n"
        + "#if defined(__cplusplus)\n"
        + f"#define {align} alignas(16)\n"
        + "#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L\n"
        + f"#define {align} _Alignas(16)\n"
        + "#else\n"
        + f"#define {align} __attribute__((aligned(16)))\n"
        + "#endif\n\n"
        + f"{align} const unsigned char {name}[] = {{\n"
        + ",\n".join(rows)
        + "\n};\n"
        + f"const unsigned int {name}_len = {len(data)};\n"
    )
    return source, header


def write_c_array(tflite_path: str | Path, out_dir: str | Path, notes: Sequence[str] = ()) -> tuple[Path, Path]:
    """Write ``<stem>.c`` and ``<stem>.h`` for ``tflite_path`` into ``out_dir``; returns their paths.

    ``notes`` are lines for the header's opening comment (arena size, operators to register).
    Both files are written under temporary names first and renamed together: an interrupted
    run leaves the earlier pair, never half a file.
    """
    tflite_path, out_dir = Path(tflite_path), Path(out_dir)
    source, header = source_texts(tflite_path.read_bytes(), tflite_path.name, notes)
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = {out_dir / f"{tflite_path.stem}.c": source, out_dir / f"{tflite_path.stem}.h": header}
    write_all_atomic(targets, encoding="ascii")
    c_path, h_path = targets
    return c_path, h_path
