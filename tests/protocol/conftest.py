"""Fixtures for the protocol tests; the helpers are in h1util.py (HTTP/1.1) and h2util.py
(HTTP/2: an h2 client joined to the core in memory)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from h1util import assert_clean
from h2util import Peer, release_gates

from fastcorn.testing import Harness


@pytest.fixture
def make() -> Iterable[Callable[..., Harness]]:
    """``make(app, **options)`` -> Harness. At teardown every harness is disconnected and
    checked for leaks: no live connections, no requests counted in flight, and no exception
    escaped a task (the runtime records those instead of raising them)."""
    made: list[Harness] = []

    def factory(app: Any, **options: Any) -> Harness:
        h = Harness(app, **options)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.disconnect()
        assert_clean(h)


@pytest.fixture
def peer() -> Iterator[Callable[..., Peer]]:
    """``peer(app, **options)`` -> an h2 client joined to an HTTP/2 core. At teardown each
    connection is dropped and checked for leaks (no connection registered, no request
    counted, no escaped task error)."""
    made: list[Peer] = []

    def factory(app: Any, **options: Any) -> Peer:
        p = Peer(app, **options)
        made.append(p)
        return p

    yield factory
    for p in made:
        p.h.disconnect()
    release_gates()
    for p in made:
        assert p.h.state.connections == set()
        assert p.h.state.active_requests == 0
        assert p.h.runtime.errors == []
