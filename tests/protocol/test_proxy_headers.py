"""Proxy headers in the scope (fastcorn/asgi/proxy.pyx), driven through the harness.

The trust decision is made once per connection when the scope template is built, so each
test makes a connection from a given peer with a given policy and reads the scopes its
requests get. tests/e2e/test_proxy_headers.py runs the same rules on every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fastcorn.asgi.cycle import ServerState
from fastcorn.asgi.proxy import ProxyPolicy, trusted_entries
from fastcorn.protocol.base import CoreFactory
from fastcorn.protocol.negotiate import connection_factory
from fastcorn.testing import Harness

SCOPES: list[dict[str, Any]] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    SCOPES.append(scope)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def with_policy(policy: ProxyPolicy | None) -> Callable[[ServerState], CoreFactory]:
    def factory(state: ServerState) -> CoreFactory:
        state.proxy = policy
        return connection_factory(state)
    return factory


def scope_of(headers: list[tuple[str, str]], *, trusted: str = "127.0.0.1",
             peer: tuple[str, int] = ("127.0.0.1", 50000), enabled: bool = True,
             ) -> dict[str, Any]:
    SCOPES.clear()
    h = Harness(app, peer=peer, factory=with_policy(ProxyPolicy(trusted, enabled)))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    out = h.feed(f"GET /p HTTP/1.1\r\nhost: app.test\r\n{head}\r\n".encode("latin-1"))
    assert out.startswith(b"HTTP/1.1 200 "), out
    h.disconnect()
    (scope,) = SCOPES
    return scope


PEER_SCOPE = {"client": ("127.0.0.1", 50000), "scheme": "http",
              "server": ("127.0.0.1", 8000)}


def facts(scope: dict[str, Any]) -> dict[str, Any]:
    return {key: scope[key] for key in ("client", "scheme", "server")}


def test_x_forwarded_for_proto_host_from_a_trusted_peer() -> None:
    scope = scope_of([("x-forwarded-for", "203.0.113.7"), ("x-forwarded-proto", "https"),
                      ("x-forwarded-host", "example.com")])
    assert facts(scope) == {"client": ("203.0.113.7", 0), "scheme": "https",
                            "server": ("example.com", 443)}
    assert type(scope) is dict  # the per-request copy is a plain dict, not the template


def test_names_like_the_forwarding_fields_are_not_read_as_them() -> None:
    """The fields are told apart by length first, then by their bytes: names of the same
    length, or with the same prefix, are other fields."""
    lookalikes = [("x-forwarded-fox", "203.0.113.7"), ("x-forwarded-prot", "https"),
                  ("x-forwarded-hosts", "example.com"), ("x-forwarded-pork", "8443"),
                  ("x-forwarded-proxy", "https"), ("y-forwarded-for", "203.0.113.7"),
                  ("forwardee", "for=203.0.113.7"), ("x-forwarded-ffor", "203.0.113.7")]
    assert facts(scope_of(lookalikes)) == PEER_SCOPE
    # Uppercase on the wire is lowercased by the protocol, and read.
    scope = scope_of([("X-Forwarded-Port", "8443"), ("X-Forwarded-Host", "example.com")])
    assert facts(scope)["server"] == ("example.com", 8443)


def test_untrusted_peer_and_proxy_headers_off_ignore_everything() -> None:
    spoof = [("x-forwarded-for", "203.0.113.7"), ("x-forwarded-proto", "https"),
             ("forwarded", "for=198.51.100.1;proto=https")]
    assert facts(scope_of(spoof, trusted="10.0.0.1")) == PEER_SCOPE
    assert facts(scope_of(spoof, enabled=False)) == PEER_SCOPE
    untrusted_peer = ("192.0.2.9", 4000)
    scope = scope_of(spoof, peer=untrusted_peer)
    assert scope["client"] == untrusted_peer and scope["scheme"] == "http"


def test_trust_is_decided_once_per_connection() -> None:
    """The policy is read when the connection's template is built, not per request."""
    SCOPES.clear()
    trusted = Harness(app, factory=with_policy(ProxyPolicy("127.0.0.1")))
    untrusted = Harness(app, factory=with_policy(ProxyPolicy("10.0.0.0/8")))
    trusted.state.proxy = None
    untrusted.state.proxy = ProxyPolicy("*")
    request = b"GET / HTTP/1.1\r\nhost: a\r\nx-forwarded-for: 203.0.113.1\r\n\r\n"
    trusted.feed(request)
    untrusted.feed(request)
    assert [s["client"] for s in SCOPES] == [("203.0.113.1", 0), ("127.0.0.1", 50000)]
    for h in (trusted, untrusted):
        h.disconnect()


