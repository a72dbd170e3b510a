"""Stub of the compiled ASGI HTTP cycle (fastcorn/asgi/cycle.pyx)."""

from collections.abc import Awaitable, Generator
from logging import Logger
from typing import Any, final

from typing_extensions import disjoint_base

from fastcorn.asgi.types import Runtime, Waiter

class ClientDisconnected(OSError): ...

class Done:
    def __await__(self) -> Generator[Any]: ...
    def __iter__(self) -> Generator[Any]: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any) -> Any: ...
    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any: ...
    def close(self) -> None: ...

@final
class Receiving:
    def __await__(self) -> Receiving: ...
    def __iter__(self) -> Receiving: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any) -> Any: ...
    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any: ...
    def close(self) -> None: ...

@disjoint_base
class RequestObserver:
    def observe(self, cycle: HTTPCycle) -> None: ...

@disjoint_base
class ServerState:
    app: Any
    runtime: Runtime
    root_path: str
    asgi: dict[str, str]
    lifespan_state: dict[str, Any]
    default_headers: list[tuple[bytes, bytes]]
    access_log: bool
    log_access: Any
    log_request: Any
    observer: RequestObserver | None
    error_logger: Logger | None
    timeout_keep_alive: float
    timeout_request_head: float
    timeout_request_body: float
    timeout_write: float
    log_rejected: Any
    log_connection: Any
    limit_request_head: int
    limit_concurrency: int
    active_requests: int
    running_apps: int
    total_requests: int
    connections: set[Any]
    shutting_down: bool
    drain_waiter: Waiter | None
    proxy: Any  # fastcorn.asgi.proxy.ProxyPolicy | None
    now: float
    def __init__(
        self,
        app: Any,
        runtime: Runtime,
        *,
        root_path: str = "",
        access_log: bool = False,
        log_access: Any = None,
        error_logger: Logger | None = None,
        timeout_keep_alive: float = 65.0,
        timeout_request_head: float = 10.0,
        limit_request_head: int = 65536,
        limit_concurrency: int | None = None,
        lifespan_state: dict[str, Any] | None = None,
        default_headers: list[tuple[bytes, bytes]] | None = None,
        asgi_version: str = "3.0",
        timeout_request_body: float = 60.0,
        timeout_write: float = 60.0,
        log_rejected: Any = None,
        log_connection: Any = None,
    ) -> None: ...
    def check_timeouts(self, now: float) -> None: ...
    def flush_heads(self) -> None: ...
    def connection_closed(self, core: Any) -> None: ...

@disjoint_base
class Stream:
    writing_paused: bool
    closed: bool
    def send_head(
        self, cycle: HTTPCycle, status: int, headers: list[Any], body: bytes, more_body: bool
    ) -> None: ...
    def send_body(self, cycle: HTTPCycle, body: bytes, more_body: bool) -> None: ...
    def send_error(self, cycle: HTTPCycle, status: int, body: bytes) -> None: ...
    def send_informational(
        self, cycle: HTTPCycle, status: int, headers: list[tuple[bytes, bytes]]
    ) -> None: ...
    def send_trailers(self, cycle: HTTPCycle, headers: list[tuple[bytes, bytes]]) -> None: ...
    def push(self, cycle: HTTPCycle, path: str, headers: list[tuple[bytes, bytes]]) -> None: ...
    def send_file(
        self, cycle: HTTPCycle, fd: int, offset: int, count: int, more_body: bool
    ) -> Awaitable[Any] | None: ...
    def want_body(self, cycle: HTTPCycle) -> None: ...
    def cycle_done(self, cycle: HTTPCycle) -> None: ...

@disjoint_base
class HTTPCycle:
    scope: dict[str, Any]
    stream: Stream
    body_buffered: int
    body_complete: bool
    status: int
    response_started: bool
    response_complete: bool
    trailers: bool
    response_bytes: int
    request_bytes: int
    response_headers: Any
    disconnected: bool
    task: Any
    start_time: float
    target: bytes | None
    def __init__(self, state: ServerState, stream: Stream, scope: dict[str, Any]) -> None: ...
    def feed_body(self, chunk: bytes) -> None: ...
    def end_body(self) -> None: ...
    def disconnect(self) -> None: ...
    def end_input(self) -> None: ...
    def wake_writer(self) -> None: ...
    def receive(self) -> Awaitable[dict[str, Any]]: ...
    def send(self, message: dict[str, Any]) -> Awaitable[None]: ...
    async def run(self) -> None: ...
