"""fastcorn behind Debian's real nginx, on every backend.

nginx terminates TLS and proxies over a keep-alive HTTP/1.1 upstream with the headers its
documentation recommends (tests/e2e/proxies.py); the client connects from 127.0.0.2, so
the address the app sees is the client's, not nginx's (127.0.0.1, trusted by default).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.e2e.proxies import CLIENT_ADDRESS, get, start_nginx

APP = "tests.apps.proxied:app"


def test_client_address_and_https_through_nginx_tls(serve, tls_certs, tmp_path: Path) -> None:
    server = serve(APP, tls=None)
    nginx = start_nginx(tmp_path / "nginx", f"127.0.0.1:{server.port}", tls_certs.cert_path,
                        tls_certs.key_path)
    try:
        answer = get(nginx.ports["https"], "/secure", tls=tls_certs.client_context())
        assert answer.status == 200, nginx.output()
        seen = answer.json()
        assert seen["client"] == [CLIENT_ADDRESS, 0]
        assert seen["scheme"] == "https"
        assert seen["server"] == ["localhost", nginx.ports["https"]]
        plain = get(nginx.ports["http"], "/plain").json()
        assert plain["client"] == [CLIENT_ADDRESS, 0] and plain["scheme"] == "http"
        # several requests reuse nginx's keep-alive upstream connections
        for _ in range(5):
            assert get(nginx.ports["http"], "/again").status == 200
    finally:
        nginx.stop()
    server.wait_for_output(r'^127\.0\.0\.2:0 - "GET /secure HTTP/1\.1" 200')


def test_spoofed_headers_through_nginx_are_not_believed(serve, tls_certs,
                                                        tmp_path: Path) -> None:
    server = serve(APP, tls=None)
    nginx = start_nginx(tmp_path / "nginx", f"127.0.0.1:{server.port}", tls_certs.cert_path,
                        tls_certs.key_path)
    try:
        spoof = {"x-forwarded-for": "6.6.6.6", "x-forwarded-proto": "https",
                 "forwarded": "for=7.7.7.7;proto=https"}
        seen = get(nginx.ports["http"], "/", spoof).json()
        # nginx appended the real client after the made-up one; the right-most untrusted
        # address is the client; X-Forwarded-Proto was overwritten by nginx
        assert seen["headers"]["x-forwarded-for"] == f"6.6.6.6, {CLIENT_ADDRESS}"
        assert seen["client"] == [CLIENT_ADDRESS, 0] and seen["scheme"] == "http"
    finally:
        nginx.stop()


def test_nginx_not_trusted_its_headers_are_ignored(serve, tls_certs, tmp_path: Path) -> None:
    server = serve(APP, "--forwarded-allow-ips", "10.0.0.1", tls=None)
    nginx = start_nginx(tmp_path / "nginx", f"127.0.0.1:{server.port}", tls_certs.cert_path,
                        tls_certs.key_path)
    try:
        seen = get(nginx.ports["https"], "/", tls=tls_certs.client_context()).json()
        assert seen["client"][0] == "127.0.0.1"  # nginx itself
        assert seen["scheme"] == "http"
    finally:
        nginx.stop()


def test_nginx_to_a_unix_socket(serve, tls_certs, tmp_path: Path) -> None:
    path = tmp_path / "fastcorn.sock"
    server = serve(APP, "--bind", f"unix:{path}", "--forwarded-allow-ips", "unix", tls=None)
    assert server.address == f"unix:{path}"
    nginx = start_nginx(tmp_path / "nginx", f"unix:{path}", tls_certs.cert_path,
                        tls_certs.key_path)
    try:
        seen = get(nginx.ports["https"], "/", tls=tls_certs.client_context()).json()
        assert seen["client"] == [CLIENT_ADDRESS, 0] and seen["scheme"] == "https"
    finally:
        nginx.stop()


def test_websocket_through_nginx(serve, tls_certs, tmp_path: Path) -> None:
    """nginx passes the Upgrade on (its recommended map of Connection); the WebSocket scope
    gets the client's address and ws/wss from nginx's X-Forwarded-* headers."""
    from websockets.sync.client import connect

    server = serve(APP, tls=None)
    nginx = start_nginx(tmp_path / "nginx", f"127.0.0.1:{server.port}", tls_certs.cert_path,
                        tls_certs.key_path)
    try:
        for scheme, port, context in (("ws", nginx.ports["http"], None),
                                      ("wss", nginx.ports["https"],
                                       tls_certs.client_context())):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                            source_address=(CLIENT_ADDRESS, 0))
            with connect(f"{scheme}://localhost:{port}/chat", sock=sock, ssl=context,
                         open_timeout=10) as websocket:
                seen = json.loads(websocket.recv(timeout=10))
            assert seen["scheme"] == scheme, (scheme, seen, nginx.output())
            assert seen["client"] == [CLIENT_ADDRESS, 0], seen
            assert seen["path"] == "/chat"
            assert seen["headers"]["upgrade"].lower() == "websocket"
    finally:
        nginx.stop()
