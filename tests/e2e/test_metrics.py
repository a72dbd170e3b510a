"""Metrics on every backend: the Prometheus endpoint parsed by prometheus_client's own
parser, and statsd/DogStatsD datagrams received on a UDP socket of the test."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.proxies import free_port, get

APP = "tests.apps.proxied:app"


def scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = \
                sample.value
    return found


def traffic(port: int) -> None:
    for _ in range(3):
        assert get(port, "/a", source="127.0.0.1").status == 200
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /p HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n"
                     b"connection: close\r\n\r\nhello")
        while sock.recv(65536):
            pass
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nbad header\r\n\r\n")  # answered 400 by the server
        while sock.recv(65536):
            pass


def test_prometheus_endpoint(serve) -> None:
    metrics_port = free_port()
    server = serve(APP, "--metrics-bind", f"127.0.0.1:{metrics_port}", tls=None)
    server.wait_for_output(rf"Prometheus metrics on http://127\.0\.0\.1:{metrics_port}/metrics")
    traffic(server.port)
    found = scrape(metrics_port)
    requests = found["fastcorn_requests_total"]
    assert requests[(("method", "GET"), ("protocol", "1.1"), ("status", "2xx"))] == 3
    assert requests[(("method", "POST"), ("protocol", "1.1"), ("status", "2xx"))] == 1
    assert found["fastcorn_request_duration_seconds_count"][()] == 4
    assert found["fastcorn_request_duration_seconds_bucket"][(("le", "+Inf"),)] == 4
    assert 0 < found["fastcorn_request_duration_seconds_sum"][()] < 5
    assert found["fastcorn_request_body_bytes_total"][()] == 5
    assert found["fastcorn_response_body_bytes_total"][()] > 100
    assert found["fastcorn_rejected_requests_total"][(("status", "400"),)] == 1
    assert found["fastcorn_connections_accepted_total"][()] == 5
    assert found["fastcorn_requests_in_flight"][()] == 0
    assert "fastcorn_worker_restarts_total" not in found  # a supervisor's (workers)
    assert found["fastcorn_websocket_messages_total"][(("direction", "in"),)] == 0
    # the access log still writes its lines (metrics chain to it)
    server.wait_for_output(r'"POST /p HTTP/1\.1" 200')
    # a connection held open shows as open
    with socket.create_connection(("127.0.0.1", server.port), timeout=5):
        time.sleep(0.2)
        assert scrape(metrics_port)["fastcorn_connections_open"][()] == 1
    assert server.stop() == 0


def test_metrics_without_access_log(serve) -> None:
    metrics_port = free_port()
    server = serve(APP, "--metrics-bind", f"127.0.0.1:{metrics_port}", "--no-access-log",
                   tls=None)
    mark = server.mark()
    assert get(server.port, "/quiet", source="127.0.0.1").status == 200
    found = scrape(metrics_port)
    assert sum(found["fastcorn_requests_total"].values()) == 1
    assert "/quiet" not in server.output_since(mark)


def test_metrics_bind_failure_is_reported(serve) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = serve(APP, "--metrics-bind", f"127.0.0.1:{port}", ready=False, tls=None)
        assert server.wait(20) == 1
    assert f"Cannot bind 127.0.0.1:{port} (--metrics-bind): address already in use" in \
        server.stderr


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def receive_lines(sock: socket.socket, until: Any, timeout: float = 5.0) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            lines += sock.recv(65536).decode().splitlines()
        except TimeoutError:
            pass
        if until(lines):
            return lines
    raise AssertionError(f"statsd lines never matched; got {lines}")


def test_statsd(serve, udp: socket.socket) -> None:
    port = udp.getsockname()[1]
    server = serve(APP, "--statsd-host", f"127.0.0.1:{port}", "--statsd-prefix", "web",
                   tls=None)
    traffic(server.port)
    lines = receive_lines(udp, lambda got: "web.requests.GET.2xx.1_1:3|c" in got)
    assert "web.requests.POST.2xx.1_1:1|c" in lines
    assert "web.rejected_requests.400:1|c" in lines
    assert "web.request_body_bytes:5|c" in lines
    assert any(line.startswith("web.request_duration_ms:") and line.endswith("|ms")
               for line in lines)
    assert "web.requests_in_flight:0|g" in lines
    # counters are deltas: one more request is +1, not the total
    assert get(server.port, "/b", source="127.0.0.1").status == 200
    receive_lines(udp, lambda got: "web.requests.GET.2xx.1_1:1|c" in got)


def test_dogstatsd_tags(serve, udp: socket.socket) -> None:
    port = udp.getsockname()[1]
    server = serve(APP, "--statsd-host", f"127.0.0.1:{port}", "--statsd-tags", "env:test",
                   "--statsd-tags", "service:api", tls=None)
    assert get(server.port, "/a", source="127.0.0.1").status == 200
    lines = receive_lines(udp, lambda got: any(x.startswith("fastcorn.requests:") for x in got))
    assert "fastcorn.requests:1|c|#env:test,service:api,method:GET,status:2xx,protocol:1.1" \
        in lines
