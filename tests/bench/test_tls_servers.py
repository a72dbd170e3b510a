"""The TLS scenarios' declarations: every server is told about the certificate in its own
flags, the ceilings (cleartext) sit them out, and the answer check verifies the certificate.
No load generator needed."""

from __future__ import annotations

import shutil
import socket
import ssl
import threading
from pathlib import Path

import pytest

from bench import checks, tls
from bench.scenarios import SCENARIOS
from bench.servers import SERVERS

TLS_SCENARIOS = [name for name, s in SCENARIOS.items() if s.tls]

FLAGS = {
    "fastcorn": ("--ssl-certfile", "--ssl-keyfile"),
    "uvicorn": ("--ssl-certfile", "--ssl-keyfile"),
    "hypercorn": ("--certfile", "--keyfile"),
    "granian": ("--ssl-certificate", "--ssl-keyfile"),
}


def test_the_tls_scenarios() -> None:
    assert TLS_SCENARIOS == ["h2-hello-tls", "hello-tls", "echo-tls", "handshake-tls"]
    assert SCENARIOS["handshake-tls"].close and not SCENARIOS["hello-tls"].close
    assert all(SCENARIOS[name].scheme == "https" for name in TLS_SCENARIOS)


def test_the_http2_scenarios_and_flags() -> None:
    http2 = [name for name, s in SCENARIOS.items() if s.http2]
    assert http2 == ["h2-hello", "h2-hello-tls"]
    assert all(SCENARIOS[name].connections == 16 for name in http2)
    for name in http2:
        hypercorn = SERVERS["hypercorn-uvloop"].command(8443, SCENARIOS[name])
        # its GOAWAY after 1000 requests per connection lifted (bench/hypercorn_h2.py)
        assert hypercorn[hypercorn.index("-c") + 1] == "python:bench.hypercorn_h2"
        granian = SERVERS["granian"].command(8443, SCENARIOS[name])
        assert granian[granian.index("--http") + 1] == "2"
    assert "-c" not in SERVERS["hypercorn-uvloop"].command(8443, SCENARIOS["hello"])
    assert "--http" not in SERVERS["granian"].command(8443, SCENARIOS["hello"])
    from bench import hypercorn_h2

    assert hypercorn_h2.keep_alive_max_requests >= 2**31


@pytest.mark.parametrize("scenario", TLS_SCENARIOS)
@pytest.mark.parametrize("server", list(SERVERS))
def test_each_server_gets_the_certificate_in_its_own_flags(server: str, scenario: str) -> None:
    spec = SERVERS[server]
    if spec.ceiling:
        assert not spec.serves(SCENARIOS[scenario])
        return
    command = spec.command(8443, SCENARIOS[scenario])
    cert_flag, key_flag = FLAGS[spec.family]
    assert command[command.index(cert_flag) + 1] == tls.CERT
    assert command[command.index(key_flag) + 1] == tls.KEY
    cleartext = spec.command(8443, SCENARIOS["hello"])
    assert cert_flag not in cleartext and key_flag not in cleartext


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return tls.make_certificate(tmp_path_factory.mktemp("bench-tls"))


def _serve_once(context: ssl.SSLContext, answer: bytes) -> tuple[int, threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def run() -> None:
        with listener:
            conn, _ = listener.accept()
            try:
                with context.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.recv(65536)
                    tls_conn.sendall(answer)
            except (ssl.SSLError, OSError):
                pass  # the client refused the certificate

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, thread


def _context(cert: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, cert.parent / "key.pem")
    return context


def test_the_check_speaks_tls_and_verifies_the_certificate(cert: Path, tmp_path: Path) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, world!"
    port, thread = _serve_once(_context(cert), answer)
    assert checks.check(SCENARIOS["hello-tls"], "127.0.0.1", port, cert) is None
    thread.join(5)

    other = tls.make_certificate(tmp_path)  # another self-signed certificate
    port, thread = _serve_once(_context(other), answer)
    problem = checks.check(SCENARIOS["hello-tls"], "127.0.0.1", port, cert)
    assert problem is not None and "CERTIFICATE_VERIFY_FAILED" in problem, problem
    thread.join(5)
