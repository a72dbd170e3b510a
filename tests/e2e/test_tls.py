"""TLS end to end: HTTPS with httpx, curl and raw TLS sockets, mutual TLS, ALPN, the ASGI
tls extension, certificate rotation (SIGHUP and file change), plain HTTP on a TLS port, a
silent client, a reset mid-handshake. Certificates come from trustme.

Runs on every backend that serves TLS (trio skips while its module still raises
NotImplementedError for TLS: tests.conftest.tls_backend_missing).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from tests.conftest import tls_backend_missing

APP = "tests.apps.tls_facts:app"


@pytest.fixture(autouse=True)
def _tls_backends(backend: str) -> None:
    reason = tls_backend_missing(backend)  # trio, until its TLS transport lands
    if reason:
        pytest.skip(reason)


class Certs:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA()
        self.ca_path = directory / "ca.pem"
        self.cert_path = directory / "cert.pem"
        self.key_path = directory / "key.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        self.server = self.issue()

    def issue(self) -> trustme.LeafCert:
        """A new certificate (a new serial, a new key) for 127.0.0.1, into the same files."""
        leaf = self.ca.issue_cert("127.0.0.1", "localhost")
        # Write beside, then rename: the server never sees half a file.
        for data, path in ((leaf.private_key_pem, self.key_path),
                           (leaf.cert_chain_pems[0], self.cert_path)):
            tmp = path.with_suffix(".tmp")
            data.write_to_path(str(tmp))
            tmp.replace(path)
        self.server = leaf
        return leaf

    @property
    def args(self) -> list[str]:
        return ["--ssl-certfile", str(self.cert_path), "--ssl-keyfile", str(self.key_path)]

    def client_context(self, **kwargs: Any) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        for name, value in kwargs.items():
            setattr(context, name, value)
        return context

    def client_cert(self, name: str = "client one") -> Path:
        leaf = self.ca.issue_cert("client@example.com", common_name=name)
        path = self.dir / f"client-{len(list(self.dir.glob('client-*')))}.pem"
        leaf.private_key_and_cert_chain_pem.write_to_path(str(path))
        return path


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return Certs(tmp_path)


def tls_port(server: Any, scheme: str = "https") -> int:
    for address in server.addresses:
        if address.startswith(f"{scheme}://"):
            return int(address.rpartition(":")[2])
    raise AssertionError(f"no {scheme} listener in {server.addresses}")


def connect(port: int, context: ssl.SSLContext, server_hostname: str = "127.0.0.1",
            ) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return context.wrap_socket(raw, server_hostname=server_hostname)


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """(head, body) of one content-length response."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return head, body


