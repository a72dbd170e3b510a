"""Event-loop backends: they move bytes, run tasks and own timers and sockets.

A backend module exposes ``serve(server) -> coroutine runner``; see ``fastcorn.server``.
Loops are only imported when chosen, so a missing optional package costs nothing until
it is asked for, and then it is reported in one line naming the extra to install.
"""

from __future__ import annotations

import importlib.util

# loop name -> (package that must be importable, the fastcorn extra that installs it)
LOOPS: dict[str, tuple[str | None, str | None]] = {
    "asyncio": (None, None),
    "uvloop": ("uvloop", "uvloop"),
    "trio": ("trio", "trio"),
}


class BackendUnavailable(RuntimeError):
    """The chosen loop's package is not installed; the message names the extra."""


def resolve_loop(name: str) -> str:
    """Map 'auto' to a concrete loop and check that the loop's package is installed."""
    if name == "auto":
        return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    if name not in LOOPS:
        raise BackendUnavailable(f"--loop: unknown loop {name!r} (choose from auto, "
                                 + ", ".join(LOOPS) + ")")
    package, extra = LOOPS[name]
    if package is not None and importlib.util.find_spec(package) is None:
        raise BackendUnavailable(
            f"--loop {name} needs the '{extra}' extra: pip install 'fastcorn[{extra}]'")
    return name
