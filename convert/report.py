"""What mnist-convert prints: one row per file with its cost (size) and its price (accuracy), then advice."""

from __future__ import annotations

from typing import Any

from convert.converter import Conversion
from train.tables import format_table


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"


def _runtimes(entry: dict[str, Any]) -> str:
    results = entry.get("runtimes", {})
    refused = [name for name, r in results.items() if not r.get("loads")]
    if refused:
        return "NOT " + ", ".join(name.split(" (")[0] for name in refused)  # the Python's path is in the notes
    return "all checked" if results else "-"


def _io(entry: dict[str, Any]) -> str:
    kinds = entry["input"]["dtype"], entry["output"]["dtype"]
    return kinds[0] if kinds[0] == kinds[1] else "/".join(kinds)


def table(conversion: Conversion) -> str:
    """The results as an aligned text table (one line per file this run wrote)."""
    evaluated = any(m.get("accuracy") is not None for m in conversion.models)
    head = ["variant", "file", "size", "vs float32", "in/out"]
    if evaluated:
        head += ["accuracy", "change"]
    head += ["min runtime", "loads in", "status"]
    rows = [head]
    for m in conversion.models:
        row = [
            m["variant"],
            m["file"],
            _kib(m["bytes"]),
            f"{100 * m['ratio_to_float32']:.1f} %",
            _io(m),
        ]
        if evaluated:
            change = m.get("accuracy_change_points")
            row += [
                f"{100 * m['accuracy']:.2f} %",
                "(reference)" if m["variant"] == "float32" else f"{change:+.2f} pt",
            ]
        row += [m.get("min_runtime_version") or "?", _runtimes(m), m["status"].upper() if m["status"] != "ok" else "ok"]
        rows.append(row)
    lines = [format_table(rows, "llrrlrr" if evaluated else "llrr")]
    if not any(m["variant"] == "float32" for m in conversion.models):
        ref = conversion.manifest["reference"]
        accuracy = f", {100 * ref['accuracy']:.2f} %" if ref.get("accuracy") is not None else ""
        lines.append(f"compared with float32: {_kib(ref['bytes'])}{accuracy} (made for reference, not kept)")
    return "\n".join(lines)


def _version_tuple(text: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in (text or "").split(".")[:3])
    except ValueError:
        return ()


def advice(conversion: Conversion) -> list[str]:
    """One line per file a checked runtime refused: why, and what to deploy or install instead."""
    lines = []
    for m in conversion.models:
        for name, result in m.get("runtimes", {}).items():
            if result.get("loads"):
                continue
            others = [v["variant"] for v in conversion.models if v.get("runtimes", {}).get(name, {}).get("loads")]
            instead = f", or deploy {' / '.join(others)} there" if others else ""
            needed = m.get("min_runtime_version")
            if needed and _version_tuple(result.get("version")) < _version_tuple(needed):
                lines.append(
                    f"{m['file']} needs a TFLite runtime >= {needed} (operator versions); {name} cannot load it. "
                    f"On such a device: pip install -U ai-edge-litert{instead}."
                )
            else:
                lines.append(f"{name} cannot load {m['file']}: {result.get('error', 'unknown error')}")
    return lines


def runtimes_checked(conversion: Conversion) -> str:
    names = list(dict.fromkeys(name for m in conversion.models for name in m.get("runtimes", {})))
    line = f"runtimes checked: {', '.join(names) or 'none'}"
    if not any(name.startswith("tflite_runtime") for name in names):
        line += " (the device's runtime too: --check-python its/python)"
    return line
