"""The load test of benchmarks/bench_serve.py, in every test run: the same code, a smaller scale.

``python edge/serve.py`` on 127.0.0.1 gets 504 requests from 8 clients at once: 160x120 webcam photos
of real test digits (the smallest photos, so that the run is short), bodies that are no digit image
(a 160x120 blank frame among them), and uploads over its limit (1 MB here, so that they are quick to
send). Every answer must be the right one and the
server must answer a photo afterwards. No time is asserted: latency is the benchmark's to report.
"""

from __future__ import annotations

from benchmarks import bench_serve

REQUESTS = 504
CLIENTS = 8
LIMIT_MB = 1.0
# What each bad body of bench_serve.bodies gets: not an image (415), or an image with no digit (422).
BAD_STATUS = {"text": 415, "random": 415, "truncated": 415, "empty": 415, "blank": 422}


def test_under_load_every_request_gets_its_answer_and_the_server_goes_on(int8_model, mnist_dir):
    good, bad = bench_serve.bodies(mnist_dir, 8, seed=3, conditions=("webcam",), max_side=160)
    assert set(bad) == set(BAD_STATUS)
    server = bench_serve.Running(int8_model, "--max-upload-mb", str(LIMIT_MB))
    try:
        load = bench_serve.load_test(
            server.port, good, bad, REQUESTS, CLIENTS, seed=3, oversize_bytes=int(LIMIT_MB * 1.5e6)
        )
        alive = server.status_of(good[5][0])
    finally:
        code = server.stop()

    counts = load.counts
    assert sum(n for statuses in counts.values() for n in statuses.values()) == REQUESTS
    assert all(counts[kind] for kind in ("good", "bad", "oversize")), counts  # the mix has all three
    assert list(counts["good"]) == [200], counts  # no failed good request
    assert list(counts["oversize"]) == [413], counts
    for record in load.results:
        assert record["status"] < 500 and record["error"] is None, record
        if record["kind"] == "bad":
            assert record["status"] == BAD_STATUS[record["name"]] and record["json_error"], record
    assert load.problems == []
    assert alive == 200, "the server did not answer a photo after the load"
    assert code == 0, "the server did not stop cleanly"
