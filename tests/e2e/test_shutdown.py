"""Graceful shutdown on SIGTERM / SIGINT."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import httpx
import pytest

from tests.e2e.rawhttp import (
    Connection,
    connect,
    read_head,
    request,
    slow_request_in_flight,
    wait_events,
)

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_idle_server_exits_zero(serve, sig):
    server = serve("tests.apps.basic:app")
    assert httpx.get(server.url + "/", timeout=5).text == "hello"
    started = time.monotonic()
    assert server.stop(sig) == 0
    assert time.monotonic() - started < 3
    assert "Traceback" not in server.stderr


def test_sigterm_right_after_startup_is_graceful(serve):
    """The 'listening' line promises a running server, signal handling included.

    A signal lost in a startup race is timing-dependent: try a few times."""
    for _ in range(3):
        server = serve("tests.apps.basic:app")
        assert server.stop(signal.SIGTERM) == 0, server.stderr
        assert "Finished server process" in server.stderr


def test_in_flight_request_completes(serve):
    server = serve("tests.apps.basic:app")
    thread, results = slow_request_in_flight(server, delay=1, timeout=10)
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    code = server.wait(10)
    thread.join(10)
    assert "error" not in results, results
    response = results["response"]
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
    assert response.text == "done"
    assert response.headers.get("connection") == "close"
    assert code == 0
    assert time.monotonic() - started < 3


def test_idle_keep_alive_connections_close_at_once(serve):
    server = serve("tests.apps.basic:app")
    with Connection(server) as first, Connection(server) as second:
        assert first.get("/").status == 200
        assert second.get("/").status == 200
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        first.assert_closed(timeout=2)
        second.assert_closed(timeout=2)
        assert time.monotonic() - started < 1.0
        assert server.wait(5) == 0
    # and it no longer accepts connections
    with pytest.raises(OSError):
        connect(server, timeout=1).close()


def test_graceful_shutdown_timeout_ends_an_endless_request(serve, tmp_path):
    markers = tmp_path / "markers.txt"
    server = serve("tests.apps.basic:app", "--timeout-graceful-shutdown", "1",
                   env={"FASTCORN_TEST_MARKERS": str(markers)})
    k = uuid.uuid4().hex
    with Connection(server, timeout=5) as conn:
        conn.send(request("GET", f"/endless?id={k}"))
        _, status, _ = read_head(conn.reader)
        assert status == 200
        reader_stop = threading.Event()

        def drain() -> None:  # keep reading so that the server is never write-blocked
            try:
                while not reader_stop.is_set() and conn.reader.read1(65536):
                    pass
            except OSError:
                pass

        thread = threading.Thread(target=drain, daemon=True)
        thread.start()
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        code = server.wait(10)
        elapsed = time.monotonic() - started
        reader_stop.set()
        thread.join(5)
    assert elapsed < 3, f"exit {elapsed:.2f}s after SIGTERM with --timeout-graceful-shutdown 1"
    assert 0.8 < elapsed, f"the in-flight request got only {elapsed:.2f}s"
    assert code == 0, server.stderr
    # the app's lifespan shutdown still ran after the in-flight request was cancelled
    assert markers.read_text() == "startup\nshutdown\n"


def test_second_signal_exits_at_once(serve):
    server = serve("tests.apps.basic:app")
    k = uuid.uuid4().hex
    with Connection(server, timeout=5) as conn:
        conn.send(request("GET", f"/slow?delay=20&id={k}"))
        wait_events(server, k, lambda e: "started" in e)
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait_for_output("Shutting down")
        server.send_signal(signal.SIGINT)
        code = server.wait(5)
    assert time.monotonic() - started < 2
    assert code != 0
