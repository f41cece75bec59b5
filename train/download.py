"""Download the four MNIST (or Fashion-MNIST) IDX files from public mirrors into a per-user cache.

Mirrors come and go (yann.lecun.com has refused downloads for long stretches), so each file is
tried on every mirror in turn and accepted only when its checksum matches what the maintainers
published. A file is streamed into a temporary name next to its final one and moved into place
only once verified, so an interrupted or corrupt download never leaves a half-written file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from tqdm import tqdm

from edge.mnist_data import IDX_FILES, DataError

# The served .gz names; the same for both datasets on every mirror.
FILES = tuple(base + ".gz" for split in ("train", "test") for base in IDX_FILES[split])

# Base URLs, tried in this order. The three MNIST mirrors serve the original files (torchvision
# checks lecun/ossci against the MD5s below; TFDS lists the same sizes for cvdf); Keras' copy of
# Fashion-MNIST has the same file names and sizes as Zalando's (TFDS url_checksums/fashion_mnist.txt).
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion": (
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
}

# MD5 of each served .gz file, as torchvision.datasets.MNIST / FashionMNIST list them.
CHECKSUMS: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "md5:d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "md5:9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "md5:ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion": {
        "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
    },
}

TITLES = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}
CACHE_ENV = "MNIST_CACHE_DIR"
TIMEOUT_S = 30.0
_CHUNK = 1 << 16
# Some mirrors refuse urllib's default "Python-urllib/3.x" agent.
_HEADERS = {"User-Agent": "mnist-edge (+https://pypi.org/project/mnist-edge/)"}


class _MirrorFailed(Exception):
    """One mirror could not deliver one good file; the message is a short reason."""

    def __init__(self, reason: str, unreachable: bool = False):
        super().__init__(reason)
        self.unreachable = unreachable  # no answer at all, as when offline


def default_cache_dir(dataset: str) -> Path:
    """The per-user cache folder of one dataset: $MNIST_CACHE_DIR/<dataset>, else the XDG cache."""
    _check_dataset(dataset)
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser() / dataset
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mnist-edge" / dataset


def fetch(
    dataset: str,
    cache_dir: Path | None = None,
    mirrors: list[str] | None = None,
    checksums: dict[str, str] | None = None,
    progress: bool = True,
    timeout: float = TIMEOUT_S,
) -> Path:
    """Make sure the four verified .gz files are in ``cache_dir`` and return that folder.

    Files already there with the right checksum are kept as they are; the others are
    downloaded. ``checksums`` maps file name to "md5:<hex>" or "sha256:<hex>".
    """
    _check_dataset(dataset)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir(dataset)
    mirrors = list(mirrors if mirrors is not None else MIRRORS[dataset])
    checksums = dict(checksums if checksums is not None else CHECKSUMS[dataset])
    missing = [name for name in FILES if name not in checksums]
    if missing:
        raise ValueError(f"no checksum given for {', '.join(missing)}")
    if not mirrors:
        raise ValueError("no mirrors given")
    for name in FILES:
        _parse(checksums[name])  # a malformed checksum is a programming error: fail before any work
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"{folder}: cannot create the download folder ({e.strerror}); "
            f"set {CACHE_ENV} to a writable folder or pass --data-dir"
        ) from None

    todo = [name for name in FILES if not _verified(folder / name, checksums[name])]
    if todo and progress:
        print(f"Downloading {len(todo)} {TITLES[dataset]} file(s) into {folder}", file=sys.stderr)
    for name in todo:
        used = _download(name, mirrors, checksums[name], folder, progress, timeout)
        # The mirror that worked goes first for the remaining files: no waiting on a dead one again.
        mirrors.remove(used)
        mirrors.insert(0, used)
    return folder


def _download(name: str, mirrors: list[str], checksum: str, folder: Path, progress: bool, timeout: float) -> str:
    """Fetch ``name`` from the first mirror that delivers it intact; return that mirror."""
    reasons, offline = [], True
    for i, mirror in enumerate(mirrors):
        url = mirror.rstrip("/") + "/" + name
        try:
            _download_from(url, folder / name, checksum, progress, timeout)
            return mirror
        except _MirrorFailed as e:
            reasons.append(f"{urlsplit(url).netloc or url}: {e}")
            offline = offline and e.unreachable
            if progress:
                print(f"{url}: {e}" + ("; trying the next mirror" if i + 1 < len(mirrors) else ""), file=sys.stderr)
    raise DataError(
        f"could not download {name} from any mirror{', no network?' if offline else ''} ({'; '.join(reasons)}); "
        f"download the four files by hand (e.g. from {mirrors[0]}) into {folder}, or pass --data-dir"
    )


def _download_from(url: str, target: Path, checksum: str, progress: bool, timeout: float) -> None:
    """Stream ``url`` into a temporary file beside ``target``, verify it, then move it into place."""
    algorithm, expected = _parse(checksum)
    hasher = hashlib.new(algorithm)
    tmp = None
    try:
        try:
            handle, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
            tmp = Path(tmp_name)
            with os.fdopen(handle, "wb") as out:
                _stream(url, out, hasher, target.name, progress, timeout)
            if hasher.hexdigest() != expected:
                raise _MirrorFailed(
                    f"checksum mismatch ({algorithm} {hasher.hexdigest()[:12]}..., expected {expected[:12]}...)"
                )
            os.replace(tmp, target)
        except OSError as e:  # _stream turns network errors into _MirrorFailed: this is our own disk failing
            raise DataError(
                f"{target.parent}: cannot write {target.name} ({e.strerror or e}); "
                f"free some space or set {CACHE_ENV} to a writable folder, or pass --data-dir"
            ) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)  # after os.replace the name is gone and this does nothing


def _stream(url: str, out: BinaryIO, hasher, name: str, progress: bool, timeout: float) -> None:
    """Copy ``url`` into ``out`` and ``hasher``; any failure on the network side is the mirror's."""
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=_HEADERS), timeout=timeout)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        raise _MirrorFailed(*_reason(e)) from None
    total = int(response.headers.get("Content-Length") or 0) or None
    bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, disable=not progress)
    received = 0
    with response, bar:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (http.client.HTTPException, OSError) as e:
                raise _MirrorFailed(*_reason(e)) from None
            if not chunk:
                break
            hasher.update(chunk)
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if total is not None and received < total:
        raise _MirrorFailed(f"connection dropped after {received} of {total} bytes")


