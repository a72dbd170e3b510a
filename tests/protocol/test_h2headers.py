"""The compiled HTTP/2 header checks (fastcorn.protocol.h2headers) against h2's own.

Differential, on seeded generated blocks and hand-written hostile ones: our checks and h2's
inbound passes (normalize_inbound_headers + validate_headers) refuse the same request blocks
and trailers and return the same fields; our outbound normalisation and h2's
(normalize_outbound_headers + validate_outbound_headers) refuse the same response blocks and
produce the same fields. The deliberate differences (RFC 9113 stricter than h2, listed in
h2headers.pyx) are tested on their own, and the generators steer clear of them.

Where each refusal lands: h2 with its checks on turns a malformed request into a connection
error (ProtocolError out of receive_data, GOAWAY PROTOCOL_ERROR); with them off, h2 hands the
block over as RequestReceived and our HeaderError lets the core reset just that stream (RFC
9113 8.1.1), which the last tests show on real h2 connections.
"""

from __future__ import annotations

import random

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import pytest
from h2.utilities import (
    HeaderValidationFlags,
    normalize_inbound_headers,
    normalize_outbound_headers,
    validate_headers,
    validate_outbound_headers,
)
from hpack import NeverIndexedHeaderTuple

from fastcorn.protocol import h2headers
from fastcorn.protocol.h2headers import HeaderError

REQUEST = HeaderValidationFlags(False, False, False, False)
TRAILERS = HeaderValidationFlags(False, True, False, False)
RESPONSE = HeaderValidationFlags(False, False, True, False)
Fields = list[tuple[bytes, bytes]]


def h2_inbound(headers: Fields, flags: HeaderValidationFlags) -> Fields | str:
    try:
        return list(validate_headers(normalize_inbound_headers(headers, flags), flags))
    except h2.exceptions.ProtocolError:
        return "refused"


def ours_request(headers: Fields, allow_connect_protocol: bool = True) -> Fields | str:
    """Our result shaped as h2's: the pseudo-header fields in order received, then ours."""
    try:
        *_, regular = h2headers.check_request_headers(headers, allow_connect_protocol)
    except HeaderError:
        return "refused"
    return [h for h in headers if h[0].startswith(b":")] + regular


def ours_trailers(headers: Fields) -> Fields | str:
    try:
        return h2headers.check_trailers(headers)
    except HeaderError:
        return "refused"


def same_fields(a: Fields | str, b: Fields | str) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return [tuple(h) for h in a] == [tuple(h) for h in b]


# -- generated blocks --------------------------------------------------------------------------

VALUES = [b"", b"x", b"a b", b"/p?q=1", b"\tx", b"x ", b"x\x00y", b"x\ry", b"x\ny", b"\xff\x80",
          b"caf\xc3\xa9", b"trailers", b"Trailers", b"gzip", b"a:b"]  # fmt: skip
NAMES = [b"x-a", b"accept", b"user-agent", b"te", b"host", b"connection", b"keep-alive",
         b"proxy-connection", b"transfer-encoding", b"upgrade", b"content-length", b"X-Up",
         b"a b", b"a:b", b"", b"\x7f", b"\xc3\xa9", b"a\x00", b"a_b!#$%&'*+.^`|~",
         b"authorization", b"cookie"]  # fmt: skip
PSEUDO = [b":method", b":scheme", b":path", b":authority", b":protocol", b":status", b":foo",
          b":", b":Path"]  # fmt: skip
COOKIES = [b"a=1", b"b=2; c=3", b"d"]  # no empty crumb, no whitespace at an end


def base_request(rng: random.Random) -> Fields:
    method = rng.choice([b"GET", b"POST", b"CONNECT", b"CONNECT", b"OPTIONS"])
    fields = [(b":method", method)]
    if method != b"CONNECT" or rng.random() < 0.5:
        fields += [(b":scheme", rng.choice([b"https", b"http"])),
                   (b":path", rng.choice([b"/", b"/a?b", b"*", b""]))]  # fmt: skip
    if method == b"CONNECT" and rng.random() < 0.5:
        fields.append((b":protocol", b"websocket"))
    if rng.random() < 0.85:
        fields.append((b":authority", rng.choice([b"example.com", b"a:8080", b""])))
    rng.shuffle(fields)
    return fields


