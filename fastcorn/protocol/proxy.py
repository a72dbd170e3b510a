"""The PROXY protocol (HAProxy's, v1 text and v2 binary): a connection's first core.

A load balancer in TCP mode (HAProxy ``send-proxy``/``send-proxy-v2``, AWS NLB, ...)
starts each connection with a preamble naming the client and the address it connected
to. :class:`ProxyProtocolReader` reads that preamble and nothing else, then hands the live
connection, with the bytes it read past the preamble, to the core the next factory makes
(TLS-less HTTP/1.1 or HTTP/2 negotiation), through a :class:`ProxiedTransport` whose
``peername``/``sockname`` are the addresses the preamble gave. So every protocol gets the
real client without knowing the PROXY protocol exists.

Only a peer among ``--forwarded-allow-ips`` may send a preamble: any other connection is
closed, as is one whose preamble is missing, malformed, or late (the request-head timeout).

On a TLS listener the preamble comes before the TLS handshake, in cleartext, so no core can
read it (the backends run the handshake before any core exists). There the factory is a
:class:`TLSPreambleGate`: the backend asks it, per accepted connection, whether the peer may
send a preamble, and reads the preamble off the raw socket with a :class:`PreambleRead`
(the same :func:`parse_preamble`), which takes exactly the preamble's bytes and leaves the
ClientHello behind it in the socket for the TLS layer; after the handshake the connection
starts with the listener's own first core behind a :class:`ProxiedTransport`, exactly as on
cleartext. The TLS handshake timeout covers the preamble too.

v2 TLVs read: ``PP2_TYPE_SSL`` (the client spoke TLS to the balancer: scheme https, and
its version, cipher and client-certificate CN in ``get_extra_info("proxy_ssl")``),
``PP2_TYPE_ALPN`` (``get_extra_info("proxy_alpn")``), ``PP2_TYPE_AUTHORITY`` (the SNI,
``get_extra_info("proxy_authority")``), ``PP2_TYPE_UNIQUE_ID`` and ``PP2_TYPE_CRC32C``
(checked: a preamble whose checksum does not match is malformed). Every TLV is kept in
``get_extra_info("proxy_tlvs")``.

The spec: https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from fastcorn.asgi.cycle import ServerState
from fastcorn.asgi.proxy import ProxiedAddress, ProxyPolicy
from fastcorn.protocol.base import Core, CoreFactory, HandsOverAtOnce, Transport, hand_over

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX_LINE = 107  # the longest v1 line, CRLF included (the spec's bound)
V2_HEADER = 16

# v2 command (low nibble of byte 13) and address family / transport (byte 14)
LOCAL, PROXY = 0x0, 0x1
AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX = 0x0, 0x1, 0x2, 0x3
T_UNSPEC, T_STREAM = 0x0, 0x1
ADDRESS_SIZES = {AF_INET: 12, AF_INET6: 36, AF_UNIX: 216}

# v2 TLV types
PP2_TYPE_ALPN = 0x01
PP2_TYPE_AUTHORITY = 0x02
PP2_TYPE_CRC32C = 0x03
PP2_TYPE_NOOP = 0x04
PP2_TYPE_UNIQUE_ID = 0x05
PP2_TYPE_SSL = 0x20
PP2_SUBTYPE_SSL_VERSION = 0x21
PP2_SUBTYPE_SSL_CN = 0x22
PP2_SUBTYPE_SSL_CIPHER = 0x23
PP2_SUBTYPE_SSL_SIG_ALG = 0x24
PP2_SUBTYPE_SSL_KEY_ALG = 0x25
PP2_CLIENT_SSL = 0x01
SSL_SUBTYPES = {
    PP2_SUBTYPE_SSL_VERSION: "version", PP2_SUBTYPE_SSL_CN: "cn",
    PP2_SUBTYPE_SSL_CIPHER: "cipher", PP2_SUBTYPE_SSL_SIG_ALG: "sig_alg",
    PP2_SUBTYPE_SSL_KEY_ALG: "key_alg",
}


class ProxyProtocolError(ValueError):
    """A preamble that is not a PROXY protocol header, or a malformed one."""


@dataclass
class ProxyHeader:
    """What a preamble said. ``client``/``server`` are None when it names no addresses
    (v1 UNKNOWN, v2 LOCAL or AF_UNSPEC): the connection's own addresses then stand."""

    version: int
    client: tuple[Any, ...] | str | None = None
    server: tuple[Any, ...] | str | None = None
    tlvs: dict[int, bytes] = field(default_factory=dict)
    ssl: dict[str, Any] | None = None

    @property
    def scheme(self) -> str | None:
        """"https" when the client spoke TLS to the balancer (the v2 SSL TLV), else None."""
        if self.ssl is not None and self.ssl.get("client_ssl"):
            return "https"
        return None


