"""The one table formatter: aligned text for a terminal, or Markdown for a results file.

Used by every table the toolkit prints or writes: mnist-convert's variants, the TFLite Micro
report, mnist-export-weights' layers and mnist-bench's results.md. Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence


def format_table(rows: Sequence[Sequence[str]], align: str = "", *, markdown: bool = False, rule: bool = True) -> str:
    """``rows[0]`` is the header; ``align`` has one letter a column, ``l`` or ``r`` (columns past it: ``l``).

    Text: cells padded to the column's width and two spaces apart, the header left-aligned with a
    rule of dashes under it (``rule=False``: none), no trailing spaces. Markdown: a GitHub table
    whose second line carries the alignment.
    """
    if not rows:
        return ""
    columns = len(rows[0])
    sides = [align[i] if i < len(align) else "l" for i in range(columns)]
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join(":--" if s == "l" else "--:" for s in sides) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows[1:]])
    widths = [max(len(row[i]) for row in rows) for i in range(columns)]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if n and s == "r" else c.ljust(w) for c, w, s in zip(row, widths, sides, strict=True)]
        lines.append("  ".join(cells).rstrip())
        if n == 0 and rule:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
