"use strict";
// The page served by edge/serve.py: one answer panel, several ways to give it a digit ("modes").
//
// A mode is a tab button (data-mode="x") and a section (data-panel="x") in index.html, and
// registerMode("x", {start, stop}) here: start() runs when its tab is chosen, stop() when another
// is. A mode sends an image with classify() and shows what comes back with showAnswer(); a mode
// that reads something else adds its own endpoint and renderer the same way, as "number" does
// (readNumber() and showNumber(): a several-digit number from one photo, edge/number.py). Nothing
// is loaded from anywhere but the Pi.

const $ = (selector) => document.querySelector(selector);
const LIVE_BOX = 0.6; // the live camera reads the middle 60% of the square view (style.css .box)
const LIVE_SIDE = 256; // ... sent to the Pi as a JPEG this many pixels a side
const LIVE_INTERVAL_MS = 250; // at most four frames a second, never more than one in flight

const state = { model: null, modes: {}, current: null, answers: 0 };

// -- talking to the Pi ----------------------------------------------------------------------------

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function readJson(response) {
  let body;
  try {
    body = await response.json();
  } catch {
    body = { error: `the Pi answered ${response.status} ${response.statusText}` };
  }
  if (!response.ok) throw new ApiError(body.error || `the Pi answered ${response.status}`, response.status);
  return body;
}

// An image to one of the Pi's image endpoints, as the form field "image"; too large is said before sending.
async function postImage(path, blob, name) {
  const limit = state.model ? state.model.max_upload_bytes : Infinity;
  if (blob.size > limit) {
    throw new ApiError(`${name} is ${(blob.size / 1e6).toFixed(1)} MB; this Pi takes up to ${limit / 1e6} MB`, 413);
  }
  const form = new FormData();
  form.append("image", blob, name);
  return readJson(await fetch(path, { method: "POST", body: form }));
}

function classify(blob, name) {
  return postImage("api/classify?top_k=3", blob, name);
}

function readNumber(blob, name) {
  return postImage("api/number", blob, name);
}

// -- the answer panel -----------------------------------------------------------------------------

function setState(name, source) {
  const panel = $("#answer");
  panel.dataset.state = name;
  panel.dataset.source = source || "";
}

// The panel shows one digit (its top three, its input) or a number (each digit and its input).
function showView(kind) {
  $("#digit-answer").hidden = kind !== "digit";
  $("#number-answer").hidden = kind !== "number";
  if (kind !== "number") delete $("#answer").dataset.number;
}

function label(digit, given) {
  const names = (state.model && state.model.classes) || [];
  return given || names[digit] || String(digit);
}

function showAnswer(record, source) {
  state.answers += 1;
  const panel = $("#answer");
  setState("answer", source);
  showView("digit");
  panel.dataset.digit = String(record.digit);
  panel.dataset.count = String(state.answers);
  const digit = $("#digit");
  digit.textContent = label(record.digit, record.label);
  digit.className = "digit";
  $("#probability").textContent = percent(record.probability);
  const bars = $("#bars");
  bars.replaceChildren(
    ...record.top_k.map((entry) => {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = label(entry.digit);
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = `${Math.max(0, Math.min(100, entry.probability * 100)).toFixed(1)}%`;
      track.append(fill);
      const pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = percent(entry.probability);
      item.append(name, track, pct);
      return item;
    }),
  );
  $("#input-image").src = record.input_png;
  $("#input-figure").hidden = false;
  $("#timing").textContent = `The Pi took ${record.time_ms.toFixed(1)} ms (the model ${record.model_ms.toFixed(1)} ms)`;
  showMessage("");
}

