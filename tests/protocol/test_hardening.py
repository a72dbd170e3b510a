"""Request framing and robustness (issue 6), bytes in and bytes out on the Harness.

Each test here failed before the fix it is named after: a request smuggled in an Upgrade
body, trailers passed off as headers, Host never checked, a fragment read as part of the
path, unbounded chunk extensions, answers that never left, apps left waiting after their
last send(), responses that disagree with their content-length, statuses outside HTTP, and
memory one client could make a connection hold.
"""

from __future__ import annotations

import logging
import tracemalloc

import pytest
from h1util import (
    GET,
    Gate,
    Harness,
    Recorder,
    assert_clean,
    body,
    parse_response,
    parse_responses,
    request,
    respond,
    start,
)

LOGGER = "fastcorn.test.hardening"

SMUGGLED = b"GET /admin/delete-all HTTP/1.1\r\nHost: x\r\n\r\n"


def upgrade_post(framing: bytes, payload: bytes) -> bytes:
    return (b"POST /public HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\nConnection: Upgrade\r\n"
            + framing + b"\r\n" + payload)


# --------------------------------------------------------------------------------------------
# Upgrade bodies and CONNECT


@pytest.mark.parametrize("split", [False, True], ids=["whole", "byte-by-byte"])
def test_upgrade_request_body_is_its_body_not_a_request(make, split):
    app = Recorder()
    h = make(app)
    data = upgrade_post(b"Content-Length: %d\r\n" % len(SMUGGLED), SMUGGLED)
    if split:
        out = b"".join(h.feed(data[i:i + 1]) for i in range(len(data)))
    else:
        out = h.feed(data)
    responses = parse_responses(out)
    assert len(responses) == 1
    assert responses[0].body == SMUGGLED  # echoed: the app got it as the body
    assert [s["path"] for s in app.scopes] == ["/public"]


def test_chunked_upgrade_request_body_is_framed(make):
    app = Recorder()
    h = make(app)
    chunked = b"%x\r\n%b\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED)
    out = h.feed(upgrade_post(b"Transfer-Encoding: chunked\r\n", chunked))
    assert [r.body for r in parse_responses(out)] == [SMUGGLED]
    assert [s["path"] for s in app.scopes] == ["/public"]


def test_request_after_an_upgrade_body_is_the_next_request(make):
    app = Recorder()
    h = make(app)
    out = h.feed(upgrade_post(b"Content-Length: 3\r\n", b"abc") + request("GET", "/next"))
    assert [r.body for r in parse_responses(out)] == [b"abc", b""]
    assert [s["path"] for s in app.scopes] == ["/public", "/next"]


def test_many_pipelined_upgrade_requests_are_each_served_once(make):
    app = Recorder()
    h = make(app)
    one = upgrade_post(b"Content-Length: 2\r\n", b"ok")
    out = h.feed(one * 300)
    assert [r.body for r in parse_responses(out)] == [b"ok"] * 300
    assert len(app.scopes) == 300


def test_websocket_upgrade_without_websocket_is_logged(make, caplog):
    """With no WebSocket handler (--ws none; the harness registers none) the request is
    served as plain HTTP, and the log says why."""
    caplog.set_level(logging.WARNING, LOGGER)
    h = make(respond(), error_logger=logging.getLogger(LOGGER))
    out = h.feed(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                 b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")
    assert parse_response(out).status == 200
    assert "WebSocket is off (--ws none)" in caplog.text and "/ws" in caplog.text


def test_connect_is_refused_with_501(make):
    app = Recorder()
    h = make(app)
    out = h.feed(b"CONNECT internal:22 HTTP/1.1\r\nHost: internal:22\r\n\r\nSSH-2.0-x\r\n")
    resp = parse_response(out)
    assert resp.status == 501 and resp.get(b"connection") == b"close"
    assert app.scopes == []
    assert_clean(h)


# --------------------------------------------------------------------------------------------
# trailers, Host, fragments


def test_trailer_fields_never_reach_the_request_headers(make):
    app = Recorder()
    h = make(app)
    out = h.feed(b"POST / HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"3\r\nabc\r\n0\r\nHost: evil.com\r\nAuthorization: Bearer forged\r\n\r\n")
    assert parse_response(out).body == b"abc"
    headers = app.scopes[0]["headers"]
    assert (b"host", b"good") in headers
    assert all(n != b"authorization" for n, _ in headers)
    assert all(v != b"evil.com" for _, v in headers)


def test_trailer_section_is_bounded(make):
    h = make(Recorder(), limit_request_head=1024)
    out = h.feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"1\r\na\r\n0\r\n" + b"x-t: " + b"a" * 2000 + b"\r\n\r\n")
    assert parse_responses(out)[-1].status == 431


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
    b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: evil.com/x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: user@evil.com\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a:b:c\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: :80\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a?b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a#b\r\n\r\n",
    b"GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET http://a b/ HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
], ids=repr)
def test_bad_host_gets_400(make, head):
    app = Recorder()
    h = make(app)
    resp = parse_response(h.feed(head))
    assert resp.status == 400, resp
    assert app.scopes == []
    assert_clean(h)


