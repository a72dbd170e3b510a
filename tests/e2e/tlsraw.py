"""A TLS client that speaks for a load balancer passing TLS through: it sends bytes (a
PROXY preamble) ahead of its ClientHello, in the same write or a byte at a time, which no
ssl.SSLSocket can. It runs an ``ssl.SSLObject`` over memory BIOs on a plain socket."""

from __future__ import annotations

import socket
import ssl
import time


class PreambledTLS:
    """One connection: ``preamble`` and the ClientHello in one ``sendall`` (or a byte at a
    time with ``split``), then the handshake. EOFError when the server closes first."""

    def __init__(self, port: int, preamble: bytes, context: ssl.SSLContext, *,
                 split: bool = False, source: str = "127.0.0.1",
                 alpn: list[str] | None = None, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        if alpn is not None:
            context.set_alpn_protocols(alpn)
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        self.eof = False
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        first = preamble + self.outgoing.read()
        if split:
            for index in range(len(first)):
                self.sock.sendall(first[index:index + 1])
                time.sleep(0.001)
        else:
            self.sock.sendall(first)
        try:
            self._finish_handshake()
        except BaseException:
            self.sock.close()
            raise

    def _finish_handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError(
                        "the server closed the connection during the handshake") from None
                self.incoming.write(data)
        self._flush()

    def _flush(self) -> None:
        if self.outgoing.pending:
            self.sock.sendall(self.outgoing.read())

    @property
    def alpn(self) -> str | None:
        return self.tls.selected_alpn_protocol()

    def sendall(self, data: bytes) -> None:
        self.tls.write(data)
        self._flush()

    def recv(self) -> bytes:
        """Some plaintext; b"" once the server closed (close_notify answered)."""
        while not self.eof:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self._close_notify()
                break
            data = self.sock.recv(65536)
            if not data:
                break
            self.incoming.write(data)
        self.eof = True
        return b""

    def read_all(self) -> bytes:
        data = b""
        while chunk := self.recv():
            data += chunk
        return data

    def _close_notify(self) -> None:
        try:
            self.tls.unwrap()
        except ssl.SSLError:
            pass
        try:
            self._flush()
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> PreambledTLS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def client_hello(context: ssl.SSLContext) -> bytes:
    """A ClientHello as a client would send it first (for the raw refusal tests)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()