def _reason(error: BaseException) -> tuple[str, bool]:
    """A few words on why a mirror failed, for a one-line message, and whether it was unreachable."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}".strip(), False
    inner = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(inner, TimeoutError) or "timed out" in str(inner):
        return "timed out", True
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused", True
    if isinstance(inner, socket.gaierror):
        return "host not found", True
    unreachable = isinstance(inner, OSError) and not isinstance(inner, http.client.HTTPException)
    text = getattr(inner, "strerror", None) or str(inner) or type(inner).__name__
    return " ".join(str(text).split()), unreachable


def _parse(checksum: str) -> tuple[str, str]:
    """("md5"|"sha256", lowercase hex) from "md5:<hex>", "sha256:<hex>" or bare hex (told apart by length)."""
    algorithm, _, value = checksum.strip().rpartition(":")
    value = value.lower()
    if not algorithm:
        algorithm = {32: "md5", 64: "sha256"}.get(len(value), "")
    if algorithm not in ("md5", "sha256") or not re.fullmatch(r"[0-9a-f]+", value):
        raise ValueError(f"checksum must look like 'md5:<hex>' or 'sha256:<hex>', not {checksum!r}")
    if len(value) != hashlib.new(algorithm).digest_size * 2:
        raise ValueError(f"{checksum!r}: wrong length for {algorithm}")
    return algorithm, value


def _verified(path: Path, checksum: str) -> bool:
    """Whether ``path`` exists and matches ``checksum`` (what makes a cached file good to keep)."""
    algorithm, expected = _parse(checksum)
    hasher = hashlib.new(algorithm)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                hasher.update(chunk)
    except OSError:
        return False
    return hasher.hexdigest() == expected


def _check_dataset(dataset: str) -> None:
    if dataset not in MIRRORS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(MIRRORS)}")
