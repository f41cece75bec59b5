"""train/download.py against real HTTP servers on 127.0.0.1 serving copies of the real MNIST files.

Nothing here touches the internet: the mirrors are local ThreadingHTTPServers (or ports with nothing
listening), and the checksums are the SHA-256 sums of ../shared/mnist, which is what they serve.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge.mnist_data import DataError, load_split
from train import download
from train.data import load_training_data, resolve_data_dir
from train.download import FILES, fetch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "mnist"


def read_sums(path: Path) -> dict[str, str]:
    """A sha256sum-style file as fetch() wants its checksums."""
    sums = {}
    for line in path.read_text().splitlines():
        digest, name = line.split()
        sums[name.lstrip("*")] = f"sha256:{digest}"
    return sums


CHECKSUMS = read_sums(SHARED / "SHA256SUMS")


class Mirror:
    """A real HTTP server in a thread, serving one folder and recording each request path."""

    def __init__(self, folder: Path):
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                mirror.requests.append(self.path.rsplit("/", 1)[-1])
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=folder))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mnist/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def good_folder(tmp_path_factory) -> Path:
    """A mirror's document root: mnist/<the four real files>."""
    root = tmp_path_factory.mktemp("good_mirror")
    (root / "mnist").mkdir()
    for name in FILES:
        shutil.copy(SHARED / name, root / "mnist" / name)
    return root


@pytest.fixture
def serve():
    """Start mirrors on demand; stop them all at teardown."""
    started: list[Mirror] = []

    def start(folder: Path) -> Mirror:
        started.append(Mirror(folder))
        return started[-1]

    yield start
    for mirror in started:
        mirror.stop()


def corrupt_copy(good_folder: Path, target: Path, names: tuple[str, ...]) -> Path:
    """A mirror root like ``good_folder`` whose ``names`` hold wrong bytes (same length, some flipped)."""
    (target / "mnist").mkdir(parents=True)
    for name in FILES:
        data = bytearray((good_folder / "mnist" / name).read_bytes())
        if name in names:
            middle = len(data) // 2
            data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
        (target / "mnist" / name).write_bytes(bytes(data))
    return target


