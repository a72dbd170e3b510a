"""A trio connection's app runner: one task that runs its requests' apps one after another.

HTTP/1.1 answers one request at a time per connection, yet spawning a trio task per
request (``nursery.start_soon``: the coroutine check, a Task, a context copy, the nursery's
bookkeeping, then the task's exit) cost about 30,000 instructions of a ``hello`` request's
137,000 in the real server under callgrind. :class:`AppRunner` keeps one task per
connection instead: started with the connection's first app, it waits between apps in
``wait_task_rescheduled``, and the next app is handed to it with ``reschedule``.

What an app sees does not change:

* its own context: ``spawn`` gives the runner's task a fresh copy of the caller's context
  (the core calls it inside the connection's starting context) before waking it, so
  nothing one app sets is seen by the next. trio runs each step of a task inside
  ``task.context``, read afresh at every step, so the app's steps run in the new copy.
* a task of its own for ``trio.lowlevel.current_task()``: the runner's.
* cancellation: the runner lives in the connections nursery as a spawned app does, so
  the shutdown deadline (``abort_all``) cancels an app it runs; trio.Cancelled ends the
  runner (HTTPCycle.run lets it through). An idle runner is cancelled out of its wait.
* no app waits for another: when the runner is still busy as the next app must start
  (an app working on after its response completed, a pipelined request started from
  inside the previous app's send), that app gets a task of its own, as before.
"""

from __future__ import annotations

from collections.abc import Coroutine
from contextvars import Context, copy_context
from typing import Any

import trio
from outcome import Value

# The runner's context while it waits: the last app's copy is let go, as the end of its
# task would. Nothing runs in it but the runner's own code, which reads no context variable.
IDLE_CONTEXT = Context()


async def run_app(coro: Coroutine[Any, Any, Any]) -> None:
    await coro  # trio starts async functions; the core hands over a coroutine


APP_TASK_NAME = f"{run_app.__module__}.{run_app.__qualname__}"  # the name trio gives it


class AppRunner:
    """The apps of one connection, run in turn by one task (see the module docstring).

    ``spawn`` is the connection's spawn_eager (fastcorn.asgi.types.Runtime.spawner);
    ``close`` is called once the connection has ended."""

    __slots__ = ("nursery", "task", "started", "idle", "closed")

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.task: trio.lowlevel.Task | None = None  # the runner's, once it has started
        self.started = False  # the runner's task was spawned (it may not have run yet)
        self.idle = False  # waiting in wait_task_rescheduled for the next app
        self.closed = False  # the connection ended: the runner takes no more apps

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = self.task
        if self.idle and task is not None:
            self.idle = False
            # A fresh copy of the caller's context for this app's steps (see above).
            task.context = copy_context()
            trio.lowlevel.reschedule(task, Value(coro))
        elif not self.started and not self.closed:
            self.started = True
            # start_soon copies the caller's context for the first app, as for any task.
            self.nursery.start_soon(self._run, coro, name=RUNNER_TASK_NAME)
        else:
            # Busy (or gone): this app must not wait for the one still running.
            self.nursery.start_soon(run_app, coro, name=APP_TASK_NAME)

    def close(self) -> None:
        self.closed = True
        if self.idle and self.task is not None:
            self.idle = False
            trio.lowlevel.reschedule(self.task, Value(None))

    async def _run(self, coro: Coroutine[Any, Any, Any] | None) -> None:
        self.task = task = trio.lowlevel.current_task()
        try:
            while coro is not None:
                await coro  # HTTPCycle.run: only a cancellation comes out of it
                coro = None  # the finished app's frame is not kept while waiting,
                task.context = IDLE_CONTEXT  # nor what it set in its context
                if self.closed:
                    break
                self.idle = True
                coro = await trio.lowlevel.wait_task_rescheduled(self._abort)
        finally:
            self.idle = False
            self.closed = True  # later apps of this connection get tasks of their own
            self.task = None

    def _abort(self, _raise_cancel: Any) -> trio.lowlevel.Abort:
        # Cancelled while idle (the connections nursery is being cancelled): stop waiting.
        self.idle = False
        return trio.lowlevel.Abort.SUCCEEDED


RUNNER_TASK_NAME = f"{AppRunner.__module__}.{AppRunner.__qualname__}"