@pytest.mark.parametrize(("xff", "client"), [
    # right-most address that is not trusted: the trusted hops on the right are skipped
    ("198.51.100.1, 203.0.113.7", ("203.0.113.7", 0)),
    ("198.51.100.1, 203.0.113.7, 10.1.2.3, 127.0.0.1", ("203.0.113.7", 0)),
    # every hop trusted: the left-most is the client
    ("10.0.0.5, 10.0.0.6", ("10.0.0.5", 0)),
    # ports and IPv6 as proxies write them
    ("203.0.113.7:4711", ("203.0.113.7", 4711)),
    ("2001:db8::1", ("2001:db8::1", 0)),
    ("[2001:db8::1]:4711", ("2001:db8::1", 4711)),
    ("[2001:DB8:0::1]", ("2001:db8::1", 0)),
])
def test_x_forwarded_for_right_most_untrusted(xff: str, client: tuple[str, int]) -> None:
    assert scope_of([("x-forwarded-for", xff)], trusted="127.0.0.1,10.0.0.0/8")["client"] == client


def test_star_trusts_everyone_and_takes_the_left_most() -> None:
    scope = scope_of([("x-forwarded-for", "198.51.100.1, 203.0.113.7")], trusted="*",
                     peer=("192.0.2.9", 4000))
    assert scope["client"] == ("198.51.100.1", 0)


def test_several_x_forwarded_for_fields_are_one_list() -> None:
    scope = scope_of([("x-forwarded-for", "198.51.100.1"), ("x-forwarded-for", "203.0.113.7")])
    assert scope["client"] == ("203.0.113.7", 0)


@pytest.mark.parametrize("xff", [
    "garbage", "203.0.113.7, not-an-ip", "", ",", "1.2.3.4:99999", "[::1", "::1]:80",
    "1.2.3.4:80:80", "unknown", "1.2.3.4 5.6.7.8", "[1.2.3.4]:80", "\xe9\xff",
    "300.1.1.1",
])
def test_malformed_x_forwarded_for_is_ignored(xff: str) -> None:
    assert facts(scope_of([("x-forwarded-for", xff)])) == PEER_SCOPE


@pytest.mark.parametrize(("proto", "scheme"), [
    ("https", "https"), ("HTTPS", "https"), ("http", "http"), (" https ", "https"),
    ("wss", "https"), ("ws", "http"),  # a WebSocket scope maps http/https to ws/wss
    ("gopher", "http"), ("", "http"), ("https;", "http"),
])
def test_x_forwarded_proto(proto: str, scheme: str) -> None:
    assert scope_of([("x-forwarded-proto", proto)])["scheme"] == scheme


def test_x_forwarded_proto_per_hop_follows_the_chosen_hop() -> None:
    # client -> CDN (https) -> nginx (http) -> us: the client's hop said https
    scope = scope_of([("x-forwarded-for", "203.0.113.7, 10.0.0.2"),
                      ("x-forwarded-proto", "https, http")], trusted="127.0.0.1,10.0.0.0/8")
    assert scope["client"] == ("203.0.113.7", 0) and scope["scheme"] == "https"
    # a single value stands for every hop
    scope = scope_of([("x-forwarded-for", "203.0.113.7, 10.0.0.2"),
                      ("x-forwarded-proto", "https")], trusted="127.0.0.1,10.0.0.0/8")
    assert scope["scheme"] == "https"


@pytest.mark.parametrize(("headers", "server"), [
    ([("x-forwarded-host", "example.com")], ("example.com", 80)),
    ([("x-forwarded-host", "example.com:8443")], ("example.com", 8443)),
    ([("x-forwarded-host", "example.com"), ("x-forwarded-port", "8443")], ("example.com", 8443)),
    ([("x-forwarded-host", "example.com"), ("x-forwarded-proto", "https")], ("example.com", 443)),
    ([("x-forwarded-host", "[2001:db8::1]:81")], ("2001:db8::1", 81)),
    ([("x-forwarded-port", "9000")], ("127.0.0.1", 9000)),
    # malformed: the server stays the socket's
    ([("x-forwarded-host", "exa mple.com")], ("127.0.0.1", 8000)),
    ([("x-forwarded-host", "example.com:http")], ("127.0.0.1", 8000)),
    ([("x-forwarded-host", "[nope]:80")], ("127.0.0.1", 8000)),
    ([("x-forwarded-host", "example.com"), ("x-forwarded-port", "70000")], ("127.0.0.1", 8000)),
    ([("x-forwarded-port", "-1")], ("127.0.0.1", 8000)),
    ([("x-forwarded-host", "a" * 300)], ("127.0.0.1", 8000)),
])
def test_x_forwarded_host_and_port(headers: list[tuple[str, str]],
                                   server: tuple[str, int]) -> None:
    assert scope_of(headers)["server"] == server


