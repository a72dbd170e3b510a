"""Response framing and serialization: status line, headers, Content-Length vs chunked,
HEAD / 204 / 304, HTTP/1.0 close-delimited bodies, one write per head, bad app headers."""

from __future__ import annotations

import logging

import pytest
from h1util import (
    DATE,
    GET,
    Gate,
    assert_clean,
    body,
    count_writes,
    parse_response,
    parse_responses,
    request,
    start,
)


def app_sending(*messages):
    async def app(scope, receive, send):
        for message in messages:
            await send(message)

    return app


def test_exact_bytes_simple_response(make):
    h = make(app_sending(start(200, [(b"content-type", b"text/plain")]), body(b"hello")))
    assert h.feed(GET) == (b"HTTP/1.1 200 OK\r\n" + DATE +
                           b"content-type: text/plain\r\ncontent-length: 5\r\n\r\nhello")


@pytest.mark.parametrize(("status", "line"), [
    (200, b"HTTP/1.1 200 OK\r\n"),
    (201, b"HTTP/1.1 201 Created\r\n"),
    (302, b"HTTP/1.1 302 Found\r\n"),
    (404, b"HTTP/1.1 404 Not Found\r\n"),
    (418, b"HTTP/1.1 418 I'm a Teapot\r\n"),
    (500, b"HTTP/1.1 500 Internal Server Error\r\n"),
    (599, b"HTTP/1.1 599 Unknown\r\n"),
    (299, b"HTTP/1.1 299 Unknown\r\n"),
])
def test_status_line_has_reason_phrase(make, status, line):
    h = make(app_sending(start(status), body(b"x")))
    out = h.feed(GET)
    assert out.startswith(line)
    resp = parse_response(out)
    assert resp.status == status and resp.reason


def test_app_content_length_passed_through(make):
    h = make(app_sending(start(200, [(b"Content-Length", b"6")]), body(b"abc", more=True),
                         body(b"def")))
    out = h.feed(GET)
    assert out == (b"HTTP/1.1 200 OK\r\n" + DATE + b"Content-Length: 6\r\n\r\nabcdef")
    assert not h.closed


def test_streaming_without_length_is_chunked(make):
    h = make(app_sending(start(200), body(b"abc", more=True), body(b"", more=True),
                         body(b"defgh", more=True), body(b"")))
    out = h.feed(GET)
    assert out == (b"HTTP/1.1 200 OK\r\n" + DATE + b"transfer-encoding: chunked\r\n\r\n"
                   b"3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n")  # no empty chunk mid-stream
    resp = parse_response(out)
    assert resp.body == b"abcdefgh"
    assert parse_response(h.feed(GET)).body == b"abcdefgh"  # still keep-alive


def test_streaming_last_chunk_with_data(make):
    h = make(app_sending(start(200), body(b"ab", more=True), body(b"cd")))
    out = h.feed(GET)
    assert out.endswith(b"\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")
    assert parse_response(out).chunks == [b"ab", b"cd"]


def test_single_body_without_length_gets_content_length(make):
    h = make(app_sending(start(200), body(b"hello")))
    resp = parse_response(h.feed(GET))
    assert resp.get(b"content-length") == b"5"
    assert resp.get(b"transfer-encoding") is None
    assert resp.body == b"hello"


def test_empty_body_gets_content_length_zero(make):
    h = make(app_sending(start(200), body()))
    out = h.feed(GET)
    assert out == b"HTTP/1.1 200 OK\r\n" + DATE + b"content-length: 0\r\n\r\n"


def test_body_message_without_body_key(make):
    h = make(app_sending(start(200), {"type": "http.response.body"}))
    assert parse_response(h.feed(GET)).get(b"content-length") == b"0"


def test_bytearray_and_memoryview_bodies(make):
    h = make(app_sending(start(200), body(bytearray(b"ab"), more=True),
                         {"type": "http.response.body", "body": memoryview(b"cd")}))
    assert parse_response(h.feed(GET)).body == b"abcd"


def test_head_keeps_headers_sends_no_body(make):
    h = make(app_sending(start(200, [(b"content-type", b"text/plain"),
                                     (b"content-length", b"5")]), body(b"hello")))
    out = h.feed(request("HEAD", "/"))
    assert out == (b"HTTP/1.1 200 OK\r\n" + DATE +
                   b"content-type: text/plain\r\ncontent-length: 5\r\n\r\n")
    assert not h.closed
    # the next response on the connection is intact
    assert parse_response(h.feed(GET)).body == b"hello"


