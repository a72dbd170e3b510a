"""Metrics with workers, on every backend: one endpoint (and one statsd sender) for all.

The supervisor owns ``--metrics-bind``; each worker sends its cumulative counts with every
heartbeat (``--timeout-worker-healthcheck 1``: every 0.25 s here) and once more after it
drained. The endpoint is parsed with prometheus_client's parser; the requests it reports
are checked against what the clients saw, worker by worker (the app answers its PID).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.proxies import free_port
from tests.e2e.test_metrics import scrape
from tests.e2e.test_workers import FAST, Load, get, wait_serving, worker_pids

pytestmark = pytest.mark.timeout(60)

APP = "tests.apps.workers:app"
GET_200 = (("method", "GET"), ("protocol", "1.1"), ("status", "2xx"))


def requests_total(port: int) -> float:
    return scrape(port).get("fastcorn_requests_total", {}).get(GET_200, 0.0)


def restarts(port: int, reason: str) -> float:
    return scrape(port)["fastcorn_worker_restarts_total"][(("reason", reason),)]


def eventually(read: Callable[[], float], expected: float, timeout: float = 10.0) -> None:
    """Until ``read()`` gives ``expected`` (snapshots arrive every heartbeat)."""
    deadline = time.monotonic() + timeout
    while (value := read()) != expected:
        assert time.monotonic() < deadline, f"{value} != {expected}"
        time.sleep(0.05)


def start(serve, *args: str):  # type: ignore[no-untyped-def]
    metrics_port = free_port()
    server = serve(APP, "--workers", "2", "--metrics-bind", f"127.0.0.1:{metrics_port}",
                   *FAST, "--no-access-log", *args, tls=None)
    wait_serving(server, 2)
    server.wait_for_output(rf"Prometheus metrics of every worker on "
                           rf"http://127\.0\.0\.1:{metrics_port}/metrics")
    return server, metrics_port


def load_both_workers(port: int, server) -> Load:  # type: ignore[no-untyped-def]
    """Requests until both workers answered some; returns the finished load."""
    with Load(port, threads=8) as load:
        load.wait_for(200)
        deadline = time.monotonic() + 20
        while len(load.pids) < 2:
            assert time.monotonic() < deadline, load.pids
            time.sleep(0.02)
    assert not load.failures, load.failures[:5]
    assert set(load.pids) == worker_pids(server)
    return load


@pytest.mark.parametrize("mode", ["shared", "reuse-port"])
def test_one_endpoint_sums_every_worker(serve, mode):
    server, metrics_port = start(serve, *(["--reuse-port"] if mode == "reuse-port" else []))
    load = load_both_workers(server.port, server)
    total = sum(load.pids.values())
    assert min(load.pids.values()) > 0  # each worker's share is in the sum below
    eventually(lambda: requests_total(metrics_port), total)
    found = scrape(metrics_port)
    assert found["fastcorn_request_duration_seconds_count"][()] == total
    assert found["fastcorn_request_duration_seconds_bucket"][(("le", "+Inf"),)] == total
    assert found["fastcorn_connections_accepted_total"][()] == total  # one per request
    assert found["fastcorn_response_body_bytes_total"][()] == sum(
        len(f"{pid} v1") * count for pid, count in load.pids.items())
    assert found["fastcorn_workers"][()] == 2
    assert set(found["fastcorn_worker_restarts_total"].values()) == {0}

    # gauges are summed too: slow requests held open on the workers
    holders = [threading.Thread(target=get, args=(server.port, "/slow?delay=2"))
               for _ in range(6)]
    for holder in holders:
        holder.start()
    eventually(lambda: scrape(metrics_port)["fastcorn_requests_in_flight"][()], 6)
    assert scrape(metrics_port)["fastcorn_connections_open"][()] == 6
    for holder in holders:
        holder.join(10)
    eventually(lambda: scrape(metrics_port)["fastcorn_requests_in_flight"][()], 0)
    eventually(lambda: requests_total(metrics_port), total + 6)
    assert server.stop() == 0


class Scraper:
    """Scrapes the endpoint in a loop; ``totals`` is every requests total it read."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.totals: list[float] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopping.is_set():
            self.totals.append(requests_total(self.port))
            time.sleep(0.02)

    def __enter__(self) -> Scraper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(10)


