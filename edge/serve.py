"""The digit classifier as a web page and a JSON API, served from the Pi: draw, photograph or film a
digit, or photograph a whole number.

    python edge/serve.py --model mnist_int8.tflite [--host 0.0.0.0] [--port 8000] [--threads N|auto]

Open http://127.0.0.1:8000/ (or, with ``--host 0.0.0.0``, the LAN address it prints, from a
phone). The page (edge/web/) draws, uploads or films a digit, or reads a number from a photo, and
shows the answer; scripts use the API:

    POST /api/classify   the image as the body, or as the multipart field "image"; ?top_k=K (default 3)
                         -> what ``classify.py --json`` prints for one image, plus "input_png" (the
                         28x28 input the model saw, a data URL), "time_ms" and "model_ms"
    POST /api/number     the photo of a number, sent as for /api/classify -> what ``classify.py --number
                         --json`` prints for it (edge/number.py: "number", "digits" with each one's
                         probability and box in the photo's pixels, "uncertain" and "reason" when
                         unsure), each digit with its "input_png", and "time_ms" for the whole reading
    GET  /api/model      the model: file, variant, input type, class names, runtime, upload limit

Why the standard library's ``http.server`` and not a server package: the Pi installs nothing
more, and a server this small is safe with it once the limits are ours (all in this file):
the body's size is checked from Content-Length before a byte is read, and while reading a
chunked body (413); at most MAX_CONNECTIONS connections are served at once (503 beyond) and an
idle or stalled one is dropped after SOCKET_TIMEOUT seconds; at most one photo per core is
decoded at a time (memory); every answer, errors included, is JSON written here. No request
path reaches the file system: the page's few files are read into memory at start and served
from there, and uploads are decoded in memory. The model is loaded once; the interpreter runs
one request at a time under a lock, while decoding and preprocessing (most of the time per
photo) run in parallel in the request threads. waitress, the well-kept pure-Python WSGI server
(a 56 kB wheel), was the alternative considered: it would add a WSGI layer and still leave the
routes and multipart parsing to us, buffer bodies over 512 kB in temporary files, and answer
its own limits (413, 400) in plain text, not JSON.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

if __name__ == "__main__" and not __package__:
    # `python edge/serve.py` runs this file with no package around it (PEP 366). Load its folder,
    # whatever it is called, as the package `edge` (importlib's "import a source file directly"),
    # so that the relative imports below find this folder's modules and no installed copy.
    import importlib.util

    _spec = importlib.util.spec_from_file_location("edge", Path(__file__).with_name("__init__.py"))
    sys.modules["edge"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["edge"])
    __package__ = "edge"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_UPLOAD_MB = 10.0
TOP_K = 3  # the page shows the three most likely digits
MAX_CONNECTIONS = 64  # served at once; a Pi answers a few phones, not a crowd
SOCKET_TIMEOUT = 20.0  # seconds a connection may sit idle or stall mid-request
LINGER_SECONDS = 2.0  # after refusing a body, how long its rest is read (and dropped) so the client sees the answer
MAX_NAME = 120  # characters of an upload's file name kept for the answer's "file"
WEB = Path(__file__).with_name("web")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# The page loads nothing from elsewhere; the browser is told so, which also keeps injected content inert.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)

Route = Callable[["Handler"], None]


class RequestError(Exception):
    """A request that cannot be answered: the HTTP status and a one-line message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class StartError(Exception):
    """The server cannot start (no page files, the port taken, a bad certificate); one line saying what to do."""


