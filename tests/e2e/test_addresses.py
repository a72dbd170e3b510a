"""Where the server listens: IPv6, a unix socket, an inherited file descriptor."""

from __future__ import annotations

import os
import socket
import tempfile

import httpx
import pytest

from tests.e2e.rawhttp import Connection

pytestmark = pytest.mark.timeout(30)


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
def test_ipv6(serve):
    server = serve("tests.apps.basic:app", "--host", "::1")
    assert server.url.startswith("http://[::1]:"), server.url
    assert server.host == "::1"
    response = httpx.get(server.url + "/info", timeout=5)
    assert response.status_code == 200
    assert response.json()["client"][0] == "::1"
    with Connection(server) as conn:
        assert conn.get("/").body == b"hello"
    assert server.stop() == 0


def test_unix_socket(serve):
    directory = tempfile.mkdtemp(prefix="fastcorn-e2e-", dir="/tmp")  # short: sun_path limit
    path = os.path.join(directory, "s.sock")
    try:
        server = serve("tests.apps.basic:app", "--bind", f"unix:{path}")
        assert server.address == f"unix:{path}", server.address
        transport = httpx.HTTPTransport(uds=path)
        with httpx.Client(transport=transport, base_url="http://localhost", timeout=5) as c:
            assert c.get("/").text == "hello"
            info = c.get("/info").json()
            assert info["path"] == "/info"
            assert c.post("/echo", content=b"over a unix socket").text == "over a unix socket"
        assert server.stop() == 0
        assert not os.path.exists(path), "the socket file was left behind"
    finally:
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(directory)


def test_inherited_fd(serve):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        fd = listener.fileno()
        server = serve("tests.apps.basic:app", "--fd", str(fd), pass_fds=(fd,))
    finally:
        listener.close()  # the server holds its own copy now
    assert server.port == port
    assert server.address == f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        assert client.get("/").text == "hello"
        assert client.get("/info").json()["server"] == ["127.0.0.1", port]
    assert server.stop() == 0
