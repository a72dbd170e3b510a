"""The PROXY protocol on every backend, from raw sockets speaking for a balancer.

tests/e2e/test_behind_haproxy.py has the real HAProxy send the preambles;
tests/protocol/test_proxy_protocol.py covers the parser case by case.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest

from tests.e2e.rawhttp import request
from tests.protocol.test_proxy_protocol import ssl_tlv, tlv, v2

APP = "tests.apps.proxied:app"
V1 = b"PROXY TCP4 203.0.113.7 198.51.100.2 4711 443\r\n"


def read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass  # refused with an abort: the same as a close to the client
    return data


def exchange(port: int, data: bytes, source: str = "127.0.0.1") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5,
                                  source_address=(source, 0)) as sock:
        sock.sendall(data)
        return read_all(sock)


def bodies(data: bytes) -> list[dict[str, Any]]:
    """The JSON bodies of the responses in ``data`` (each with a content-length)."""
    found = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), data
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        found.append(json.loads(rest[:length]))
        data = rest[length:]
    return found


CLOSE = [("connection", "close")]


def test_v1_and_v2_set_the_addresses_of_every_request(serve) -> None:
    server = serve(APP, "--proxy-protocol", tls=None)
    two = request("GET", "/1") + request("GET", "/2", CLOSE)
    for preamble in (V1, v2()):
        first, second = bodies(exchange(server.port, preamble + two))
        for seen in (first, second):
            assert seen["client"] == ["203.0.113.7", 4711]
            assert seen["server"] == ["198.51.100.2", 443] and seen["scheme"] == "http"
    server.wait_for_output(r'^203\.0\.113\.7:4711 - "GET /2 HTTP/1\.1" 200')


def test_v2_tlvs_and_a_preamble_in_pieces(serve) -> None:
    server = serve(APP, "--proxy-protocol", tls=None)
    preamble = v2(tlvs=tlv(0x01, b"http/1.1") + ssl_tlv(cn=b"client"), crc=True)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in (preamble[:5], preamble[5:17], preamble[17:]):
            sock.sendall(piece)
            time.sleep(0.02)
        sock.sendall(request("GET", "/", CLOSE))
        (seen,) = bodies(read_all(sock))
    assert seen["client"] == ["203.0.113.7", 4711] and seen["scheme"] == "https"


def test_local_command_is_a_health_check_with_the_real_addresses(serve) -> None:
    server = serve(APP, "--proxy-protocol", tls=None)
    (seen,) = bodies(exchange(server.port, v2(command=0) + request("GET", "/", CLOSE)))
    assert seen["client"][0] == "127.0.0.1" and seen["server"] == ["127.0.0.1", server.port]


@pytest.mark.parametrize("data", [
    request("GET", "/", CLOSE),  # no preamble at all
    b"PROXY TCP4 203.0.113.7 198.51.100.2 4711\r\n" + request("GET", "/", CLOSE),
    v2(tlvs=tlv(0x03, b"\0\0\0\1")) + request("GET", "/", CLOSE),  # bad checksum
    b"PROXY " + b"9" * 200,
])
def test_missing_or_malformed_preamble_closes_the_connection(serve, data: bytes) -> None:
    server = serve(APP, "--proxy-protocol", tls=None)
    assert exchange(server.port, data) == b""
    # the server carries on
    assert bodies(exchange(server.port, V1 + request("GET", "/", CLOSE)))


def test_untrusted_peer_is_closed_trusted_network_is_served(serve) -> None:
    server = serve(APP, "--proxy-protocol", tls=None)
    assert exchange(server.port, V1 + request("GET", "/", CLOSE), source="127.0.0.2") == b""
    wide = serve(APP, "--proxy-protocol", "--forwarded-allow-ips", "127.0.0.0/8", tls=None)
    (seen,) = bodies(exchange(wide.port, V1 + request("GET", "/", CLOSE), source="127.0.0.2"))
    assert seen["client"] == ["203.0.113.7", 4711]


def test_a_preamble_that_never_comes_times_out(serve) -> None:
    server = serve(APP, "--proxy-protocol", "--timeout-request-head", "1", tls=None)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"PROXY TCP4 203.0.113.7")
        started = time.monotonic()
        assert read_all(sock) == b""
        assert time.monotonic() - started < 4.0


def assert_shutdown_with_a_partial_preamble(server: Any) -> None:
    """A connection stalled inside its preamble does not hold up a graceful shutdown: the
    server exits 0 and the connection is closed unanswered."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"PROXY TCP4")
        time.sleep(0.1)
        assert server.stop(timeout=5) == 0
        assert read_all(sock) == b""


def test_graceful_shutdown_with_a_reader_waiting(serve) -> None:
    assert_shutdown_with_a_partial_preamble(serve(APP, "--proxy-protocol", tls=None))


def test_files_go_by_sendfile_behind_the_preamble(serve, tmp_path) -> None:
    """The PROXY reader wraps the transport; pathsend still reaches the socket by
    sendfile(2) (it crashed on asyncio/uvloop and was copied through Python on trio)."""
    payload = bytes(range(256)) * 1200
    (tmp_path / "f.bin").write_bytes(payload)
    server = serve("tests.apps.files:app", "--proxy-protocol", tls=None,
                   env={"FASTCORN_TEST_FILES": str(tmp_path)})
    data = exchange(server.port, V1 + request("GET", "/raw/pathsend?name=f.bin",
                                              headers=CLOSE))
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), data[:200]
    assert body == payload
    stats = exchange(server.port, V1 + request("GET", "/stats", headers=CLOSE))
    assert json.loads(stats.partition(b"\r\n\r\n")[2])["sendfile_bytes"] == len(payload)
    assert "Traceback" not in server.stderr
