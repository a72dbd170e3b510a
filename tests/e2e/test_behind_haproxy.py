"""fastcorn behind Debian's real HAProxy, on every backend: ``option forwardfor`` in HTTP
mode, and the PROXY protocol from ``send-proxy`` (v1), ``send-proxy-v2`` with a CRC32C
checksum, and ``send-proxy-v2-ssl-cn`` behind TLS that HAProxy terminates (the SSL TLV
makes the scheme https). The client connects from 127.0.0.2, with a port the app must see
too: the PROXY header carries it.

Then TLS all the way: HAProxy re-encrypting to a TLS fastcorn (``ssl verify none`` with
``send-proxy`` and ``send-proxy-v2``), and passing the client's TLS through in TCP mode
(``send-proxy-v2``) with HTTP/2 still negotiated end to end by ALPN, and WebSocket (wss).
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect as ws_connect

from tests.e2e.proxies import (
    CLIENT_ADDRESS,
    ProxyProcess,
    binary,
    get,
    start_haproxy,
    start_haproxy_to_tls,
)

APP = "tests.apps.proxied:app"


@pytest.fixture
def haproxy(serve, tls_certs, tmp_path: Path) -> Iterator[tuple[ProxyProcess, Any, Any]]:
    plain = serve(APP, tls=None)
    proxied = serve(APP, "--proxy-protocol", tls=None)
    pem = tmp_path / "haproxy.pem"
    pem.write_bytes(tls_certs.cert_path.read_bytes() + tls_certs.key_path.read_bytes())
    proxy = start_haproxy(tmp_path / "haproxy", plain.port, proxied.port, pem)
    yield proxy, plain, proxied
    proxy.stop()


def test_http_mode_forwardfor(haproxy) -> None:
    proxy, plain, _ = haproxy
    answer = get(proxy.ports["http"], "/", {"x-forwarded-for": "6.6.6.6"})
    assert answer.status == 200, proxy.output()
    seen = answer.json()
    assert seen["client"] == [CLIENT_ADDRESS, 0] and seen["scheme"] == "http"


@pytest.mark.parametrize("frontend", ["v1", "v2"])
def test_send_proxy_gives_the_client_address_and_port(haproxy, frontend: str) -> None:
    proxy, _, proxied = haproxy
    answer = get(proxy.ports[frontend], "/", {"x-forwarded-for": "6.6.6.6"})
    assert answer.status == 200, proxy.output() + proxied.stderr
    seen = answer.json()
    assert seen["client"] == [CLIENT_ADDRESS, answer.local[1]]
    assert seen["server"] == ["127.0.0.1", proxy.ports[frontend]]
    assert seen["scheme"] == "http"


def test_send_proxy_v2_ssl_behind_haproxy_tls(haproxy, tls_certs) -> None:
    proxy, _, proxied = haproxy
    answer = get(proxy.ports["tls"], "/", tls=tls_certs.client_context())
    assert answer.status == 200, proxy.output() + proxied.stderr
    seen = answer.json()
    assert seen["client"] == [CLIENT_ADDRESS, answer.local[1]]
    assert seen["scheme"] == "https"
    proxied.wait_for_output(rf'^127\.0\.0\.2:{answer.local[1]} - "GET / HTTP/1\.1" 200')


# -- TLS all the way: fastcorn serves TLS and reads the PROXY preamble ahead of it -----------


@pytest.fixture
def haproxy_tls(serve, tls_certs, tmp_path: Path) -> Iterator[tuple[ProxyProcess, Any]]:
    server = serve(APP, "--proxy-protocol", tls=tls_certs)
    proxy = start_haproxy_to_tls(tmp_path / "haproxy", server.port)
    yield proxy, server
    proxy.stop()


@pytest.mark.parametrize("frontend", ["reencrypt_v1", "reencrypt_v2"])
def test_haproxy_reencrypting_to_tls_with_send_proxy(haproxy_tls, frontend: str) -> None:
    proxy, server = haproxy_tls
    for _ in range(2):  # a second client connection: no address left over from the first
        answer = get(proxy.ports[frontend], "/", {"x-forwarded-for": "6.6.6.6"})
        assert answer.status == 200, proxy.output() + server.stderr
        seen = answer.json()
        assert seen["client"] == [CLIENT_ADDRESS, answer.local[1]]
        assert seen["server"] == ["127.0.0.1", proxy.ports[frontend]]
        assert seen["scheme"] == "https"  # HAProxy's TLS to fastcorn
    server.wait_for_output(rf'^127\.0\.0\.2:{answer.local[1]} - "GET / HTTP/1\.1" 200')


def test_haproxy_tls_passthrough_http11(haproxy_tls, tls_certs) -> None:
    proxy, server = haproxy_tls
    answer = get(proxy.ports["passthrough"], "/", tls=tls_certs.client_context())
    assert answer.status == 200, proxy.output() + server.stderr
    seen = answer.json()
    assert seen["client"] == [CLIENT_ADDRESS, answer.local[1]]
    assert seen["scheme"] == "https" and seen["http_version"] == "1.1"


def test_haproxy_tls_passthrough_http2_by_alpn_with_curl(haproxy_tls, tls_certs) -> None:
    proxy, server = haproxy_tls
    port = proxy.ports["passthrough"]
    result = subprocess.run(
        [binary("curl"), "-sS", "--http2", "--interface", CLIENT_ADDRESS,
         "--cacert", str(tls_certs.ca_path), "--resolve", f"localhost:{port}:127.0.0.1",
         "-w", "\n%{http_version}", f"https://localhost:{port}/h2"],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr + proxy.output() + server.stderr
    body, _, version = result.stdout.rpartition("\n")
    assert version == "2"  # ALPN h2 negotiated end to end, through HAProxy
    seen = json.loads(body)
    assert seen["http_version"] == "2" and seen["scheme"] == "https"
    assert seen["client"][0] == CLIENT_ADDRESS and seen["path"] == "/h2"


def test_haproxy_tls_passthrough_websocket(haproxy_tls, tls_certs) -> None:
    proxy, server = haproxy_tls
    sock = socket.create_connection(("127.0.0.1", proxy.ports["passthrough"]), timeout=5,
                                    source_address=(CLIENT_ADDRESS, 0))
    local = sock.getsockname()
    with ws_connect(f"wss://localhost:{proxy.ports['passthrough']}/ws", sock=sock,
                    ssl=tls_certs.client_context(), server_hostname="localhost") as ws:
        seen = json.loads(ws.recv(timeout=5))
    assert seen["scheme"] == "wss" and seen["client"] == [CLIENT_ADDRESS, local[1]]