class DigitService:
    """The model, loaded once, and what every front end (the API, the Pi's camera) asks of it.

    The interpreter is not safe to call from two threads at once, so ``predict`` and
    ``predict_batch`` hold a lock; decoding and preprocessing happen before it, in the caller's thread.
    """

    def __init__(self, classifier: Any, model_path: str | Path):
        from .model_info import class_names

        self.classifier = classifier
        self.model_path = Path(model_path)
        self.names = class_names(model_path, classifier.num_classes)
        self._lock = threading.Lock()
        # Decoding and preprocessing use a core each and tens of MB for a large photo: more at once
        # than there are cores is no faster, only bigger (a Pi Zero 2 has 512 MB).
        self._working = threading.BoundedSemaphore(os.cpu_count() or 1)

    def warm_up(self) -> None:
        """Run a photo through everything once (Pillow, OpenCV, the interpreter): the first visitor waits no longer."""
        import numpy as np
        from PIL import Image

        from .preprocess import ImageError

        sheet = np.full((96, 96), 230, np.uint8)
        sheet[20:76, 44:52] = 40  # a "1" on paper
        with contextlib.suppress(ImageError):
            self.read_image(Image.fromarray(sheet), "warm-up")

    def predict(self, image: Any) -> Any:
        """One uint8 28x28 image -> its probabilities, one interpreter call at a time."""
        return self.predict_batch(image[None])[0]

    def predict_batch(self, images: Any) -> Any:
        """uint8 (N, 28, 28) images -> (N, classes) probabilities, under the lock: edge/number.py's ``predict``."""
        with self._lock:
            return self.classifier.predict(images)

    def read_image(self, image: Any, name: str, top_k: int = TOP_K, started: float | None = None) -> dict[str, Any]:
        """A decoded picture -> the ``classify.py --json`` record, plus the model's input and the time taken.

        Raises :class:`edge.preprocess.ImageError` (NoDigitError for no digit), its message starting with ``name``.
        """
        from .classify import result_record
        from .preprocess import ImageError, prepare_image

        started = time.perf_counter() if started is None else started
        try:
            model_input = prepare_image(image)
        except ImageError as e:
            raise type(e)(f"{name}: {e}") from None
        before_model = time.perf_counter()
        probs = self.predict(model_input)
        done = time.perf_counter()
        record = result_record(name, probs, self.names, min(top_k, self.classifier.num_classes))
        record["input_png"] = png_data_url(model_input)
        record["time_ms"] = round((done - started) * 1000, 2)
        record["model_ms"] = round((done - before_model) * 1000, 2)
        return record

    def read_bytes(self, data: bytes, name: str, top_k: int = TOP_K) -> dict[str, Any]:
        """An uploaded file's bytes -> as :meth:`read_image`; the time includes decoding."""
        from .preprocess import load_image

        with self._working:
            started = time.perf_counter()
            return self.read_image(load_image(data, name), name, top_k, started)

    def read_number(self, data: bytes, name: str) -> dict[str, Any]:
        """An uploaded photo of a number -> ``classify.py --number --json``'s record (boxes in the photo's
        own pixels, as for a file), each digit with the 28x28 input the model saw, and the time taken.

        Raises :class:`edge.preprocess.ImageError` (NoDigitError for no digit), its message starting with ``name``.
        """
        from .number import read_file

        with self._working:  # a number is read by the request's thread, like a digit: a core each
            started = time.perf_counter()
            number = read_file(data, self.predict_batch, name)
            done = time.perf_counter()
        record = number.record(name, self.names)
        for entry, digit in zip(record["digits"], number.digits, strict=True):
            entry["input_png"] = png_data_url(digit.image)
        record["time_ms"] = round((done - started) * 1000, 2)
        return record

    def describe(self) -> dict[str, Any]:
        """What GET /api/model answers: enough for a page or a script to know what it talks to."""
        from .model_info import ModelInfoError, read_manifest

        variant = self.model_path.stem
        try:
            manifest = read_manifest(self.model_path.parent)
        except ModelInfoError:
            manifest = None
        for entry in manifest.models if manifest else []:
            if Path(entry.file).name == self.model_path.name:
                variant = entry.variant
        return {
            "file": self.model_path.name,
            "variant": variant,
            "input_type": str(self.classifier.input_dtype),
            "classes": self.names,
            "runtime": self.classifier.runtime,
            "threads": self.classifier.threads,
            "top_k": TOP_K,
        }


def png_data_url(image: Any) -> str:
    """A uint8 grey image as a ``data:image/png;base64,...`` URL, for a page to show without another request."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_status(error: Exception) -> int:
    """The HTTP status for an image that cannot be read: what is wrong with it, in HTTP's words."""
    from .preprocess import NotAnImageError, TooManyPixelsError

    if isinstance(error, NotAnImageError):
        return HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    if isinstance(error, TooManyPixelsError):
        return HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    return HTTPStatus.UNPROCESSABLE_ENTITY  # no digit found, an animation, an odd colour mode


