"""What mnist-convert prints: one row per file with its cost (size) and its price (accuracy), then advice."""

from __future__ import annotations

from typing import Any

from convert.converter import VARIANTS, Conversion


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"


def _runtimes(entry: dict[str, Any]) -> str:
    results = entry.get("runtimes", {})
    refused = [name for name, r in results.items() if not r.get("loads")]
    if refused:
        return "NOT " + ", ".join(name.split(" (")[0] for name in refused)  # the Python's path is in the notes
    return "all checked" if results else "-"


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
            m["input"]["dtype"] if m["input"]["dtype"] == m["output"]["dtype"] else f"{m['input']['dtype']}/{m['output']['dtype']}",
        ]
        if evaluated:
            change = m.get("accuracy_change_points")
            row += [
                f"{100 * m['accuracy']:.2f} %",
                "(reference)" if m["variant"] == "float32" else f"{change:+.2f} pt",
            ]
        row += [m.get("min_runtime_version") or "?", _runtimes(m), m["status"].upper() if m["status"] != "ok" else "ok"]
        rows.append(row)
    if not any(m["variant"] == "float32" for m in conversion.models):
        ref = conversion.manifest["reference"]
        note = f"float32 (not written: {_kib(ref['bytes'])}"
        note += f", {100 * ref['accuracy']:.2f} %)" if ref.get("accuracy") is not None else ")"
        rows.append(["", note] + [""] * (len(head) - 2))
    right = {2, 3, 5, 6} if evaluated else {2, 3}
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if i in right and n else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def advice(conversion: Conversion) -> list[str]:
    """One line per thing a user should act on: runtimes that refuse a file, and what to do instead."""
    lines = []
    loadable = {m["variant"] for m in conversion.models}
    for m in conversion.models:
        refused = [name for name, r in m.get("runtimes", {}).items() if not r.get("loads")]
        if not refused:
            continue
        others = [
            v["variant"]
            for v in conversion.models
            if v["variant"] in loadable and all(v.get("runtimes", {}).get(name, {}).get("loads") for name in refused)
        ]
        fallback = f"deploy one of {', '.join(others)} there instead" if others else "convert with an older TensorFlow"
        lines.append(
            f"{m['file']} needs a TFLite runtime >= {m.get('min_runtime_version') or '?'}; "
            f"{', '.join(refused)} cannot load it. On such a device: pip install -U ai-edge-litert, or {fallback}."
        )
    return lines


def describe_variants() -> str:
    return "\n".join(f"  {name:<14} {v.summary}" for name, v in VARIANTS.items())
