"""fastcorn: a fast, correct ASGI server.

Public API: :func:`run`, :func:`serve`, :class:`Config`, ``__version__``.
"""

from __future__ import annotations

from typing import Any

try:
    # The compiled fast path: the HTTP/1.1 wire and core, the ASGI cycle and scope builder.
    from fastcorn import _parser  # noqa: F401
    from fastcorn.asgi import cycle, scope  # noqa: F401
    from fastcorn.protocol import h1  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    from fastcorn._unbuilt import explain

    raise explain(exc) from None

from fastcorn.config import Config

__version__ = "0.1.0"
__all__ = ["Config", "run", "serve", "__version__"]


def run(app: Any, **options: Any) -> None:
    """Serve ``app`` (an ASGI app or a 'module:attr' string) until interrupted.

    Raises SystemExit with a non-zero status when the server cannot start or fails.
    With ``workers`` above 1 (or ``reload``, ``max_requests``, ``max_worker_memory``) a
    supervisor runs worker processes; ``app`` must then be a 'module:attribute' string,
    and the calling script needs an ``if __name__ == "__main__":`` guard (the workers
    are spawned).
    """
    from fastcorn.supervisor import run as run_server

    code = run_server(Config(app=app, **options))
    if code:
        raise SystemExit(code)


async def serve(app: Any, config: Config | None = None, **options: Any) -> int:
    """Serve inside an existing asyncio or trio program; returns the exit code."""
    from fastcorn.server import serve as serve_app

    return await serve_app(app, config, **options)
