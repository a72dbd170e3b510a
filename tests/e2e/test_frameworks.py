"""Starlette and FastAPI (anyio-based frameworks) on every loop."""

from __future__ import annotations

import time

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


def test_websocket_route_is_refused_with_one_warning_per_upgrade(framework_server):
    """WebSocket is not served yet: the upgrade is answered as plain HTTP (the framework's
    404 or 403), and the server says why, once per upgrade request."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect as ws_connect

    mark = framework_server.mark()
    for _ in range(2):
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(framework_server.url.replace("http://", "ws://") + "/ws",
                       open_timeout=5)
        assert refused.value.response.status_code in (403, 404)
    framework_server.wait_for_output("WebSocket is not supported yet", since=mark)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = framework_server.output_since(mark)
        if log.count("WebSocket is not supported yet") >= 2:
            break
        time.sleep(0.05)
    assert log.count("WebSocket is not supported yet") == 2, log