def test_head_body_without_length_sends_its_length_but_no_body(make):
    h = make(app_sending(start(200), body(b"hello")))
    out = h.feed(request("HEAD", "/"))
    resp = parse_response(out, "HEAD")
    assert resp.body == b""
    assert out.endswith(b"\r\n\r\n")
    assert b"hello" not in out
    assert resp.get(b"content-length") in (b"5", None)


def test_head_streaming_sends_no_body(make):
    h = make(app_sending(start(200), body(b"abc", more=True), body(b"def")))
    out = h.feed(request("HEAD", "/"))
    assert out.endswith(b"\r\n\r\n")
    assert b"abc" not in out and b"def" not in out and b"0\r\n\r\n" not in out
    assert parse_responses(out + h.feed(GET), ["HEAD", "GET"])[1].body == b"abcdef"


NO_BODY_LINES = {204: b"HTTP/1.1 204 No Content\r\n", 304: b"HTTP/1.1 304 Not Modified\r\n"}


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(make, status):
    h = make(app_sending(start(status, [(b"etag", b'"x"')]), body(b"ignored")))
    out = h.feed(GET)
    assert out == NO_BODY_LINES[status] + DATE + b'etag: "x"\r\n\r\n'
    assert b"content-length" not in out and b"transfer-encoding" not in out
    assert parse_response(h.feed(GET)).status == status  # framing intact: still usable


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses_streaming(make, status):
    h = make(app_sending(start(status), body(b"", more=True), body(b"xx", more=True),
                         body(b"yy")))
    out = h.feed(GET)
    # later body chunks must not leak onto the wire either: they would be read as the
    # start of the next response
    assert out == NO_BODY_LINES[status] + DATE + b"\r\n"
    assert not h.closed


def test_head_and_first_chunk_in_one_write(make):
    h = make(app_sending(start(200, [(b"content-type", b"text/plain")]), body(b"abc", more=True),
                         body(b"def", more=True), body(b"")))
    writes = count_writes(h)
    out = h.feed(GET)
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"\r\n\r\n3\r\nabc\r\n")
    assert len(writes) == 3
    assert b"".join(writes) == out


def test_single_body_response_is_one_write(make):
    h = make(app_sending(start(200), body(b"hello")))
    writes = count_writes(h)
    out = h.feed(GET)
    assert writes == [out]


def test_http10_streaming_is_close_delimited(make):
    h = make(app_sending(start(200), body(b"abc", more=True), body(b"def")))
    out = h.feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert out == b"HTTP/1.1 200 OK\r\n" + DATE + b"connection: close\r\n\r\nabcdef"
    assert h.closed
    assert_clean(h)


def test_http10_single_body_keep_alive_has_length(make):
    h = make(app_sending(start(200), body(b"abc")))
    out = h.feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert out == (b"HTTP/1.1 200 OK\r\n" + DATE +
                   b"content-length: 3\r\nconnection: keep-alive\r\n\r\nabc")
    assert not h.closed


def test_app_transfer_encoding_header_is_not_doubled(make):
    h = make(app_sending(start(200, [(b"transfer-encoding", b"chunked")]),
                         body(b"ab", more=True), body(b"")))
    resp = parse_response(h.feed(GET))
    assert resp.get_all(b"transfer-encoding") == [b"chunked"]
    assert resp.body == b"ab"


def test_app_headers_kept_in_order_with_duplicates(make):
    h = make(app_sending(start(200, [(b"set-cookie", b"a=1"), (b"X-Custom", b"v"),
                                     (b"set-cookie", b"b=2")]), body(b"")))
    out = h.feed(GET)
    assert b"set-cookie: a=1\r\nX-Custom: v\r\nset-cookie: b=2\r\n" in out


