"""Stub of the compiled HTTP/1.1 wire (fastcorn/_parser.pyx).

Its functions are C-level (cdef), called by fastcorn/protocol/h1.pyx through
_parser.pxd; nothing in it is callable from Python.
"""

from typing import Any

# The C functions other compiled modules cimport, exported by Cython as capsules.
__pyx_capi__: dict[str, Any]
