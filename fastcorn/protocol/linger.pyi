"""Stub of the compiled lingering close (fastcorn/protocol/linger.pyx). Its interface is
C-level, cimported by the HTTP/1.1 and HTTP/2 cores: Python sees only the type."""

from typing import Any

from typing_extensions import disjoint_base

# The C-level functions other extensions cimport (begin_lingering).
__pyx_capi__: dict[str, Any]

@disjoint_base
class Lingering: ...
