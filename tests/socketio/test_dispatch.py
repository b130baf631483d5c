"""The event -> handler -> ack path of a socket: the straight line a plain function takes
(no coroutine, no task) and the serial runner everything else goes through, and the
semantics they share: arrival order per socket, acks once and only while connected,
errors logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from sio_loopback import Peer, echo_server, record, settle

import rtio
from rtio.engine import CloseReason


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
    sio.ordered_handlers = True  # strict order (issue 16: concurrent by default)
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
    sio.ordered_handlers = True  # strict order (issue 16: concurrent by default)
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


async def test_client_namespace_disconnect(sio: rtio.Server) -> None:
    log = record(sio)
    peer = Peer(sio)
    sid = await peer.connect()
    await sio.sockets[sid].join("room")
    peer.feed("1")
    await settle()
    assert log == [
        ("disconnecting", "client namespace disconnect", {sid, "room"}),  # still in rooms
        ("disconnect", "client namespace disconnect", set()),
    ]
    assert log[0][1] is rtio.DisconnectReason.CLIENT_NAMESPACE_DISCONNECT
    assert not peer.session.closed  # the connection stays for other namespaces
    assert sio.main.rooms() == set()


async def test_server_namespace_disconnect(sio: rtio.Server) -> None:
    log = record(sio)
    peer = Peer(sio)
    sid = await peer.connect()
    sio.sockets[sid].disconnect()
    await settle()
    assert peer.take() == ["1"]
    assert [entry[:2] for entry in log] == [
        ("disconnecting", "server namespace disconnect"),
        ("disconnect", "server namespace disconnect"),
    ]
    assert not peer.session.closed


async def test_disconnect_handlers_run_at_once_and_queued_events_still_run(
    sio: rtio.Server,
) -> None:
    """A client's DISCONNECT is handled at once, not behind the handler still running (issue
    12 defect 11); that handler finishes, and the events queued behind it still run, in
    order, on the disconnected socket."""
    import asyncio

    order: list[str] = []

    @sio.on("slow")
    async def slow(socket: rtio.Socket, tag: str) -> None:
        await asyncio.sleep(0.01)
        order.append(f"{tag} connected={socket.connected}")

    sio.on("disconnect", lambda socket, reason: order.append("disconnect"))
    peer = Peer(sio)
    await peer.connect()
    peer.feed('2["slow","a"]', '2["slow","b"]', "1")
    assert order == ["disconnect"]
    await asyncio.sleep(0.05)
    assert order == ["disconnect", "a connected=False", "b connected=False"]


async def test_disconnect_handler_that_raises_is_logged(
    sio: rtio.Server, caplog: pytest.LogCaptureFixture
) -> None:
    @sio.on("disconnect")
    async def bad(socket: rtio.Socket, reason: str) -> None:
        raise RuntimeError("cleanup failed")

    peer = Peer(sio)
    await peer.connect()
    peer.feed("1")
    await settle()
    assert "cleanup failed" in caplog.text


async def test_socket_level_disconnect_listener(sio: rtio.Server) -> None:
    peer = Peer(sio)
    sid = await peer.connect()
    got: list[str] = []
    sio.sockets[sid].on("disconnect", lambda reason: got.append(reason))
    peer.session.end(CloseReason.PING_TIMEOUT)
    await settle()
    assert got == ["ping timeout"]


@pytest.mark.parametrize("parser", ["json", "msgpack"])
async def test_an_ack_the_parser_cannot_carry_still_answers(
    parser: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12 defect 10: a return value (or an ``ack()`` argument) the parser cannot
    encode answers the client with an ack without arguments, and logs an error naming the
    event; on 0d24665 the ack was dropped and the client waited for ever."""
    from rtio.socketio.parsers.msgpack_parser import MsgpackParser

    sio = echo_server(MsgpackParser() if parser == "msgpack" else None)
    peer = Peer(sio)
    if parser == "json":
        await peer.connect()
        peer.feed('21["obj"]', '22["callback"]')
    else:
        import msgpack  # type: ignore[import-untyped]

        peer.feed(msgpack.packb({"type": 0, "nsp": "/"}))
        await settle()
        peer.take()
        for k, event in ((1, "obj"), (2, "callback")):
            peer.feed(msgpack.packb({"type": 2, "nsp": "/", "data": [event], "id": k}))
    with caplog.at_level(logging.ERROR, logger="rtio.socketio"):
        await settle()
    replies = peer.take()
    if parser == "json":
        assert replies == ["31[]", "32[]"]
    else:
        import msgpack

        assert [msgpack.unpackb(r) for r in replies] == [
            {"type": 3, "nsp": "/", "data": [], "id": 1},
            {"type": 3, "nsp": "/", "data": [], "id": 2},
        ]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("event 'obj'" in m and "cannot be encoded" in m for m in errors), errors
    assert any("event 'callback'" in m for m in errors), errors


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait for ``condition`` (a bound on a loaded machine, not a timing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def _stuck_server(**options: object) -> tuple[rtio.Server, asyncio.Event, list[str]]:
    sio = rtio.Server(connect_timeout=None, **options)  # type: ignore[arg-type]
    release = asyncio.Event()
    done: list[str] = []

    @sio.on("stuck")
    async def stuck(socket: rtio.Socket) -> str:
        await release.wait()
        socket.join("late")  # after a disconnect: nothing
        socket.emit("late")  # after a disconnect: dropped
        done.append(f"stuck connected={socket.connected}")
        return "finally"

    @sio.on("next")
    def next_(socket: rtio.Socket) -> str:
        done.append("next")
        return "next"

    return sio, release, done


async def test_a_stuck_handler_is_logged_once_while_it_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 12 defect 11: a handler still running past slow_handler_warning is logged, once,
    while it runs, naming the event, the namespace and the socket (0d24665: nothing)."""
    sio, release, done = _stuck_server(slow_handler_warning=0.05)
    sio.ordered_handlers = True  # strict order (issue 16: concurrent by default)
    peer = Peer(sio)
    sid = await peer.connect()
    with caplog.at_level(logging.INFO, logger="rtio.socketio"):
        peer.feed('21["stuck"]', '22["next"]')

        def slow_warnings() -> list[str]:
            return [
                r.getMessage()
                for r in caplog.records
                if r.levelno == logging.WARNING and "slow_handler_warning" in r.getMessage()
            ]

        await _until(lambda: len(slow_warnings()) >= 1)
        await asyncio.sleep(0.2)  # four thresholds more: still one warning
        (warning,) = slow_warnings()
        assert "'stuck'" in warning and sid in warning and "namespace /" in warning
        assert "1 waiting" in warning
        assert done == [] and peer.take() == []  # "next" waits its turn: order is kept
        release.set()
        await settle()
    assert done == ["stuck connected=True", "next"]
    assert peer.take() == ['2["late"]', '31["finally"]', '32["next"]']
    with pytest.raises(ValueError):
        rtio.Server(slow_handler_warning=0)


async def test_slow_handler_warning_off_and_default(caplog: pytest.LogCaptureFixture) -> None:
    assert rtio.Server().slow_handler_warning == 5.0
    sio, release, done = _stuck_server(slow_handler_warning=None)
    peer = Peer(sio)
    await peer.connect()
    with caplog.at_level(logging.WARNING, logger="rtio.socketio"):
        peer.feed('21["stuck"]')
        await asyncio.sleep(0.05)
        release.set()
        await settle()
    assert done == ["stuck connected=True"] and not caplog.records


async def test_acks_reach_a_socket_whose_handler_is_stuck() -> None:
    """Issue 12 defect 11: the client's ACKs (answers to the server's emits) are handled
    while a handler of the socket is still running, including one that awaits an ack from
    its own client (already so on 0d24665, where ACKs skip the handler queue)."""
    sio, release, _ = _stuck_server()

    @sio.on("ask")
    async def ask(socket: rtio.Socket) -> object:
        return await socket.emit_with_ack("question", timeout=30)

    peer = Peer(sio)
    sid = await peer.connect()
    peer.feed('21["stuck"]')
    await settle()
    pending = asyncio.ensure_future(sio.sockets[sid].emit_with_ack("q", timeout=30))
    await settle()
    assert peer.take() == ['20["q"]']
    peer.feed('30["answer"]')
    assert await asyncio.wait_for(pending, 5) == "answer"
    release.set()
    await settle()
    peer.take()
    # a handler that awaits its own client's ack gets it at once
    peer.feed('22["ask"]')
    await settle()
    assert peer.take() == ['21["question"]']
    peer.feed('31["yes"]')
    await settle()
    assert peer.take() == ['32["yes"]']


@pytest.mark.parametrize("how", ["client DISCONNECT", "transport close"])
async def test_a_disconnect_is_handled_while_a_handler_is_stuck(how: str) -> None:
    """Issue 12 defect 11: a DISCONNECT (or the connection's end) is handled at once while
    a handler of the socket never returns: the disconnect handlers run and the socket leaves
    its rooms (0d24665: both waited behind the stuck handler, for ever: rooms and handler
    state held). The stuck handler is left running, not cancelled; when it ends its join
    does nothing and its emit and ack are dropped."""
    sio, release, done = _stuck_server()
    sio.ordered_handlers = True  # strict order (issue 16: concurrent by default)
    reasons: list[str] = []
    sio.on("disconnecting", lambda socket, reason: reasons.append(f"ing {sorted(socket.rooms)}"))
    sio.on("disconnect", lambda socket, reason: reasons.append(str(reason)))
    peer = Peer(sio)
    sid = await peer.connect()
    sio.sockets[sid].join("lobby")
    peer.feed('21["stuck"]', '22["next"]')
    await settle()
    if how == "client DISCONNECT":
        peer.feed("1")
    else:
        from rtio.engine import CloseReason

        peer.session.end(CloseReason.TRANSPORT_CLOSE)
    await settle()
    assert reasons[0] == f"ing {sorted([sid, 'lobby'])}"
    assert reasons[1:] == [
        "client namespace disconnect" if how == "client DISCONNECT" else "transport close"
    ]
    assert sio.main.rooms() == set() and sio.sockets == {}
    assert done == []  # still running: not cancelled
    release.set()
    await settle()
    assert done == ["stuck connected=False", "next"]  # queued events still ran, in order
    assert sio.main.rooms() == set()  # the late join did nothing
    assert peer.take() == []


async def test_a_slow_connect_handler_is_watched_too(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 12 defect 11: ``connect`` runs in the socket's turn as events do: watched.
    The CONNECT reply waits for it (issue 16: it may refuse); one that fails refuses."""
    sio = rtio.Server(connect_timeout=None, slow_handler_warning=0.02)
    release = asyncio.Event()

    @sio.on("connect")
    async def connect(socket: rtio.Socket, auth: object) -> None:
        await release.wait()
        raise RuntimeError("after a while")

    peer = Peer(sio)
    with caplog.at_level(logging.INFO, logger="rtio.socketio"):
        peer.feed("0")
        await _until(lambda: any("'connect' handler" in r.getMessage() for r in caplog.records))
        assert peer.take() == []  # no reply while it runs
        release.set()
        await settle()
    text = caplog.text
    assert "still running" in text and "after a while" in text
    assert peer.take() == ['4{"message":"Connection refused"}'] and not sio.sockets


async def test_handlers_may_use_asyncio_timeout_before_their_first_await(
    sio: rtio.Server,
) -> None:
    """A packet arrives in a transport callback, outside any task, and a handler's first
    step runs there: asyncio.timeout(), wait_for (3.12) and TaskGroup refuse to run outside
    a task ("Timeout should be used inside a task"), which once broke such handlers and
    broadcast acks with a timeout on 3.12 (rtio.stepping.with_task)."""
    sio.on("timeout", timeout_handler)
    sio.on("wait_for", wait_for_handler)

    @sio.use
    async def middleware(socket: rtio.Socket, auth: Any) -> None:
        async with asyncio.timeout(1):
            await asyncio.sleep(0)

    peer, _ = await connected(sio)
    loop = asyncio.get_running_loop()
    loop.call_soon(peer.feed, '21["timeout"]')  # from a callback: no current task
    loop.call_soon(peer.feed, '22["wait_for"]')
    loop.call_soon(peer.feed, '23["acks"]')
    sio.on("acks", lambda socket: sio.emit_with_ack("x", timeout=0.05))
    await settle(200)
    await asyncio.sleep(0.1)
    await settle()
    out = peer.take()
    assert '31["ok"]' in out and '32["ok"]' in out
    assert any(line.startswith("33[") for line in out)  # the broadcast's ack results


async def timeout_handler(socket: rtio.Socket) -> str:
    async with asyncio.timeout(1):
        await asyncio.sleep(0)
    return "ok"


async def wait_for_handler(socket: rtio.Socket) -> str:
    return await asyncio.wait_for(asyncio.sleep(0, "ok"), 1)