# -- parsing -----------------------------------------------------------------------------------


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum of the PP2_TYPE_CRC32C TLV."""
    crc = 0xFFFFFFFF
    table = _CRC32C
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _v1_address(text: bytes, version: int) -> str:
    try:
        ip = ipaddress.ip_address(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ProxyProtocolError(f"bad address {text!r}") from None
    if ip.version != version:
        raise ProxyProtocolError(f"address {text!r} is not IPv{version}")
    return str(ip)


def _v1_port(text: bytes) -> int:
    if not text.isdigit() or len(text) > 5 or int(text) > 65535:
        raise ProxyProtocolError(f"bad port {text!r}")
    return int(text)


def parse_v1(line: bytes) -> ProxyHeader:
    """One v1 line without its CRLF: ``PROXY TCP4 src dst sport dport``."""
    parts = line.split(b" ")
    if len(parts) < 2 or parts[0] != b"PROXY":
        raise ProxyProtocolError("not a PROXY line")
    family = parts[1]
    if family == b"UNKNOWN":
        return ProxyHeader(1)  # the rest of the line is to be ignored (spec 2.1)
    if family not in (b"TCP4", b"TCP6") or len(parts) != 6:
        raise ProxyProtocolError(f"bad PROXY line {line[:V1_MAX_LINE]!r}")
    version = 4 if family == b"TCP4" else 6
    src = _v1_address(parts[2], version)
    dst = _v1_address(parts[3], version)
    return ProxyHeader(1, (src, _v1_port(parts[4])), (dst, _v1_port(parts[5])))


def _parse_ssl(value: bytes) -> dict[str, Any]:
    if len(value) < 5:
        raise ProxyProtocolError("short PP2_TYPE_SSL TLV")
    client = value[0]
    (verify,) = struct.unpack_from("!I", value, 1)
    ssl: dict[str, Any] = {"client_ssl": bool(client & PP2_CLIENT_SSL), "client": client,
                           "verify": verify}
    for kind, _, sub in _tlvs(value[5:]):
        name = SSL_SUBTYPES.get(kind)
        if name is not None:
            ssl[name] = sub.decode("utf-8", "replace")
    return ssl


def _tlvs(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, offset of the value in ``data``, value) of each TLV."""
    found = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 3:
            raise ProxyProtocolError("truncated TLV")
        kind = data[pos]
        (length,) = struct.unpack_from("!H", data, pos + 1)
        end = pos + 3 + length
        if end > len(data):
            raise ProxyProtocolError("TLV longer than the header")
        found.append((kind, pos + 3, data[pos + 3:end]))
        pos = end
    return found


def parse_v2(header: bytes) -> ProxyHeader:
    """A whole v2 header: the 16 fixed bytes and the ``len`` bytes after them."""
    ver_cmd, fam = header[12], header[13]
    if ver_cmd >> 4 != 2:
        raise ProxyProtocolError(f"unknown PROXY v2 version {ver_cmd >> 4}")
    command = ver_cmd & 0x0F
    if command not in (LOCAL, PROXY):
        raise ProxyProtocolError(f"unknown PROXY v2 command {command}")
    family, transport = fam >> 4, fam & 0x0F
    if family not in (AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX):
        raise ProxyProtocolError(f"unknown PROXY v2 address family {family}")
    if transport not in (T_UNSPEC, T_STREAM):
        raise ProxyProtocolError("PROXY v2 for a datagram connection")
    body = header[V2_HEADER:]
    size = ADDRESS_SIZES.get(family, 0)
    if len(body) < size:
        raise ProxyProtocolError("PROXY v2 addresses longer than the header")
    result = ProxyHeader(2)
    if command == PROXY and transport == T_STREAM:
        if family == AF_INET:
            src, dst, sport, dport = struct.unpack_from("!4s4sHH", body)
            result.client = (socket.inet_ntop(socket.AF_INET, src), sport)
            result.server = (socket.inet_ntop(socket.AF_INET, dst), dport)
        elif family == AF_INET6:
            src, dst, sport, dport = struct.unpack_from("!16s16sHH", body)
            result.client = (socket.inet_ntop(socket.AF_INET6, src), sport)
            result.server = (socket.inet_ntop(socket.AF_INET6, dst), dport)
        elif family == AF_UNIX:
            result.client = ""  # a unix-socket client: no address (ASGI's None)
            result.server = body[108:216].split(b"\0", 1)[0].decode("utf-8", "replace")
    for kind, offset, value in _tlvs(body[size:]):
        result.tlvs[kind] = value
        if kind == PP2_TYPE_CRC32C:
            if len(value) != 4:
                raise ProxyProtocolError("bad PP2_TYPE_CRC32C length")
            at = V2_HEADER + size + offset  # the checksum is computed with itself zeroed
            zeroed = header[:at] + b"\0\0\0\0" + header[at + 4:]
            if crc32c(zeroed) != struct.unpack("!I", value)[0]:
                raise ProxyProtocolError("PROXY v2 checksum mismatch")
        elif kind == PP2_TYPE_SSL:
            result.ssl = _parse_ssl(value)
    return result


