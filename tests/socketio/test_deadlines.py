"""_deadlines: the connect timeout of every client on one loop timer."""

from __future__ import annotations

import asyncio

import pytest

import rtio
from rtio.socketio._deadlines import ConnectDeadlines


class Waiter:
    def __init__(self, name: str, log: list[str], done: asyncio.Event | None = None) -> None:
        self.name = name
        self.log = log
        self.done = done

    def on_connect_timeout(self) -> None:
        self.log.append(self.name)
        if self.done is not None:
            self.done.set()


async def test_clients_that_wait_are_timed_out_in_order_and_those_that_joined_are_not() -> None:
    deadlines = ConnectDeadlines(0.02)
    log: list[str] = []
    done = asyncio.Event()
    a, b, c = Waiter("a", log), Waiter("b", log), Waiter("c", log, done)
    for waiter in (a, b, c):
        deadlines.add(waiter)
    deadlines.discard(a)  # joined a namespace
    deadlines.discard(a)  # twice is harmless
    assert len(deadlines) == 2
    await asyncio.wait_for(done.wait(), 5)
    assert log == ["b", "c"] and len(deadlines) == 0


async def test_the_timer_rearms_for_later_clients() -> None:
    deadlines = ConnectDeadlines(0.02)
    log: list[str] = []
    first = asyncio.Event()
    deadlines.add(Waiter("early", log, first))
    await asyncio.wait_for(first.wait(), 5)
    gone = Waiter("gone", log)
    deadlines.add(gone)
    deadlines.discard(gone)  # the timer fires with nothing due...
    await asyncio.sleep(0.05)
    second = asyncio.Event()
    deadlines.add(Waiter("late", log, second))  # ...and a later client still gets one
    await asyncio.wait_for(second.wait(), 5)
    assert log == ["early", "late"]


async def test_without_a_timeout_nothing_is_kept() -> None:
    deadlines = ConnectDeadlines(None)
    deadlines.add(Waiter("x", []))
    assert len(deadlines) == 0


async def test_the_server_option_validates_and_applies_to_later_clients() -> None:
    with pytest.raises(ValueError, match="connect_timeout"):
        rtio.Server(connect_timeout=-1)
    sio = rtio.Server(connect_timeout=30)
    assert sio.connect_timeout == 30
    sio.connect_timeout = None
    assert sio.connect_timeout is None and sio.connect_deadlines.timeout is None
    with pytest.raises(ValueError):
        sio.connect_timeout = 0