// /api/number's record: the number in large type, why it may be wrong, and each digit with its
// probability and the 28x28 input the model saw. The boxes over the photo are the mode's own.
function showNumber(record, source) {
  state.answers += 1;
  const panel = $("#answer");
  setState("answer", source);
  showView("number");
  delete panel.dataset.digit;
  panel.dataset.number = record.number;
  panel.dataset.count = String(state.answers);
  $("#number").textContent = record.number;
  const note = $("#number-uncertain");
  note.textContent = record.uncertain ? `uncertain: ${record.reason}` : "";
  note.hidden = !record.uncertain;
  $("#number-digits").replaceChildren(
    ...record.digits.map((entry, k) => {
      const item = document.createElement("li");
      const input = document.createElement("img");
      input.src = entry.input_png;
      input.width = input.height = 56;
      input.alt = `digit ${k + 1}: the 28x28 input the model saw`;
      const digit = document.createElement("span");
      digit.className = "number-digit";
      digit.textContent = label(entry.digit, entry.label);
      const pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = percent(entry.probability);
      item.append(input, digit, pct);
      return item;
    }),
  );
  const count = record.digits.length;
  $("#timing").textContent = `The Pi took ${record.time_ms.toFixed(1)} ms to read ${count} digit${count === 1 ? "" : "s"}`;
  showMessage("");
}

function showNoDigit(message, source) {
  state.answers += 1;
  setState("no-digit", source);
  showView("digit");
  $("#answer").dataset.count = String(state.answers);
  delete $("#answer").dataset.digit;
  const digit = $("#digit");
  digit.textContent = "no digit";
  digit.className = "digit none";
  $("#probability").textContent = "";
  $("#bars").replaceChildren();
  $("#input-figure").hidden = true;
  $("#timing").textContent = "";
  showMessage(message, "info");
}

function showError(error, source) {
  if (error.status === 422 && /no digit/.test(error.message)) {
    showNoDigit(error.message, source);
    return;
  }
  setState("error", source);
  showMessage(error.message || String(error));
}

function clearAnswer() {
  setState("empty", "");
  showView("digit");
  delete $("#answer").dataset.digit;
  const digit = $("#digit");
  digit.textContent = "\u2013";
  digit.className = "digit empty";
  $("#probability").textContent = "";
  $("#bars").replaceChildren();
  $("#input-figure").hidden = true;
  $("#timing").textContent = "";
  showMessage("");
}

function showMessage(text, kind) {
  const message = $("#message");
  message.textContent = text;
  message.className = kind === "info" ? "message info" : "message";
  message.hidden = !text;
}

function percent(p) {
  return `${(p * 100).toFixed(1)}%`;
}

// -- modes ----------------------------------------------------------------------------------------

function registerMode(name, mode) {
  state.modes[name] = mode;
}

function selectMode(name) {
  if (state.current === name) return;
  const previous = state.modes[state.current];
  if (previous && previous.stop) previous.stop();
  state.current = name;
  for (const button of document.querySelectorAll(".tabs button")) {
    button.setAttribute("aria-selected", String(button.dataset.mode === name));
  }
  for (const panel of document.querySelectorAll("[data-panel]")) {
    panel.hidden = panel.dataset.panel !== name;
  }
  clearAnswer();
  const mode = state.modes[name];
  if (mode && mode.start) mode.start();
}

// Draw: a canvas with pointer events (mouse, pen and finger alike); classified when a stroke ends.
registerMode("draw", (() => {
  const pad = $("#pad");
  const context = pad.getContext("2d");
  let drawing = false;
  let drawn = false;
  let timer = null;

  function clear() {
    context.fillStyle = "#fff";
    context.fillRect(0, 0, pad.width, pad.height);
    drawn = false;
    clearAnswer();
  }

  function point(event) {
    const rect = pad.getBoundingClientRect();
    return [((event.clientX - rect.left) * pad.width) / rect.width, ((event.clientY - rect.top) * pad.height) / rect.height];
  }

  pad.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    drawing = true;
    drawn = true;
    clearTimeout(timer);
    context.strokeStyle = context.fillStyle = "#111";
    context.lineWidth = pad.width / 14; // about MNIST's stroke: 2 pixels of 28
    context.lineCap = context.lineJoin = "round";
    const [x, y] = point(event);
    context.beginPath();
    context.arc(x, y, context.lineWidth / 2, 0, 2 * Math.PI);
    context.fill();
    context.beginPath();
    context.moveTo(x, y);
  });
  pad.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) context.lineTo(...point(e));
    context.stroke();
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    clearTimeout(timer);
    timer = setTimeout(send, 150); // a digit of several strokes is read once, after the last
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  $("#clear").addEventListener("click", clear);

  function send() {
    if (!drawn) return;
    pad.toBlob(async (blob) => {
      try {
        showAnswer(await classify(blob, "drawing.png"), "draw");
      } catch (error) {
        showError(error, "draw");
      }
    }, "image/png");
  }

  clear();
  return { start() {}, stop() { clearTimeout(timer); } };
})());