def parse_preamble(data: bytes) -> tuple[ProxyHeader, int] | None:
    """``(header, bytes consumed)`` from the start of a connection, or None while more
    bytes are needed; ProxyProtocolError when ``data`` cannot start a valid preamble."""
    if not data:
        return None
    if data[:1] == b"\r":
        if not V2_SIGNATURE.startswith(data[:12]):
            raise ProxyProtocolError("no PROXY protocol header")
        if len(data) < V2_HEADER:
            return None
        (length,) = struct.unpack_from("!H", data, 14)
        end = V2_HEADER + length
        if len(data) < end:
            return None
        return parse_v2(data[:end]), end
    if not V1_PREFIX.startswith(data[:6]):
        raise ProxyProtocolError("no PROXY protocol header")
    end = data.find(b"\r\n", 0, V1_MAX_LINE)
    if end < 0:
        if len(data) >= V1_MAX_LINE:
            raise ProxyProtocolError("PROXY v1 line too long")
        return None
    return parse_v1(data[:end]), end + 2


# -- the connection side -----------------------------------------------------------------------


class ProxiedTransport:
    """The transport as the next core sees it: the preamble's addresses as ``peername`` and
    ``sockname``, everything else the real transport's own bound methods (no extra call).
    ``transport`` is the real one: the backends send files to its socket."""

    def __init__(self, transport: Transport, header: ProxyHeader) -> None:
        self.transport = transport
        self.write = transport.write
        self.write_eof = transport.write_eof
        self.can_write_eof = transport.can_write_eof
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading
        self.is_closing = transport.is_closing
        self.close = transport.close
        self.abort = transport.abort
        self.header = header
        self.extra: dict[str, Any] = {"proxy_protocol": header, "proxy_tlvs": header.tlvs}
        if header.client is not None:
            client = header.client
            if isinstance(client, tuple):
                # The scope builder reads the scheme off it (the balancer's TLS).
                client = ProxiedAddress(client, header.scheme)
            self.extra["peername"] = client
            self.extra["sockname"] = header.server
        if header.ssl is not None:
            self.extra["proxy_ssl"] = header.ssl
        for key, kind in (("proxy_alpn", PP2_TYPE_ALPN),
                          ("proxy_authority", PP2_TYPE_AUTHORITY),
                          ("proxy_unique_id", PP2_TYPE_UNIQUE_ID)):
            if kind in header.tlvs:
                self.extra[key] = header.tlvs[kind]

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in self.extra:
            return self.extra[name]
        return self.transport.get_extra_info(name, default)

    def set_protocol(self, protocol: Any) -> None:
        self.transport.set_protocol(protocol)

    def get_protocol(self) -> Any:
        return self.transport.get_protocol()


def _address(addr: Any) -> tuple[Any, ...] | None:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return (addr[0], addr[1])
    if isinstance(addr, str) and addr:
        return (addr, None)
    return None


def _log_refusal(state: ServerState, peer: Any, why: str) -> None:
    if state.log_connection is not None:
        state.log_connection("PROXY protocol: connection refused", _address(peer), why)


def _peer_trusted(state: ServerState, peername: Any, sockname: Any) -> bool:
    policy = state.proxy
    return isinstance(policy, ProxyPolicy) and policy.trusts_peer(
        _address(peername), _address(sockname))


class ProxyProtocolReader:
    """The first core of a --proxy-protocol connection (fastcorn.protocol.base.Core)."""

    def __init__(self, state: ServerState, then: CoreFactory) -> None:
        self.state = state
        self.then = then
        self.buffer = b""
        self.transport: Transport | None = None
        self.deadline = 0.0
        self.done = False

    def connection_made(self, transport: Transport) -> None:
        self.transport = transport
        state = self.state
        if not _peer_trusted(state, transport.get_extra_info("peername"),
                             transport.get_extra_info("sockname")):
            self._refuse("PROXY header from an untrusted peer")
            return
        state.connections.add(self)
        if state.shutting_down:
            self._refuse("shutting down")
            return
        self.deadline = state.now + state.timeout_request_head

    def data_received(self, data: bytes) -> None:
        if self.done:
            return
        self.buffer += data
        try:
            parsed = parse_preamble(self.buffer)
        except ProxyProtocolError as exc:
            self._refuse(str(exc))
            return
        if parsed is None:
            return
        header, used = parsed
        rest = self.buffer[used:]
        self.buffer = b""
        self.done = True
        self.deadline = 0.0
        transport = self.transport
        assert transport is not None
        self.state.connection_closed(self)
        core: Core = self.then()
        hand_over(ProxiedTransport(transport, header), core, rest)

    def _refuse(self, why: str) -> None:
        self.done = True
        self.deadline = 0.0
        if self.transport is not None:
            _log_refusal(self.state, self.transport.get_extra_info("peername"), why)
            self.transport.abort()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self.done = True
        self.state.connection_closed(self)

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass

    def check_timeout(self, now: float) -> None:
        if self.deadline and now >= self.deadline:
            self._refuse("no PROXY header in time")

    def shutdown(self) -> None:
        if not self.done:
            self._refuse("shutting down")

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def proxy_protocol_factory(state: ServerState, then: CoreFactory) -> CoreFactory:
    """The factory of a --proxy-protocol server: a reader first, then ``then()``'s core."""

    def reader() -> Core:
        return ProxyProtocolReader(state, then)

    return reader


