"""Metrics: a Prometheus text endpoint on its own listener, and statsd/DogStatsD.

The per-request counting is compiled (:class:`fastcorn.asgi.metrics.RequestMetrics`, the
cycle's ``log_request`` hook); this module installs it, reads it, and reports:

- ``--metrics-bind HOST:PORT``: ``GET /metrics`` (any path) answers the Prometheus text
  format (version 0.0.4) from a small thread of its own, so a scrape never waits on, or
  slows, the event loop serving the app.
- ``--statsd-host HOST:PORT``: once a second, counter deltas, gauges and a sample of
  request durations go out in UDP datagrams: plain statsd (labels in the metric name) or,
  with ``--statsd-dogstatsd`` or ``--statsd-tags``, DogStatsD (labels as tags).

Series (Prometheus names; statsd drops the ``fastcorn_`` prefix for ``--statsd-prefix``):
``fastcorn_requests_total{method,status,protocol}``,
``fastcorn_request_duration_seconds`` (histogram), ``fastcorn_requests_in_flight``,
``fastcorn_connections_open``, ``fastcorn_connections_accepted_total``,
``fastcorn_request_body_bytes_total``, ``fastcorn_response_body_bytes_total``,
``fastcorn_rejected_requests_total{status}``,
``fastcorn_websocket_messages_total{direction}``; with a supervisor also
``fastcorn_workers`` and ``fastcorn_worker_restarts_total{reason}``.

With workers (:mod:`fastcorn.supervisor`) the supervisor owns the endpoint and the statsd
sender: each worker counts as one process does and sends its cumulative counts to the
supervisor from its heartbeat (:meth:`Metrics.snapshot`), which sums them
(:class:`FleetMetrics`). The request path of a worker is the same as one process'.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from fastcorn.asgi.cycle import HTTPCycle, ServerState
from fastcorn.asgi.metrics import BUCKETS, RequestMetrics

if TYPE_CHECKING:
    from fastcorn.config import MetricsSettings

logger = logging.getLogger("fastcorn.error")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATSD_PACKET = 1400  # bytes per datagram, under a common MTU
SAMPLE_LIMIT = 256  # durations sent per statsd flush (the recorder keeps as many)
SAMPLES_KEPT = 4 * SAMPLE_LIMIT  # a supervisor's, gathered from its workers per flush


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


# One sample: (name, type, labels, value); a histogram comes as its parts.
Series = tuple[str, str, dict[str, str], float]

# Every family, in the order the endpoint shows them: (family, type, help).
FAMILIES = (
    ("fastcorn_requests_total", "counter",
     "Requests completed, by method, status class and HTTP version."),
    ("fastcorn_request_duration_seconds", "histogram",
     "Time from the request to the end of its response."),
    ("fastcorn_requests_in_flight", "gauge", "Requests whose response is not complete."),
    ("fastcorn_connections_open", "gauge", "Connections open now."),
    ("fastcorn_connections_accepted_total", "counter", "Connections accepted."),
    ("fastcorn_request_body_bytes_total", "counter", "Request body bytes received."),
    ("fastcorn_response_body_bytes_total", "counter", "Response body bytes sent."),
    ("fastcorn_rejected_requests_total", "counter",
     "Requests the server answered itself with an error, by status."),
    ("fastcorn_websocket_messages_total", "counter", "WebSocket messages, by direction."),
    ("fastcorn_workers", "gauge", "Worker processes serving (with a supervisor)."),
    ("fastcorn_worker_restarts_total", "counter",
     "Worker processes started in place of another, by reason."),
)
# Families declared even with no sample yet (scrapers like stable sets); a supervisor's
# show every restart reason, from 0.
ALWAYS_DECLARED = ("fastcorn_requests_total", "fastcorn_rejected_requests_total")
# fastcorn_worker_restarts_total{reason}: why the supervisor started a worker in place of
# another (each attempt counts: a worker failing at startup again and again shows here).
RESTART_REASONS = ("died", "unresponsive", "startup_failed", "max_requests",
                   "max_worker_memory", "rolling_restart")


def _family(name: str, kind: str) -> str:
    if kind == "histogram":
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix):
                return name[: -len(suffix)]
    return name


class MetricsSource:
    """What the endpoint and statsd read: one process' counts (:class:`Metrics`) or a
    supervisor's sum over its workers (:class:`FleetMetrics`)."""

    def __init__(self) -> None:
        self._sent: dict[str, float] = {}  # statsd: counter values at the last flush

    def counters(self) -> list[Series]:
        """Every series as (name, type, labels, value); a histogram's as its parts."""
        raise NotImplementedError

    def take_samples(self) -> tuple[list[float], int]:
        """Request durations kept since the last call, and how many requests they stand
        for (statsd timings)."""
        raise NotImplementedError

    def prometheus_text(self) -> str:
        blocks: dict[str, list[str]] = {family: [] for family, _, _ in FAMILIES}
        for name, kind, labels, value in self.counters():
            text = ",".join(f'{key}="{_label(val)}"' for key, val in labels.items())
            number = repr(float(value)) if isinstance(value, float) else str(value)
            line = f"{name}{{{text}}} {number}" if text else f"{name} {number}"
            blocks.setdefault(_family(name, kind), []).append(line)
        lines: list[str] = []
        for family, kind, help_text in FAMILIES:
            if blocks[family] or family in ALWAYS_DECLARED:
                lines.append(f"# HELP {family} {help_text}")
                lines.append(f"# TYPE {family} {kind}")
                lines.extend(blocks[family])
        return "\n".join(lines) + "\n"

    def statsd_lines(self, prefix: str, dogstatsd: bool, tags: tuple[str, ...]) -> list[str]:
        """What changed since the last call, as statsd lines."""
        out: list[str] = []
        constant = list(tags)

        def line(name: str, value: float, kind: str, labels: dict[str, str],
                 rate: float = 1.0) -> str:
            sample = f"|@{rate:.4g}" if rate < 1.0 else ""
            if dogstatsd:
                all_tags = constant + [f"{k}:{v}" for k, v in labels.items()]
                suffix = f"|#{','.join(all_tags)}" if all_tags else ""
                return f"{prefix}.{name}:{value:g}|{kind}{sample}{suffix}"
            path = ".".join([name, *(v.replace(".", "_") for v in labels.values())])
            return f"{prefix}.{path}:{value:g}|{kind}{sample}"

        for name, kind, labels, value in self.counters():
            short = name.removeprefix("fastcorn_")
            if kind == "histogram":
                continue  # durations go out as timings below
            if kind == "gauge":
                out.append(line(short, float(value), "g", labels))
                continue
            short = short.removesuffix("_total")
            key = short + repr(sorted(labels.items()))
            delta = float(value) - self._sent.get(key, 0.0)
            self._sent[key] = float(value)
            if delta:
                out.append(line(short, delta, "c", labels))
        samples, total = self.take_samples()
        if samples:
            rate = len(samples) / total if total else 1.0
            for duration in samples:
                out.append(line("request_duration_ms", round(duration * 1000.0, 3), "ms", {},
                                rate))
        return out


