"""edge/camera.py and edge/frames.py with recorded frames: a video made here with OpenCV's
VideoWriter and a folder of the same frames go through the same code as a live camera would,
with the real model; --serve shows them on the page's API.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CAMERA = ROOT / "edge" / "camera.py"
SIZE = (640, 480)
RUN = 4  # frames per scene: the first digit, blank paper, the second digit


def digit_on_paper(digit: np.ndarray | None, size: tuple[int, int] = SIZE) -> np.ndarray:
    """An RGB frame of a webcam looking at paper, unevenly lit, with a dark-blue digit in the middle."""
    width, height = size
    light = np.linspace(238, 196, width, dtype=np.float32)[None, :] - np.linspace(0, 18, height)[:, None]
    frame = np.repeat(light[..., None], 3, axis=2)
    if digit is not None:
        side = height * 3 // 8
        ink = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255
        top, left = (height - side) // 2, (width - side) // 2
        region = frame[top : top + side, left : left + side]
        region[:] = region * (1 - ink[..., None]) + np.array([30, 30, 80]) * ink[..., None]
    noise = np.random.default_rng(0).normal(0, 3, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def two_digits(sample, int8_classifier) -> list[tuple[np.ndarray, int]]:
    """Two test digits of different classes that the runner reads right, and surely, on a frame like ours.

    (A few MNIST digits are misread once photographed; these tests are about the camera's code.)
    """
    from edge.camera import centre_box
    from edge.preprocess import prepare_image

    chosen: list[tuple[np.ndarray, int]] = []
    for image, label in zip(*sample, strict=True):
        frame = digit_on_paper(image)
        left, top, side = centre_box(frame.shape, 0.5)
        crop = Image.fromarray(frame[top : top + side, left : left + side])
        probs = int8_classifier.predict(prepare_image(crop)[None])[0]
        if probs.argmax() == label and probs.max() > 0.9 and all(int(label) != c for _, c in chosen):
            chosen.append((image, int(label)))
        if len(chosen) == 2:
            return chosen
    raise AssertionError("no two surely read digits in the sample")


@pytest.fixture(scope="module")
def scenes(two_digits) -> list[np.ndarray]:
    (first, _), (second, _) = two_digits
    return [digit_on_paper(first)] * RUN + [digit_on_paper(None)] * RUN + [digit_on_paper(second)] * RUN


@pytest.fixture(scope="module")
def video(tmp_path_factory, scenes) -> Path:
    import cv2

    path = tmp_path_factory.mktemp("video") / "digits.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, SIZE)
    assert writer.isOpened()
    for frame in scenes:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory, scenes) -> Path:
    path = tmp_path_factory.mktemp("frames")
    for i, frame in enumerate(scenes):
        Image.fromarray(frame).save(path / f"frame{i:04d}.png")
    return path


def run_camera(model: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    command = [sys.executable, str(CAMERA), "--model", str(model), "--rate", "0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


# -- frame sources --------------------------------------------------------------------------------


def test_every_source_gives_rgb_frames_in_order(video, folder, scenes):
    from edge.frames import FolderFrames, VideoFile, open_source

    with open_source(str(folder)) as frames:
        assert isinstance(frames, FolderFrames) and not frames.live
        got = [frames.read() for _ in range(len(scenes) + 1)]
    assert got[-1] is None
    assert all(np.array_equal(a, b) for a, b in zip(got, scenes, strict=False))

    with open_source(str(video)) as frames:
        assert isinstance(frames, VideoFile) and not frames.live
        got = [frames.read() for _ in range(len(scenes) + 1)]
    assert got[-1] is None and got[0].shape == (SIZE[1], SIZE[0], 3)
    for a, b in zip(got, scenes, strict=False):  # JPEG inside the video: close, not equal
        assert np.abs(a.astype(int) - b).mean() < 4


def test_colours_are_rgb_whatever_the_source(tmp_path):
    """OpenCV reads BGR: a red frame must come out red from a video as from a picture."""
    import cv2

    from edge.frames import open_source

    red = np.zeros((120, 160, 3), np.uint8)
    red[..., 0] = 220
    (tmp_path / "pictures").mkdir()
    Image.fromarray(red).save(tmp_path / "pictures" / "red.png")
    writer = cv2.VideoWriter(str(tmp_path / "red.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5, (160, 120))
    writer.write(cv2.cvtColor(red, cv2.COLOR_RGB2BGR))
    writer.release()
    for source in (tmp_path / "pictures", tmp_path / "red.avi"):
        with open_source(str(source)) as frames:
            r, g, b = frames.read().reshape(-1, 3).mean(axis=0)
        assert r > 180 and g < 40 and b < 40, source


def test_a_recording_can_loop(folder, scenes):
    from edge.frames import open_source

    with open_source(str(folder), loop=True) as frames:
        got = [frames.read() for _ in range(2 * len(scenes))]
    assert np.array_equal(got[len(scenes)], scenes[0])


# -- the command ----------------------------------------------------------------------------------


def test_each_change_of_answer_is_printed_from_a_video(int8_model, video, two_digits):
    result = run_camera(int8_model, "--source", str(video))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3, lines
    (_, first), (_, second) = two_digits
    assert re.fullmatch(rf"\s*0\.0 s  {first}  \(\d+\.\d%\)", lines[0]), lines
    assert lines[1].endswith("s  no digit")
    assert re.fullmatch(rf"\s*\d+\.\d s  {second}  \(\d+\.\d%\)", lines[2]), lines
    assert "Traceback" not in result.stderr


def test_a_folder_of_frames_gives_the_same_answers_as_json(int8_model, folder, two_digits):
    result = run_camera(int8_model, "--source", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    changes = [json.loads(line) for line in result.stdout.splitlines()]
    (_, first), (_, second) = two_digits
    assert [c["digit"] for c in changes] == [first, None, second]
    assert [c["file"] for c in changes] == ["frame 0", f"frame {RUN}", f"frame {2 * RUN}"]
    assert changes[0]["probability"] > 0.5 and len(changes[0]["top_k"]) == 3
    assert "no digit found" in changes[1]["error"]
    assert all("input_png" not in c for c in changes)


def test_the_live_view_is_served_on_the_page(int8_model, folder, two_digits):
    command = [sys.executable, str(CAMERA), "--model", str(int8_model), "--source", str(folder), "--loop"]
    process = subprocess.Popen(
        [*command, "--rate", "20", "--serve", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        match = re.search(r"(http://\S+/)", first)
        assert match, first + process.stderr.read()
        url = match.group(1)
        model = json.loads(urllib.request.urlopen(url + "api/model", timeout=10).read())
        assert model["camera"]["source"] == str(folder)
        seen: set = set()
        deadline = time.monotonic() + 30
        while len(seen) < 3 and time.monotonic() < deadline:
            latest = json.loads(urllib.request.urlopen(url + "api/camera/answer", timeout=10).read())
            if latest["frame"] is not None:
                seen.add(latest["answer"]["digit"] if latest["answer"] else None)
            time.sleep(0.05)
        assert seen == {two_digits[0][1], None, two_digits[1][1]}
        snapshot = urllib.request.urlopen(url + "api/camera/frame.jpg", timeout=10)
        assert snapshot.headers["Content-Type"] == "image/jpeg"
        assert Image.open(snapshot).size == SIZE
        stream = urllib.request.urlopen(url + "api/camera/stream", timeout=10)
        assert stream.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=frame"
        assert stream.readline() == b"--frame\r\n" and stream.readline() == b"Content-Type: image/jpeg\r\n"
        stream.close()
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert 'data-mode="pi-camera"' in page
    finally:
        process.send_signal(signal.SIGINT)
        process.stdout.read()
        err = process.stderr.read()
        code = process.wait(20)
    assert code == 0 and err.strip().splitlines()[-1] == "stopped" and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--source", "no/such/video.mp4"], "no such file, folder or camera"),
        (["--source", "/dev/video99"], "/dev/video99: no such camera"),
        (["--box", "0"], "--box must be more than 0"),
        (["--rate", "-1"], "--rate must be 0"),
    ],
)
def test_what_cannot_run_says_why_in_one_line(int8_model, args, words):
    result = run_camera(int8_model, *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], result.stderr


def test_an_empty_folder_is_one_line(int8_model, tmp_path):
    result = run_camera(int8_model, "--source", str(tmp_path))
    assert result.returncode == 2 and result.stderr.strip() == f"error: {tmp_path}: no pictures in this folder " + (
        "(looked for .png, .jpg and the like)"
    )


def test_a_copy_of_edge_alone_reads_frames_and_stops_quietly_when_its_reader_does(
    int8_model, folder, two_digits, tmp_path
):
    """From the folder a user copies to the Pi; `camera.py --json | head -1` ends with no traceback."""
    import shutil

    shutil.copytree(ROOT / "edge", tmp_path / "edge", ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "edge/camera.py", "--model", str(int8_model), "--source", str(folder)]
    process = subprocess.Popen(
        [*command, "--loop", "--rate", "0", "--json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = json.loads(process.stdout.readline())
    process.stdout.close()  # the reader has seen enough, as `head -1` does; the loop goes on printing
    code = process.wait(60)
    err = process.stderr.read()
    assert first["digit"] == two_digits[0][1]
    assert code == 0 and "Traceback" not in err, err
