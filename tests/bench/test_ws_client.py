"""bench/ws_client.py's echo check for the ws, ws-text and ws-deflate scenarios, against
fastcorn serving the benchmark app: a check that cannot tell a right echo from a wrong one
would let the benchmark count garbage."""

from __future__ import annotations

import zlib

import pytest

from bench import ws_client


@pytest.mark.parametrize(("text", "deflate"), [(False, False), (True, False), (False, True),
                                               (True, True)],
                         ids=["binary", "text", "deflate", "text-deflate"])
def test_the_check_passes_against_fastcorn(serve, text, deflate):
    server = serve("bench.apps:app", tls=None)
    assert ws_client.check(server.host, server.port, "/ws", 64, text=text,
                           deflate=deflate) is None


def test_the_check_fails_on_an_app_without_websocket(serve):
    server = serve("tests.apps.basic:app", tls=None)
    problem = ws_client.check(server.host, server.port, "/ws", 64)
    assert problem is not None and "handshake answered" in problem


def test_a_deflated_message_inflates_back():
    payload = ws_client.message(64, text=True)
    data = ws_client.deflated(payload)
    assert not data.endswith(ws_client.DEFLATE_TAIL)
    assert zlib.decompressobj(wbits=-15).decompress(data + ws_client.DEFLATE_TAIL) == payload
