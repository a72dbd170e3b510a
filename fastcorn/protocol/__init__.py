"""Protocol cores: fed bytes, answering through a transport, never awaiting.

- :mod:`fastcorn.protocol.base`: the one connection interface (``Core``, ``Transport``)
  and the hand-over of a live connection from one core to another;
- :mod:`fastcorn.protocol.negotiate`: the factory that picks a connection's first core;
- :mod:`fastcorn.protocol.h1`: HTTP/1.1 (compiled, on httptools; its wire in C is
  :mod:`fastcorn._parser`);
- :mod:`fastcorn.protocol.websocket`: WebSocket after an HTTP/1.1 Upgrade, on wsproto, with
  :mod:`fastcorn.protocol.wscodec` (size limits, bounded permessage-deflate) and the
  compiled data-frame lane :mod:`fastcorn.protocol.wsframe`.

Imports one way: backends → protocol → asgi. Nothing here imports a backend, the server,
asyncio or trio (tests/test_architecture.py checks it).
"""

from fastcorn.protocol.base import Core, CoreFactory, Transport, hand_over
from fastcorn.protocol.h1 import H1Connection
from fastcorn.protocol.negotiate import connection_factory

__all__ = ["Core", "CoreFactory", "H1Connection", "Transport", "connection_factory", "hand_over"]
