"""Why ``import fastcorn`` failed when its compiled modules do not import, in one line.

Kept apart from ``fastcorn/__init__.py``, which imports it only on that failure.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys


def compiled_modules(package: str) -> dict[str, bool]:
    """The compiled modules of the package in the folder ``package``, each with whether it is
    built there for this interpreter, by relative dotted name (``asgi.cycle``).

    Found, at any depth, from the ``.pyx`` sources (a checkout) and from the extension files
    built for any interpreter (an install without sources), so no list needs an edit when a
    compiled module is added.
    """
    suffixes = set(importlib.machinery.EXTENSION_SUFFIXES)
    found: dict[str, bool] = {}
    for folder, dirs, files in os.walk(package):
        dirs[:] = [d for d in dirs if d.isidentifier() and d != "__pycache__"]
        prefix = os.path.relpath(folder, package).replace(os.sep, ".")
        prefix = "" if prefix == "." else prefix + "."
        for file in files:
            stem, dot, rest = file.partition(".")
            if not dot or not stem.isidentifier():
                continue
            if rest == "pyx" or rest.endswith(("so", "pyd")):
                built = file[len(stem) :] in suffixes  # the names the import system tries
                found[prefix + stem] = found.get(prefix + stem, False) or built
    return found


def explain(exc: ImportError) -> ImportError | SystemExit:
    """What to raise when the compiled modules do not import: one line that says what to do.

    The common case is a source checkout without a build that shadows an installed
    fastcorn: ``python -m fastcorn`` (and ``python -c``) put the current directory first
    on sys.path, so run from a checkout they import its ``fastcorn/``, not the installed one.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    modules = compiled_modules(here)
    unbuilt = sorted(name for name, built in modules.items() if not built)
    if modules and not unbuilt:  # all there but one does not load: the loader's error says why
        return exc
    if len(unbuilt) < len(modules):  # built once, and a compiled module was added since
        return _report(
            f"fastcorn: {here} was built before {', '.join(unbuilt)} existed, so not every "
            "compiled module is there: rebuild it in place with "
            "`pip install -e .` or `python setup.py build_ext --inplace`"
        )
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
    return _report(message)


def _report(message: str) -> ImportError | SystemExit:
    if sys.argv[:1] == ["-m"]:  # `python -m fastcorn` is still importing: say it, no traceback
        print(message, file=sys.stderr)
        return SystemExit(1)
    return ImportError(message)
