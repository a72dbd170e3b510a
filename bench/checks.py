"""Byte-for-byte answer checks, run before every measured run.

Status and body are compared exactly; headers are not (date, server and the
like differ between servers). A server that answers wrongly gets no number.
For h2 and ws the same check is the capability probe: a server that cannot
speak the protocol fails it and its row reads "not supported".
"""

from __future__ import annotations

import http.client
import io
import socket
from contextlib import nullcontext
from pathlib import Path
from typing import Any, BinaryIO

from bench import tls, ws_client
from bench.scenarios import Scenario

TIMEOUT = 5.0


class _KeepOpen(io.BufferedReader):
    """A socket reader that ``HTTPResponse`` cannot close, so that several
    responses (a pipelined batch) can be read from it in turn."""

    def close(self) -> None:
        pass


class _SharedSocket:
    def __init__(self, reader: _KeepOpen) -> None:
        self.reader = reader

    def makefile(self, *args: Any, **kwargs: Any) -> BinaryIO:
        return self.reader


def http1_request(scenario: Scenario, host: str, port: int) -> bytes:
    head = (
        f"{scenario.method} {scenario.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"User-Agent: fastcorn-bench-check\r\n"
    )
    if scenario.body or scenario.method == "POST":
        head += f"Content-Length: {len(scenario.body)}\r\n"
    if scenario.close:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + scenario.body


def check_http1(scenario: Scenario, host: str, port: int, cert: Path | None = None) -> str | None:
    """The scenario's request(s) on one connection; over TLS (``cert``, bench/tls.py) the
    server's certificate is verified against it."""
    count = max(1, scenario.pipeline)
    if scenario.tls and cert is None:
        return "a TLS scenario needs the certificate to check against"
    try:
        with (
            socket.create_connection((host, port), timeout=TIMEOUT) as raw,
            tls.wrap(raw, cert, host) if cert and scenario.tls else nullcontext(raw) as sock,
        ):
            sock.sendall(http1_request(scenario, host, port) * count)
            shared = _SharedSocket(_KeepOpen(socket.SocketIO(sock, "rb")))
            for i in range(count):
                response = http.client.HTTPResponse(shared)  # type: ignore[arg-type]
                response.begin()
                body = response.read()
                if response.status != 200:
                    return f"response {i + 1}: status {response.status}"
                if body != scenario.expected:
                    return f"response {i + 1}: body {body[:60]!r} ({len(body)} bytes) differs"
    except (OSError, http.client.HTTPException) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def check_h2(scenario: Scenario, host: str, port: int, cert: Path | None = None) -> str | None:
    """One GET over h2c with prior knowledge, or over TLS with ALPN h2 (the server's
    certificate verified against ``cert``), using the h2 library."""
    import h2.config
    import h2.connection
    import h2.events

    if scenario.tls and cert is None:
        return "a TLS scenario needs the certificate to check against"
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    status = None
    body = b""
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT) as raw, (
            tls.wrap(raw, cert, host, alpn=["h2"]) if cert and scenario.tls else nullcontext(raw)
        ) as sock:
            if scenario.tls and sock.selected_alpn_protocol() != "h2":  # type: ignore[union-attr]
                return f"ALPN chose {sock.selected_alpn_protocol()!r}, not h2"  # type: ignore[union-attr]
            sock.sendall(conn.data_to_send())
            stream_id = conn.get_next_available_stream_id()
            headers = [
                (":method", "GET"),
                (":path", scenario.path),
                (":scheme", scenario.scheme),
                (":authority", f"{host}:{port}"),
            ]
            conn.send_headers(stream_id, headers, end_stream=True)
            sock.sendall(conn.data_to_send())
            while True:
                data = sock.recv(65536)
                if not data:
                    return "connection closed: no h2c with prior knowledge"
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        status = dict(event.headers).get(b":status")
                    elif isinstance(event, h2.events.DataReceived):
                        body += event.data
                        conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        if status != b"200":
                            return f"status {status!r}"
                        if body != scenario.expected:
                            return f"body {body[:60]!r} differs"
                        return None
                    elif isinstance(event, (h2.events.ConnectionTerminated, h2.events.StreamReset)):
                        return f"h2 {type(event).__name__}"
                sock.sendall(conn.data_to_send())
    except Exception as exc:  # a non-h2 peer makes h2 raise protocol errors of many kinds
        what = "no h2 by ALPN" if scenario.tls else "no h2c with prior knowledge"
        return f"{what} ({type(exc).__name__}: {exc})"


def check(scenario: Scenario, host: str, port: int, cert: Path | None = None) -> str | None:
    try:
        return _check(scenario, host, port, cert)
    except Exception as exc:  # a check must never stop the suite
        return f"check failed: {type(exc).__name__}: {exc}"


def _check(scenario: Scenario, host: str, port: int, cert: Path | None) -> str | None:
    if scenario.tool == "h2load":
        return check_h2(scenario, host, port, cert)
    if scenario.tool == "ws":
        return ws_client.check(host, port, scenario.path, len(scenario.expected),
                               text=scenario.ws_text, deflate=scenario.ws_deflate)
    return check_http1(scenario, host, port, cert)