// A photo from a phone's camera (capture) or any image file, for the modes that take one: shown in
// the preview, then given to send(file, name) as it is (the Pi does the rest).
function photoInputs(inputs, preview, send) {
  async function chosen(event) {
    const file = event.target.files[0];
    event.target.value = ""; // the same file can be chosen again
    if (!file) return;
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    await send(file, file.name || "photo.jpg");
  }
  for (const input of inputs) input.addEventListener("change", chosen);
}

// Photo: one digit.
registerMode("photo", (() => {
  photoInputs([$("#photo-capture"), $("#photo-file")], $("#photo-preview"), async (file, name) => {
    setState("waiting", "photo");
    try {
      showAnswer(await classify(file, name), "photo");
    } catch (error) {
      showError(error, "photo");
    }
  });
  return {};
})());

// Number: every digit on a line of writing in one photo (api/number, edge/number.py), a box drawn
// around each on the photo.
registerMode("number", (() => {
  const preview = $("#number-preview");
  const boxes = $("#number-boxes");

  // Boxes come in the photo's own (upright) pixels; as shares of its size they fit the photo at
  // whatever size it is shown (a phone's narrow screen included), and follow it when that changes.
  async function drawBoxes(record) {
    try {
      await preview.decode();
    } catch {
      return; // a photo this browser cannot show (the Pi could read it): the answer alone
    }
    const width = preview.naturalWidth;
    const height = preview.naturalHeight;
    boxes.replaceChildren(
      ...record.digits.map((entry) => {
        const [x, y, w, h] = entry.box;
        const box = document.createElement("div");
        box.className = "box";
        box.style.left = `${(100 * x) / width}%`;
        box.style.top = `${(100 * y) / height}%`;
        box.style.width = `${(100 * w) / width}%`;
        box.style.height = `${(100 * h) / height}%`;
        const tag = document.createElement("span");
        tag.textContent = label(entry.digit, entry.label);
        box.append(tag);
        return box;
      }),
    );
  }

  let sent = 0; // a photo chosen while the last is still being read: only the newest answer is shown
  photoInputs([$("#number-capture"), $("#number-file")], preview, async (file, name) => {
    const mine = ++sent;
    boxes.replaceChildren();
    preview.alt = "The photo sent";
    setState("waiting", "number");
    try {
      const record = await readNumber(file, name);
      if (mine !== sent) return;
      showNumber(record, "number");
      preview.alt = `The photo sent, with a box around each digit of ${record.number}`;
      await drawBoxes(record);
    } catch (error) {
      if (mine === sent) showError(error, "number");
    }
  });
  return {
    stop() {
      boxes.replaceChildren(); // its answer is cleared with the tab; so are the boxes that go with it
      preview.hidden = true;
    },
  };
})());

