"""Writing files so that a reader sees the old version or the new one, never half of one.

Everything the toolkit writes (models, manifests, metrics, reports, plots, C arrays) goes through
here, so a Ctrl-C, a full disk or a killed process never leaves a user's earlier file
half-written: the new content goes to a temporary name in the same folder, then one rename puts
it in place. Standard library only: the edge runner may use it on the device.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


def _temporary_name(path: Path) -> Path:
    # The real suffix last: writers that pick a format from the name (matplotlib, exporters) still see it.
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` when the block ends without error.

    For writers that want a file name (``fig.savefig(tmp)``, an exporter): on an error the
    temporary file is removed and ``path`` keeps its earlier content.
    """
    path = Path(path)
    tmp = _temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` (text or bytes) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data)
        else:
            tmp.write_bytes(data)


def write_all_atomic(texts: Mapping[Path, str], encoding: str = "utf-8") -> None:
    """Write several text files that belong together: all are complete before any is renamed into place."""
    temps = {Path(path): _temporary_name(Path(path)) for path in texts}
    try:
        for path, text in texts.items():
            temps[Path(path)].write_text(text, encoding=encoding)
        for path, tmp in temps.items():
            os.replace(tmp, path)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


_NUMBER_LIST = re.compile(r"\[\s*((?:-?[\d.eE+-]+|null)(?:,\s*(?:-?[\d.eE+-]+|null))*)\s*\]")


def json_text(data: Any) -> str:
    """Indented JSON with lists of numbers kept on one line (a confusion matrix reads as a table)."""
    text = json.dumps(data, indent=2, default=str)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


def write_json(path: str | Path, data: Any) -> None:
    """``data`` as :func:`json_text`, written atomically."""
    write_atomic(path, json_text(data))


def replace_folder(new: Path, target: Path) -> None:
    """Swap a finished folder (built beside ``target``) in for ``target``: old or new, never half."""
    old = target.with_name(f".old-{target.name}")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def cannot_write(folder: str | Path) -> str | None:
    """Create ``folder`` if needed and try a file there: None when it can be written, else why not (a few words).

    Asked before any long work, so that a bad ``--out`` fails in a second, not after the work.
    """
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-", suffix=".tmp"):
            pass
    except OSError as e:
        return str(e.strerror or e)
    return None
