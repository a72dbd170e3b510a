"""Timeouts on the virtual clock, --limit-concurrency, the access log, and leak checks."""

from __future__ import annotations

from h1util import (
    GET,
    Conn,
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

# --------------------------------------------------------------------------------------------
# timeouts


def test_partial_head_gets_408_after_timeout(make):
    h = make(Recorder(), timeout_request_head=5)
    assert h.feed(b"GET / HTTP/1.1\r\nHost: x\r\n") == b""
    assert h.advance(4) == b""
    assert not h.closed
    out = h.advance(2)
    resp = parse_response(out)
    assert resp.status == 408
    assert resp.get(b"connection") == b"close"
    assert h.closed
    assert_clean(h)


def test_dribbling_head_gets_408_even_though_bytes_keep_coming(make):
    h = make(Recorder(), timeout_request_head=5)
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 20
    out = b""
    for byte in head:
        out += h.feed(bytes([byte]))
        out += h.advance(0.5)
        if h.closed:
            break
    resp = parse_response(out)
    assert resp.status == 408
    assert h.closed
    assert_clean(h)


def test_partial_second_head_gets_408(make):
    h = make(respond(), timeout_request_head=5)
    out = h.feed(GET + b"GET /next HT")
    assert parse_response(out).status == 200
    assert h.advance(4) == b""
    assert parse_response(h.advance(2)).status == 408
    assert h.closed


def test_head_timeout_does_not_fire_once_head_is_complete(make):
    h = make(Recorder(), timeout_request_head=5, timeout_keep_alive=100)
    h.feed(b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 5\r\n\r\nab")
    assert h.advance(10) == b""  # the head arrived in time; the body is the app's business
    assert not h.closed
    assert parse_response(h.feed(b"cde")).body == b"abcde"


def test_idle_keep_alive_closes_silently(make):
    h = make(respond(), timeout_keep_alive=5)
    assert parse_response(h.feed(GET)).status == 200
    assert h.advance(4) == b""
    assert not h.closed
    assert h.advance(2) == b""
    assert h.closed
    assert_clean(h)


def test_fresh_connection_without_request_closes_after_keep_alive_timeout(make):
    h = make(respond(), timeout_keep_alive=5)
    assert h.advance(6) == b""
    assert h.closed


def test_keep_alive_timer_restarts_per_request(make):
    h = make(respond(), timeout_keep_alive=5)
    for _ in range(3):
        assert h.advance(4) == b""
        assert parse_response(h.feed(GET)).status == 200
    assert not h.closed
    h.advance(6)
    assert h.closed


def test_in_flight_request_not_cut_by_keep_alive_timeout(make):
    async def app(scope, receive, send):
        await gate.wait()
        await send(start(200, [(b"content-length", b"4")]))
        await send(body(b"late"))

    h = make(app, timeout_keep_alive=5, timeout_request_head=5)
    gate = Gate(h.runtime)
    assert h.feed(GET) == b""
    assert h.advance(60) == b""
    assert not h.closed
    gate.open()
    resp = parse_response(h.feed(b""))
    assert resp.body == b"late"
    assert not h.closed
    h.advance(6)  # idle again: now the keep-alive timeout applies
    assert h.closed


def test_streaming_response_not_cut_by_timeouts(make):
    async def app(scope, receive, send):
        await send(start(200))
        for _ in range(3):
            await send(body(b"x", more=True))
            await gate.wait()
            gate.opened = False
        await send(body(b""))

    h = make(app, timeout_keep_alive=5, timeout_request_head=5)
    gate = Gate(h.runtime)
    out = h.feed(GET)
    for _ in range(3):
        out += h.advance(30)
        assert not h.closed
        gate.open()
        gate.waiters.clear()
        out += h.feed(b"")
    assert parse_response(out).body == b"xxx"


def test_pipelined_partial_head_while_slow_app_runs(make):
    # The head of request 2 is incomplete while request 1 is in flight; the in-flight time
    # does not count against request 2's head once request 1 is done.
    async def app(scope, receive, send):
        if scope["path"] == "/slow":
            await gate.wait()
        await send(start(200, [(b"content-length", b"0")]))
        await send(body())

    h = make(app, timeout_request_head=5, timeout_keep_alive=5)
    gate = Gate(h.runtime)
    h.feed(request("GET", "/slow") + b"GET /fast HTTP/1.1\r\n")
    assert h.advance(30) == b""
    assert not h.closed
    gate.open()
    assert parse_response(h.feed(b"")).status == 200
    out = h.feed(b"host: x\r\n\r\n")
    assert parse_response(out).status == 200
    assert not h.closed


# --------------------------------------------------------------------------------------------
# --limit-concurrency


def test_limit_concurrency_503_on_another_connection(make):
    async def app(scope, receive, send):
        if scope["path"] == "/block":
            await gate.wait()
        await send(start(200, [(b"content-length", b"2")]))
        await send(body(b"ok"))

    h = make(app, limit_concurrency=1)
    gate = Gate(h.runtime)
    assert h.feed(request("GET", "/block")) == b""
    assert h.state.active_requests == 1
    other = Conn(h)
    out = other.feed(request("GET", "/other"))
    resp = parse_response(out)
    assert resp.status == 503
    assert resp.get(b"connection") == b"close"
    assert other.closed
    other.feed_eof()  # the client reads the 503 and closes; the server stopped lingering
    assert h.state.connections == {h.protocol}
    # the first request is unaffected
    gate.open()
    assert parse_response(h.feed(b"")).body == b"ok"
    assert h.state.active_requests == 0
    # and once it is done, a new connection is served again
    third = Conn(h, ("127.0.0.1", 50002))
    assert parse_response(third.feed(request("GET", "/other"))).status == 200
    third.disconnect()
    h.disconnect()
    assert_clean(h)


def test_limit_concurrency_allows_up_to_the_limit(make):
    async def app(scope, receive, send):
        await gate.wait()
        await send(start(200, [(b"content-length", b"0")]))
        await send(body())

    h = make(app, limit_concurrency=2)
    gate = Gate(h.runtime)
    h.feed(GET)
    second = Conn(h)
    assert second.feed(GET) == b""
    assert h.state.active_requests == 2
    third = Conn(h, ("127.0.0.1", 50002))
    assert parse_response(third.feed(GET)).status == 503
    gate.open()
    assert parse_response(h.feed(b"")).status == 200
    assert parse_response(second.feed(b"")).status == 200
    second.disconnect()
    third.disconnect()


def test_limit_concurrency_pipelined_on_same_connection_is_not_rejected(make):
    # Pipelined requests on one connection are answered one at a time: the second does not
    # run concurrently with the first, so it must not be counted against the limit.
    async def app(scope, receive, send):
        if scope["path"] == "/block":
            await gate.wait()
        await send(start(200, [(b"content-length", b"2")]))
        await send(body(b"ok"))

    h = make(app, limit_concurrency=1)
    gate = Gate(h.runtime)
    assert h.feed(request("GET", "/block")) == b""
    assert h.state.active_requests == 1
    assert h.feed(request("GET", "/next")) == b""  # waits its turn behind /block
    gate.open()
    out = h.feed(b"")
    assert [r.status for r in parse_responses(out)] == [200, 200]


# --------------------------------------------------------------------------------------------
# access log


def test_access_log_callable_gets_request_facts(make):
    calls = []

    def log_access(*args):
        calls.append(args)

    h = make(respond(201, b"hello"), access_log=True, log_access=log_access,
             peer=("10.0.0.7", 4321))
    h.feed(request("POST", "/items?q=1", headers=[("host", "x"), ("content-length", "0")]))
    h.feed(b"GET /a%20b HTTP/1.0\r\n\r\n")
    assert len(calls) == 2
    client, method, target, version, status, nbytes, duration = calls[0]
    assert client == ("10.0.0.7", 4321)
    # the request target as sent: query string kept, nothing percent-decoded
    assert (method, target, version, status, nbytes) == ("POST", "/items?q=1", "1.1", 201, 5)
    assert isinstance(duration, float) and duration >= 0
    assert calls[1][1:6] == ("GET", "/a%20b", "1.0", 201, 5)


def test_access_log_counts_streamed_bytes_and_500(make):
    calls = []

    async def app(scope, receive, send):
        if scope["path"] == "/fail":
            raise ValueError("x")
        await send(start(200))
        await send(body(b"abc", more=True))
        await send(body(b"de"))

    h = make(app, access_log=True, log_access=lambda *a: calls.append(a))
    h.feed(request("GET", "/s") + request("GET", "/fail"))
    assert [c[4:6] for c in calls] == [(200, 5), (500, len(b"Internal Server Error"))]


def test_access_log_off_means_no_calls(make):
    calls = []
    h = make(respond(), access_log=False, log_access=lambda *a: calls.append(a))
    h.feed(GET)
    assert calls == []


# --------------------------------------------------------------------------------------------
# nothing leaks


def test_no_leak_after_client_close(make):
    h = make(respond())
    h.feed(GET + request(headers=[("host", "x"), ("connection", "close")]))
    assert_clean(h)


def test_no_leak_after_disconnect_mid_body(make):
    h = make(Recorder())
    h.feed(request("POST", "/", headers=[("host", "x"), ("content-length", "100")], body=b"a"))
    assert h.state.active_requests == 1
    h.disconnect()
    assert_clean(h)


def test_no_leak_with_pipelined_requests_at_disconnect(make):
    async def app(scope, receive, send):
        await receive()
        await receive()  # waits for the disconnect

    h = make(app)
    h.feed(GET + GET + GET)
    assert len(h.state.connections) == 1
    h.disconnect()
    assert_clean(h)


def test_no_leak_after_error_and_timeout(make):
    h = make(Recorder())
    h.feed(b"GET / HTTP/1.1\r\nbad header: v\r\n\r\n")
    assert_clean(h)
    h2 = make(Recorder(), timeout_request_head=1)
    h2.feed(b"GET /")
    h2.advance(2)
    assert_clean(h2)
