"""Stub of the compiled proxy-header policy (fastcorn/asgi/proxy.pyx)."""

import sys
from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from typing_extensions import disjoint_base

def trusted_entries(text: str) -> tuple[str, ...]: ...
@disjoint_base
class ProxyPolicy:
    @property
    def headers(self) -> bool: ...
    @property
    def protocol(self) -> bool: ...
    @property
    def trust_all(self) -> bool: ...
    @property
    def trust_unix(self) -> bool: ...
    @property
    def addresses(self) -> frozenset[str]: ...
    @property
    def networks(self) -> tuple[IPv4Network | IPv6Network, ...]: ...
    @property
    def unix_paths(self) -> frozenset[str]: ...
    def __init__(
        self, trusted: str | Iterable[str] = "127.0.0.1", headers: bool = True,
        protocol: bool = False,
    ) -> None: ...
    def trusts_host(self, host: str) -> bool: ...
    def trusts_peer(
        self, client: tuple[Any, ...] | None, server: tuple[Any, ...] | None
    ) -> bool: ...

@disjoint_base
class ProxiedTemplate(dict[str, Any]):
    @property
    def policy(self) -> ProxyPolicy: ...
    def __init__(self, policy: ProxyPolicy, items: dict[str, Any]) -> None: ...

__pyx_capi__: dict[str, Any]

# A tuple subclass with an instance __dict__: from Python 3.12 the dict is managed
# outside the instance, so the class no longer changes tuple's layout.
if sys.version_info >= (3, 12):
    class ProxiedAddress(tuple[Any, ...]):
        scheme: str | None
        def __new__(cls, address: tuple[Any, ...], scheme: str | None = None) -> ProxiedAddress: ...

else:
    @disjoint_base
    class ProxiedAddress(tuple[Any, ...]):
        scheme: str | None
        def __new__(cls, address: tuple[Any, ...], scheme: str | None = None) -> ProxiedAddress: ...