class Metrics(MetricsSource):
    """One server's metrics: the recorder, and the state gauges are read from."""

    def __init__(self, state: ServerState, recorder: RequestMetrics) -> None:
        super().__init__()
        self.state = state
        self.recorder = recorder

    def counters(self) -> list[Series]:
        rec = self.recorder
        series: list[Series] = []
        for (method, status, protocol), count in sorted(dict(rec.requests).items()):
            series.append(("fastcorn_requests_total", "counter",
                           {"method": method, "status": status, "protocol": protocol}, count))
        counts, total, count = rec.histogram()
        for bound, cumulative in zip((*BUCKETS, float("inf")), counts, strict=True):
            le = "+Inf" if bound == float("inf") else repr(bound)
            series.append(("fastcorn_request_duration_seconds_bucket", "histogram",
                           {"le": le}, cumulative))
        series.append(("fastcorn_request_duration_seconds_sum", "histogram", {}, total))
        series.append(("fastcorn_request_duration_seconds_count", "histogram", {}, count))
        state = self.state
        series.append(("fastcorn_requests_in_flight", "gauge", {}, state.active_requests))
        series.append(("fastcorn_connections_open", "gauge", {}, len(state.connections)))
        series.append(("fastcorn_connections_accepted_total", "counter", {},
                       rec.connections_accepted))
        series.append(("fastcorn_request_body_bytes_total", "counter", {}, rec.bytes_in))
        series.append(("fastcorn_response_body_bytes_total", "counter", {}, rec.bytes_out))
        for code, rejected in sorted(dict(rec.rejected).items()):
            series.append(("fastcorn_rejected_requests_total", "counter",
                           {"status": str(code)}, rejected))
        for direction, messages in sorted(dict(rec.websocket_messages).items()):
            series.append(("fastcorn_websocket_messages_total", "counter",
                           {"direction": direction}, messages))
        return series

    def take_samples(self) -> tuple[list[float], int]:
        return self.recorder.take_samples()

    def snapshot(self) -> bytes:
        """This worker's counts for its supervisor (:meth:`FleetMetrics.update`): every
        series, cumulative, and the durations kept since the last snapshot, as JSON."""
        samples, total = self.take_samples()
        return json.dumps({"series": self.counters(), "samples": samples, "sampled": total},
                          separators=(",", ":")).encode()


