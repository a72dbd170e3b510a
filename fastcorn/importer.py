"""Find the ASGI app: "pkg.mod:attr" import paths, app factories, ASGI 2 / ASGI 3 detection."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGI3App = Callable[[Scope, Receive, Send], Awaitable[None]]


class AppImportError(Exception):
    """The app could not be found; the message is one line meant for the user."""


def import_from_string(path: str, app_dir: str = ".") -> Any:
    """Import ``"pkg.mod:attr"`` (``attr`` may be dotted: ``"mod:obj.app"``) and return the object.

    ``app_dir`` is put first on ``sys.path``. A module that does not exist, an attribute that
    does not exist, or a malformed path raise :class:`AppImportError`. Errors raised *inside*
    the app's module, including a missing dependency it imports, propagate unchanged so the
    user sees the real traceback.
    """
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr or module_name.startswith("."):
        raise AppImportError(f"app path must be 'module:attribute', got {path!r}")

    directory = os.path.abspath(app_dir)
    if not sys.path or sys.path[0] != directory:
        sys.path.insert(0, directory)

    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the module named in the path (or one of its parent packages) being absent is
        # the user's typo; any other missing module is a dependency failing inside their code.
        if exc.name is None or not (module_name + ".").startswith(exc.name + "."):
            raise
        raise AppImportError(f"cannot import module {module_name!r}") from None

    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppImportError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def _positional_params(func: Any) -> int | None:
    """Number of positional parameters ``func`` takes; None if unknown or unbounded (*args)."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    count = 0
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if param.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            count += 1
    return count


def is_asgi2(app: Any) -> bool:
    """True for an ASGI 2 (double-callable) app, False for ASGI 3 (the default when unsure)."""
    if inspect.isclass(app):
        # App(scope) -> instance, awaited as instance(receive, send); unless instances are
        # themselves awaitable, in which case App(scope, receive, send) is an ASGI 3 call.
        return not hasattr(app, "__await__")
    if inspect.iscoroutinefunction(app):
        return False
    # An instance with ``async def __call__`` (looked up on the type, as the call itself does).
    call = getattr(type(app), "__call__", None)  # noqa: B004 - not a callable() test
    if call is not None and inspect.iscoroutinefunction(call):
        return False
    return _positional_params(app) == 1


def asgi3(app: Any) -> ASGI3App:
    """Return ``app`` as an ASGI 3 callable, wrapping an ASGI 2 app once, at startup."""
    if not is_asgi2(app):
        return app  # type: ignore[no-any-return]

    async def asgi2_adapter(scope: Scope, receive: Receive, send: Send) -> None:
        instance = app(scope)
        await instance(receive, send)

    # Deliberately not functools.wraps: __wrapped__ would make a second asgi3() see the
    # one-parameter ASGI 2 signature and wrap again.
    asgi2_adapter.__qualname__ = f"asgi2_adapter({getattr(app, '__qualname__', repr(app))})"
    # The server reports this in scope["asgi"]["version"], as the spec asks.
    asgi2_adapter.asgi_version = "2.0"  # type: ignore[attr-defined]
    return asgi2_adapter


def load_app(path_or_app: Any, app_dir: str = ".", factory: bool = False) -> ASGI3App:
    """Import (if a string), call the factory (if ``factory``), and return an ASGI 3 app.

    Raises :class:`AppImportError` with a one-line message for anything the user can fix by
    changing the command line; exceptions raised by the app's own code propagate.
    """
    name = path_or_app if isinstance(path_or_app, str) else repr(path_or_app)
    app = import_from_string(path_or_app, app_dir) if isinstance(path_or_app, str) else path_or_app
    if factory:
        if not callable(app):
            raise AppImportError(f"--factory: app factory {name!r} is not callable")
        app = app()
    if not callable(app):
        raise AppImportError(f"app {name!r} is not callable (got {type(app).__name__})")
    if not factory and not inspect.isclass(app) and _positional_params(app) == 0:
        raise AppImportError(
            f"app {name!r} takes no arguments; if it is an app factory, pass --factory"
        )
    return asgi3(app)
