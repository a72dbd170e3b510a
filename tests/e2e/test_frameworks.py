"""Starlette and FastAPI (anyio-based frameworks) on every loop."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import start_server

pytestmark = pytest.mark.timeout(30)

APPS = {
    "starlette": "tests.apps.frameworks:starlette_app",
    "fastapi": "tests.apps.frameworks:fastapi_app",
}


@pytest.fixture(scope="module", params=list(APPS))
def framework_server(backend, request):
    server = start_server(backend, APPS[request.param])
    server.framework = request.param
    yield server
    server.cleanup()


def test_json_route(framework_server):
    response = httpx.get(framework_server.url + "/json", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"framework": framework_server.framework, "ok": True}


def test_json_body_route(framework_server):
    payload = {"name": "fastcorn", "numbers": [1, 2, 3], "nested": {"ok": True}}
    response = httpx.post(framework_server.url + "/echo", json=payload, timeout=5)
    assert response.status_code == 200
    assert response.json() == {"received": payload}


def test_json_body_route_chunked(framework_server):
    def body():
        yield b'{"chunked": '
        yield b"true}"

    response = httpx.post(framework_server.url + "/echo", content=body(),
                          headers={"content-type": "application/json"}, timeout=5)
    assert response.status_code == 200
    assert response.json() == {"received": {"chunked": True}}


def test_streaming_response(framework_server):
    with httpx.stream("GET", framework_server.url + "/stream", params={"n": 50},
                      timeout=5) as response:
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        body = b"".join(response.iter_bytes())
    assert body == b"".join(b"%d\n" % i for i in range(50))


def test_handler_runs_in_a_task(framework_server, backend):
    info = httpx.get(framework_server.url + "/task", timeout=5).json()
    assert info == {"library": "trio" if backend == "trio" else "asyncio", "task": True}


def test_not_found_and_method_not_allowed(framework_server):
    with httpx.Client(base_url=framework_server.url, timeout=5) as client:
        assert client.get("/nope").status_code == 404
        assert client.get("/echo").status_code == 405
        assert client.get("/json").status_code == 200


def test_websocket_route_is_served(framework_server):
    """The framework's WebSocket route over fastcorn's WebSocket core (more in
    tests/e2e/test_websocket.py)."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect as ws_connect

    url = framework_server.url.replace("http://", "ws://") + "/ws"
    with ws_connect(url, open_timeout=5) as ws:
        assert ws.recv(timeout=5) == "hello"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    assert "WebSocket is off" not in framework_server.stderr
