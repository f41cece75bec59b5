"""Writing files so that a reader sees the old version or the new one, never half of one.

Everything the toolkit writes (models, manifests, metrics, reports) goes through here, so a
Ctrl-C, a full disk or a killed process never leaves a user's earlier artifact half-written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write under a temporary name in the same folder, then rename over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if isinstance(data, str):
            tmp.write_text(data)
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def replace_folder(new: Path, target: Path) -> None:
    """Swap a finished folder (built beside ``target``) in for ``target``: old or new, never half."""
    old = target.with_name(f".old-{target.name}")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


_NUMBER_LIST = re.compile(r"\[\s*((?:-?[\d.eE+-]+|null)(?:,\s*(?:-?[\d.eE+-]+|null))*)\s*\]")


def write_json(path: Path, data: Any) -> None:
    """Indented JSON with lists of numbers kept on one line (a confusion matrix reads as a table)."""
    text = json.dumps(data, indent=2, default=str)
    text = _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    write_atomic(path, text + "\n")
