"""Event-loop backends: they move bytes, run tasks and own timers and sockets.

:data:`LOOPS` is the one registry of loops: the ``--loop`` choices, the package each needs
and the extra that installs it, the module that serves on it, and how to tell that it is
the loop running the current task (for :func:`fastcorn.serve`). A backend module exposes
``run(server, name) -> int`` and an awaitable ``serve``; see ``fastcorn.server``.

Loops are only imported when chosen, so a missing optional package costs nothing until
it is asked for, and then it is reported in one line naming the extra to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any


def _asyncio_loop_module() -> str | None:
    """The module of the asyncio loop running in this thread, or None."""
    if "asyncio" not in sys.modules:
        return None
    import asyncio

    try:
        return type(asyncio.get_running_loop()).__module__
    except RuntimeError:
        return None


def _asyncio_running() -> bool:
    module = _asyncio_loop_module()
    return module is not None and not module.startswith("uvloop")


def _uvloop_running() -> bool:
    module = _asyncio_loop_module()
    return module is not None and module.startswith("uvloop")


def _trio_running() -> bool:
    if "trio" not in sys.modules:
        return False
    import trio

    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


@dataclass(frozen=True)
class Backend:
    """One loop: where its backend lives and what it needs."""

    module: str  # the backend module, imported only when this loop is chosen
    package: str | None  # the package that must be importable (None: the stdlib's)
    extra: str | None  # the fastcorn extra that installs it
    running: Callable[[], bool]  # whether this loop runs the current task


LOOPS: dict[str, Backend] = {
    "asyncio": Backend("fastcorn.backends.asyncio", None, None, _asyncio_running),
    "uvloop": Backend("fastcorn.backends.asyncio", "uvloop", "uvloop", _uvloop_running),
    "trio": Backend("fastcorn.backends.trio", "trio", "trio", _trio_running),
}

# The --loop choices: every registered loop, and "auto".
LOOP_CHOICES: tuple[str, ...] = ("auto", *LOOPS)


class BackendUnavailable(RuntimeError):
    """The chosen loop's package is not installed; the message names the extra."""


def resolve_loop(name: str) -> str:
    """Map 'auto' to a concrete loop and check that the loop's package is installed."""
    if name == "auto":
        return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    if name not in LOOPS:
        raise BackendUnavailable(f"--loop: unknown loop {name!r} (choose from auto, "
                                 + ", ".join(LOOPS) + ")")
    backend = LOOPS[name]
    if backend.package is not None and importlib.util.find_spec(backend.package) is None:
        raise BackendUnavailable(
            f"--loop {name} needs the '{backend.extra}' extra: "
            f"pip install 'fastcorn[{backend.extra}]'")
    return name


def load_backend(name: str) -> ModuleType:
    """The backend module of a concrete loop name (resolve 'auto' first); imports it now."""
    return importlib.import_module(LOOPS[resolve_loop(name)].module)


def run(server: Any, name: str) -> int:
    """Run ``server`` on a new loop of the concrete loop ``name``; returns the exit code."""
    return int(load_backend(name).run(server, name))


def running_loop() -> str:
    """The registered loop running the current task; RuntimeError if there is none.

    Checked from the last entry back: trio before the asyncio loops (an asyncio loop can
    run on top of trio), uvloop before asyncio.
    """
    for name in reversed(LOOPS):
        if LOOPS[name].running():
            return name
    raise RuntimeError("no running event loop (asyncio, uvloop or trio)")


async def serve(server: Any) -> int:
    """Serve ``server`` on the loop running the current task; returns the exit code."""
    name = running_loop()
    # Every backend module's serve(server, name): one module may serve several loops.
    return int(await load_backend(name).serve(server, name))