def load_static(folder: Path = WEB) -> dict[str, tuple[bytes, str]]:
    """The page's files, read once: URL path -> (content, type). Nothing else is ever served from disk."""
    files = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.is_file() and path.suffix in CONTENT_TYPES and not path.name.startswith("."):
            files["/" + path.name] = (path.read_bytes(), CONTENT_TYPES[path.suffix])
    if "/index.html" not in files:
        raise StartError(f"{folder}/index.html is missing; copy the whole edge/ folder, web/ included")
    files["/"] = files["/index.html"]
    return files


class DigitServer(ThreadingHTTPServer):
    """A thread per connection, at most MAX_CONNECTIONS at once, routes looked up in a table.

    ``routes`` maps (method, path) to a function of the handler; camera.py adds its own.
    """

    daemon_threads = True  # a stuck client never keeps the process alive after Ctrl-C

    def __init__(
        self,
        address: tuple[str, int],
        service: DigitService,
        max_upload: int,
        tls: ssl.SSLContext | None = None,
        log: bool = False,
    ):
        self.service, self.max_upload, self.tls, self.log = service, max_upload, tls, log
        self.static = load_static()
        self.extra_model_info: dict[str, Any] = {}
        self.routes: dict[tuple[str, str], Route] = {
            ("GET", "/api/model"): _model_route,
            ("POST", "/api/classify"): _classify_route,
            ("POST", "/api/number"): _number_route,
        }
        for path in self.static:
            self.routes[("GET", path)] = _static_route
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.stopping = threading.Event()
        super().__init__(address, Handler)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls:  # the TLS handshake happens here, in the connection's thread, never in the accept loop
            request.settimeout(SOCKET_TIMEOUT)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ValueError):
                return  # plain HTTP to the HTTPS port, a scanner, a client gone: nothing to answer
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A connection's unexpected failure is one line, never a traceback, and the server goes on.
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            print(f"warning: {client_address[0]}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)


def _refuse_busy(request: Any) -> None:
    body = b'{"error": "the Pi is serving too many connections; try again in a moment"}\n'
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    try:
        request.settimeout(1.0)
        request.sendall(head.encode("ascii") + body)
    except OSError:
        pass


class Handler(BaseHTTPRequestHandler):
    """One connection: requests parsed by http.server, answered from the routes; errors always JSON."""

    protocol_version = "HTTP/1.1"  # keep-alive: a phone's live camera sends frames on one connection
    server_version = "mnist-edge"
    timeout = SOCKET_TIMEOUT
    server: DigitServer

    def version_string(self) -> str:
        return self.server_version  # not Python's version: nobody needs it

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST  # answered 405, with Allow

    def _dispatch(self) -> None:
        self._body_read = False
        path = urlsplit(self.path).path
        method = "GET" if self.command == "HEAD" else self.command
        route = self.server.routes.get((method, path))
        try:
            if route is None:
                allowed = sorted({m for m, p in self.server.routes if p == path})
                if allowed:
                    raise RequestError(
                        HTTPStatus.METHOD_NOT_ALLOWED,
                        f"{self.command} is not allowed on {path}; use {' or '.join(allowed)}",
                    )
                raise RequestError(HTTPStatus.NOT_FOUND, f"nothing at {path[:200]}; the page is at /, the API at /api/")
            route(self)
        except RequestError as e:
            self.send_json(e.status, {"error": str(e)})

    # -- reading a request -------------------------------------------------------------------------------

    def query(self, name: str) -> str | None:
        values = parse_qs(urlsplit(self.path).query).get(name)
        return values[-1] if values else None

    def read_body(self) -> bytes:
        """The request's body, refused (413) as soon as it is known to be over the limit."""
        limit = self.server.max_upload
        coding = self.headers.get("Transfer-Encoding", "").strip().lower()
        if coding:
            if coding != "chunked":
                raise RequestError(HTTPStatus.NOT_IMPLEMENTED, f"Transfer-Encoding {coding[:40]} is not supported")
            body = self._read_chunked(limit)
        else:
            length = self._content_length()
            if length is None:
                self.close_connection = True  # whatever follows is not a request
                raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send the image with a Content-Length header")
            if length > limit:
                raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large(f"{length / 1e6:.1f} MB", limit))
            body = self.rfile.read(length)
            if len(body) < length:
                self.close_connection = True
                raise RequestError(HTTPStatus.BAD_REQUEST, "the body ended before its Content-Length")
        self._body_read = True
        return body

    def _content_length(self) -> int | None:
        text = self.headers.get("Content-Length")
        if text is None:
            return None
        if not text.strip().isdigit():
            self.close_connection = True
            raise RequestError(HTTPStatus.BAD_REQUEST, f"Content-Length {text[:40]!r} is not a number of bytes")
        return int(text)

    def _read_chunked(self, limit: int) -> bytes:
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise RequestError(HTTPStatus.BAD_REQUEST, "malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(8192).strip():  # trailers, if any, up to the blank line
                    pass
                return b"".join(chunks)
            total += size
            if total > limit:
                raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large("over the limit", limit))
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(8).strip():
                self.close_connection = True
                raise RequestError(HTTPStatus.BAD_REQUEST, "malformed chunked body")
            chunks.append(chunk)

    def _has_unread_body(self) -> bool:
        if getattr(self, "_body_read", True) or self.headers is None:
            return False
        return bool(self.headers.get("Transfer-Encoding")) or (self.headers.get("Content-Length", "0").strip() != "0")

    def handle_expect_100(self) -> bool:
        # curl and other clients ask before sending a large body: refuse it before it is sent.
        self._body_read = True  # until the client is told to go on, it sends nothing
        try:
            length = self._content_length()
        except RequestError as e:
            self.send_json(e.status, {"error": str(e)})
            return False
        if length is not None and length > self.server.max_upload:
            self.close_connection = True
            message = _too_large(f"{length / 1e6:.1f} MB", self.server.max_upload)
            self.send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": message})
            return False
        return super().handle_expect_100()

    # -- answering ---------------------------------------------------------------------------------------

    def send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        body = (json.dumps(data) + "\n").encode("utf-8")
        extra = {"Cache-Control": "no-store", **(headers or {})}
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            path = urlsplit(self.path).path
            extra["Allow"] = ", ".join(sorted({m for m, p in self.server.routes if p == path}))
        self.send_bytes(status, body, "application/json", extra)

    def send_bytes(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        """One complete answer. A body left unread (refused, or the route never asked for it) ends the connection."""
        unread = self._has_unread_body()
        if unread:
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if unread:
            self._linger()

    def _linger(self) -> None:
        """Read and drop what the client is still sending (bounded), so that it reads our answer, not a reset."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_SECONDS)
            deadline, left = time.monotonic() + LINGER_SECONDS, 8 * self.server.max_upload
            while left > 0 and time.monotonic() < deadline:
                data = self.rfile.read1(65536)
                if not data:
                    break
                left -= len(data)
        except (OSError, ValueError):
            pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (a bad request line, headers too long, an unknown method) as JSON too.
        self.close_connection = True
        self._body_read = True  # the connection ends here; nothing more is read from it
        if self.request_version == "HTTP/0.9":  # a line http.server could not parse: answer with a status line
            self.request_version = "HTTP/1.0"
        with contextlib.suppress(OSError):
            self.send_json(code, {"error": message or HTTPStatus(code).phrase})

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


def _too_large(size: str, limit: int) -> str:
    return (
        f"the upload is {size}, over this server's {limit / 1e6:g} MB limit; send a smaller image "
        "(or start serve.py with a larger --max-upload-mb)"
    )


def _static_route(handler: Handler) -> None:
    content, content_type = handler.server.static[urlsplit(handler.path).path]
    headers = {"Cache-Control": "no-cache"}
    if content_type.startswith("text/html"):
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    handler.send_bytes(HTTPStatus.OK, content, content_type, headers)


def _model_route(handler: Handler) -> None:
    server = handler.server
    info = {**server.service.describe(), "max_upload_bytes": server.max_upload, **server.extra_model_info}
    handler.send_json(HTTPStatus.OK, info)


def _classify_route(handler: Handler) -> None:
    top_k = _top_k(handler.query("top_k"))
    _answer_upload(handler, lambda data, name: handler.server.service.read_bytes(data, name, top_k))


def _number_route(handler: Handler) -> None:
    _answer_upload(handler, handler.server.service.read_number)


def _answer_upload(handler: Handler, read: Callable[[bytes, str], dict[str, Any]]) -> None:
    """The uploaded image (the body, or the form field "image") through ``read``: its record, or the
    image's 4xx (image_status) with the one-line message. Both image endpoints answer alike."""
    from .preprocess import ImageError

    body = handler.read_body()
    data, name = image_from_request(body, handler.headers.get("Content-Type", ""), handler.query("name"))
    try:
        record = read(data, name)
    except ImageError as e:
        raise RequestError(image_status(e), str(e)) from None
    handler.send_json(HTTPStatus.OK, record)


def _top_k(text: str | None) -> int:
    if text is None:
        return TOP_K
    if not text.isdigit() or int(text) < 1:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"top_k={text[:20]} is not a whole number of at least 1")
    return int(text)


