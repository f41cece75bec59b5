"""Where camera.py's frames come from: the Pi camera, a USB webcam, a video file or a folder of pictures.

Every source gives RGB uint8 (H, W, 3) frames through the same ``read()``, so camera.py runs
the same code whatever the camera; the tests, on machines with none, feed it recorded frames.

- The Raspberry Pi camera, through picamera2 (from Pi OS's apt packages, not pip: the venv
  needs ``--system-site-packages`` to see it; see edge/README.md).
- A USB or other V4L2 webcam, and video files, through OpenCV's ``cv2.VideoCapture`` (already
  an edge dependency, for photo.py).
- A folder of pictures, read in name order with :func:`edge.preprocess.load_image`.

A live camera's ``read()`` returns its newest frame, dropping the ones the reader was too slow
for (a background thread keeps grabbing, or the camera's own buffer fills with stale frames
and the answer lags seconds behind the digit). A recording's ``read()`` returns every frame in
order, so that a test sees exactly what it recorded.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

FRAME_SIZE = (640, 480)  # what cameras are asked for: plenty for a digit filling a quarter of the view
FIRST_FRAME_SECONDS = 10.0  # a camera that has not sent a frame by then is not going to


class SourceError(Exception):
    """A frame source that cannot be opened or stopped sending; the message says what to try."""


class FrameSource:
    """RGB uint8 (H, W, 3) frames from somewhere; ``read()`` is None once a recording ends."""

    name = "frames"
    live = False  # a camera (newest frame, others dropped) rather than a recording (every frame)

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the camera or file; reading after this is an error."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class FolderFrames(FrameSource):
    """The pictures in a folder (and its subfolders), in name order: a recording made frame by frame."""

    def __init__(self, folder: str | Path, loop: bool = False):
        from .preprocess import list_images

        self.files = list_images(folder)
        if not self.files:
            raise SourceError(f"{folder}: no pictures in this folder (looked for .png, .jpg and the like)")
        self.name, self.loop, self._next = str(folder), loop, 0

    def read(self) -> np.ndarray | None:
        from .preprocess import ImageError, load_image

        if self._next == len(self.files):
            if not self.loop:
                return None
            self._next = 0
        path = self.files[self._next]
        self._next += 1
        try:
            return np.asarray(load_image(path).convert("RGB"))
        except ImageError as e:
            raise SourceError(str(e)) from None


class VideoFile(FrameSource):
    """A video file, every frame in order (OpenCV's FFmpeg reads .mp4, .avi, .mkv, MJPEG ...)."""

    def __init__(self, path: str | Path, loop: bool = False):
        import cv2

        self.name, self.loop = str(path), loop
        if not Path(path).is_file():
            raise SourceError(f"{path}: no such video file; check the path")
        self._capture = cv2.VideoCapture(str(path))
        if not self._capture.isOpened():
            raise SourceError(f"{path}: OpenCV cannot read this video; convert it to .mp4 or .avi, or use a folder")
        self._frames = 0

    def read(self) -> np.ndarray | None:
        import cv2

        ok, frame = self._capture.read()
        if not ok and self.loop and self._frames:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._capture.read()
        if not ok:
            return None
        self._frames += 1
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._capture.release()


class _Newest:
    """The newest frame a background thread grabbed, handed out once each (a live camera's buffer)."""

    def __init__(self, name: str, grab: Any):
        self.name, self._grab = name, grab
        self._frame: np.ndarray | None = None
        self._count = self._taken = 0
        self._error: str | None = None
        self._changed = threading.Condition()
        self._running = True
        self._thread = threading.Thread(target=self._run, name=f"grab {name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        failures = 0
        while self._running:
            frame = self._grab()
            with self._changed:
                if frame is None:
                    failures += 1
                    if failures >= 50:
                        self._error = f"{self.name}: the camera stopped sending frames; check its cable and try again"
                        self._changed.notify_all()
                        return
                    time.sleep(0.02)
                    continue
                failures = 0
                self._frame, self._count = frame, self._count + 1
                self._changed.notify_all()

    def newest(self) -> np.ndarray:
        deadline = time.monotonic() + FIRST_FRAME_SECONDS
        with self._changed:
            while self._count == self._taken and self._error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SourceError(f"{self.name}: no frame in {FIRST_FRAME_SECONDS:.0f} s; is the camera in use?")
                self._changed.wait(left)
            if self._error:
                raise SourceError(self._error)
            self._taken = self._count
            assert self._frame is not None
            return self._frame

    def stop(self) -> None:
        self._running = False
        self._thread.join(2.0)


class Webcam(FrameSource):
    """A USB or other V4L2 camera (``/dev/video0``, or its number) through OpenCV."""

    live = True

    def __init__(self, device: str | int):
        import cv2

        self.name = f"/dev/video{device}" if isinstance(device, int) else str(device)
        self._capture = cv2.VideoCapture(device, cv2.CAP_V4L2) if hasattr(cv2, "CAP_V4L2") else cv2.VideoCapture(device)
        if not self._capture.isOpened():
            raise SourceError(
                f"{self.name}: cannot open this camera (unplugged, in use, or no permission: "
                "add yourself to the 'video' group); list cameras with: v4l2-ctl --list-devices"
            )
        self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, FRAME_SIZE[0])
        self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, FRAME_SIZE[1])
        self._capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)

        def grab() -> np.ndarray | None:
            ok, frame = self._capture.read()
            return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok else None

        self._newest = _Newest(self.name, grab)

    def read(self) -> np.ndarray:
        return self._newest.newest()

    def close(self) -> None:
        self._newest.stop()
        self._capture.release()