def test_forwarded_rfc7239() -> None:
    scope = scope_of([("forwarded",
                       'for="[2001:db8:cafe::17]:4711";proto=https;host=example.com, '
                       "for=127.0.0.1;proto=http")])
    assert facts(scope) == {"client": ("2001:db8:cafe::17", 4711), "scheme": "https",
                            "server": ("example.com", 443)}


def test_forwarded_case_spaces_and_several_fields() -> None:
    scope = scope_of([("forwarded", "For=198.51.100.1 ; Proto=HTTPS"),
                      ("forwarded", "for=203.0.113.7;proto=https")])
    assert scope["client"] == ("203.0.113.7", 0) and scope["scheme"] == "https"


def test_forwarded_obfuscated_client_keeps_the_peer_but_takes_the_proto() -> None:
    scope = scope_of([("forwarded", "for=_hidden;proto=https")])
    assert scope["client"] == ("127.0.0.1", 50000) and scope["scheme"] == "https"


@pytest.mark.parametrize("value", [
    "for", "for=", 'for="1.2.3.4', "for=1.2.3.4,", "for=1.2.3.4;for=5.6.7.8",
    "=1.2.3.4", "for=1.2.3.4 proto=https", ";;;", "for=1.2.3.4,,for=5.6.7.8",
])
def test_malformed_forwarded_is_ignored(value: str) -> None:
    assert facts(scope_of([("forwarded", value)])) == PEER_SCOPE


def test_x_forwarded_wins_over_forwarded() -> None:
    scope = scope_of([("forwarded", "for=198.51.100.1;proto=https"),
                      ("x-forwarded-for", "203.0.113.7")])
    assert scope["client"] == ("203.0.113.7", 0) and scope["scheme"] == "http"


def test_every_request_of_a_keep_alive_connection_reads_its_own_headers() -> None:
    SCOPES.clear()
    h = Harness(app, factory=with_policy(ProxyPolicy("127.0.0.1")))
    h.feed(b"GET /1 HTTP/1.1\r\nhost: a\r\nx-forwarded-for: 203.0.113.1\r\n\r\n"
           b"GET /2 HTTP/1.1\r\nhost: a\r\n\r\n"
           b"GET /3 HTTP/1.1\r\nhost: a\r\nx-forwarded-proto: https\r\n\r\n")
    h.disconnect()
    assert [facts(s) for s in SCOPES] == [
        {**PEER_SCOPE, "client": ("203.0.113.1", 0)}, PEER_SCOPE,
        {**PEER_SCOPE, "scheme": "https"}]


def test_policy_matching() -> None:
    policy = ProxyPolicy("127.0.0.1, 10.0.0.0/8, ::1, 2001:db8::/32, unix:/run/app.sock")
    assert policy.trusts_host("10.255.0.1") and policy.trusts_host("127.0.0.1")
    assert not policy.trusts_host("11.0.0.1") and not policy.trusts_host("127.0.0.2")
    assert policy.trusts_host("0:0::1") and policy.trusts_host("2001:db8:1::5")
    assert policy.trusts_host("::ffff:10.1.1.1")  # IPv4-mapped, from a dual-stack socket
    assert not policy.trusts_host("not-an-ip") and not policy.trusts_host("")
    assert policy.trusts_peer(None, ("/run/app.sock", None))
    assert not policy.trusts_peer(None, ("/run/other.sock", None))
    assert ProxyPolicy("unix").trusts_peer(None, ("/any", None))
    assert ProxyPolicy("*").trusts_peer(("192.0.2.1", 1), None)
    assert not ProxyPolicy("").trusts_peer(("127.0.0.1", 1), None)


@pytest.mark.parametrize("text", ["localhost", "10.0.0.0/33", "1.2.3", "*x", "10.0.0.1/8/8"])
def test_bad_trusted_entries_are_named(text: str) -> None:
    with pytest.raises(ValueError, match="not an IP"):
        trusted_entries(text)
