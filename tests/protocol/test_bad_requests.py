"""Input the server must refuse: answered with an error status, then closed."""

from __future__ import annotations

import logging

import httptools
import pytest
from h1util import (
    DATE,
    GET,
    Gate,
    Recorder,
    assert_clean,
    body,
    parse_response,
    parse_responses,
    request,
    respond,
    start,
)

LOGGER = "fastcorn.test.protocol"


def refused(h, data: bytes, status: int, *, split: bool = False) -> None:
    """Feed ``data`` (all at once, or byte by byte); expect exactly one error response."""
    if split:
        out = b"".join(h.feed(data[i:i + 1]) for i in range(len(data)))
    else:
        out = h.feed(data)
    resp = parse_response(out)
    assert resp.status == status, out
    assert resp.get(b"connection") == b"close"
    assert resp.get(b"content-type") == b"text/plain; charset=utf-8"
    assert b"Traceback" not in resp.body and b"Error(" not in resp.body
    assert b"httptools" not in resp.body and b"llhttp" not in resp.body
    assert h.closed
    assert_clean(h)


BAD_400 = {
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 20,
    "lowercase method": b"get / HTTP/1.1\r\nhost: x\r\n\r\n",
    "unknown method": b"FROB / HTTP/1.1\r\nhost: x\r\n\r\n",
    "bad version": b"GET / HTTP/9.9\r\nhost: x\r\n\r\n",
    "space in target": b"GET /a b HTTP/1.1\r\nhost: x\r\n\r\n",
    "control char in target": b"GET /\x01 HTTP/1.1\r\nhost: x\r\n\r\n",
    "space in header name": b"GET / HTTP/1.1\r\nhost: x\r\nbad header: v\r\n\r\n",
    "space before colon": b"GET / HTTP/1.1\r\nhost : x\r\n\r\n",
    "empty header name": b"GET / HTTP/1.1\r\n: v\r\n\r\n",
    "no colon": b"GET / HTTP/1.1\r\nhost x\r\n\r\n",
    "NUL in header value": b"GET / HTTP/1.1\r\nx: a\x00b\r\n\r\n",
    "bare CR in header value": b"GET / HTTP/1.1\r\nx: a\rb\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nx: a\r\n folded\r\n\r\n",
    "content-length list": b"POST / HTTP/1.1\r\ncontent-length: 5, 6\r\n\r\nhello!",
    "content-length abc": b"POST / HTTP/1.1\r\ncontent-length: abc\r\n\r\n",
    "content-length negative": b"POST / HTTP/1.1\r\ncontent-length: -1\r\n\r\n",
    "content-length duplicated, different": (
        b"POST / HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd"),
    "content-length and transfer-encoding": (
        b"POST / HTTP/1.1\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n"
        b"0\r\n\r\n"),
    "transfer-encoding and content-length": (
        b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n"
        b"0\r\n\r\n"),
    "bad chunk size": b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    "chunk data overrun": (
        b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n"),
}


@pytest.mark.parametrize("data", BAD_400.values(), ids=BAD_400.keys())
def test_malformed_request_gets_400(make, data):
    refused(make(Recorder()), data, 400)


@pytest.mark.parametrize("data", [BAD_400["space in header name"], BAD_400["bad chunk size"],
                                  BAD_400["content-length list"]],
                         ids=["header", "chunk size", "content-length"])
def test_malformed_request_byte_by_byte_gets_400(make, data):
    refused(make(Recorder()), data, 400, split=True)


@pytest.mark.parametrize("value", [b"9223372036854775808", b"18446744073709551615"])
def test_content_length_beyond_any_body_gets_400(make, value):
    """llhttp takes any Content-Length below 2**64; one past the largest Py_ssize_t was a
    500 (an OverflowError in the header callback). nginx answers 400 too."""
    refused(make(Recorder()),
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: " + value + b"\r\n\r\n", 400)


def test_400_exact_bytes(make):
    h = make(Recorder())
    body_ = b"Invalid HTTP request received."
    assert h.feed(b"GET / HTTP/1.1\r\nbad header: v\r\n\r\n") == (
        b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\n" % len(body_) + DATE + b"connection: close\r\n\r\n" + body_)


@pytest.mark.parametrize("coding", [b"gzip", b"deflate", b"gzip, chunked", b"br"])
def test_unknown_transfer_coding_gets_501(make, coding):
    app = Recorder()
    h = make(app)
    refused(h, b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: " + coding +
            b"\r\n\r\n0\r\n\r\n", 501)
    assert app.scopes == []


def test_head_over_limit_gets_431(make):
    app = Recorder()
    h = make(app, limit_request_head=1024)
    refused(h, b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 2000 + b"\r\n\r\n", 431)
    assert app.scopes == []


def test_many_headers_over_limit_gets_431(make):
    h = make(Recorder(), limit_request_head=1024)
    headers = b"".join(b"x-h%d: %s\r\n" % (i, b"v" * 20) for i in range(100))
    refused(h, b"GET / HTTP/1.1\r\n" + headers + b"\r\n", 431)


def test_long_target_over_limit_gets_431(make):
    h = make(Recorder(), limit_request_head=1024)
    refused(h, b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n", 431)


def test_unterminated_head_over_limit_gets_431_before_it_ends(make):
    # The limit bounds what the server buffers: a client that never ends its header line
    # must be refused once it has sent more than the limit, not when (if ever) it stops.
    h = make(Recorder(), limit_request_head=1024)
    out = h.feed(b"GET / HTTP/1.1\r\nhost: x\r\nx-big: ")
    for _ in range(64):
        out += h.feed(b"a" * 1024)
        if h.closed:
            break
    resp = parse_response(out)
    assert resp.status == 431
    assert h.closed


def test_head_just_under_limit_is_served(make):
    app = Recorder()
    h = make(app, limit_request_head=4096)
    resp = parse_response(h.feed(b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 3000 +
                                 b"\r\n\r\n"))
    assert resp.status == 200


def test_limit_is_per_request_not_per_connection(make):
    h = make(Recorder(), limit_request_head=1024)
    one = b"GET / HTTP/1.1\r\nhost: x\r\nx-h: " + b"a" * 600 + b"\r\n\r\n"
    out = h.feed(one * 4)
    assert [r.status for r in parse_responses(out)] == [200] * 4
    assert not h.closed


def test_bad_request_after_good_one_is_answered_after_it(make):
    app = Recorder()
    h = make(app)
    out = h.feed(request("GET", "/good") + b"GET /bad HTTP/1.1\r\nbad header: v\r\n\r\n")
    responses = parse_responses(out)
    assert [r.status for r in responses] == [200, 400]
    assert [s["path"] for s in app.scopes] == ["/good"]
    assert h.closed
    assert_clean(h)


def test_bad_request_after_slow_good_one_waits_for_it(make):
    async def app(scope, receive, send):
        await gate.wait()
        await send(start(200, [(b"content-length", b"2")]))
        await send(body(b"ok"))

    h = make(app)
    gate = Gate(h.runtime)
    assert h.feed(GET + b"\x00\x01garbage\r\n\r\n") == b""
    assert not h.closed
    gate.open()
    responses = parse_responses(h.feed(b""))
    assert [r.status for r in responses] == [200, 400]
    assert h.closed
    assert_clean(h)


def test_bad_request_after_pipelined_good_ones(make):
    app = Recorder()
    h = make(app)
    out = h.feed(request("GET", "/1") + request("GET", "/2") + BAD_400["bad chunk size"])
    assert [r.status for r in parse_responses(out)] == [200, 200, 400]
    # the broken POST was still waiting its turn: its app never ran
    assert [s["path"] for s in app.scopes] == ["/1", "/2"]


def test_bad_chunk_mid_body_app_sees_disconnect_not_a_complete_body(make):
    messages = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] == "http.disconnect" or not message["more_body"]:
                break
        if messages[-1]["type"] == "http.request":
            await send(start(200))
            await send(body(b"served"))

    h = make(app)
    h.feed(b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n")
    out = h.feed(b"zz\r\n")
    resp = parse_response(out)
    assert resp.status == 400
    assert messages[0] == {"type": "http.request", "body": b"abc", "more_body": True}
    assert messages[-1] == {"type": "http.disconnect"}
    assert h.closed
    assert_clean(h)


def test_bad_chunk_after_app_already_answered(make):
    # The app answers without reading; the rest of its request body turns out malformed.
    h = make(respond())
    out = h.feed(b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n")
    resp = parse_response(out)
    assert resp.status == 200
    # Answered with an unbounded (chunked) body still arriving: the connection is not kept
    # alive for it; the rest of the input is dropped unparsed while the server lingers.
    assert resp.get(b"connection") == b"close"
    assert h.closed
    out = h.feed(b"zz\r\n")  # must not raise out of data_received
    assert out == b""
    assert_clean(h)


def test_bad_request_during_streaming_response_closes(make):
    async def app(scope, receive, send):
        await send(start(200))
        await send(body(b"abc", more=True))
        await gate.wait()
        await send(body(b"def"))

    h = make(app)
    gate = Gate(h.runtime)
    out = h.feed(GET)
    out += h.feed(BAD_400["space in header name"])
    # the streaming response is finished first (it is in flight), then the 400
    gate.open()
    out += h.feed(b"")
    responses = parse_responses(out)
    assert [r.status for r in responses] == [200, 400]
    assert responses[0].body == b"abcdef"
    assert h.closed


def test_connect_authority_form_is_not_an_internal_error(make, caplog):
    # llhttp accepts CONNECT with an authority-form target; fastcorn does not tunnel, so it
    # answers 501 (never 500) and closes: the bytes after the head are not HTTP.
    caplog.set_level(logging.ERROR, LOGGER)
    app = Recorder()
    h = make(app, error_logger=logging.getLogger(LOGGER))
    out = h.feed(b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n"
                 b"GET /tunnelled HTTP/1.1\r\nhost: x\r\n\r\n")
    resp = parse_responses(out, ["CONNECT"])[0]
    assert resp.status == 501, "CONNECT must be refused"
    assert len(parse_responses(out, ["CONNECT"])) == 1
    assert app.scopes == []
    assert h.closed
    assert caplog.records == []


# --------------------------------------------------------------------------------------------
# differential: httptools is the judge of request syntax


class _Judge:
    def __init__(self) -> None:
        self.complete = 0
        self.hosts = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"host":
            self.hosts += 1

    def on_message_complete(self) -> None:
        self.complete += 1


def httptools_accepts(data: bytes) -> bool:
    judge = _Judge()
    parser = httptools.HttpRequestParser(judge)
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade:
        return True
    except httptools.HttpParserError:
        return False
    assert judge.complete == 1, f"case is neither complete nor rejected: {data!r}"
    return True


def expected_status(data: bytes) -> int:
    """llhttp judges the syntax; on top of it the server applies two rules llhttp leaves to
    it: CONNECT is not served (501), and an HTTP/1.1 request has exactly one Host (RFC 9112
    3.2; llhttp does not count them), else 400."""
    if not httptools_accepts(data):
        return 400
    judge = _Judge()
    parser = httptools.HttpRequestParser(judge)
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade:
        pass
    if parser.get_method() == b"CONNECT":
        return 501
    if parser.get_http_version() == "1.1" and judge.hosts != 1:
        return 400
    return 200


# HTTP/0.9 and HTTP/2.0 heads are left out: llhttp accepts them, and the server may refuse
# them on semantic grounds (see test_scope.test_http_version_is_an_asgi_value).
DIFFERENTIAL = [
    # well-formed
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET  / HTTP/1.1\r\n\r\n",
    b"\r\nGET / HTTP/1.1\r\n\r\n",
    b"PURGE /cache HTTP/1.1\r\nHost: x\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://example.com/a?b=1 HTTP/1.1\r\n\r\n",
    b"GET /%zz HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nX-Latin: caf\xe9\r\n\r\n",
    b"GET / HTTP/1.1\r\nX-Empty:\r\n\r\n",
    b"GET / HTTP/1.1\r\nX:  padded  \r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nContent-Length:  3 \r\n\r\nabc",
    b"POST / HTTP/1.1\r\nContent-Length: 0003\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    # malformed
    *BAD_400.values(),
    b"GET / HTTP/1.1\nHost: x\n\n",
    b"GET / HTTP/1.1 \r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nHost\r\n\r\n",
    b"G\x00T / HTTP/1.1\r\n\r\n",
    b"GET /\x7f HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nX\x01: v\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nContent-Length: 3 3\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
]


@pytest.mark.parametrize("data", DIFFERENTIAL, ids=[repr(d)[2:40] for d in DIFFERENTIAL])
def test_verdict_agrees_with_httptools(make, data):
    async def app(scope, receive, send):
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message["more_body"]:
                break
        await send(start(200, [(b"content-length", b"6")]))
        await send(body(b"served"))

    h = make(app)
    out = h.feed(data)
    first = parse_responses(out, ["CONNECT"] if data.startswith(b"CONNECT") else [])[0]
    served = first.status == 200 and first.body in (b"served", b"")
    expected = expected_status(data)
    assert first.status == expected, out
    assert served == (expected == 200), out
