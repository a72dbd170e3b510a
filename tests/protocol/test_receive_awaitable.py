"""What receive() returns (fastcorn.asgi.cycle.Receiving): not a coroutine object, but
whatever an app does with a coroutine works the same, on asyncio and on trio. In
particular it takes its message only when awaited, as ``async def receive()`` did: a
receive() never awaited, or a task of it cancelled before it ran, loses no message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import trio
import trio.testing

from fastcorn.asgi.cycle import HTTPCycle, ServerState, Stream
from fastcorn.backends.trio import TrioWaiter
from fastcorn.testing import ManualRuntime

MESSAGE = {"type": "http.request", "body": b"abc", "more_body": False}


class WaiterRuntime:
    """The two things a cycle's receive() asks of its runtime."""

    def __init__(self, create_waiter: Callable[[], Any]) -> None:
        self.create_waiter = create_waiter
        self.call_soon = lambda fn: fn()


def new_cycle(runtime: Any = None) -> HTTPCycle:
    return HTTPCycle(ServerState(None, runtime or ManualRuntime()), Stream(), {})


def buffered_cycle() -> HTTPCycle:
    cycle = new_cycle()
    cycle.feed_body(b"ab")
    cycle.feed_body(b"c")
    cycle.end_body()
    return cycle


def test_awaited_on_asyncio() -> None:
    async def main() -> Any:
        return await buffered_cycle().receive()

    first = asyncio.run(main())
    assert first == MESSAGE
    assert list(first) == ["type", "body", "more_body"]


@pytest.mark.parametrize("wrap", ["create_task", "ensure_future", "wait_for", "gather"])
def test_given_to_asyncio_as_a_coroutine(wrap: str) -> None:
    async def main() -> Any:
        receiving = buffered_cycle().receive()
        assert isinstance(receiving, Coroutine)
        assert asyncio.iscoroutine(receiving)
        if wrap == "create_task":
            return await asyncio.create_task(receiving)
        if wrap == "ensure_future":
            return await asyncio.ensure_future(receiving)
        if wrap == "gather":
            return (await asyncio.gather(receiving))[0]
        return await asyncio.wait_for(receiving, 5)

    assert asyncio.run(main()) == MESSAGE


def test_awaited_on_trio_and_started_as_a_trio_task() -> None:
    async def main() -> list[Any]:
        got = [await buffered_cycle().receive()]

        async def child() -> None:
            got.append(await buffered_cycle().receive())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(child)
        return got

    assert trio.run(main) == [MESSAGE, MESSAGE]


def test_the_message_is_taken_when_awaited_not_when_called() -> None:
    cycle = buffered_cycle()
    forgotten: Any = cycle.receive()
    forgotten.close()  # (a coroutine never awaited: Python closes it)

    async def main() -> Any:
        return await cycle.receive()

    assert asyncio.run(main()) == MESSAGE


def test_a_task_cancelled_before_it_ran_loses_no_message() -> None:
    cycle = buffered_cycle()

    async def main() -> Any:
        task = asyncio.ensure_future(cycle.receive())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await cycle.receive()

    assert asyncio.run(main()) == MESSAGE


def test_awaited_twice_is_an_error_as_a_coroutine() -> None:
    async def main() -> None:
        receiving = buffered_cycle().receive()
        assert await receiving == MESSAGE
        with pytest.raises(RuntimeError, match="cannot reuse"):
            await receiving

    asyncio.run(main())


def test_driven_by_hand() -> None:
    receiving: Any = buffered_cycle().receive()
    with pytest.raises(StopIteration) as stop:
        receiving.send(None)
    assert stop.value.value == MESSAGE
    with pytest.raises(RuntimeError, match="cannot reuse"):
        next(iter(receiving.__await__()))
    fresh: Any = buffered_cycle().receive()
    with pytest.raises(TypeError, match="non-None"):
        fresh.send(1)
    with pytest.raises(KeyError):
        fresh.throw(KeyError("x"))
    with pytest.raises(RuntimeError, match="cannot reuse"):
        fresh.send(None)  # thrown into before it started: over, as a coroutine


def test_waits_for_its_message_on_asyncio() -> None:
    async def main() -> list[Any]:
        cycle = new_cycle(WaiterRuntime(asyncio.get_running_loop().create_future))
        task = asyncio.ensure_future(cycle.receive())
        await asyncio.sleep(0)
        assert not task.done()
        cycle.feed_body(b"abc")  # more to come: the first message, with more_body
        first = await task
        waiting = asyncio.ensure_future(cycle.receive())
        await asyncio.sleep(0)
        cycle.end_body()
        return [first, await waiting]

    assert asyncio.run(main()) == [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": False},
    ]


def test_waits_for_its_message_on_trio() -> None:
    async def main() -> Any:
        cycle = new_cycle(WaiterRuntime(TrioWaiter))
        got: list[Any] = []

        async def app() -> None:
            got.append(await cycle.receive())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(app)
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            cycle.feed_body(b"ab")
            cycle.feed_body(b"c")
            cycle.end_body()
        return got[0]

    assert trio.run(main) == MESSAGE


def test_a_cancelled_wait_clears_its_waiter_and_loses_no_message() -> None:
    async def main() -> Any:
        cycle = new_cycle(WaiterRuntime(asyncio.get_running_loop().create_future))
        task = asyncio.ensure_future(cycle.receive())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        cycle.feed_body(b"abc")
        cycle.end_body()
        return await cycle.receive()

    assert asyncio.run(main()) == MESSAGE
