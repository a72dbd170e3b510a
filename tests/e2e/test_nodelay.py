"""TCP_NODELAY on every accepted socket, on every backend.

Checked on the server's own socket, in-process: without it, a response written in more
than one piece waits for the client's delayed ACK (about 40 ms on Linux), which once cost
the asyncio backend 98% of its pipelined throughput.
"""

from __future__ import annotations

import socket
import threading
import time

from fastcorn import backends
from fastcorn.config import Config
from fastcorn.server import Server


async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def run_server(server: Server, backend: str) -> None:
    backends.run(server, backend)


def test_accepted_sockets_have_tcp_nodelay(backend: str) -> None:
    server = Server(Config(app=app, host="127.0.0.1", port=0, lifespan="off", loop=backend,
                           access_log=False))
    server.bind()
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=run_server, args=(server, backend), daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            assert client.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
            deadline = time.monotonic() + 5
            while server.state is None or not server.state.connections:
                assert time.monotonic() < deadline, "the server never saw the connection"
                time.sleep(0.01)
            (conn,) = list(server.state.connections)
            accepted = conn.transport.get_extra_info("socket")
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        server.request_exit_threadsafe()
        thread.join(timeout=10)
        for sock in server.sockets:
            sock.close()
    assert not thread.is_alive(), "the server did not stop"
