"""rtio.asgi's WebSocket write path (AsgiWebSocket) and receive loop (pump) against fake
ASGI callables: a send that returns at once is written with no task (in order); one that
waits hands the rest to the writer task (order kept, ``send_now`` False above
``write_limit``, ``drain`` waits for it); one that fails closes with 1006; close comes
after what is queued. The receive loop (``pump`` in an Endable) delivers, ends at
``websocket.disconnect``, and on our close ends (Ended) without cancelling its task."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rtio.asgi.endable import Endable, Ended
from rtio.asgi.websocket import AsgiWebSocket, pump
from rtio.ws import ConnectionClosed


async def test_direct_sends_need_no_task() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    ws = AsgiWebSocket(send, None, 1000)
    assert ws.send_now("a") is True
    assert ws.send_now(b"b") is True
    assert ws.writer is None  # written at the first step of send: no task
    assert sent == [
        {"type": "websocket.send", "text": "a"},
        {"type": "websocket.send", "bytes": b"b"},
    ]
    await ws.close(1000)
    assert sent[-1] == {"type": "websocket.close", "code": 1000}
    assert ws.closed and ws.close_code == 1000


async def test_waiting_send_queues_in_order_with_backpressure() -> None:
    sent: list[str] = []
    gate = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        await gate.wait()
        sent.append(message.get("text") or message["type"])

    ws = AsgiWebSocket(send, None, 100)
    assert ws.send_now("first") is True  # stepped by hand; waits: a writer takes it over
    assert ws.writer is not None
    assert ws.send_now("x" * 60) is True
    assert ws.send_now("y" * 60) is False  # 120 queued bytes > write_limit 100
    draining = asyncio.ensure_future(ws.drain())
    await asyncio.sleep(0.01)
    assert not draining.done() and sent == []
    gate.set()
    await asyncio.wait_for(draining, 5)
    await asyncio.wait_for(ws.close(1000), 5)
    assert sent == ["first", "x" * 60, "y" * 60, "websocket.close"]
    assert ws.close_code == 1000


@pytest.mark.parametrize("when", ["first step", "after waiting"])
async def test_failing_send_closes_with_1006(when: str) -> None:
    closed: list[bool] = []

    async def send(message: dict[str, Any]) -> None:
        if when == "after waiting":
            await asyncio.sleep(0)
        raise OSError("gone")

    ws = AsgiWebSocket(send, None, 1000)
    ws.set_receiver(lambda message: None, lambda: closed.append(True))
    ws.send_now("a")
    await asyncio.wait_for(ws.wait_closed(), 5)
    assert ws.close_code == 1006 and closed == [True]
    with pytest.raises(ConnectionClosed):
        ws.send_now("b")


async def test_other_awaitables_are_awaited_in_order() -> None:
    sent: list[str] = []
    loop = asyncio.get_running_loop()

    def send(message: dict[str, Any]) -> asyncio.Future[None]:
        sent.append(message.get("text") or message["type"])
        fut = loop.create_future()
        loop.call_soon(fut.set_result, None)
        return fut

    ws = AsgiWebSocket(send, None, 1000)
    ws.send_now("a")
    ws.send_now("b")
    await asyncio.wait_for(ws.close(1000), 1)
    assert sent == ["a", "b", "websocket.close"]


async def test_pump_delivers_and_ends_without_cancelling_its_task() -> None:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    got: list[str | bytes] = []

    async def send(message: dict[str, Any]) -> None:
        pass

    ws = AsgiWebSocket(send, None, 1000)
    ws.set_receiver(got.append, lambda: None)
    loop = ws.pump = Endable(pump(queue.get, ws))
    queue.put_nowait({"type": "websocket.receive", "text": "a"})
    queue.put_nowait({"type": "websocket.receive", "bytes": b"b"})
    running = asyncio.ensure_future(_ended(loop))
    await asyncio.sleep(0.01)
    assert got == ["a", b"b"] and not running.done()
    await asyncio.wait_for(ws.close(1000), 5)  # our close ends the loop: Ended, not cancelled
    assert await asyncio.wait_for(running, 5) == "ended"


async def test_pump_ends_at_disconnect() -> None:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(message: dict[str, Any]) -> None:
        pass

    ws = AsgiWebSocket(send, None, 1000)
    queue.put_nowait({"type": "websocket.disconnect", "code": 1005})  # lost, no close frame
    await asyncio.wait_for(pump(queue.get, ws), 5)
    assert ws.close_code == 1006


async def _ended(loop: Endable) -> str:
    try:
        await loop
    except Ended:
        return "ended"
    return "returned"
