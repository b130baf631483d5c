"""Tests of offload.py: big messages compressed in a worker thread, the sends in line
behind them."""

from __future__ import annotations

import asyncio

import pytest

from rtio.ws import ConnectionClosed
from rtio.ws.offload import SendQueue
from rtio.ws.options import DEFAULT_OPTIONS
from rtio.ws.protocol import Close, prepare_message

from .support import make_deflate

OFFLOAD_SIZE = DEFAULT_OPTIONS.offload_size


async def test_big_messages_are_compressed_in_a_thread_and_stay_in_order() -> None:
    ws, transport, peer = make_deflate()
    big = b"0123456789abcdef" * (OFFLOAD_SIZE // 8)
    first = asyncio.ensure_future(ws.send(big))
    await asyncio.sleep(0)  # compressing in a worker thread...
    second = asyncio.ensure_future(ws.send("small, sent later"))
    third = asyncio.ensure_future(ws.send_prepared(prepare_message("prepared, later still")))
    await asyncio.wait_for(asyncio.gather(first, second, third), 5)
    events = peer.receive_data(bytes(transport.written))
    assert events == [big, "small, sent later", "prepared, later still"]
    assert len(transport.written) < len(big) // 4  # it was compressed
    start = len(transport.written)
    await ws.send("é" * OFFLOAD_SIZE)  # a str, alone: the same path
    assert peer.receive_data(bytes(transport.written[start:])) == ["é" * OFFLOAD_SIZE]


async def test_a_send_cancelled_while_compressing_closes_with_1011() -> None:
    ws, transport, peer = make_deflate()
    send = asyncio.ensure_future(ws.send(b"z" * OFFLOAD_SIZE * 4))
    await asyncio.sleep(0)
    send.cancel()
    with pytest.raises(asyncio.CancelledError):
        await send
    events = peer.receive_data(bytes(transport.written))
    assert events == [Close(1011, "send cancelled while compressing")]
    with pytest.raises(ConnectionClosed):
        await ws.send("after")


async def test_send_now_goes_behind_an_offloaded_compression() -> None:
    ws, transport, peer = make_deflate()
    big = b"0123456789abcdef" * (OFFLOAD_SIZE // 8)
    assert ws.send_now(big) is False  # compressed in a worker thread
    assert ws.send_now("small") is False  # behind it
    assert ws.send_prepared_now(prepare_message("prepared")) is False
    assert transport.written == b""
    await asyncio.wait_for(ws.drain(), 5)
    assert peer.receive_data(bytes(transport.written)) == [big, "small", "prepared"]
    assert ws.send_now("alone") is True  # nothing in flight any more
    assert peer.receive_data(bytes(transport.written)).pop() == "alone"


async def test_send_now_behind_a_compression_when_the_connection_drops() -> None:
    ws, _, _ = make_deflate()
    assert ws.send_now(b"z" * OFFLOAD_SIZE) is False
    assert ws.send_now("small") is False
    ws.receive_eof()
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.drain(), 5)


async def test_send_queue_keeps_order_and_reports_busy() -> None:
    queue = SendQueue()
    order: list[str] = []
    gate = asyncio.get_running_loop().create_future()

    async def first() -> None:
        await gate
        order.append("first")

    async def second() -> None:
        order.append("second")

    assert not queue.busy
    running = asyncio.ensure_future(queue.run(first))
    await asyncio.sleep(0)
    queue.later(second)
    assert queue.busy
    gate.set_result(None)
    await queue.wait()
    await running
    assert order == ["first", "second"] and not queue.busy


async def test_a_failed_later_send_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    queue = SendQueue()

    async def broken() -> None:
        raise RuntimeError("bug")

    queue.later(broken)
    for _ in range(3):
        await asyncio.sleep(0)
    assert "send_now() behind a compression failed" in caplog.text
