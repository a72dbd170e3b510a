"""Request bodies: Content-Length and chunked framing, flow control, Expect: 100-continue."""

from __future__ import annotations

from h1util import (
    GET,
    Gate,
    Recorder,
    body,
    parse_response,
    parse_responses,
    request,
    respond,
    start,
)

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def post(data: bytes = b"", *, length: int | None = None, chunked: bool = False,
         extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    headers = [("host", "x")]
    if chunked:
        headers.append(("transfer-encoding", "chunked"))
    else:
        headers.append(("content-length", str(len(data) if length is None else length)))
    return request("POST", "/upload", headers=headers + list(extra), body=data)


def test_content_length_body_in_one_piece(make):
    app = Recorder()
    h = make(app)
    resp = parse_response(h.feed(post(b"hello world")))
    assert resp.body == b"hello world"
    assert app.messages[0][-1] == {"type": "http.request", "body": b"hello world",
                                   "more_body": False}
    assert b"".join(m["body"] for m in app.messages[0]) == b"hello world"


def test_empty_body_is_one_message(make):
    app = Recorder()
    h = make(app)
    h.feed(GET)
    assert app.messages[0] == [{"type": "http.request", "body": b"", "more_body": False}]


def test_content_length_body_across_feeds(make):
    app = Recorder()
    h = make(app)
    assert h.feed(post(length=10)) == b""
    assert h.feed(b"0123") == b""
    assert h.feed(b"456") == b""
    resp = parse_response(h.feed(b"789"))
    assert resp.body == b"0123456789"
    messages = app.messages[0]
    assert [m["type"] for m in messages] == ["http.request"] * len(messages)
    assert all(m["more_body"] for m in messages[:-1])
    assert messages[-1]["more_body"] is False
    assert b"".join(m["body"] for m in messages) == b"0123456789"
    assert len(messages) >= 3  # delivered as it arrived, not only at the end


def test_chunked_body_across_feeds(make):
    app = Recorder()
    h = make(app)
    assert h.feed(post(chunked=True)) == b""
    pieces = [b"5\r\nhel", b"lo\r\n", b"6\r\n worl", b"d\r\n0", b"\r\n", b"\r\n"]
    out = b""
    for piece in pieces:
        out += h.feed(piece)
    resp = parse_response(out)
    assert resp.body == b"hello world"
    assert app.messages[0][-1]["more_body"] is False
    assert b"".join(m["body"] for m in app.messages[0]) == b"hello world"
    # the connection is reusable after a chunked body
    assert parse_response(h.feed(post(b"again"))).body == b"again"


def test_chunked_body_with_extensions_and_trailers(make):
    app = Recorder()
    h = make(app)
    out = h.feed(post(chunked=True) + b"3;name=value\r\nabc\r\n0\r\nx-trailer: 1\r\n\r\n")
    assert parse_response(out).body == b"abc"
    assert parse_response(h.feed(GET)).status == 200


def test_body_bytes_are_not_taken_for_the_next_request(make):
    app = Recorder()
    h = make(app)
    # a body that looks like a request must be read as body
    payload = b"GET /evil HTTP/1.1\r\n\r\n"
    out = h.feed(post(payload) + request("GET", "/real"))
    responses = parse_responses(out)
    assert [r.body for r in responses] == [payload, b""]
    assert [s["path"] for s in app.scopes] == ["/upload", "/real"]


def test_unread_body_is_skipped_before_next_request(make):
    async def app(scope, receive, send):  # never reads the body
        await send(start(200, [(b"content-length", b"2")]))
        await send(body(scope["path"][1:3].encode()))

    h = make(app)
    out = h.feed(request("POST", "/p1", headers=[("host", "x"), ("content-length", "10")],
                         body=b"01234"))
    assert parse_response(out).body == b"p1"
    out = h.feed(b"56789" + request("GET", "/g2"))
    assert parse_response(out).body == b"g2"
    assert not h.closed


def test_receive_after_body_waits_for_disconnect(make):
    got = []

    async def app(scope, receive, send):
        got.append(await receive())
        got.append(await receive())  # nothing more will come but a disconnect

    h = make(app)
    h.feed(post(b"abc"))
    assert got == [{"type": "http.request", "body": b"abc", "more_body": False}]
    h.disconnect()
    assert got[1] == {"type": "http.disconnect"}


# --------------------------------------------------------------------------------------------
# flow control

BIG = 256 * 1024


def test_unread_body_pauses_reading_and_reading_resumes(make):
    received = []

    async def app(scope, receive, send):
        await gate.wait()
        while True:
            message = await receive()
            received.append(len(message["body"]))
            if not message["more_body"]:
                break
            await gate2.wait()
        await send(start(200, [(b"content-length", b"0")]))
        await send(body())

    h = make(app)
    gate = Gate(h.runtime)
    gate2 = Gate(h.runtime)
    total = 3 * BIG
    h.feed(post(length=total))
    assert not h.transport.reading_paused
    h.feed(b"x" * (BIG // 2))
    assert not h.transport.reading_paused  # below the high-water mark
    h.feed(b"x" * BIG)
    assert h.transport.reading_paused  # the app has not read: stop reading
    gate.open()  # the app reads what is buffered
    h.feed(b"")
    assert received == [BIG + BIG // 2]
    assert not h.transport.reading_paused
    gate2.open()
    out = h.feed(b"x" * (total - BIG - BIG // 2))
    assert parse_response(out).status == 200
    assert sum(received) == total
    assert not h.transport.reading_paused


def test_small_unread_body_does_not_pause(make):
    async def app(scope, receive, send):
        await gate.wait()
        await receive()
        await send(start(200, [(b"content-length", b"0")]))
        await send(body())

    h = make(app)
    gate = Gate(h.runtime)
    h.feed(post(b"x" * 1000))
    assert not h.transport.reading_paused
    gate.open()
    assert parse_response(h.feed(b"")).status == 200


def test_large_chunked_body_pauses_too(make):
    async def app(scope, receive, send):
        await gate.wait()
        data = b""
        while True:
            message = await receive()
            data += message["body"]
            if not message["more_body"]:
                break
        await send(start(200, [(b"content-type", b"text/plain")]))
        await send(body(str(len(data)).encode()))

    h = make(app)
    gate = Gate(h.runtime)
    h.feed(post(chunked=True))
    piece = b"x" * (64 * 1024)
    for _ in range(5):
        h.feed(b"%x\r\n%s\r\n" % (len(piece), piece))
    assert h.transport.reading_paused
    gate.open()
    h.feed(b"")
    assert not h.transport.reading_paused
    resp = parse_response(h.feed(b"0\r\n\r\n"))
    assert resp.body == str(5 * len(piece)).encode()


# --------------------------------------------------------------------------------------------
# Expect: 100-continue


def expect_post(data: bytes = b"", length: int = 5) -> bytes:
    return request("POST", "/", headers=[("host", "x"), ("content-length", str(length)),
                                         ("expect", "100-continue")], body=data)


def test_100_continue_sent_on_first_receive_only(make):
    async def app(scope, receive, send):
        await gate.wait()
        data = b""
        while True:
            message = await receive()
            data += message["body"]
            if not message["more_body"]:
                break
        await send(start(200, [(b"content-type", b"text/plain")]))
        await send(body(data))

    h = make(app)
    gate = Gate(h.runtime)
    assert h.feed(expect_post()) == b""  # never before the app asks for the body
    gate.open()
    assert h.feed(b"") == CONTINUE
    assert h.feed(b"he") == b""
    out = h.feed(b"llo")
    resp = parse_response(out)
    assert resp.status == 200 and resp.body == b"hello"
    assert CONTINUE not in out  # and only once
    assert not h.closed


def test_100_continue_not_sent_when_app_answers_without_reading(make):
    h = make(respond(417, b"no"))
    out = h.feed(expect_post())
    assert b"100 Continue" not in out
    resp = parse_response(out)
    assert resp.status == 417 and resp.body == b"no"
    # the client may or may not send the body now: the connection cannot be reused
    assert resp.get(b"connection") == b"close"
    assert h.closed


def test_100_continue_not_sent_when_body_already_arrived(make):
    app = Recorder()
    h = make(app)
    out = h.feed(expect_post(b"hello"))
    assert b"100 Continue" not in out
    assert parse_response(out).body == b"hello"


def test_100_continue_ignored_for_http10(make):
    app = Recorder()
    h = make(app)
    out = h.feed(request("POST", "/", version="1.0", headers=[
        ("content-length", "5"), ("expect", "100-continue")]))
    assert out == b""
    out = h.feed(b"hello")
    assert b"100 Continue" not in out
    assert parse_response(out).body == b"hello"