def test_killed_worker_counts_a_restart_and_no_counter_goes_down(serve):
    server, metrics_port = start(serve)
    load = load_both_workers(server.port, server)
    eventually(lambda: requests_total(metrics_port), sum(load.pids.values()))
    victim = sorted(worker_pids(server))[0]
    with Scraper(metrics_port) as scraper, Load(server.port) as more:
        more.wait_for(50)
        mark = server.mark()
        os.kill(victim, signal.SIGKILL)
        eventually(lambda: restarts(metrics_port, "died"), 1)
        wait_serving(server, 2, mark, timeout=15)
        more.wait_for(100)
    # Every scrape read at least what the one before it did (the killed worker's counts
    # stayed in the total), and the total kept growing after the restart.
    assert scraper.totals == sorted(scraper.totals), scraper.totals
    assert scraper.totals[-1] > scraper.totals[0]
    # Only what the killed worker counted after its last snapshot (at most a heartbeat
    # of its requests) may be missing from the total: the others' are all there.
    survivors = sum(count for pid, count in more.pids.items() if pid != victim)
    floor = sum(load.pids.values()) + survivors
    eventually(lambda: float(requests_total(metrics_port) >= floor), 1.0)
    assert requests_total(metrics_port) <= floor + more.pids[victim]
    found = scrape(metrics_port)
    assert found["fastcorn_workers"][()] == 2
    assert found["fastcorn_worker_restarts_total"][(("reason", "died"),)] == 1
    assert found["fastcorn_worker_restarts_total"][(("reason", "unresponsive"),)] == 0
    assert server.stop() == 0


def test_recycled_workers_lose_no_count(serve):
    # A worker retired by --max-requests drains and sends its final counts before it
    # exits: the total is exact across recycling.
    server, metrics_port = start(serve, "--max-requests", "40")
    with Load(server.port) as load:
        deadline = time.monotonic() + 30
        while server.stderr.count("replaced by worker") < 2:
            assert time.monotonic() < deadline, server.stderr
            time.sleep(0.05)
    assert not load.failures, load.failures[:5]
    assert len(load.pids) >= 3
    eventually(lambda: requests_total(metrics_port), sum(load.pids.values()))
    assert restarts(metrics_port, "max_requests") >= 2
    assert restarts(metrics_port, "died") == 0
    assert server.stop() == 0


def test_rolling_restart_is_counted(serve):
    server, metrics_port = start(serve)
    mark = server.mark()
    server.send_signal(signal.SIGHUP)
    server.wait_for_output(r"Rolling restart complete: 2 workers serving", 30, mark)
    assert restarts(metrics_port, "rolling_restart") == 2
    assert get(server.port)[0] == 200
    eventually(lambda: requests_total(metrics_port), 1)
    assert server.stop() == 0


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def test_statsd_has_one_sender_the_supervisor(serve, udp):
    port = udp.getsockname()[1]
    server = serve(APP, "--workers", "2", "--statsd-host", f"127.0.0.1:{port}", *FAST,
                   "--no-access-log", tls=None)
    wait_serving(server, 2)
    load = load_both_workers(server.port, server)
    total = sum(load.pids.values())
    senders: set[tuple[str, int]] = set()
    counted = 0
    gauges: dict[str, str] = {}
    timings = 0
    deadline = time.monotonic() + 10
    while counted < total:
        assert time.monotonic() < deadline, f"statsd counted {counted} of {total}"
        try:
            packet, sender = udp.recvfrom(65536)
        except TimeoutError:
            continue
        senders.add(sender)
        for line in packet.decode().splitlines():
            name, _, rest = line.partition(":")
            value, kind = rest.split("|")[:2]
            if name == "fastcorn.requests.GET.2xx.1_1":
                assert kind == "c"
                counted += int(float(value))  # deltas: they add up to the total
            elif kind == "g":
                gauges[name] = value
            elif name == "fastcorn.request_duration_ms":
                timings += 1
    assert counted == total
    assert len(senders) == 1  # one sender: the supervisor, not one per worker
    assert gauges["fastcorn.workers"] == "2"
    assert gauges["fastcorn.requests_in_flight"] == "0"
    assert timings > 0  # durations from the workers, sampled, sent by the supervisor
    assert server.stop() == 0


def test_metrics_bind_failure_stops_before_any_worker(serve, backend):
    if backend != "asyncio":
        pytest.skip("the supervisor binds before any worker starts; one backend is enough")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = serve(APP, "--workers", "2", "--metrics-bind", f"127.0.0.1:{port}",
                       ready=False, tls=None)
        assert server.wait(20) == 1
    assert f"Cannot bind 127.0.0.1:{port} (--metrics-bind): address already in use" in \
        server.stderr
    assert "Started worker" not in server.stderr
