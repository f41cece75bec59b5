"""The page of edge/serve.py in a real browser: Debian's Chromium, headless, driven by Selenium
through Debian's chromedriver (nothing downloaded at test time).

A person draws a digit with the mouse, uploads a photo, holds a digit up to the live camera
(Chromium's fake camera plays a video made here) and watches the Pi camera's view from
camera.py --serve; each time the page must show the right digit. A screenshot of each is kept
in test-artifacts/browser/. One server and one browser serve the whole module.
"""

from __future__ import annotations

import itertools
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "apt-get install -y chromium chromium-driver (CI's .ci/run does)"
WAIT = 30  # seconds for an answer to appear: generous, the CI machine may be busy
CAMERA_SIZE = (640, 480)


def digit_on_paper(digit: np.ndarray, size: tuple[int, int], side: int) -> np.ndarray:
    """RGB: a dark-blue MNIST digit, ``side`` pixels, in the middle of softly lit paper."""
    width, height = size
    light = np.linspace(236, 200, width, dtype=np.float32)[None, :] - np.linspace(0, 15, height)[:, None]
    frame = np.repeat(light[..., None], 3, axis=2)
    ink = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255
    top, left = (height - side) // 2, (width - side) // 2
    region = frame[top : top + side, left : left + side]
    region[:] = region * (1 - ink[..., None]) + np.array([30, 30, 80]) * ink[..., None]
    return np.clip(frame, 0, 255).astype(np.uint8)


def write_y4m(path: Path, frame: np.ndarray, count: int = 10) -> None:
    """A raw YUV 4:2:0 video, the format Chromium's fake camera plays (and loops)."""
    import cv2

    height, width = frame.shape[:2]
    planes = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes()
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(count):
            out.write(b"FRAME\n" + planes)


@pytest.fixture(scope="module")
def digits(mnist_test, tflite_models) -> dict[int, np.ndarray]:
    """Per class, the first test digit that the edge runner reads right, and surely, as a photo of it on paper.

    (A few MNIST digits are misread once photographed; the page must show what the runner answers,
    and these tests check that it is the right digit.)
    """
    from edge.preprocess import prepare_image
    from edge.runtime import Classifier

    classifier = Classifier(tflite_models["int8"])
    chosen: dict[int, np.ndarray] = {}
    for image, label in zip(mnist_test.images[:300], mnist_test.labels[:300], strict=True):
        if int(label) in chosen:
            continue
        photo = Image.fromarray(digit_on_paper(image, CAMERA_SIZE, side=170))
        probs = classifier.predict(prepare_image(photo)[None])[0]
        if probs.argmax() == label and probs.max() > 0.9:
            chosen[int(label)] = image
    assert len(chosen) == 10, sorted(chosen)
    return chosen


def start(command: list[str]) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = process.stdout.readline()
    match = re.search(r"(http://\S+/)", first)
    assert match, f"{command[1]} did not start: {first}{process.stderr.read()}"
    return process, match.group(1)


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    process.stdout.read()
    err = process.stderr.read()
    assert process.wait(20) == 0 and "Traceback" not in err, err


@pytest.fixture(scope="module")
def server(tflite_models) -> Iterator[str]:
    model = tflite_models["int8"]
    process, url = start([sys.executable, "edge/serve.py", "--model", str(model), "--port", "0"])
    yield url
    stop(process)


@pytest.fixture(scope="module")
def fake_camera(tmp_path_factory, digits) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("camera") / "digit.y4m"
    write_y4m(path, digit_on_paper(digits[3], CAMERA_SIZE, side=170))
    return path, 3


@pytest.fixture(scope="module")
def browser(fake_camera) -> Iterator[object]:
    assert Path(CHROMIUM).is_file(), f"Chromium is not installed at {CHROMIUM}: {INSTALL}"
    assert Path(CHROMEDRIVER).is_file(), f"chromedriver is not installed at {CHROMEDRIVER}: {INSTALL}"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: pip install -e '.[dev]'")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",  # these three: a closed network refuses its calls home
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1100,820",
        "--use-fake-ui-for-media-stream",  # allow the camera without asking
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={fake_camera[0]}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def open_page(driver, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element("tag name", "body").get_attribute("data-ready"))