def mutate(rng: random.Random, fields: Fields) -> Fields:
    fields = list(fields)
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        roll = rng.random()
        if roll < 0.25:
            fields.append((rng.choice(NAMES), rng.choice(VALUES)))
        elif roll < 0.35 and fields:
            del fields[rng.randrange(len(fields))]
        elif roll < 0.5:
            fields.insert(rng.randrange(len(fields) + 1), (rng.choice(PSEUDO), rng.choice(VALUES)))
        elif roll < 0.6 and fields:
            fields.append(rng.choice(fields))  # a repeat
        elif roll < 0.7:
            fields.append((b"host", rng.choice([b"example.com", b"other", b"a:8080"])))
        elif roll < 0.85:
            fields.append((b"cookie", rng.choice(COOKIES)))
        else:
            fields.append((rng.choice([b"x-b", b"accept-language"]), rng.choice(VALUES)))
    return fields


def known_request_difference(fields: Fields) -> bool:
    """The differences h2headers.pyx documents: a pseudo-header field whose only preceding
    regular fields are cookies (h2 moves cookies away first), and a cookie crumb that is
    empty or has whitespace at an end (h2 checks the joined value)."""
    regular_before = cookie_before = False
    for name, value in fields:
        if name.startswith(b":"):
            if cookie_before and not regular_before:
                return True
        elif name == b"cookie":
            cookie_before = True
            if not value or value[:1] in b" \t" or value[-1:] in b" \t":
                return True
        else:
            regular_before = True
    return False


@pytest.mark.parametrize("seed", range(6))
def test_requests_refused_alike(seed: int) -> None:
    rng = random.Random(seed)
    outcomes = {"refused": 0, "accepted": 0}
    for _ in range(3000):
        fields = mutate(rng, base_request(rng))
        if known_request_difference(fields):
            continue
        expected = h2_inbound(fields, REQUEST)
        got = ours_request(fields)
        assert same_fields(got, expected), fields
        outcomes["refused" if expected == "refused" else "accepted"] += 1
    # the generator reaches both sides often
    assert min(outcomes.values()) > 400, outcomes


@pytest.mark.parametrize("seed", range(3))
def test_trailers_refused_alike(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(2000):
        fields = mutate(rng, [])
        if known_request_difference(fields):
            continue
        assert same_fields(ours_trailers(fields), h2_inbound(fields, TRAILERS)), fields


HOSTILE_REQUESTS: list[Fields] = [
    [],
    [(b":method", b"GET")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/")],  # no authority or host
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b"host", b"a")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"host", b"b")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b"host", b"a"),
     (b"host", b"a")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b""), (b":authority", b"a")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b":method", b"GET")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b"x", b"1"),
     (b":authority", b"a")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b":status", b"200")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b":protocol", b"websocket")],
    [(b":method", b"CONNECT"), (b":authority", b"a:443")],
    [(b":method", b"CONNECT"), (b":authority", b"a:443"), (b":path", b"/")],
    [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":authority", b"a")],
    [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"https"),
     (b":path", b"/chat"), (b":authority", b"a")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"te", b"trailers"), (b"TE", b"trailers")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"te", b"TRAILERS")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"te", b"trailers, deflate")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"x", b"a\rb")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"x", b" a")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"x", b"a\t")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"x", b"a\x0bb")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"", b"a")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"x y", b"a")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"x\x80", b"a")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"Upgrade", b"h2c")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"upgrade", b"h2c")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"proxy-connection", b"x")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"cookie", b"a=1"), (b"x", b"y"), (b"cookie", b"b=2")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b":", b"x")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
     (b"x:y", b"x")],
    [(b":method", b""), (b":scheme", b""), (b":path", b"/"), (b":authority", b"")],
]  # fmt: skip


@pytest.mark.parametrize("fields", HOSTILE_REQUESTS, ids=range(len(HOSTILE_REQUESTS)))
def test_hostile_requests_refused_alike(fields: Fields) -> None:
    assert same_fields(ours_request(fields), h2_inbound(fields, REQUEST))


def test_pseudo_header_values_and_cookies() -> None:
    fields = [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"ex.com"),
              (b":path", b"/up?x=1"), (b"cookie", b"a=1"), (b"content-type", b"text/plain"),
              (b"cookie", b"b=2"), (b"cookie", b"c=3")]  # fmt: skip
    method, scheme, authority, path, protocol, regular = h2headers.check_request_headers(fields)
    assert (method, scheme, authority, path, protocol) == (
        b"POST",
        b"https",
        b"ex.com",
        b"/up?x=1",
        None,
    )
    assert regular == [(b"content-type", b"text/plain"), (b"cookie", b"a=1; b=2; c=3")]
    assert regular[0] is fields[5]  # unchanged fields are the objects given
    fields = [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"https"),
              (b":path", b"/chat"), (b":authority", b"a")]  # fmt: skip
    assert h2headers.check_request_headers(fields, True)[4] == b"websocket"


# -- the deliberate differences --------------------------------------------------------------


