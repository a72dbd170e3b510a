"""The PROXY protocol ahead of TLS (--proxy-protocol on a TLS listener), on every backend,
from raw sockets speaking for a balancer that passes TLS through: the preamble in cleartext,
then the client's own TLS handshake.

tests/e2e/test_behind_haproxy.py has the real HAProxy do the same (passthrough and
re-encryption); tests/e2e/test_proxy_protocol.py is the cleartext side.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest

from tests.e2e.rawhttp import request
from tests.e2e.test_proxy_protocol import (
    V1,
    assert_shutdown_with_a_partial_preamble,
    bodies,
    exchange,
    read_all,
)
from tests.e2e.tlsraw import PreambledTLS, client_hello
from tests.protocol.test_proxy_protocol import ssl_tlv, tlv, v2

APP = "tests.apps.proxied:app"
CLOSE = [("connection", "close")]
PROXIED = {"client": ["203.0.113.7", 4711], "server": ["198.51.100.2", 443]}


@pytest.fixture
def tls_proxied(serve, tls_certs) -> Any:
    """A TLS server with --proxy-protocol and a 1 s handshake timeout."""
    return serve(APP, "--proxy-protocol", "--ssl-handshake-timeout", "1", tls=tls_certs)


def https_get(server: Any, preamble: bytes, *, split: bool = False,
              path: str = "/") -> list[dict[str, Any]]:
    context = server.tls.client_context()
    with PreambledTLS(server.port, preamble, context, split=split) as conn:
        assert conn.alpn in (None, "http/1.1")
        conn.sendall(request("GET", path) + request("GET", path + "2", CLOSE))
        return bodies(conn.read_all())


@pytest.mark.parametrize("preamble", [V1, v2(), v2(tlvs=tlv(0x01, b"h2"), crc=True)],
                         ids=["v1", "v2", "v2-tlvs-crc"])
def test_preamble_and_client_hello_in_one_write(tls_proxied, preamble: bytes) -> None:
    for seen in https_get(tls_proxied, preamble):
        assert {k: seen[k] for k in PROXIED} == PROXIED
        assert seen["scheme"] == "https"  # the connection's own TLS, whatever the preamble
    tls_proxied.wait_for_output(r'^203\.0\.113\.7:4711 - "GET /2 HTTP/1\.1" 200')


@pytest.mark.parametrize("preamble", [V1, v2(tlvs=ssl_tlv(cn=b"client"), crc=True)],
                         ids=["v1", "v2"])
def test_preamble_and_client_hello_byte_by_byte(serve, tls_certs, preamble: bytes) -> None:
    # The default handshake timeout (10 s): a byte a millisecond takes most of a second.
    server = serve(APP, "--proxy-protocol", tls=tls_certs)
    (first, second) = https_get(server, preamble, split=True)
    assert first["client"] == second["client"] == PROXIED["client"]
    assert first["scheme"] == "https"


def test_http2_by_alpn_after_the_preamble(tls_proxied) -> None:
    context = tls_proxied.tls.client_context()
    with PreambledTLS(tls_proxied.port, v2(), context, alpn=["h2", "http/1.1"]) as conn:
        assert conn.alpn == "h2"
        client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        client.initiate_connection()
        client.send_headers(1, [(":method", "GET"), (":path", "/h2"), (":scheme", "https"),
                                (":authority", "localhost")], end_stream=True)
        conn.sendall(client.data_to_send())
        body, ended = b"", False
        while not ended:
            data = conn.recv()
            assert data, "closed before the response ended"
            for event in client.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    body += event.data
                    client.acknowledge_received_data(len(event.data), event.stream_id)
                ended = ended or isinstance(event, h2.events.StreamEnded)
            conn.sendall(client.data_to_send())
    seen = json.loads(body)
    assert seen["http_version"] == "2" and seen["scheme"] == "https"
    assert {k: seen[k] for k in PROXIED} == PROXIED


def test_websocket_over_tls_after_the_preamble(tls_proxied) -> None:
    context = tls_proxied.tls.client_context()
    with PreambledTLS(tls_proxied.port, V1, context) as conn:
        conn.sendall(request("GET", "/ws", [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13")]))
        data = b""
        while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < 4:
            chunk = conn.recv()
            assert chunk, data
            data += chunk
        head, _, frames = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert frames[0] == 0x81  # one whole text message: the app's facts
        length, start = frames[1], 2
        if length == 126:
            length, start = int.from_bytes(frames[2:4], "big"), 4
        while len(frames) < start + length:
            frames += conn.recv()
        seen = json.loads(frames[start:start + length])
    assert seen["scheme"] == "wss"
    assert {k: seen[k] for k in PROXIED} == PROXIED


def refused(port: int, data: bytes, source: str = "127.0.0.1") -> float:
    """Send ``data``; assert that the server closes without a byte; the seconds it took."""
    started = time.monotonic()
    assert exchange(port, data, source) == b""
    return time.monotonic() - started


@pytest.mark.parametrize("preamble", [
    b"",  # a straight ClientHello: no preamble
    b"PROXY TCP4 203.0.113.7 198.51.100.2 4711\r\n",  # a port missing
    v2(tlvs=tlv(0x03, b"\0\0\0\1")),  # a bad checksum
    b"PROXY " + b"9" * 200 + b"\r\n",  # longer than a v1 line may be
], ids=["none", "v1-short", "v2-bad-crc", "v1-too-long"])
def test_missing_or_malformed_preamble_is_closed(tls_proxied, preamble: bytes) -> None:
    hello = client_hello(tls_proxied.tls.client_context())
    assert refused(tls_proxied.port, preamble + hello) < 0.9  # at once, not at the timeout
    with pytest.raises((EOFError, ConnectionResetError)):
        PreambledTLS(tls_proxied.port, preamble, tls_proxied.tls.client_context()).close()
    # the server carries on
    assert https_get(tls_proxied, V1)[0]["client"] == PROXIED["client"]


def test_untrusted_peer_is_closed_unread(tls_proxied) -> None:
    hello = client_hello(tls_proxied.tls.client_context())
    with socket.create_connection(("127.0.0.1", tls_proxied.port), timeout=5,
                                  source_address=("127.0.0.2", 0)) as sock:
        # Closed at accept, before anything was sent: the server read nothing.
        started = time.monotonic()
        assert read_all(sock) == b""
        assert time.monotonic() - started < 0.9
        try:
            sock.sendall(V1 + hello)
        except OSError:
            pass  # already reset
    with pytest.raises((EOFError, ConnectionResetError, BrokenPipeError)):
        PreambledTLS(tls_proxied.port, V1, tls_proxied.tls.client_context(),
                     source="127.0.0.2").close()


@pytest.mark.parametrize("data", [V1, b"PROXY TCP4 203.0.113.7", v2()[:20]],
                         ids=["whole", "v1-partial", "v2-partial"])
def test_a_preamble_without_a_handshake_is_closed_at_the_handshake_timeout(
        tls_proxied, data: bytes) -> None:
    took = refused(tls_proxied.port, data)
    assert 0.8 < took < 4.0


def test_plain_http_after_the_preamble_gets_the_https_port_answer(tls_proxied) -> None:
    answer = exchange(tls_proxied.port, V1 + request("GET", "/", CLOSE))
    assert answer.startswith(b"HTTP/1.1 400 ") and b"HTTPS port" in answer


def test_graceful_shutdown_with_a_preamble_pending(tls_proxied) -> None:
    assert_shutdown_with_a_partial_preamble(tls_proxied)


def test_insecure_bind_beside_tls_reads_its_preamble_in_cleartext(serve, tls_certs) -> None:
    server = serve(APP, "--proxy-protocol", "--insecure-bind", "127.0.0.1:0", tls=tls_certs)
    server.wait_for_output(r"fastcorn listening on http://")  # logged after the TLS one
    port = next(int(address.rpartition(":")[2]) for address in server.addresses
                if address.startswith("http://"))
    (seen,) = bodies(exchange(port, V1 + request("GET", "/", CLOSE)))
    assert seen["client"] == PROXIED["client"] and seen["scheme"] == "http"
    assert https_get(server, v2())[0]["scheme"] == "https"