def test_missing_host_says_so(make):
    resp = parse_response(make(Recorder()).feed(b"GET / HTTP/1.1\r\n\r\n"))
    assert (resp.status, resp.body) == (400, b"Missing Host header.")


@pytest.mark.parametrize("host", [b"example.com", b"example.com:8080", b"127.0.0.1:80",
                                  b"[::1]", b"[::1]:8000", b"xn--bcher-kva.example", b"",
                                  b"a.b-c_d~e"])
def test_valid_host_is_served(make, host):
    app = Recorder()
    h = make(app)
    assert parse_response(h.feed(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")).status == 200
    assert (b"host", host) in app.scopes[0]["headers"]


def test_http10_without_host_is_served(make):
    h = make(Recorder())
    assert parse_response(h.feed(b"GET / HTTP/1.0\r\n\r\n")).status == 200


def test_absolute_form_target_authority_is_the_host(make):
    app = Recorder()
    h = make(app)
    out = h.feed(b"GET http://good.example:8080/p?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n")
    assert parse_response(out).status == 200
    scope = app.scopes[0]
    assert dict(scope["headers"])[b"host"] == b"good.example:8080"
    assert [n for n, _ in scope["headers"]].count(b"host") == 1
    assert (scope["path"], scope["query_string"]) == ("/p", b"q=1")


@pytest.mark.parametrize("target, path, raw_path, query", [
    ("/a#b?c=1", "/a", b"/a", b""),
    ("/a?c=1#frag?d", "/a", b"/a", b"c=1"),
    ("/a%23b#c", "/a#b", b"/a%23b", b""),
])
def test_fragment_is_cut_before_the_query(make, target, path, raw_path, query):
    app = Recorder()
    h = make(app)
    assert parse_response(h.feed(request("GET", target))).status == 200
    scope = app.scopes[0]
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == (path, raw_path, query)


# --------------------------------------------------------------------------------------------
# bounds and timeouts on request bodies


def test_huge_chunk_extension_is_refused(make):
    app = Recorder()
    h = make(app)
    out = h.feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=")
    for _ in range(64):  # 4 MiB of extension, 64 KiB at a time
        if h.closed:
            break
        out += h.feed(b"a" * 65536)
    assert parse_responses(out)[-1].status == 400
    assert h.closed


def test_ordinary_chunk_extensions_and_small_chunks_are_fine(make):
    app = Recorder()
    h = make(app)
    chunks = b"".join(b"2;name=value\r\nab\r\n" for _ in range(5000))
    out = h.feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 + chunks + b"0\r\n\r\n")
    assert parse_response(out).body == b"ab" * 5000


def test_stalled_request_body_gets_408(make):
    received = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            received.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break

    h = make(app, timeout_request_body=5.0)
    out = h.feed(request("POST", "/", headers=[("host", "x"), ("content-length", "10")],
                         body=b"12345"))
    assert out == b""
    assert h.advance(3) == b""  # still within the timeout
    out = h.advance(3)
    resp = parse_response(out)
    assert resp.status == 408 and resp.get(b"connection") == b"close"
    assert received[-1] == "http.disconnect"
    assert_clean(h)


def test_body_timeout_rearms_on_each_read(make):
    h = make(Recorder(), timeout_request_body=5.0)
    h.feed(request("POST", "/", headers=[("host", "x"), ("content-length", "4")], body=b"1"))
    for piece in (b"2", b"3"):
        assert h.advance(4) == b""
        h.feed(piece)
    assert h.advance(4) == b""
    assert parse_response(h.feed(b"4")).body == b"1234"


# --------------------------------------------------------------------------------------------
# the app's side: last send, content-length, statuses, swallowed errors, SystemExit


def test_final_send_does_not_wait_for_the_transport_to_drain(make):
    after = []

    async def app(scope, receive, send):
        await send(start(200))
        await send(body(b"x" * 100))
        after.append("cleanup ran")

    h = make(app)
    h.protocol.pause_writing()  # the socket buffer is full and stays so
    out = h.feed(GET)
    assert parse_response(out).body == b"x" * 100
    assert after == ["cleanup ran"]
    assert h.state.active_requests == 0


def test_write_timeout_cuts_a_client_that_stopped_reading(make):
    seen = []

    async def app(scope, receive, send):
        await send(start(200))
        try:
            while True:
                await send(body(b"x" * 1000, more=True))
                h.protocol.pause_writing()  # as the transport would once its buffer fills
        except OSError:
            seen.append("send raised")

    h = make(app, timeout_write=10.0)
    h.feed(GET)
    assert not h.transport.closed
    h.advance(5)
    assert not h.transport.closed
    h.advance(6)
    assert h.transport.aborted
    assert seen == ["send raised"]
    assert_clean(h)


@pytest.mark.parametrize("messages", [
    [start(200, [(b"content-length", b"5")]), body(b"abc")],
    [start(200, [(b"content-length", b"2")]), body(b"abc")],
    [start(200, [(b"content-length", b"x")]), body(b"abc")],
    [start(200, [(b"content-length", b"3"), (b"content-length", b"3")]), body(b"abc")],
], ids=["short", "long", "not a number", "twice"])
def test_content_length_mismatch_in_one_body_gives_500(make, messages):
    async def app(scope, receive, send):
        for message in messages:
            await send(message)

    h = make(app)
    resp = parse_response(h.feed(GET))
    assert resp.status == 500
    assert_clean(h)


def test_streamed_body_longer_than_content_length_is_cut(make, caplog):
    caplog.set_level(logging.ERROR, LOGGER)

    async def app(scope, receive, send):
        await send(start(200, [(b"content-length", b"4")]))
        await send(body(b"abc", more=True))
        await send(body(b"def"))

    h = make(app, error_logger=logging.getLogger(LOGGER))
    out = h.feed(GET + GET)
    assert out.endswith(b"abc")  # never the extra bytes, and no second response
    assert b"def" not in out
    assert h.transport.closed
    assert "content-length" in caplog.text


def test_streamed_body_shorter_than_content_length_closes(make):
    async def app(scope, receive, send):
        await send(start(200, [(b"content-length", b"10")]))
        await send(body(b"abc", more=True))
        await send(body(b"d"))

    h = make(app)
    out = h.feed(GET + GET)
    assert out.endswith(b"abcd")
    assert out.count(b"HTTP/1.1") == 1
    assert h.transport.closed


@pytest.mark.parametrize("status", [999, 600, 99, 0, -1, 101, 100, 103, "200", 200.0, True])
def test_invalid_status_is_an_app_error(make, status):
    async def app(scope, receive, send):
        await send(start(status))  # type: ignore[arg-type]
        await send(body(b"never"))

    h = make(app)
    resp = parse_response(h.feed(GET))
    assert resp.status == 500
    assert b"never" not in resp.raw


def test_intenum_status_is_accepted(make):
    from http import HTTPStatus

    h = make(respond(HTTPStatus.CREATED))
    assert parse_response(h.feed(GET)).status == 201


@pytest.mark.parametrize("bad", [
    [start(200, [(b"x", b"a\r\nb")]), body(b"x")],
    [body(b"x")],
    [start(200), start(200)],
    [{"type": "http.response.oops"}],
], ids=["bad header", "body first", "start twice", "unknown type"])
def test_app_that_swallows_a_send_error_still_ends_the_response(make, bad):
    async def app(scope, receive, send):
        for message in bad:
            try:
                await send(message)
            except Exception:
                pass

    h = make(app)
    out = h.feed(GET + GET)
    responses = parse_responses(out)
    # never silence: a 500 (nothing was sent) or a closed connection
    assert responses and responses[0].status == 500 or h.closed
    assert h.closed


@pytest.mark.parametrize("exc", [SystemExit(1), KeyboardInterrupt(), GeneratorExit])
def test_system_exit_in_app_is_an_app_error(make, caplog, exc):
    caplog.set_level(logging.ERROR, LOGGER)

    async def app(scope, receive, send):
        if scope["path"] == "/boom":
            raise exc
        await send(start(200))
        await send(body(b"ok"))

    h = make(app, error_logger=logging.getLogger(LOGGER))
    if exc is GeneratorExit:
        # A coroutine being closed is how the harness cancels; it must propagate.
        h.feed(request("GET", "/boom"))
        assert h.runtime.errors and isinstance(h.runtime.errors[0], GeneratorExit)
        h.runtime.errors.clear()
        return
    resp = parse_response(h.feed(request("GET", "/boom")))
    assert resp.status == 500
    assert h.runtime.errors == []
    assert "Exception in ASGI application" in caplog.text


# --------------------------------------------------------------------------------------------
# early answers, lingering close, half-close


def test_early_answer_to_large_upload_closes_and_lingers(make):
    h = make(respond(413, b"too big"))
    out = h.feed(request("POST", "/", headers=[("host", "x"), ("content-length", "1000000")],
                         body=b"x" * 65536))
    resp = parse_response(out)
    assert resp.status == 413 and resp.get(b"connection") == b"close"
    assert h.transport.eof_written and not h.transport.closed  # half-closed, still reading
    assert not h.transport.reading_paused
    for _ in range(10):
        assert h.feed(b"x" * 65536) == b""  # dropped, not buffered
    h.feed_eof()
    assert h.transport.closed
    assert_clean(h)


def test_early_answer_with_little_body_left_keeps_the_connection(make):
    app_calls = []

    async def app(scope, receive, send):
        app_calls.append(scope["path"])
        await send(start(401, [(b"content-length", b"0")]))
        await send(body())

    h = make(app)
    out = h.feed(request("POST", "/up", headers=[("host", "x"), ("content-length", "2000")],
                         body=b"x" * 100))
    resp = parse_response(out)
    assert resp.status == 401 and resp.get(b"connection") is None
    out = h.feed(b"x" * 1900 + request("GET", "/next"))
    assert parse_response(out).status == 401
    assert app_calls == ["/up", "/next"]


def test_lingering_close_is_bounded_in_time(make):
    h = make(respond())
    out = h.feed(b"GET / HTTP/1.1\r\nbad header\r\n\r\n")
    assert parse_response(out).status == 400
    assert h.transport.eof_written and not h.transport.closed
    h.feed(b"more input the client was still sending")
    h.advance(4)
    assert not h.transport.closed
    h.advance(3)
    # An abort: a close() would wait for whatever a client that reads nothing left queued.
    assert h.transport.closed and h.transport.aborted
    assert_clean(h)


def test_lingering_close_is_bounded_in_size(make):
    h = make(respond())
    h.feed(b"GET / HTTP/1.1\r\nbad header\r\n\r\n")
    for _ in range(70):
        if h.transport.closed:
            break
        h.feed(b"y" * (1024 * 1024))
    assert h.transport.closed and h.transport.aborted


def test_a_transport_that_cannot_half_close_still_lingers(make):
    """TLS on asyncio has no write_eof: the answer (with "connection: close") is not
    followed by a half-close, but input is still read and dropped until the client, having
    read the answer, closes; closing at once would let a reset destroy the answer."""
    h = make(respond())
    h.transport.can_write_eof = lambda: False  # type: ignore[method-assign]
    out = h.feed(b"GET / HTTP/1.1\r\nbad header\r\n\r\n")
    resp = parse_response(out)
    assert resp.status == 400 and resp.get(b"connection") == b"close"
    assert not h.transport.eof_written and not h.transport.closed
    assert h.feed(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n" * 1000) == b""  # dropped, unparsed
    h.feed_eof()
    assert h.transport.closed and not h.transport.aborted
    assert_clean(h)


def test_without_a_half_close_an_early_answer_lingers(make):
    """A 413 before the body: the client is still uploading, and the answer has a length."""
    h = make(respond(413, b"too big"))
    h.transport.can_write_eof = lambda: False  # type: ignore[method-assign]
    out = h.feed(request("POST", "/", headers=[("host", "x"), ("content-length", "1000000")],
                         body=b"x" * 65536))
    assert parse_response(out).status == 413
    assert not h.transport.closed
    assert h.feed(b"x" * 65536) == b""
    h.feed_eof()
    assert h.transport.closed and not h.transport.aborted


def test_without_a_half_close_a_finished_exchange_closes_at_once(make):
    """Nothing more is coming after a request with "connection: close": without a
    half-close, the close is the only end a client reading to EOF can see."""
    h = make(respond())
    h.transport.can_write_eof = lambda: False  # type: ignore[method-assign]
    out = h.feed(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert parse_response(out).status == 200
    assert h.transport.closed and not h.transport.aborted


def test_without_a_half_close_a_body_ended_by_the_close_is_ended_at_once(make):
    """HTTP/1.0, answered before its upload with a body of no length: the close is the
    end of that body, so it cannot wait for the client's EOF."""

    async def app(scope, receive, send):
        await send(start(413, [(b"content-type", b"text/plain")]))
        await send(body(b"too ", more=True))
        await send(body(b"big"))

    h = make(app)
    h.transport.can_write_eof = lambda: False  # type: ignore[method-assign]
    out = h.feed(b"POST / HTTP/1.0\r\ncontent-length: 1000000\r\n\r\n" + b"x" * 65536)
    assert out.startswith(b"HTTP/1.1 413 ") and out.endswith(b"\r\n\r\ntoo big")
    assert b"content-length" not in out.lower()
    assert h.transport.closed


def test_a_transport_that_cannot_half_close_lingers_within_the_bound(make):
    h = make(respond())
    h.transport.can_write_eof = lambda: False  # type: ignore[method-assign]
    h.feed(b"GET / HTTP/1.1\r\nbad header\r\n\r\n")
    h.advance(7)
    assert h.transport.closed and h.transport.aborted


def test_half_close_after_request_still_gets_the_answer(make):
    async def app(scope, receive, send):
        await gate.wait()  # the app awaits something before answering
        await send(start(200, [(b"content-length", b"2")]))
        await send(body(b"ok"))

    h = make(app)
    gate = Gate(h.runtime)
    assert h.feed(GET) == b""
    assert h.feed_eof() == b""
    assert not h.transport.closed
    gate.open()
    resp = parse_response(h.feed(b""))
    assert resp.body == b"ok" and resp.get(b"connection") == b"close"
    assert h.transport.closed
    assert_clean(h)


def test_half_close_with_pipelined_requests_answers_them_all(make):
    h = make(Recorder())
    h.protocol.data_received(request("GET", "/1") + request("GET", "/2"))
    out = h.feed_eof()
    assert len(parse_responses(out)) == 2
    assert h.transport.closed


def test_half_close_when_idle_closes(make):
    h = make(respond())
    assert parse_response(h.feed(GET)).status == 200
    h.feed_eof()
    assert h.transport.closed


# --------------------------------------------------------------------------------------------
# memory one client can make a connection hold


def _held_by(feed) -> int:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        feed()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_pipelined_flood_is_parsed_only_a_bounded_depth_ahead(make):
    async def app(scope, receive, send):
        await gate.wait()
        await send(start(200, [(b"content-length", b"0")]))
        await send(body())

    h = make(app)
    gate = Gate(h.runtime)
    one = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    flood = one * (256 * 1024 // len(one))
    held = _held_by(lambda: h.feed(flood))
    assert h.transport.reading_paused
    assert held < 1024 * 1024, f"{held} bytes held for one connection"
    gate.open()
    out = h.feed(b"")
    assert len(parse_responses(out)) == len(flood) // len(one)  # every one answered, in turn


def test_tiny_chunks_are_bounded_by_memory_held(make):
    async def app(scope, receive, send):
        await gate.wait()  # does not read its body yet
        await send(start(200, [(b"content-length", b"0")]))
        await send(body())

    h = make(app)
    gate = Gate(h.runtime)
    h.feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    tiny = b"2\r\nab\r\n" * 4096

    def flood():
        for _ in range(40):  # up to 1.1 MiB of input, 2-byte chunks
            if h.transport.reading_paused:
                break
            h.feed(tiny)

    held = _held_by(flood)
    assert h.transport.reading_paused
    assert held < 1024 * 1024, f"{held} bytes held for one connection"
    gate.open()
    h.feed(b"")


def test_responses_wait_while_the_client_does_not_read(make):
    h = make(respond())
    h.protocol.pause_writing()
    out = h.feed(GET * 10)
    assert len(parse_responses(out)) == 1  # the next waits until writing resumes
    h.protocol.resume_writing()
    out = h.feed(b"")
    assert len(parse_responses(out)) == 9


# --------------------------------------------------------------------------------------------
# graceful shutdown


def test_shutdown_deadline_answers_503_to_requests_not_yet_answered(make):
    async def app(scope, receive, send):
        await gate.wait()

    h = make(app)
    gate = Gate(h.runtime)
    h.feed(GET)
    h.protocol.shutdown()
    h.protocol.abort()
    out = h.take()
    h.runtime.run_ready()
    resp = parse_response(out)
    assert resp.status == 503
    assert resp.get(b"connection") == b"close" and resp.get(b"retry-after") == b"1"
    assert h.transport.closed


def test_shutdown_deadline_cuts_a_started_response(make):
    async def app(scope, receive, send):
        await send(start(200))
        await send(body(b"part", more=True))
        await gate.wait()

    h = make(app)
    gate = Gate(h.runtime)
    out = h.feed(GET)
    h.protocol.abort()
    out += h.take()
    assert b"503" not in out
    assert h.transport.closed


def test_pipelined_bodies_split_by_the_depth_bound_are_all_delivered(make):
    app = Recorder()
    h = make(app)
    payloads = [bytes([65 + i % 26]) * 3000 for i in range(100)]
    data = b"".join(request("POST", f"/{i}", headers=[("host", "x"),
                                                     ("content-length", "3000")], body=p)
                    for i, p in enumerate(payloads))
    out = h.feed(data)
    assert [r.body for r in parse_responses(out)] == payloads
    assert [s["path"] for s in app.scopes] == [f"/{i}" for i in range(100)]


def test_half_close_tells_a_waiting_receive_but_the_answer_still_goes_out(make):
    seen = []

    async def app(scope, receive, send):
        await receive()  # the whole (empty) body
        seen.append((await receive())["type"])  # then waits: the client half-closes
        await send(start(200, [(b"content-length", b"4")]))
        await send(body(b"late"))

    h = make(app)
    assert h.feed(GET) == b""
    out = h.feed_eof()
    assert seen == ["http.disconnect"]
    assert parse_response(out).body == b"late"
    assert h.transport.closed


def test_rejected_requests_are_reported_with_their_line_and_reason(make):
    calls = []
    h = make(Recorder(), log_rejected=lambda *args: calls.append(args))
    h.feed(b"GET /partial HTTP/1.1\r\nHost: a b\r\n\r\n")
    assert calls == [(("127.0.0.1", 50000), 400, "Invalid Host header.",
                      "GET /partial HTTP/1.1")]


def test_a_half_close_refused_by_a_departed_peer_closes_quietly(caplog):
    """asyncio's write_eof() shuts the socket down at once and raises ENOTCONN when the
    client already reset the connection: the answer's lingering close must become a close,
    not an exception in the app's send()."""
    import errno

    h = Harness(respond(), error_logger=logging.getLogger("test.linger"))

    def refused() -> None:
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")

    h.transport.write_eof = refused  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="test.linger"):
        out = h.feed(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200")
    assert h.transport.closed
    assert caplog.text == ""
