"""A small, strict HTTP/1.1 client over raw sockets, for what httpx will not send or show."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import httpx

DEFAULT_TIMEOUT = 5.0


def connect(server: Any, timeout: float = DEFAULT_TIMEOUT) -> socket.socket:
    """A connected socket; over TLS (``server.tls`` set) an ``ssl.SSLSocket`` that trusts
    the test CA, checks the certificate against the host, and has done its handshake."""
    sock = socket.create_connection((server.host, server.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tls = getattr(server, "tls", None)
    if tls is None:
        return sock
    try:
        return tls.client_context().wrap_socket(sock, server_hostname=server.host)
    except BaseException:
        sock.close()
        raise


def request(method: str, target: str, headers: list[tuple[str, str]] | None = None,
            body: bytes = b"", host: str = "e2e.test") -> bytes:
    """A request in bytes; adds Host and, for a body, Content-Length unless headers say."""
    headers = list(headers or [])
    names = {name.lower() for name, _ in headers}
    if "host" not in names:
        headers.insert(0, ("Host", host))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    return head.encode("latin-1") + b"\r\n" + body


def chunked(*pieces: bytes) -> bytes:
    """A chunked body: each piece one chunk, then the last chunk."""
    return b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces if p) + b"0\r\n\r\n"


@dataclass
class Response:
    status_line: bytes
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    chunked: bool = False
    chunks: list[bytes] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        values = self.get_all(name)
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)


def read_head(reader: BinaryIO) -> tuple[bytes, int, list[tuple[str, str]]]:
    status_line = reader.readline(65537)
    if not status_line:
        raise ConnectionError("the server closed the connection before a response")
    parts = status_line.split(b" ", 2)
    assert status_line.endswith(b"\r\n") and parts[0] == b"HTTP/1.1", status_line
    status = int(parts[1])
    headers = []
    while True:
        line = reader.readline(65537)
        assert line.endswith(b"\r\n"), f"truncated head after {status_line!r}: {line!r}"
        if line == b"\r\n":
            break
        name, _, value = line.decode("latin-1").partition(":")
        assert name and name == name.strip(), f"bad header line {line!r}"
        headers.append((name, value.strip()))
    return status_line, status, headers


def read_response(reader: BinaryIO, method: str = "GET") -> Response:
    """Read one response (skipping nothing: a 100 Continue is returned as it is)."""
    status_line, status, headers = read_head(reader)
    response = Response(status_line, status, headers)
    if method == "HEAD" or status < 200 or status in (204, 304):
        return response
    encoding = (response.header("transfer-encoding") or "").lower()
    length = response.header("content-length")
    if encoding:
        assert encoding == "chunked", encoding
        assert length is None, "both content-length and transfer-encoding in a response"
        response.chunked = True
        while True:
            size_line = reader.readline(1024)
            assert size_line.endswith(b"\r\n"), f"bad chunk size line {size_line!r}"
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while reader.readline(65537) not in (b"\r\n", b""):
                    pass  # trailers
                break
            data = reader.read(size)
            assert len(data) == size and reader.read(2) == b"\r\n", "truncated chunk"
            response.chunks.append(data)
        response.body = b"".join(response.chunks)
    elif length is not None:
        response.body = reader.read(int(length))
        assert len(response.body) == int(length), "truncated body"
    else:
        response.body = reader.read()  # delimited by the close
    return response


def assert_closed(sock: socket.socket, reader: BinaryIO | None = None,
                  timeout: float = DEFAULT_TIMEOUT) -> None:
    """The server closed the connection cleanly: the next read is EOF, with no more bytes."""
    sock.settimeout(timeout)
    try:
        rest = reader.read() if reader is not None else sock.recv(65536)
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open for {timeout}s") from None
    assert rest == b"", f"expected EOF, got more bytes: {rest[:200]!r}"


def exchange(server: Any, data: bytes, method: str = "GET",
             timeout: float = DEFAULT_TIMEOUT) -> Response:
    """Open a connection, send ``data``, read one response."""
    with connect(server, timeout) as sock, sock.makefile("rb") as reader:
        sock.sendall(data)
        return read_response(reader, method)


class Connection:
    """A raw keep-alive connection: ``send`` bytes, ``response()`` reads the next one."""

    def __init__(self, server: Any, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.sock = connect(server, timeout)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self, method: str = "GET") -> Response:
        return read_response(self.reader, method)

    def get(self, target: str, headers: list[tuple[str, str]] | None = None) -> Response:
        self.send(request("GET", target, headers))
        return self.response()

    def assert_closed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        assert_closed(self.sock, self.reader, timeout)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RssSampler:
    """Samples a server's RSS every few milliseconds in a thread; ``peak`` is the maximum."""

    def __init__(self, server: Any, interval: float = 0.02) -> None:
        self.server = server
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.server.rss())
            except Exception:  # the process may be exiting
                return
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)


def wait_events(server: Any, key: str, predicate: Any, timeout: float = 5.0) -> list[str]:
    """Poll ``GET /events?id=key`` (tests.apps.basic) until ``predicate(events)`` holds."""
    deadline = time.monotonic() + timeout
    events: list[str] = []
    while time.monotonic() < deadline:
        events = exchange(server, request("GET", f"/events?id={key}")).json()
        if predicate(events):
            return events
        time.sleep(0.05)
    raise AssertionError(f"app events for {key!r} after {timeout}s: {events}")


def slow_request_in_flight(server: Any, delay: float,
                           timeout: float = 15) -> tuple[threading.Thread, dict[str, Any]]:
    """``GET /slow`` (tests.apps.basic) from a thread, returned once the app has started it.

    The thread puts the httpx response in ``results["response"]``, or what it raised in
    ``results["error"]``."""
    key = uuid.uuid4().hex
    results: dict[str, Any] = {}

    def slow_request() -> None:
        try:
            results["response"] = httpx.get(server.url + "/slow", verify=server.verify,
                                            params={"delay": str(delay), "id": key},
                                            timeout=timeout)
        except Exception as exc:  # reported by the test
            results["error"] = exc

    thread = threading.Thread(target=slow_request)
    thread.start()
    wait_events(server, key, lambda e: "started" in e)
    return thread, results