// Live camera: the browser's camera; the box in the middle is sent a few times a second.
registerMode("live", (() => {
  const video = $("#live-video");
  const toggle = $("#live-toggle");
  const status = $("#live-status");
  const grab = document.createElement("canvas");
  grab.width = grab.height = LIVE_SIDE;
  let stream = null;
  let timer = null;
  let frames = 0;
  let since = 0;

  let starting = false;

  async function start() {
    if (stream || starting) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status.textContent = window.isSecureContext
        ? "This browser has no camera access."
        : "Browsers allow the camera only on https:// pages (or on the Pi itself): start serve.py with --cert and --key (see edge/README.md), or use Photo.";
      return;
    }
    starting = true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment", width: { ideal: 640 }, height: { ideal: 480 } },
        audio: false,
      });
    } catch (error) {
      status.textContent = `No camera: ${error.message || error.name}`;
      return;
    } finally {
      starting = false;
    }
    video.srcObject = stream;
    toggle.textContent = "Stop the camera";
    status.textContent = "Hold a digit inside the box.";
    frames = 0;
    since = performance.now();
    tick();
  }

  function stop() {
    clearTimeout(timer);
    timer = null;
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    video.srcObject = null;
    toggle.textContent = "Start the camera";
  }

  async function tick() {
    if (!stream) return;
    const began = performance.now();
    if (video.videoWidth) {
      const side = Math.min(video.videoWidth, video.videoHeight);
      const box = side * LIVE_BOX;
      const context = grab.getContext("2d");
      context.drawImage(video, (video.videoWidth - box) / 2, (video.videoHeight - box) / 2, box, box, 0, 0, LIVE_SIDE, LIVE_SIDE);
      const blob = await new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", 0.85));
      try {
        const record = await classify(blob, "camera.jpg");
        if (stream) showAnswer(record, "live");
      } catch (error) {
        if (stream) showError(error, "live");
      }
      frames += 1;
      const seconds = (performance.now() - since) / 1000;
      if (stream && seconds > 1) status.textContent = `${(frames / seconds).toFixed(1)} answers a second`;
    }
    if (stream) timer = setTimeout(tick, Math.max(0, LIVE_INTERVAL_MS - (performance.now() - began)));
  }

  toggle.addEventListener("click", () => (stream ? stop() : start()));
  return { stop }; // the camera starts on the button, not on the tab: no permission prompt by surprise
})());

// Pi camera (camera.py --serve): the Pi's own view as an MJPEG stream, and its latest answer.
registerMode("pi-camera", (() => {
  const image = $("#pi-stream");
  let timer = null;
  let shown = -1;

  async function poll() {
    try {
      const latest = await readJson(await fetch("api/camera/answer", { cache: "no-store" }));
      if (latest.frame === null) {
        showMessage(latest.message, "info"); // the camera has not sent its first frame yet
      } else if (latest.frame !== shown) {
        shown = latest.frame;
        if (latest.answer) showAnswer(latest.answer, "pi-camera");
        else showNoDigit(latest.message || "no digit in the box", "pi-camera");
      }
    } catch (error) {
      showError(error, "pi-camera");
    }
    if (timer !== null) timer = setTimeout(poll, 300);
  }

  return {
    start() {
      image.src = "api/camera/stream";
      timer = setTimeout(poll, 0);
    },
    stop() {
      clearTimeout(timer);
      timer = null;
      image.removeAttribute("src"); // closes the stream
    },
  };
})());

// -- start ----------------------------------------------------------------------------------------

for (const button of document.querySelectorAll(".tabs button")) {
  button.addEventListener("click", () => selectMode(button.dataset.mode));
}

(async () => {
  try {
    state.model = await readJson(await fetch("api/model"));
    const m = state.model;
    $("#model-info").textContent = `${m.file} \u00b7 ${m.variant} \u00b7 ${m.runtime}, ${m.threads} threads`;
    if (m.camera) $('.tabs button[data-mode="pi-camera"]').hidden = false;
  } catch (error) {
    $("#model-info").textContent = `The Pi does not answer: ${error.message}`;
  }
  document.body.dataset.ready = "true";
  selectMode(state.model && state.model.camera ? "pi-camera" : "draw");
})();
