"""HTTP/1.1 apps started eagerly: on asyncio and uvloop under Python 3.12+, a request's app
runs its first step inside the server's read (an eager task), after the parser has
returned; on trio and older Pythons it is scheduled as before. On every backend the app
runs in its own task (``current_task()``), in its own copy of the server's context (a
context variable one request sets is seen by no later request, pipelined or not), and
responses leave in request order (tests.apps.eager)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import pytest

from tests.e2e.rawhttp import Connection, request

pytestmark = pytest.mark.timeout(30)

APP = "tests.apps.eager:app"


@pytest.fixture
def server(serve: Any) -> Any:
    return serve(APP)


@pytest.fixture
def eager(backend: str) -> bool:
    """Whether this backend starts apps eagerly on the running Python (as the app can
    tell: asyncio's C module keeps the set of tasks in their eager step, 3.12 and 3.13)."""
    return (backend in ("asyncio", "uvloop") and sys.version_info >= (3, 12)
            and hasattr(asyncio.tasks, "_eager_tasks"))


def facts(response: Any) -> dict[str, Any]:
    assert response.status == 200, response
    data: dict[str, Any] = json.loads(response.body)
    return data


def test_app_answering_without_await(server, eager):
    with Connection(server) as conn:
        for _ in range(3):  # keep-alive: each request a new task, nothing carried over
            data = facts(conn.get("/sync"))
            assert data["leaked"] is None
            assert data["task"] is not None
            # the request's own task; trio's runs the cycle through the connection's app
            # runner (fastcorn.backends.trio_runner), or run_app when the runner is busy
            assert data["task_name"] in ("HTTPCycle.run", "AppRunner._run", "run_app"), data
            assert data["eager"] is eager


def test_current_task_and_context_survive_the_first_await(server, eager):
    with Connection(server) as conn:
        for _ in range(2):
            data = facts(conn.get("/await"))
            assert data["leaked"] is None
            assert data["eager"] is eager  # the first step, before the await
            assert data["same_task"] and data["var_kept"]


def test_pipelined_requests_answer_in_order_and_share_no_context(server, eager):
    paths = ["/sync", "/await", "/echo", "/sync", "/send-then-await", "/sync"]
    wire = b"".join(request("POST" if p == "/echo" else "GET", p,
                            body=b"0123456789" if p == "/echo" else b"") for p in paths)
    with Connection(server) as conn:
        conn.send(wire)  # one write: every head is parsed before the first app starts
        seen = []
        for path in paths:
            response = conn.response()
            assert response.status == 200
            body = response.body
            data = json.loads(body[1:-1] if path == "/send-then-await" else body)
            assert data["leaked"] is None, (path, data)  # nothing from the request before
            seen.append((path, data.get("body")))
            if path == "/sync":
                assert data["eager"] is eager
        assert seen == [(p, "0123456789" if p == "/echo" else None) for p in paths]
        assert facts(conn.get("/sync"))["leaked"] is None  # and the connection serves on


def test_pipelined_requests_written_one_byte_at_a_time(server):
    wire = request("GET", "/sync") + request("POST", "/echo", body=b"abc") + request(
        "GET", "/await")
    with Connection(server) as conn:
        for i in range(len(wire)):
            conn.send(wire[i:i + 1])
        answers = [facts(conn.response()) for _ in range(3)]
    assert [a["leaked"] for a in answers] == [None, None, None]
    assert answers[1]["body"] == "abc"


def test_app_raising_before_its_first_await(server):
    with Connection(server) as conn:
        conn.send(request("GET", "/raise") + request("GET", "/sync"))
        response = conn.response()
        assert response.status == 500
        assert response.header("connection") == "close"
        conn.assert_closed()  # the request behind it is not served on this connection
    with Connection(server) as conn:
        assert facts(conn.get("/sync"))["leaked"] is None
    server.wait_for_output("deliberate failure before the first await")  # read off a pipe


def test_send_then_await(server):
    with Connection(server) as conn:
        for _ in range(2):
            response = conn.get("/send-then-await")
            assert response.status == 200 and response.chunked
            assert response.chunks[0] == b"["
            data = json.loads(response.body[1:-1])
            assert data["same_task"] and data["leaked"] is None


def test_request_body_read_eagerly_and_later(server):
    with Connection(server) as conn:
        data = facts(conn.get("/sync"))  # warm
        conn.send(request("POST", "/echo", body=b"x" * 100))  # head and body in one read
        assert facts(conn.response())["body"] == "x" * 100
        head = request("POST", "/echo", [("Content-Length", "6")])
        conn.send(head)  # the app starts, finds no body and waits for it
        time.sleep(0.1)
        conn.send(b"abcdef")
        data = facts(conn.response())
        assert data["body"] == "abcdef" and data["leaked"] is None


def test_client_disconnect_during_an_eager_app(server):
    with Connection(server) as conn:
        conn.send(request("GET", "/wait-disconnect"))
        assert conn.sock.recv(4096).startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 5
    with Connection(server) as conn:
        while True:
            data = facts(conn.get("/events"))
            if data["events"] == ["/wait-disconnect"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert data["events"] == ["/wait-disconnect"]
    assert data["leaked"] is None
