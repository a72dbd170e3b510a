"""Stub of the WebSocket data-frame lane (fastcorn/protocol/wsframe.pyx)."""

from typing import Any

END: int
PARTIAL: int
OTHER: int
BAD_UTF8: int

def read_frames(data: bytes, limit: int) -> tuple[list[dict[str, Any]], int, int, int]: ...
def write_frame(data: str | bytes) -> bytes: ...
def read_raw_frames(data: bytes, limit: int) -> tuple[list[tuple[int, bool, bytes]], int, int]: ...
def write_raw_frame(first: int, payload: bytes) -> bytes: ...

# The C functions other compiled modules may cimport, exported by Cython as capsules.
__pyx_capi__: dict[str, Any]
