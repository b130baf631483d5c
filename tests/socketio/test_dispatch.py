"""The event -> handler -> ack path of a socket: the straight line a plain function takes
(no coroutine, no task) and the serial runner everything else goes through, and the
semantics they share: arrival order per socket, acks once and only while connected,
errors logged."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sio_loopback import Peer, settle

import rtio


async def connected(sio: rtio.Server) -> tuple[Peer, rtio.Socket]:
    peer = Peer(sio)
    sid = await peer.connect()
    peer.take()
    return peer, sio.sockets[sid]


async def test_a_plain_handler_answers_before_feed_returns_without_a_task(
    sio: rtio.Server,
) -> None:
    sio.on("echo", lambda socket, *args: args)
    peer, _ = await connected(sio)
    tasks = len(asyncio.all_tasks())
    peer.feed('21["echo","a",{"b":[1,2]}]')
    assert peer.take() == ['31["a",{"b":[1,2]}]']
    assert len(asyncio.all_tasks()) == tasks


async def test_a_plain_handler_waits_for_an_async_one_before_it(sio: rtio.Server) -> None:
    gate = asyncio.Event()

    @sio.on("wait")
    async def wait(socket: rtio.Socket) -> str:
        await gate.wait()
        return "waited"

    sio.on("fast", lambda socket: "fast")
    peer, _ = await connected(sio)
    peer.feed('21["wait"]', '22["fast"]', '23["fast"]')
    await settle()
    assert peer.take() == []  # "fast" is queued behind "wait", as in Node
    gate.set()
    await settle()
    assert peer.take() == ['31["waited"]', '32["fast"]', '33["fast"]']
    peer.feed('24["fast"]')  # the runner is idle again: straight through
    assert peer.take() == ['34["fast"]']


async def test_an_event_that_arrives_during_a_plain_handler_runs_after_its_ack(
    sio: rtio.Server,
) -> None:
    order: list[str] = []
    peer: Peer

    def first(socket: rtio.Socket) -> str:
        peer.feed('22["second"]')  # re-entrant: the same client, while this one runs
        order.append("first")
        return "one"

    def second(socket: rtio.Socket) -> str:
        order.append("second")
        return "two"

    sio.on("first", first)
    sio.on("second", second)
    peer, _ = await connected(sio)
    peer.feed('21["first"]')
    assert order == ["first", "second"]
    assert peer.take() == ['31["one"]', '32["two"]']


async def test_a_plain_function_returning_an_awaitable_is_awaited_in_turn(
    sio: rtio.Server,
) -> None:
    gate = asyncio.Event()

    async def slow(socket: rtio.Socket, text: str) -> str:
        await gate.wait()
        return text.upper()

    sio.on("slow", lambda socket, text: slow(socket, text))  # not a coroutine function
    sio.on("fast", lambda socket: "fast")
    peer, _ = await connected(sio)
    peer.feed('21["slow","hi"]', '22["fast"]')
    await settle()
    assert peer.take() == []
    gate.set()
    await settle()
    assert peer.take() == ['31["HI"]', '32["fast"]']


async def test_no_ack_after_the_socket_disconnected(sio: rtio.Server) -> None:
    gate = asyncio.Event()
    returned: list[str] = []

    @sio.on("wait")
    async def wait(socket: rtio.Socket) -> str:
        await gate.wait()
        returned.append("returned")
        return "too late"

    peer, socket = await connected(sio)
    peer.feed('21["wait"]')
    await settle()
    peer.feed("1")  # the client leaves the namespace while the handler waits
    gate.set()
    await settle()
    assert returned == ["returned"] and not socket.connected
    assert peer.take() == []


async def test_a_handler_that_disconnects_its_socket_sends_no_ack(sio: rtio.Server) -> None:
    order: list[str] = []

    def leave(socket: rtio.Socket) -> str:
        socket.disconnect()
        order.append("handler done")
        return "unsent"

    sio.on("leave", leave)
    sio.on("disconnect", lambda socket, reason: order.append(f"disconnect: {reason}"))
    peer, _ = await connected(sio)
    peer.feed('21["leave"]')
    await settle()
    # the disconnect handlers run within socket.disconnect(), as in Node (never behind a
    # running handler: issue 12 defect 11); the handler's return value answers nothing
    assert order == ["disconnect: server namespace disconnect", "handler done"]
    assert peer.take() == ["1"]


async def test_a_plain_handler_that_raises_or_returns_what_json_cannot_carry(
    sio: rtio.Server, caplog: pytest.LogCaptureFixture
) -> None:
    sio.on("raise", lambda socket: 1 / 0)
    sio.on("bad", lambda socket: object())
    sio.on("ok", lambda socket, *args: args)
    peer, socket = await connected(sio)
    with caplog.at_level(logging.ERROR, logger="rtio.socketio"):
        peer.feed('21["raise"]', '22["bad"]', '23["ok",1]')
        await settle()
    # what JSON cannot carry still answers, without arguments (issue 12 defect 10)
    assert peer.take() == ["32[]", "33[1]"]
    assert "ZeroDivisionError" in caplog.text and "not JSON serializable" in caplog.text
    assert socket.connected and not peer.session.closed


async def test_acks_with_bytes_and_explicit_ack_callables(sio: rtio.Server) -> None:
    calls: list[Any] = []

    def explicit(socket: rtio.Socket, x: int, ack: Any) -> None:
        ack(x, b"\x01")
        ack("twice")  # ignored: an ack is sent once
        calls.append(x)

    sio.on("explicit", explicit)
    sio.on("bytes", lambda socket: b"\x00\xff")
    peer, _ = await connected(sio)
    peer.feed('21["explicit",7]', '22["bytes"]')
    assert peer.take() == [
        '61-1[7,{"_placeholder":true,"num":0}]',
        b"\x01",
        '61-2[{"_placeholder":true,"num":0}]',
        b"\x00\xff",
    ]
    assert calls == [7]


async def test_acks_on_another_namespace_and_socket_listeners(sio: rtio.Server) -> None:
    sio.on("echo", lambda socket, *args: args, namespace="/chat")
    peer = Peer(sio)
    sid = await peer.connect("/chat")
    peer.take()
    socket = sio.of("/chat").sockets[sid]
    peer.feed('2/chat,5["echo","x"]')
    assert peer.take() == ['3/chat,5["x"]']
    socket.on("echo", lambda *args: "own")  # a socket's listener gets no socket argument
    peer.feed('2/chat,6["echo","x"]')
    assert peer.take() == ['3/chat,6["own"]']


async def test_catch_all_listeners_and_middlewares_keep_their_order(sio: rtio.Server) -> None:
    seen: list[str] = []
    sio.on("e", lambda socket, n: seen.append(f"handler {n}") or n)
    peer, socket = await connected(sio)
    socket.on_any(lambda event, n: seen.append(f"any {n}"))

    async def middleware(packet: list[Any]) -> None:
        await asyncio.sleep(0)  # suspends: later events queue
        seen.append(f"middleware {packet[1]}")

    socket.use(middleware)
    peer.feed('21["e",1]', '22["e",2]')
    await settle()
    # catch-all listeners run on arrival; middleware then handler in each event's turn
    assert seen == ["any 1", "any 2", "middleware 1", "handler 1", "middleware 2", "handler 2"]
    assert peer.take() == ["31[1]", "32[2]"]


async def test_queued_handlers_that_raise_are_logged_and_the_queue_goes_on(
    sio: rtio.Server, caplog: pytest.LogCaptureFixture
) -> None:
    gate = asyncio.Event()

    @sio.on("wait")
    async def wait(socket: rtio.Socket) -> None:
        await gate.wait()
        raise RuntimeError("async failure")

    sio.on("raise", lambda socket: 1 / 0)
    sio.on("ok", lambda socket: "ok")
    peer, socket = await connected(sio)
    with caplog.at_level(logging.ERROR, logger="rtio.socketio"):
        peer.feed('21["wait"]', '22["raise"]', '23["ok"]')
        gate.set()
        await settle()
    assert peer.take() == ['33["ok"]']
    assert "async failure" in caplog.text and "ZeroDivisionError" in caplog.text
    assert socket.connected
