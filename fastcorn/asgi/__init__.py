"""The ASGI layer: ASGI semantics written once for every protocol and backend.

- :mod:`fastcorn.asgi.cycle` (compiled): the HTTP request/response cycle, the ``Stream``
  interface each protocol implements for it, and ``ServerState``;
- :mod:`fastcorn.asgi.scope` (compiled): the protocol-neutral scope builder;
- :mod:`fastcorn.asgi.websocket` (compiled): the ASGI WebSocket cycle and the
  ``WebSocketStream`` interface each WebSocket-carrying protocol implements for it;
- :mod:`fastcorn.asgi.lifespan`: the lifespan protocol;
- :mod:`fastcorn.asgi.types`: the ``Runtime`` interface every backend implements.

The bottom layer: it imports neither fastcorn.protocol nor fastcorn.backends nor the
server (tests/test_architecture.py checks it).
"""

from fastcorn.asgi.cycle import ClientDisconnected, HTTPCycle, ServerState, Stream
from fastcorn.asgi.lifespan import Lifespan, LifespanFailure
from fastcorn.asgi.types import Runtime, Waiter

__all__ = [
    "ClientDisconnected",
    "HTTPCycle",
    "Lifespan",
    "LifespanFailure",
    "Runtime",
    "ServerState",
    "Stream",
    "Waiter",
]
