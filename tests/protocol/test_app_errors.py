"""Client disconnects as the app sees them, and app failures as the client sees them."""

from __future__ import annotations

import logging

import pytest
from h1util import GET, Gate, assert_clean, body, parse_response, request, start

from fastcorn.asgi.cycle import ClientDisconnected

LOGGER = "fastcorn.test.protocol"


@pytest.fixture
def logger(caplog):
    caplog.set_level(logging.ERROR, LOGGER)
    return logging.getLogger(LOGGER)


# --------------------------------------------------------------------------------------------
# disconnects


def test_disconnect_reaches_a_waiting_receive(make):
    got = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            got.append(message)
            if message["type"] == "http.disconnect":
                return

    h = make(app)
    h.feed(request("POST", "/", headers=[("host", "x"), ("content-length", "10")],
                   body=b"abc"))
    assert got == [{"type": "http.request", "body": b"abc", "more_body": True}]
    h.disconnect()
    assert got[-1] == {"type": "http.disconnect"}
    assert_clean(h)


def test_disconnect_reaches_receive_after_full_body(make):
    got = []

    async def app(scope, receive, send):
        await receive()
        got.append(await receive())

    h = make(app)
    h.feed(GET)
    assert got == []
    h.disconnect()
    assert got == [{"type": "http.disconnect"}]
    assert_clean(h)


def test_disconnect_while_streaming(make):
    events = []

    async def app(scope, receive, send):
        await send(start(200))
        await send(body(b"first", more=True))
        assert (await receive())["type"] == "http.request"
        message = await receive()  # no more body: this waits for the disconnect
        events.append(message)
        try:
            await send(body(b"second", more=True))
        except OSError as exc:
            events.append(exc)
            raise

    h = make(app)
    out = h.feed(GET)
    assert out.endswith(b"5\r\nfirst\r\n")
    out = h.disconnect()
    assert out == b""
    assert events[0] == {"type": "http.disconnect"}
    assert isinstance(events[1], ClientDisconnected)
    assert isinstance(events[1], OSError)
    assert h.runtime.errors == []
    assert_clean(h)


def test_send_after_disconnect_raises_and_app_can_catch_it(make, caplog, logger):
    caught = []

    async def app(scope, receive, send):
        await gate.wait()
        try:
            await send(start(200))
        except ClientDisconnected as exc:
            caught.append(exc)
        try:
            await send(body(b"x"))
        except OSError as exc:
            caught.append(exc)

    h = make(app, error_logger=logger)
    gate = Gate(h.runtime)
    h.feed(GET)
    h.disconnect()
    gate.open()
    h.feed(b"")
    assert len(caught) == 2
    assert all(isinstance(exc, ClientDisconnected) for exc in caught)
    assert h.state.active_requests == 0
    # the app handled the disconnect: not an application error
    assert caplog.records == []
    assert_clean(h)


def test_uncaught_client_disconnected_is_not_logged(make, caplog, logger):
    async def app(scope, receive, send):
        await gate.wait()
        await send(start(200))

    h = make(app, error_logger=logger)
    gate = Gate(h.runtime)
    h.feed(GET)
    h.disconnect()
    gate.open()
    h.feed(b"")
    assert caplog.records == []
    assert h.runtime.errors == []
    assert_clean(h)


def test_disconnect_before_turn_never_runs_pipelined_app(make):
    paths = []

    async def app(scope, receive, send):
        paths.append(scope["path"])
        await gate.wait()

    h = make(app)
    gate = Gate(h.runtime)
    h.feed(request("GET", "/1") + request("GET", "/2"))
    h.disconnect()
    gate.open()
    h.feed(b"")
    assert paths == ["/1"]
    assert_clean(h)


# --------------------------------------------------------------------------------------------
# app failures


def test_exception_before_start_gives_500_and_close(make, caplog, logger):
    async def app(scope, receive, send):
        raise ValueError("secret detail")

    h = make(app, error_logger=logger)
    out = h.feed(GET)
    resp = parse_response(out)
    assert resp.status == 500
    assert resp.get(b"connection") == b"close"
    assert resp.get(b"content-length") == str(len(resp.body)).encode()
    assert b"secret" not in out and b"Traceback" not in out and b"ValueError" not in out
    assert h.closed
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    assert "Traceback" in caplog.text and "secret detail" in caplog.text
    assert_clean(h)


def test_exception_after_start_before_body_gives_500(make, caplog, logger):
    async def app(scope, receive, send):
        await send(start(200, [(b"x-from-app", b"1")]))
        raise ValueError("boom")

    h = make(app, error_logger=logger)
    resp = parse_response(h.feed(GET))
    assert resp.status == 500
    assert resp.get(b"x-from-app") is None
    assert resp.get(b"connection") == b"close"
    assert h.closed
    assert caplog.records[0].exc_info[0] is ValueError
    assert_clean(h)


