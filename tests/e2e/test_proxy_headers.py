"""Proxy headers on every backend, over real sockets, with raw requests that play the proxy.

The server trusts 127.0.0.1 by default; the tests connect from 127.0.0.1 (a trusted peer)
or from 127.0.0.2 (an untrusted one), so one server shows both sides.
tests/e2e/test_behind_nginx.py and test_behind_haproxy.py put the real proxies in front.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.proxies import get

APP = "tests.apps.proxied:app"
SPOOF = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https",
         "x-forwarded-host": "example.com"}


def facts(answer: Any) -> dict[str, Any]:
    assert answer.status == 200, answer
    return dict(answer.json())


def test_trusted_peer_sets_client_scheme_server_untrusted_is_ignored(serve) -> None:
    server = serve(APP, tls=None)
    trusted = facts(get(server.port, "/t", SPOOF, source="127.0.0.1"))
    assert trusted["client"] == ["203.0.113.7", 0]
    assert trusted["scheme"] == "https" and trusted["server"] == ["example.com", 443]
    untrusted = get(server.port, "/u", SPOOF, source="127.0.0.2")
    seen = facts(untrusted)
    assert seen["client"] == ["127.0.0.2", untrusted.local[1]]
    assert seen["scheme"] == "http" and seen["server"] == ["127.0.0.1", server.port]
    # the access log shows the client the app saw
    server.wait_for_output(r'^203\.0\.113\.7:0 - "GET /t HTTP/1\.1" 200')
    server.wait_for_output(r'^127\.0\.0\.2:\d+ - "GET /u HTTP/1\.1" 200')


def test_right_most_untrusted_forwarded_for_and_rfc7239(serve) -> None:
    server = serve(APP, "--forwarded-allow-ips", "127.0.0.1, 10.0.0.0/8", tls=None)
    chain = {"x-forwarded-for": "198.51.100.1, 203.0.113.7, 10.9.8.7"}
    assert facts(get(server.port, "/", chain, source="127.0.0.1"))["client"] == [
        "203.0.113.7", 0]
    forwarded = {"forwarded": 'for="[2001:db8::7]:4711";proto=https, for=10.0.0.2'}
    seen = facts(get(server.port, "/", forwarded, source="127.0.0.1"))
    assert seen["client"] == ["2001:db8::7", 4711] and seen["scheme"] == "https"
    # 127.0.0.2 is in neither entry
    assert facts(get(server.port, "/", chain, source="127.0.0.2"))["client"][0] == "127.0.0.2"


@pytest.mark.parametrize("headers", [
    {"x-forwarded-for": "not-an-address"},
    {"x-forwarded-for": "203.0.113.7:99999"},
    {"x-forwarded-proto": "gopher"},
    {"x-forwarded-host": "bad host"},
    {"x-forwarded-port": "http"},
    {"forwarded": 'for="unterminated'},
    {"forwarded": "for=1.2.3.4;for=5.6.7.8"},
    {"x-forwarded-for": "\u00e9\u00ff"},
])
def test_malformed_values_are_ignored_never_an_error(serve, headers: dict[str, str]) -> None:
    server = serve(APP, tls=None)
    answer = get(server.port, "/", headers, source="127.0.0.1")
    seen = facts(answer)
    assert seen["client"] == ["127.0.0.1", answer.local[1]]
    assert seen["scheme"] == "http" and seen["server"] == ["127.0.0.1", server.port]


def test_no_proxy_headers_ignores_even_a_trusted_peer(serve) -> None:
    server = serve(APP, "--no-proxy-headers", tls=None)
    seen = facts(get(server.port, "/", SPOOF, source="127.0.0.1"))
    assert seen["client"][0] == "127.0.0.1" and seen["scheme"] == "http"


def test_star_trusts_everyone_from_the_environment(serve) -> None:
    server = serve(APP, tls=None, env={"FASTCORN_FORWARDED_ALLOW_IPS": "*"})
    seen = facts(get(server.port, "/", {"x-forwarded-for": "198.51.100.1, 203.0.113.7"},
                     source="127.0.0.2"))
    assert seen["client"] == ["198.51.100.1", 0]  # all trusted: the left-most


def unix_get(path: Path, headers: dict[str, str]) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        head = "GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(head.encode() + b"\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    assert head_bytes.startswith(b"HTTP/1.1 200 "), data
    return dict(json.loads(body))


@pytest.mark.parametrize("allow", ["unix", "unix:{path}", "127.0.0.1"])
def test_unix_socket_peers(serve, tmp_path: Path, allow: str) -> None:
    path = tmp_path / "app.sock"
    server = serve(APP, "--bind", f"unix:{path}", "--forwarded-allow-ips",
                   allow.format(path=path), tls=None)
    assert server.address == f"unix:{path}"
    seen = unix_get(path, SPOOF)
    if allow == "127.0.0.1":  # a unix peer is not an address: not trusted by one
        assert seen["client"] is None and seen["scheme"] == "http"
    else:
        assert seen["client"] == ["203.0.113.7", 0] and seen["scheme"] == "https"
        assert seen["server"] == ["example.com", 443]
