"""A core hands its live connection to another (fastcorn.protocol.base.hand_over).

The harness asks a factory for the first core, as the backends do; tests.apps.handover's
Preamble reads one line and hands over to the HTTP/1.1 core with the bytes it read past
that line. The same core runs on every backend in tests/e2e/test_handover.py.
"""

from __future__ import annotations

from h1util import parse_response, parse_responses

from fastcorn.protocol.h1 import H1Connection
from fastcorn.testing import Harness
from tests.apps.handover import Preamble, app, preamble_factory

GET = b"GET /one HTTP/1.1\r\nhost: x\r\n\r\n"


def test_bytes_read_past_the_preamble_reach_the_next_core() -> None:
    h = Harness(app, factory=preamble_factory)
    assert isinstance(h.protocol, Preamble)
    out = h.feed(b"HELLO a\r\n" + GET)  # one read: the request arrives with the preamble
    assert isinstance(h.protocol, H1Connection)
    resp = parse_response(out)
    assert resp.status == 200 and resp.body == b"/one"
    # later reads go to the new core: a keep-alive request on the same connection
    assert parse_response(h.feed(b"GET /two HTTP/1.1\r\nhost: x\r\n\r\n")).body == b"/two"
    assert h.state.connections == {h.protocol}  # the old core let go of its registration
    h.disconnect()
    assert not h.state.connections


def test_preamble_split_across_reads_and_request_after_it() -> None:
    h = Harness(app, factory=preamble_factory)
    assert h.feed(b"HEL") == b""
    assert h.feed(b"LO b\r") == b""
    assert isinstance(h.protocol, Preamble)
    assert h.feed(b"\n") == b""  # handed over with nothing past the line
    assert isinstance(h.protocol, H1Connection)
    out = h.feed(GET + b"GET /two HTTP/1.1\r\nhost: x\r\n\r\n")
    assert [r.body for r in parse_responses(out)] == [b"/one", b"/two"]
    h.disconnect()
    assert not h.state.connections


def test_a_bad_preamble_never_reaches_http() -> None:
    h = Harness(app, factory=preamble_factory)
    out = h.feed(GET)
    assert out == b"BAD PREAMBLE\r\n"
    assert h.closed and isinstance(h.protocol, Preamble)
    assert not h.state.connections


def test_the_new_core_owns_the_timers_and_shutdown() -> None:
    h = Harness(app, factory=preamble_factory, timeout_keep_alive=5.0)
    h.feed(b"HELLO c\r\n")
    assert isinstance(h.protocol, H1Connection)
    h.advance(4)
    assert not h.closed
    h.advance(2)  # the HTTP/1.1 core's keep-alive timer, armed at the hand-over
    assert h.closed
    assert not h.state.connections
