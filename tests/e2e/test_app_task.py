"""Every shape of ASGI app in its request's task, on every backend (tests.apps.app_shapes).

On asyncio and uvloop under Python 3.12+ the task runs the app's own coroutine (eager,
without HTTPCycle.run between them, see HTTPCycle.start_task); elsewhere the task runs
run(). Either way: a synchronous ``__call__`` runs in the request's own context, an app
may return any awaitable, a failure of the call itself or of the app (SystemExit
included, before or after an await) is a logged 500 while the server goes on, and no
failure leaves asyncio's "exception was never retrieved" behind."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.rawhttp import Connection, request

pytestmark = pytest.mark.timeout(30)

SHAPES = "tests.apps.app_shapes"


def data(response: Any) -> Any:
    assert response.status == 200, response
    return json.loads(response.body)


def assert_nothing_unretrieved(server: Any) -> None:
    assert "never retrieved" not in server.stderr, server.stderr


def test_a_synchronous_call_runs_in_the_requests_own_context(serve):
    server = serve(f"{SHAPES}:sets_var_when_called")
    with Connection(server) as conn:
        for _ in range(3):  # keep-alive: what one call set, the next never sees
            assert data(conn.get("/a")) == {"seen_on_call": None}
        conn.send(request("GET", "/b") + request("GET", "/c"))  # pipelined
        assert data(conn.response()) == {"seen_on_call": None}
        assert data(conn.response()) == {"seen_on_call": None}
    with Connection(server) as conn:
        assert data(conn.get("/d")) == {"seen_on_call": None}


def test_an_app_may_return_any_awaitable(serve):
    server = serve(f"{SHAPES}:returns_awaitable")
    with Connection(server) as conn:
        for _ in range(2):
            assert data(conn.get("/")) == {"shape": "awaitable"}
    assert_nothing_unretrieved(server)


def test_a_call_that_raises_is_a_500(serve):
    server = serve(f"{SHAPES}:raises_when_called")
    with Connection(server) as conn:
        response = conn.get("/fail")
        assert response.status == 500
        conn.assert_closed()
    server.wait_for_output("deliberate failure of the call itself")
    with Connection(server) as conn:
        assert data(conn.get("/ok")) == {"ok": True}
    assert_nothing_unretrieved(server)


@pytest.mark.parametrize("path, logged", [
    ("/exit", "deliberate SystemExit before the first await"),
    ("/later", "deliberate failure after an await"),
    ("/incomplete", "returned without completing the response"),
])
def test_a_failing_app_is_a_logged_500_and_the_server_goes_on(serve, path, logged):
    server = serve(f"{SHAPES}:fails")
    with Connection(server) as conn:
        conn.send(request("GET", path))
        response = conn.response()
        assert response.status == 500  # (/incomplete's head was still held: nothing left)
        conn.assert_closed()
    server.wait_for_output(logged)
    with Connection(server) as conn:
        for _ in range(2):
            assert data(conn.get("/ok")) == {"ok": True}
    assert server.proc.poll() is None
    assert_nothing_unretrieved(server)


def test_send_and_receive_given_to_tasks_as_coroutines(serve, backend):
    """anyio's start_soon(send, message) on every backend; asyncio's
    create_task(receive()) and create_task(send(message)) on asyncio and uvloop."""
    server = serve("tests.apps.callables_in_tasks:app")
    with Connection(server) as conn:
        conn.send(request("POST", "/", body=b"xyz"))
        response = conn.response()
    assert response.status == 200
    if backend == "trio":
        assert response.body == b"start_soon awaited:xyz"
    else:
        assert response.body == b"start_soon create_task:xyz"
    assert_nothing_unretrieved(server)
