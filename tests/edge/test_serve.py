"""edge/serve.py as a user and a script meet it: a real server on 127.0.0.1, started by its command
line, answering real images with the real interpreter; bad requests of every kind; Ctrl-C.

One server for the module (started once, checked alive at the end); the tests that stop a
server start their own.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "edge" / "serve.py"
MAX_UPLOAD_MB = 1.0  # small, so that "too large" is quick to send


class Server:
    """A serve.py process and what it printed on start."""

    def __init__(self, process: subprocess.Popen, url: str, banner: list[str]):
        self.process, self.url, self.banner = process, url, banner
        match = re.match(r"https?://([^/:]+):(\d+)/", url)
        assert match, url
        self.host, self.port = match.group(1), int(match.group(2))

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def json(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        status, head, data = self.request(method, path, body, headers)
        assert head["Content-Type"] == "application/json", (status, data[:200])
        assert data.endswith(b"\n") and data.count(b"\n") == 1, data[:300]  # one line
        return status, json.loads(data)

    def stop(self) -> tuple[int, str, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        out, err = self.process.stdout.read(), self.process.stderr.read()  # the lines after the first, too
        return self.process.wait(20), out, err


def start_server(model: Path, *args: str, cwd: Path = ROOT, script: Path = SERVE) -> Server:
    """serve.py --model MODEL --port 0 ARGS, once it prints where it listens."""
    process = subprocess.Popen(
        [sys.executable, str(script), "--model", str(model), "--port", "0", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = process.stdout.readline()
    if not first:
        raise AssertionError(f"serve.py did not start: {process.communicate(timeout=20)[1]}")
    banner = [first]
    match = re.search(r"(https?://\S+/)", first)
    assert match, first
    return Server(process, match.group(1), banner)


@pytest.fixture(scope="module")
def server(int8_model) -> Iterator[Server]:
    running = start_server(int8_model, "--max-upload-mb", str(MAX_UPLOAD_MB))
    yield running
    # The server survived everything the tests sent it, then stops cleanly on Ctrl-C.
    status, answer = running.json("GET", "/api/model")
    assert status == 200 and answer["file"] == int8_model.name
    code, _, err = running.stop()
    assert code == 0, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "stopped", err


def png_bytes(image: np.ndarray | Image.Image, fmt: str = "PNG", **save: object) -> bytes:
    buffer = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buffer, fmt, **save)
    return buffer.getvalue()


def multipart(field: str, filename: str, data: bytes, content_type: str = "image/png") -> tuple[bytes, str]:
    boundary = "----mnist-edge-test-7d1f"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def decoded_input(record: dict) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert record["input_png"].startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(record["input_png"][len(prefix) :]))))


# -- answers ---------------------------------------------------------------------------------------------


def test_the_api_answers_what_classify_json_prints(server, int8_model, sample, tmp_path):
    """POST /api/classify gives, for each image, the object `classify.py --json --top-k 3` prints for it."""
    images, _ = sample
    files = []
    for i in range(6):
        files.append(tmp_path / f"digit{i}.png")
        files[-1].write_bytes(png_bytes(images[i]))
    result = subprocess.run(
        [sys.executable, str(ROOT / "edge" / "classify.py"), "--model", str(int8_model), "--json", "--top-k", "3"]
        + [str(f) for f in files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    expected = [json.loads(line) for line in result.stdout.splitlines()]
    for path, want in zip(files, expected, strict=True):
        status, answer = server.json("POST", f"/api/classify?name={path.name}", path.read_bytes())
        assert status == 200, answer
        extras = {k: answer.pop(k) for k in ("input_png", "time_ms", "model_ms")}
        assert answer == {**want, "file": path.name}
        assert extras["time_ms"] >= extras["model_ms"] > 0


def test_a_phone_photo_as_a_form_field_is_read_and_shows_its_28x28_input(server, sample, render_photo):
    images, labels = sample
    rng = np.random.default_rng(5)
    right = 0
    for i in range(8):
        photo = png_bytes(render_photo(images[i], rng), "JPEG", quality=90)
        body, content_type = multipart("image", f"IMG_{i}.jpg", photo, "image/jpeg")
        status, answer = server.json("POST", "/api/classify", body, {"Content-Type": content_type})
        assert status == 200, answer
        assert answer["file"] == f"IMG_{i}.jpg" and len(answer["top_k"]) == 3
        right += answer["digit"] == labels[i]
        seen = decoded_input(answer)
        assert seen.shape == (28, 28) and seen.dtype == np.uint8 and seen.max() > 200
    assert right >= 7, f"{right}/8 photos read right"


def test_the_input_shown_is_the_one_classify_would_give(server, sample, render_photo, tmp_path):
    from edge.classify import prepare_one

    images, _ = sample
    photo = tmp_path / "photo.jpg"
    render_photo(images[3], np.random.default_rng(9)).save(photo, "JPEG", quality=92)
    status, answer = server.json("POST", "/api/classify", photo.read_bytes(), {"Content-Type": "image/jpeg"})
    assert status == 200, answer
    assert np.array_equal(decoded_input(answer), prepare_one(str(photo)))


def test_a_chunked_upload_is_read(server, sample):
    data = png_bytes(sample[0][1])
    chunks = [data[i : i + 100] for i in range(0, len(data), 100)]
    body = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks) + b"0\r\n\r\n"
    status, answer = server.json("POST", "/api/classify?top_k=1", body, {"Transfer-Encoding": "chunked"})
    assert status == 200, answer
    assert answer["digit"] == int(sample[1][1]) and len(answer["top_k"]) == 1


def test_the_model_is_described(server, int8_model):
    status, answer = server.json("GET", "/api/model")
    assert status == 200
    manifest = json.loads((int8_model.parent / "manifest.json").read_text())
    assert answer["file"] == int8_model.name
    assert answer["variant"] == next(m["variant"] for m in manifest["models"] if m["file"] == int8_model.name)
    assert answer["input_type"] == "int8"
    assert answer["classes"] == [str(d) for d in range(10)]
    assert answer["max_upload_bytes"] == int(MAX_UPLOAD_MB * 1e6)
    assert answer["runtime"] and answer["threads"] >= 1


def test_concurrent_requests_all_get_their_own_answer(server, sample):
    """The one interpreter, used from many request threads at once, gives each image its own answer."""
    images, _ = sample
    bodies = [png_bytes(images[i]) for i in range(24)]
    expected = [server.json("POST", "/api/classify", b)[1]["top_k"] for b in bodies]
    got: dict[int, list] = {}

    def client(indices: list[int]) -> None:
        for i in indices:
            got[i] = server.json("POST", "/api/classify", bodies[i])[1]["top_k"]

    threads = [threading.Thread(target=client, args=(list(range(k, 24, 8)),)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [got[i] for i in range(24)] == expected


def test_keep_alive_serves_several_requests_on_one_connection(server, sample):
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        for i in range(3):
            connection.request("POST", "/api/classify", body=png_bytes(sample[0][i]))
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["digit"] == sample[1][i]
        connection.request("POST", "/api/classify", body=b"not an image")  # an error keeps it open too
        response = connection.getresponse()
        assert response.status == 415 and response.getheader("Connection") != "close"
        response.read()
        connection.request("GET", "/api/model")
        assert connection.getresponse().status == 200
    finally:
        connection.close()


# -- numbers: POST /api/number ---------------------------------------------------------------------------

NUMBER_SEED = 4321  # the digits tests/edge/test_edge_number.py writes as numbers


@pytest.fixture(scope="module")
def number_digits(mnist_test) -> list[np.ndarray]:
    """Three real MNIST test digits to write as a number (the first number of test_edge_number.py)."""
    from benchmarks import photo_set

    index = np.random.default_rng(NUMBER_SEED).choice(len(mnist_test.images), 60, replace=False)
    return [mnist_test.images[i] for i in index if photo_set.usable(mnist_test.images[i])][:3]


def _number_photo(condition: str, digits: list[np.ndarray]) -> tuple[bytes, str, list[tuple[int, int, int, int]]]:
    """A rendered photo of the number (benchmarks/number_set.py), its file suffix and each digit's box."""
    from benchmarks import number_set

    (data, suffix), _, boxes = number_set.render_number(condition, digits, NUMBER_SEED, 0, alone=True)
    return data, suffix, boxes


