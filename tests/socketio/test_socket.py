"""Events and acks both ways, binary, per-socket listeners and middlewares, ordering, and
handlers that raise."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from sio_loopback import Peer, settle

import rtio
import rtio.ids


async def connected(sio: rtio.Server) -> tuple[Peer, rtio.Socket]:
    peer = Peer(sio)
    sid = await peer.connect()
    peer.take()
    return peer, sio.sockets[sid]


async def test_return_value_answers_the_ack(sio: rtio.Server) -> None:
    sio.on("one", lambda socket, x: x * 2)
    sio.on("none", lambda socket: None)

    @sio.on("many")
    async def many(socket: rtio.Socket, a: int, b: int) -> tuple[int, int]:
        return b, a

    peer, _ = await connected(sio)
    peer.feed('21["one",21]', '22["none"]', '23["many",1,2]')
    await settle()
    assert peer.take() == ["31[42]", "32[]", "33[2,1]"]


async def test_event_without_ack_id_sends_nothing(sio: rtio.Server) -> None:
    got: list[Any] = []
    sio.on("note", lambda socket, *args: got.append(args) or "ignored")
    peer, _ = await connected(sio)
    peer.feed('2["note",1,{"a":[true,null]}]')
    await settle()
    assert got == [(1, {"a": [True, None]})]
    assert peer.take() == []


async def test_explicit_ack_callable(sio: rtio.Server) -> None:
    @sio.on("later")
    async def later(socket: rtio.Socket, x: int, ack: Callable[..., None]) -> str:
        await asyncio.sleep(0)
        ack("done", x)
        ack("twice")  # a second call is ignored
        return "not sent"

    peer, _ = await connected(sio)
    peer.feed('27["later",3]')
    await settle()
    assert peer.take() == ['37["done",3]']


async def test_arguments_are_fitted_to_the_handler(sio: rtio.Server) -> None:
    got: list[Any] = []
    sio.on("two", lambda socket, a, b: got.append((a, b)))
    peer, _ = await connected(sio)
    peer.feed('2["two",1]', '2["two",1,2,3]')
    await settle()
    assert got == [(1, None), (1, 2)]


async def test_numeric_event_name_and_unknown_event(sio: rtio.Server) -> None:
    sio.on(42, lambda socket: "num")  # type: ignore[call-overload]
    peer, _ = await connected(sio)
    peer.feed("20[42]", '21["nobody-listens"]')
    await settle()
    assert peer.take() == ['30["num"]']


async def test_binary_from_client_nested(sio: rtio.Server) -> None:
    got: list[Any] = []
    sio.on("upload", lambda socket, meta: got.append(meta))
    peer, _ = await connected(sio)
    peer.feed(
        '52-["upload",{"name":"a","parts":[{"_placeholder":true,"num":0},'
        '{"_placeholder":true,"num":1}]}]',
        b"\x00\x01",
        b"\xff",
    )
    await settle()
    assert got == [{"name": "a", "parts": [b"\x00\x01", b"\xff"]}]


async def test_binary_to_client_and_binary_ack(sio: rtio.Server) -> None:
    sio.on("get", lambda socket: {"blob": b"\x01\x02"})
    peer, socket = await connected(sio)
    await socket.emit("file", {"data": b"\xde\xad", "name": "x"})
    assert peer.take() == [
        '51-["file",{"data":{"_placeholder":true,"num":0},"name":"x"}]',
        b"\xde\xad",
    ]
    peer.feed('29["get"]')
    await settle()
    assert peer.take() == ['61-9[{"blob":{"_placeholder":true,"num":0}}]', b"\x01\x02"]


async def test_emit_with_ack_both_outcomes(sio: rtio.Server) -> None:
    peer, socket = await connected(sio)
    waiting = asyncio.ensure_future(socket.emit_with_ack("ask", 1))
    await settle()
    assert peer.take() == ['20["ask",1]']
    peer.feed('30["yes",2]')
    assert await waiting == ("yes", 2)

    with pytest.raises(rtio.AckTimeout):
        await socket.emit_with_ack("ask", timeout=0.01)
    assert not socket._acks
    late = peer.take()
    assert late == ['21["ask"]']
    peer.feed('31["late"]')  # an answer after the timeout is ignored
    await settle()


async def test_binary_ack_from_client(sio: rtio.Server) -> None:
    peer, socket = await connected(sio)
    waiting = asyncio.ensure_future(socket.emit_with_ack("photo"))
    await settle()
    peer.feed('61-0[{"_placeholder":true,"num":0}]', b"\x89PNG")
    assert await waiting == b"\x89PNG"


async def test_emit_with_ack_fails_when_the_socket_goes(sio: rtio.Server) -> None:
    peer, socket = await connected(sio)
    waiting = asyncio.ensure_future(socket.emit_with_ack("ask"))
    await settle()
    peer.feed("1")
    with pytest.raises(rtio.SocketDisconnected):
        await waiting
    with pytest.raises(rtio.SocketDisconnected):
        await socket.emit_with_ack("ask")


async def test_emit_callback_and_timeout_callback(sio: rtio.Server) -> None:
    peer, socket = await connected(sio)
    results: list[Any] = []
    socket.emit("a", callback=lambda *args: results.append(("plain", args)))
    socket.timeout(0.01).emit("b", callback=lambda err, *args: results.append(("t1", err, args)))
    socket.timeout(5).emit("c", callback=lambda err, *args: results.append(("t2", err, args)))
    assert peer.take() == ['20["a"]', '21["b"]', '22["c"]']
    peer.feed("30[1]", '32["ok"]')
    await asyncio.sleep(0.03)
    assert results[0] == ("plain", (1,))
    assert results[1] == ("t2", None, ("ok",))
    assert results[2][0] == "t1" and isinstance(results[2][1], rtio.AckTimeout)


async def test_socket_emitter_emit_with_ack_timeout(sio: rtio.Server) -> None:
    _peer, socket = await connected(sio)
    with pytest.raises(rtio.AckTimeout):
        await socket.timeout(0.01).emit_with_ack("x")


async def test_reserved_event_names_are_refused(sio: rtio.Server) -> None:
    _, socket = await connected(sio)
    with pytest.raises(ValueError, match="reserved"):
        socket.emit("connect")
    with pytest.raises(ValueError, match="reserved"):
        sio.emit("disconnect")


async def test_handlers_of_one_socket_run_in_arrival_order(sio: rtio.Server) -> None:
    sio.ordered_handlers = True  # strict order (issue 16: concurrent by default)
    @sio.on("slow")
    async def slow(socket: rtio.Socket) -> str:
        await asyncio.sleep(0.02)
        return "slow"

    sio.on("fast", lambda socket: "fast")
    peer, _ = await connected(sio)
    peer.feed('21["slow"]', '22["fast"]', '23["slow"]', '24["fast"]')
    await asyncio.sleep(0.08)
    assert peer.take() == ['31["slow"]', '32["fast"]', '33["slow"]', '34["fast"]']


async def test_handlers_of_different_sockets_run_concurrently(sio: rtio.Server) -> None:
    gate = asyncio.Event()

    @sio.on("wait")
    async def wait(socket: rtio.Socket) -> str:
        await gate.wait()
        return "released"

    sio.on("open", lambda socket: gate.set())
    a, _ = await connected(sio)
    b, _ = await connected(sio)
    a.feed('21["wait"]')
    await settle()
    b.feed('2["open"]')  # would deadlock if handlers of all sockets ran in one queue
    await settle()
    assert a.take() == ['31["released"]']


async def test_a_handler_that_raises_is_logged_and_the_socket_stays(
    sio: rtio.Server, caplog: pytest.LogCaptureFixture
) -> None:
    @sio.on("boom")
    async def boom(socket: rtio.Socket) -> None:
        raise RuntimeError("kaboom")

    sio.on("sync-boom", lambda socket: 1 / 0)
    sio.on("ok", lambda socket: "fine")
    peer, socket = await connected(sio)
    with caplog.at_level(logging.ERROR, logger="rtio.socketio"):
        peer.feed('21["boom"]', '22["sync-boom"]', '23["ok"]')
        await settle()
    assert peer.take() == ['33["fine"]']  # no ack for the handlers that raised
    assert "kaboom" in caplog.text and "ZeroDivisionError" in caplog.text
    assert socket.connected and not peer.session.closed


async def test_socket_listeners_take_precedence_and_off(sio: rtio.Server) -> None:
    sio.on("e", lambda socket: "namespace")
    peer, socket = await connected(sio)
    socket.on("e", lambda: "socket")
    peer.feed('21["e"]')
    await settle()
    socket.off("e")
    peer.feed('22["e"]')
    await settle()
    assert peer.take() == ['31["socket"]', '32["namespace"]']


async def test_catch_all_listeners_in_and_out(sio: rtio.Server) -> None:
    sio.on("e", lambda socket, x: x)
    peer, socket = await connected(sio)
    incoming: list[Any] = []
    outgoing: list[Any] = []

    def on_in(event: str, *args: Any) -> None:
        incoming.append((event, *args))

    socket.on_any(on_in)
    socket.on_any_outgoing(lambda event, *args: outgoing.append((event, *args)))
    peer.feed('2["e",1]')
    await socket.emit("direct", 2)
    await sio.emit("everyone", 3)
    await settle()
    assert incoming == [("e", 1)]
    assert outgoing == [("direct", 2), ("everyone", 3)]
    socket.off_any(on_in)
    socket.off_any_outgoing()
    peer.feed('2["e",1]')
    await socket.emit("direct", 2)
    await settle()
    assert incoming == [("e", 1)] and len(outgoing) == 2


async def test_packet_middleware_modifies_and_refuses(sio: rtio.Server) -> None:
    got: list[Any] = []
    sio.on("e", lambda socket, *args: got.append(args))
    peer, socket = await connected(sio)
    errors: list[Exception] = []

    @socket.use
    async def mw(packet: list[Any]) -> None:
        if packet[1] == "forbidden":
            raise PermissionError("not allowed")
        packet.append("stamped")

    socket.on("error", lambda exc: errors.append(exc))
    peer.feed('2["e","hello"]', '2["e","forbidden"]')
    await settle()
    assert got == [("hello", "stamped")]
    assert len(errors) == 1 and isinstance(errors[0], PermissionError)


async def test_socket_send_and_message_event(sio: rtio.Server) -> None:
    peer, socket = await connected(sio)
    await socket.send("hi")
    assert peer.take() == ['2["message","hi"]']


async def test_emit_to_a_disconnected_socket_is_dropped(sio: rtio.Server) -> None:
    peer, socket = await connected(sio)
    peer.feed("1")
    await settle()
    assert socket.disconnected
    await socket.emit("late")
    assert peer.take() == []


async def test_socket_volatile_is_dropped_when_not_writable(sio: rtio.Server) -> None:
    peer, socket = await connected(sio)
    socket.volatile.emit("now")
    peer.session.writable = False
    socket.volatile.emit("dropped")
    socket.emit("kept")
    socket.compress(False).emit("plain")
    assert peer.take() == ['2["now"]', '2["kept"]', '2["plain"]']


async def test_compress_flag_reaches_every_message_of_the_packet(sio: rtio.Server) -> None:
    # Node: socket.compress(false).emit() writes the packet and its attachments with
    # {compress: false}; the engine then sends them uncompressed
    peer, socket = await connected(sio)
    socket.compress(False).emit("bin", b"\x01")
    socket.emit("zip")
    socket.compress(False).volatile.timeout(5).emit("ack", callback=lambda *a: None)
    pending = asyncio.ensure_future(socket.compress(False).emit_with_ack("q"))
    await settle()
    assert peer.session.compressed == [False, False, True, False, False]
    assert peer.take() == [
        '51-["bin",{"_placeholder":true,"num":0}]',
        b"\x01",
        '2["zip"]',
        '20["ack"]',
        '21["q"]',
    ]
    peer.feed('31["a"]')
    assert await pending == "a"


async def test_data_the_parser_cannot_carry_raises_to_the_caller(sio: rtio.Server) -> None:
    peer, socket = await connected(sio)
    with pytest.raises(TypeError):
        socket.emit("x", object(), callback=lambda *a: None)
    with pytest.raises(TypeError):
        sio.emit("x", {1, 2})
    assert not socket._acks and peer.take() == []


async def test_cancelled_emit_with_ack_forgets_the_ack(sio: rtio.Server) -> None:
    _, socket = await connected(sio)
    waiting = asyncio.ensure_future(socket.emit_with_ack("q"))
    await settle()
    assert len(socket._acks) == 1
    waiting.cancel()
    await settle()
    assert not socket._acks


@pytest.mark.parametrize(
    "options",
    [{"ordered_handlers": True}, {"max_concurrent_handlers": 1}],
    ids=["ordered", "concurrent"],
)
async def test_a_client_flooding_slow_handlers_is_cut_off(options: dict[str, Any]) -> None:
    sio = rtio.Server(connect_timeout=None, max_queued_events=3, **options)
    gate = asyncio.Event()

    @sio.on("slow")
    async def slow(socket: rtio.Socket) -> None:
        await gate.wait()

    peer, _ = await connected(sio)
    peer.feed('2["slow"]', '2["slow"]', '2["slow"]', '2["slow"]')  # 1 running + 3 waiting
    assert not peer.session.closed
    peer.feed('2["slow"]')
    assert peer.session.closed
    gate.set()
    await settle()
    with pytest.raises(ValueError):
        rtio.Server(max_queued_events=0)


async def test_drain_waits_for_the_session(sio: rtio.Server) -> None:
    peer, socket = await connected(sio)
    drained: list[bool] = []

    async def drain() -> None:
        drained.append(True)

    peer.session.drain = drain  # type: ignore[attr-defined]
    await socket.drain()
    assert drained == [True]


async def test_socket_ids_are_rtio_ids(sio: rtio.Server) -> None:
    # the one id generator (rtio.ids: batches from the OS, fork-safe: tests/test_ids.py)
    peers = [Peer(sio) for _ in range(100)]
    sids = [await peer.connect() for peer in peers]
    assert len(set(sids)) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{20}", sid) for sid in sids)
    from rtio.socketio import socket as socket_module

    assert socket_module.new_id is rtio.ids.new_id


async def test_the_handshake_is_built_when_asked_for_with_the_auth_the_middlewares_saw(
    sio: rtio.Server,
) -> None:
    seen: list[Any] = []

    @sio.use
    def middleware(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        auth["added"] = True  # the same dict everywhere afterwards
        seen.append(socket.handshake.auth is auth)

    @sio.on("connect")
    def connect(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        seen.append(socket.handshake.auth is auth)

    peer = Peer(sio, headers={"Origin": "http://x"})
    sid = await peer.connect()
    socket = sio.sockets[sid]
    assert seen == [True, True] and socket.handshake.auth == {"added": True}
    handshake = socket.handshake
    assert handshake is socket.handshake  # built once
    assert handshake.xdomain and not handshake.secure and handshake.address == "127.0.0.1"
    assert abs(handshake.issued - time.time()) < 3600  # a time, not 0
    assert handshake.time.startswith(time.strftime("%Y", time.gmtime(handshake.issued)))


async def test_an_idle_socket_holds_no_optional_state(sio: rtio.Server) -> None:
    peer = Peer(sio)
    sid = await peer.connect()
    socket = sio.sockets[sid]
    # made on first use only (memory per connection): see Socket's docstring
    assert socket._handshake is None and socket._data is None and socket._runner is None
    assert socket._acks is None and socket._handlers is None and socket._auth is None
    socket.data["x"] = 1
    assert socket.data == {"x": 1} and socket.handshake.auth == {}


async def test_an_emit_the_parser_cannot_carry_raises_and_names_the_event(
    sio: rtio.Server, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12 defect 10, emits: nothing waits on the client side, so the caller gets the
    exception, and an error names the event."""
    peer = Peer(sio)
    sid = await peer.connect()
    socket = sio.sockets[sid]
    with caplog.at_level(logging.ERROR, logger="rtio.socketio"):
        with pytest.raises(TypeError):
            socket.emit("news", object())
        with pytest.raises(TypeError):
            sio.emit("bulletin", object())
    messages = [r.getMessage() for r in caplog.records]
    assert any("event 'news'" in m for m in messages)
    assert any("event 'bulletin'" in m for m in messages)
    assert peer.take() == []