def test_protocol_only_where_extended_connect_was_advertised() -> None:
    """RFC 8441 3: :protocol needs SETTINGS_ENABLE_CONNECT_PROTOCOL; h2 does not check."""
    fields = [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"https"),
              (b":path", b"/chat"), (b":authority", b"a")]  # fmt: skip
    assert h2_inbound(fields, REQUEST) != "refused"
    assert ours_request(fields, allow_connect_protocol=True) != "refused"
    assert ours_request(fields, allow_connect_protocol=False) == "refused"


def test_pseudo_header_after_a_cookie_is_refused() -> None:
    """RFC 9113 8.3: no pseudo-header field after a regular one, cookie included; h2 joins
    cookies (moving them to the end) before it looks at the order."""
    fields = [(b":method", b"GET"), (b":scheme", b"https"), (b"cookie", b"a=1"),
              (b":path", b"/"), (b":authority", b"a")]  # fmt: skip
    assert known_request_difference(fields)
    assert h2_inbound(fields, REQUEST) != "refused"
    assert ours_request(fields) == "refused"


@pytest.mark.parametrize(
    ("crumbs", "h2_refuses"),
    [
        ([b"a=1", b" b=2"], False),
        ([b"a=1 ", b"b=2"], False),
        ([b"a=1", b""], True),
        ([b"", b"a=1"], False),
    ],  # fmt: skip
)
def test_cookie_crumbs_are_checked_as_received(crumbs: list[bytes], h2_refuses: bool) -> None:
    """RFC 9113 8.2.1 applies to each field as received: a crumb with whitespace at an end
    is refused (h2 checks only the joined value's ends); an empty crumb is a valid empty value
    (h2 refuses "a=1; " for its trailing space)."""
    fields = [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"),
              (b":authority", b"a")] + [(b"cookie", c) for c in crumbs]  # fmt: skip
    assert known_request_difference(fields)
    assert (h2_inbound(fields, REQUEST) == "refused") is h2_refuses
    whitespace = any(c[:1] == b" " or c[-1:] == b" " for c in crumbs)
    assert (ours_request(fields) == "refused") is whitespace


# -- outbound ----------------------------------------------------------------------------------


def h2_outbound(status: int, headers: Fields) -> Fields | str:
    fields = [(b":status", str(status).encode()), *headers]
    try:
        return list(
            validate_outbound_headers(normalize_outbound_headers(fields, RESPONSE), RESPONSE)
        )
    except h2.exceptions.ProtocolError:
        return "refused"


def ours_response(status: int, headers: Fields) -> Fields | str:
    try:
        return h2headers.check_response_headers(status, headers)
    except HeaderError:
        return "refused"


OUT_NAMES = [b"content-type", b"Content-Type", b" x-a ", b"x-b", b"te", b"TE", b"connection",
             b"Transfer-Encoding", b"keep-alive", b"upgrade", b"authorization", b"cookie",
             b"set-cookie", b"proxy-authorization", b":path", b":status", b":x", b"host",
             b"content-length"]  # fmt: skip
OUT_VALUES = [b"v", b" v ", b"\tv\r\n", b"trailers", b" Trailers", b"gzip", b"",
              b"a-long-cookie-value-of-30-chars", b"short"]  # fmt: skip


def known_response_difference(headers: Fields) -> bool:
    """Outbound, we also check what RFC 9113 8.2.1 forbids after h2's normalisation."""
    for name, value in headers:
        name, value = name.lower().strip(), value.strip()
        if name in (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding",
                    b"upgrade"):  # fmt: skip
            continue
        if not name or any(c <= 0x20 or c >= 0x7F for c in name) or b":" in name[1:]:
            return True
        if any(c in (0, 10, 13) for c in value):
            return True
    return False


@pytest.mark.parametrize("seed", range(4))
def test_responses_normalised_and_refused_alike(seed: int) -> None:
    rng = random.Random(200 + seed)
    refused = 0
    for _ in range(3000):
        headers = [(rng.choice(OUT_NAMES), rng.choice(OUT_VALUES))
                   for _ in range(rng.randrange(0, 6))]  # fmt: skip
        if known_response_difference(headers):
            continue
        status = rng.choice([200, 404, 304, 500])
        expected = h2_outbound(status, headers)
        got = ours_response(status, headers)
        assert same_fields(got, expected), headers
        if got != "refused":
            # never-indexed where h2 makes them so
            assert [type(h) is NeverIndexedHeaderTuple for h in got] == [
                type(h) is NeverIndexedHeaderTuple for h in expected
            ]
        else:
            refused += 1
    assert refused > 300


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x", b"a\r\nb")],
        [(b"x", b"a\x00b")],
        [(b"", b"a")],
        [(b"a b", b"v")],
        [(b"x\x80", b"v")],
        [(b"x:y", b"v")],
    ],  # fmt: skip
)
def test_fields_that_cannot_be_sent_are_refused(headers: Fields) -> None:
    """RFC 9113 8.2.1 on what we send (h2 sends these, or fails with an IndexError)."""
    assert known_response_difference(headers)
    assert ours_response(200, headers) == "refused"