def get_facts(sock: socket.socket) -> dict[str, Any]:
    sock.sendall(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
    head, body = read_response(sock)
    assert head.startswith(b"HTTP/1.1 200"), head
    result: dict[str, Any] = json.loads(body)
    return result


def peer_serial(sock: ssl.SSLSocket) -> bytes:
    """The certificate the server sent (DER): each one issued has its own serial."""
    der = sock.getpeercert(binary_form=True)
    assert der is not None
    return der


def leaf_serial(leaf: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())


def refused(port: int, context: ssl.SSLContext) -> bool:
    """Whether the server refuses this client in (or right after: TLS 1.3 sends the
    refusal of a client certificate after the client's handshake is done) the handshake."""
    try:
        sock = connect(port, context)
    except (ssl.SSLError, ConnectionError):
        return True
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
        return sock.recv(65536) == b""
    except (ssl.SSLError, ConnectionError):
        return True
    finally:
        sock.close()


def no_tracebacks(server: Any) -> None:
    assert "Traceback" not in server.stderr, server.stderr
    assert "Fatal error" not in server.stderr, server.stderr


# -- HTTPS ----------------------------------------------------------------------------------


def test_https_with_httpx_curl_and_keep_alive(serve: Callable[..., Any], certs: Certs) -> None:
    server = serve(APP, *certs.args)
    port = tls_port(server)
    with httpx.Client(verify=certs.client_context()) as client:
        for _ in range(2):  # the second request on the same (keep-alive) connection
            response = client.get(f"https://127.0.0.1:{port}/")
            assert response.status_code == 200
            assert response.json()["scheme"] == "https"
            assert "tls" in response.json()["extensions"]
    with connect(port, certs.client_context()) as sock:
        first, second = get_facts(sock), get_facts(sock)
        assert first == second
    if shutil.which("curl"):
        out = subprocess.run(
            ["curl", "-sS", "--cacert", str(certs.ca_path), f"https://localhost:{port}/",
             f"https://localhost:{port}/"], capture_output=True, timeout=10, check=True)
        assert out.stdout.count(b'"scheme": "https"') == 2, out
    no_tracebacks(server)


def test_alpn_offers_h2_first_then_http11(serve: Callable[..., Any], certs: Certs) -> None:
    server = serve(APP, *certs.args)
    context = certs.client_context()
    context.set_alpn_protocols(["h2", "http/1.1"])
    with connect(tls_port(server), context) as sock:
        assert sock.selected_alpn_protocol() == "h2"
    context.set_alpn_protocols(["http/1.1"])  # a client without HTTP/2 gets HTTP/1.1
    with connect(tls_port(server), context) as sock:
        assert sock.selected_alpn_protocol() == "http/1.1"
        assert get_facts(sock)["scheme"] == "https"
    with connect(tls_port(server), certs.client_context()) as sock:  # no ALPN at all
        assert sock.selected_alpn_protocol() is None
        assert get_facts(sock)["scheme"] == "https"


def test_alpn_without_http2(serve: Callable[..., Any], certs: Certs) -> None:
    server = serve(APP, *certs.args, "--no-http2")
    context = certs.client_context()
    context.set_alpn_protocols(["h2", "http/1.1"])
    with connect(tls_port(server), context) as sock:
        assert sock.selected_alpn_protocol() == "http/1.1"
        assert get_facts(sock)["scheme"] == "https"


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls_extension_fields(serve: Callable[..., Any], certs: Certs, version: str) -> None:
    server = serve(APP, *certs.args)
    pinned = getattr(ssl.TLSVersion, version)
    context = certs.client_context(minimum_version=pinned, maximum_version=pinned)
    with connect(tls_port(server), context) as sock:
        tls = get_facts(sock)["tls"]
        name, _, _ = sock.cipher()  # type: ignore[misc]
        ids = {c["name"]: c["id"] & 0xFFFF for c in context.get_ciphers()}
    assert set(tls) == {"server_cert", "client_cert_chain", "client_cert_name",
                        "client_cert_error", "tls_version", "cipher_suite"}
    assert tls["server_cert"] == certs.server.cert_chain_pems[0].bytes().decode()
    assert tls["client_cert_chain"] == []
    assert tls["client_cert_name"] is None
    assert tls["client_cert_error"] is None
    assert tls["tls_version"] == {"TLSv1_2": 0x0303, "TLSv1_3": 0x0304}[version]
    assert tls["cipher_suite"] == ids[name]


def test_cleartext_beside_tls(serve: Callable[..., Any], certs: Certs) -> None:
    server = serve(APP, *certs.args, "--insecure-bind", "127.0.0.1:0")
    server.wait_for_output(r"fastcorn listening on http://")  # logged after the TLS one
    response = httpx.get(f"http://127.0.0.1:{tls_port(server, 'http')}/")
    assert response.json() == {"scheme": "http", "tls": None, "extensions": [
        "http.response.pathsend", "http.response.zerocopysend"]}
    response = httpx.get(f"https://127.0.0.1:{tls_port(server)}/",
                         verify=certs.client_context())
    assert response.json()["scheme"] == "https"


def test_tls_on_a_unix_socket(serve: Callable[..., Any], certs: Certs) -> None:
    directory = tempfile.mkdtemp(prefix="fastcorn-tls-", dir="/tmp")  # short: sun_path limit
    path = os.path.join(directory, "s.sock")
    try:
        server = serve(APP, *certs.args, "--bind", f"unix:{path}")
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.settimeout(5)
        raw.connect(path)
        with certs.client_context().wrap_socket(raw, server_hostname="localhost") as sock:
            facts = get_facts(sock)
            assert facts["scheme"] == "https" and "tls" in facts["extensions"]
            assert get_facts(sock) == facts  # keep-alive over the TLS unix connection
        if shutil.which("curl"):
            out = subprocess.run(
                ["curl", "-sS", "--unix-socket", path, "--cacert", str(certs.ca_path),
                 "https://localhost/"], capture_output=True, timeout=10, check=True)
            assert b'"scheme": "https"' in out.stdout, out
        assert server.stop() == 0
        no_tracebacks(server)
    finally:
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(directory)


def test_tls_on_an_inherited_fd(serve: Callable[..., Any], certs: Certs) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        fd = listener.fileno()
        server = serve(APP, *certs.args, "--fd", str(fd), pass_fds=(fd,))
    finally:
        listener.close()  # the server holds its own copy now
    assert tls_port(server) == port
    with connect(port, certs.client_context()) as sock:
        assert get_facts(sock)["scheme"] == "https"
    assert server.stop() == 0


# -- mutual TLS -----------------------------------------------------------------------------


def test_client_certificate_required(serve: Callable[..., Any], certs: Certs) -> None:
    server = serve(APP, *certs.args, "--ssl-ca-certs", str(certs.ca_path),
                   "--ssl-cert-reqs", "required")
    port = tls_port(server)
    assert refused(port, certs.client_context())  # no client certificate

    stranger = Certs(certs.dir / "other")  # a certificate from a CA the server does not know
    context = certs.client_context()
    context.load_cert_chain(stranger.client_cert())
    assert refused(port, context)

    context = certs.client_context()
    context.load_cert_chain(certs.client_cert("client one"))
    with connect(port, context) as sock:
        tls = get_facts(sock)["tls"]
    assert tls["client_cert_name"].startswith("CN=client one,")
    assert tls["client_cert_name"].endswith(",O=trustme v" + trustme.__version__)
    assert len(tls["client_cert_chain"]) >= 1
    assert tls["client_cert_chain"][0].startswith("-----BEGIN CERTIFICATE-----")
    assert tls["client_cert_error"] is None
    with connect(port, certs.client_context()) as sock:  # still serving afterwards
        pass
    no_tracebacks(server)


def test_client_certificate_optional(serve: Callable[..., Any], certs: Certs) -> None:
    server = serve(APP, *certs.args, "--ssl-ca-certs", str(certs.ca_path),
                   "--ssl-cert-reqs", "optional")
    port = tls_port(server)
    with connect(port, certs.client_context()) as sock:
        tls = get_facts(sock)["tls"]
    assert tls["client_cert_chain"] == [] and tls["client_cert_name"] is None
    context = certs.client_context()
    context.load_cert_chain(certs.client_cert("optional one"))
    with connect(port, context) as sock:
        assert get_facts(sock)["tls"]["client_cert_name"].startswith("CN=optional one,")


# -- rotation -------------------------------------------------------------------------------


def test_rotation_on_sighup(serve: Callable[..., Any], certs: Certs) -> None:
    server = serve(APP, *certs.args)
    port = tls_port(server)
    old = leaf_serial(certs.server)
    kept = connect(port, certs.client_context())
    assert peer_serial(kept) == old and get_facts(kept)["scheme"] == "https"
    new = leaf_serial(certs.issue())
    mark = server.mark()
    server.send_signal(signal.SIGHUP)
    server.wait_for_output(r"Reloaded the TLS certificate .*SIGHUP", since=mark)
    with connect(port, certs.client_context()) as sock:
        assert peer_serial(sock) == new
        assert get_facts(sock)["tls"]["server_cert"] == (
            certs.server.cert_chain_pems[0].bytes().decode())
    with connect(port, certs.client_context(), server_hostname="localhost") as sock:
        assert peer_serial(sock) == new  # with SNI too
    # The connection opened before keeps working, on its own certificate.
    assert get_facts(kept)["scheme"] == "https"
    assert peer_serial(kept) == old
    kept.close()
    assert server.proc.poll() is None


def test_rotation_on_file_change(serve: Callable[..., Any], certs: Certs) -> None:
    server = serve(APP, *certs.args)
    port = tls_port(server)
    mark = server.mark()
    new = leaf_serial(certs.issue())
    server.wait_for_output(r"Reloaded the TLS certificate .*file changed", since=mark)
    with connect(port, certs.client_context()) as sock:
        assert peer_serial(sock) == new


def test_broken_new_pair_keeps_the_old_one(serve: Callable[..., Any], certs: Certs) -> None:
    server = serve(APP, *certs.args)
    port = tls_port(server)
    old = leaf_serial(certs.server)
    mark = server.mark()
    # A new certificate whose key is not written: the pair does not match.
    other = certs.ca.issue_cert("127.0.0.1")
    other.cert_chain_pems[0].write_to_path(str(certs.cert_path))
    server.wait_for_output(r"Cannot reload the TLS certificate", since=mark)
    server.send_signal(signal.SIGHUP)
    server.wait_for_output(r"Cannot reload the TLS certificate \(SIGHUP\)", since=mark)
    time.sleep(1.5)  # the once-a-second check must not repeat the line
    lines = [line for line in server.output_since(mark).splitlines()
             if "Cannot reload" in line]
    assert len(lines) == 2, lines  # one for the file change, one for the SIGHUP
    assert "--ssl-keyfile" in lines[0] and str(certs.key_path) in lines[0]
    with connect(port, certs.client_context()) as sock:
        assert peer_serial(sock) == old
        assert get_facts(sock)["scheme"] == "https"


# -- what is not TLS, or not finished -------------------------------------------------------


def test_plain_http_on_the_tls_port(serve: Callable[..., Any], certs: Certs) -> None:
    server = serve(APP, *certs.args)
    with socket.create_connection(("127.0.0.1", tls_port(server)), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert data.endswith(b"\r\n\r\nThe plain HTTP request was sent to HTTPS port")
    with connect(tls_port(server), certs.client_context()) as tls_sock:
        assert get_facts(tls_sock)["scheme"] == "https"
    no_tracebacks(server)


def test_silent_client_is_closed_after_the_handshake_timeout(
        serve: Callable[..., Any], certs: Certs) -> None:
    server = serve(APP, *certs.args, "--ssl-handshake-timeout", "1")
    port = tls_port(server)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as silent, \
            socket.create_connection(("127.0.0.1", port), timeout=5) as stalled:
        stalled.sendall(b"\x16\x03\x01\x02\x00\x01")  # a handshake record that never ends
        start = time.monotonic()
        assert silent.recv(1) == b""
        assert 0.8 < time.monotonic() - start < 3.5
        try:
            assert stalled.recv(65536) == b""
        except ConnectionResetError:
            pass
        assert time.monotonic() - start < 4
    no_tracebacks(server)


def test_reset_mid_handshake_and_failed_handshakes_disturb_nothing(
        serve: Callable[..., Any], certs: Certs) -> None:
    server = serve(APP, *certs.args, "--ssl-min-version", "TLSv1.3", "--log-level", "debug")
    port = tls_port(server)
    kept = connect(port, certs.client_context())
    assert get_facts(kept)["scheme"] == "https"
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST mid-handshake
    old = certs.client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
    assert refused(port, old)  # no shared version
    untrusting = ssl.create_default_context()  # the client refuses the server's certificate
    assert refused(port, untrusting)
    assert get_facts(kept)["scheme"] == "https"
    with connect(port, certs.client_context()) as sock:
        assert get_facts(sock)["scheme"] == "https"
    kept.close()
    server.wait_for_output(r"TLS handshake with 127\.0\.0\.1:\d+ failed")
    no_tracebacks(server)