def _inputs(answer: dict) -> list[np.ndarray]:
    """Each digit's input_png, decoded; the answer keeps the rest (what --number --json prints)."""
    return [decoded_input({"input_png": d.pop("input_png")}) for d in answer["digits"]]


def test_a_photo_of_a_number_is_read_as_edge_number_reads_it(server, number_digits, int8_classifier, iou):
    """The answer is edge.number.read_number's record for the same bytes, each digit with its 28x28
    input, the boxes where the digits are in the photo's pixels."""
    from edge.number import read_number

    data, suffix, boxes = _number_photo("paint", number_digits)
    status, answer = server.json("POST", f"/api/number?name=number{suffix}", data)
    assert status == 200, answer
    assert answer.pop("time_ms") > 0
    inputs = _inputs(answer)
    expected = read_number(Image.open(io.BytesIO(data)), int8_classifier.predict)
    assert answer == expected.record(f"number{suffix}", [str(d) for d in range(10)])
    assert len(answer["digits"]) == len(number_digits) and len(answer["number"]) == len(number_digits)
    width, height = Image.open(io.BytesIO(data)).size
    for digit, box, seen, want in zip(answer["digits"], boxes, inputs, expected.digits, strict=True):
        x, y, w, h = digit["box"]
        assert min(x, y) >= 0 and x + w <= width and y + h <= height, (digit["box"], (width, height))
        assert iou(digit["box"], box) > 0.5, f"box {digit['box']}, the digit is at {box}"
        assert seen.shape == (28, 28) and seen.dtype == np.uint8 and np.array_equal(seen, want.image)


