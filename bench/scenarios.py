"""The scenarios: what is requested, how hard, and the exact answer expected."""

from __future__ import annotations

from dataclasses import dataclass

from bench.apps import BIG, FILE_BODY, HELLO

ECHO_BODY = b"x" * 1024
SEED_QUERY = b"name=fastcorn&value=42"
SEED_POST = b'{"message": "Hello from the seed benchmark"}'


@dataclass(frozen=True)
class Scenario:
    name: str
    tool: str  # "wrk", "h2load" or "ws"
    path: str
    expected: bytes  # the exact response body (the ws echo payload for "ws")
    method: str = "GET"
    body: bytes = b""
    connections: int = 64
    pipeline: int = 1
    about: str = ""
    with_ceilings: bool = True  # the seed scenarios compare loops, not ceilings
    tls: bool = False  # https, with bench/tls.py's certificate (the ceilings are cleartext)
    close: bool = False  # "Connection: close" on every request: a new connection each time
    # Worker processes of each server: with more than one, nothing is pinned (the workers
    # and the load generator share every CPU) and each run records how the server's work
    # was spread over its workers (their shares of its CPU time).
    workers: int = 1
    reuse_port: bool = False  # each worker its own SO_REUSEPORT listener (fastcorn's flag)
    ws_text: bool = False  # ws: text messages instead of binary
    ws_deflate: bool = False  # ws: permessage-deflate negotiated

    @property
    def http2(self) -> bool:
        return self.tool == "h2load"

    @property
    def http1(self) -> bool:
        return self.tool == "wrk"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def pinned(self) -> bool:
        """Server on one CPU, load generator on another: one worker only."""
        return self.workers == 1


WORKERS_ABOUT = (
    "2 workers per server, {how}; server and load generator unpinned on the 2 CPUs, so "
    "this shows fairness (how evenly each server spreads the work over its workers), not "
    "scaling"
)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("hello", "wrk", "/hello", HELLO, about="GET, 13-byte body with Content-Length"),
        Scenario(
            "echo", "wrk", "/echo", ECHO_BODY, "POST", ECHO_BODY, about="POST 1 KiB, echoed back"
        ),
        Scenario("big", "wrk", "/big", BIG, about="GET of a 100 KiB body"),
        Scenario(
            "file",
            "wrk",
            "/file",
            FILE_BODY,
            connections=8,
            about="GET of a 10 MiB file: pathsend where advertised, else read and sent "
            "in 64 KiB pieces",
            with_ceilings=False,
        ),
        Scenario("pipelined", "wrk", "/hello", HELLO, pipeline=16, about="GET hello, 16 per write"),
        Scenario("many", "wrk", "/hello", HELLO, connections=1000, about="1,000 keep-alive conns"),
        Scenario(
            "h2-hello",
            "h2load",
            "/hello",
            HELLO,
            connections=16,
            about="h2c with prior knowledge, h2load -c16 -m10 (10 streams at a time each)",
        ),
        Scenario(
            "h2-hello-tls",
            "h2load",
            "/hello",
            HELLO,
            connections=16,
            tls=True,
            about="HTTP/2 over TLS (ALPN h2), h2load -c16 -m10",
        ),
        Scenario("ws", "ws", "/ws", b"x" * 64, about="64-byte binary echo"),
        Scenario("ws-text", "ws", "/ws", b"x" * 64, ws_text=True, about="64-byte text echo"),
        Scenario("ws-deflate", "ws", "/ws", b"x" * 64, ws_deflate=True,
                 about="64-byte binary echo, permessage-deflate"),
        Scenario(
            "hello-tls",
            "wrk",
            "/hello",
            HELLO,
            tls=True,
            about="hello over TLS (HTTP/1.1, keep-alive)",
        ),
        Scenario(
            "echo-tls",
            "wrk",
            "/echo",
            ECHO_BODY,
            "POST",
            ECHO_BODY,
            tls=True,
            about="echo over TLS (POST 1 KiB, keep-alive)",
        ),
        Scenario(
            "handshake-tls",
            "wrk",
            "/hello",
            HELLO,
            tls=True,
            close=True,
            about="hello over TLS with Connection: close: a TCP connection and a full "
            "TLS handshake per request",
        ),
        *(
            Scenario(
                name,
                "wrk",
                "/hello",
                HELLO,
                close=close,
                workers=2,
                reuse_port=reuse_port,
                with_ceilings=False,
                about=WORKERS_ABOUT.format(
                    how=("GET hello with Connection: close (a new connection per request)"
                         if close else "GET hello on 64 keep-alive connections")
                    + (", one SO_REUSEPORT listener per worker" if reuse_port
                       else ", listeners shared by the workers")
                ),
            )
            for name, close, reuse_port in (
                ("workers", False, False),
                ("workers-reuseport", False, True),
                ("workers-close", True, False),
                ("workers-close-reuseport", True, True),
            )
        ),
        Scenario(
            "seed-get",
            "wrk",
            "/seed?" + SEED_QUERY.decode(),
            SEED_QUERY,
            about="the 2018 article's echo app, GET",
            with_ceilings=False,
        ),
        Scenario(
            "seed-post",
            "wrk",
            "/seed",
            SEED_POST,
            "POST",
            SEED_POST,
            about="the 2018 article's echo app, POST",
            with_ceilings=False,
        ),
    )
}

# Hypercorn 0.4.0's own figures, from "Hypercorn is now a Trio ASGI Server"
# (P. Jones, November 2018), measured on another machine: requests per second.
SEED_ARTICLE = {
    "seed-get": {"trio": 1483, "asyncio": 4444, "uvloop": 5409},
    "seed-post": {"trio": 1257, "asyncio": 3436, "uvloop": 4305},
}
SEED_ARTICLE_SOURCE = "https://medium.com/@pgjones/hypercorn-is-now-a-trio-asgi-server-2e198898c08f"
