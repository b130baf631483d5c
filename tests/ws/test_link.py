"""Tests of link.py (Link: a WebSocket's writes and flow control) and, through it, of
writes.py's per-iteration batching."""

from __future__ import annotations

import asyncio

from rtio.ws.frames import Opcode
from rtio.ws.link import Link, ReadHold

from .support import MemoryTransport, make


async def test_coalesced_writes_send_the_first_frame_at_once_and_the_rest_after_the_tick() -> None:
    ws, transport, peer = make(coalesce_writes=True)
    writes: list[bytes] = []
    record = transport.write

    def write(data: bytes | bytearray | memoryview) -> None:
        writes.append(bytes(data))
        record(data)

    transport.write = write  # type: ignore[method-assign]
    await ws.send("one")
    await ws.send("two")
    await ws.send(b"three")
    assert len(writes) == 1  # the first frame went out at once, the burst waits
    assert peer.frames() == [(Opcode.TEXT, b"one")]
    await asyncio.sleep(0)  # the end of this loop iteration flushes the burst in one write
    await asyncio.sleep(0)
    assert len(writes) == 2
    assert peer.frames() == [(Opcode.TEXT, b"two"), (Opcode.BINARY, b"three")]


async def test_write_first_holds_the_head_for_the_frames_of_the_same_iteration() -> None:
    transport = MemoryTransport()
    link = Link(transport)
    link.set_write_limit(1 << 16, coalesce=True)
    link.write_first(b"HEAD")
    link.write(b"frame")
    assert transport.written == b""  # both leave together at the end of the iteration
    await asyncio.sleep(0)
    assert transport.written == b"HEADframe"


def test_write_first_without_coalescing_writes_at_once() -> None:
    transport = MemoryTransport()
    link = Link(transport)
    link.write_first(b"HEAD")
    assert transport.written == b"HEAD"


async def test_a_batch_at_the_write_limit_is_flushed_at_once() -> None:
    transport = MemoryTransport()
    link = Link(transport)
    link.set_write_limit(8, coalesce=True)
    link.write(b"1")  # the first of the iteration: at once
    link.write(b"2222")
    assert transport.written == b"1"
    link.write(b"3333")  # the batch reaches 8 bytes
    assert transport.written == b"122223333"


async def test_abort_and_connection_lost_drop_what_is_held_back() -> None:
    transport = MemoryTransport()
    link = Link(transport)
    link.set_write_limit(1 << 16, coalesce=True)
    link.write(b"a")
    link.write(b"held")
    link.connection_lost()
    await asyncio.sleep(0)
    assert transport.written == b"a"


async def test_reading_resumes_only_when_every_hold_is_released() -> None:
    transport = MemoryTransport()
    link = Link(transport)
    link.hold_reading(ReadHold.QUEUE_FULL)
    link.hold_reading(ReadHold.WRITE_BLOCKED)
    assert not transport.reading
    link.release_reading(ReadHold.QUEUE_FULL)
    assert not transport.reading and link.reading_held(ReadHold.WRITE_BLOCKED)
    link.release_reading(ReadHold.QUEUE_FULL)  # not held: nothing
    link.release_reading(ReadHold.WRITE_BLOCKED)
    assert transport.reading


async def test_a_lost_connection_never_resumes_reading() -> None:
    transport = MemoryTransport()
    link = Link(transport)
    link.hold_reading(ReadHold.QUEUE_FULL)
    link.connection_lost()
    link.release_reading(ReadHold.QUEUE_FULL)
    assert not transport.reading


async def test_drain_and_call_when_writable_wait_for_resume_writing() -> None:
    link = Link(MemoryTransport())
    calls: list[str] = []
    link.call_when_writable(lambda: calls.append("at once"))
    link.pause_writing()
    assert link.writing_paused
    link.call_when_writable(lambda: calls.append("after"))
    drain = asyncio.ensure_future(link.drain())
    await asyncio.sleep(0)
    assert calls == ["at once"] and not drain.done()
    link.resume_writing()
    await asyncio.wait_for(drain, 1)
    await asyncio.sleep(0)
    assert calls == ["at once", "after"]