def image_from_request(body: bytes, content_type: str, name: str | None = None) -> tuple[bytes, str]:
    """The image's bytes and a name for it: the body itself, or a multipart form's field "image"."""
    if not content_type.lower().startswith("multipart/form-data"):
        return body, _clean_name(name) or "upload"
    found = form_field(body, content_type, "image")
    if found is None:
        raise RequestError(HTTPStatus.BAD_REQUEST, "the form has no field 'image'; send the image in the field 'image'")
    data, filename = found
    return data, _clean_name(name or filename) or "upload"


def form_field(body: bytes, content_type: str, field: str) -> tuple[bytes, str | None] | None:
    """A multipart/form-data field's content and file name (RFC 7578), or None when the form has no such field.

    The parts are found with ``bytes.find`` (a 10 MB photo in a few milliseconds; the standard
    library's e-mail parser, which reads line by line, takes seconds) and each part's few headers
    are read with that parser.
    """
    from email.message import Message
    from email.parser import BytesParser
    from email.policy import HTTP

    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise RequestError(HTTPStatus.BAD_REQUEST, "multipart/form-data without a boundary; send a well-formed form")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    body = b"\r\n" + body  # the first delimiter is then found like the others
    position = body.find(delimiter)
    while position >= 0:
        position += len(delimiter)
        if body[position : position + 2] == b"--":  # the closing delimiter
            return None
        headers_start = body.find(b"\r\n", position)
        headers_end = body.find(b"\r\n\r\n", headers_start)
        if headers_start < 0 or headers_end < 0:
            break
        part = BytesParser(policy=HTTP).parsebytes(body[headers_start + 2 : headers_end + 4], headersonly=True)
        end = body.find(delimiter, headers_end + 4)
        if end < 0:
            break
        if part.get_param("name", header="content-disposition") == field:
            return body[headers_end + 4 : end], part.get_filename()
        position = end
    raise RequestError(HTTPStatus.BAD_REQUEST, "the form ends early (truncated?); send it again")


