"""``tests.apps.handover_app:app``: served, every connection starts with a Preamble.

Imported by the server process only (never by the test process): it points the server's
one factory at tests.apps.handover.preamble_factory, which wraps the real one.
"""

import fastcorn.server
from tests.apps.handover import app, preamble_factory

fastcorn.server.connection_factory = preamble_factory  # type: ignore[assignment]

__all__ = ["app"]