def test_a_big_phone_photo_of_a_number_is_read_as_classify_number_reads_it(
    server, number_digits, int8_model, tmp_path, iou
):
    """A photo larger than the work size, sent as a form field: the answer is what ``classify.py --number
    --json`` prints for the file, and the boxes are in the photo's own pixels, not the decoded ones."""
    from edge.preprocess import load_image

    data, _, boxes = _number_photo("ink", number_digits)
    small = Image.open(io.BytesIO(data))
    scale = 2.7  # a 9-megapixel photo: decoded at half size (load_image's JPEG draft), boxes in full pixels
    big = small.resize((round(small.width * scale), round(small.height * scale)), Image.Resampling.BICUBIC)
    photo = tmp_path / "IMG_2026.jpg"
    big.save(photo, "JPEG", quality=85)
    assert photo.stat().st_size < MAX_UPLOAD_MB * 1e6
    assert load_image(photo).width < big.width  # the server reads it reduced too
    body, content_type = multipart("image", photo.name, photo.read_bytes(), "image/jpeg")
    status, answer = server.json("POST", "/api/number", body, {"Content-Type": content_type})
    assert status == 200, answer
    assert answer.pop("time_ms") > 0
    inputs = _inputs(answer)
    result = subprocess.run(
        [sys.executable, str(ROOT / "edge" / "classify.py"), "--model", str(int8_model), "--number", "--json", photo],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert answer == {**json.loads(result.stdout), "file": photo.name}
    assert len(answer["digits"]) == len(number_digits)
    for digit, box, seen in zip(answer["digits"], boxes, inputs, strict=True):
        x, y, w, h = digit["box"]
        assert x + w <= big.width and y + h <= big.height
        assert iou(digit["box"], [round(v * scale) for v in box]) > 0.5, (digit["box"], box)
        assert seen.shape == (28, 28)


def test_numbers_and_digits_read_at_once_each_get_their_own_answer(server, number_digits, sample):
    """Numbers (a batch per call) and digits share the one interpreter under its lock."""
    number = _number_photo("paint", number_digits)[0]
    digits = [png_bytes(sample[0][i]) for i in range(8)]
    want_number = server.json("POST", "/api/number", number)[1]["digits"]
    want_digits = [server.json("POST", "/api/classify", b)[1]["top_k"] for b in digits]
    got: dict[tuple[str, int], list] = {}

    def client(k: int) -> None:
        for i in range(k, 8, 4):
            got["number", i] = server.json("POST", "/api/number", number)[1]["digits"]
            got["digit", i] = server.json("POST", "/api/classify", digits[i])[1]["top_k"]

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [got["number", i] for i in range(8)] == [want_number] * 8
    assert [got["digit", i] for i in range(8)] == want_digits


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ("blank", 422, "no digit found"),
        (b"just some text, not a picture", 415, "not an image"),
        (b"", 415, "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, 415, ""),  # garbage after a PNG signature
    ],
)
def test_a_photo_with_no_number_or_no_image_gets_the_same_4xx_as_for_a_digit(server, body, status, words):
    if body == "blank":
        body = png_bytes(np.full((300, 400, 3), 228, np.uint8), "JPEG")
    for path in ("/api/number", "/api/classify"):
        got, answer = server.json("POST", f"{path}?name=bad.jpg", body)
        assert got == status, (path, answer)
        assert set(answer) == {"error"} and words in answer["error"] and "\n" not in answer["error"]
        assert answer["error"].startswith("bad.jpg: ")