class FleetMetrics(MetricsSource):
    """A supervisor's metrics: the sum of its workers' snapshots, and its own counts.

    Each worker sends its cumulative counts every heartbeat (:meth:`Metrics.snapshot`),
    the last one after it drained. A worker that exits leaves its last counters (not its
    gauges) in ``gone``, so a total never goes down when a worker dies or is recycled, as
    Prometheus expects of a counter; what a killed worker counted after its last snapshot
    (at most one heartbeat) is lost. Read from the endpoint's thread, written from the
    supervisor's loop: one lock.
    """

    def __init__(self, serving: Callable[[], int], keep_samples: bool) -> None:
        super().__init__()
        self.serving = serving  # workers serving now (the fastcorn_workers gauge)
        self.keep_samples = keep_samples
        self.lock = threading.Lock()
        self.live: dict[int, list[Series]] = {}  # worker PID -> its last snapshot
        self.gone: dict[tuple[str, str], Series] = {}  # counters of exited workers
        self.restarts = dict.fromkeys(RESTART_REASONS, 0)
        self.samples: list[float] = []
        self.sampled = 0

    def update(self, pid: int, payload: bytes) -> None:
        try:
            data = json.loads(payload)
            series = [(str(name), str(kind), dict(labels), value)
                      for name, kind, labels, value in data["series"]]
        except (ValueError, TypeError, KeyError):
            logger.warning("Worker [%d] sent unreadable metrics: ignored.", pid)
            return
        with self.lock:
            self.live[pid] = series
            if self.keep_samples and len(self.samples) < SAMPLES_KEPT:
                self.samples.extend(data.get("samples", ())[: SAMPLES_KEPT - len(self.samples)])
            self.sampled += int(data.get("sampled", 0))

    def worker_exited(self, pid: int) -> None:
        """Keep the counters of a worker that is gone in the totals."""
        with self.lock:
            series = self.live.pop(pid, None)
            if series is not None:
                _add(self.gone, series, gauges=False)

    def restarted(self, reason: str) -> None:
        with self.lock:
            self.restarts[reason] = self.restarts.get(reason, 0) + 1

    def counters(self) -> list[Series]:
        with self.lock:
            total = dict(self.gone)
            for series in self.live.values():
                _add(total, series, gauges=True)
            restarts = dict(self.restarts)
        merged = list(total.values())
        merged.append(("fastcorn_workers", "gauge", {}, self.serving()))
        merged.extend(("fastcorn_worker_restarts_total", "counter", {"reason": reason}, count)
                      for reason, count in restarts.items())
        return merged

    def take_samples(self) -> tuple[list[float], int]:
        with self.lock:
            samples, total = self.samples, self.sampled
            self.samples, self.sampled = [], 0
        if len(samples) > SAMPLE_LIMIT:  # an even sample of every worker's durations
            samples = random.sample(samples, SAMPLE_LIMIT)
        return samples, total