def test_date_header_from_state_in_every_response(make):
    h = make(app_sending(start(200), body(b"x")),
             default_headers=[(b"date", b"Fri, 02 Jan 2026 03:04:05 GMT"),
                              (b"server", b"fastcorn")])
    for _ in range(2):
        resp = parse_response(h.feed(GET))
        assert resp.get(b"date") == b"Fri, 02 Jan 2026 03:04:05 GMT"
        assert resp.get(b"server") == b"fastcorn"
    h.state.default_headers = [(b"date", b"Sat, 03 Jan 2026 00:00:00 GMT")]  # the tick's new list
    assert parse_response(h.feed(GET)).get(b"date") == b"Sat, 03 Jan 2026 00:00:00 GMT"
    # error responses carry it too
    err = parse_response(h.feed(b"BAD\x00\r\n\r\n"))
    assert err.status == 400
    assert err.get(b"date") == b"Sat, 03 Jan 2026 00:00:00 GMT"


@pytest.mark.parametrize("header", [
    (b"x-bad", b"a\r\nx-injected: 1"),
    (b"x-bad", b"a\nb"),
    (b"x-bad", b"a\rb"),
    (b"x-bad", b"a\x00b"),
    (b"x bad", b"v"),
    (b"x-bad\r\nx-injected", b"v"),
    (b"", b"v"),
    (b"x:bad", b"v"),
])
def test_invalid_app_header_is_never_written(make, caplog, header):
    h = make(app_sending(start(200, [header]), body(b"hello")),
             error_logger=logging.getLogger("fastcorn.test.protocol"))
    with caplog.at_level(logging.ERROR, "fastcorn.test.protocol"):
        out = h.feed(GET)
    assert b"injected" not in out
    resp = parse_response(out)
    assert resp.status == 500
    assert {name for name, _ in resp.headers} == {
        b"date", b"content-type", b"content-length", b"connection"}
    assert resp.get(b"connection") == b"close"
    assert h.closed
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)


def test_response_start_twice_is_an_app_error(make, caplog):
    h = make(app_sending(start(200), start(201), body(b"")),
             error_logger=logging.getLogger("fastcorn.test.protocol"))
    with caplog.at_level(logging.ERROR, "fastcorn.test.protocol"):
        resp = parse_response(h.feed(GET))
    assert resp.status == 500
    assert any(r.exc_info for r in caplog.records)


def test_body_after_complete_is_an_app_error(make, caplog):
    errors = []

    async def app(scope, receive, send):
        await send(start(200))
        await send(body(b"done"))
        try:
            await send(body(b"more"))
        except RuntimeError as exc:
            errors.append(exc)

    h = make(app)
    out = h.feed(GET)
    assert parse_response(out).body == b"done"
    assert len(errors) == 1
    assert not h.closed


# --------------------------------------------------------------------------------------------
# a started response whose app then waits


def test_head_is_sent_when_the_app_waits_before_its_first_body(make):
    # SSE and long polls send http.response.start and then wait: the head must not wait with
    # them (a client, or a proxy's header timeout, would see nothing at all).
    async def app(scope, receive, send):
        await send(start(200, [(b"content-type", b"text/event-stream")]))
        await gate.wait()
        await send(body(b"data: 1\n\n", more=True))
        await send(body())

    h = make(app)
    gate = Gate(h.runtime)
    head = h.feed(GET)
    assert head == (b"HTTP/1.1 200 OK\r\n" + DATE + b"content-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n")
    gate.open()
    assert h.feed(b"") == b"9\r\ndata: 1\n\n\r\n0\r\n\r\n"


def test_head_and_body_sent_back_to_back_still_share_one_write(make):
    async def app(scope, receive, send):
        await send(start(200, [(b"content-type", b"text/plain")]))
        await send(body(b"hello"))

    h = make(app)
    writes = count_writes(h)
    out = h.feed(GET)
    assert len(writes) == 1
    assert parse_response(out).body == b"hello"


def test_invalid_head_of_a_waiting_app_fails_in_the_app_not_in_the_loop(make):
    # The head flush runs in a loop callback; a head the stream refuses must not raise there
    # (it would hit every other response flushed in that turn) but in the app's next send().
    raised = []

    async def app(scope, receive, send):
        await send(start(200, [(b"x-bad", b"a\r\nb")]))
        await gate.wait()
        try:
            await send(body(b"never"))
        except RuntimeError as exc:
            raised.append(exc)
            raise

    h = make(app, error_logger=logging.getLogger("fastcorn.test.protocol"))
    gate = Gate(h.runtime)
    assert h.feed(GET) == b""
    gate.open()
    response = parse_response(h.feed(b""))
    assert response.status == 500
    assert raised and "invalid response header" in str(raised[0])