# -- ahead of TLS: the backend reads the preamble off the raw socket ---------------------------


class PreambleRead:
    """One TLS connection's preamble, read before its handshake; sans-IO, fed by a backend.

    The backend peeks at the socket (``MSG_PEEK``) and passes what it saw to :meth:`feed`,
    which says how many of those bytes to take: exactly the preamble's, never more, so the
    ClientHello behind it stays in the socket and the TLS layer reads it as if no preamble
    had been there, whatever the segments. While the preamble is incomplete every peeked
    byte belongs to it and is taken, so the socket is empty again and the backend waits for
    readability instead of spinning on bytes it already saw.
    """

    __slots__ = ("gate", "peername", "taken", "header")

    def __init__(self, gate: TLSPreambleGate, peername: Any) -> None:
        self.gate = gate
        self.peername = peername
        self.taken = b""
        self.header: ProxyHeader | None = None

    def feed(self, peeked: bytes) -> int | None:
        """How many bytes of ``peeked`` (the socket's unread bytes, at least one) to take
        off the socket; None when they cannot start a valid preamble (refused and logged:
        close the connection). Once the preamble is whole, :attr:`header` is set."""
        try:
            parsed = parse_preamble(self.taken + peeked)
        except ProxyProtocolError as exc:
            self.refuse(str(exc))
            return None
        if parsed is None:
            take = len(peeked)
        else:
            self.header, used = parsed
            take = used - len(self.taken)
        self.taken += peeked[:take]
        return take

    def cores(self) -> CoreFactory:
        """The connection's first core, for after the handshake: the listener's own, given
        the transport as the preamble describes it (call once :attr:`header` is set)."""
        assert self.header is not None
        return functools.partial(Preambled, self.header, self.gate.then)

    def refuse(self, why: str) -> None:
        """Log why the connection is closed (the backend closes it)."""
        _log_refusal(self.gate.state, self.peername, why)


class TLSPreambleGate:
    """The factory of a TLS listener's connections under --proxy-protocol.

    Backends find it with :func:`fastcorn.protocol.base.preamble_gate` and call
    :meth:`open_preamble` at accept, before reading anything. Called as a plain factory (a backend
    that reads no preamble before the handshake), it makes a :class:`ProxyProtocolReader`
    that expects the preamble inside TLS, where no balancer sends it: such a connection is
    closed, never served with the balancer's address taken for the client's.
    """

    __slots__ = ("state", "then")

    def __init__(self, state: ServerState, then: CoreFactory) -> None:
        self.state = state
        self.then = then

    def __call__(self) -> Core:
        return ProxyProtocolReader(self.state, self.then)

    def open_preamble(self, peername: Any, sockname: Any) -> PreambleRead | None:
        """The reading of a connection's preamble; None when the peer may not send one
        (not among --forwarded-allow-ips, or shutting down): close it unread (logged).
        ``peername`` None: the connection is gone already (a health check that closed)."""
        if peername is None:
            _log_refusal(self.state, peername, "the client left before its PROXY header")
            return None
        if not _peer_trusted(self.state, peername, sockname):
            _log_refusal(self.state, peername, "PROXY header from an untrusted peer")
            return None
        if self.state.shutting_down:
            _log_refusal(self.state, peername, "shutting down")
            return None
        return PreambleRead(self, peername)


class Preambled(HandsOverAtOnce):
    """A TLS connection's first core once its preamble was read and its handshake done:
    hands the connection at once to the listener's first core (ALPN choice, HTTP/1.1)
    through a :class:`ProxiedTransport`. Nothing else reaches it."""

    __slots__ = ("header", "then")

    def __init__(self, header: ProxyHeader, then: CoreFactory) -> None:
        self.header = header
        self.then = then

    def connection_made(self, transport: Transport) -> None:
        hand_over(ProxiedTransport(transport, self.header), self.then())
