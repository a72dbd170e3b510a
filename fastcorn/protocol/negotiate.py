"""The one factory that picks a connection's first core.

Backends and the harness call :func:`connection_factory` once per listener set and the
factory it returns once per accepted connection; they never name a protocol class.

- Cleartext listeners start every connection as HTTP/1.1. That core hands the connection
  over (fastcorn.protocol.base.hand_over) when it sees the HTTP/2 preface as the first
  bytes (``prior_knowledge``), or once it has read an ``Upgrade`` request a registered
  handler accepts (``upgrades``: ``h2c``, ``websocket``).
- TLS listeners, when HTTP/2 is on, start with :class:`ALPNChoice`: after the handshake
  the protocol the client chose by ALPN picks the core (``h2``, else HTTP/1.1).
- The PROXY preamble (--proxy-protocol) wraps the factory below as a core that reads the
  preamble and then hands over to the core this factory would have made
  (fastcorn.protocol.proxy). On TLS listeners the preamble precedes the handshake, so the
  backend reads it off the raw socket, through the gate this factory then is
  (fastcorn.protocol.base.preamble_gate).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fastcorn.asgi.cycle import ServerState
from fastcorn.protocol.base import (
    Core,
    CoreFactory,
    HandsOverAtOnce,
    Transport,
    UpgradeHandler,
    hand_over,
)
from fastcorn.protocol.h1 import H1Connection

if TYPE_CHECKING:
    from fastcorn.config import Config

#: ALPN protocol names, most preferred first (RFC 7301; "h2" is RFC 9113 3.2).
ALPN_HTTP2 = "h2"
ALPN_HTTP11 = "http/1.1"


def http2_enabled(config: Config | None) -> bool:
    return config is not None and config.http2.enabled


def websocket_enabled(config: Config | None) -> bool:
    return config is not None and config.ws.protocol != "none"


def alpn_protocols(config: Config | None) -> tuple[str, ...]:
    """What TLS listeners offer in ALPN, most preferred first."""
    return (ALPN_HTTP2, ALPN_HTTP11) if http2_enabled(config) else (ALPN_HTTP11,)


def upgrade_handlers(
    state: ServerState, config: Config | None, tls: bool
) -> dict[bytes, UpgradeHandler]:
    """The HTTP/1.1 Upgrade targets that are on (imported only when they are). h2c is for
    cleartext only (RFC 7540 3.2): on TLS, HTTP/2 is chosen by ALPN."""
    handlers: dict[bytes, UpgradeHandler] = {}
    if config is None:
        return handlers
    if http2_enabled(config) and not tls:
        from fastcorn.protocol.h2 import h2c_upgrade

        handlers[b"h2c"] = h2c_upgrade(state, config)
    if websocket_enabled(config):
        from fastcorn.protocol.websocket import websocket_upgrade

        handlers[b"websocket"] = websocket_upgrade(state, config)
    return handlers


class ALPNChoice(HandsOverAtOnce):
    """A TLS connection's first core: hands the connection, once the handshake is done,
    to the core of the protocol negotiated by ALPN. Every backend calls connection_made
    only after the handshake, so the choice is known by then; nothing else reaches it."""

    __slots__ = ("http11", "http2")

    def __init__(self, http11: CoreFactory, http2: CoreFactory) -> None:
        self.http11 = http11
        self.http2 = http2

    def connection_made(self, transport: Transport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        hand_over(transport, self.http2() if chosen == ALPN_HTTP2 else self.http11())


def connection_factory(
    state: ServerState, config: Config | None = None, tls: bool = False
) -> CoreFactory:
    """The factory of first cores for connections served with ``state``.

    ``config`` says which protocols are on (None: HTTP/1.1 only, as the test harness
    uses it); ``tls`` whether the listeners it serves speak TLS. When the first core does
    not depend on the connection, the factory builds it directly, with no Python frame of
    ours per connection.
    """
    upgrades: Mapping[bytes, UpgradeHandler] | None = upgrade_handlers(state, config, tls) or None
    http2 = http2_enabled(config)
    prior_knowledge: Callable[[], Core] | None = None
    if http2:
        from fastcorn.protocol.h2 import H2Connection

        make_http2: CoreFactory = functools.partial(H2Connection, state, config)
        if not tls:
            prior_knowledge = make_http2
    http11: Any = functools.partial(H1Connection, state, upgrades, prior_knowledge)
    if tls and http2:
        return with_proxy_protocol(state, functools.partial(ALPNChoice, http11, make_http2),
                                   tls)
    return with_proxy_protocol(state, http11, tls)


def with_proxy_protocol(state: ServerState, factory: CoreFactory,
                        tls: bool = False) -> CoreFactory:
    """``factory`` behind the PROXY protocol when --proxy-protocol is on: the preamble is
    read first, ahead of everything else on the connection (on TLS listeners, ahead of the
    handshake, by the backend through a TLSPreambleGate)."""
    policy = state.proxy
    if policy is None or not policy.protocol:
        return factory
    from fastcorn.protocol.proxy import TLSPreambleGate, proxy_protocol_factory

    if tls:
        return TLSPreambleGate(state, factory)
    return proxy_protocol_factory(state, factory)
