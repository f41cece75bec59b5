"""Download the four MNIST (or Fashion-MNIST) IDX files from public mirrors into a per-user cache.

``pooch`` does the download itself: it streams each file into a temporary name beside its final
one, checks the checksum the maintainers published, and only then moves it into place, so an
interrupted or corrupt download never leaves a half-written file; a cached file that matches is
not fetched again. What pooch lacks is kept here: mirrors come and go (yann.lecun.com has
refused downloads for long stretches), so each file is tried on every mirror in turn, the mirror
that worked is tried first for the next file, and every failure ends in one line that says what
to do.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pooch
import requests
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
# Some mirrors refuse the default "python-requests/x.y" or "Python-urllib/3.x" agents.
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
    splits: tuple[str, ...] = ("train", "test"),
) -> Path:
    """Make sure the verified .gz files of ``splits`` are in ``cache_dir`` and return that folder.

    Files already there with the right checksum are kept as they are; the others are
    downloaded. ``checksums`` maps file name to "md5:<hex>" or "sha256:<hex>".
    """
    _check_dataset(dataset)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir(dataset)
    mirrors = list(mirrors if mirrors is not None else MIRRORS[dataset])
    checksums = dict(checksums if checksums is not None else CHECKSUMS[dataset])
    names = [base + ".gz" for split in splits for base in IDX_FILES[split]]
    missing = [name for name in names if name not in checksums]
    if missing:
        raise ValueError(f"no checksum given for {', '.join(missing)}")
    if not mirrors:
        raise ValueError("no mirrors given")
    known = {name: _parse(checksums[name]) for name in names}  # a malformed checksum fails before any work
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"{folder}: cannot create the download folder ({e.strerror}); "
            f"set {CACHE_ENV} to a writable folder or pass --data-dir"
        ) from None

    todo = [name for name in names if not _verified(folder / name, known[name])]
    if todo and progress:
        print(f"Downloading {len(todo)} {TITLES[dataset]} file(s) into {folder}", file=sys.stderr)
    pooch.get_logger().setLevel("WARNING")  # its "Downloading data from ..." line: we say it once, above
    for name in todo:
        used = _download(name, mirrors, known[name], folder, progress, timeout)
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
    """``pooch.retrieve`` from one mirror, its failures turned into a short reason (or our own disk's DataError)."""
    bar = _Bar(target.name) if progress else False
    downloader = pooch.HTTPDownloader(progressbar=bar, chunk_size=_CHUNK, timeout=timeout, headers=_HEADERS)
    try:
        pooch.retrieve(url, checksum, fname=target.name, path=target.parent, downloader=downloader)
    except requests.RequestException as e:  # before OSError: requests' errors are OSErrors too
        raise _MirrorFailed(*_reason(e)) from None
    except ValueError as e:  # pooch: the downloaded file's hash is not the known one
        found = re.search(r"expected (\w+) but got (\w+)", str(e))
        algorithm = checksum.partition(":")[0]
        detail = f" ({algorithm} {found[2][:12]}..., expected {found[1][:12]}...)" if found else ""
        raise _MirrorFailed(f"checksum mismatch{detail}") from None
    except OSError as e:  # our own disk failing
        raise DataError(
            f"{target.parent}: cannot write {target.name} ({e.strerror or e}); "
            f"free some space or set {CACHE_ENV} to a writable folder, or pass --data-dir"
        ) from None
    finally:
        if bar:
            bar.close()


class _Bar:
    """The progress bar pooch drives, drawn once a mirror answers (a dead mirror draws none), named after the file."""

    def __init__(self, name: str):
        self.name, self.bar = name, None

    @property
    def total(self) -> int | None:
        return self.bar.total if self.bar is not None else None

    @total.setter
    def total(self, value: int) -> None:  # pooch sets it from Content-Length once the response is there
        self.bar = tqdm(total=value or None, unit="B", unit_scale=True, unit_divisor=1024, desc=self.name)

    def update(self, n: int) -> None:
        self.bar.update(n)

    def reset(self) -> None:
        self.bar.reset()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _reason(error: requests.RequestException) -> tuple[str, bool]:
    """A few words on why a mirror failed, for a one-line message, and whether it was unreachable."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"HTTP {error.response.status_code} {error.response.reason or ''}".strip(), False
    if isinstance(error, requests.Timeout):
        return "timed out", True
    text = str(error)
    if isinstance(error, requests.exceptions.ChunkedEncodingError) or "IncompleteRead" in text:
        read = re.search(r"IncompleteRead\((\d+) bytes read, (\d+) more expected", text)
        if read:
            got, more = int(read[1]), int(read[2])
            return f"connection dropped after {got} of {got + more} bytes", False
        return "connection dropped before the end of the file", False
    if "Connection refused" in text:
        return "connection refused", True
    if "NameResolution" in text or "Name or service not known" in text or "getaddrinfo" in text:
        return "host not found", True
    if isinstance(error, requests.ConnectionError):
        return "cannot connect", True
    return " ".join(text.split())[:120] or type(error).__name__, False


def _parse(checksum: str) -> str:
    """ "md5:<hex>" or "sha256:<hex>" (pooch's form) from those or bare hex (told apart by length)."""
    algorithm, _, value = checksum.strip().rpartition(":")
    value = value.lower()
    if not algorithm:
        algorithm = {32: "md5", 64: "sha256"}.get(len(value), "")
    if algorithm not in ("md5", "sha256") or not re.fullmatch(r"[0-9a-f]+", value):
        raise ValueError(f"checksum must look like 'md5:<hex>' or 'sha256:<hex>', not {checksum!r}")
    if len(value) != {"md5": 32, "sha256": 64}[algorithm]:
        raise ValueError(f"{checksum!r}: wrong length for {algorithm}")
    return f"{algorithm}:{value}"


def _verified(path: Path, checksum: str) -> bool:
    """Whether ``path`` exists and matches ``checksum`` (what makes a cached file good to keep)."""
    algorithm, _, expected = checksum.partition(":")
    return path.is_file() and pooch.file_hash(str(path), alg=algorithm) == expected


def _check_dataset(dataset: str) -> None:
    if dataset not in MIRRORS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(MIRRORS)}")
