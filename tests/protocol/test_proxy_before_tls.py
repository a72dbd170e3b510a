"""The PROXY preamble ahead of TLS, protocol side (fastcorn/protocol/proxy.py: the gate a TLS
listener's factory becomes, and the sans-IO PreambleRead a backend feeds what it peeks).

tests/e2e/test_proxy_protocol_tls.py runs it over real sockets on every backend, and
tests/e2e/test_behind_haproxy.py behind the real HAProxy.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fastcorn.asgi.cycle import ServerState
from fastcorn.asgi.proxy import ProxyPolicy
from fastcorn.protocol.base import CoreFactory, PreambleGate, preamble_gate
from fastcorn.protocol.h1 import H1Connection
from fastcorn.protocol.negotiate import connection_factory
from fastcorn.protocol.proxy import PreambleRead, ProxyProtocolReader, TLSPreambleGate
from fastcorn.testing import Harness
from tests.apps.proxied import app
from tests.protocol.test_proxy_protocol import GET, ssl_tlv, v2

V1 = b"PROXY TCP4 203.0.113.7 198.51.100.2 4711 443\r\n"
# What follows the preamble on the wire: the first bytes of a TLS handshake record.
HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32)
BALANCER = ("127.0.0.1", 40000)
LISTENER = ("127.0.0.1", 8443)


def tls_gate(state: ServerState, trusted: str = "127.0.0.1") -> PreambleGate:
    state.proxy = ProxyPolicy(trusted, True, protocol=True)
    gate = preamble_gate(connection_factory(state, tls=True))
    assert isinstance(gate, TLSPreambleGate)
    return gate


def reading(trusted: str = "127.0.0.1", peer: Any = BALANCER) -> PreambleRead:
    gate = tls_gate(Harness(app).state, trusted)
    opened = gate.open_preamble(peer, LISTENER)
    assert isinstance(opened, PreambleRead)
    return opened


def test_the_gate_is_only_the_factory_of_tls_listeners_under_proxy_protocol() -> None:
    state = Harness(app).state
    assert preamble_gate(connection_factory(state, tls=True)) is None  # no --proxy-protocol
    state.proxy = ProxyPolicy("127.0.0.1", True, protocol=True)
    assert preamble_gate(connection_factory(state)) is None  # cleartext: the reader core
    assert isinstance(connection_factory(state)(), ProxyProtocolReader)
    gate = preamble_gate(connection_factory(state, tls=True))
    assert gate is not None
    # Called as a plain factory (a backend that reads nothing before the handshake), it
    # expects the preamble inside TLS, where none comes: the connection is refused.
    assert isinstance(gate(), ProxyProtocolReader)


@pytest.mark.parametrize("preamble", [V1, v2(), v2(tlvs=ssl_tlv(cn=b"c"), crc=True)])
def test_takes_exactly_the_preamble_and_leaves_the_client_hello(preamble: bytes) -> None:
    read = reading()
    assert read.feed(preamble + HELLO) == len(preamble)
    assert read.header is not None and read.header.client == ("203.0.113.7", 4711)
    assert read.taken == preamble


@pytest.mark.parametrize("preamble", [V1, v2(tlvs=ssl_tlv(), crc=True)])
def test_byte_by_byte_every_peeked_byte_is_preamble(preamble: bytes) -> None:
    read = reading()
    peeked = b""  # what the socket holds: the backend took nothing of it yet
    for byte in preamble + HELLO:
        peeked += bytes([byte])
        take = read.feed(peeked)
        assert take is not None
        peeked = peeked[take:]
        if read.header is not None:
            break
    assert read.taken == preamble and peeked == b""  # the ClientHello bytes still unsent


def test_a_long_v2_header_over_several_peeks() -> None:
    preamble = v2(tlvs=bytes([0x04]) + (5000).to_bytes(2, "big") + bytes(5000), crc=True)
    read = reading()
    data = preamble + HELLO
    while read.header is None:
        take = read.feed(data[:4096])  # a backend peeks at most 4096 bytes
        assert take is not None
        data = data[take:]
    assert data == HELLO


@pytest.mark.parametrize("data", [HELLO, b"PROXY TCP4 nope\r\n", b"GET / HTTP/1.1\r\n",
                                  b"PROXY " + b"9" * 120])
def test_no_or_a_malformed_preamble_is_refused(data: bytes) -> None:
    assert reading().feed(data) is None


def test_untrusted_peers_and_shutdown_are_refused_before_reading() -> None:
    state = Harness(app).state
    gate = tls_gate(state)
    assert gate.open_preamble(("192.0.2.1", 5000), LISTENER) is None
    assert gate.open_preamble(None, LISTENER) is None  # gone already: nothing to read
    assert tls_gate(state, "*").open_preamble(("192.0.2.1", 5000), LISTENER) is not None
    state.shutting_down = True
    assert gate.open_preamble(BALANCER, LISTENER) is None


def preambled(preamble: bytes) -> Any:
    def factory(state: ServerState) -> CoreFactory:
        read = tls_gate(state).open_preamble(BALANCER, LISTENER)
        assert read is not None and read.feed(preamble) == len(preamble)
        return read.cores()
    return factory


def test_after_the_handshake_the_connection_is_served_as_the_preamble_says() -> None:
    h = Harness(app, peer=BALANCER, local=LISTENER, factory=preambled(V1))
    assert isinstance(h.protocol, H1Connection)  # handed over at connection_made
    out = h.feed(GET)
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), out
    facts = json.loads(body)
    assert facts["client"] == ["203.0.113.7", 4711] and facts["server"] == ["198.51.100.2", 443]
    assert h.protocol.transport.get_extra_info("proxy_protocol").version == 1
    h.disconnect()
    assert not h.state.connections
