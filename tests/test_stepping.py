"""rtio.stepping: a coroutine stepped once by hand, continued by a task or an await."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from rtio.stepping import Stepped


async def waits_then_returns(fut: asyncio.Future[int]) -> int:
    value = await fut
    return value + 1


def step(coro: Coroutine[Any, Any, Any]) -> Stepped:
    first = coro.send(None)
    return Stepped(coro, first)


async def test_a_task_continues_a_stepped_coroutine() -> None:
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.get_running_loop().create_task(step(waits_then_returns(fut)))
    await asyncio.sleep(0)
    fut.set_result(41)
    assert await task == 42


async def test_an_await_continues_a_stepped_coroutine() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()
    stepped = step(waits_then_returns(fut))
    loop.call_soon(fut.set_result, 1)
    assert await stepped == 2


async def test_exceptions_and_cancellation_pass_through() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()
    task = loop.create_task(step(waits_then_returns(fut)))
    await asyncio.sleep(0)
    fut.set_exception(ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        await task

    fut2: asyncio.Future[int] = loop.create_future()
    task2 = loop.create_task(step(waits_then_returns(fut2)))
    await asyncio.sleep(0)
    task2.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task2


def test_close_closes_the_wrapped_coroutine() -> None:
    async def never() -> None:
        await asyncio.Future()

    coro = never()
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        stepped = step(coro)
        stepped.close()
        assert coro.cr_frame is None
    finally:
        asyncio.set_event_loop(None)
        loop.close()


async def test_with_task_gives_a_coroutine_a_task_only_outside_one() -> None:
    from rtio.stepping import with_task

    async def current() -> asyncio.Task[Any] | None:
        return asyncio.current_task()

    inside = current()
    assert with_task(inside) is inside  # in a task already: as it is
    inside.close()

    got: list[Any] = []
    done = asyncio.Event()

    def from_a_callback() -> None:
        awaitable = with_task(current())
        assert isinstance(awaitable, asyncio.Task)
        awaitable.add_done_callback(lambda t: (got.append(t.result()), done.set()))

    asyncio.get_running_loop().call_soon(from_a_callback)
    await asyncio.wait_for(done.wait(), 1)
    assert got[0] is not None
