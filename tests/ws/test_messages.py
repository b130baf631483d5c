"""Tests of messages.py (Inbox: the queue behind recv() / async for)."""

from __future__ import annotations

import asyncio

import pytest

from rtio.ws import InvalidState
from rtio.ws.link import Link
from rtio.ws.messages import Inbox

from .support import MemoryTransport


def _inbox(max_queue: int = 4) -> tuple[Inbox, MemoryTransport]:
    transport = MemoryTransport()
    return Inbox(asyncio.get_running_loop(), Link(transport), max_queue), transport


async def test_reading_pauses_when_full_and_resumes_at_half() -> None:
    inbox, transport = _inbox(4)
    inbox.messages += ["a", "b", "c"]
    inbox.added()
    assert transport.reading and not inbox.full
    inbox.messages.append("d")
    inbox.added()
    assert not transport.reading and inbox.full
    assert inbox.messages.pop(0) == "a"
    inbox.taken()  # 3 left: above half
    assert not transport.reading
    assert inbox.messages.pop(0) == "b"
    inbox.taken()  # 2 left: half
    assert transport.reading and not inbox.full


async def test_take_all_empties_and_resumes_reading() -> None:
    inbox, transport = _inbox(1)
    inbox.messages.append(b"x")
    inbox.added()
    assert not transport.reading
    assert inbox.take_all() == [b"x"]
    assert inbox.messages == [] and transport.reading


async def test_one_waiter_at_a_time_woken_by_added() -> None:
    inbox, _ = _inbox()
    waiting = inbox.wait()
    with pytest.raises(InvalidState):
        inbox.wait()
    inbox.messages.append("m")
    inbox.added()
    await asyncio.wait_for(waiting, 1)
    inbox.wake()  # nobody waits: nothing happens


async def test_a_max_queue_below_one_holds_one_message() -> None:
    inbox, transport = _inbox(0)
    inbox.messages.append("m")
    inbox.added()
    assert inbox.full and not transport.reading
