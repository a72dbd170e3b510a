"""The PROXY protocol reader (fastcorn/protocol/proxy.py): the parser on its own, then the
core in the harness, handing over to HTTP/1.1 through the server's one factory.

tests/e2e/test_proxy_protocol.py sends the same preambles over real sockets on every
backend, and tests/e2e/test_behind_haproxy.py has HAProxy send them.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Callable
from typing import Any

import pytest

from fastcorn.asgi.cycle import ServerState
from fastcorn.asgi.proxy import ProxyPolicy
from fastcorn.protocol.base import CoreFactory
from fastcorn.protocol.h1 import H1Connection
from fastcorn.protocol.negotiate import connection_factory
from fastcorn.protocol.proxy import (
    V2_SIGNATURE,
    ProxyProtocolError,
    ProxyProtocolReader,
    crc32c,
    parse_preamble,
)
from fastcorn.testing import Harness
from tests.apps.proxied import app

GET = b"GET /p HTTP/1.1\r\nhost: a\r\n\r\n"


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + struct.pack("!H", len(value)) + value


def v2(command: int = 1, family: int = 0x11, addresses: bytes | None = None,
       tlvs: bytes = b"", crc: bool = False) -> bytes:
    """A v2 header; ``crc`` appends a correct PP2_TYPE_CRC32C TLV."""
    if addresses is None:
        addresses = (socket.inet_aton("203.0.113.7") + socket.inet_aton("198.51.100.2")
                     + struct.pack("!HH", 4711, 443))
    body = addresses + tlvs
    if crc:
        body += tlv(0x03, b"\0\0\0\0")
    head = V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body))
    whole = head + body
    if crc:
        whole = whole[:-4] + struct.pack("!I", crc32c(whole))
    return whole


def ssl_tlv(client: int = 1, version: bytes = b"TLSv1.3", cn: bytes | None = None) -> bytes:
    subs = tlv(0x21, version) + tlv(0x23, b"TLS_AES_128_GCM_SHA256")
    if cn is not None:
        subs += tlv(0x22, cn)
    return tlv(0x20, bytes([client]) + struct.pack("!I", 0) + subs)


# -- the parser --------------------------------------------------------------------------------


def test_crc32c_known_answer() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # RFC 3720's check value


@pytest.mark.parametrize(("line", "client", "server"), [
    (b"PROXY TCP4 203.0.113.7 198.51.100.2 4711 443\r\n", ("203.0.113.7", 4711),
     ("198.51.100.2", 443)),
    (b"PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n", ("2001:db8::1", 65535),
     ("2001:db8::2", 0)),
    (b"PROXY UNKNOWN\r\n", None, None),
    (b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", None, None),
])
def test_v1(line: bytes, client: Any, server: Any) -> None:
    parsed = parse_preamble(line + GET)
    assert parsed is not None
    header, used = parsed
    assert (header.version, header.client, header.server, used) == (1, client, server, len(line))


@pytest.mark.parametrize("line", [
    b"PROXY TCP4 203.0.113.7 198.51.100.2 4711\r\n",
    b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
    b"PROXY TCP6 203.0.113.7 198.51.100.2 1 2\r\n",
    b"PROXY TCP4 203.0.113.7 198.51.100.2 4711 65536\r\n",
    b"PROXY TCP4 203.0.113.7 198.51.100.2 -1 443\r\n",
    b"PROXY TCP4  203.0.113.7 198.51.100.2 1 443\r\n",
    b"PROXY UDP4 203.0.113.7 198.51.100.2 1 443\r\n",
    b"PROXY TCP4 203.0.113.700 198.51.100.2 1 443\r\n",
    b"PROXY\r\n",
    b"proxy TCP4 203.0.113.7 198.51.100.2 1 443\r\n",
    b"GET / HTTP/1.1\r\n",
    b"PROXY TCP4 " + b"1" * 200 + b"\r\n",
    b"\r\n\r\n\x00\r\nQUIT!" + b"\0" * 20,
])
def test_malformed_preambles_are_refused(line: bytes) -> None:
    with pytest.raises(ProxyProtocolError):
        parse_preamble(line)


def test_incomplete_preambles_wait_for_more() -> None:
    for whole in (b"PROXY TCP4 203.0.113.7 198.51.100.2 4711 443\r\n", v2(tlvs=ssl_tlv())):
        for cut in range(len(whole)):
            assert parse_preamble(whole[:cut]) is None, (whole, cut)
        assert parse_preamble(whole) is not None


def test_v2_ipv4_ipv6_unix_local_unspec() -> None:
    header, _ = parse_preamble(v2())  # type: ignore[misc]
    assert (header.client, header.server) == (("203.0.113.7", 4711), ("198.51.100.2", 443))
    six = (socket.inet_pton(socket.AF_INET6, "2001:db8::1")
           + socket.inet_pton(socket.AF_INET6, "2001:db8::2") + struct.pack("!HH", 1, 2))
    header, _ = parse_preamble(v2(family=0x21, addresses=six))  # type: ignore[misc]
    assert (header.client, header.server) == (("2001:db8::1", 1), ("2001:db8::2", 2))
    unix = b"/tmp/client".ljust(108, b"\0") + b"/run/app.sock".ljust(108, b"\0")
    header, _ = parse_preamble(v2(family=0x31, addresses=unix))  # type: ignore[misc]
    assert (header.client, header.server) == ("", "/run/app.sock")
    for local in (v2(command=0), v2(family=0x00, addresses=b"")):  # health checks
        header, used = parse_preamble(local + GET)  # type: ignore[misc]
        assert header.client is None and used == len(local)


def test_v2_tlvs() -> None:
    data = v2(tlvs=tlv(0x01, b"h2") + tlv(0x02, b"app.example") + tlv(0x05, b"id-1")
              + tlv(0x04, b"\0\0") + ssl_tlv(cn=b"client.example"), crc=True)
    header, used = parse_preamble(data)  # type: ignore[misc]
    assert used == len(data)
    assert header.tlvs[0x01] == b"h2" and header.tlvs[0x02] == b"app.example"
    assert header.ssl is not None and header.ssl["version"] == "TLSv1.3"
    assert header.ssl["cn"] == "client.example" and header.scheme == "https"
    assert parse_preamble(v2(tlvs=ssl_tlv(client=0)))[0].scheme is None  # type: ignore[index]


@pytest.mark.parametrize("data", [
    v2()[:12] + b"\x10" + v2()[13:],  # version 1 in a v2 header
    v2(command=2),
    v2(family=0x12),  # UDP
    v2(family=0x41),
    v2(addresses=b"\0" * 11),  # shorter than the IPv4 addresses
    v2(tlvs=b"\x01\x00"),  # truncated TLV
    v2(tlvs=b"\x01\x00\x09ab"),  # TLV longer than the header
    v2(tlvs=tlv(0x20, b"\x01")),  # short SSL TLV
    v2(tlvs=tlv(0x03, b"\0\0\0\1")),  # wrong checksum
    v2(tlvs=tlv(0x03, b"\0\0")),  # checksum of the wrong size
])
def test_malformed_v2_is_refused(data: bytes) -> None:
    with pytest.raises(ProxyProtocolError):
        parse_preamble(data)


def test_v2_checksum_is_checked() -> None:
    good = v2(tlvs=tlv(0x01, b"h2"), crc=True)
    assert parse_preamble(good) is not None
    tampered = good[:16] + socket.inet_aton("203.0.113.8") + good[20:]
    with pytest.raises(ProxyProtocolError, match="checksum"):
        parse_preamble(tampered)


# -- the core --------------------------------------------------------------------------------


def proxy_protocol(trusted: str = "127.0.0.1", headers: bool = True,
                   ) -> Callable[[ServerState], CoreFactory]:
    def factory(state: ServerState) -> CoreFactory:
        state.proxy = ProxyPolicy(trusted, headers, protocol=True)
        return connection_factory(state)
    return factory


def answer(out: bytes) -> dict[str, Any]:
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), out
    return dict(json.loads(body))


def test_reader_hands_over_with_the_preamble_addresses() -> None:
    h = Harness(app, factory=proxy_protocol())
    assert isinstance(h.protocol, ProxyProtocolReader)
    out = h.feed(b"PROXY TCP4 203.0.113.7 198.51.100.2 4711 443\r\n" + GET)
    assert isinstance(h.protocol, H1Connection)
    facts = answer(out)
    assert facts["client"] == ["203.0.113.7", 4711] and facts["server"] == ["198.51.100.2", 443]
    assert facts["scheme"] == "http" and facts["client_type"] == "tuple"
    # every later request of the connection has the same addresses
    assert answer(h.feed(GET))["client"] == ["203.0.113.7", 4711]
    assert h.state.connections == {h.protocol}
    h.disconnect()
    assert not h.state.connections


def test_reader_byte_by_byte_and_v2_ssl_gives_https() -> None:
    h = Harness(app, factory=proxy_protocol())
    out = b""
    for byte in v2(tlvs=ssl_tlv()) + GET:
        out += h.feed(bytes([byte]))
    facts = answer(out)
    assert facts["client"] == ["203.0.113.7", 4711] and facts["scheme"] == "https"
    h.disconnect()


def test_local_command_keeps_the_connection_addresses() -> None:
    h = Harness(app, peer=("127.0.0.1", 50000), factory=proxy_protocol())
    facts = answer(h.feed(v2(command=0) + GET))
    assert facts["client"] == ["127.0.0.1", 50000] and facts["server"] == ["127.0.0.1", 8000]
    h.disconnect()


def test_proxy_headers_after_a_preamble_are_trusted_by_the_preamble_client() -> None:
    # The PROXY client is the one the policy is asked about: an untrusted client's
    # X-Forwarded-For is ignored, a trusted one's is read.
    spoof = b"GET / HTTP/1.1\r\nhost: a\r\nx-forwarded-for: 192.0.2.66\r\n\r\n"
    h = Harness(app, factory=proxy_protocol("127.0.0.1,10.0.0.0/8"))
    assert answer(h.feed(b"PROXY TCP4 203.0.113.7 198.51.100.2 1 2\r\n" + spoof))["client"] == [
        "203.0.113.7", 1]
    h.disconnect()
    h = Harness(app, factory=proxy_protocol("127.0.0.1,10.0.0.0/8"))
    assert answer(h.feed(b"PROXY TCP4 10.0.0.9 198.51.100.2 1 2\r\n" + spoof))["client"] == [
        "192.0.2.66", 0]
    h.disconnect()


@pytest.mark.parametrize("data", [GET, b"PROXY TCP4 nope\r\n" + GET, b"\r\n\r\n\x00\r\nQUIT?"])
def test_missing_or_malformed_preamble_closes_without_an_answer(data: bytes) -> None:
    h = Harness(app, factory=proxy_protocol())
    assert h.feed(data) == b""
    assert h.transport.aborted and not h.state.connections


def test_untrusted_peer_is_closed_at_once() -> None:
    h = Harness(app, peer=("192.0.2.1", 5000), factory=proxy_protocol())
    assert h.transport.aborted and not h.state.connections
    h = Harness(app, peer=("192.0.2.1", 5000), factory=proxy_protocol("*"))
    assert not h.transport.aborted
    h.disconnect()


def test_a_preamble_that_never_completes_times_out() -> None:
    h = Harness(app, factory=proxy_protocol(), timeout_request_head=5.0)
    h.feed(b"PROXY TCP4 203.0.113.7")
    h.advance(4.0)
    assert not h.transport.aborted
    h.advance(1.5)
    assert h.transport.aborted and not h.state.connections


def test_graceful_shutdown_closes_a_reader_still_waiting() -> None:
    h = Harness(app, factory=proxy_protocol())
    assert h.state.connections == {h.protocol}
    for conn in list(h.state.connections):
        conn.shutdown()
    assert h.transport.aborted and not h.state.connections


def test_proxied_transport_extra_info() -> None:
    h = Harness(app, factory=proxy_protocol())
    h.feed(v2(tlvs=tlv(0x01, b"http/1.1") + tlv(0x02, b"app.example") + ssl_tlv()))
    transport = h.protocol.transport
    assert transport.get_extra_info("peername") == ("203.0.113.7", 4711)
    assert transport.get_extra_info("proxy_alpn") == b"http/1.1"
    assert transport.get_extra_info("proxy_authority") == b"app.example"
    assert transport.get_extra_info("proxy_ssl")["cipher"] == "TLS_AES_128_GCM_SHA256"
    assert transport.get_extra_info("nothing", 7) == 7
    assert transport.get_protocol() is h.protocol
    h.disconnect()