def _add(total: dict[tuple[str, str], Series], series: list[Series], gauges: bool) -> None:
    """Sum ``series`` into ``total``, keyed by name and labels (first seen, first shown)."""
    for name, kind, labels, value in series:
        if kind == "gauge" and not gauges:
            continue
        key = (name, repr(labels))
        if key in total:
            value = total[key][3] + value
        total[key] = (name, kind, labels, value)


# -- the Prometheus listener ---------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _MetricsHTTPServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.server.metrics.prometheus_text().encode()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # scrapes are not access-logged


class _MetricsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sock: socket.socket, metrics: MetricsSource) -> None:
        self.metrics = metrics
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock


class MetricsListener:
    """The Prometheus endpoint on a socket bound by the server (``--metrics-bind``)."""

    def __init__(self, sock: socket.socket, metrics: MetricsSource) -> None:
        sock.setblocking(True)
        self.httpd = _MetricsHTTPServer(sock, metrics)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={
            "poll_interval": 0.2}, name="fastcorn-metrics", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(2)


class StatsdSender:
    """Sends the metrics' changes once a second (the server's tick calls flush)."""

    def __init__(self, metrics: MetricsSource, settings: MetricsSettings) -> None:
        from fastcorn.config import split_host_port

        assert settings.statsd_host is not None
        host, port = split_host_port(settings.statsd_host)
        self.metrics = metrics
        self.prefix = settings.statsd_prefix
        self.dogstatsd = settings.statsd_dogstatsd or bool(settings.statsd_tags)
        self.tags = settings.statsd_tags
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.address = (host, port)
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)

    def flush(self) -> None:
        lines = self.metrics.statsd_lines(self.prefix, self.dogstatsd, self.tags)
        packet = ""
        for line in lines:
            if packet and len(packet) + 1 + len(line) > STATSD_PACKET:
                self._send(packet)
                packet = ""
            packet = f"{packet}\n{line}" if packet else line
        if packet:
            self._send(packet)

    def _send(self, packet: str) -> None:
        try:
            self.sock.sendto(packet.encode(), self.address)
        except OSError:
            pass  # no statsd listening, a full buffer: metrics never stop the server

    def close(self) -> None:
        self.sock.close()


def install(state: ServerState, keep_samples: bool,
            access_hook: Callable[[HTTPCycle], Any] | None) -> Metrics:
    """Count every request of ``state``: the recorder becomes its ``observer``, which then
    calls ``access_hook`` (the access log, when on). The rejected-request and
    connection hooks are wrapped to count too."""
    recorder = RequestMetrics(access_hook, keep_samples)
    metrics = Metrics(state, recorder)
    # The cycle times a request and calls its hooks only while its access log is on.
    if not state.access_log or state.log_access is None:
        state.access_log = True
        state.log_access = _never
    state.observer = recorder
    rejected = state.log_rejected

    def log_rejected(client: Any, status: int, *args: Any) -> None:
        recorder.rejected_request(status)
        if rejected is not None:
            rejected(client, status, *args)

    state.log_rejected = log_rejected
    connection = state.log_connection

    def log_connection(event: str, *args: Any) -> None:
        if event == "connection open":
            recorder.connection_accepted()
        if connection is not None:
            connection(event, *args)

    state.log_connection = log_connection
    return metrics


def _never(*args: Any) -> None:
    """``state.log_access`` when only metrics want the per-request hook: the cycle calls
    the observer instead, never this."""
