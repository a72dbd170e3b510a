"""Connection persistence, pipelining and Upgrade requests on HTTP/1.1 and HTTP/1.0."""

from __future__ import annotations

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

OK = b"HTTP/1.1 200 OK\r\n" + DATE + b"content-type: text/plain\r\ncontent-length: 2\r\n\r\nok"


def test_http11_keeps_alive_by_default(make):
    h = make(respond())
    assert h.feed(GET) == OK
    assert not h.closed
    assert h.feed(GET) == OK
    assert not h.closed


def test_http10_closes_by_default(make):
    h = make(respond())
    out = h.feed(b"GET / HTTP/1.0\r\n\r\n")
    assert out == (b"HTTP/1.1 200 OK\r\n" + DATE + b"content-type: text/plain\r\n"
                   b"content-length: 2\r\nconnection: close\r\n\r\nok")
    assert h.closed
    assert_clean(h)


def test_http10_keep_alive_on_request(make):
    h = make(respond())
    out = h.feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    resp = parse_response(out)
    assert resp.get(b"connection") == b"keep-alive"
    assert resp.body == b"ok"
    assert not h.closed
    resp = parse_response(h.feed(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"))
    assert resp.get(b"connection") == b"keep-alive"
    assert not h.closed
    resp = parse_response(h.feed(b"GET / HTTP/1.0\r\n\r\n"))
    assert resp.get(b"connection") == b"close"
    assert h.closed


def test_client_connection_close(make):
    h = make(respond())
    out = h.feed(request(headers=[("host", "x"), ("Connection", "close")]))
    resp = parse_response(out)
    assert resp.status == 200
    assert resp.get(b"connection") == b"close"
    assert h.closed
    assert_clean(h)


def test_client_connection_close_among_other_tokens(make):
    h = make(respond())
    resp = parse_response(h.feed(request(headers=[("host", "x"), ("Connection", "TE, close")])))
    assert resp.get(b"connection") == b"close"
    assert h.closed


def test_app_connection_close_header_closes(make):
    h = make(respond(headers=[(b"Connection", b"close")]))
    out = h.feed(GET + GET)  # the second request is never answered
    resp = parse_response(out)
    assert resp.get(b"connection") == b"close"  # once: the app's copy is not repeated
    assert h.closed
    assert_clean(h)


def test_nothing_read_after_close(make):
    h = make(respond())
    h.feed(request(headers=[("host", "x"), ("connection", "close")]))
    assert h.closed
    assert h.feed(GET) == b""


# --------------------------------------------------------------------------------------------
# pipelining


def test_pipelined_requests_answered_in_order(make):
    app = Recorder()
    h = make(app)
    data = b"".join(request("POST", f"/{i}", headers=[("host", "x"), ("content-length", "1")],
                            body=str(i).encode()) for i in range(5))
    out = h.feed(data)
    responses = parse_responses(out)
    assert [r.body for r in responses] == [b"0", b"1", b"2", b"3", b"4"]
    assert [s["path"] for s in app.scopes] == ["/0", "/1", "/2", "/3", "/4"]
    assert not h.closed
    assert not h.transport.reading_paused


def test_pipelined_request_waits_its_turn(make):
    order = []

    async def app(scope, receive, send):
        order.append(("start", scope["path"]))
        if scope["path"] == "/slow":
            await gate.wait()
        await send(start(200, [(b"content-length", b"4")]))
        await send(body(scope["path"][1:].encode()[:4].ljust(4, b".")))
        order.append(("end", scope["path"]))

    h = make(app)
    gate = Gate(h.runtime)
    out = h.feed(request("GET", "/slow") + request("GET", "/fast"))
    assert out == b""  # /fast is not answered before /slow
    assert order == [("start", "/slow")]  # and its app has not even started
    assert h.transport.reading_paused  # a request waits its turn: stop reading more
    gate.open()
    out = h.feed(b"")
    assert [r.body for r in parse_responses(out)] == [b"slow", b"fast"]
    assert order == [("start", "/slow"), ("end", "/slow"), ("start", "/fast"), ("end", "/fast")]
    assert not h.transport.reading_paused


def test_pipelined_slow_reader_keeps_order(make):
    # Request 1's app waits for its body, which arrives in a later feed, while request 2
    # (complete) sits behind it.
    async def app(scope, receive, send):
        data = b""
        while True:
            message = await receive()
            data += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send(start(200, [(b"content-type", b"text/plain")]))
        await send(body(scope["path"].encode() + b":" + data))

    h = make(app)
    first_head = b"POST /1 HTTP/1.1\r\nhost: x\r\ncontent-length: 6\r\n\r\nabc"
    out = h.feed(first_head)
    assert out == b""
    # the rest of request 1's body, then request 2 in the same packet
    out = h.feed(b"def" + request("GET", "/2"))
    assert [r.body for r in parse_responses(out)] == [b"/1:abcdef", b"/2:"]


def test_pipelined_response_written_when_previous_streams(make):
    async def app(scope, receive, send):
        if scope["path"] == "/stream":
            await send(start(200))
            await send(body(b"a", more=True))
            await gate.wait()
            await send(body(b"b", more=False))
        else:
            await send(start(200, [(b"content-length", b"1")]))
            await send(body(b"x"))

    h = make(app)
    gate = Gate(h.runtime)
    out = h.feed(request("GET", "/stream") + request("GET", "/other"))
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert out.endswith(b"\r\n\r\n1\r\na\r\n")
    assert b"x" not in out.split(b"\r\n\r\n", 1)[1]
    gate.open()
    out2 = h.feed(b"")
    responses = parse_responses(out + out2)
    assert [r.body for r in responses] == [b"ab", b"x"]


def test_reading_resumes_once_pipeline_drains(make):
    async def app(scope, receive, send):
        await gate.wait()
        await send(start(200, [(b"content-length", b"0")]))
        await send(body())

    h = make(app)
    gate = Gate(h.runtime)
    h.feed(GET)
    assert not h.transport.reading_paused  # one request in flight, nothing queued
    h.feed(GET)
    assert h.transport.reading_paused
    gate.open()
    out = h.feed(b"")
    assert [r.status for r in parse_responses(out)] == [200, 200]
    assert not h.transport.reading_paused
    assert not h.closed


def test_pipelined_after_connection_close_is_not_served(make):
    app = Recorder()
    h = make(app)
    out = h.feed(request(headers=[("host", "x"), ("connection", "close")]) + GET)
    assert len(parse_responses(out)) == 1
    assert len(app.scopes) == 1
    assert h.closed
    assert_clean(h)


# --------------------------------------------------------------------------------------------
# Upgrade


def test_websocket_upgrade_served_as_http_then_next_request(make):
    app = Recorder()
    h = make(app)
    upgrade = (b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    out = h.feed(upgrade)
    resp = parse_response(out)
    assert resp.status == 200
    assert app.scopes[0]["type"] == "http"
    assert app.scopes[0]["path"] == "/ws"
    assert (b"upgrade", b"websocket") in app.scopes[0]["headers"]
    assert not h.closed
    out = h.feed(request("GET", "/next"))
    assert parse_response(out).status == 200
    assert app.scopes[1]["path"] == "/next"


def test_upgrade_and_next_request_in_one_packet(make):
    app = Recorder()
    h = make(app)
    upgrade = b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    out = h.feed(upgrade + request("GET", "/next") + request("GET", "/third"))
    assert [r.status for r in parse_responses(out)] == [200, 200, 200]
    assert [s["path"] for s in app.scopes] == ["/ws", "/next", "/third"]
    assert not h.closed


def test_h2c_upgrade_served_as_http11(make):
    app = Recorder()
    h = make(app)
    out = h.feed(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                 b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    resp = parse_response(out)
    assert resp.status == 200
    assert app.scopes[0]["http_version"] == "1.1"
    assert parse_response(h.feed(GET)).status == 200
