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
``fastcorn_websocket_messages_total{direction}``, ``fastcorn_worker_restarts_total``.
"""

from __future__ import annotations

import logging
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


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """One server's metrics: the recorder, and the state gauges are read from."""

    def __init__(self, state: ServerState, recorder: RequestMetrics) -> None:
        self.state = state
        self.recorder = recorder
        self.worker_restarts = 0  # a supervisor sets it (one process: always 0)
        self._sent: dict[str, float] = {}  # statsd: counter values at the last flush

    # -- reading ---------------------------------------------------------------------------

    def counters(self) -> list[tuple[str, str, dict[str, str], float]]:
        """Every series as (name, type, labels, value); a histogram's as its parts."""
        rec = self.recorder
        series: list[tuple[str, str, dict[str, str], float]] = []
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
        series.append(("fastcorn_worker_restarts_total", "counter", {}, self.worker_restarts))
        return series

    def prometheus_text(self) -> str:
        helps = {
            "fastcorn_requests_total": "Requests completed, by method, status class and "
                                       "HTTP version.",
            "fastcorn_request_duration_seconds": "Time from the request to the end of its "
                                                 "response.",
            "fastcorn_requests_in_flight": "Requests whose response is not complete.",
            "fastcorn_connections_open": "Connections open now.",
            "fastcorn_connections_accepted_total": "Connections accepted.",
            "fastcorn_request_body_bytes_total": "Request body bytes received.",
            "fastcorn_response_body_bytes_total": "Response body bytes sent.",
            "fastcorn_rejected_requests_total": "Requests the server answered itself with "
                                                "an error, by status.",
            "fastcorn_websocket_messages_total": "WebSocket messages, by direction.",
            "fastcorn_worker_restarts_total": "Worker processes restarted.",
        }
        lines: list[str] = []
        declared: set[str] = set()
        for name, kind, labels, value in self.counters():
            family = name
            if kind == "histogram":
                family = name.rsplit("_", 1)[0]
                if family.endswith("_seconds_bucket"):
                    family = family[: -len("_bucket")]
            if family not in declared:
                declared.add(family)
                lines.append(f"# HELP {family} {helps[family]}")
                lines.append(f"# TYPE {family} {kind}")
            text = ",".join(f'{key}="{_label(val)}"' for key, val in labels.items())
            number = repr(float(value)) if isinstance(value, float) else str(value)
            lines.append(f"{name}{{{text}}} {number}" if text else f"{name} {number}")
        # families with no sample yet still declare themselves (scrapers like stable sets)
        for family in ("fastcorn_requests_total", "fastcorn_rejected_requests_total"):
            if family not in declared:
                lines.append(f"# HELP {family} {helps[family]}")
                lines.append(f"# TYPE {family} counter")
        return "\n".join(lines) + "\n"

    # -- statsd ---------------------------------------------------------------------------

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
        samples, total = self.recorder.take_samples()
        if samples:
            rate = len(samples) / total if total else 1.0
            for duration in samples:
                out.append(line("request_duration_ms", round(duration * 1000.0, 3), "ms", {},
                                rate))
        return out


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

    def __init__(self, sock: socket.socket, metrics: Metrics) -> None:
        self.metrics = metrics
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock


class MetricsListener:
    """The Prometheus endpoint on a socket bound by the server (``--metrics-bind``)."""

    def __init__(self, sock: socket.socket, metrics: Metrics) -> None:
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

    def __init__(self, metrics: Metrics, settings: MetricsSettings) -> None:
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
