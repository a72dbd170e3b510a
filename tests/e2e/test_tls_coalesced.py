"""TLS records that arrive together, on every backend: what the server must decrypt and
deliver without waiting for the socket to become readable again.

A sans-IO TLS client (``ssl.SSLObject`` over two ``MemoryBIO``\\ s) decides exactly which
bytes share a TLS record and which records share one ``send()``: the client's Finished
with the HTTP/1.1 WebSocket upgrade request and the first frames behind it (in one record,
or in several records of one segment), a frame's record cut in two, and, with ALPN h2, the
Finished with the HTTP/2 preface and a request. Bytes already read from the socket (in the
backend's incoming BIO, decrypted inside the SSLObject, or handed from the HTTP/1.1 core to
the WebSocket core as the rest of the upgrade read) wake nothing: a server that waits for
readability before looking at them stalls here, and the echo never comes.

(The stall that headless Chromium showed over wss, seen first on trio, was not the
server's: see tests/e2e/test_websocket_browser.py. These are the transport patterns it
was suspected of.)
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest

from tests.conftest import TLSCerts
from tests.e2e.wsraw import KEY, frame

pytestmark = [pytest.mark.timeout(60)]

APP = "tests.apps.websocket_apps:app"
UPGRADE = (b"GET /echo HTTP/1.1\r\nHost: e2e.test\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY.encode() +
           b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
WAIT = 5.0  # seconds an answer may take; a stall fails the test after it


class SansIOClient:
    """A TLS client whose every record and every send is the test's choice."""

    def __init__(self, server: Any, certs: TLSCerts, alpn: str = "http/1.1") -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=WAIT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        context = certs.client_context()
        context.set_alpn_protocols([alpn])
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=server.host)
        self.plaintext = bytearray()

    def handshake(self) -> bytes:
        """Run the handshake up to the client's last flight, which is returned unsent."""
        while True:
            try:
                self.tls.do_handshake()
                return self.outgoing.read()
            except ssl.SSLWantReadError:
                self.sock.sendall(self.outgoing.read())
                self._receive()

    def records(self, *plaintexts: bytes) -> bytes:
        """Each plaintext as its own TLS record (one write each), the ciphertext unsent."""
        for plaintext in plaintexts:
            self.tls.write(plaintext)
        return self.outgoing.read()

    def _receive(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        self.incoming.write(data)

    def read_until(self, done: Any) -> bytes:
        """Decrypted bytes until ``done(bytes)`` is true; fails after WAIT seconds."""
        deadline = time.monotonic() + WAIT
        while not done(bytes(self.plaintext)):
            try:
                self.plaintext += self.tls.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                self._receive()
            except TimeoutError:
                pytest.fail(f"stalled: after {WAIT}s the server has sent "
                            f"{bytes(self.plaintext)!r}")
        return bytes(self.plaintext)

    def close(self) -> None:
        self.sock.close()


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """The whole unmasked server frames (opcode, payload) in ``data``."""
    found = []
    while len(data) >= 2:
        n = data[1] & 0x7F
        start = 2
        if n == 126:
            n, start = int.from_bytes(data[2:4], "big"), 4
        if len(data) < start + n:
            break
        found.append((data[0] & 0x0F, data[start:start + n]))
        data = data[start + n:]
    return found


def echoed(count: int) -> Any:
    def done(data: bytes) -> bool:
        head, sep, rest = data.partition(b"\r\n\r\n")
        return bool(sep) and len(frames(rest)) >= count
    return done


TEXT = frame(0x1, b"hello")
BINARY = frame(0x2, bytes([1, 2, 3, 250]))

# How the client's last bytes are laid out: (their records, the sends).
LAYOUTS = {
    # Finished, then request and both frames in one record, all in one send.
    "finished+one-record": lambda c, fin: [fin + c.records(UPGRADE + TEXT + BINARY)],
    # Finished, then request, frame, frame as three records, all in one send.
    "finished+three-records": lambda c, fin: [fin + c.records(UPGRADE, TEXT, BINARY)],
    # Finished alone; later the three records in one send.
    "three-records": lambda c, fin: [fin, c.records(UPGRADE, TEXT, BINARY)],
    # Finished alone; the three records in two sends, cut mid-record: the server holds
    # part of a record until the rest arrives.
    "split-records": lambda c, fin: [fin, *_halves(c.records(UPGRADE, TEXT, BINARY))],
}


def _halves(data: bytes) -> list[bytes]:
    return [data[:len(data) // 2], data[len(data) // 2:]]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_upgrade_and_frames_sent_together(serve: Any, tls_certs: TLSCerts, layout: str
                                          ) -> None:
    server = serve(APP, "--ws-ping-interval", "0", tls=tls_certs)
    client = SansIOClient(server, tls_certs)
    try:
        sends = LAYOUTS[layout](client, client.handshake())
        for i, data in enumerate(sends):
            if i:
                time.sleep(0.05)  # separate segments, each read on its own
            client.sock.sendall(data)
        answer = client.read_until(echoed(2))
        head, _, rest = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert frames(rest)[:2] == [(0x1, b"hello"), (0x2, bytes([1, 2, 3, 250]))]
        # And the connection reads on after all that: one more frame, echoed.
        client.sock.sendall(client.records(frame(0x1, b"again")))
        answer = client.read_until(echoed(3))
        assert frames(answer.partition(b"\r\n\r\n")[2])[2] == (0x1, b"again")
    finally:
        client.close()


class H2Response:
    """Stream 1's body, fed the decrypted bytes as they grow."""

    def __init__(self, conn: h2.connection.H2Connection) -> None:
        self.conn = conn
        self.seen = 0
        self.body = bytearray()

    def ended(self, data: bytes) -> bool:
        events = self.conn.receive_data(data[self.seen:])
        self.seen = len(data)
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                self.body += event.data
            elif isinstance(event, h2.events.StreamEnded):
                return True
        return False


def test_h2_preface_in_the_finished_segment(serve: Any, tls_certs: TLSCerts) -> None:
    """ALPN h2: the HTTP/2 core gets the preface and a request read with the Finished."""
    server = serve(APP, tls=tls_certs)
    client = SansIOClient(server, tls_certs, alpn="h2")
    try:
        finished = client.handshake()
        assert client.tls.selected_alpn_protocol() == "h2"
        h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        h2conn.initiate_connection()
        h2conn.send_headers(1, [(":method", "GET"), (":scheme", "https"),
                                (":authority", "e2e.test"), (":path", "/plain")],
                            end_stream=True)
        client.sock.sendall(finished + client.records(h2conn.data_to_send()))
        response = H2Response(h2conn)
        client.read_until(response.ended)
        assert bytes(response.body) == b"plain http"
    finally:
        client.close()
