"""The HTTP/1.1 core's two hand-overs: an Upgrade a handler accepts, and the HTTP/2 preface.

A recording ``Echo`` core stands in for the WebSocket and HTTP/2 cores: it writes what it
was handed (the request's path and body) and then echoes every byte. The HTTP/1.1 core
must hand it exactly the bytes after the upgrade request, only when it is safe to (one
request in flight, a Content-Length body of bounded size), and otherwise serve the request
as plain HTTP/1.1 with nothing lost.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import pytest
from h1util import parse_response, parse_responses

from fastcorn.asgi.cycle import ServerState
from fastcorn.protocol.base import CoreFactory, Transport, UpgradeHandler
from fastcorn.protocol.h1 import H1Connection
from fastcorn.testing import Harness

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Echo:
    """A core that reports how it was handed the connection, then echoes."""

    def __init__(self, state: ServerState, label: bytes) -> None:
        self.state = state
        self.label = label
        self.transport: Transport | None = None
        self.received: list[bytes] = []

    def connection_made(self, transport: Transport) -> None:
        self.transport = transport
        self.state.connections.add(self)
        transport.write(b"[" + self.label + b"]")

    def data_received(self, data: bytes) -> None:
        self.received.append(data)
        assert self.transport is not None
        self.transport.write(data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self.state.connection_closed(self)

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass

    def check_timeout(self, now: float) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def abort(self) -> None:
        pass


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    answer = b"http:" + scope["path"].encode() + b":" + body
    await send({"type": "http.response.body", "body": answer})


class Calls:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes]] = []
        self.accept = True
        self.fail = False


def harness(calls: Calls, prior: bool = False, **options: Any) -> Harness:
    def factory(state: ServerState) -> CoreFactory:
        def echo_upgrade(scope: dict[str, Any], body: bytes) -> Echo | None:
            calls.seen.append((scope["path"], body))
            if calls.fail:
                raise RuntimeError("handler bug")
            if not calls.accept:
                return None
            assert scope["type"] == "http" and scope["http_version"] == "1.1"
            assert (b"upgrade", b"echo") in scope["headers"] or any(
                name == b"upgrade" for name, _ in scope["headers"])
            return Echo(state, b"up " + scope["path"].encode() + b" " + body)

        upgrades: dict[bytes, UpgradeHandler] = {b"echo": echo_upgrade}
        prior_knowledge = (lambda: Echo(state, b"h2")) if prior else None
        return functools.partial(H1Connection, state, upgrades, prior_knowledge)

    return Harness(app, factory=factory, **options)


def upgrade_request(path: str = "/chat", body: bytes = b"", token: bytes = b"echo",
                    extra: bytes = b"") -> bytes:
    length = b"content-length: %d\r\n" % len(body) if body else b""
    return (b"GET " + path.encode() + b" HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\n"
            b"upgrade: " + token + b"\r\n" + length + extra + b"\r\n" + body)


def test_upgrade_without_body_hands_over_with_the_bytes_after_the_head() -> None:
    calls = Calls()
    h = harness(calls)
    out = h.feed(upgrade_request() + b"frames")
    assert out == b"[up /chat ]frames"
    assert calls.seen == [("/chat", b"")]
    assert isinstance(h.protocol, Echo)
    assert h.state.connections == {h.protocol}  # the HTTP/1.1 core let go
    assert h.feed(b"more") == b"more"
    h.disconnect()
    assert not h.state.connections


def test_upgrade_with_a_body_is_read_whole_first() -> None:
    calls = Calls()
    h = harness(calls)
    request = upgrade_request(body=b"0123456789")
    assert h.feed(request[:-6]) == b""  # the body is not complete yet
    assert isinstance(h.protocol, H1Connection)
    out = h.feed(request[-6:] + b"after")
    assert out == b"[up /chat 0123456789]after"
    assert calls.seen == [("/chat", b"0123456789")]


def test_body_split_exactly_at_its_end() -> None:
    calls = Calls()
    h = harness(calls)
    assert h.feed(upgrade_request(body=b"abc")) == b"[up /chat abc]"
    assert h.feed(b"next") == b"next"


def test_a_declined_upgrade_is_served_as_http11_and_the_connection_goes_on() -> None:
    calls = Calls()
    calls.accept = False
    h = harness(calls)
    out = h.feed(upgrade_request(body=b"xyz") + b"GET /two HTTP/1.1\r\nhost: x\r\n\r\n")
    responses = parse_responses(out)
    assert [r.body for r in responses] == [b"http:/chat:xyz", b"http:/two:"]
    assert isinstance(h.protocol, H1Connection)
    out = h.feed(upgrade_request("/again"))
    assert parse_response(out).body == b"http:/again:"
    assert calls.seen == [("/chat", b"xyz"), ("/again", b"")]


@pytest.mark.parametrize("token", [b"Echo", b"other, echo", b" ECHO "])
def test_the_token_is_matched_case_insensitively_in_a_list(token: bytes) -> None:
    calls = Calls()
    h = harness(calls)
    assert h.feed(upgrade_request(token=token)) == b"[up /chat ]"


def test_an_unknown_upgrade_is_plain_http11() -> None:
    calls = Calls()
    h = harness(calls)
    out = h.feed(upgrade_request(token=b"foo", body=b"abc"))
    assert parse_response(out).body == b"http:/chat:abc"
    assert calls.seen == []


def test_a_chunked_upgrade_request_is_plain_http11() -> None:
    calls = Calls()
    h = harness(calls)
    chunked = upgrade_request(extra=b"transfer-encoding: chunked\r\n")
    out = h.feed(chunked + b"3\r\nabc\r\n0\r\n\r\n")
    assert parse_response(out).body == b"http:/chat:abc"
    assert calls.seen == []


def test_an_upgrade_expecting_100_continue_is_plain_http11() -> None:
    calls = Calls()
    h = harness(calls)
    head = upgrade_request(extra=b"content-length: 3\r\nexpect: 100-continue\r\n")
    out = h.feed(head)
    assert out.startswith(b"HTTP/1.1 100 Continue\r\n")
    assert parse_response(out[out.index(b"\r\n\r\n") + 4:] + h.feed(b"abc")).body == \
        b"http:/chat:abc"
    assert calls.seen == []


def test_a_body_over_the_limit_is_plain_http11() -> None:
    calls = Calls()
    h = harness(calls)
    body = b"a" * (1024 * 1024 + 1)
    out = h.feed(upgrade_request(body=body))
    assert parse_response(out).body == b"http:/chat:" + body
    assert calls.seen == []


def test_an_upgrade_pipelined_behind_another_request_is_plain_http11() -> None:
    calls = Calls()
    h = harness(calls)
    out = h.feed(b"GET /one HTTP/1.1\r\nhost: x\r\n\r\n" + upgrade_request())
    assert [r.body for r in parse_responses(out)] == [b"http:/one:", b"http:/chat:"]
    assert calls.seen == []


def test_a_failing_handler_gives_500_and_a_close(caplog: pytest.LogCaptureFixture) -> None:
    calls = Calls()
    calls.fail = True
    logger = logging.getLogger("test.upgrade")
    h = harness(calls, error_logger=logger)
    with caplog.at_level(logging.ERROR, logger="test.upgrade"):
        out = h.feed(upgrade_request() + b"ignored")
    assert parse_response(out).status == 500
    assert h.closed
    assert "Error while upgrading a connection" in caplog.text


def test_the_body_timeout_applies_while_an_upgrade_body_arrives() -> None:
    calls = Calls()
    h = harness(calls, timeout_request_body=5.0)
    request = upgrade_request(body=b"0123456789")
    h.feed(request[:-3])
    out = h.advance(6)
    assert parse_response(out).status == 408
    assert calls.seen == []


def test_the_http2_preface_goes_to_the_prior_knowledge_core() -> None:
    calls = Calls()
    h = harness(calls, prior=True)
    out = h.feed(PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    assert out == b"[h2]" + PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    assert isinstance(h.protocol, Echo)
    assert h.state.connections == {h.protocol}


@pytest.mark.parametrize("reads", [[b"P", b"RI * HTTP/2.0"], [b"PR", b"I", b" * x"],
                                   [b"PRI", b" "]])
def test_a_preface_split_across_reads_is_handed_over_whole(reads: list[bytes]) -> None:
    h = harness(Calls(), prior=True)
    out = b"".join(h.feed(read) for read in reads)
    assert out == b"[h2]" + b"".join(reads)
    assert isinstance(h.protocol, Echo)


def test_a_bad_preface_is_still_the_http2_cores_to_refuse() -> None:
    # "PRI " and then not the preface: the HTTP/2 core answers it (GOAWAY), not HTTP/1.1.
    h = harness(Calls(), prior=True)
    assert h.feed(b"PRI / HTTP/1.1\r\nhost: x\r\n\r\n").startswith(b"[h2]")


POST = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\nz"


@pytest.mark.parametrize("reads", [[POST[:1], POST[1:]], [POST]])
def test_http11_that_starts_like_the_preface_is_http11(reads: list[bytes]) -> None:
    h = harness(Calls(), prior=True)
    out = b"".join(h.feed(read) for read in reads)
    assert parse_response(out).body == b"http:/:z"
    assert isinstance(h.protocol, H1Connection)


def test_only_the_first_bytes_are_sniffed() -> None:
    h = harness(Calls(), prior=True)
    out = h.feed(b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n")
    assert parse_response(out).body == b"http:/a:"
    out = h.feed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")  # later: just a bad request
    assert parse_response(out).status in (400, 501, 505)
    assert isinstance(h.protocol, H1Connection)


def test_without_handlers_nothing_changes() -> None:
    h = Harness(app)
    out = h.feed(upgrade_request(body=b"abc"))
    assert parse_response(out).body == b"http:/chat:abc"


class ChosenProtocol:
    """What ALPNChoice reads of a TLS connection: the protocol ALPN settled on. (The
    real handshake is tested end to end in tests/e2e with HTTP/2 over TLS.)"""

    def __init__(self, chosen: str | None) -> None:
        self.chosen = chosen

    def selected_alpn_protocol(self) -> str | None:
        return self.chosen


@pytest.mark.parametrize(("chosen", "label"), [("h2", b"h2"), ("http/1.1", b"h1"),
                                               (None, b"h1")])
def test_alpn_picks_the_first_core(chosen: str | None, label: bytes) -> None:
    from fastcorn.protocol.negotiate import ALPNChoice
    from fastcorn.testing import ManualRuntime, MemoryTransport

    state = ServerState(app, ManualRuntime())
    choice = ALPNChoice(lambda: Echo(state, b"h1"), lambda: Echo(state, b"h2"))
    transport = MemoryTransport(choice, ("127.0.0.1", 1), ("127.0.0.1", 2))
    transport.extra["ssl_object"] = ChosenProtocol(chosen)
    choice.connection_made(transport)
    core = transport.protocol
    assert isinstance(core, Echo) and core.label == label
    assert transport.output == b"[" + label + b"]"
    assert state.connections == {core}