class PiCamera(FrameSource):
    """The Raspberry Pi camera module through picamera2 (libcamera)."""

    live = True
    name = "Raspberry Pi camera"

    def __init__(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise SourceError(
                "picamera2 is not importable: sudo apt install python3-picamera2, and make the venv with "
                "python3 -m venv --system-site-packages (see edge/README.md)"
            ) from None
        if not Picamera2.global_camera_info():
            raise SourceError("no Raspberry Pi camera found; check its ribbon cable (and rpicam-hello)")
        self._camera = Picamera2()
        # libcamera names formats by their order in a 32-bit word: "BGR888" is R, G, B in memory, i.e. RGB.
        config = self._camera.create_video_configuration(main={"size": FRAME_SIZE, "format": "BGR888"})
        self._camera.configure(config)
        self._camera.start()
        self._newest = _Newest(self.name, lambda: self._camera.capture_array("main"))

    def read(self) -> np.ndarray:
        return self._newest.newest()

    def close(self) -> None:
        self._newest.stop()
        self._camera.stop()
        self._camera.close()


def picamera_available() -> bool:
    """Whether picamera2 is installed and sees a camera (False off a Pi, quietly)."""
    try:
        from picamera2 import Picamera2
    except ImportError:
        return False
    try:
        return bool(Picamera2.global_camera_info())
    except Exception:  # libcamera's own failures: no camera to use, whatever the reason
        return False


def open_source(spec: str = "auto", loop: bool = False) -> FrameSource:
    """A frame source from what the user typed.

    ``auto``: the Pi camera if there is one, else the first webcam; ``picamera``; ``0`` or
    ``/dev/video0``: that webcam; a video file; a folder of pictures. ``loop`` replays a
    recording from its start when it ends.
    """
    path = Path(spec)
    if spec == "auto":
        if picamera_available():
            return PiCamera()
        if Path("/dev/video0").exists():
            return Webcam(0)
        raise SourceError(
            "no camera found (no Raspberry Pi camera through picamera2, no /dev/video0); "
            "give --source /dev/videoN, a video file or a folder of pictures"
        )
    if spec == "picamera":
        return PiCamera()
    if spec.isdigit():
        return Webcam(int(spec))
    if spec.startswith("/dev/video"):
        if not path.exists():
            raise SourceError(f"{spec}: no such camera; list cameras with: v4l2-ctl --list-devices")
        return Webcam(spec)
    if path.is_dir():
        return FolderFrames(path, loop)
    if path.is_file():
        return VideoFile(path, loop)
    raise SourceError(f"{spec}: no such file, folder or camera; give auto, picamera, /dev/videoN, a video or a folder")