def wait_for_answer(driver, source: str, after: int = 0) -> dict:
    """The answer panel's state once the mode ``source`` has shown an answer (the count-th, past ``after``)."""
    from selenium.webdriver.support.ui import WebDriverWait

    panel = driver.find_element("id", "answer")

    def shown(_driver) -> bool:
        count = int(panel.get_attribute("data-count") or 0)
        return panel.get_attribute("data-source") == source and count > after and panel.get_attribute("data-state")

    WebDriverWait(driver, WAIT).until(shown)
    return {
        "state": panel.get_attribute("data-state"),
        "digit": panel.get_attribute("data-digit"),
        "count": int(panel.get_attribute("data-count")),
        "shown": driver.find_element("id", "digit").text,
        "message": driver.find_element("id", "message").text,
        "bars": len(driver.find_elements("css selector", "#bars li")),
        "timing": driver.find_element("id", "timing").text,
        "input": driver.execute_script("return document.getElementById('input-image').naturalWidth"),
    }


def draw(driver, strokes: list[list[tuple[float, float]]]) -> None:
    """Draw polylines on the canvas with the mouse; points in the canvas's own 280x280 coordinates."""
    from selenium.webdriver.common.action_chains import ActionChains

    pad = driver.find_element("id", "pad")
    width = driver.execute_script("return arguments[0].getBoundingClientRect().width", pad)
    scale = width / 280

    def offset(point: tuple[float, float]) -> tuple[int, int]:  # from the element's centre, in CSS pixels
        return round((point[0] - 140) * scale), round((point[1] - 140) * scale)

    for stroke in strokes:
        actions = ActionChains(driver, duration=5)
        actions.move_to_element_with_offset(pad, *offset(stroke[0])).click_and_hold()
        position = offset(stroke[0])
        for a, b in itertools.pairwise(stroke):
            steps = max(1, int(np.hypot(b[0] - a[0], b[1] - a[1]) / 12))
            for t in np.linspace(0, 1, steps + 1)[1:]:
                target = offset((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
                actions.move_by_offset(target[0] - position[0], target[1] - position[1])
                position = target
        actions.release().perform()


SEVEN = [[(70, 62), (205, 62), (190, 110), (125, 230)]]
ONE = [[(150, 45), (140, 240)]]
ZERO = [[(140, 45), (95, 70), (80, 140), (95, 210), (140, 238), (185, 210), (200, 140), (185, 70), (140, 45)]]


def test_drawing_a_digit_with_the_mouse_shows_it(server, browser):
    open_page(browser, server)
    count = 0
    for strokes, digit in ((ONE, "1"), (ZERO, "0"), (SEVEN, "7")):
        browser.find_element("id", "clear").click()
        draw(browser, strokes)
        answer = wait_for_answer(browser, "draw", count)
        count = answer["count"]
        assert answer["state"] == "answer" and answer["digit"] == digit, answer
        assert answer["shown"] == digit and answer["bars"] == 3 and answer["input"] == 28
        assert re.fullmatch(r"The Pi took \d+\.\d ms \(the model \d+\.\d ms\)", answer["timing"]), answer
    browser.save_screenshot(str(ARTIFACTS / "draw.png"))
    browser.find_element("id", "clear").click()
    assert browser.find_element("id", "answer").get_attribute("data-state") == "empty"


def test_uploading_a_photo_shows_its_digit(server, browser, digits, tmp_path):
    open_page(browser, server)
    browser.find_element("css selector", '.tabs button[data-mode="photo"]').click()
    label = 5
    photo = tmp_path / "IMG_0042.jpg"
    Image.fromarray(digit_on_paper(digits[label], (1200, 900), side=360)).save(photo, "JPEG", quality=88)
    browser.find_element("id", "photo-file").send_keys(str(photo))
    answer = wait_for_answer(browser, "photo")
    assert answer["state"] == "answer" and answer["digit"] == str(label), answer
    assert browser.execute_script("return document.getElementById('photo-preview').naturalWidth") == 1200
    browser.save_screenshot(str(ARTIFACTS / "photo.png"))

    blank = tmp_path / "blank.jpg"  # paper with nothing on it: the page says so, and does not guess
    Image.fromarray(np.full((600, 800, 3), 225, np.uint8)).save(blank, "JPEG")
    browser.find_element("id", "photo-capture").send_keys(str(blank))
    answer = wait_for_answer(browser, "photo", answer["count"])
    assert answer["state"] == "no-digit" and answer["shown"] == "no digit" and "no digit found" in answer["message"]


def number_photo(mnist_test, condition: str, seed: int, k: int, count: int) -> tuple[bytes, str]:
    """A photo of a number written with real MNIST test digits (benchmarks/number_set.py) and its suffix."""
    from benchmarks import number_set, photo_set

    index = np.random.default_rng([seed, k]).choice(len(mnist_test.images), 40, replace=False)
    digits = [mnist_test.images[i] for i in index if photo_set.usable(mnist_test.images[i])][:count]
    (data, suffix), _, _ = number_set.render_number(condition, digits, seed, k, alone=True)
    return data, suffix


def shown_number(driver) -> dict:
    """What the Number tab shows: the number, each digit's line and input, the note, the boxes against the photo."""
    return driver.execute_script(
        """
        const preview = document.getElementById('number-preview').getBoundingClientRect();
        const note = document.getElementById('number-uncertain');
        return {
          number: document.getElementById('number').textContent,
          shown: !document.getElementById('number-answer').hidden,
          single: !document.getElementById('digit-answer').hidden,
          digits: [...document.querySelectorAll('#number-digits li')].map((li) => ({
            text: li.innerText.replace(/\\s+/g, ' ').trim(),
            input: li.querySelector('img').naturalWidth,
          })),
          note: note.hidden ? null : note.textContent,
          preview: [preview.left, preview.top, preview.width, preview.height],
          natural: [document.getElementById('number-preview').naturalWidth,
                    document.getElementById('number-preview').naturalHeight],
          boxes: [...document.querySelectorAll('#number-boxes .box')].map((b) => {
            const r = b.getBoundingClientRect();
            return { rect: [r.left, r.top, r.width, r.height], label: b.textContent };
          }),
          overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
          tabs: new Set([...document.querySelectorAll('.tabs button:not([hidden])')].map(
            (b) => b.getBoundingClientRect().top)).size,
        };
        """
    )


def check_boxes(shown: dict, number) -> None:
    """One box per digit, where the digit is on the photo as shown (photo pixels scaled to the preview)."""
    left, top, width, height = shown["preview"]
    scale_x, scale_y = width / shown["natural"][0], height / shown["natural"][1]
    assert len(shown["boxes"]) == len(number.digits), shown
    for box, digit in zip(shown["boxes"], number.digits, strict=True):
        x, y, w, h = digit.box
        want = [left + x * scale_x, top + y * scale_y, w * scale_x, h * scale_y]
        assert np.allclose(box["rect"], want, atol=1.5), (box, want)
        assert box["label"] == str(digit.digit)


def test_reading_a_number_shows_each_digit_its_input_and_its_box(server, browser, mnist_test, tflite_models, tmp_path):
    """The Number tab: a photo of a number uploaded, the number in large type, each digit with its probability
    and 28x28 input, a box over each digit on the photo; on a phone-wide screen too. What is shown is what
    ``classify.py --number`` reads from the file (edge.number.read_file)."""
    from selenium.webdriver.support.ui import WebDriverWait

    from edge.number import read_file
    from edge.runtime import Classifier

    classifier = Classifier(tflite_models["int8"])
    # A sure reading and an uncertain one: photos of numbers of 3-4 digits, the first of each kind.
    sure = uncertain = None
    for k in range(12):
        data, suffix = number_photo(mnist_test, "ink", 4321, k, 3 + k % 2)
        photo = tmp_path / f"number{k}{suffix}"
        photo.write_bytes(data)
        number = read_file(photo, classifier.predict)
        if number.uncertain and uncertain is None:
            uncertain = (photo, number)
        elif not number.uncertain and sure is None and len(number.digits) > 1:
            sure = (photo, number)
    assert sure and uncertain, "no sure or no uncertain reading among 12 numbers"

    open_page(browser, server)
    browser.find_element("css selector", '.tabs button[data-mode="number"]').click()
    count = 0
    for photo, number in (sure, uncertain):
        browser.find_element("id", "number-file").send_keys(str(photo))
        answer = wait_for_answer(browser, "number", count)
        count = answer["count"]
        assert answer["state"] == "answer" and answer["message"] == "", answer
        boxes = len(number.digits)
        WebDriverWait(browser, WAIT).until(lambda d, boxes=boxes: len(shown_number(d)["boxes"]) == boxes)
        shown = shown_number(browser)
        assert shown["shown"] and not shown["single"], shown
        assert shown["number"] == number.text() == browser.find_element("id", "answer").get_attribute("data-number")
        record = number.record(photo.name, [str(d) for d in range(10)])
        want = [f"{d['digit']} {d['probability']:.1%}" for d in record["digits"]]
        assert [d["text"] for d in shown["digits"]] == want
        assert [d["input"] for d in shown["digits"]] == [28] * len(number.digits)
        assert shown["note"] == (f"uncertain: {'; '.join(number.reasons)}" if number.uncertain else None), shown
        check_boxes(shown, number)
        assert re.fullmatch(rf"The Pi took \d+\.\d ms to read {len(number.digits)} digits", answer["timing"])
        browser.save_screenshot(str(ARTIFACTS / f"number-{'uncertain' if number.uncertain else 'sure'}.png"))

    browser.set_window_size(390, 844)  # a phone: the photo narrower, the boxes still on the digits
    try:
        WebDriverWait(browser, WAIT).until(lambda d: shown_number(d)["preview"][2] < 380)
        shown = shown_number(browser)
        check_boxes(shown, uncertain[1])
        assert shown["overflow"] <= 0 and shown["tabs"] == 1, f"the page does not fit a phone's screen: {shown}"
        browser.save_screenshot(str(ARTIFACTS / "number-phone.png"))
        browser.execute_script("document.getElementById('answer').scrollIntoView()")
        browser.save_screenshot(str(ARTIFACTS / "number-phone-answer.png"))
    finally:
        browser.set_window_size(1100, 820)

    blank = tmp_path / "blank.png"  # paper with nothing on it: the page says so
    Image.fromarray(np.full((600, 800, 3), 225, np.uint8)).save(blank)
    browser.find_element("id", "number-capture").send_keys(str(blank))
    answer = wait_for_answer(browser, "number", count)
    assert answer["state"] == "no-digit" and "no digit found" in answer["message"], answer
    assert browser.find_element("id", "number-answer").is_displayed() is False
    browser.find_element("css selector", '.tabs button[data-mode="photo"]').click()  # the other modes: one digit
    assert browser.find_element("id", "digit-answer").is_displayed()


def test_the_live_camera_follows_the_digit(server, browser, fake_camera):
    _, label = fake_camera
    open_page(browser, server)
    browser.find_element("css selector", '.tabs button[data-mode="live"]').click()
    browser.find_element("id", "live-toggle").click()
    answer = wait_for_answer(browser, "live")
    answer = wait_for_answer(browser, "live", answer["count"])  # and it goes on answering
    assert answer["state"] == "answer" and answer["digit"] == str(label), answer
    browser.save_screenshot(str(ARTIFACTS / "live.png"))
    browser.find_element("id", "live-toggle").click()  # stop: the camera is released
    assert browser.execute_script("return document.getElementById('live-video').srcObject") is None


def test_the_pi_camera_view_from_camera_py(browser, tflite_models, digits, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    label = 2
    Image.fromarray(digit_on_paper(digits[label], CAMERA_SIZE, side=170)).save(frames / "frame0.png")
    command = [sys.executable, "edge/camera.py", "--model", str(tflite_models["int8"]), "--source", str(frames)]
    process, url = start([*command, "--loop", "--serve", "--port", "0", "--rate", "5"])
    try:
        open_page(browser, url)  # the page opens on the Pi camera's tab when there is one
        answer = wait_for_answer(browser, "pi-camera")
        assert answer["state"] == "answer" and answer["digit"] == str(label), answer
        browser.execute_script("window.scrollTo(0, 0)")
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(browser, WAIT).until(
            lambda d: d.execute_script("return document.getElementById('pi-stream').naturalWidth") == CAMERA_SIZE[0]
        )
        browser.save_screenshot(str(ARTIFACTS / "pi-camera.png"))
        browser.find_element("css selector", '.tabs button[data-mode="draw"]').click()  # closes the stream
    finally:
        stop(process)
