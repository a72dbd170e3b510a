"""Timeouts (slowloris, idle keep-alive) and --limit-concurrency, on dedicated servers."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from tests.e2e.rawhttp import (
    Connection,
    connect,
    exchange,
    read_response,
    request,
    wait_events,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def timeouts_server(serve):
    return serve("tests.apps.basic:app", "--timeout-request-head", "1",
                 "--timeout-keep-alive", "1")


def test_slowloris_gets_408(timeouts_server):
    with connect(timeouts_server, timeout=6) as sock, sock.makefile("rb") as reader:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: e2e.test\r\n")
        # Dribble one header line every 0.3 s, never finishing the head.
        sock.settimeout(0.3)
        response = None
        for i in range(20):
            try:
                sock.sendall(b"X-Drip-%d: %s\r\n" % (i, b"d" * 10))
            except OSError:
                break  # the server already closed
            try:
                peek = sock.recv(1, 0x02)  # MSG_PEEK: has the server answered?
            except TimeoutError:
                continue
            except OSError:
                break
            if peek:
                break
        sock.settimeout(6)
        response = read_response(reader)
        elapsed = time.monotonic() - started
        assert response.status == 408, response
        assert response.header("connection") == "close"
        assert 0.8 <= elapsed <= 3.0, f"408 after {elapsed:.2f}s"
        rest = b""
        try:
            rest = reader.read()
        except ConnectionResetError:
            pass  # we may have sent drip bytes the server never read
        assert rest == b""
        assert time.monotonic() - started <= 3.5


def test_idle_keep_alive_connection_is_closed(timeouts_server):
    with Connection(timeouts_server, timeout=6) as conn:
        assert conn.get("/").status == 200
        idle_since = time.monotonic()
        conn.assert_closed(timeout=6)
        elapsed = time.monotonic() - idle_since
        assert 0.8 <= elapsed <= 3.0, f"closed after {elapsed:.2f}s idle"


def test_keep_alive_timeout_does_not_cut_a_slow_response(timeouts_server):
    with Connection(timeouts_server, timeout=6) as conn:
        response = conn.get("/slow?delay=2")  # longer than both timeouts
        assert response.status == 200 and response.body == b"done"
        assert conn.get("/").body == b"hello"


def test_limit_concurrency_answers_503(serve):
    server = serve("tests.apps.basic:app", "--limit-concurrency", "1")
    k = uuid.uuid4().hex
    results: dict[str, httpx.Response] = {}

    def slow_request() -> None:
        results["slow"] = httpx.get(server.url + "/slow", params={"delay": "1.5", "id": k},
                                    timeout=10)

    thread = threading.Thread(target=slow_request)
    thread.start()
    try:
        # Poll until a request is refused: that happens once /slow is in flight.
        deadline = time.monotonic() + 5
        while True:
            response = exchange(server, request("GET", f"/events?id={k}"))
            if response.status == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert response.status == 503, response
        assert response.header("connection") == "close"
        assert b"Traceback" not in response.body
        rejected = httpx.get(server.url + "/", timeout=5)
        assert rejected.status_code == 503
    finally:
        thread.join(10)
    assert results["slow"].status_code == 200
    assert results["slow"].text == "done"
    # Once the slow one is done, requests are served again.
    assert httpx.get(server.url + "/", timeout=5).status_code == 200
    assert wait_events(server, k, lambda e: "finished" in e) == ["started", "finished"]
