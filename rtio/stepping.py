"""Running a coroutine inline until it first suspends, and handing the rest to a task.

Most handlers of a hot path (a polling POST, a Socket.IO event) finish without ever
waiting: calling ``coro.send(None)`` in the caller's stack costs no task, no future and no
trip through the event loop. Only a coroutine that does suspend is wrapped in
:class:`Stepped` and given to a task, which continues it from where the first step left
it. Knows nothing of HTTP or Socket.IO; shared by ``rtio.http`` (one request) and
``rtio.socketio`` (one socket's handlers).

Speed: an inline step instead of ``create_task`` per call saves about 3-5 µs per request or
event on this machine (stop 10, benchmarks/RESULTS.md: dispatch echo 4.77 -> 2.78 µs).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["Stepped", "with_task"]

T = TypeVar("T")

#: Python 3.12's eager tasks run a coroutine at once, in the caller's stack, until it first
#: suspends, as an inline step does, but with a current task
EAGER_TASKS = sys.version_info >= (3, 12)


class Stepped(Coroutine[Any, Any, Any]):
    """A coroutine already stepped once by hand, ``first`` being what that step yielded (the
    future it waits for). A Task runs it directly (``loop.create_task(Stepped(...))``), or a
    coroutine awaits it; either way the first ``send`` gives back ``first`` and everything
    after is passed through to the wrapped coroutine."""

    __slots__ = ("_coro", "_first", "_started")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro = coro
        self._first = first
        self._started = False

    def send(self, value: Any) -> Any:
        if not self._started:
            self._started = True
            first, self._first = self._first, None
            return first
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self._started = True
        self._first = None
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)  # pragma: no cover (the old signature)

    def close(self) -> None:
        self._coro.close()

    def __next__(self) -> Any:
        return self.send(None)

    def __iter__(self) -> Stepped:
        return self

    def __await__(self) -> Generator[Any, Any, Any]:
        return self  # an iterator with send/throw, as a generator is


def with_task(awaitable: Awaitable[T]) -> Awaitable[T]:
    """``awaitable``, made safe to await where application code may be running inline.

    A coroutine stepped by hand runs outside any task, and ``asyncio.timeout()``,
    ``asyncio.wait_for`` (3.12+) and ``TaskGroup`` refuse to run there ("Timeout should be
    used inside a task"). Inside a task this returns ``awaitable`` as it is; outside one, a
    coroutine gets a task of its own: an eager one on Python 3.12+ (it runs now, until it
    first suspends, so a handler that never waits still finishes in the caller's stack), an
    ordinary one before (one trip through the loop: correctness first; plain-function
    handlers are not affected).
    """
    if asyncio.current_task() is not None or not asyncio.iscoroutine(awaitable):
        return awaitable
    loop = asyncio.get_running_loop()
    if EAGER_TASKS:
        return asyncio.Task(awaitable, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
    return loop.create_task(awaitable)
