"""Fixtures for the HTTP/1.1 protocol tests; the helpers are in h1util.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
from h1util import assert_clean

from fastcorn.testing import Harness


@pytest.fixture
def make() -> Iterable[Callable[..., Harness]]:
    """``make(app, **options)`` -> Harness. At teardown every harness is disconnected and
    checked for leaks: no live connections, no requests counted in flight, and no exception
    escaped a task (the runtime records those instead of raising them)."""
    made: list[Harness] = []

    def factory(app, **options) -> Harness:
        h = Harness(app, **options)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.disconnect()
        assert_clean(h)
