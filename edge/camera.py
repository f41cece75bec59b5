"""Read the digit held up to the Pi's camera, live: each change of answer is printed as it happens.

    python edge/camera.py --model mnist_int8.tflite [--source auto] [--rate 4] [--box 0.5] [--serve]

A few times a second the middle of the frame (a square, ``--box`` of the shorter side) goes
through the same preprocessing and model as classify.py and serve.py. ``--serve`` also shows
the live view (the frame, the box it reads, the answer) on serve.py's web page, as an MJPEG
stream; the page's other modes (draw, photo) work there too.

Frames come from edge/frames.py: the Pi camera (picamera2), a USB webcam, or for trials and
tests a video file or a folder of pictures, all through the same code below.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:
    # `python edge/camera.py` runs this file with no package around it (PEP 366). Load its folder,
    # whatever it is called, as the package `edge` (importlib's "import a source file directly"),
    # so that the relative imports below find this folder's modules and no installed copy.
    import importlib.util

    _spec = importlib.util.spec_from_file_location("edge", Path(__file__).with_name("__init__.py"))
    sys.modules["edge"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["edge"])
    __package__ = "edge"

DEFAULT_RATE = 4.0  # answers a second: follows a hand, and leaves a Pi Zero's core time to breathe
DEFAULT_BOX = 0.5  # the square read, as a fraction of the frame's shorter side
VIEW_WIDTH = 640  # the live view is scaled down to this width for the stream
STREAM_BOUNDARY = "frame"


@dataclass
class Reading:
    """What one frame gave: the answer record (None: no digit) or why not, and the box read (x, y, side)."""

    frame: int
    seconds: float
    record: dict[str, Any] | None
    message: str
    box: tuple[int, int, int]

    @property
    def answer(self) -> int | None:
        return None if self.record is None else self.record["digit"]


def centre_box(shape: tuple[int, ...], fraction: float) -> tuple[int, int, int]:
    """The square in the middle of a frame: (left, top, side), side = fraction of the shorter side."""
    height, width = shape[:2]
    side = max(1, round(min(height, width) * fraction))
    return (width - side) // 2, (height - side) // 2, side


def read_frame(service: Any, frame: Any, number: int, seconds: float, fraction: float) -> Reading:
    """Classify the middle of one RGB frame with the service every front end uses (edge/serve.py)."""
    from PIL import Image

    from .preprocess import ImageError

    left, top, side = centre_box(frame.shape, fraction)
    crop = Image.fromarray(frame[top : top + side, left : left + side])
    try:
        record = service.read_image(crop, f"frame {number}")
    except ImageError as e:
        return Reading(number, seconds, None, str(e).split(": ", 1)[-1], (left, top, side))
    return Reading(number, seconds, record, "", (left, top, side))


def describe(reading: Reading, names: list[str]) -> str:
    """One line for a change of answer: the time, the digit and its probability, or 'no digit'."""
    if reading.record is None:
        return f"{reading.seconds:7.1f} s  no digit"
    return f"{reading.seconds:7.1f} s  {names[reading.answer]}  ({reading.record['probability']:.1%})"


class LiveView:
    """The newest annotated frame (JPEG) and reading, for the page: an MJPEG stream and a JSON answer."""

    def __init__(self, source_name: str, fraction: float, rate: float):
        self.info = {"source": source_name, "box": fraction, "rate": rate}
        self._jpeg: bytes | None = None
        self._reading: Reading | None = None
        self._count = 0
        self._changed = threading.Condition()

    def publish(self, frame: Any, reading: Reading, names: list[str]) -> None:
        jpeg = annotated_jpeg(frame, reading, names)
        with self._changed:
            self._jpeg, self._reading = jpeg, reading
            self._count += 1
            self._changed.notify_all()

    def newest(self, after: int = -1, timeout: float = 1.0) -> tuple[int, bytes | None]:
        """The frame count and JPEG, waiting up to ``timeout`` for one newer than ``after``."""
        with self._changed:
            if self._count <= after:
                self._changed.wait(timeout)
            return self._count, self._jpeg

    def answer(self) -> dict[str, Any]:
        with self._changed:
            reading = self._reading
        if reading is None:
            return {"frame": None, "answer": None, "message": "waiting for the first frame", **self.info}
        return {"frame": reading.frame, "answer": reading.record, "message": reading.message, **self.info}

    def add_routes(self, server: Any) -> None:
        """GET /api/camera/answer, /api/camera/frame.jpg and /api/camera/stream on serve.py's server."""
        server.extra_model_info["camera"] = self.info
        server.routes[("GET", "/api/camera/answer")] = lambda h: h.send_json(200, self.answer())
        server.routes[("GET", "/api/camera/frame.jpg")] = self._snapshot
        server.routes[("GET", "/api/camera/stream")] = self._stream

    def _snapshot(self, handler: Any) -> None:
        from .serve import RequestError

        _, jpeg = self.newest(timeout=5.0)
        if jpeg is None:
            raise RequestError(503, "no frame from the camera yet; try again in a moment")
        handler.send_bytes(200, jpeg, "image/jpeg", {"Cache-Control": "no-store"})

    def _stream(self, handler: Any) -> None:
        """multipart/x-mixed-replace: each new frame replaces the last in an <img>, until the viewer leaves."""
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={STREAM_BOUNDARY}")
        handler.send_header("Cache-Control", "no-store")
        handler.send_header("Connection", "close")
        handler.end_headers()
        if handler.command == "HEAD":
            return
        shown = -1
        try:
            while not handler.server.stopping.is_set():
                count, jpeg = self.newest(shown)
                if jpeg is None or count == shown:
                    continue
                shown = count
                head = f"--{STREAM_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                handler.wfile.write(head.encode("ascii") + jpeg + b"\r\n")
                handler.wfile.flush()
        except (ConnectionError, TimeoutError):
            pass  # the viewer closed the page or switched tabs


