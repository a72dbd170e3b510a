"""Why ``import fastcorn`` failed when its compiled modules do not import, in one line.

Kept apart from ``fastcorn/__init__.py``, which imports it only on that failure.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys


def explain(exc: ImportError) -> ImportError | SystemExit:
    """What to raise when the compiled modules do not import: one line that says what to do.

    The common case is a source checkout without a build that shadows an installed
    fastcorn: ``python -m fastcorn`` (and ``python -c``) put the current directory first
    on sys.path, so run from a checkout they import its ``fastcorn/``, not the installed one.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    built = [
        name + suffix
        for name in ("_asgi", "_parser")
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        if os.path.exists(os.path.join(here, name + suffix))
    ]
    if built:  # the files are there but do not load: the loader's own error says why
        return exc
    parent = os.path.dirname(os.path.realpath(here))
    elsewhere = [p for p in sys.path if os.path.realpath(p or os.curdir) != parent]
    spec = importlib.machinery.PathFinder.find_spec("fastcorn", elsewhere)
    installed = os.path.dirname(spec.origin) if spec and spec.origin else None
    if installed:
        message = (
            f"fastcorn: {here} is a source checkout with no compiled extension, and it hides "
            f"the installed fastcorn ({installed}) because Python puts the current directory "
            "first on sys.path; run the `fastcorn` command or run from another directory, or "
            "build the checkout in place with `pip install -e .`"
        )
    else:
        message = (
            f"fastcorn's compiled extension is missing in {here}: install fastcorn with "
            "`pip install .`, or build a checkout in place with `pip install -e .` (both need "
            "a C compiler; there is no pure-Python fallback)"
        )
    if sys.argv[:1] == ["-m"]:  # `python -m fastcorn` is still importing: say it, no traceback
        print(message, file=sys.stderr)
        return SystemExit(1)
    return ImportError(message)
