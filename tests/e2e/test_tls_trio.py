"""TLS on the trio backend: the SSLObject inside TrioTransport, with real sockets and clients.

Each test runs a ``fastcorn.server.Server`` in a thread on a TrioRuntime whose ``listen``
is given a TLSListener built from trustme certificates (no CLI options involved), and talks
to it with httpx or an ``ssl``-wrapped socket. The server's own objects (its connections and
their transports) are looked at from the test thread while the connection is open.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import trio
import trustme

from fastcorn.backends import trio as trio_backend
from fastcorn.backends.tls import PLAIN_HTTP_RESPONSE, TLSListener
from fastcorn.config import Config
from fastcorn.server import Server

BIG = 8 * 1024 * 1024
CHUNK = 64 * 1024
PROGRESS: dict[str, int] = {}  # how far the streaming app got, read by the test thread


async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/big":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(BIG).encode())]})
        PROGRESS["sent"] = 0
        for i in range(BIG // CHUNK):
            await send({"type": "http.response.body", "body": bytes([i % 251]) * CHUNK,
                        "more_body": True})
            PROGRESS["sent"] = (i + 1) * CHUNK
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["path"] == "/echo":
        answer = body
    else:
        client = scope["client"]
        answer = f"{scope['scheme']} {scope['path']} {client[0]}:{client[1]}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": answer})


class Certs:
    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert("127.0.0.1", "localhost")

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


@pytest.fixture(scope="module")
def certs() -> Certs:
    return Certs()


class TLSRuntime(trio_backend.TrioRuntime):
    """The trio runtime, with every listener served over ``tls_listener``."""

    tls_listener: TLSListener

    async def listen(self, sockets: list[socket.socket], cores: Any,
                     tls: TLSListener | None = None) -> None:
        await super().listen(sockets, cores, self.tls_listener)


@dataclass
class Running:
    server: Server
    tls: TLSListener
    port: int
    records: list[logging.LogRecord] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def raw(self, timeout: float = 10.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def wrap(self, ctx: ssl.SSLContext, timeout: float = 10.0) -> ssl.SSLSocket:
        return ctx.wrap_socket(self.raw(timeout), server_hostname="127.0.0.1")

    def transports(self) -> list[Any]:
        state = self.server.state
        return [conn.transport for conn in list(state.connections)] if state else []

    def one_transport(self, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while len(self.transports()) != 1:
            assert time.monotonic() < deadline, "the server never saw the connection"
            time.sleep(0.01)
        return self.transports()[0]

    def debug_lines(self, needle: str) -> list[str]:
        return [r.getMessage() for r in self.records
                if r.levelno == logging.DEBUG and needle in r.getMessage()]

    def wait_for_debug(self, needle: str, timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while not self.debug_lines(needle):
            assert time.monotonic() < deadline, (
                f"no debug line with {needle!r}: {[r.getMessage() for r in self.records]}")
            time.sleep(0.01)
        return self.debug_lines(needle)


class ListHandler(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def start(certs: Certs) -> Iterator[Callable[..., Running]]:
    started: list[tuple[Running, threading.Thread]] = []
    error_logger = logging.getLogger("fastcorn.error")
    old_level = error_logger.level
    handlers: list[logging.Handler] = []

    def _start(context: ssl.SSLContext | None = None, handshake_timeout: float = 10.0,
               **config: Any) -> Running:
        tls = TLSListener(context or certs.server_context(), handshake_timeout)
        server = Server(Config(app=app, host="127.0.0.1", port=0, lifespan="off",
                               loop="trio", access_log=False, **config))
        server.bind()
        running = Running(server, tls, server.sockets[0].getsockname()[1])
        handler = ListHandler(running.records)
        error_logger.addHandler(handler)
        handlers.append(handler)
        error_logger.setLevel(logging.DEBUG)

        async def serve() -> None:
            async with trio.open_nursery() as system:
                connections = await system.start(trio_backend._connections_nursery)
                runtime = TLSRuntime(system, connections)
                runtime.tls_listener = tls
                await server.serve(runtime)
                system.cancel_scope.cancel()

        thread = threading.Thread(target=trio.run, args=(serve,), daemon=True)
        thread.start()
        started.append((running, thread))
        deadline = time.monotonic() + 10
        while server.state is None or not server.runtime or not server.runtime.listeners:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        return running

    yield _start
    for running, thread in started:
        running.server.request_exit_threadsafe()
        thread.join(timeout=10)
        for sock in running.server.sockets:
            sock.close()
        assert not thread.is_alive(), "the server did not stop"
        # No traceback, nothing above debug/info: a failed handshake is not an error.
        loud = [r for r in running.records if r.levelno >= logging.WARNING or r.exc_info]
        assert not loud, [r.getMessage() for r in loud]
    for handler in handlers:
        error_logger.removeHandler(handler)
    error_logger.setLevel(old_level)


def read_response(sock: ssl.SSLSocket | socket.socket) -> tuple[bytes, bytes]:
    """One response with a content-length: (head, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        assert data, f"EOF inside the head: {buf!r}"
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        data = sock.recv(65536)
        assert data, "EOF inside the body"
        rest += data
    assert len(rest) == length, "more bytes than the response"
    return head, rest


def test_httpx_get_post_and_keep_alive(start: Callable[..., Running], certs: Certs) -> None:
    running = start()
    with httpx.Client(verify=certs.client_context(), timeout=10) as client:
        first = client.get(running.url + "/a")
        assert first.status_code == 200
        scheme, path, peer = first.text.split()
        assert (scheme, path) == ("https", "/a")
        body = bytes(range(256)) * 4096  # 1 MiB
        echoed = client.post(running.url + "/echo", content=body)
        assert echoed.status_code == 200 and echoed.content == body
        for i in range(5):
            again = client.get(running.url + f"/k{i}")
            assert again.text == f"https /k{i} {peer}"  # the same connection every time


def test_pipelined_requests(start: Callable[..., Running], certs: Certs) -> None:
    running = start()
    with running.wrap(certs.client_context()) as sock:
        sock.sendall(b"".join(b"GET /p%d HTTP/1.1\r\nhost: x\r\n\r\n" % i for i in range(10)))
        for i in range(10):
            head, body = read_response(sock)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert body.startswith(b"https /p%d " % i)


def test_extra_info_as_asyncio_answers(start: Callable[..., Running], certs: Certs) -> None:
    running = start()
    with running.wrap(certs.client_context()) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        read_response(sock)
        transport = running.one_transport()
        ssl_object = transport.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        assert ssl_object.version() == sock.version()
        assert transport.get_extra_info("sslcontext") is running.tls.context
        assert transport.get_extra_info("cipher") == sock.cipher()
        assert transport.get_extra_info("peercert") is None  # no client certificate
        assert transport.get_extra_info("peername") == sock.getsockname()


def test_large_response_to_a_slow_reader(start: Callable[..., Running], certs: Certs) -> None:
    running = start()
    raw = running.raw(timeout=20)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    with certs.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
        transport = running.one_transport()
        # Not reading: the TLS bytes pile up in the transport, which pauses the core.
        deadline = time.monotonic() + 10
        while not transport.writing_paused:
            assert time.monotonic() < deadline, "the core was never paused"
            time.sleep(0.01)
        # The app is held back (the kernel's loopback buffers hold a few MiB at most).
        time.sleep(0.2)
        held = PROGRESS["sent"]
        time.sleep(0.3)
        assert transport.writing_paused
        assert len(transport.buffer) > trio_backend.HIGH_WATER  # ciphertext, not yet sent
        assert PROGRESS["sent"] == held < BIG
        head, body = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert len(body) == BIG
        expected = b"".join(bytes([i % 251]) * CHUNK for i in range(BIG // CHUNK))
        assert body == expected
        assert not transport.writing_paused


def test_plain_http_to_the_tls_port(start: Callable[..., Running]) -> None:
    running = start()
    with running.raw() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        answer = b""
        while data := sock.recv(65536):
            answer += data
    assert answer == PLAIN_HTTP_RESPONSE
    assert answer.endswith(b"The plain HTTP request was sent to HTTPS port")
    running.wait_for_debug("Plain HTTP request on a TLS port")
    assert not running.transports()  # no core ever saw it


@pytest.mark.parametrize("sends", [b"", b"\x16\x03\x01"], ids=["silent", "partial-hello"])
def test_handshake_timeout(start: Callable[..., Running], certs: Certs, sends: bytes) -> None:
    running = start(handshake_timeout=0.5)
    with running.raw() as sock:
        sock.sendall(sends)
        began = time.monotonic()
        assert sock.recv(100) == b""  # closed by the server
        waited = time.monotonic() - began
    assert 0.3 < waited < 5, waited
    running.wait_for_debug("timed out")
    # The listener still serves.
    with httpx.Client(verify=certs.client_context(), timeout=10) as client:
        assert client.get(running.url + "/").status_code == 200


def test_reset_mid_handshake(start: Callable[..., Running], certs: Certs) -> None:
    running = start()
    with httpx.Client(verify=certs.client_context(), timeout=10) as client:
        assert client.get(running.url + "/before").status_code == 200
        # A client that sends the start of a ClientHello, then resets the connection.
        hello = ssl.MemoryBIO()
        client_side = certs.client_context().wrap_bio(ssl.MemoryBIO(), hello,
                                                      server_hostname="127.0.0.1")
        with pytest.raises(ssl.SSLWantReadError):
            client_side.do_handshake()
        sock = running.raw()
        sock.sendall(hello.read()[:40])
        time.sleep(0.1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # RST
        running.wait_for_debug("TLS handshake with")
        # The keep-alive connection opened before is unaffected.
        assert client.get(running.url + "/after").status_code == 200
    assert len(running.debug_lines("TLS handshake with")) == 1


def test_failed_handshakes_are_one_debug_line(start: Callable[..., Running],
                                              certs: Certs) -> None:
    server_ctx = certs.server_context()
    server_ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    running = start(server_ctx)
    old = certs.client_context()
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        running.wrap(old).close()
    untrusting = ssl.create_default_context()  # does not trust the test CA
    with pytest.raises(ssl.SSLCertVerificationError):
        running.wrap(untrusting).close()
    deadline = time.monotonic() + 5
    while len(running.debug_lines("TLS handshake with")) < 2:
        assert time.monotonic() < deadline, running.debug_lines("")
        time.sleep(0.01)
    lines = running.debug_lines("TLS handshake with")
    assert len(lines) == 2, lines
    assert "UNSUPPORTED_PROTOCOL" in lines[0] and "UNKNOWN_CA" in lines[1], lines
    with httpx.Client(verify=certs.client_context(), timeout=10) as client:
        assert client.get(running.url + "/").status_code == 200


def test_mutual_tls(start: Callable[..., Running], certs: Certs) -> None:
    server_ctx = certs.server_context()
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    certs.ca.configure_trust(server_ctx)
    running = start(server_ctx)
    # Without a client certificate: refused (TLS 1.3 says so at the client's first read).
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        with running.wrap(certs.client_context()) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            assert sock.recv(100) == b"", "answered without a client certificate"
            raise ConnectionResetError  # a bare close is a refusal too
    running.wait_for_debug("TLS handshake with")
    # With one: served, and the transport gives its certificate.
    client_cert = certs.ca.issue_cert("client@example.test")
    ctx = certs.client_context()
    client_cert.configure_cert(ctx)
    with running.wrap(ctx) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        head, _ = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        peercert = running.one_transport().get_extra_info("peercert")
        assert peercert is not None
        names = [value for kind, value in peercert["subjectAltName"]]
        assert "client@example.test" in names


def test_alpn_http11(start: Callable[..., Running], certs: Certs) -> None:
    server_ctx = certs.server_context()
    server_ctx.set_alpn_protocols(["http/1.1"])
    running = start(server_ctx)
    ctx = certs.client_context()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with running.wrap(ctx) as sock:
        assert sock.selected_alpn_protocol() == "http/1.1"
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        read_response(sock)
        ssl_object = running.one_transport().get_extra_info("ssl_object")
        assert ssl_object.selected_alpn_protocol() == "http/1.1"


def test_rotation_through_the_sni_callback(start: Callable[..., Running],
                                           certs: Certs) -> None:
    running = start()
    with running.wrap(certs.client_context()) as sock:
        assert sock.getpeercert(binary_form=True) == _der(certs.cert)
    rotated = certs.ca.issue_cert("127.0.0.1", "localhost")
    new_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    rotated.configure_cert(new_context)
    running.tls.current = new_context  # what TLSListener.reload does
    with running.wrap(certs.client_context()) as sock:
        assert sock.getpeercert(binary_form=True) == _der(rotated)
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        head, _ = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        transport = running.one_transport()
        assert transport.get_extra_info("ssl_object").context is new_context


def test_close_sends_close_notify(start: Callable[..., Running], certs: Certs) -> None:
    running = start()
    raw = running.raw()
    ctx = certs.client_context()
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1", suppress_ragged_eofs=False) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        answer = b""
        while data := sock.recv(65536):  # a FIN without close_notify raises SSLEOFError
            answer += data
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")


def _der(cert: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())


def test_two_listeners(start: Callable[..., Running], certs: Certs) -> None:
    """Each accept loop has its own cancel scope (a shared one failed on the second)."""
    running = start(bind=["127.0.0.1:0", "127.0.0.1:0"])
    ports = [sock.getsockname()[1] for sock in running.server.sockets]
    assert len(set(ports)) == 2
    with httpx.Client(verify=certs.client_context(), timeout=10) as client:
        for port in ports:
            assert client.get(f"https://127.0.0.1:{port}/").status_code == 200
