"""Graceful shutdown waits on ServerState.drain_waiter, which the state wakes as the last
connection, request or app call goes (no polling): checked step by step with the harness."""

from __future__ import annotations

from h1util import GET, Conn, Gate, body, parse_response, start


def draining(h):
    """What the server's _drain does before it waits: the waiter, then shutdown()."""
    waiter = h.runtime.create_waiter()
    h.state.drain_waiter = waiter
    h.state.shutting_down = True
    for conn in list(h.state.connections):
        conn.shutdown()
    h.runtime.run_ready()
    return waiter


def test_woken_when_the_last_connection_closes_after_its_answer(make):
    async def app(scope, receive, send):
        await gate.wait()
        await send(start(200))
        await send(body(b"done"))

    h = make(app)
    gate = Gate(h.runtime)
    idle = Conn(h)
    h.feed(GET)
    waiter = draining(h)
    assert idle.transport.closed  # an idle connection closes at once
    assert not waiter.done()      # one request is still in flight
    gate.open()
    h.runtime.run_ready()
    assert parse_response(h.take()).body == b"done"
    assert h.transport.closed or h.transport.eof_written
    if not h.transport.closed:
        h.feed_eof()  # the client's EOF ends the lingering close
    assert not h.state.connections
    assert waiter.done() and h.state.drain_waiter is None


def test_an_app_still_running_after_its_response_is_waited_for(make):
    async def app(scope, receive, send):
        await send(start(200))
        await send(body(b"sent"))
        await gate.wait()  # background work after the last send()

    h = make(app)
    gate = Gate(h.runtime)
    assert parse_response(h.feed(GET)).body == b"sent"
    waiter = draining(h)
    h.disconnect()
    assert not h.state.connections and h.state.active_requests == 0
    assert h.state.running_apps == 1 and not waiter.done()
    gate.open()
    h.runtime.run_ready()
    assert waiter.done()


def test_nothing_is_woken_while_not_draining(make):
    async def app(scope, receive, send):
        await send(start(200))
        await send(body(b""))

    h = make(app)
    h.feed(GET)
    h.disconnect()
    assert h.state.drain_waiter is None
