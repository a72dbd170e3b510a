"""Stub of the compiled HTTP/2 header checks (fastcorn/protocol/h2headers.pyx)."""

from collections.abc import Iterable, Sequence
from typing import Any

from h2.exceptions import ProtocolError

_Field = Sequence[bytes]  # a (name, value) pair: tuple, HeaderTuple, NeverIndexedHeaderTuple

# The C functions other compiled modules cimport, exported by Cython as capsules.
__pyx_capi__: dict[str, Any]

class HeaderError(ProtocolError): ...

def check_request_headers(
    headers: Iterable[_Field], allow_connect_protocol: bool = False
) -> tuple[
    bytes, bytes | None, bytes | None, bytes | None, bytes | None, list[tuple[bytes, bytes]]
]: ...
def check_trailers(headers: Iterable[_Field]) -> list[tuple[bytes, bytes]]: ...
def check_response_headers(status: int, headers: Iterable[_Field]) -> list[tuple[bytes, bytes]]: ...
def check_response_trailers(headers: Iterable[_Field]) -> list[tuple[bytes, bytes]]: ...
def check_push_request_headers(
    method: bytes, scheme: bytes, authority: bytes, path: bytes, headers: Iterable[_Field]
) -> list[tuple[bytes, bytes]]: ...
