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

The same load (:func:`load_test`, :class:`Running`) runs in every test run, smaller and with small
photos, without timing: tests/edge/test_serve_load.py.
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import photo_set, rendered_sets

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
    rendered_sets.add_model_arguments(p, "the photos are rendered from")
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


def bodies(
    data_dir: Path,
    count: int,
    seed: int,
    conditions: tuple[str, ...] = CONDITIONS,
    max_side: int | None = None,
) -> tuple[list[tuple[bytes, int]], dict[str, bytes]]:
    """(photo bytes, label) for good requests, photos of ``conditions`` in turn; name -> bytes for bad ones.

    A good photo is one the edge runner finds a digit in (read in-process here, before the
    server is started): the rare rendered photo it cannot read is a preprocessing matter
    (benchmarks/bench_photos.py), and would get its 422 from the server, rightly. ``max_side``
    keeps only photos (the blank one too) no wider or taller than that, for a quick run.
    """
    from edge.mnist_data import load_split
    from edge.preprocess import NoDigitError, load_image, prepare_image

    def fits(image) -> bool:
        return max_side is None or max(image.size) <= max_side

    test = load_split(data_dir, "test")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(test.images), count * (2 if max_side is None else 8), replace=False)
    good = []
    for i in picks:
        if len(good) == count:
            break
        if not photo_set.usable(test.images[i]):
            continue
        data, _ = photo_set.render(conditions[len(good) % len(conditions)], test.images[i], rng)
        image = load_image(data)
        if not fits(image):
            continue
        try:
            prepare_image(image)
        except NoDigitError:
            continue
        good.append((data, int(test.labels[i])))
    if len(good) < 2:
        raise ValueError(f"only {len(good)} usable photos of {conditions} (max side {max_side}); allow more")
    like = conditions[0] if conditions[0] in photo_set.NO_DIGIT_LIKE else "ink"
    for _ in range(20):
        blank, _ = photo_set.render_blank(like, test.images[0], rng)
        if fits(load_image(blank)):
            break
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


def run_load(port: int, jobs: list, clients: int, oversize_bytes: int = OVERSIZE_MB * 1_000_000) -> list[dict]:
    """Send the planned jobs from ``clients`` threads; one record per request (kind, status, seconds ...)."""
    oversize = b"\xff\xd8" + b"\x00" * oversize_bytes
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
                try:
                    answer = json.loads(data)
                except ValueError:
                    answer = None
                record["json_error"] = isinstance(answer, dict) and set(answer) == {"error"}
            with lock:
                results.append(record)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@dataclass
class Load:
    """What a load test gave: every request's record, its wall time, and the answers counted by kind."""

    results: list[dict]
    seconds: float
    requested: int

    @property
    def counts(self) -> dict[str, dict[int, int]]:
        """kind ("good", "bad", "oversize") -> HTTP status (0: no answer) -> requests."""
        counts: dict[str, dict[int, int]] = {kind: {} for kind in SHARES}
        for r in self.results:
            counts[r["kind"]][r["status"]] = counts[r["kind"]].get(r["status"], 0) + 1
        return counts

    @property
    def problems(self) -> list[str]:
        """What the server got wrong under load; empty when it answered every request as it should."""
        missing = self.requested - len(self.results)
        return ([f"{missing} requests have no record"] if missing else []) + load_problems(self.results)


def load_test(
    port: int,
    good: list[tuple[bytes, int]],
    bad: dict[str, bytes],
    requests: int,
    clients: int,
    seed: int = 0,
    oversize_bytes: int = OVERSIZE_MB * 1_000_000,
) -> Load:
    """The load test, as the benchmark and tests/edge/test_serve_load.py run it: ``requests`` in a seeded
    mix of good photos, bad bodies and uploads of ``oversize_bytes`` (over the server's limit), sent from
    ``clients`` keep-alive connections at once to the server on 127.0.0.1:``port``."""
    jobs = plan(requests, good, bad, seed)
    started = time.perf_counter()
    results = run_load(port, jobs, clients, oversize_bytes)
    return Load(results, time.perf_counter() - started, len(jobs))


def load_problems(results: list[dict]) -> list[str]:
    """A good photo without its 200, any 5xx or unanswered request, a bad body without a 4xx JSON error,
    an oversize upload without its 413."""
    problems = []
    failed_good = [r for r in results if r["kind"] == "good" and r["status"] != 200]
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
    return problems


class Running:
    """A ``python edge/serve.py --port 0`` process, started as a user starts it, and where it listens."""

    def __init__(self, model: Path, *args: str, python: str = sys.executable, cwd: Path = ROOT):
        command = [python, str(ROOT / "edge" / "serve.py"), "--model", str(model), "--port", "0", *args]
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
        banner = self.process.stdout.readline()
        self.listening_s = time.perf_counter() - self.started
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", banner)
        if not match:
            self.stop()
            raise RuntimeError(f"serve.py did not start: {banner}{self.process.stderr.read()}".strip())
        self.port = int(match.group(1))

    def status_of(self, body: bytes) -> int:
        """One POST /api/classify on a new connection: its status, 0 when there was no answer."""
        client = Client(self.port)
        try:
            return client.send(body, {})[0]
        except (OSError, http.client.HTTPException):
            return 0
        finally:
            client.close()

    def rss_kib(self) -> dict[str, int]:
        return rss_kib(self.process.pid)

    def stop(self) -> int:
        """Stop it as systemd would (SIGTERM); its exit status."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(20)
        finally:
            self.process.stdout.close()
            self.process.stderr.close()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"rendering {args.photos} photos ...", file=sys.stderr, flush=True)
    good, bad = bodies(args.data_dir, args.photos, args.seed)
    server_args = ["--threads", str(args.threads)] if args.threads else []
    try:
        server = Running(args.model, *server_args)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        first_status = server.status_of(good[0][0])
        cold_start = time.perf_counter() - server.started
        idle = server.rss_kib()
        print(f"{args.requests} requests from {args.clients} clients ...", file=sys.stderr, flush=True)
        load = load_test(server.port, good, bad, args.requests, args.clients, args.seed)
        end = server.rss_kib()
        alive_status = server.status_of(good[1][0])
    finally:
        server.stop()

    report = summarize(args, load, server.listening_s, cold_start, first_status, idle, end, alive_status)
    write(args.out, report)
    print(markdown(report))
    for problem in report["problems"]:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if report["problems"] else 0


def summarize(args, load: Load, listening, cold_start, first_status, idle, end, alive_status) -> dict:
    results, wall = load.results, load.seconds
    kinds = {}
    for kind, statuses in load.counts.items():
        ms = [r["seconds"] * 1000 for r in results if r["kind"] == kind]
        kinds[kind] = {
            "requests": len(ms),
            "statuses": {str(s): n for s, n in sorted(statuses.items())},
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
    problems += load.problems
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