def test_exception_mid_stream_closes_without_complete_response(make, caplog, logger):
    async def app(scope, receive, send):
        await send(start(200))
        await send(body(b"partial", more=True))
        raise ValueError("boom")

    h = make(app, error_logger=logger)
    out = h.feed(GET)
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert out.endswith(b"7\r\npartial\r\n")  # no last chunk: the client sees it is cut
    assert not out.endswith(b"0\r\n\r\n")
    assert h.closed
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info[0] is ValueError
    assert "Traceback" in caplog.text
    assert_clean(h)


def test_exception_mid_stream_with_content_length(make, caplog, logger):
    async def app(scope, receive, send):
        await send(start(200, [(b"content-length", b"10")]))
        await send(body(b"part", more=True))
        raise ValueError("boom")

    h = make(app, error_logger=logger)
    out = h.feed(GET)
    assert out.endswith(b"\r\n\r\npart")
    assert h.closed
    assert caplog.records[0].exc_info[0] is ValueError
    assert_clean(h)


def test_exception_after_complete_response_is_logged_connection_survives(make, caplog,
                                                                          logger):
    async def app(scope, receive, send):
        await send(start(200))
        await send(body(b"done"))
        raise ValueError("late")

    h = make(app, error_logger=logger)
    resp = parse_response(h.feed(GET))
    assert resp.status == 200 and resp.body == b"done"
    assert caplog.records[0].exc_info[0] is ValueError
    # the response was complete, so the connection stays usable
    assert not h.closed
    assert parse_response(h.feed(GET)).body == b"done"


def test_return_without_response_gives_500(make, caplog, logger):
    async def app(scope, receive, send):
        return None

    h = make(app, error_logger=logger)
    resp = parse_response(h.feed(GET))
    assert resp.status == 500
    assert resp.get(b"connection") == b"close"
    assert h.closed
    assert len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.ERROR
    assert_clean(h)


def test_return_after_start_only_gives_500(make, caplog, logger):
    async def app(scope, receive, send):
        await send(start(200))

    h = make(app, error_logger=logger)
    resp = parse_response(h.feed(GET))
    assert resp.status == 500
    assert h.closed
    assert len(caplog.records) == 1
    assert_clean(h)


def test_return_mid_stream_closes(make, caplog, logger):
    async def app(scope, receive, send):
        await send(start(200))
        await send(body(b"abc", more=True))

    h = make(app, error_logger=logger)
    out = h.feed(GET)
    assert out.endswith(b"3\r\nabc\r\n")
    assert h.closed
    assert len(caplog.records) == 1
    assert_clean(h)


def test_500_then_pipelined_request_not_served(make, caplog, logger):
    paths = []

    async def app(scope, receive, send):
        paths.append(scope["path"])
        raise ValueError("boom")

    h = make(app, error_logger=logger)
    out = h.feed(request("GET", "/1") + request("GET", "/2"))
    assert parse_response(out).status == 500
    assert paths == ["/1"]
    assert h.closed
    assert_clean(h)


def test_bad_message_type_is_an_app_error(make, caplog, logger):
    async def app(scope, receive, send):
        await send({"type": "http.response.nonsense"})

    h = make(app, error_logger=logger)
    assert parse_response(h.feed(GET)).status == 500
    assert caplog.records[0].exc_info[0] is RuntimeError


# --------------------------------------------------------------------------------------------
# write back-pressure


def test_send_waits_while_writing_paused(make):
    sent = []

    async def app(scope, receive, send):
        await send(start(200))
        await send(body(b"a", more=True))
        sent.append("a")
        await send(body(b"b", more=True))
        sent.append("b")
        await send(body(b""))
        sent.append("end")

    h = make(app)
    h.protocol.pause_writing()
    out = h.feed(GET)
    assert out.endswith(b"1\r\na\r\n")  # the write happens, then send() waits
    assert sent == []
    h.protocol.resume_writing()
    out = h.feed(b"")
    assert sent == ["a", "b", "end"]
    assert out == b"1\r\nb\r\n0\r\n\r\n"


def test_disconnect_while_writing_paused_never_hangs(make, caplog, logger):
    outcome = []

    async def app(scope, receive, send):
        await send(start(200))
        try:
            await send(body(b"a", more=True))  # waits: writing is paused
            outcome.append("returned")
            await send(body(b"b", more=True))
        except ClientDisconnected:
            outcome.append("raised")

    h = make(app, error_logger=logger)
    h.protocol.pause_writing()
    h.feed(GET)
    assert outcome == []
    h.disconnect()
    assert outcome in (["raised"], ["returned", "raised"])
    assert caplog.records == []
    assert_clean(h)