def _clean_name(name: str | None) -> str:
    """An upload's name for the answer only (it never touches the file system): printable, short, no folders."""
    text = "".join(c for c in (name or "") if c.isprintable()).replace("\\", "/").rsplit("/", 1)[-1]
    return text[:MAX_NAME]


# -- starting and stopping ---------------------------------------------------------------------------------


def lan_addresses() -> list[str]:
    """This machine's addresses on the local network, best guess first (the one with the default route)."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent, the kernel just picks a route
            found.append(probe.getsockname()[0])
        except OSError:
            pass
    with contextlib.suppress(OSError):
        found += socket.gethostbyname_ex(socket.gethostname())[2]
    return [a for i, a in enumerate(found) if not a.startswith("127.") and a not in found[:i]]


def urls(server: DigitServer, host: str) -> list[str]:
    """Where to open the page: one URL, or for all interfaces the local one and those for other devices."""
    port = server.server_address[1]
    if host in ("0.0.0.0", "::", ""):
        local = [f"{server.scheme}://127.0.0.1:{port}/"]
        return local + [f"{server.scheme}://{a}:{port}/" for a in lan_addresses()]
    shown = f"[{host}]" if ":" in host else host
    return [f"{server.scheme}://{shown}:{port}/"]


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """HTTPS from a certificate and key (phones allow the live camera only on https:// pages)."""
    if not cert and not key:
        return None
    if not cert or not key:
        raise StartError("--cert and --key go together (a certificate and its private key)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise StartError(f"--cert {cert} --key {key}: cannot use them ({e}); see edge/README.md, HTTPS") from None
    return context


def make_server(
    service: DigitService,
    host: str,
    port: int,
    max_upload: int,
    tls: ssl.SSLContext | None = None,
    log: bool = False,
) -> DigitServer:
    """A listening server, or a one-line StartError saying why it cannot listen."""
    import errno

    try:
        return DigitServer((host, port), service, max_upload, tls, log)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            why = f"port {port} is in use (another serve.py?); stop it or choose another --port"
        elif e.errno == errno.EACCES:
            why = f"port {port} needs root; choose a port above 1023"
        elif isinstance(e, socket.gaierror) or e.errno == errno.EADDRNOTAVAIL:
            why = f"cannot listen on {host}: not an address of this machine; try 127.0.0.1 or 0.0.0.0"
        else:
            why = f"cannot listen on {host}:{port} ({e.strerror or e})"
        raise StartError(why) from None


def stop_on_sigterm() -> None:
    """SIGTERM (systemd, docker, kill) stops the server like Ctrl-C: cleanly, in the main thread."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def ignore_further_stops() -> None:
    """A second Ctrl-C (or SIGTERM) while stopping must not turn a clean stop into a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def add_interpreter_arguments(parser: Any) -> None:
    """The interpreter flags serve.py and camera.py share."""
    from .runtime_choice import add_runtime_argument
    from .threads import AUTO, threads_argument

    parser.add_argument(
        "--threads",
        type=threads_argument,
        default=AUTO,
        metavar="N",
        help="interpreter threads, or 'auto': the count measured fastest for this model here (default: auto)",
    )
    add_runtime_argument(parser)


def add_server_arguments(parser: Any) -> None:
    """The flags serve.py and camera.py --serve share."""
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on; 0.0.0.0 opens it to the network")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: any free one)")
    parser.add_argument(
        "--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB, metavar="MB", help="largest upload accepted"
    )
    parser.add_argument("--cert", metavar="FILE", help="TLS certificate: serve HTTPS (a phone's live camera needs it)")
    parser.add_argument("--key", metavar="FILE", help="the certificate's private key")
    parser.add_argument("--log", action="store_true", help="print a line per request")


def check_server_arguments(parser: Any, args: Any) -> None:
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port number (0-65535)")
    if not args.max_upload_mb > 0:
        parser.error("--max-upload-mb must be more than 0")


def _parser() -> Any:
    from .command_line import HelpFormatter, OneLineParser

    parser = OneLineParser(
        description="Serve a web page (draw, photograph or film a digit, or photograph a number) and a JSON API "
        "that classify digits with a TFLite model; no TensorFlow.",
        formatter_class=HelpFormatter,
        epilog="Ctrl-C stops it. API: POST /api/classify (the image as the body or the form field 'image'), "
        "POST /api/number (a photo of a number, sent the same way), GET /api/model",
    )
    parser.add_argument("-m", "--model", required=True, help=".tflite file written by mnist-convert")
    add_interpreter_arguments(parser)
    add_server_arguments(parser)
    return parser


def start(args: Any) -> tuple[DigitService, DigitServer]:
    """The model and a listening server from parsed arguments; RuntimeProblem or StartError say why not."""
    from .runtime import Classifier

    tls = tls_context(args.cert, args.key)
    classifier = Classifier(args.model, threads=args.threads, runtime=args.runtime)
    service = DigitService(classifier, args.model)
    service.warm_up()
    server = make_server(service, args.host, args.port, int(args.max_upload_mb * 1e6), tls, args.log)
    return service, server


def announce(service: DigitService, server: DigitServer, host: str, what: str = "Serving") -> None:
    c = service.classifier
    addresses = urls(server, host)
    print(f"{what} {service.model_path.name} ({c.runtime}, {c.threads} threads) at {addresses[0]}", flush=True)
    for url in addresses[1:]:
        print(f"  from a phone or another computer: {url}", flush=True)
    if host in ("0.0.0.0", "::", ""):
        name = socket.gethostname()
        if name and name != "localhost" and "." not in name:  # Pi OS answers to <hostname>.local (mDNS)
            print(f"  or by name: {server.scheme}://{name}.local:{server.server_address[1]}/", flush=True)
    print("Ctrl-C stops it.", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    check_server_arguments(parser, args)

    from .runtime import RuntimeProblem

    try:
        service, server = start(args)
    except (RuntimeProblem, StartError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 0
    stop_on_sigterm()
    try:
        announce(service, server, args.host)
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        ignore_further_stops()
        print("stopped", file=sys.stderr, flush=True)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
