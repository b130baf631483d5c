"""The asyncio glue (WebSocket) over an in-memory transport, with a sans-I/O client protocol
as the peer: receiving and sending, keepalive, the close timeout, backpressure in both
directions, ping/pong awaiting, and the order of an answer and a held-back failure."""

from __future__ import annotations

import asyncio

import pytest

from rtio.ws import ConnectionClosed, InvalidState
from rtio.ws.frames import Opcode
from rtio.ws.options import DEFAULT_OPTIONS
from rtio.ws.protocol import prepare_message

from .support import (
    Receiver,
    make,
    masked,
)

OFFLOAD_SIZE = DEFAULT_OPTIONS.offload_size


async def test_receive_and_send() -> None:
    ws, transport, peer = make(write_limit=12345)
    assert transport.high == 12345
    assert ws.subprotocol == "chat"
    ws.receive_data(peer.send("hello") + peer.send(b"\x00\x01"))
    assert await ws.recv() == "hello"
    assert await ws.recv() == b"\x00\x01"
    await ws.send("back")
    await ws.send(b"bin")
    assert peer.frames() == [(Opcode.TEXT, b"back"), (Opcode.BINARY, b"bin")]
    assert not ws.closed and ws.close_code is None


async def test_recv_waits_for_data() -> None:
    ws, _, peer = make()
    task = asyncio.ensure_future(ws.recv())
    await asyncio.sleep(0)
    with pytest.raises(InvalidState, match="already"):
        await ws.recv()
    ws.receive_data(peer.send("late"))
    assert await task == "late"


async def test_close_started_by_us() -> None:
    ws, transport, peer = make()
    closing = asyncio.ensure_future(ws.close(4000, "done"))
    await asyncio.sleep(0)
    assert peer.frames() == [(Opcode.CLOSE, b"\x0f\xa0done")]
    with pytest.raises(ConnectionClosed, match="in progress"):
        await ws.send("x")
    ws.receive_data(masked(Opcode.CLOSE, b"\x0f\xa0"))
    await closing
    assert transport.closing and not transport.aborted
    assert ws.closed and ws.close_code == 4000


async def test_ping_awaits_its_pong() -> None:
    ws, _, peer = make()
    first = await ws.ping(b"one")
    second = await ws.ping()
    frames = peer.frames()
    assert frames[0] == (Opcode.PING, b"one")
    with pytest.raises(InvalidState):
        await ws.ping(b"one")
    # one pong for the later ping answers both (5.5.3)
    ws.receive_data(masked(Opcode.PONG, frames[1][1]))
    assert await first >= 0
    assert await second >= 0
    ws.receive_data(masked(Opcode.PONG, b"unsolicited"))  # ignored


async def test_writes_wait_while_the_transport_is_paused() -> None:
    ws, _transport, peer = make()
    link = ws._link
    link.pause_writing()
    send = asyncio.ensure_future(ws.send("x" * 100))
    await asyncio.sleep(0.01)
    assert not send.done()
    assert peer.frames() == [(Opcode.TEXT, b"x" * 100)]  # written at once all the same
    link.resume_writing()
    await asyncio.wait_for(send, 1)
    # a drop while waiting ends the wait with ConnectionClosed
    link.pause_writing()
    send = asyncio.ensure_future(ws.send("y"))
    await asyncio.sleep(0)
    ws.receive_eof()
    with pytest.raises(ConnectionClosed):
        await send


async def test_close_with_a_held_failure_uses_its_code() -> None:
    ws, _, peer = make(close_timeout=0.05)
    ws.receive_data(peer.send("hello") + masked(3, b""))
    await ws.close(1000)
    assert ws.close_code == 1002
    assert peer.frames()[-1][1][:2] == b"\x03\xea"


# -- push mode and synchronous sends ---------------------------------------------------


async def test_push_mode_delivers_in_order_from_receive_data() -> None:
    ws, _, peer = make()
    receiver = Receiver(ws)
    ws.receive_data(peer.send("one") + peer.send(b"two") + masked(Opcode.PING, b"p"))
    assert receiver.messages == ["one", b"two"]  # synchronously, no loop turn
    assert peer.frames() == [(Opcode.PONG, b"p"), (Opcode.TEXT, b"one"), (Opcode.BINARY, b"two")]
    with pytest.raises(InvalidState):
        await ws.recv()
    with pytest.raises(InvalidState):
        await anext(aiter(ws))


async def test_push_mode_hands_over_the_queued_messages_first() -> None:
    ws, transport, peer = make(max_queue=2)
    ws.receive_data(peer.send("a") + peer.send("b"))
    assert not transport.reading  # the queue was full
    receiver = Receiver(ws, echo=False)
    assert receiver.messages == ["a", "b"]
    assert transport.reading  # push mode does not pause for a consumer
    for i in range(5):
        ws.receive_data(peer.send(str(i)))
    assert transport.reading
    assert receiver.messages == ["a", "b", "0", "1", "2", "3", "4"]