def test_no_content_length_on_1xx_and_204() -> None:
    headers = [(b"content-length", b"0"), (b"x", b"1")]
    assert h2headers.check_response_headers(204, headers) == [(b":status", b"204"), (b"x", b"1")]
    assert h2headers.check_response_headers(103, headers) == [(b":status", b"103"), (b"x", b"1")]
    assert h2headers.check_response_headers(304, headers)[1] == (b"content-length", b"0")
    with pytest.raises(HeaderError):
        h2headers.check_response_headers(99, [])


def test_response_trailers_and_push_requests() -> None:
    assert h2headers.check_response_trailers([(b"X-Checksum", b"abc")]) == [(b"x-checksum", b"abc")]
    with pytest.raises(HeaderError):
        h2headers.check_response_trailers([(b":status", b"200")])
    out = h2headers.check_push_request_headers(b"GET", b"https", b"a", b"/style.css",
                                               [(b"Accept", b"text/css")])  # fmt: skip
    assert out == [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"a"),
                   (b":path", b"/style.css"), (b"accept", b"text/css")]  # fmt: skip
    for headers in ([(b"host", b"b")], [(b"host", b"a"), (b"host", b"a")]):
        with pytest.raises(HeaderError):
            h2headers.check_push_request_headers(b"GET", b"https", b"a", b"/", headers)
    with pytest.raises(HeaderError):
        h2headers.check_push_request_headers(b"GET", b"https", b"a", b"", [])


# -- on h2 connections: where a refusal lands ---------------------------------------------------

CHECKS_OFF = {
    "validate_inbound_headers": False,
    "normalize_inbound_headers": False,
    "validate_outbound_headers": False,
    "normalize_outbound_headers": False,
}


def pair(server_checks: bool):
    checks = {} if server_checks else CHECKS_OFF
    config = h2.config.H2Configuration(client_side=False, header_encoding=None, **checks)
    server = h2.connection.H2Connection(config)
    # a client that sends what it is given, malformed or not
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, **CHECKS_OFF))
    client.initiate_connection()
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    return server, client


MALFORMED = [(b":method", b"GET"), (b":path", b"/"), (b":authority", b"a"), (b"x", b"1")]
GOOD = [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a"),
        (b"cookie", b"a=1"), (b"cookie", b"b=2")]  # fmt: skip


def test_h2_checks_on_make_a_malformed_request_a_connection_error() -> None:
    server, client = pair(server_checks=True)
    client.send_headers(1, MALFORMED, end_stream=True)
    with pytest.raises(h2.exceptions.ProtocolError):
        server.receive_data(client.data_to_send())
    events = client.receive_data(server.data_to_send())
    assert any(isinstance(e, h2.events.ConnectionTerminated) for e in events)


def test_h2_checks_off_and_ours_make_it_a_stream_error() -> None:
    server, client = pair(server_checks=False)
    client.send_headers(1, MALFORMED, end_stream=True)
    (event, *_) = server.receive_data(client.data_to_send())
    assert isinstance(event, h2.events.RequestReceived)
    assert event.headers == MALFORMED  # h2 passes the block on as decoded
    with pytest.raises(HeaderError) as refused:
        h2headers.check_request_headers(event.headers)
    assert refused.value.error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
    server.reset_stream(1, refused.value.error_code)
    events = client.receive_data(server.data_to_send())
    assert any(isinstance(e, h2.events.StreamReset) for e in events)
    # the connection carries on: the next request is served, its response checked by us
    client.send_headers(3, GOOD, end_stream=True)
    (event, *_) = server.receive_data(client.data_to_send())
    *_, regular = h2headers.check_request_headers(event.headers)
    assert regular == [(b"cookie", b"a=1; b=2")]
    response = h2headers.check_response_headers(200, [(b"Content-Type", b"text/plain"),
                                                      (b"Connection", b"close")])  # fmt: skip
    server.send_headers(3, response, end_stream=True)
    events = client.receive_data(server.data_to_send())
    received = next(e for e in events if isinstance(e, h2.events.ResponseReceived))
    assert received.headers == [(b":status", b"200"), (b"content-type", b"text/plain")]