def dead_url() -> str:
    """A URL on a local port where nothing listens: connection refused, at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def assert_cache_holds_originals(cache: Path, names=FILES) -> None:
    """Exactly ``names`` are in the cache (no temporary leftovers), byte for byte the served files."""
    assert sorted(p.name for p in cache.iterdir()) == sorted(names)
    for name in names:
        assert (cache / name).read_bytes() == (SHARED / name).read_bytes(), name


def test_downloads_verifies_and_loads(serve, good_folder, tmp_path):
    mirror = serve(good_folder)
    cache = tmp_path / "cache"

    assert fetch("mnist", cache, mirrors=[mirror.url], checksums=CHECKSUMS, progress=False) == cache

    assert sorted(mirror.requests) == sorted(FILES)
    assert_cache_holds_originals(cache)
    train, test = load_split(cache, "train"), load_split(cache, "test")
    assert train.images.shape == (60000, 28, 28) and train.labels.shape == (60000,)
    want = load_split(SHARED, "test")
    np.testing.assert_array_equal(test.images, want.images)
    np.testing.assert_array_equal(test.labels, want.labels)


def test_dead_first_mirror_falls_back_to_second(serve, good_folder, tmp_path):
    mirror = serve(good_folder)
    cache = tmp_path / "cache"

    fetch("mnist", cache, mirrors=[dead_url(), mirror.url], checksums=CHECKSUMS, progress=False)

    assert sorted(mirror.requests) == sorted(FILES)
    assert_cache_holds_originals(cache)


def test_http_error_falls_back(serve, good_folder, tmp_path):
    (tmp_path / "empty_root").mkdir()
    empty = serve(tmp_path / "empty_root")  # every file: 404
    mirror = serve(good_folder)

    fetch("mnist", tmp_path / "cache", mirrors=[empty.url, mirror.url], checksums=CHECKSUMS, progress=False)

    assert empty.requests[0] == FILES[0]
    assert sorted(mirror.requests) == sorted(FILES)
    assert_cache_holds_originals(tmp_path / "cache")


def test_hanging_mirror_times_out_and_is_not_retried(serve, good_folder, tmp_path):
    """A mirror that accepts connections but never answers costs one timeout, not one per file."""
    mirror = serve(good_folder)
    with socket.socket() as hanging:
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(8)
        hanging_url = f"http://127.0.0.1:{hanging.getsockname()[1]}/mnist/"
        start = time.monotonic()

        fetch(
            "mnist",
            tmp_path / "cache",
            mirrors=[hanging_url, mirror.url],
            checksums=CHECKSUMS,
            progress=False,
            timeout=0.5,
        )

        elapsed = time.monotonic() - start
        hanging.setblocking(False)
        connections = 0
        while True:
            try:
                hanging.accept()[0].close()
                connections += 1
            except BlockingIOError:
                break
    assert connections == 1
    assert 0.5 <= elapsed < 5
    assert sorted(mirror.requests) == sorted(FILES)
    assert_cache_holds_originals(tmp_path / "cache")


class DroppingHandler(http.server.BaseHTTPRequestHandler):
    """Promises the whole file, sends half of it, then hangs up: a connection dropped mid-download."""

    def do_GET(self):
        data = (SHARED / self.path.rsplit("/", 1)[-1]).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_dropped_connection_falls_back_and_leaves_no_partial_file(serve, good_folder, tmp_path, capsys):
    dropping = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DroppingHandler)
    threading.Thread(target=dropping.serve_forever, args=(0.05,), daemon=True).start()
    try:
        good = serve(good_folder)
        dropping_url = f"http://127.0.0.1:{dropping.server_address[1]}/mnist/"
        fetch("mnist", tmp_path / "cache", mirrors=[dropping_url, good.url], checksums=CHECKSUMS, progress=True)
    finally:
        dropping.shutdown()
        dropping.server_close()
    assert sorted(good.requests) == sorted(FILES)
    assert_cache_holds_originals(tmp_path / "cache")
    size = (SHARED / FILES[0]).stat().st_size
    assert f"{FILES[0]}: connection dropped after {size // 2} of {size} bytes; trying the next mirror" in (
        capsys.readouterr().err
    )


def test_unusable_cache_folder(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError) as error:
        fetch("mnist", blocker / "cache", mirrors=[dead_url()], checksums=CHECKSUMS, progress=False)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{blocker / 'cache'}: cannot create the download folder (")
    assert message.endswith("set MNIST_CACHE_DIR to a writable folder or pass --data-dir")


def test_corrupt_file_is_rejected_and_next_mirror_used(serve, good_folder, tmp_path):
    bad = serve(corrupt_copy(good_folder, tmp_path / "bad_root", ("train-images-idx3-ubyte.gz",)))
    good = serve(good_folder)
    cache = tmp_path / "cache"

    fetch("mnist", cache, mirrors=[bad.url, good.url], checksums=CHECKSUMS, progress=False)

    assert bad.requests[0] == "train-images-idx3-ubyte.gz"
    assert good.requests[0] == "train-images-idx3-ubyte.gz"
    assert_cache_holds_originals(cache)


def test_every_mirror_bad_gives_one_line_error_and_nothing_half_written(serve, good_folder, tmp_path):
    names = ("t10k-labels-idx1-ubyte.gz",)  # the last file: the three before it are fine
    first = serve(corrupt_copy(good_folder, tmp_path / "bad1", names))
    second = serve(corrupt_copy(good_folder, tmp_path / "bad2", names))
    cache = tmp_path / "cache"

    with pytest.raises(DataError) as error:
        fetch("mnist", cache, mirrors=[first.url, second.url], checksums=CHECKSUMS, progress=False)

    message = str(error.value)
    assert "\n" not in message
    assert "could not download t10k-labels-idx1-ubyte.gz from any mirror" in message
    assert "checksum mismatch" in message
    assert str(cache) in message and "--data-dir" in message
    assert "no network?" not in message  # the mirrors answered; the network is fine
    assert first.requests.count("t10k-labels-idx1-ubyte.gz") == 1
    assert second.requests.count("t10k-labels-idx1-ubyte.gz") == 1
    assert_cache_holds_originals(cache, FILES[:3])


def test_no_network_gives_one_line_error(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as error:
        fetch("mnist", cache, mirrors=[dead_url(), dead_url(), dead_url()], checksums=CHECKSUMS, progress=False)

    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("could not download train-images-idx3-ubyte.gz from any mirror, no network? (")
    assert message.count("connection refused") == 3
    assert f"into {cache}, or pass --data-dir" in message
    assert list(cache.iterdir()) == []


def test_cached_files_are_not_fetched_again(serve, good_folder, tmp_path):
    mirror = serve(good_folder)
    cache = tmp_path / "cache"
    fetch("mnist", cache, mirrors=[mirror.url], checksums=CHECKSUMS, progress=False)
    mirror.requests.clear()

    fetch("mnist", cache, mirrors=[mirror.url], checksums=CHECKSUMS, progress=False)
    assert mirror.requests == []

    # A cached file that no longer matches its checksum is replaced, and only that one.
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not the labels")
    fetch("mnist", cache, mirrors=[mirror.url], checksums=CHECKSUMS, progress=False)
    assert mirror.requests == ["t10k-labels-idx1-ubyte.gz"]
    assert_cache_holds_originals(cache)


def test_only_the_splits_asked_for(serve, good_folder, tmp_path):
    """mnist-show on the test set downloads the two test files, not the training set."""
    mirror = serve(good_folder)
    cache = tmp_path / "cache"
    fetch("mnist", cache, mirrors=[mirror.url], checksums=CHECKSUMS, progress=False, splits=("test",))
    assert sorted(mirror.requests) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert_cache_holds_originals(cache, FILES[2:])


def test_progress_goes_to_stderr(serve, good_folder, tmp_path, capsys):
    mirror = serve(good_folder)
    fetch("mnist", tmp_path / "cache", mirrors=[dead_url(), mirror.url], checksums=CHECKSUMS, progress=True)

    out, err = capsys.readouterr()
    assert out == ""
    assert f"Downloading 4 MNIST file(s) into {tmp_path / 'cache'}" in err
    assert "connection refused; trying the next mirror" in err
    assert "train-images-idx3-ubyte.gz" in err and "MB" in err  # tqdm's byte counter


def test_default_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("MNIST_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert download.default_cache_dir("mnist") == tmp_path / "home" / ".cache" / "mnist-edge" / "mnist"

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert download.default_cache_dir("fashion") == tmp_path / "xdg" / "mnist-edge" / "fashion"

    # One root for both datasets: their files have the same names, so each gets its own folder.
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "mine"))
    assert download.default_cache_dir("mnist") == tmp_path / "mine" / "mnist"
    assert download.default_cache_dir("fashion") == tmp_path / "mine" / "fashion"


def test_fetch_defaults_to_the_user_cache(serve, good_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "root"))
    mirror = serve(good_folder)
    assert fetch("mnist", mirrors=[mirror.url], checksums=CHECKSUMS, progress=False) == tmp_path / "root" / "mnist"
    assert_cache_holds_originals(tmp_path / "root" / "mnist")


def test_checksum_formats(serve, good_folder, tmp_path):
    """MD5 works as well as SHA-256 (the published sums are MD5), and bad specs are refused up front."""
    import hashlib

    md5 = {name: "md5:" + hashlib.md5((SHARED / name).read_bytes()).hexdigest() for name in FILES}
    mirror = serve(good_folder)
    fetch("mnist", tmp_path / "cache", mirrors=[mirror.url], checksums=md5, progress=False)
    assert_cache_holds_originals(tmp_path / "cache")

    with pytest.raises(ValueError, match="md5:<hex>"):
        fetch("mnist", tmp_path / "other", mirrors=[mirror.url], checksums=dict.fromkeys(FILES, "crc:12"))
    partial = {name: value for name, value in CHECKSUMS.items() if name != "t10k-labels-idx1-ubyte.gz"}
    with pytest.raises(ValueError, match=r"no checksum given for t10k-labels-idx1-ubyte\.gz"):
        fetch("mnist", tmp_path / "other", mirrors=[mirror.url], checksums=partial)
    assert not (tmp_path / "other").exists()


def test_published_checksums_and_mirrors_are_complete():
    for dataset in ("mnist", "fashion"):
        assert set(download.CHECKSUMS[dataset]) == set(FILES)
        assert all(value.startswith("md5:") and len(value) == 36 for value in download.CHECKSUMS[dataset].values())
        assert all(url.endswith("/") for url in download.MIRRORS[dataset])
    with pytest.raises(ValueError, match="unknown dataset"):
        fetch("kmnist")


# --- the download as the last source of train/data.py ---


@pytest.fixture
def local_mirror(serve, good_folder, monkeypatch) -> Mirror:
    """The default MNIST mirrors replaced by one local server, with the sums of what it serves."""
    mirror = serve(good_folder)
    monkeypatch.setitem(download.MIRRORS, "mnist", (mirror.url,))
    monkeypatch.setitem(download.CHECKSUMS, "mnist", CHECKSUMS)
    return mirror


def test_resolve_downloads_last_into_the_user_cache(home, local_mirror):
    cache = home / ".cache" / "mnist-edge" / "mnist"
    assert resolve_data_dir("mnist", progress=False) == cache
    assert sorted(local_mirror.requests) == sorted(FILES)
    assert_cache_holds_originals(cache)

    local_mirror.requests.clear()
    train, test, names, *_ = load_training_data("mnist", progress=False)  # from the cache now: no request
    assert local_mirror.requests == []
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert names == list("0123456789")


def test_resolve_completes_a_partial_cache(home, local_mirror):
    """A cache missing a file is not a source by itself; the download fetches only what is missing."""
    cache = home / ".cache" / "mnist-edge" / "mnist"
    cache.mkdir(parents=True)
    for name in FILES[:3]:
        shutil.copy(SHARED / name, cache / name)
    assert resolve_data_dir("mnist", progress=False) == cache
    assert local_mirror.requests == ["t10k-labels-idx1-ubyte.gz"]
    assert_cache_holds_originals(cache)


def test_resolve_offline_says_what_to_do(home, monkeypatch):
    monkeypatch.setitem(download.MIRRORS, "mnist", (dead_url(), dead_url()))
    with pytest.raises(DataError) as error:
        load_training_data("mnist", progress=False)
    message = str(error.value)
    assert "\n" not in message and "no network?" in message
    assert f"into {home / '.cache' / 'mnist-edge' / 'mnist'}, or pass --data-dir" in message
