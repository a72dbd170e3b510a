"""Stub of the compiled ASGI scope builder (fastcorn/asgi/scope.pyx).

Its functions are C-level (cdef), called by the protocol cores through scope.pxd;
nothing in it is callable from Python.
"""

from typing import Any

# The C functions other compiled modules cimport, exported by Cython as capsules.
__pyx_capi__: dict[str, Any]