def test_a_number_upload_over_the_limit_gets_413(server):
    too_big = b"\xff" * int(MAX_UPLOAD_MB * 1e6 * 2)
    status, answer = server.json("POST", "/api/number", too_big, {"Content-Type": "image/jpeg"})
    assert status == 413 and "over this server's 1 MB limit" in answer["error"]
    status, answer = server.json("GET", "/api/number")
    assert status == 405 and "use POST" in answer["error"]


# -- the page ---------------------------------------------------------------------------------------------


def test_the_page_and_everything_it_loads_come_from_the_pi(server):
    status, head, html = server.request("GET", "/")
    assert status == 200 and head["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in head["Content-Security-Policy"]
    text = html.decode()
    assert 'accept="image/*" capture' in text and "<canvas" in text
    assets = re.findall(r'(?:src|href)="([^"]+)"', text)
    assert {"app.js", "style.css"} <= set(assets)
    for asset in assets:
        assert "//" not in asset, f"{asset}: the page must load nothing from the internet"
        status, head, content = server.request("GET", "/" + asset)
        assert status == 200 and content, asset
        content = content.replace(b'xmlns="http://www.w3.org/2000/svg"', b"")  # a name, not a place
        assert not re.search(rb"https?://\w", content), f"{asset} refers to another site"
    assert server.request("HEAD", "/app.js")[0] == 200


# -- bad requests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"", 415, "empty"),
        (b"just some text, not a picture", 415, "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 415, ""),  # a PNG signature, then nothing usable
        ("blank", 422, "no digit found"),
        ("truncated", 415, "truncated"),
        ("animated", 422, "animated"),
    ],
)
def test_a_body_that_is_not_a_digit_image_gets_a_4xx_json_error(server, sample, body, status, words):
    if body == "blank":
        body = png_bytes(np.full((300, 400, 3), 228, np.uint8), "JPEG")
    elif body == "truncated":
        body = png_bytes(np.random.default_rng(1).integers(0, 255, (400, 400, 3), dtype=np.uint8), "JPEG")[:3000]
    elif body == "animated":
        frames = [Image.fromarray(sample[0][i]) for i in range(3)]
        buffer = io.BytesIO()
        frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
        body = buffer.getvalue()
    got, answer = server.json("POST", "/api/classify?name=bad.jpg", body)
    assert got == status, answer
    assert set(answer) == {"error"} and words in answer["error"]
    assert answer["error"].startswith("bad.jpg: ")


def test_an_upload_over_the_limit_gets_413_before_it_is_read(server):
    too_big = b"\xff" * int(MAX_UPLOAD_MB * 1e6 * 3)
    status, answer = server.json("POST", "/api/classify", too_big, {"Content-Type": "image/jpeg"})
    assert status == 413 and "over this server's 1 MB limit" in answer["error"]


def test_a_chunked_upload_over_the_limit_gets_413(server):
    chunk = b"\xff" * 100_000
    piece = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    body = piece * 30 + b"0\r\n\r\n"  # 3 MB, no Content-Length
    status, answer = server.json("POST", "/api/classify", body, {"Transfer-Encoding": "chunked"})
    assert status == 413 and "limit" in answer["error"]


def test_a_client_that_asks_first_is_refused_before_sending(server):
    """Expect: 100-continue (curl does it for large bodies): the 413 comes instead of the go-ahead."""
    with socket.create_connection((server.host, server.port), timeout=10) as raw:
        raw.sendall(
            b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\nExpect: 100-continue\r\n\r\n"
        )
        reply = b""
        while chunk := raw.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413") and reply.endswith(b"\n") and b'{"error": ' in reply


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("GET", "/../edge/serve.py", {}, None, 404),
        ("GET", "/%2e%2e/%2e%2e/etc/passwd", {}, None, 404),
        ("GET", "/edge/serve.py", {}, None, 404),
        ("GET", "/web/index.html", {}, None, 404),
        ("GET", "//etc/passwd", {}, None, 404),
        ("GET", "/api/classify", {}, None, 405),
        ("PUT", "/api/classify", {}, b"x", 405),
        ("DELETE", "/", {}, None, 405),
        ("POST", "/api/classify?top_k=zero", {}, b"x", 400),
        ("POST", "/api/classify", {"Content-Type": "multipart/form-data; boundary=abc"}, b"--abc--\r\n", 400),
        ("POST", "/api/classify", {"Content-Type": "multipart/form-data"}, b"--abc--\r\n", 400),
        ("POST", "/api/nothing", {}, b"x" * 5000, 404),
    ],
)
def test_no_request_reaches_a_file_and_every_error_is_json(server, method, path, headers, body, status):
    got, answer = server.json(method, path, body, headers)
    assert got == status, answer
    assert set(answer) == {"error"} and answer["error"]


