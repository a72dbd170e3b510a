"""The one factory that picks a connection's first core.

Backends and the harness call :func:`connection_factory` once per listener set and the
factory it returns once per accepted connection; they never name a protocol class. Today
every connection starts as HTTP/1.1. What comes next plugs in here, not into the
backends: the PROXY preamble (a core that reads it, then hands over), ALPN on TLS
listeners (``h2`` or ``http/1.1``), and the HTTP/2 preface sniff on cleartext ones; an
HTTP/1.1 Upgrade is a hand-over from the HTTP/1.1 core (fastcorn.protocol.base.hand_over).
"""

from __future__ import annotations

import functools

from fastcorn.asgi.cycle import ServerState
from fastcorn.protocol.base import CoreFactory
from fastcorn.protocol.h1 import H1Connection


def connection_factory(state: ServerState) -> CoreFactory:
    """The factory of first cores for connections served with ``state``.

    When the first core does not depend on the connection (today: always HTTP/1.1), the
    factory builds it directly, with no Python frame of ours per connection.
    """
    factory: CoreFactory = functools.partial(H1Connection, state)
    return with_proxy_protocol(state, factory)


def with_proxy_protocol(state: ServerState, factory: CoreFactory) -> CoreFactory:
    """``factory`` behind the PROXY protocol reader when --proxy-protocol is on: the
    preamble is read first, ahead of everything else on the connection."""
    policy = state.proxy
    if policy is None or not policy.protocol:
        return factory
    from fastcorn.protocol.proxy import proxy_protocol_factory

    return proxy_protocol_factory(state, factory)
