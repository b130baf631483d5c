"""rtio.workers.restore in one process: RecoveringBusAdapters of several "workers" joined
by a loopback bus that serializes every message and delivers it on a later loop turn,
each pair's messages in order (as the real bus does). What the process tests cannot
force: events sent during a restore's round trip, a holder that dies or does not
answer, an answer too large, a second move after a restore that missed nothing."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from loop_bus import LoopBus, join

import rtio
from rtio.socketio import BroadcastOptions, Packet, PacketType
from rtio.socketio.recovery import RestoredSession, Session
from rtio.workers.restore import RESTORE_EVENT, RecoveringBusAdapter


def workers(n: int, **options: Any) -> list[RecoveringBusAdapter]:
    net: list[LoopBus] = []
    adapters = []
    for index in range(n):
        bus = LoopBus(index, net)
        sio = rtio.Server(connection_state_recovery=True,
                          adapter=RecoveringBusAdapter.factory(bus, **options))  # type: ignore[arg-type]  # fmt: skip
        adapter = sio.main.adapter
        assert isinstance(adapter, RecoveringBusAdapter)
        adapters.append(adapter)
    join(net)
    return adapters


def send(adapter: RecoveringBusAdapter, msg: str, *rooms: str) -> None:
    """sio.to(*rooms).emit("news", msg) on that worker."""
    packet = Packet(PacketType.EVENT, "/", ["news", msg])
    adapter.broadcast(packet, BroadcastOptions(rooms=frozenset(rooms)))


def offset_now(adapter: RecoveringBusAdapter, sid: str) -> str:
    """An emit to ``sid`` on its worker: the offset its client would hold."""
    packet = adapter.record_packet(Packet(PacketType.EVENT, "/", ["hello"]), sid)
    assert packet is not None
    return str(packet.data[-1])


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def restore(adapter: RecoveringBusAdapter, pid: str, offset: str) -> RestoredSession | None:
    result = adapter.restore_session(pid, offset)
    if asyncio.iscoroutine(result):
        result = await result
    assert result is None or isinstance(result, RestoredSession)
    return result


def names(restored: RestoredSession) -> list[Any]:
    return [event[1] for event in restored.missed]


async def test_the_holder_gives_the_session_up_with_what_was_missed() -> None:
    holder, asker = workers(2)
    offset = offset_now(holder, "S1")
    holder.persist_session(Session("S1", "P1", ["S1", "r"], {"n": 1}))
    send(holder, "to all")
    send(asker, "to r", "r")  # from the asker: reaches the holder before the request
    send(holder, "to other", "other")
    await settle()
    restored = await restore(asker, "P1", offset)
    assert restored is not None
    assert (restored.sid, restored.pid, restored.rooms, restored.data) == (
        "S1", "P1", ["S1", "r"], {"n": 1})  # fmt: skip
    assert names(restored) == ["to all", "to r"]
    # each replayed event carries an offset of the asker's log, stored for that socket
    assert all(str(e[-1]).startswith(asker.log.epoch + "-") for e in restored.missed)
    assert await restore(asker, "P1", offset) is None  # given up: not twice
    await settle()
    assert holder.log.session_count == 0


async def test_events_sent_during_the_round_trip_are_replayed_once() -> None:
    holder, asker = workers(2)
    offset = offset_now(holder, "S1")
    holder.persist_session(Session("S1", "P1", ["S1"], {}))
    task = asyncio.ensure_future(restore(asker, "P1", offset))
    await asyncio.sleep(0)  # the request is on its way
    send(asker, "asker, after the request")  # reaches the holder after it: not in missed
    send(holder, "holder, before it answers")  # in missed, and reaches the asker too
    restored = await task
    assert restored is not None
    assert names(restored) == ["holder, before it answers", "asker, after the request"]
    # what is stored after the restore comes with the socket's join (RestoredSession.more)
    send(holder, "later")
    await settle()
    assert restored.more is not None
    assert [e[1] for e in restored.more() or []] == ["later"]


async def test_an_asker_broadcast_the_holder_gave_the_session_before_is_replayed() -> None:
    holder, asker = workers(2)
    offset = offset_now(holder, "S1")
    holder.persist_session(Session("S1", "P1", ["S1"], {}))
    task = asyncio.ensure_future(restore(asker, "P1", offset))
    while holder.log.session_count:  # the holder takes it (its answer is on its way)
        await asyncio.sleep(0)
    send(asker, "after the holder answered")  # never among the missed
    restored = await task
    assert restored is not None
    assert names(restored) == ["after the holder answered"]


async def test_a_third_workers_events_during_the_round_trip_are_replayed_once() -> None:
    holder, asker, third = workers(3)
    offset = offset_now(holder, "S1")
    holder.persist_session(Session("S1", "P1", ["S1"], {}))
    task = asyncio.ensure_future(restore(asker, "P1", offset))
    await asyncio.sleep(0)  # the request is on its way
    send(third, "x")  # reaches the holder before it answers, and the asker meanwhile
    while holder.log.session_count:
        await asyncio.sleep(0)
    send(third, "y")  # reaches the asker only: the holder answered already
    send(third, "y")  # (twice: both are new)
    restored = await task
    assert restored is not None
    assert names(restored) == ["x", "y", "y"]


async def test_a_holder_that_dies_or_does_not_answer_is_not_waited_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    holder, asker = workers(2, restore_timeout=0.2)
    offset = offset_now(holder, "S1")
    holder.persist_session(Session("S1", "P1", ["S1"], {}))
    holder.bus.deaf = True  # type: ignore[attr-defined]
    with caplog.at_level(logging.INFO, "rtio.workers"):
        assert await restore(asker, "P1", offset) is None  # its timeout
        assert "did not answer within 0.2 s" in caplog.text
        task = asyncio.ensure_future(restore(asker, "P1", offset))
        await asyncio.sleep(0)
        asker.members_changed(frozenset((1,)))  # the holder died
        assert await asyncio.wait_for(task, 0.1) is None
        assert "no worker holds it" in caplog.text


async def test_a_session_too_large_to_move_is_dropped_not_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    holder, asker = workers(2, max_restore_bytes=2000)
    offset = offset_now(holder, "S1")
    holder.persist_session(Session("S1", "P1", ["S1"], {"big": "x" * 5000}))
    with caplog.at_level(logging.INFO, "rtio.workers"):
        assert await restore(asker, "P1", offset) is None
    assert "session P1 is dropped, not given to worker 1" in caplog.text
    assert holder.log.session_count == 0


async def test_after_a_move_that_missed_nothing_the_next_worker_still_finds_it() -> None:
    first, second, third = workers(3)
    offset = offset_now(first, "S1")
    first.persist_session(Session("S1", "P1", ["S1"], {}))
    restored = await restore(second, "P1", offset)
    assert restored is not None and restored.missed == []
    # the client keeps its old offset (of the first worker's log); it is back before the
    # second worker saw it go (restore_for asks again once the old socket has left)
    assert second.take("P1", offset) is None
    second.persist_session(Session("S1", "P1", ["S1"], {}))
    send(third, "while away again")
    await settle()
    again = await restore(third, "P1", offset)
    assert again is not None and names(again) == ["while away again"]


async def test_the_restore_event_is_reserved() -> None:
    (adapter,) = workers(1)
    with pytest.raises(ValueError, match="reserved"):
        adapter.server_side_emit([RESTORE_EVENT, "p", "o"])
    assert await restore(adapter, "nobody", "x-1") is None  # alone: nobody to ask
