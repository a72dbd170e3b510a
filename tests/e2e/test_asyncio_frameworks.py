"""Which frameworks run on which loop (README, "Frameworks and loops").

Django and Quart call asyncio directly: they are served on asyncio and uvloop, and on trio
fail clearly, with one line saying the app needs an asyncio loop and how to run it, instead
of a traceback per request behind a misleading lifespan line. Litestar is built on anyio and
runs on all three (Starlette and FastAPI: test_frameworks.py).
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import start_server

pytestmark = pytest.mark.timeout(60)

HINT = re.compile(r"ERROR: The application needs an asyncio event loop and cannot run on trio "
                  r"\(.+\): run it with --loop asyncio or --loop uvloop\.$", re.M)

ASYNCIO_ONLY = {
    # name: (module to import, app path, {route: expected body fragment})
    "django": ("django", "tests.apps.django_app:application",
               {"/hello": "hello from django", "/json?x=1": '"query": {"x": "1"}'}),
    "quart": ("quart", "tests.apps.quart_app:app",
              {"/hello": "hello from quart", "/json": '"framework":"quart"'}),
}


@pytest.mark.parametrize("name", list(ASYNCIO_ONLY))
def test_asyncio_only_framework(serve, backend, name):
    module, app, routes = ASYNCIO_ONLY[name]
    pytest.importorskip(module, reason=f"{name} is not installed")
    if backend != "trio":
        server = serve(app)
        for route, fragment in routes.items():
            response = httpx.get(server.url + route, timeout=10)
            assert response.status_code == 200, (route, response.text, server.stderr)
            assert fragment in response.text
        assert server.stop() == 0
        assert "Traceback" not in server.stderr and not HINT.search(server.stderr)
        return

    server = serve(app, ready=False)
    line = server.wait_for_output(r"listening on|needs an asyncio event loop", timeout=20)
    if "listening on" in line:
        # Served: every request is answered 500, and the cause is told once.
        server.wait_ready()
        for _ in range(3):
            for route in routes:
                assert httpx.get(server.url + route, timeout=10).status_code == 500
        server.wait_for_output(r'"GET /hello HTTP/1.1" 500')
        assert server.stop() == 0
    else:
        # Or refused at startup, because its lifespan already needed asyncio.
        assert server.wait(15) == 3
    err = server.stderr
    assert len(HINT.findall(err)) == 1, err
    assert "Traceback" not in err, err
    assert "Exception in ASGI application" not in err, err
    assert "Application shutdown failed" not in err, err  # the same cause, told once


def test_asyncio_only_framework_tracebacks_at_debug_level():
    pytest.importorskip("quart", reason="quart is not installed")
    server = start_server("trio", "tests.apps.quart_app:app", "--log-level", "debug")
    try:
        assert httpx.get(server.url + "/hello", timeout=10).status_code == 500
        server.wait_for_output(r"DEBUG: Exception in ASGI application")
        server.wait_for_output(r"RuntimeError: no running event loop")
        assert len(HINT.findall(server.stderr)) == 1
    finally:
        server.cleanup()


def test_litestar_runs_on_every_loop(serve, backend):
    pytest.importorskip("litestar", reason="litestar is not installed")
    server = serve("tests.apps.litestar_app:app")
    for _ in range(2):
        response = httpx.get(server.url + "/hello", timeout=10)
        assert response.status_code == 200
        assert response.json() == {"framework": "litestar"}
    assert server.stop() == 0
    assert "Traceback" not in server.stderr and not HINT.search(server.stderr)