def annotated_jpeg(frame: Any, reading: Reading, names: list[str]) -> bytes:
    """The frame, scaled to VIEW_WIDTH, with the box read and the answer drawn on it, as JPEG."""
    import cv2

    scale = min(1.0, VIEW_WIDTH / frame.shape[1])
    view = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    if scale < 1.0:
        view = cv2.resize(view, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    left, top, side = (round(v * scale) for v in reading.box)
    found = reading.record is not None
    colour = (60, 200, 60) if found else (200, 200, 200)
    cv2.rectangle(view, (left, top), (left + side, top + side), colour, 2)
    label = f"{names[reading.answer]}  {reading.record['probability']:.1%}" if found else "no digit"
    cv2.putText(view, label, (left, max(24, top - 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(view, label, (left, max(24, top - 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.9, colour, 2, cv2.LINE_AA)
    _, jpeg = cv2.imencode(".jpg", view, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return jpeg.tobytes()


def _parser() -> Any:
    from .command_line import HelpFormatter, OneLineParser
    from .serve import add_interpreter_arguments, add_server_arguments

    parser = OneLineParser(
        description="Read the digit held up to a camera, live: prints each change of answer; no TensorFlow.",
        formatter_class=HelpFormatter,
        epilog="Ctrl-C stops it. Exit status: 0 stopped or the recording ended, 2 nothing could run.",
    )
    parser.add_argument("-m", "--model", required=True, help=".tflite file written by mnist-convert")
    parser.add_argument(
        "--source",
        default="auto",
        help="auto (the Pi camera, else the first webcam), picamera, /dev/videoN or N, a video file, "
        "or a folder of pictures",
    )
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="answers a second (0: as fast as it can)")
    parser.add_argument(
        "--box", type=float, default=DEFAULT_BOX, help="side of the square read in the middle, of the shorter side"
    )
    parser.add_argument("--loop", action="store_true", help="replay a video or folder from the start when it ends")
    parser.add_argument("--json", action="store_true", help="print each change as a JSON object, for scripts")
    add_interpreter_arguments(parser)
    parser.add_argument("--serve", action="store_true", help="also show the live view on a web page (serve.py's)")
    add_server_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not 0 < args.box <= 1:
        parser.error("--box must be more than 0 and at most 1 (a fraction of the frame's shorter side)")
    if args.rate < 0:
        parser.error("--rate must be 0 (as fast as it can) or more")
    from .serve import check_server_arguments

    check_server_arguments(parser, args)

    from .frames import SourceError, open_source
    from .runtime import RuntimeProblem
    from .serve import DigitService, StartError, ignore_further_stops, stop_on_sigterm

    server = None
    source = None
    try:
        if args.serve:
            from .serve import start

            service, server = start(args)
        else:
            from .runtime import Classifier

            service = DigitService(Classifier(args.model, threads=args.threads, runtime=args.runtime), args.model)
            service.warm_up()
        source = open_source(args.source, args.loop)
        stop_on_sigterm()
        view = None
        if server:
            from .serve import announce

            view = LiveView(source.name, args.box, args.rate)
            view.add_routes(server)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True).start()
            announce(service, server, args.host, "Live view of")
        print(f"Reading {source.name}: hold a digit in the middle of the view.", file=sys.stderr, flush=True)
        _watch(service, source, args, view)
        if server:  # a recording ended: the page keeps its last frame until Ctrl-C
            print("The recording ended; the page shows its last frame. Ctrl-C stops it.", file=sys.stderr, flush=True)
            while True:
                time.sleep(3600)
    except (RuntimeProblem, StartError, SourceError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        ignore_further_stops()
        print("stopped", file=sys.stderr, flush=True)
    except BrokenPipeError:  # `camera.py --json | head`: the reader has seen enough; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        if source:
            source.close()
        if server:
            server.stopping.set()
            server.shutdown()
            server.server_close()
    return 0


def _watch(service: Any, source: Any, args: Any, view: LiveView | None) -> None:
    """Read frames at ``--rate`` until the source ends; print each change of answer."""
    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    names = service.names
    started = time.monotonic()
    previous: object = object()  # no answer printed yet
    number = 0
    while True:
        tick = time.monotonic()
        frame = source.read()
        if frame is None:
            return
        reading = read_frame(service, frame, number, tick - started, args.box)
        if reading.answer != previous:
            previous = reading.answer
            if args.json:
                record = reading.record or {"file": f"frame {number}", "digit": None, "error": reading.message}
                line = {"seconds": round(reading.seconds, 3), **record}
                line.pop("input_png", None)  # the page shows it; a log line does not need it
                print(json.dumps(line), flush=True)
            else:
                print(describe(reading, names), flush=True)
        if view:
            view.publish(frame, reading, names)
        number += 1
        if interval:
            time.sleep(max(0.0, interval - (time.monotonic() - tick)))


if __name__ == "__main__":
    sys.exit(main())
