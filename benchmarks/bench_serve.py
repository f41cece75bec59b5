"""Load test of edge/serve.py: the real server on 127.0.0.1, many clients at once, good and bad requests.

    python -m benchmarks.bench_serve --model artifacts/mnist_int8.tflite [--requests 600] [--clients 8] [--out DIR]

Starts ``python edge/serve.py`` as a user would and measures:

- cold start: process start to the first answered photo (and to the "Serving ..." line);
- memory: the server's RSS when idle after start, at the end, and its peak (VmHWM);
- under load: ``--clients`` threads, each with a keep-alive connection, send ``--requests`` in all,
  mixing realistic phone photos of MNIST test digits (benchmarks/photo_set.py), bad bodies (text,
  random bytes, a truncated JPEG, blank paper) and uploads over the size limit (with
  Content-Length, and chunked); latency p50/p90/p99 per kind, requests a second.

It fails (exit status 1) when a good photo did not get its 200, when any answer was a 5xx, when
a bad body did not get a 4xx or an oversize upload its 413, or when the server is not alive at
the end. Writes OUT/serve.json and OUT/serve.md. No TensorFlow.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks import photo_set

ROOT = Path(__file__).resolve().parents[1]
CONDITIONS = ("ink", "ruled", "pencil", "webcam", "paint", "shadow")  # a phone's and a webcam's photos, a drawing
OVERSIZE_MB = 12  # uploads over serve.py's default 10 MB limit
SHARES = {"good": 0.7, "bad": 0.2, "oversize": 0.1}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_serve",
        description="Load test of edge/serve.py on 127.0.0.1: latency, memory, cold start, no failures.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", type=Path, required=True, help=".tflite file")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("MNIST_DATA_DIR", photo_set.DEFAULT_DATA_DIR)),
        help="MNIST folder (the test digits the photos are rendered from)",
    )
    p.add_argument("--requests", type=int, default=600, help="requests in all")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients")
    p.add_argument("--photos", type=int, default=48, help="distinct photos rendered (reused in turn)")
    p.add_argument("--threads", type=int, default=None, help="the server's interpreter threads")
    p.add_argument("--out", type=Path, default=ROOT / "bench-results" / "serve", help="where the reports go")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.requests < 1 or args.clients < 1:
        p.error("--requests and --clients must be at least 1")
    return args


def bodies(data_dir: Path, count: int, seed: int) -> tuple[list[tuple[bytes, int]], dict[str, bytes]]:
    """(photo bytes, label) for good requests; name -> bytes for bad ones.

    A good photo is one the edge runner finds a digit in (read in-process here, before the
    server is started): the rare rendered photo it cannot read is a preprocessing matter
    (benchmarks/bench_photos.py), and would get its 422 from the server, rightly.
    """
    from edge.mnist_data import load_split
    from edge.preprocess import NoDigitError, load_image, prepare_image

    test = load_split(data_dir, "test")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(test.images), count * 2, replace=False)
    good = []
    for i in picks:
        if len(good) == count:
            break
        if not photo_set.usable(test.images[i]):
            continue
        data, _ = photo_set.render(CONDITIONS[len(good) % len(CONDITIONS)], test.images[i], rng)
        try:
            prepare_image(load_image(data))
        except NoDigitError:
            continue
        good.append((data, int(test.labels[i])))
    blank, _ = photo_set.render_blank("ink", test.images[0], rng)
    bad = {
        "text": b"this is not a picture\n" * 20,
        "random": rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes(),
        "truncated": good[0][0][: len(good[0][0]) // 3],
        "blank": blank,
        "empty": b"",
    }
    return good, bad


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, KiB (Linux)."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


class Client:
    """One keep-alive connection, reopened when the server closes it (after a refused upload)."""

    def __init__(self, port: int):
        self.port = port
        self.connection: http.client.HTTPConnection | None = None

    def send(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            self.connection.request("POST", "/api/classify", body=body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
            if response.will_close:
                self.close()
            return response.status, data
        except (ConnectionError, http.client.HTTPException):
            self.close()
            raise

    def close(self) -> None:
        if self.connection:
            self.connection.close()
        self.connection = None


def chunked(data: bytes, size: int = 1 << 16):
    for i in range(0, len(data), size):
        yield data[i : i + size]


def plan(requests: int, good: list, bad: dict, seed: int) -> list[tuple[str, str, object]]:
    """The requests in a shuffled order: (kind, name, payload)."""
    rng = random.Random(seed)
    jobs = []
    for i in range(requests):
        r = rng.random()
        if r < SHARES["good"]:
            jobs.append(("good", f"photo{i % len(good)}", good[i % len(good)]))
        elif r < SHARES["good"] + SHARES["bad"]:
            name = rng.choice(sorted(bad))
            jobs.append(("bad", name, bad[name]))
        else:
            jobs.append(("oversize", rng.choice(["content-length", "chunked"]), None))
    return jobs


def run_load(port: int, jobs: list, clients: int) -> list[dict]:
    oversize = b"\xff\xd8" + b"\x00" * (OVERSIZE_MB * 1_000_000)
    results: list[dict] = []
    lock = threading.Lock()
    queue = list(enumerate(jobs))

    def worker() -> None:
        client = Client(port)
        while True:
            with lock:
                if not queue:
                    break
                _, (kind, name, payload) = queue.pop()
            headers = {"Content-Type": "application/octet-stream"}
            if kind == "good" or kind == "bad":
                body = payload[0] if kind == "good" else payload
            elif name == "chunked":
                body = chunked(oversize)  # an iterable: http.client sends it chunked, with no Content-Length
            else:
                body = oversize
            start = time.perf_counter()
            try:
                status, data = client.send(body, headers)
                error = None
            except (OSError, http.client.HTTPException) as e:
                status, data, error = 0, b"", f"{type(e).__name__}: {e}"
            seconds = time.perf_counter() - start
            record = {"kind": kind, "name": name, "status": status, "seconds": seconds, "error": error}
            if kind == "good" and status == 200:
                record["right"] = json.loads(data)["digit"] == payload[1]
            elif status:
                answer = json.loads(data)
                record["json_error"] = set(answer) == {"error"}
            with lock:
                results.append(record)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"rendering {args.photos} photos ...", file=sys.stderr, flush=True)
    good, bad = bodies(args.data_dir, args.photos, args.seed)
    command = [sys.executable, str(ROOT / "edge" / "serve.py"), "--model", str(args.model), "--port", "0"]
    if args.threads:
        command += ["--threads", str(args.threads)]

    started = time.perf_counter()
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        banner = server.stdout.readline()
        listening = time.perf_counter() - started
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", banner)
        if not match:
            print(f"error: serve.py did not start: {banner}{server.stderr.read()}", file=sys.stderr)
            return 1
        port = int(match.group(1))
        first = Client(port)
        status, _ = first.send(good[0][0], {})
        cold_start = time.perf_counter() - started
        first.close()
        idle = rss_kib(server.pid)

        jobs = plan(args.requests, good, bad, args.seed)
        print(f"{len(jobs)} requests from {args.clients} clients ...", file=sys.stderr, flush=True)
        load_start = time.perf_counter()
        results = run_load(port, jobs, args.clients)
        wall = time.perf_counter() - load_start
        end = rss_kib(server.pid)
        alive = Client(port)
        try:
            alive_status, _ = alive.send(good[1][0], {})
        except (OSError, http.client.HTTPException):
            alive_status = 0
        alive.close()
    finally:
        server.terminate()
        server.wait(20)

    report = summarize(args, results, wall, listening, cold_start, status, idle, end, alive_status)
    write(args.out, report)
    print(markdown(report))
    for problem in report["problems"]:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if report["problems"] else 0


def summarize(args, results, wall, listening, cold_start, first_status, idle, end, alive_status) -> dict:
    kinds = {}
    for kind in ("good", "bad", "oversize"):
        rows = [r for r in results if r["kind"] == kind]
        ms = [r["seconds"] * 1000 for r in rows]
        statuses: dict[str, int] = {}
        for r in rows:
            statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
        kinds[kind] = {
            "requests": len(rows),
            "statuses": dict(sorted(statuses.items())),
            "p50_ms": round(percentile(ms, 50), 1),
            "p90_ms": round(percentile(ms, 90), 1),
            "p99_ms": round(percentile(ms, 99), 1),
            "max_ms": round(max(ms), 1) if ms else None,
        }
    good = [r for r in results if r["kind"] == "good"]
    kinds["good"]["accuracy"] = round(statistics.mean(r.get("right", False) for r in good), 4) if good else None
    problems = []
    if first_status != 200:
        problems.append(f"the first photo got {first_status}")
    failed_good = [r for r in good if r["status"] != 200]
    if failed_good:
        problems.append(f"{len(failed_good)} good photos did not get 200: {failed_good[:3]}")
    server_errors = [r for r in results if r["status"] >= 500]
    if server_errors:
        problems.append(f"{len(server_errors)} answers were 5xx: {server_errors[:3]}")
    wrong_bad = [r for r in results if r["kind"] == "bad" and not (400 <= r["status"] < 500 and r.get("json_error"))]
    if wrong_bad:
        problems.append(f"{len(wrong_bad)} bad bodies did not get a 4xx JSON error: {wrong_bad[:3]}")
    wrong_big = [r for r in results if r["kind"] == "oversize" and r["status"] != 413]
    if wrong_big:
        problems.append(f"{len(wrong_big)} oversize uploads did not get 413: {wrong_big[:3]}")
    if alive_status != 200:
        problems.append(f"the server did not answer after the load test ({alive_status})")
    return {
        "model": str(args.model),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "requests": len(results),
        "clients": args.clients,
        "seconds": round(wall, 2),
        "requests_per_second": round(len(results) / wall, 1) if wall else None,
        "kinds": kinds,
        "cold_start_s": round(cold_start, 2),
        "listening_s": round(listening, 2),
        "rss_mib": {
            "idle": round(idle["VmRSS"] / 1024, 1),
            "end": round(end["VmRSS"] / 1024, 1),
            "peak": round(end["VmHWM"] / 1024, 1),
        },
        "alive_at_end": alive_status == 200,
        "problems": problems,
    }


def markdown(report: dict) -> str:
    lines = [
        f"serve.py under load: {report['requests']} requests from {report['clients']} clients in "
        f"{report['seconds']} s ({report['requests_per_second']} requests/s); {report['machine']}",
        "",
        "| kind | requests | answers | p50 ms | p90 ms | p99 ms |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for kind, row in report["kinds"].items():
        answers = ", ".join(f"{n}x {s}" for s, n in row["statuses"].items())
        lines.append(
            f"| {kind} | {row['requests']} | {answers} | {row['p50_ms']} | {row['p90_ms']} | {row['p99_ms']} |"
        )
    rss = report["rss_mib"]
    lines += [
        "",
        f"Cold start (process start to the first photo answered): {report['cold_start_s']} s "
        f"(listening after {report['listening_s']} s). "
        f"Server RSS: {rss['idle']} MiB idle, {rss['end']} MiB after the load, peak {rss['peak']} MiB. "
        f"Good photos read right: {report['kinds']['good']['accuracy']:.1%}. "
        f"Alive at the end: {'yes' if report['alive_at_end'] else 'NO'}.",
    ]
    return "\n".join(lines) + "\n"


def write(out: Path, report: dict) -> None:
    from edge.files import write_atomic, write_json

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "serve.json", report)
    write_atomic(out / "serve.md", markdown(report))


if __name__ == "__main__":
    sys.exit(main())