def test_malformed_http_gets_json_errors_and_the_server_goes_on(server, sample):
    for raw_request in (
        b"GET / JUNK/1.1\r\n\r\n",
        b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
        b"POST /api/classify HTTP/1.1\r\nHost: x\r\n\r\n",  # no length at all
        b"POST /api/classify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    ):
        with socket.create_connection((server.host, server.port), timeout=10) as raw:
            raw.sendall(raw_request)
            head, _, body = raw.makefile("rb").read().partition(b"\r\n\r\n")
        assert re.match(rb"HTTP/1\.[01] 4\d\d ", head), (raw_request[:60], head)
        assert b"application/json" in head and set(json.loads(body)) == {"error"}
    with socket.create_connection((server.host, server.port), timeout=10) as raw:  # a method HTTP has not
        raw.sendall(b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _, body = raw.makefile("rb").read().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 501 ") and set(json.loads(body)) == {"error"}
    status, answer = server.json("POST", "/api/classify", png_bytes(sample[0][0]))
    assert status == 200 and answer["digit"] == sample[1][0]


# -- starting and stopping ---------------------------------------------------------------------------


def test_ctrl_c_stops_it_cleanly_and_a_copy_of_edge_alone_serves(int8_model, tmp_path, sample):
    """From the folder a user copies to the Pi: serves, answers, and stops on Ctrl-C with one line."""
    import shutil

    shutil.copytree(ROOT / "edge", tmp_path / "edge", ignore=shutil.ignore_patterns("__pycache__"))
    running = start_server(int8_model, cwd=tmp_path, script=Path("edge/serve.py"))
    status, answer = running.json("POST", "/api/classify", png_bytes(sample[0][2]))
    assert status == 200 and answer["digit"] == sample[1][2]
    code, _, err = running.stop()
    assert code == 0 and "Traceback" not in err
    assert err.strip().splitlines() == ["Ctrl-C stops it.", "stopped"]


def test_sigterm_stops_it_too(int8_model):
    running = start_server(int8_model)
    running.process.send_signal(signal.SIGTERM)
    running.process.wait(20)
    code, _, err = running.stop()
    assert code == 0 and err.strip().splitlines()[-1] == "stopped"


def test_all_interfaces_prints_the_addresses_to_open_from_a_phone(int8_model):
    running = start_server(int8_model, "--host", "0.0.0.0")
    try:
        assert running.url.startswith("http://127.0.0.1:")
        status, _ = running.json("GET", "/api/model")
        assert status == 200
    finally:
        code, out, _ = running.stop()
    lines = running.banner + out.splitlines()
    assert code == 0
    lan = [line for line in lines if "from a phone" in line or "by name" in line]
    assert lan, lines  # at least this machine's name, and its LAN address where it has one
    assert all(f":{running.port}/" in line for line in lan)


def test_https_with_a_certificate(int8_model, tmp_path, sample):
    """--cert/--key: HTTPS, which phones need for the live camera."""
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
    made = subprocess.run(
        [*openssl, "-keyout", str(key), "-out", str(cert)],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    running = start_server(int8_model, "--cert", str(cert), "--key", str(key))
    try:
        assert running.url.startswith("https://")
        with socket.create_connection((running.host, running.port), timeout=10) as plain:  # plain HTTP: dropped
            plain.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                reply = plain.recv(100)
            except ConnectionResetError:
                reply = b""
            assert not reply.startswith(b"HTTP/1.1 200")
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        connection = http.client.HTTPSConnection(running.host, running.port, context=context, timeout=30)
        connection.request("POST", "/api/classify", body=png_bytes(sample[0][4]))
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["digit"] == sample[1][4]
        connection.close()
    finally:
        code, _, err = running.stop()
    assert code == 0 and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--model", "missing.tflite"], "model file not found"),
        (["--port", "70000"], "not a port number"),
        (["--max-upload-mb", "0"], "--max-upload-mb must be more than 0"),
        (["--cert", "c.pem"], "--cert and --key go together"),
        (["--host", "203.0.113.9"], "not an address of this machine"),
    ],
)
def test_what_cannot_start_says_why_in_one_line(int8_model, args, words):
    command = [sys.executable, str(SERVE), "--model", str(int8_model), "--port", "0", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], result.stderr


def test_a_port_in_use_is_one_line(server, int8_model):
    command = [sys.executable, str(SERVE), "--model", str(int8_model), "--port", str(server.port)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"error: port {server.port} is in use (another serve.py?); stop it or choose another --port"
    )