async def test_a_pending_recv_raises_when_push_mode_starts() -> None:
    ws, _, _ = make()
    recv = asyncio.ensure_future(ws.recv())
    await asyncio.sleep(0)
    Receiver(ws)
    with pytest.raises(InvalidState):
        await recv


async def test_push_mode_on_closed_once_on_a_close_handshake() -> None:
    ws, transport, peer = make()
    receiver = Receiver(ws)
    # a message and the close frame in one chunk: the message is delivered, its answer
    # cannot go out any more (the protocol already replied to the close)
    last = peer.send("last")
    peer.proto.send_close(1000, "bye")
    ws.receive_data(last + peer.proto.data_to_send())
    assert receiver.messages == ["last"]
    assert receiver.closed == [1000]
    assert peer.frames() == [(Opcode.CLOSE, b"\x03\xe8")]  # and no error: not a 1011
    assert transport.closing
    await ws.wait_closed()
    assert receiver.closed == [1000]  # the TCP close does not call it again


async def test_push_mode_on_closed_on_a_drop_and_when_already_closed() -> None:
    ws, _, _ = make()
    receiver = Receiver(ws)
    ws.receive_eof()
    assert receiver.closed == [1006]
    ws.receive_eof()
    assert receiver.closed == [1006]
    late = Receiver(ws)  # set after the close: told at once
    assert late.closed == [1006]


async def test_push_mode_handler_error_on_a_queued_message() -> None:
    ws, _, peer = make()
    ws.receive_data(peer.send("raise") + peer.send("never"))
    receiver = Receiver(ws)
    assert receiver.messages == ["raise"]
    assert receiver.closed == [1011]


async def test_push_mode_a_queued_violation_fails_after_the_handover() -> None:
    ws, _, peer = make()
    ws.receive_data(peer.send("hello") + masked(3, b""))
    receiver = Receiver(ws)
    assert receiver.messages == ["hello"]
    assert receiver.closed == [1002]
    assert [op for op, _ in peer.frames()] == [Opcode.TEXT, Opcode.CLOSE]


async def test_send_now_writes_at_once_and_reports_backpressure() -> None:
    ws, _, peer = make()
    assert ws.send_now("a") is True
    assert ws.send_prepared_now(prepare_message(b"b")) is True
    assert peer.frames() == [(Opcode.TEXT, b"a"), (Opcode.BINARY, b"b")]
    ws._link.pause_writing()  # the transport's buffer went above write_limit
    assert ws.send_now("c") is False
    assert ws.send_prepared_now(prepare_message("d")) is False
    assert peer.frames() == [(Opcode.TEXT, b"c"), (Opcode.TEXT, b"d")]  # written all the same
    drain = asyncio.ensure_future(ws.drain())
    await asyncio.sleep(0)
    assert not drain.done()
    ws._link.resume_writing()
    await asyncio.wait_for(drain, 1)
    await ws.drain()  # not paused: returns at once


async def test_send_now_and_drain_on_a_closed_connection() -> None:
    ws, _, _ = make()
    ws._link.pause_writing()
    drain = asyncio.ensure_future(ws.drain())
    await asyncio.sleep(0)
    ws.receive_eof()
    with pytest.raises(ConnectionClosed):
        await drain
    with pytest.raises(ConnectionClosed):
        ws.send_now("x")
    with pytest.raises(ConnectionClosed):
        ws.send_prepared_now(prepare_message("x"))
    with pytest.raises(ConnectionClosed):
        await ws.drain()
    ws2, _, _ = make()
    await ws2.close()  # closing: sends are refused during the handshake too
    with pytest.raises(ConnectionClosed):
        ws2.send_now("x")


async def test_push_mode_echo_makes_no_future_or_task_per_message() -> None:
    ws, _, peer = make(coalesce_writes=True)
    Receiver(ws)
    loop = asyncio.get_running_loop()
    made: list[str] = []
    create_future, create_task = loop.create_future, loop.create_task
    loop.create_future = lambda: made.append("future") or create_future()  # type: ignore[method-assign]
    loop.create_task = lambda *a, **k: made.append("task") or create_task(*a, **k)  # type: ignore[method-assign]
    try:
        for i in range(100):
            ws.receive_data(peer.send(f"m{i}"))
        await asyncio.sleep(0)  # the end-of-iteration write
    finally:
        del loop.create_future, loop.create_task
    assert made == []
    assert [payload for _, payload in peer.frames()] == [f"m{i}".encode() for i in range(100)]
